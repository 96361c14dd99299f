/* Tests for the store's schema versions (store_sqlite_schema.c) and its
 * start-up recovery rules: a store written by an older build is migrated in
 * place (the ordering index holds live rows only, so claims cost the same
 * whatever the history), and a row that was inflight at every recent start
 * is dead-lettered instead of crash-looping the daemon. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queue_fixture.h"

TestSuite(queue_schema, .init = queue_fixture_setup, .fini = queue_fixture_teardown);

/* The version 1 schema as releases before the migration wrote it. */
static const char V1_SCHEMA[] =
    "CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, route TEXT NOT NULL,"
    " credential TEXT NOT NULL, dedup_key TEXT, order_key TEXT, payload TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('pending','inflight','done','dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " next_attempt_at INTEGER NOT NULL, last_error TEXT);"
    "CREATE UNIQUE INDEX deliveries_dedup ON deliveries(route, dedup_key);"
    "CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at, id);"
    "CREATE INDEX deliveries_order ON deliveries(order_key, id);"
    "CREATE INDEX deliveries_pending ON deliveries(state, id);"
    "INSERT INTO deliveries (route, credential, payload, state, created_at, next_attempt_at, order_key)"
    " VALUES ('zoom', 'cred-main', '{}', 'pending', 1, 1, 'acti_1');"
    "PRAGMA user_version = 1;";

static void exec_on(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err ? err : "");
}

/* The first column of the first row of sql, as text ("" when none). */
static void query_text(const char *sql, char *out, size_t len)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(queue_fixture_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

Test(queue_schema, a_version_1_store_is_migrated_in_place)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(queue_fixture_path, &db), SQLITE_OK);
    exec_on(db, V1_SCHEMA);
    sqlite3_close(db);

    queue *q = open_store();
    queue_row row;
    cr_assert_eq(queue_claim(q, now_ms(), &row, &(int64_t){0}), 1, "the old row is still there");
    cr_expect_eq(row.id, 1);
    queue_row_clear(&row);
    queue_close(q);

    char text[512];
    query_text("PRAGMA user_version", text, sizeof(text));
    cr_expect_str_eq(text, "3");
    query_text("SELECT sql FROM sqlite_master WHERE name = 'deliveries_cred_pending'", text, sizeof(text));
    cr_expect(strstr(text, "WHERE state = 'pending'") != NULL, "index: %s", text);
    query_text("SELECT sql FROM sqlite_master WHERE name = 'deliveries_live_order'", text, sizeof(text));
    cr_expect(strstr(text, "WHERE state IN ('pending', 'inflight')") != NULL, "index: %s", text);
    query_text("SELECT COUNT(*) FROM sqlite_master WHERE name = 'deliveries_order'", text, sizeof(text));
    cr_expect_str_eq(text, "0", "the index over every row is gone");
}

Test(queue_schema, a_migrated_store_opens_again_unchanged)
{
    queue_close(open_store());
    queue_close(open_store());
    char text[64];
    query_text("PRAGMA user_version", text, sizeof(text));
    cr_expect_str_eq(text, "3");
}

/* Claims the row and "crashes" (closes without settling). */
static void claim_and_crash(queue *q, int64_t id)
{
    queue_row row;
    claim_expect(q, id, &row);
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue_schema, a_row_inflight_at_every_recent_start_is_dead_lettered)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-poison", QUEUE_ACCEPTED);
    int64_t healthy = submit(q, "zoom", "evt-healthy", QUEUE_ACCEPTED);
    claim_and_crash(q, id);
    for (int start = 1; start < 5; start++) {
        q = open_store();
        cr_assert_eq(queue_recover_inflight(q), 1, "start %d puts the row back", start);
        claim_and_crash(q, id);
    }
    q = open_store();
    cr_expect_eq(queue_recover_inflight(q), 0, "the fifth start does not retry it");
    queue_row row;
    const char *state = NULL;
    char *last_error = NULL;
    cr_assert_eq(queue_get(q, id, &row, &state, &last_error), 1);
    cr_expect_str_eq(state, "dead");
    cr_expect(last_error != NULL && strstr(last_error, "poisoned") != NULL, "%s", last_error);
    free(last_error);
    queue_row_clear(&row);
    claim_expect(q, healthy, &row);
    queue_row_clear(&row);
    queue_close(q);
}

/* Starts that find the row inflight count only while nothing settled it: a
 * retry in between (Close answered, the daemon lived) starts the count over. */
Test(queue_schema, a_retry_in_between_resets_the_count)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    claim_and_crash(q, id);
    for (int start = 1; start <= 4; start++) {
        q = open_store();
        cr_assert_eq(queue_recover_inflight(q), 1, "start %d", start);
        if (start < 4) {
            claim_and_crash(q, id);
            continue;
        }
        queue_row row;
        claim_expect(q, id, &row);
        queue_row_clear(&row);
        cr_assert_eq(queue_mark_retry(q, id, now_ms(), "503 from Close"), 0);
        claim_and_crash(q, id);
    }
    for (int start = 1; start <= 4; start++) {
        q = open_store();
        cr_assert_eq(queue_recover_inflight(q), 1, "start %d after the retry", start);
        claim_and_crash(q, id);
    }
    q = open_store();
    queue_row row;
    const char *state = NULL;
    char *last_error = NULL;
    cr_assert_eq(queue_get(q, id, &row, &state, &last_error), 1);
    cr_expect_str_eq(state, "inflight", "eight starts in all, but never five in a row");
    free(last_error);
    queue_row_clear(&row);
    queue_close(q);
}
