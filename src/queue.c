/* queue: the durable hand-off between "the sender got its 2xx" and "Close got
 * its PUT". A webhook is acknowledged only after its row is committed, so this
 * file decides what durability costs: one writer thread commits every job
 * waiting at that moment in one transaction (group commit, one fsync a batch),
 * while delivery workers claim and settle rows on a second connection so they
 * never queue up behind a batch for longer than SQLite's own write lock. */
#include "queue.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "queue_internal.h"

/* A row still inflight at this many starts in a row was being delivered each
 * time the process died: it is taken to be what kills it, and dead-lettered
 * with that reason instead of crash-looping the daemon. Ordinary crashes and
 * SIGKILLs strike rows at random, so a healthy row never gets near this. */
#define QUEUE_POISON_STARTS_TEXT "5"
/* How long a connection waits for the other one's write lock before failing.
 * A group commit is one fsync (milliseconds); 5 s only trips on a stuck disk. */
#define QUEUE_BUSY_TIMEOUT_MS 5000

/* The writer connection's statements (enum in queue_internal.h). */
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

/* How often the writer publishes the queue depth gauges: often enough for a
 * 15 s Prometheus scrape, rare enough to cost nothing. /metrics reads the
 * gauges and never runs SQL on an event loop. */
#define QUEUE_DEPTH_REFRESH_MS 1000

/* A pending row may go out only when no older row with the same order key (the
 * same Close activity) is still pending or inflight: updates to one meeting
 * leave in acceptance order even with many workers, and an older note can never
 * land after a newer one. A retrying row holds back the rows behind it. */
#define CLAIMABLE                                                                                            \
    " d.state = 'pending' AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e"                \
    " WHERE e.order_key = d.order_key AND e.id < d.id AND e.state IN ('pending', 'inflight')))"

/* Credentials the caller skips for now (delivery's per-credential in-flight
 * cap): param is NULL (skip none) or a JSON array of credential names. */
#define NOT_SKIPPED(param)                                                                                   \
    " (" param " IS NULL OR d.credential NOT IN (SELECT value FROM json_each(" param ")))"

/* Statements of the claim/settle connection, used under q->store_lock. The
 * claim and list queries return the row columns in queue_row's order. */
static const char *const READER_SQL[R_COUNT] = {
    [R_CLAIM] = "UPDATE deliveries SET state = 'inflight', attempts = attempts + 1"
                " WHERE id = (SELECT d.id FROM deliveries d INDEXED BY deliveries_pending WHERE" CLAIMABLE
                " AND d.next_attempt_at <= ?1 AND" NOT_SKIPPED(
                    "?2") " ORDER BY d.id LIMIT 1)"
                          " RETURNING id, route, credential, dedup_key, payload, attempts, created_at",
    [R_NEXT_DUE] = "SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE" CLAIMABLE " AND" NOT_SKIPPED("?1"),
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

int64_t queue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every open-time error names the file: an operator with several instances
 * needs to know which store refused. */
void queue_open_error(const queue *q, sqlite3 *db, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", q->path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Store errors on the delivering side are not the caller's to explain, so they
 * are logged here with the path and SQLite's message. Call under store_lock. */
void queue_store_error(const queue *q, const char *op)
{
    log_write(LOG_ERROR, "queue: store error", "op", op, "path", q->path, "error", sqlite3_errmsg(q->rdb),
              NULL);
}

int queue_exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens one connection; the synchronous level is per connection, not stored
 * in the file. durable: FULL, for the writer (see below); else NORMAL. */
static sqlite3 *open_connection(const queue *q, int durable, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(q->path, &db, flags, NULL) != SQLITE_OK) {
        queue_open_error(q, db, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, QUEUE_BUSY_TIMEOUT_MS);
    /* The writer's connection is FULL: in WAL mode NORMAL does not fsync on
     * commit, so a committed (and acknowledged) webhook could vanish on power
     * loss; group commit is what keeps FULL affordable. The delivery side's
     * claims and settlements are NORMAL: they reach disk with the writer's next
     * fsync, and losing one to a power cut only means a repeat PUT (delivery is
     * at-least-once anyway), while fsyncing two transactions per delivered row
     * would cap delivery at the disk's fsync rate (measured: bench/README.md). */
    if (queue_exec_sql(db, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL") !=
        SQLITE_OK) {
        queue_open_error(q, db, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Reads the single integer or text answer of a pragma; -1 on failure. */
int queue_pragma_step(sqlite3 *db, const char *sql, char *text, size_t textlen, int *value)
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

/* WAL lets claims read while the writer commits, and makes a commit one
 * sequential append + fsync. The mode is stored in the file. */
static int enable_wal(queue *q, char *err, size_t errlen)
{
    char mode[16] = "";
    if (queue_pragma_step(q->wdb, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL) < 0) {
        queue_open_error(q, q->wdb, err, errlen);
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use WAL journal mode (got %s)", q->path, mode);
        return -1;
    }
    return 0;
}

static int prepare_all(queue *q, sqlite3 *db, const char *const *sql, sqlite3_stmt **out, int n, char *err,
                       size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &out[i], NULL) != SQLITE_OK) {
            queue_open_error(q, db, err, errlen);
            return -1;
        }
    }
    return 0;
}

static long page_size(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    long n = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n > 0 ? n : 4096;
}

int queue_store_lost(queue *q)
{
    return atomic_load(&q->store_lost);
}

int queue_set_limits(queue *q, long max_size_mb, long done_retention_s)
{
    q->done_retention_ms = (int64_t)done_retention_s * 1000;
    if (max_size_mb <= 0)
        return 0;
    /* SQLite then answers SQLITE_FULL past the cap, exactly as on a full disk:
     * the batch is rolled back and its senders get 503. The cap is set on the
     * writer's connection only (it is per connection): accepting stops, while
     * delivery can still claim and settle rows, so the backlog drains and
     * pruning frees the pages that new webhooks then reuse. */
    pthread_mutex_lock(&q->store_lock);
    long long pages = (long long)max_size_mb * 1024 * 1024 / page_size(q->wdb);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages);
    int rc = queue_exec_sql(q->wdb, sql) == SQLITE_OK ? 0 : -1;
    pthread_mutex_unlock(&q->store_lock);
    return rc;
}

long queue_undelivered(queue *q)
{
    return atomic_load(&q->undelivered);
}

/* A row is inflight only while a worker of the serving process holds it; when
 * serve starts no worker exists yet, so any inflight row was cut off by a crash
 * or a stop. Delivering it again is safe: the PUT is idempotent (at-least-once).
 * Tools (dlq) open the store beside a running daemon and must not call this. */
long queue_recover_inflight(queue *q)
{
    static const char poisoned[] =
        "UPDATE deliveries SET state = 'dead', last_error = 'poisoned: inflight at "
        "every one of the last " QUEUE_POISON_STARTS_TEXT " starts (did it crash the "
        "daemon?); replay it once the cause is fixed' WHERE state = 'inflight' AND "
        "starts_inflight + 1 >= " QUEUE_POISON_STARTS_TEXT;
    pthread_mutex_lock(&q->store_lock);
    long n = -1, dead = -1;
    if (queue_exec_sql(q->rdb, "BEGIN IMMEDIATE") == SQLITE_OK) {
        if (queue_exec_sql(q->rdb, poisoned) == SQLITE_OK)
            dead = sqlite3_changes(q->rdb);
        if (dead >= 0 && queue_exec_sql(q->rdb, "UPDATE deliveries SET state = 'pending', starts_inflight ="
                                                " starts_inflight + 1 WHERE state = 'inflight'") == SQLITE_OK)
            n = sqlite3_changes(q->rdb);
        if (n < 0 || queue_exec_sql(q->rdb, "COMMIT") != SQLITE_OK) {
            queue_exec_sql(q->rdb, "ROLLBACK");
            n = -1;
        }
    }
    pthread_mutex_unlock(&q->store_lock);
    if (n > 0)
        log_write(LOG_INFO, "queue: rows left inflight are pending again", "path", q->path,
                  LOG_INT("rows", n), NULL);
    if (n >= 0 && dead > 0)
        log_write(LOG_ERROR, "queue: rows inflight at every recent start were dead-lettered as poisoned",
                  "path", q->path, LOG_INT("rows", dead), NULL);
    if (n < 0)
        log_write(LOG_ERROR, "queue: cannot recover inflight rows", "path", q->path, NULL);
    return n;
}

static void queue_free(queue *q)
{
    for (int i = 0; i < W_COUNT; i++)
        sqlite3_finalize(q->wstmt[i]);
    for (int i = 0; i < R_COUNT; i++)
        sqlite3_finalize(q->rstmt[i]);
    /* Every statement is finalized, so close cannot be busy. */
    sqlite3_close(q->wdb);
    sqlite3_close(q->rdb);
    pthread_mutex_destroy(&q->jobs_lock);
    pthread_cond_destroy(&q->jobs_ready);
    pthread_cond_destroy(&q->stopped_cond);
    pthread_mutex_destroy(&q->store_lock);
    free(q->path);
    free(q);
}

static void *writer_main(void *arg);

queue *queue_open(const char *path, char *err, size_t errlen)
{
    queue *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->jobs_lock, NULL);
    pthread_cond_init(&q->jobs_ready, NULL);
    pthread_cond_init(&q->stopped_cond, NULL);
    pthread_mutex_init(&q->store_lock, NULL);

    if ((q->wdb = open_connection(q, 1, err, errlen)) == NULL || enable_wal(q, err, errlen) < 0 ||
        queue_ensure_schema(q, err, errlen) < 0 ||
        prepare_all(q, q->wdb, WRITER_SQL, q->wstmt, W_COUNT, err, errlen) < 0 ||
        (q->rdb = open_connection(q, 0, err, errlen)) == NULL ||
        prepare_all(q, q->rdb, READER_SQL, q->rstmt, R_COUNT, err, errlen) < 0 ||
        queue_guard_open(q, err, errlen) < 0) {
        queue_free(q);
        return NULL;
    }
    if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
        snprintf(err, errlen, "%s: cannot start the writer thread", path);
        queue_free(q);
        return NULL;
    }
    q->writer_started = 1;
    return q;
}

/* ---- accepting side: the writer thread ---------------------------------- */

void queue_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    /* STATIC: the job's strings outlive the statement's use (borrowed until
     * on_done), and the statement is reset before on_done runs. NULL binds NULL. */
    sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Finds the row an earlier job (committed, or earlier in this very batch: the
 * transaction sees its own inserts) stored under the same key. */
static int writer_find_duplicate(queue *q, queue_job *job)
{
    sqlite3_stmt *st = q->wstmt[W_FIND_DUP];
    queue_bind_text(st, 1, job->route);
    queue_bind_text(st, 2, job->dedup_key);
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
static int writer_insert(queue *q, queue_job *job, int64_t now)
{
    sqlite3_stmt *st = q->wstmt[W_INSERT];
    queue_bind_text(st, 1, job->route);
    queue_bind_text(st, 2, job->credential);
    queue_bind_text(st, 3, job->dedup_key);
    queue_bind_text(st, 4, job->payload);
    sqlite3_bind_int64(st, 5, now);
    queue_bind_text(st, 6, job->order_key);
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
static void writer_fail_batch(queue *q, queue_job *batch, const char *stage, int rc)
{
    log_write(LOG_ERROR, "queue: batch not stored", "path", q->path, "stage", stage, "error",
              sqlite3_errmsg(q->wdb), NULL);
    if (!sqlite3_get_autocommit(q->wdb))
        queue_exec_sql(q->wdb, "ROLLBACK");
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

/* Commits one batch; returns how many new rows it stored. */
static long writer_store_batch_locked(queue *q, queue_job *batch)
{
    if (queue_guard_refuses(q, batch))
        return 0;
    int rc = queue_exec_sql(q->wdb, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        writer_fail_batch(q, batch, "begin", rc);
        return 0;
    }
    int64_t now = queue_now_ms();
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
    rc = queue_exec_sql(q->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        writer_fail_batch(q, batch, "commit", rc);
        return 0;
    }
    atomic_fetch_add(&q->undelivered, stored);
    return stored;
}

/* Every write transaction of this process, the writer's and the delivery
 * side's, runs under store_lock. SQLite's own busy handler arbitrates between
 * connections by sleeping and retrying, and under load the writer kept losing
 * to back-to-back claims until its 5 s timeout failed whole batches (503s,
 * bench/README.md); a mutex hands the database over without sleeping. Other
 * processes (the dlq tools) still meet the busy timeout. */
static long writer_store_batch(queue *q, queue_job *batch)
{
    pthread_mutex_lock(&q->store_lock);
    long stored = writer_store_batch_locked(q, batch);
    pthread_mutex_unlock(&q->store_lock);
    return stored;
}

/* Answers every job of a committed (or failed) batch. A job may be freed by its
 * own on_done, so its successor is read first. */
static void writer_complete_batch(queue_job *batch)
{
    for (queue_job *job = batch, *next; job; job = next) {
        next = job->next;
        if (job->on_done)
            job->on_done(job);
    }
}

/* Writer thread, jobs_lock not held. */
static void writer_publish_depth(queue *q)
{
    int64_t now = queue_now_ms();
    if (now - q->depth_published_ms < QUEUE_DEPTH_REFRESH_MS)
        return;
    q->depth_published_ms = now;
    long pending = 0, inflight = 0, dead = 0;
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->wstmt[W_DEPTH];
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        long n = (long)sqlite3_column_int64(st, 1);
        if (state == NULL)
            continue;
        if (strcmp(state, "pending") == 0)
            pending = n;
        else if (strcmp(state, "inflight") == 0)
            inflight = n;
        else if (strcmp(state, "dead") == 0)
            dead = n;
    }
    sqlite3_reset(st);
    atomic_store(&q->undelivered, pending + inflight);
    if (q->done_retention_ms > 0) {
        sqlite3_stmt *prune = q->wstmt[W_PRUNE];
        sqlite3_bind_int64(prune, 1, now - q->done_retention_ms);
        if (sqlite3_step(prune) != SQLITE_DONE)
            log_write(LOG_WARN, "queue: pruning delivered rows failed", "error", sqlite3_errmsg(q->wdb),
                      NULL);
        sqlite3_reset(prune);
    }
    pthread_mutex_unlock(&q->store_lock);
    metrics_set("closehook_queue_rows", (double)pending, METRIC_LABELS("pending"));
    metrics_set("closehook_queue_rows", (double)inflight, METRIC_LABELS("inflight"));
    metrics_set("closehook_queue_rows", (double)dead, METRIC_LABELS("dead"));
}

static void *writer_main(void *arg)
{
    queue *q = arg;
    pthread_mutex_lock(&q->jobs_lock);
    for (;;) {
        while (q->head == NULL && !q->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&q->jobs_ready, &q->jobs_lock, &until);
            if (q->head == NULL && !q->stopping) {
                pthread_mutex_unlock(&q->jobs_lock);
                writer_publish_depth(q);
                queue_guard_refuses(q, NULL); /* notices a lost file while idle too */
                pthread_mutex_lock(&q->jobs_lock);
            }
        }
        if (q->head == NULL)
            break; /* stopping, and everything submitted has been answered */
        queue_job *batch = q->head;
        q->head = q->tail = NULL;
        pthread_mutex_unlock(&q->jobs_lock);

        long stored = writer_store_batch(q, batch);
        /* Acks first: the senders are waiting; delivery can take a moment. */
        writer_complete_batch(batch);
        writer_publish_depth(q);

        pthread_mutex_lock(&q->jobs_lock);
        void (*notify)(void *) = q->notify;
        void *notify_arg = q->notify_arg;
        if (stored > 0 && notify) {
            pthread_mutex_unlock(&q->jobs_lock);
            notify(notify_arg);
            pthread_mutex_lock(&q->jobs_lock);
        }
    }
    pthread_mutex_unlock(&q->jobs_lock);
    return NULL;
}

void queue_submit(queue *q, queue_job *job)
{
    /* Fail closed: a path that forgets to set a result reports failure. */
    job->result = QUEUE_FAILED;
    job->id = 0;
    job->error[0] = '\0';
    job->next = NULL;
    pthread_mutex_lock(&q->jobs_lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->jobs_lock);
        snprintf(job->error, sizeof(job->error), "queue is shutting down");
        if (job->on_done)
            job->on_done(job);
        return;
    }
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    pthread_cond_signal(&q->jobs_ready);
    pthread_mutex_unlock(&q->jobs_lock);
}

/* A caller's job wrapped with what the waiting thread sleeps on; job comes
 * first so on_done can get back to the wrapper. */
typedef struct queue_waiter {
    queue_job job;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} queue_waiter;

static void waiter_done(queue_job *job)
{
    queue_waiter *w = (queue_waiter *)job;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

queue_result queue_submit_wait(queue *q, queue_job *job)
{
    queue_waiter w;
    memset(&w, 0, sizeof(w));
    w.job = *job; /* every caller-filled field, whatever fields the job grows */
    w.job.on_done = waiter_done;
    w.job.owner = NULL;
    w.job.next = NULL;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);

    queue_submit(q, &w.job);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);

    job->result = w.job.result;
    job->id = w.job.id;
    memcpy(job->error, w.job.error, sizeof(job->error));
    return job->result;
}

void queue_set_notify(queue *q, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&q->jobs_lock);
    q->notify = fn;
    q->notify_arg = arg;
    pthread_mutex_unlock(&q->jobs_lock);
}

void queue_stop(queue *q)
{
    pthread_mutex_lock(&q->jobs_lock);
    if (!q->stopping) {
        q->stopping = 1;
        pthread_cond_signal(&q->jobs_ready);
        pthread_mutex_unlock(&q->jobs_lock);
        if (q->writer_started)
            pthread_join(q->writer, NULL);
        pthread_mutex_lock(&q->jobs_lock);
        q->stopped = 1;
        pthread_cond_broadcast(&q->stopped_cond);
    }
    while (!q->stopped)
        pthread_cond_wait(&q->stopped_cond, &q->jobs_lock);
    pthread_mutex_unlock(&q->jobs_lock);
}

void queue_close(queue *q)
{
    if (q == NULL)
        return;
    queue_stop(q);
    queue_free(q);
}

/* ---- delivering side ----------------------------------------------------- */

char *queue_column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? strdup((const char *)text) : NULL;
}

int queue_row_from_stmt(sqlite3_stmt *st, queue_row *row)
{
    row->id = sqlite3_column_int64(st, 0);
    row->route = queue_column_dup(st, 1);
    row->credential = queue_column_dup(st, 2);
    row->dedup_key = queue_column_dup(st, 3);
    row->payload = queue_column_dup(st, 4);
    row->attempts = sqlite3_column_int(st, 5);
    row->created_at = sqlite3_column_int64(st, 6);
    int key_ok = row->dedup_key || sqlite3_column_type(st, 3) == SQLITE_NULL;
    return row->route && row->credential && row->payload && key_ok ? 0 : -1;
}

void queue_row_clear(queue_row *row)
{
    free(row->route);
    free(row->credential);
    free(row->dedup_key);
    free(row->payload);
    memset(row, 0, sizeof(*row));
}

/* The skip list as the JSON array NOT_SKIPPED binds; NULL when empty (or out
 * of memory, which then skips nothing: the cap is a fairness aid, not a
 * correctness rule). */
static char *skip_list_json(const char *const *skip, size_t nskip)
{
    if (nskip == 0)
        return NULL;
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return NULL;
    yajl_gen_array_open(g);
    for (size_t i = 0; i < nskip; i++)
        json_gen_str(g, skip[i]);
    yajl_gen_array_close(g);
    char *text = json_gen_take(g, NULL);
    yajl_gen_free(g);
    return text;
}

/* When nothing is due, the earliest pending row tells the worker how long it
 * may sleep. Call under store_lock. */
static int next_due_locked(queue *q, const char *skip_json, int64_t *next_due_ms)
{
    sqlite3_stmt *st = q->rstmt[R_NEXT_DUE];
    sqlite3_bind_text(st, 1, skip_json, -1, SQLITE_TRANSIENT); /* freed after the call */
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *next_due_ms = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        queue_store_error(q, "next_due");
        return -1;
    }
    return 0;
}

/* Claims under store_lock; see queue_claim_except. */
static int claim_locked(queue *q, int64_t now_ms, const char *skip_json, queue_row *row, int64_t *next_due_ms)
{
    sqlite3_stmt *st = q->rstmt[R_CLAIM];
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, skip_json, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int claimed = rc == SQLITE_ROW, filled = 0;
    if (claimed) {
        filled = queue_row_from_stmt(st, row) == 0;
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        queue_store_error(q, "claim");
        return -1;
    }
    if (claimed) /* out of memory leaves the row inflight until the next start */
        return filled ? 1 : -1;
    int64_t due = -1;
    int ret = next_due_locked(q, skip_json, &due) < 0 ? -1 : 0;
    if (next_due_ms)
        *next_due_ms = due;
    return ret;
}

int queue_claim_except(queue *q, int64_t now_ms, const char *const *skip, size_t nskip, queue_row *row,
                       int64_t *next_due_ms)
{
    memset(row, 0, sizeof(*row));
    char *skip_json = skip_list_json(skip, nskip);
    pthread_mutex_lock(&q->store_lock);
    int ret = claim_locked(q, now_ms, skip_json, row, next_due_ms);
    pthread_mutex_unlock(&q->store_lock);
    free(skip_json);
    if (ret != 1)
        queue_row_clear(row);
    return ret;
}

int queue_claim(queue *q, int64_t now_ms, queue_row *row, int64_t *next_due_ms)
{
    return queue_claim_except(q, now_ms, NULL, 0, row, next_due_ms);
}

/* Runs one of the settle statements (?1 id, ?2 when, ?3 error); each changes
 * the row only while it is inflight, so a stale worker cannot settle twice. */
static int queue_settle(queue *q, int which, int64_t id, int64_t when_ms, const char *error)
{
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->rstmt[which];
    int nparams = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, 1, id);
    if (nparams >= 2)
        sqlite3_bind_int64(st, 2, when_ms);
    if (nparams >= 3)
        queue_bind_text(st, 3, error);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(q->rdb) : 0;
    if (rc != SQLITE_DONE)
        queue_store_error(q, "settle");
    pthread_mutex_unlock(&q->store_lock);
    if (rc != SQLITE_DONE)
        return QUEUE_STORE_ERROR;
    return changed == 1 ? 0 : -1;
}

int queue_mark_done(queue *q, int64_t id)
{
    return queue_settle(q, R_DONE, id, 0, NULL);
}

int queue_mark_retry(queue *q, int64_t id, int64_t next_attempt_ms, const char *error)
{
    return queue_settle(q, R_RETRY, id, next_attempt_ms, error);
}

int queue_mark_dead(queue *q, int64_t id, const char *error)
{
    return queue_settle(q, R_DEAD, id, 0, error);
}
