/* store_sqlite: the SQLite backend of store.h, one WAL file. This file opens
 * it (two queue connections: a FULL-synchronous writer for group commits, a
 * NORMAL one for claims and settles, so workers never queue up behind a batch
 * for longer than SQLite's own write lock) and does the accepting side; the
 * other store_sqlite_*.c files do the rest (store_sqlite_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite_internal.h"

/* The writer connection's statements. */
static const char *const WRITER_SQL[W_COUNT] = {
    /* The upsert skips only a (route, dedup_key) conflict; any other constraint
     * still fails loudly. No row back means "duplicate". */
    [W_INSERT] = "INSERT INTO deliveries (route, credential, dedup_key, payload, state,"
                 " created_at, next_attempt_at, order_key) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?6)"
                 " ON CONFLICT(route, dedup_key) DO NOTHING RETURNING id",
    [W_FIND_DUP] = "SELECT id FROM deliveries WHERE route = ?1 AND dedup_key = ?2",
    /* Done rows are history, not depth; the other states are index range scans. */
    [W_DEPTH] = ("SELECT state, COUNT(*) FROM deliveries WHERE state IN ('pending', 'inflight', 'dead')"
                 " GROUP BY state"),
    /* Delivered rows are kept only as dedup memory; bounded per run so a large
     * backlog of history never stalls a group commit for long. */
    [W_PRUNE] = "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE state = 'done'"
                " AND created_at < ?1 LIMIT 10000)",
};

/* ---- helpers ------------------------------------------------------------- */

/* Every open-time error names the file: an operator with several instances
 * needs to know which store refused. */
void sq_open_error(const sq_store *q, sqlite3 *db, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", q->path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Store errors on the delivering side are not the caller's to explain, so they
 * are logged here with the path and SQLite's message. */
void sq_store_error(const sq_store *q, sqlite3 *db, const char *op)
{
    log_write(LOG_ERROR, "queue: store error", "op", op, "path", q->path, "error", sqlite3_errmsg(db), NULL);
}

int sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

void sq_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    /* STATIC: the caller's strings outlive the statement's use, and the
     * statement is reset before the op returns. NULL binds NULL. */
    sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

char *sq_column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? strdup((const char *)text) : NULL;
}

sqlite3 *sq_connect(const sq_store *q, const char *synchronous_sql, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(q->path, &db, flags, NULL) != SQLITE_OK) {
        sq_open_error(q, db, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, SQ_BUSY_TIMEOUT_MS);
    if (sq_exec(db, synchronous_sql) != SQLITE_OK) {
        sq_open_error(q, db, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Reads the single integer or text answer of a pragma; -1 on failure. */
int sq_pragma_step(sqlite3 *db, const char *sql, char *text, size_t textlen, int *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (text)
            snprintf(text, textlen, "%s", (const char *)sqlite3_column_text(st, 0));
        if (value)
            *value = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- open / close -------------------------------------------------------- */

/* WAL lets claims read while the writer commits, and makes a commit one
 * sequential append + fsync. The mode is stored in the file. */
static int enable_wal(sq_store *q, char *err, size_t errlen)
{
    char mode[16] = "";
    if (sq_pragma_step(q->wdb, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL) < 0) {
        sq_open_error(q, q->wdb, err, errlen);
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use WAL journal mode (got %s)", q->path, mode);
        return -1;
    }
    return 0;
}

static int prepare_all(sq_store *q, sqlite3 *db, const char *const *sql, sqlite3_stmt **out, int n, char *err,
                       size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &out[i], NULL) != SQLITE_OK) {
            sq_open_error(q, db, err, errlen);
            return -1;
        }
    }
    return 0;
}

static void sq_close(store *s)
{
    sq_store *q = sq_of(s);
    sq_aux_close(q);
    for (int i = 0; i < W_COUNT; i++)
        sqlite3_finalize(q->wstmt[i]);
    for (int i = 0; i < R_COUNT; i++)
        sqlite3_finalize(q->rstmt[i]);
    /* Every statement is finalized, so close cannot be busy. */
    sqlite3_close(q->wdb);
    sqlite3_close(q->rdb);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->cache_lock);
    pthread_mutex_destroy(&q->token_lock);
    free(q->path);
    free(q);
}

/* The writer's connection is FULL: in WAL mode NORMAL does not fsync on
 * commit, so a committed (and acknowledged) webhook could vanish on power
 * loss; group commit is what keeps FULL affordable. The delivery side's claims
 * and settlements are NORMAL: they reach disk with the writer's next fsync,
 * and losing one to a power cut only means a repeat PUT (delivery is
 * at-least-once anyway), while fsyncing two transactions per delivered row
 * would cap delivery at the disk's fsync rate (measured: bench/README.md). */
static store *sq_open(const char *path, char *err, size_t errlen)
{
    sq_store *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(q);
        return NULL;
    }
    q->base.ops = &store_sqlite_ops;
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->cache_lock, NULL);
    pthread_mutex_init(&q->token_lock, NULL);
    if ((q->wdb = sq_connect(q, "PRAGMA synchronous = FULL", err, errlen)) == NULL ||
        enable_wal(q, err, errlen) < 0 || sq_ensure_schema(q, err, errlen) < 0 ||
        prepare_all(q, q->wdb, WRITER_SQL, q->wstmt, W_COUNT, err, errlen) < 0 ||
        (q->rdb = sq_connect(q, "PRAGMA synchronous = NORMAL", err, errlen)) == NULL ||
        prepare_all(q, q->rdb, sq_reader_sql, q->rstmt, R_COUNT, err, errlen) < 0 ||
        sq_guard_open(q, err, errlen) < 0) {
        sq_close(&q->base);
        return NULL;
    }
    return &q->base;
}

static const char *sq_location(const store *s)
{
    return ((const sq_store *)s)->path;
}

/* ---- accepting side (the queue's writer thread) ------------------------- */

static long page_size(sqlite3 *db)
{
    int n = 0;
    return sq_pragma_step(db, "PRAGMA page_size", NULL, 0, &n) == 0 && n > 0 ? n : 4096;
}

/* SQLite then answers SQLITE_FULL past the cap, exactly as on a full disk: the
 * batch is rolled back and its senders get 503. The cap is set on the writer's
 * connection only (it is per connection): accepting stops, while delivery can
 * still claim and settle rows, so the backlog drains and pruning frees the
 * pages that new webhooks then reuse. */
static int sq_set_max_size(store *s, long max_size_mb)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->lock);
    long long pages = (long long)max_size_mb * 1024 * 1024 / page_size(q->wdb);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages);
    int rc = sq_exec(q->wdb, sql) == SQLITE_OK ? 0 : -1;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Finds the row an earlier job (committed, or earlier in this very batch: the
 * transaction sees its own inserts) stored under the same key. */
static int writer_find_duplicate(sq_store *q, queue_job *job)
{
    sqlite3_stmt *st = q->wstmt[W_FIND_DUP];
    sq_bind_text(st, 1, job->route);
    sq_bind_text(st, 2, job->dedup_key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        job->id = sqlite3_column_int64(st, 0);
        job->result = QUEUE_DUPLICATE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Stores one job inside the open transaction: 1 new row, 0 duplicate, -1 store
 * error (the whole batch then fails). */
static int writer_insert(sq_store *q, queue_job *job, int64_t now)
{
    sqlite3_stmt *st = q->wstmt[W_INSERT];
    sq_bind_text(st, 1, job->route);
    sq_bind_text(st, 2, job->credential);
    sq_bind_text(st, 3, job->dedup_key);
    sq_bind_text(st, 4, job->payload);
    sqlite3_bind_int64(st, 5, now);
    sq_bind_text(st, 6, job->order_key);
    int rc = sqlite3_step(st);
    int stored = rc == SQLITE_ROW;
    if (stored) {
        job->id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (!stored)
        return writer_find_duplicate(q, job);
    job->result = QUEUE_ACCEPTED;
    return 1;
}

/* The store's answer is all-or-nothing: a batch that did not commit must not
 * report any job as accepted, even one whose INSERT succeeded. */
static void writer_fail_batch(sq_store *q, queue_job *batch, const char *stage, int rc)
{
    log_write(LOG_ERROR, "queue: batch not stored", "path", q->path, "stage", stage, "error",
              sqlite3_errmsg(q->wdb), NULL);
    if (!sqlite3_get_autocommit(q->wdb))
        sq_exec(q->wdb, "ROLLBACK");
    for (queue_job *job = batch; job; job = job->next) {
        job->result = QUEUE_FAILED;
        job->id = 0;
        snprintf(job->error, sizeof(job->error), "store %s failed: %s", stage, sqlite3_errstr(rc));
    }
}

static int job_is_complete(const queue_job *job)
{
    return job->route && job->credential && job->payload;
}

/* Commits one batch under q->lock; returns how many new rows it stored. */
static long insert_batch_locked(sq_store *q, queue_job *batch, int64_t now)
{
    int rc = sq_exec(q->wdb, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        writer_fail_batch(q, batch, "begin", rc);
        return 0;
    }
    long stored = 0;
    for (queue_job *job = batch; job; job = job->next) {
        if (!job_is_complete(job)) {
            snprintf(job->error, sizeof(job->error), "job lacks route, credential or payload");
            continue;
        }
        int r = writer_insert(q, job, now);
        if (r < 0) {
            writer_fail_batch(q, batch, "insert", sqlite3_errcode(q->wdb));
            return 0;
        }
        stored += r;
    }
    rc = sq_exec(q->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        writer_fail_batch(q, batch, "commit", rc);
        return 0;
    }
    return stored;
}

static long sq_insert_batch(store *s, queue_job *batch, int64_t now_ms)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->lock);
    long stored = insert_batch_locked(q, batch, now_ms);
    pthread_mutex_unlock(&q->lock);
    return stored;
}

static int sq_depth(store *s, queue_counts *out)
{
    sq_store *q = sq_of(s);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = q->wstmt[W_DEPTH];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        long n = (long)sqlite3_column_int64(st, 1);
        if (state == NULL)
            continue;
        if (strcmp(state, "pending") == 0)
            out->pending = n;
        else if (strcmp(state, "inflight") == 0)
            out->inflight = n;
        else if (strcmp(state, "dead") == 0)
            out->dead = n;
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&q->lock);
    return rc == SQLITE_DONE ? 0 : -1;
}

static long sq_prune_done(store *s, int64_t before_ms)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *prune = q->wstmt[W_PRUNE];
    sqlite3_bind_int64(prune, 1, before_ms);
    long n = sqlite3_step(prune) == SQLITE_DONE ? (long)sqlite3_changes(q->wdb) : -1;
    if (n < 0)
        log_write(LOG_WARN, "queue: pruning delivered rows failed", "error", sqlite3_errmsg(q->wdb), NULL);
    sqlite3_reset(prune);
    pthread_mutex_unlock(&q->lock);
    return n;
}

const store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .location = sq_location,
    .set_max_size = sq_set_max_size,
    .insert_batch = sq_insert_batch,
    .depth = sq_depth,
    .prune_done = sq_prune_done,
    .intake_refusal = sq_intake_refusal,
    .lost = sq_lost,
    .recover_inflight = sq_recover_inflight,
    .claim = sq_claim,
    .settle = sq_settle,
    .counts = sq_counts,
    .list_dead = sq_list_dead,
    .get = sq_get,
    .replay = sq_replay,
    .purge_dead = sq_purge_dead,
    .cache_open = sq_cache_open,
    .cache_get = sq_cache_get,
    .cache_put = sq_cache_put,
    .cache_forget = sq_cache_forget,
    .cache_prune = sq_cache_prune,
    .tokens_open = sq_tokens_open,
    .token_load = sq_token_load,
    .token_save = sq_token_save,
};
