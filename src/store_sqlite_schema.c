/* store_sqlite_schema: the SQLite store's schema and its migrations, apart from the code
 * that uses it, so a schema change is one reviewed place with its reason.
 * Every version is recorded in PRAGMA user_version; an older build refuses a
 * file a newer one has migrated, and each migration re-checks the version
 * under the write lock, since two processes (serve and a dlq tool) may open
 * one old store at once. */
#include <stdio.h>

#include "store_sqlite_internal.h"

/* Bumped whenever the schema below changes; stored in PRAGMA user_version so an
 * older build refuses a file a newer one has migrated. */
#define QUEUE_SCHEMA_VERSION 3
/* AUTOINCREMENT: ids are handed to senders ("queued", id) and must never be
 * reused, even after rows are pruned. NULL dedup keys are distinct to SQLite's
 * UNIQUE, which is exactly "no key, never a duplicate". */
static const char SCHEMA_SQL[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " route TEXT NOT NULL,"
    " credential TEXT NOT NULL,"
    " dedup_key TEXT,"
    " order_key TEXT,"
    " payload TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('pending','inflight','done','dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " next_attempt_at INTEGER NOT NULL,"
    " last_error TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_dedup ON deliveries(route, dedup_key);"
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_attempt_at, id);"
    /* The claim walks pending rows in id order and stops at the first one it
     * may send (bench/README.md: with the due index SQLite sorted every pending
     * row per claim, 14 ms at 8k pending; in id order it is microseconds). */
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(state, id);"
    "PRAGMA user_version = 1;"
    "COMMIT;";

/* Version 2. The ordering check (CLAIMABLE) looks only at live rows, and the
 * old index over every row made each claim walk the whole delivered history of
 * its meeting (done rows are kept for done_retention_s): 100k rows drained at a
 * twentieth of the rate of 20k. The partial index holds live rows only, so a
 * claim costs the same whatever the history. starts_inflight counts the starts
 * that found the row inflight (store_sqlite_rows.c, STORE_POISON_STARTS). */
static const char MIGRATION_2_SQL[] =
    "DROP INDEX IF EXISTS deliveries_order;"
    "CREATE INDEX IF NOT EXISTS deliveries_live_order ON deliveries(order_key, id)"
    " WHERE state IN ('pending', 'inflight');"
    "ALTER TABLE deliveries ADD COLUMN starts_inflight INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 2;";

/* Version 3. Delivery's per-credential cap claims among the credentials not
 * at their cap; each one's pending rows in id order make that claim cost
 * what those credentials hold, whatever another credential's backlog
 * (bench/README.md, "Backlog drain": scanning past a skipped credential's
 * rows drained a one-credential backlog at 209/s instead of ~1,500/s). */
static const char MIGRATION_3_SQL[] =
    "CREATE INDEX IF NOT EXISTS deliveries_cred_pending ON deliveries(credential, id)"
    " WHERE state = 'pending';"
    "PRAGMA user_version = 3;";

/* Runs sql (which sets user_version to version) unless another process did
 * while we waited for the write lock (two daemons or a dlq tool opening one
 * old store at once). */
static int migrate_to(sq_store *q, int target, const char *sql)
{
    if (sq_exec(q->wdb, "BEGIN IMMEDIATE") != SQLITE_OK)
        return -1;
    int version = 0;
    int rc = sq_pragma_step(q->wdb, "PRAGMA user_version", NULL, 0, &version) < 0 ? -1 : 0;
    if (rc == 0 && version < target && sq_exec(q->wdb, sql) != SQLITE_OK)
        rc = -1;
    if (rc == 0 && sq_exec(q->wdb, "COMMIT") == SQLITE_OK)
        return 0;
    sq_exec(q->wdb, "ROLLBACK");
    return -1;
}

int sq_ensure_schema(sq_store *q, char *err, size_t errlen)
{
    int version = 0;
    if (sq_pragma_step(q->wdb, "PRAGMA user_version", NULL, 0, &version) < 0) {
        sq_open_error(q, q->wdb, err, errlen);
        return -1;
    }
    if (version > QUEUE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: schema version %d is newer than this build's %d", q->path, version,
                 QUEUE_SCHEMA_VERSION);
        return -1;
    }
    if (version == QUEUE_SCHEMA_VERSION)
        return 0;
    if (version < 1 && sq_exec(q->wdb, SCHEMA_SQL) != SQLITE_OK) {
        sq_open_error(q, q->wdb, err, errlen);
        if (!sqlite3_get_autocommit(q->wdb))
            sq_exec(q->wdb, "ROLLBACK");
        return -1;
    }
    if (migrate_to(q, 2, MIGRATION_2_SQL) != 0 || migrate_to(q, 3, MIGRATION_3_SQL) != 0) {
        sq_open_error(q, q->wdb, err, errlen);
        return -1;
    }
    return 0;
}
