/* queue: the durable hand-off between "the sender got its 2xx" and "Close got
 * its PUT". A webhook is acknowledged only after its row is committed, so this
 * file decides what durability costs: one writer thread commits every job
 * waiting at that moment in one transaction (group commit, one fsync a batch).
 * It is backend-neutral: what is stored and how goes through the store's ops
 * (store.h); this file keeps the job list, the writer thread, the batching,
 * the depth gauges and the wake-up of delivery. */
#include "queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "store.h"

/* How often the writer publishes the queue depth gauges: often enough for a
 * 15 s Prometheus scrape, rare enough to cost nothing. /metrics reads the
 * gauges and never touches the store on an event loop. */
#define QUEUE_DEPTH_REFRESH_MS 1000

struct queue {
    store *store;
    int owns_store; /* opened by queue_open: closed by queue_close */

    /* Accepting side: jobs waiting for the writer, FIFO so ids follow
     * submission order (delivery relies on acceptance order). */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_ready;   /* writer: a job arrived or we are stopping */
    pthread_cond_t stopped_cond; /* concurrent queue_stop callers */
    queue_job *head, *tail;
    int stopping, stopped, writer_started;
    void (*notify)(void *arg);
    void *notify_arg;
    pthread_t writer;
    int64_t depth_published_ms;
    /* pending + inflight at the last depth refresh, plus rows stored since:
     * what backpressure compares with store.max_pending, with no store call. */
    atomic_long undelivered;
    int64_t done_retention_ms; /* 0: keep delivered rows forever */
};

/* Wall-clock unix milliseconds: the store's times are comparable across
 * restarts and across processes sharing the file. */
static int64_t queue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int queue_store_lost(queue *q)
{
    return q->store->ops->lost(q->store);
}

store *queue_store(queue *q)
{
    return q->store;
}

int queue_set_limits(queue *q, long max_size_mb, long done_retention_s)
{
    q->done_retention_ms = (int64_t)done_retention_s * 1000;
    if (max_size_mb <= 0)
        return 0;
    return q->store->ops->set_max_size(q->store, max_size_mb);
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
    const char *path = q->store->ops->location(q->store);
    long dead = 0;
    long n = q->store->ops->recover_inflight(q->store, &dead);
    if (n > 0)
        log_write(LOG_INFO, "queue: rows left inflight are pending again", "path", path, LOG_INT("rows", n),
                  NULL);
    if (n >= 0 && dead > 0)
        log_write(LOG_ERROR, "queue: rows inflight at every recent start were dead-lettered as poisoned",
                  "path", path, LOG_INT("rows", dead), NULL);
    if (n < 0)
        log_write(LOG_ERROR, "queue: cannot recover inflight rows", "path", path, NULL);
    return n;
}

static void queue_free(queue *q)
{
    pthread_mutex_destroy(&q->jobs_lock);
    pthread_cond_destroy(&q->jobs_ready);
    pthread_cond_destroy(&q->stopped_cond);
    if (q->owns_store)
        store_close(q->store);
    free(q);
}

static void *writer_main(void *arg);

queue *queue_open_store(store *s, char *err, size_t errlen)
{
    queue *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        snprintf(err, errlen, "%s: out of memory", s->ops->location(s));
        return NULL;
    }
    q->store = s;
    pthread_mutex_init(&q->jobs_lock, NULL);
    pthread_cond_init(&q->jobs_ready, NULL);
    pthread_cond_init(&q->stopped_cond, NULL);
    if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
        snprintf(err, errlen, "%s: cannot start the writer thread", s->ops->location(s));
        queue_free(q);
        return NULL;
    }
    q->writer_started = 1;
    return q;
}

queue *queue_open(const char *path, char *err, size_t errlen)
{
    store *s = store_open(path, err, errlen);
    if (s == NULL)
        return NULL;
    queue *q = queue_open_store(s, err, errlen);
    if (q == NULL) {
        store_close(s);
        return NULL;
    }
    q->owns_store = 1;
    return q;
}

/* ---- accepting side: the writer thread ---------------------------------- */

/* Intake stops (every job of the batch fails with the reason) while the store
 * refuses it: see store_ops.intake_refusal. 1 when refused. */
static int writer_refuses(queue *q, queue_job *batch)
{
    const char *why = q->store->ops->intake_refusal(q->store);
    for (queue_job *job = why ? batch : NULL; job; job = job->next) {
        job->result = QUEUE_FAILED;
        job->id = 0;
        snprintf(job->error, sizeof(job->error), "%s", why);
    }
    return why != NULL;
}

/* Commits one batch; returns how many new rows it stored. */
static long writer_store_batch(queue *q, queue_job *batch)
{
    if (writer_refuses(q, batch))
        return 0;
    long stored = q->store->ops->insert_batch(q->store, batch, queue_now_ms());
    atomic_fetch_add(&q->undelivered, stored);
    return stored;
}

/* Writer thread, jobs_lock not held. */
static void writer_publish_depth(queue *q)
{
    int64_t now = queue_now_ms();
    if (now - q->depth_published_ms < QUEUE_DEPTH_REFRESH_MS)
        return;
    q->depth_published_ms = now;
    queue_counts live = {0};
    q->store->ops->depth(q->store, &live); /* on error: zeros, as before */
    atomic_store(&q->undelivered, live.pending + live.inflight);
    if (q->done_retention_ms > 0)
        q->store->ops->prune_done(q->store, now - q->done_retention_ms);
    metrics_set("closehook_queue_rows", (double)live.pending, METRIC_LABELS("pending"));
    metrics_set("closehook_queue_rows", (double)live.inflight, METRIC_LABELS("inflight"));
    metrics_set("closehook_queue_rows", (double)live.dead, METRIC_LABELS("dead"));
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
                writer_refuses(q, NULL); /* notices a lost store while idle too */
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

/* ---- delivering side and operators: straight to the store --------------- */

void queue_row_clear(queue_row *row)
{
    free(row->route);
    free(row->credential);
    free(row->dedup_key);
    free(row->payload);
    memset(row, 0, sizeof(*row));
}

int queue_claim_among(queue *q, int64_t now_ms, const char *const *among, size_t namong, queue_row *row,
                      int64_t *next_due_ms)
{
    return q->store->ops->claim(q->store, now_ms, among, namong, row, next_due_ms);
}

int queue_claim(queue *q, int64_t now_ms, queue_row *row, int64_t *next_due_ms)
{
    return queue_claim_among(q, now_ms, NULL, 0, row, next_due_ms);
}

int queue_mark_done(queue *q, int64_t id)
{
    return q->store->ops->settle(q->store, STORE_SETTLE_DONE, id, 0, NULL);
}

int queue_mark_retry(queue *q, int64_t id, int64_t next_attempt_ms, const char *error)
{
    return q->store->ops->settle(q->store, STORE_SETTLE_RETRY, id, next_attempt_ms, error);
}

int queue_mark_dead(queue *q, int64_t id, const char *error)
{
    return q->store->ops->settle(q->store, STORE_SETTLE_DEAD, id, 0, error);
}

int queue_counts_get(queue *q, queue_counts *out)
{
    return q->store->ops->counts(q->store, out);
}

int queue_list_dead(queue *q, const char *route, queue_row_fn fn, void *arg)
{
    return q->store->ops->list_dead(q->store, route, fn, arg);
}

int queue_get(queue *q, int64_t id, queue_row *row, const char **state, char **last_error)
{
    return q->store->ops->get(q->store, id, row, state, last_error);
}

long queue_replay(queue *q, int64_t id, const char *route)
{
    return q->store->ops->replay(q->store, id, route, queue_now_ms());
}

long queue_purge_dead(queue *q, int64_t older_than_ms, const char *route)
{
    return q->store->ops->purge_dead(q->store, route, queue_now_ms() - older_than_ms);
}
