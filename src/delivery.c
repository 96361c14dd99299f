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
#include "deferrals.h"
#include "json.h"
#include "log.h"
#include "meeting_cache.h"
#include "metrics.h"
#include "rate_limit.h"
#include "resolve.h"
#include "update.h"

/* An idle worker re-checks its stop flag at least this often, so shutdown
 * never waits on a far-off retry time. */
#define DELIVERY_MAX_WAIT_MS 1000
/* A worker sleeps through a pacing gap up to this long; behind a longer one
 * it books the slot and puts the row back, so it never sits out a paced
 * credential's backlog while other credentials' rows wait behind it. A few
 * milliseconds of sleep cost less than the requeue. */
#define DELIVERY_BOOK_AFTER_S 0.02
/* Dead letters keep this much of Close's error body: enough for its field
 * errors, not so much that one bad answer bloats the store. */
#define DELIVERY_MAX_ERROR_BODY 2048
/* Error texts handed to the queue: a detail line plus the body excerpt. */
#define DELIVERY_REASON_LEN (DELIVERY_MAX_ERROR_BODY + 512)

typedef struct worker {
    struct delivery *d;
    const char *request_id; /* of the row being handled, for its log lines */
    close_client *client;
    /* The config this row is handled under: loaded once per row, so a reload
     * mid-row never mixes two configs. */
    const config *cfg;
    char *busy_credential; /* the credential of the row in hand; under claim_lock */
    const char **among;    /* claim_row's list of credentials below their cap */
    size_t among_cap;
    pthread_t thread;
    int started;
} worker;

struct delivery {
    /* _Atomic: a reload swaps it while workers run; each plain read is an
     * atomic load, and retired configs outlive the workers. */
    _Atomic(const config *) cfg;
    queue *q;
    int dry_run;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    unsigned long wakeups; /* bumped by delivery_wake; a worker sleeps only if unchanged */
    /* Claims and the workers' busy_credential: one worker picks its row
     * knowing what every other worker holds, so the cap is never overrun. */
    pthread_mutex_t claim_lock;
    worker *workers;
    int nworkers;
    oauth *oauth;         /* shared by all workers: one refresh per credential, not one per worker */
    meeting_cache *cache; /* shared by all workers; NULL: resolve asks Close every time */
    rate_limit *rl;       /* shared by all workers: Close's budget is per credential, not per worker */
    deferrals *deferrals; /* rows put back by pacing, and which of them hold a booked slot */
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

/* A settle the store refused is tried again from SETTLE_RETRY_FIRST_MS,
 * doubling to SETTLE_RETRY_MAX_MS: a row whose PUT Close applied must never
 * stay inflight (it would hold back every later update of its meeting), and
 * a full disk frees up by itself once intake stops (queue.c keeps a reserve
 * for exactly these writes). */
#define SETTLE_RETRY_FIRST_MS 50
#define SETTLE_RETRY_MAX_MS 1000

typedef enum { SETTLE_AS_DONE, SETTLE_AS_RETRY, SETTLE_AS_DEAD } settle_kind;

static int settle_once(queue *q, settle_kind kind, int64_t id, int64_t when_ms, const char *error)
{
    if (kind == SETTLE_AS_DONE)
        return queue_mark_done(q, id);
    if (kind == SETTLE_AS_RETRY)
        return queue_mark_retry(q, id, when_ms, error);
    return queue_mark_dead(q, id, error);
}

static int delivery_stopping(delivery *d)
{
    pthread_mutex_lock(&d->lock);
    int stopping = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return stopping;
}

/* Stores a row's settlement, retrying until the store takes it. Only a stop
 * ends the wait early; the row is then inflight at the next start, and is
 * delivered again (at-least-once, as after a crash). */
static void settle_store(worker *w, settle_kind kind, int64_t id, int64_t when_ms, const char *error)
{
    long wait_ms = SETTLE_RETRY_FIRST_MS;
    int refused = 0;
    while (settle_once(w->d->q, kind, id, when_ms, error) == QUEUE_STORE_ERROR) {
        if (refused++ == 0)
            log_write(LOG_ERROR, "store refused a settle; retrying until it lands", LOG_INT("id", id), NULL);
        if (delivery_stopping(w->d))
            return;
        struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        wait_ms = wait_ms * 2 > SETTLE_RETRY_MAX_MS ? SETTLE_RETRY_MAX_MS : wait_ms * 2;
    }
    if (refused > 0)
        log_write(LOG_INFO, "settle stored after the store refused it", LOG_INT("id", id), NULL);
}

/* closehook_deliveries_total for one settled attempt; status is Close's
 * answer to the last request for the row (0: none, or no request made). */
static void count_delivery(const queue_row *row, const char *outcome, long status)
{
    char st[16];
    snprintf(st, sizeof(st), "%ld", status);
    metrics_inc("closehook_deliveries_total", METRIC_LABELS(row->route, outcome, st));
}

/* The row reached Close (what) with answer status. */
static void settle_done(worker *w, const queue_row *row, const char *activity_id, long status,
                        const char *what)
{
    settle_store(w, SETTLE_AS_DONE, row->id, 0, NULL);
    deferrals_forget(w->d->deferrals, row->id);
    count_delivery(row, "done", status);
    metrics_observe("closehook_end_to_end_seconds", (double)(now_ms() - row->created_at) / 1000.0,
                    METRIC_LABELS(row->route));
    log_write(LOG_INFO, what, "route", row->route, LOG_INT("id", row->id), "request_id", w->request_id,
              "activity_id", activity_id, LOG_INT("status", status), NULL);
}

static void settle_dead(worker *w, const queue_row *row, const char *reason, long status)
{
    settle_store(w, SETTLE_AS_DEAD, row->id, 0, reason);
    deferrals_forget(w->d->deferrals, row->id);
    count_delivery(row, "dead", status);
    metrics_inc("closehook_dead_letters_total", METRIC_LABELS(row->route));
    log_write(LOG_WARN, "dead letter", "route", row->route, LOG_INT("id", row->id), "request_id",
              w->request_id, "reason", reason, NULL);
}

/* Attempts that failed: queue_claim counts every claim, also those our own
 * pacing handed straight back, and those must not grow the backoff. */
static int failed_attempts(worker *w, const queue_row *row)
{
    int n = row->attempts - deferrals_count(w->d->deferrals, row->id);
    return n > 1 ? n : 1;
}

/* Retries later, or gives up once the row is older than max_age_s. */
static void settle_retry(worker *w, const queue_row *row, const char *reason, double retry_after_s,
                         long status)
{
    const config *cfg = w->cfg;
    int64_t now = now_ms();
    int failed = failed_attempts(w, row);
    if (now - row->created_at > (int64_t)cfg->delivery.max_age_s * 1000) {
        char *msg = NULL;
        if (asprintf(&msg, "gave up after %d attempts over max_age: %s", failed, reason) < 0)
            msg = NULL;
        settle_dead(w, row, msg ? msg : reason, status);
        free(msg);
        return;
    }
    int64_t wait = delivery_backoff_ms(failed, cfg->delivery.retry_initial_ms, cfg->delivery.retry_max_ms);
    int64_t asked = (int64_t)(retry_after_s * 1000.0);
    if (asked > wait)
        wait = asked;
    settle_store(w, SETTLE_AS_RETRY, row->id, now + wait, reason);
    count_delivery(row, "retry", status);

    log_write(LOG_WARN, "retry", "route", row->route, LOG_INT("id", row->id), "request_id", w->request_id,
              LOG_INT("attempt", failed), LOG_INT("retry_in_ms", wait), "reason", reason, NULL);
}

/* Our own pacing held the request back (Close was not asked): the row goes
 * back, due when the credential may send again, so the worker serves other
 * credentials meanwhile. Not a failure: no backoff step, no max_age check,
 * no delivery counted; the deferral is noted so backoff can discount it,
 * with whether the row holds a booked slot to redeem when it is back. */
static void settle_paced(worker *w, const queue_row *row, double wait_s, int booked, const char *why)
{
    int64_t wait = (int64_t)(wait_s * 1000.0) + 1;
    settle_store(w, SETTLE_AS_RETRY, row->id, now_ms() + wait, why);
    deferrals_note(w->d->deferrals, row->id, booked);

    log_write(LOG_DEBUG, "paced", "route", row->route, LOG_INT("id", row->id), LOG_INT("retry_in_ms", wait),
              "reason", why, NULL);
}

/* ---- one row ---- */

/* Logs the PUT instead of sending it; no network at all. */
static void dry_run(worker *w, const queue_row *row, const close_update *u)
{
    char *url = NULL, id[24];
    snprintf(id, sizeof(id), "%" PRId64, row->id);
    int n;
    if (u->activity_id != NULL)
        n = asprintf(&url, "%s/api/v1/activity/meeting/%s/", w->cfg->close.base_url, u->activity_id);
    else if (u->keys.zoom_meeting_id != NULL)
        n = asprintf(&url, "%s/api/v1/activity/meeting/(resolve: zoom id %s)/", w->cfg->close.base_url,
                     u->keys.zoom_meeting_id);
    else
        n = asprintf(&url, "%s/api/v1/activity/meeting/(resolve: by the webhook's lookup keys)/",
                     w->cfg->close.base_url);
    log_write(LOG_INFO, "dry-run: would PUT", "method", "PUT", "url", n < 0 ? NULL : url, "body",
              u->body_json, "route", row->route, "id", id, "request_id", u->request_id, NULL);
    if (n >= 0)
        free(url);
    settle_store(w, SETTLE_AS_DONE, row->id, 0, NULL);
    count_delivery(row, "dry_run", 0);
}

/* What the resolve settings and the shared cache say, for one lookup. */
static resolve_options resolve_opts(const worker *w, int skip_cache)
{
    const config *cfg = w->cfg;
    resolve_options o = {.window_s = cfg->resolve.window_s,
                         .attendee_window_s = cfg->resolve.attendee_window_s,
                         .cache = w->d->cache,
                         .cache_ttl_s = cfg->resolve.cache_ttl_s,
                         .skip_cache = skip_cache};
    return o;
}

/* Where a row's PUT goes, and how that was learnt. */
typedef struct target {
    char *activity_id; /* malloc'ed */
    int resolved;      /* 1: found by resolve, not named by the sender */
    int from_cache;
} target;

/* Finds the activity id (named by the update or resolved). 0 with *t filled,
 * or -1 after settling the row. Not found is retried, since Close's calendar
 * sync lags minutes behind the sender; at max_age it is a dead letter that
 * says everything that was tried. */
static int find_target(worker *w, const queue_row *row, const credential *cred, const close_update *u,
                       int skip_cache, target *t)
{
    char detail[1024] = "", reason[1200];
    resolve_options o = resolve_opts(w, skip_cache);
    memset(t, 0, sizeof(*t));
    t->resolved = u->activity_id == NULL;
    resolve_result r =
        resolve_find(w->client, cred, u, &o, &t->activity_id, &t->from_cache, detail, sizeof(detail));
    switch (r) {
    case RESOLVE_FOUND:
        return 0;
    case RESOLVE_NOT_FOUND:
        if (now_ms() - row->created_at > (int64_t)w->cfg->delivery.max_age_s * 1000) {
            snprintf(reason, sizeof(reason), "unresolved: %s (gave up after %d attempts over max_age)",
                     detail, failed_attempts(w, row));
            settle_dead(w, row, reason, 0);
        } else {
            snprintf(reason, sizeof(reason), "unresolved: %s", detail);
            settle_retry(w, row, reason, 0, 0);
        }
        break;
    case RESOLVE_TRANSIENT:
        /* A lookup Close rate-limited (or that pacing held back) waits out
         * the credential's pause, at least. */
        snprintf(reason, sizeof(reason), "resolve: %s", detail);
        settle_retry(w, row, reason, rate_limit_wait(w->d->rl, cred->name, RATE_LIMIT_READ, rate_limit_now()),
                     0);
        break;
    case RESOLVE_AMBIGUOUS:
        snprintf(reason, sizeof(reason), "ambiguous: %s", detail);
        settle_dead(w, row, reason, 0);
        break;
    case RESOLVE_NO_KEYS:
    case RESOLVE_PERMANENT:
        snprintf(reason, sizeof(reason), "unresolved: %s", detail);
        settle_dead(w, row, reason, 0);
        break;
    }
    free(t->activity_id);
    t->activity_id = NULL;
    return -1;
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

typedef enum {
    SENT_SETTLED, /* the row is done, retried later or dead */
    SENT_GONE     /* 404 for a resolved id: the caller decides (resolve again once) */
} sent;

/* Settles the row by Close's answer, unless it is a 404 for an id resolve
 * found: that may be a stale cache entry, not a bad update. */
static sent settle_answer(worker *w, const queue_row *row, const target *t, close_class cls,
                          const close_response *res, char *reason, size_t len)
{
    describe_failure(res, reason, len);
    if (res->paced)
        settle_paced(w, row, res->retry_after_s, 0, res->err);
    else if (cls == CLOSE_PERMANENT && res->status == 404 && t->resolved)
        return SENT_GONE;
    else if (cls == CLOSE_PERMANENT)
        settle_dead(w, row, reason, res->status);
    else
        settle_retry(w, row, reason, res->retry_after_s, res->status);
    return SENT_SETTLED;
}

/* note_mode append: reads the meeting's current note and builds the body
 * that appends the section (update_append_body). The read and the PUT are
 * not atomic (Close has no conditional PUT); a person editing the note in
 * that moment could lose the edit, which a replace would lose anyway.
 * Updates to one meeting are never appended concurrently by us: the queue
 * sends them one at a time, in order. *body NULL means nothing to send. */
static sent append_body(worker *w, const queue_row *row, const credential *cred, const close_update *u,
                        const target *t, char **body, int *settled, char *reason, size_t len)
{
    close_response res;
    *body = NULL;
    *settled = 0;
    close_class cls = close_client_get_meeting(w->client, cred, t->activity_id, &res);
    if (cls != CLOSE_OK) {
        sent s = settle_answer(w, row, t, cls, &res, reason, len);
        close_response_clear(&res);
        *settled = s == SENT_SETTLED;
        return s;
    }
    char err[256];
    yajl_val meeting = res.body ? json_parse(res.body, res.body_len, err, sizeof(err)) : NULL;
    yajl_val note = json_member(meeting, "user_note_html");
    if (!YAJL_IS_OBJECT(meeting)) {
        settle_retry(w, row, "append: Close's meeting answer is not a JSON object", 0, res.status);
        *settled = 1;
    } else if (update_append_body(u->body_json, YAJL_IS_STRING(note) ? note->u.string : NULL, body, err,
                                  sizeof(err)) != 0) {
        settle_dead(w, row, err, res.status);
        *settled = 1;
    }
    yajl_tree_free(meeting);
    close_response_clear(&res);
    return SENT_SETTLED;
}

/* One attempt at the target: the append read if any, then the PUT. */
static sent put_to(worker *w, const queue_row *row, const credential *cred, const close_update *u,
                   const target *t, rate_limit_slot slot, char *reason, size_t len)
{
    char *appended = NULL;
    const char *body = u->body_json;
    if (u->note_mode == NOTE_APPEND) {
        int settled;
        sent s = append_body(w, row, cred, u, t, &appended, &settled, reason, len);
        if (s == SENT_GONE || settled)
            return s;
        if (appended == NULL) {
            settle_done(w, row, t->activity_id, 200,
                        "delivered: the note section is already there, nothing else to send");
            return SENT_SETTLED;
        }
        body = appended;
    }
    close_response res;
    close_class cls = close_client_put_meeting(w->client, cred, t->activity_id, body, slot, &res);
    sent s = SENT_SETTLED;
    if (cls == CLOSE_OK)
        settle_done(w, row, t->activity_id, res.status, "delivered");
    else
        s = settle_answer(w, row, t, cls, &res, reason, len);
    close_response_clear(&res);
    free(appended);
    return s;
}

/* A 404 for a resolved id drops its cache entries. If the id came from the
 * cache, the meeting may have been re-created in Close: resolve again from
 * Close, once (the second answer is fresh, so another 404 is final). */
static void send_update(worker *w, const queue_row *row, const credential *cred, const close_update *u,
                        rate_limit_slot slot)
{
    char reason[DELIVERY_REASON_LEN];
    target t;
    if (find_target(w, row, cred, u, 0, &t) != 0)
        return;
    sent s = put_to(w, row, cred, u, &t, slot, reason, sizeof(reason));
    resolve_options o = resolve_opts(w, 0);
    if (s == SENT_GONE) {
        resolve_forget(&o, cred, u, t.activity_id);
        if (t.from_cache) {
            log_write(LOG_WARN, "cached meeting answered 404; resolving again", "route", row->route,
                      LOG_INT("id", row->id), "activity_id", t.activity_id, NULL);
            free(t.activity_id);
            if (find_target(w, row, cred, u, 1, &t) != 0)
                return;
            /* a booked slot was spent by the first PUT: this one queues */
            if ((s = put_to(w, row, cred, u, &t, RATE_LIMIT_QUEUE, reason, sizeof(reason))) == SENT_GONE)
                resolve_forget(&o, cred, u, t.activity_id);
        }
    }
    if (s == SENT_GONE)
        settle_dead(w, row, reason, 404);
    free(t.activity_id);
}

/* When the row's PUT may go, decided before any request so a resolve is
 * never left half done: a paused credential (or a budget spent until a far
 * reset) puts the row back until then; behind a backlog, the row books the
 * credential's next free slot and goes back due at it, so this worker serves
 * other credentials meanwhile; a row coming back with a booking redeems it.
 * Returns 1 when the row was put back, else 0 with *slot the PUT's ticket. */
static int schedule_row(worker *w, const queue_row *row, const credential *cred, const close_update *u,
                        rate_limit_slot *slot)
{
    rate_limit *rl = w->d->rl;
    double now = rate_limit_now();
    int booked = deferrals_take_booking(w->d->deferrals, row->id);
    double wait = rate_limit_wait(rl, cred->name, RATE_LIMIT_WRITE, now);
    if (u->activity_id == NULL || u->note_mode == NOTE_APPEND) {
        double read = rate_limit_wait(rl, cred->name, RATE_LIMIT_READ, now);
        if (read > wait)
            wait = read;
    }
    char why[160];
    if (wait > RATE_LIMIT_SLEEP_MAX_S) {
        snprintf(why, sizeof(why), "paced: credential \"%.64s\" waits %.1f s for Close's rate limit",
                 cred->name, wait);
        settle_paced(w, row, wait, booked, why); /* a booking keeps its place in the schedule */
        return 1;
    }
    if (!booked &&
        (wait = rate_limit_book(rl, cred->name, RATE_LIMIT_WRITE, now, DELIVERY_BOOK_AFTER_S)) > 0) {
        snprintf(why, sizeof(why), "paced: credential \"%.64s\" has its next slot in %.1f s", cred->name,
                 wait);
        settle_paced(w, row, wait, 1, why);
        return 1;
    }
    *slot = booked ? RATE_LIMIT_BOOKED : RATE_LIMIT_QUEUE;
    return 0;
}

static void deliver_row(worker *w, const queue_row *row)
{
    close_update u;
    char err[256] = "", reason[300];
    memset(&u, 0, sizeof(u));
    if (row->payload == NULL || update_parse(row->payload, strlen(row->payload), &u, err, sizeof(err)) < 0) {
        snprintf(reason, sizeof(reason), "corrupt payload: %s", err[0] ? err : "empty");
        settle_dead(w, row, reason, 0);
        update_clear(&u);
        return;
    }
    w->request_id = u.request_id;
    rate_limit_slot slot;
    const credential *cred = config_find_credential(w->cfg, row->credential);
    if (cred == NULL) {
        snprintf(reason, sizeof(reason), "unknown credential \"%s\"", row->credential);
        settle_dead(w, row, reason, 0);
    } else if (w->d->dry_run || cred->dry_run) {
        dry_run(w, row, &u);
    } else if (cred->secret == NULL) {
        /* Never recorded as delivered: nothing was sent. */
        snprintf(reason, sizeof(reason), "credential \"%s\" has no secret loaded", row->credential);
        settle_dead(w, row, reason, 0);
    } else if (!schedule_row(w, row, cred, &u, &slot)) {
        close_client_set_request_id(w->client, u.request_id);
        send_update(w, row, cred, &u, slot);
        close_client_set_request_id(w->client, NULL);
    }
    w->request_id = NULL;
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

/* ---- the per-credential in-flight cap ---- */

/* How many rows of one credential may be in flight at once: delivery.workers
 * unless delivery.per_credential says fewer. The pool always has one thread
 * more than the cap (delivery_start), so a credential whose Close hangs can
 * hold at most the cap and another credential's row always finds a worker,
 * while a daemon with one credential still sends on `workers` threads. */
static int credential_cap(const delivery *d, const config *cfg)
{
    int cap = cfg->delivery.per_credential > 0 ? cfg->delivery.per_credential : cfg->delivery.workers;
    if (cap > d->nworkers - 1)
        cap = d->nworkers - 1; /* a reload cannot take the spare thread away */
    return cap > 0 ? cap : 1;
}

/* The pool's size for cfg: the workers, and at least one more than the cap. */
static int pool_size(const config *cfg)
{
    int workers = cfg->delivery.workers > 0 ? cfg->delivery.workers : 1;
    int cap = cfg->delivery.per_credential > 0 ? cfg->delivery.per_credential : workers;
    return cap + 1 > workers ? cap + 1 : workers;
}

static int busy_with(const delivery *d, const char *credential)
{
    int n = 0;
    for (int i = 0; i < d->nworkers; i++)
        n += d->workers[i].busy_credential != NULL && strcmp(d->workers[i].busy_credential, credential) == 0;
    return n;
}

/* Fills w->among with the config's credentials below their cap. 0 with
 * *n set; 1 when no credential is at its cap (claim among all, including
 * rows of credentials the config no longer names); -1 out of memory. Under
 * claim_lock; the names are borrowed from w->cfg. */
static int credentials_below_cap(worker *w, size_t *n)
{
    const config *cfg = w->cfg;
    int cap = credential_cap(w->d, cfg), any_full = 0;
    if (w->among_cap < cfg->ncredentials) {
        const char **grown = realloc(w->among, cfg->ncredentials * sizeof(*grown));
        if (grown == NULL)
            return -1;
        w->among = grown;
        w->among_cap = cfg->ncredentials;
    }
    *n = 0;
    for (size_t i = 0; i < cfg->ncredentials; i++) {
        if (busy_with(w->d, cfg->credentials[i].name) >= cap)
            any_full = 1;
        else
            w->among[(*n)++] = cfg->credentials[i].name;
    }
    return any_full ? 0 : 1;
}

static int claim_row(worker *w, queue_row *row, int64_t *next_due)
{
    delivery *d = w->d;
    pthread_mutex_lock(&d->claim_lock);
    size_t n = 0;
    int all = credentials_below_cap(w, &n);
    /* out of memory: claim among all (the cap is fairness, not correctness) */
    int got = 0;
    if (all != 0)
        got = queue_claim(d->q, now_ms(), row, next_due);
    else if (n > 0)
        got = queue_claim_among(d->q, now_ms(), w->among, n, row, next_due);
    else { /* every credential at its cap: sleep until a row is settled */
        memset(row, 0, sizeof(*row));
        *next_due = -1;
    }
    if (got == 1)
        w->busy_credential = strdup(row->credential); /* NULL (no memory): uncounted */
    pthread_mutex_unlock(&d->claim_lock);
    return got;
}

/* The row is settled: its credential's slot is free again, and a worker
 * sleeping because of the cap may now take that credential's next row. */
static void release_row(worker *w)
{
    delivery *d = w->d;
    pthread_mutex_lock(&d->claim_lock);
    int was_full =
        w->busy_credential != NULL && busy_with(d, w->busy_credential) >= credential_cap(d, w->cfg);
    free(w->busy_credential);
    w->busy_credential = NULL;
    pthread_mutex_unlock(&d->claim_lock);
    if (was_full)
        delivery_wake(d);
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
        w->cfg = d->cfg; /* one atomic load; the row's whole handling uses it */
        int got = claim_row(w, &row, &next_due);
        if (got == 1) {
            deliver_row(w, &row);
            release_row(w);
            queue_row_clear(&row);
            continue;
        }
        if (got < 0)
            log_write(LOG_ERROR, "queue claim failed; retrying shortly", NULL);
        idle(d, seen, got == 0 ? next_due : -1);
    }
    free(w->among);
    w->among = NULL;
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

/* The cache is an optimisation: without it every webhook costs a lookup,
 * which is slower but still correct, so a store problem here is a warning. */
static meeting_cache *open_cache(queue *q)
{
    char err[512];
    meeting_cache *mc = meeting_cache_open(queue_store(q), err, sizeof(err));
    if (mc == NULL)
        log_write(LOG_WARN, "meeting cache unavailable; resolving without it", "error", err, NULL);
    else
        meeting_cache_prune(mc, time(NULL)); /* expired entries from earlier runs */
    return mc;
}

delivery *delivery_start(const config *cfg, queue *q, int dry_run)
{
    delivery *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->cfg = cfg;
    d->q = q;
    d->dry_run = dry_run;
    d->nworkers = pool_size(cfg);
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->claim_lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->workers = calloc((size_t)d->nworkers, sizeof(worker));
    if (d->workers == NULL) {
        delivery_stop(d);
        return NULL;
    }
    char err[512];
    if ((d->oauth = oauth_open(queue_store(q), cfg, err, sizeof(err))) == NULL) {
        log_write(LOG_ERROR, "cannot load the OAuth tokens", "error", err, NULL);
        delivery_stop(d);
        return NULL;
    }
    d->cache = open_cache(q);
    if ((d->rl = rate_limit_new()) == NULL || (d->deferrals = deferrals_new()) == NULL) {
        log_write(LOG_ERROR, "out of memory for the rate limiter", NULL);
        delivery_stop(d);
        return NULL;
    }
    queue_set_notify(q, wake_callback, d);
    for (int i = 0; i < d->nworkers; i++) {
        worker *w = &d->workers[i];
        w->d = d;
        w->client = close_client_new(cfg->close.base_url, cfg->close.timeout_ms);
        if (w->client != NULL) {
            close_client_set_oauth(w->client, d->oauth);
            close_client_set_rate_limit(w->client, d->rl);
        }
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
    oauth_close(d->oauth);
    meeting_cache_close(d->cache);
    rate_limit_free(d->rl);
    deferrals_free(d->deferrals);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->claim_lock);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void delivery_set_config(delivery *d, const config *cfg)
{
    d->cfg = cfg;
    delivery_wake(d);
}
