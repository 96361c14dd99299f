/* delivery: the worker threads between the queue and Close. Each row ends in
 * exactly one of done, retry-later or dead, and every retry and dead letter is
 * logged with its reason, so an operator can tell from the log alone why a
 * meeting in Close did or did not change. */
#include "delivery.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "close_client.h"
#include "log.h"
#include "resolve.h"
#include "update.h"

/* An idle worker re-checks its stop flag at least this often, so shutdown
 * never waits on a far-off retry time. */
#define DELIVERY_MAX_WAIT_MS 1000
/* Dead letters keep this much of Close's error body: enough for its field
 * errors, not so much that one bad answer bloats the store. */
#define DELIVERY_MAX_ERROR_BODY 2048
/* Error texts handed to the queue: a detail line plus the body excerpt. */
#define DELIVERY_REASON_LEN (DELIVERY_MAX_ERROR_BODY + 512)

typedef struct worker {
    struct delivery *d;
    close_client *client;
    pthread_t thread;
    int started;
} worker;

struct delivery {
    const config *cfg;
    queue *q;
    int dry_run;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    unsigned long wakeups; /* bumped by delivery_wake; a worker sleeps only if unchanged */
    worker *workers;
    int nworkers;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- backoff ---- */

/* xorshift64*: per-thread state, so no lock and no shared rand() state. Only
 * spreads retries apart; nothing secret depends on it. */
static uint64_t random_u64(void)
{
    static _Thread_local uint64_t state;
    while (state == 0) {
        if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state))
            state = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)&state;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

int64_t delivery_backoff_ms(int attempts, long initial_ms, long max_ms)
{
    if (initial_ms <= 0 || max_ms <= 0)
        return 0;
    /* Doubling stops at the cap, so a huge attempt count cannot overflow. */
    int64_t cap = initial_ms < max_ms ? initial_ms : max_ms;
    for (int i = 1; i < attempts && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    return (int64_t)(random_u64() % ((uint64_t)cap + 1));
}

/* ---- settling a row ---- */

static void settle_done(worker *w, const queue_row *row, const char *activity_id, long status)
{
    char id[24], st[16];
    snprintf(id, sizeof(id), "%" PRId64, row->id);
    snprintf(st, sizeof(st), "%ld", status);
    queue_mark_done(w->d->q, row->id);
    log_write(LOG_INFO, "delivered", "route", row->route, "id", id, "activity_id", activity_id,
              "status", st, NULL);
}

static void settle_dead(worker *w, const queue_row *row, const char *reason)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, row->id);
    queue_mark_dead(w->d->q, row->id, reason);
    log_write(LOG_WARN, "dead letter", "route", row->route, "id", id, "reason", reason, NULL);
}

/* Retries later, or gives up once the row is older than max_age_s. */
static void settle_retry(worker *w, const queue_row *row, const char *reason, double retry_after_s)
{
    const config *cfg = w->d->cfg;
    int64_t now = now_ms();
    if (now - row->created_at > (int64_t)cfg->max_age_s * 1000) {
        char *msg = NULL;
        if (asprintf(&msg, "gave up after %d attempts over max_age: %s", row->attempts, reason) < 0)
            msg = NULL;
        settle_dead(w, row, msg ? msg : reason);
        free(msg);
        return;
    }
    int64_t wait = delivery_backoff_ms(row->attempts, cfg->retry_initial_ms, cfg->retry_max_ms);
    int64_t asked = (int64_t)(retry_after_s * 1000.0);
    if (asked > wait)
        wait = asked;
    queue_mark_retry(w->d->q, row->id, now + wait, reason);

    char id[24], attempt[16], in[24];
    snprintf(id, sizeof(id), "%" PRId64, row->id);
    snprintf(attempt, sizeof(attempt), "%d", row->attempts);
    snprintf(in, sizeof(in), "%" PRId64, wait);
    log_write(LOG_WARN, "retry", "route", row->route, "id", id, "attempt", attempt, "retry_in_ms",
              in, "reason", reason, NULL);
}

/* ---- one row ---- */

/* Logs the PUT instead of sending it; no network at all. */
static void dry_run(worker *w, const queue_row *row, const close_update *u)
{
    char *url = NULL, id[24];
    snprintf(id, sizeof(id), "%" PRId64, row->id);
    int n;
    if (u->activity_id != NULL)
        n = asprintf(&url, "%s/api/v1/activity/meeting/%s/", w->d->cfg->close_base_url,
                     u->activity_id);
    else if (u->zoom_meeting_id != NULL)
        n = asprintf(&url, "%s/api/v1/activity/meeting/(resolve: zoom id %s)/",
                     w->d->cfg->close_base_url, u->zoom_meeting_id);
    else
        n = asprintf(&url, "%s/api/v1/activity/meeting/(resolve: from join_url or start time)/",
                     w->d->cfg->close_base_url);
    log_write(LOG_INFO, "dry-run: would PUT", "method", "PUT", "url", n < 0 ? NULL : url, "body",
              u->body_json, "route", row->route, "id", id, NULL);
    if (n >= 0)
        free(url);
    queue_mark_done(w->d->q, row->id);
}

/* Finds the activity id when the update does not name it. Returns the id
 * (malloc'ed), or NULL after settling the row. */
static char *find_activity(worker *w, const queue_row *row, const credential *cred,
                           const close_update *u)
{
    char detail[1024] = "", reason[1100];
    char *activity_id = NULL;
    resolve_result r = resolve_activity(w->client, cred, u, w->d->cfg->resolve_window_s,
                                        &activity_id, detail, sizeof(detail));
    switch (r) {
    case RESOLVE_FOUND:
        return activity_id;
    case RESOLVE_NOT_FOUND:
        snprintf(reason, sizeof(reason), "unresolved: %s", detail);
        settle_retry(w, row, reason, 0);
        break;
    case RESOLVE_TRANSIENT:
        snprintf(reason, sizeof(reason), "resolve: %s", detail);
        settle_retry(w, row, reason, 0);
        break;
    case RESOLVE_AMBIGUOUS:
        snprintf(reason, sizeof(reason), "ambiguous: %s", detail);
        settle_dead(w, row, reason);
        break;
    case RESOLVE_NO_KEYS:
    case RESOLVE_PERMANENT:
        snprintf(reason, sizeof(reason), "unresolved: %s", detail);
        settle_dead(w, row, reason);
        break;
    }
    free(activity_id);
    return NULL;
}

/* Close's failure as one line: "HTTP 400: <body>" or the transport error. */
static void describe_failure(const close_response *res, char *out, size_t len)
{
    if (res->status == 0)
        snprintf(out, len, "%s", res->err[0] ? res->err : "no answer");
    else
        snprintf(out, len, "HTTP %ld: %.*s", res->status, DELIVERY_MAX_ERROR_BODY,
                 res->body ? res->body : "");
}

static void send_update(worker *w, const queue_row *row, const credential *cred,
                        const close_update *u)
{
    char *resolved = NULL;
    const char *activity_id = u->activity_id;
    if (activity_id == NULL) {
        resolved = find_activity(w, row, cred, u);
        if (resolved == NULL)
            return;
        activity_id = resolved;
    }
    close_response res;
    close_class cls = close_client_put_meeting(w->client, cred, activity_id, u->body_json, &res);
    char reason[DELIVERY_REASON_LEN];
    if (cls == CLOSE_OK) {
        settle_done(w, row, activity_id, res.status);
    } else {
        describe_failure(&res, reason, sizeof(reason));
        if (cls == CLOSE_PERMANENT)
            settle_dead(w, row, reason);
        else
            settle_retry(w, row, reason, res.retry_after_s);
    }
    close_response_clear(&res);
    free(resolved);
}

static void deliver_row(worker *w, const queue_row *row)
{
    close_update u;
    char err[256] = "", reason[300];
    memset(&u, 0, sizeof(u));
    if (row->payload == NULL ||
        update_parse(row->payload, strlen(row->payload), &u, err, sizeof(err)) < 0) {
        snprintf(reason, sizeof(reason), "corrupt payload: %s", err[0] ? err : "empty");
        settle_dead(w, row, reason);
        update_clear(&u);
        return;
    }
    const credential *cred = config_find_credential(w->d->cfg, row->credential);
    if (cred == NULL) {
        snprintf(reason, sizeof(reason), "unknown credential \"%s\"", row->credential);
        settle_dead(w, row, reason);
    } else if (w->d->dry_run || cred->secret == NULL) {
        dry_run(w, row, &u);
    } else {
        if (u.note_mode == NOTE_APPEND && row->attempts <= 1) {
            char id[24];
            snprintf(id, sizeof(id), "%" PRId64, row->id);
            log_write(LOG_WARN, "note_mode append is not implemented yet; replacing the note",
                      "route", row->route, "id", id, NULL);
        }
        send_update(w, row, cred, &u);
    }
    update_clear(&u);
}

/* ---- the worker loop ---- */

/* Sleeps until woken, stopped, or the next row is due (at most
 * DELIVERY_MAX_WAIT_MS), unless a wake came in since `seen`. */
static void idle(delivery *d, unsigned long seen, int64_t next_due_ms)
{
    int64_t until = now_ms() + DELIVERY_MAX_WAIT_MS;
    if (next_due_ms >= 0 && next_due_ms < until)
        until = next_due_ms;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000L};
    pthread_mutex_lock(&d->lock);
    while (!d->stopping && d->wakeups == seen) {
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&d->lock);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    delivery *d = w->d;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int stopping = d->stopping;
        unsigned long seen = d->wakeups;
        pthread_mutex_unlock(&d->lock);
        if (stopping)
            break;
        queue_row row;
        int64_t next_due = -1;
        memset(&row, 0, sizeof(row));
        int got = queue_claim(d->q, now_ms(), &row, &next_due);
        if (got == 1) {
            deliver_row(w, &row);
            queue_row_clear(&row);
            continue;
        }
        if (got < 0)
            log_write(LOG_ERROR, "queue claim failed; retrying shortly", NULL);
        idle(d, seen, got == 0 ? next_due : -1);
    }
    return NULL;
}

static void wake_callback(void *arg)
{
    delivery_wake(arg);
}

void delivery_wake(delivery *d)
{
    pthread_mutex_lock(&d->lock);
    d->wakeups++;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

delivery *delivery_start(const config *cfg, queue *q, int dry_run)
{
    delivery *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->cfg = cfg;
    d->q = q;
    d->dry_run = dry_run;
    d->nworkers = cfg->delivery_workers > 0 ? cfg->delivery_workers : 1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->workers = calloc((size_t)d->nworkers, sizeof(worker));
    if (d->workers == NULL) {
        delivery_stop(d);
        return NULL;
    }
    queue_set_notify(q, wake_callback, d);
    for (int i = 0; i < d->nworkers; i++) {
        worker *w = &d->workers[i];
        w->d = d;
        w->client = close_client_new(cfg->close_base_url, cfg->close_timeout_ms);
        if (w->client == NULL || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            log_write(LOG_ERROR, "cannot start a delivery worker", NULL);
            delivery_stop(d);
            return NULL;
        }
        w->started = 1;
    }
    return d;
}

void delivery_stop(delivery *d)
{
    if (d == NULL)
        return;
    /* The queue's writer must not call into d once it is freed. */
    if (d->q != NULL)
        queue_set_notify(d->q, NULL, NULL);
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    for (int i = 0; d->workers != NULL && i < d->nworkers; i++) {
        if (d->workers[i].started)
            pthread_join(d->workers[i].thread, NULL);
        close_client_free(d->workers[i].client);
    }
    free(d->workers);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
