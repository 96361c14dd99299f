/* store_sqlite_rows: the SQLite backend's delivering and operator side:
 * claiming and settling rows on the second connection, counting, listing and
 * changing dead letters. Apart from store_sqlite.c, whose subject is opening
 * the file and group commits. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite_internal.h"

#define POISON_TEXT_(n) #n
#define POISON_TEXT(n) POISON_TEXT_(n)

/* A pending row may go out only when no older row with the same order key (the
 * same Close activity) is still pending or inflight: updates to one meeting
 * leave in acceptance order even with many workers, and an older note can never
 * land after a newer one. A retrying row holds back the rows behind it. */
#define CLAIMABLE                                                                                            \
    " d.state = 'pending' AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e"                \
    " WHERE e.order_key = d.order_key AND e.id < d.id AND e.state IN ('pending', 'inflight')))"

#define ROW_COLUMNS " RETURNING id, route, credential, dedup_key, payload, attempts, created_at"

const char *const sq_reader_sql[R_COUNT] = {
    [R_CLAIM] = "UPDATE deliveries SET state = 'inflight', attempts = attempts + 1"
                " WHERE id = (SELECT d.id FROM deliveries d INDEXED BY deliveries_pending WHERE" CLAIMABLE
                " AND d.next_attempt_at <= ?1 ORDER BY d.id LIMIT 1)" ROW_COLUMNS,
    [R_NEXT_DUE] = "SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE" CLAIMABLE,
    /* A claim among some credentials (delivery's per-credential cap) asks each
     * credential's own index of pending rows, so a credential with a large
     * backlog costs the others' claims nothing. */
    [R_PICK_CRED] = "SELECT d.id FROM deliveries d INDEXED BY deliveries_cred_pending WHERE d.credential = ?2"
                    " AND d.next_attempt_at <= ?1 AND" CLAIMABLE " ORDER BY d.id LIMIT 1",
    [R_CLAIM_ID] = "UPDATE deliveries SET state = 'inflight', attempts = attempts + 1"
                   " WHERE id = ?1 AND state = 'pending'" ROW_COLUMNS,
    [R_NEXT_DUE_CRED] = "SELECT MIN(d.next_attempt_at) FROM deliveries d INDEXED BY deliveries_cred_pending"
                        " WHERE d.credential = ?1 AND" CLAIMABLE,
    /* The settle statements share one binding layout: ?1 id, ?2 when, ?3 error. */
    [R_DONE] = "UPDATE deliveries SET state = 'done' WHERE id = ?1 AND state = 'inflight'",
    [R_RETRY] =
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, last_error = ?3, starts_inflight = 0"
        " WHERE id = ?1 AND state = 'inflight'",
    [R_DEAD] = "UPDATE deliveries SET state = 'dead', last_error = ?3"
               " WHERE id = ?1 AND state = 'inflight'",
    [R_COUNTS] = "SELECT state, COUNT(*) FROM deliveries GROUP BY state",
    [R_LIST_DEAD] = "SELECT id, route, credential, dedup_key, payload, attempts, created_at,"
                    " last_error FROM deliveries WHERE state = 'dead'"
                    " AND (?1 IS NULL OR route = ?1) ORDER BY id",
    [R_GET] = "SELECT id, route, credential, dedup_key, payload, attempts, created_at, last_error, state"
              " FROM deliveries WHERE id = ?1",
    /* The dead-letter changes share one binding layout: ?1 id (0 = any), ?2
     * route (NULL = any), ?3 a time. */
    /* A replay is a fresh chance: the row's age (max_age_s) restarts too, or
     * rows replayed after a long Close outage would die on their first retry. */
    [R_REPLAY] = "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?3,"
                 " created_at = ?3, last_error = NULL WHERE state = 'dead' AND (?1 = 0 OR id = ?1)"
                 " AND (?2 IS NULL OR route = ?2)",
    [R_PURGE_DEAD] = "DELETE FROM deliveries WHERE state = 'dead' AND (?1 = 0 OR id = ?1)"
                     " AND (?2 IS NULL OR route = ?2) AND created_at <= ?3",
};

/* Fills row from columns id, route, credential, dedup_key, payload, attempts,
 * created_at; -1 when out of memory. */
static int row_from_stmt(sqlite3_stmt *st, queue_row *row)
{
    row->id = sqlite3_column_int64(st, 0);
    row->route = sq_column_dup(st, 1);
    row->credential = sq_column_dup(st, 2);
    row->dedup_key = sq_column_dup(st, 3);
    row->payload = sq_column_dup(st, 4);
    row->attempts = sqlite3_column_int(st, 5);
    row->created_at = sqlite3_column_int64(st, 6);
    int key_ok = row->dedup_key || sqlite3_column_type(st, 3) == SQLITE_NULL;
    return row->route && row->credential && row->payload && key_ok ? 0 : -1;
}

long sq_recover_inflight(store *s, long *dead_out)
{
    static const char poisoned[] =
        "UPDATE deliveries SET state = 'dead', last_error = 'poisoned: inflight at "
        "every one of the last " POISON_TEXT(
            STORE_POISON_STARTS) " starts (did it crash the "
                                 "daemon?); replay it once the cause is fixed' WHERE state = 'inflight' AND "
                                 "starts_inflight + 1 >= " POISON_TEXT(STORE_POISON_STARTS);
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->lock);
    long n = -1, dead = -1;
    if (sq_exec(q->rdb, "BEGIN IMMEDIATE") == SQLITE_OK) {
        if (sq_exec(q->rdb, poisoned) == SQLITE_OK)
            dead = sqlite3_changes(q->rdb);
        if (dead >= 0 && sq_exec(q->rdb, "UPDATE deliveries SET state = 'pending', starts_inflight ="
                                         " starts_inflight + 1 WHERE state = 'inflight'") == SQLITE_OK)
            n = sqlite3_changes(q->rdb);
        if (n < 0 || sq_exec(q->rdb, "COMMIT") != SQLITE_OK) {
            sq_exec(q->rdb, "ROLLBACK");
            n = -1;
        }
    }
    pthread_mutex_unlock(&q->lock);
    *dead_out = n >= 0 ? dead : 0;
    return n;
}

/* One int64 (or NULL: -1) from a statement bound by the caller; the statement
 * is reset. 0, or -1 on a store error. Call under the lock. */
static int step_int64(sq_store *q, sqlite3_stmt *st, const char *what, int64_t *out)
{
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sq_store_error(q, q->rdb, what);
        return -1;
    }
    return 0;
}

/* Steps a claim statement (bound by the caller) that returns the row: 1
 * claimed, 0 nothing changed, -1 store error or out of memory (the row is
 * then inflight until the next start). Call under the lock. */
static int step_claim(sq_store *q, sqlite3_stmt *st, queue_row *row)
{
    int rc = sqlite3_step(st);
    int claimed = rc == SQLITE_ROW, filled = 0;
    if (claimed) {
        filled = row_from_stmt(st, row) == 0;
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        sq_store_error(q, q->rdb, "claim");
        return -1;
    }
    return claimed ? (filled ? 1 : -1) : 0;
}

/* The earliest next_attempt_at over credentials among (-1: none). */
static int next_due_among(sq_store *q, const char *const *among, size_t namong, int64_t *due)
{
    *due = -1;
    sqlite3_stmt *st = q->rstmt[R_NEXT_DUE_CRED];
    for (size_t i = 0; i < namong; i++) {
        int64_t t;
        sqlite3_bind_text(st, 1, among[i], -1, SQLITE_TRANSIENT);
        if (step_int64(q, st, "next_due", &t) < 0)
            return -1;
        if (t >= 0 && (*due < 0 || t < *due))
            *due = t;
    }
    return 0;
}

/* The claim among some credentials: the lowest claimable id over their
 * per-credential lookups, then that row claimed by id. Call under the lock
 * (no other claim can take the row in between). */
static int claim_among_locked(sq_store *q, int64_t now_ms, const char *const *among, size_t namong,
                              queue_row *row, int64_t *next_due_ms)
{
    int64_t best = -1;
    sqlite3_stmt *pick = q->rstmt[R_PICK_CRED];
    for (size_t i = 0; i < namong; i++) {
        int64_t id;
        sqlite3_bind_int64(pick, 1, now_ms);
        sqlite3_bind_text(pick, 2, among[i], -1, SQLITE_TRANSIENT);
        if (step_int64(q, pick, "claim", &id) < 0)
            return -1;
        if (id > 0 && (best < 0 || id < best))
            best = id;
    }
    if (best > 0) {
        sqlite3_bind_int64(q->rstmt[R_CLAIM_ID], 1, best);
        return step_claim(q, q->rstmt[R_CLAIM_ID], row);
    }
    int64_t due = -1;
    int ret = next_due_among(q, among, namong, &due);
    if (next_due_ms)
        *next_due_ms = due;
    return ret;
}

static int claim_any_locked(sq_store *q, int64_t now_ms, queue_row *row, int64_t *next_due_ms)
{
    sqlite3_bind_int64(q->rstmt[R_CLAIM], 1, now_ms);
    int ret = step_claim(q, q->rstmt[R_CLAIM], row);
    if (ret != 0)
        return ret;
    int64_t due = -1;
    ret = step_int64(q, q->rstmt[R_NEXT_DUE], "next_due", &due);
    if (next_due_ms)
        *next_due_ms = due;
    return ret;
}

int sq_claim(store *s, int64_t now_ms, const char *const *among, size_t namong, queue_row *row,
             int64_t *next_due_ms)
{
    sq_store *q = sq_of(s);
    memset(row, 0, sizeof(*row));
    pthread_mutex_lock(&q->lock);
    int ret = among == NULL ? claim_any_locked(q, now_ms, row, next_due_ms)
                            : claim_among_locked(q, now_ms, among, namong, row, next_due_ms);
    pthread_mutex_unlock(&q->lock);
    if (ret != 1)
        queue_row_clear(row);
    return ret;
}

/* Each settle statement changes the row only while it is inflight, so a stale
 * worker cannot settle twice. */
int sq_settle(store *s, store_settle how, int64_t id, int64_t when_ms, const char *error)
{
    sq_store *q = sq_of(s);
    int which = how == STORE_SETTLE_DONE ? R_DONE : how == STORE_SETTLE_RETRY ? R_RETRY : R_DEAD;
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->rstmt[which];
    int nparams = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, 1, id);
    if (nparams >= 2)
        sqlite3_bind_int64(st, 2, when_ms);
    if (nparams >= 3)
        sq_bind_text(st, 3, error);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(q->rdb) : 0;
    if (rc != SQLITE_DONE)
        sq_store_error(q, q->rdb, "settle");
    pthread_mutex_unlock(&q->lock);
    if (rc != SQLITE_DONE)
        return QUEUE_STORE_ERROR;
    return changed == 1 ? 0 : -1;
}

int sq_counts(store *s, queue_counts *out)
{
    sq_store *q = sq_of(s);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->rstmt[R_COUNTS];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        long n = (long)sqlite3_column_int64(st, 1);
        if (strcmp(state, "pending") == 0)
            out->pending = n;
        else if (strcmp(state, "inflight") == 0)
            out->inflight = n;
        else if (strcmp(state, "done") == 0)
            out->done = n;
        else if (strcmp(state, "dead") == 0)
            out->dead = n;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        sq_store_error(q, q->rdb, "counts");
    pthread_mutex_unlock(&q->lock);
    return rc == SQLITE_DONE ? 0 : -1;
}

int sq_list_dead(store *s, const char *route, queue_row_fn fn, void *arg)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->rstmt[R_LIST_DEAD];
    sq_bind_text(st, 1, route);
    int rc = SQLITE_DONE, ok = 1;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        queue_row row = {0};
        ok = row_from_stmt(st, &row) == 0;
        if (ok)
            fn(&row, (const char *)sqlite3_column_text(st, 7), arg);
        queue_row_clear(&row);
    }
    sqlite3_reset(st);
    if (ok && rc != SQLITE_DONE)
        sq_store_error(q, q->rdb, "list_dead");
    pthread_mutex_unlock(&q->lock);
    return ok && rc == SQLITE_DONE ? 0 : -1;
}

/* The names the schema's CHECK allows, as static text for callers. */
static const char *state_name(const unsigned char *text)
{
    static const char *const names[] = {"pending", "inflight", "done", "dead"};
    for (size_t i = 0; text != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp((const char *)text, names[i]) == 0)
            return names[i];
    return "unknown";
}

int sq_get(store *s, int64_t id, queue_row *row, const char **state, char **last_error)
{
    sq_store *q = sq_of(s);
    memset(row, 0, sizeof(*row));
    *state = NULL;
    *last_error = NULL;
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->rstmt[R_GET];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW, ok = 1;
    if (found) {
        *last_error = sq_column_dup(st, 7);
        *state = state_name(sqlite3_column_text(st, 8));
        ok = row_from_stmt(st, row) == 0 && (*last_error || sqlite3_column_type(st, 7) == SQLITE_NULL);
        rc = sqlite3_step(st); /* id is the key: at most one row */
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        sq_store_error(q, q->rdb, "get");
    pthread_mutex_unlock(&q->lock);
    if (rc == SQLITE_DONE && ok)
        return found;
    queue_row_clear(row);
    free(*last_error);
    *last_error = NULL;
    *state = NULL;
    return -1;
}

/* Runs R_REPLAY or R_PURGE_DEAD; returns the rows changed, or -1. */
static long dead_rows_change(sq_store *q, int which, int64_t id, const char *route, int64_t when_ms,
                             const char *op)
{
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->rstmt[which];
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, route);
    sqlite3_bind_int64(st, 3, when_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    long changed = rc == SQLITE_DONE ? (long)sqlite3_changes(q->rdb) : -1;
    if (rc != SQLITE_DONE)
        sq_store_error(q, q->rdb, op);
    pthread_mutex_unlock(&q->lock);
    return changed;
}

long sq_replay(store *s, int64_t id, const char *route, int64_t now_ms)
{
    return dead_rows_change(sq_of(s), R_REPLAY, id, route, now_ms, "replay");
}

long sq_purge_dead(store *s, const char *route, int64_t before_ms)
{
    return dead_rows_change(sq_of(s), R_PURGE_DEAD, 0, route, before_ms, "purge_dead");
}
