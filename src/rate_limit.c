/* rate_limit: keeps each credential under Close's rate limit by reading the
 * budget Close reports on every answer and spacing requests over what is
 * left of its window. 429 handling is the fallback, not the plan: Close asks
 * integrations to pace themselves, and a 429 costs a round trip and a pause. */
#include "rate_limit.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "metrics.h"

/* Close gives no wait with a 429 only if a proxy ate its headers and body;
 * its windows are a second or a few, so one second is a fair first guess. */
#define RATE_LIMIT_DEFAULT_PAUSE_S 1.0
/* No pause or window longer than an hour: Close's resets are seconds, so a
 * larger value is a broken header, and it must not freeze a credential. */
#define RATE_LIMIT_MAX_S 3600.0
/* Two answers whose resets point within this of each other describe the same
 * window; the later-arriving one may have been counted earlier by Close, so it
 * must not give back budget already spent. Well under Close's window lengths. */
#define RATE_LIMIT_SAME_WINDOW_S 0.05
/* Longest header number we read: "remaining=1000000.000" fits easily. */
#define NUMBER_MAX 48

/* One credential's budget for one endpoint group. */
typedef struct bucket {
    struct bucket *next;
    char *cred;
    rate_limit_group group;
    int known;            /* remaining/reset_at describe a current window */
    double limit;         /* requests a window allows; -1 unknown */
    double reset_max;     /* the longest reset seen: a lower bound on the window */
    double window_s;      /* the window's length, as best known */
    double remaining;     /* what is left, minus requests on their way */
    double reset_at;      /* when the window resets */
    double told_reset_at; /* the reset Close last gave (reset_at may be our guess) */
    double next_slot;     /* the end of the schedule: after every slot handed out or booked */
    double paused_until;  /* after a 429 */
    int inflight;         /* acquired, not yet observed */
    int pause_published;  /* the pause gauge shows a nonzero value */
} bucket;

struct rate_limit {
    pthread_mutex_t lock;
    bucket *buckets;
};

/* ---- parsing ---- */

/* A non-negative finite number filling [s, s+len) but for spaces. */
static int parse_number(const char *s, size_t len, double *out)
{
    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    char buf[NUMBER_MAX];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end == buf || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* "limit=20, remaining=0, reset=1.75": each known key=value item sets its
 * slot (once; a repeated key keeps the first value). */
static void parse_combined(const char *value, double *limit, double *remaining, double *reset)
{
    const char *p = value;
    while (*p != '\0') {
        size_t item = strcspn(p, ",;");
        const char *eq = memchr(p, '=', item);
        if (eq != NULL) {
            const char *k = p;
            size_t klen = (size_t)(eq - p);
            while (klen > 0 && isspace((unsigned char)*k))
                k++, klen--;
            while (klen > 0 && isspace((unsigned char)k[klen - 1]))
                klen--;
            double *slot = NULL;
            if (klen == 5 && strncasecmp(k, "limit", 5) == 0)
                slot = limit;
            else if (klen == 9 && strncasecmp(k, "remaining", 9) == 0)
                slot = remaining;
            else if (klen == 5 && strncasecmp(k, "reset", 5) == 0)
                slot = reset;
            double v;
            if (slot != NULL && *slot < 0 && parse_number(eq + 1, item - (size_t)(eq + 1 - p), &v) == 0)
                *slot = v;
        }
        p += item;
        if (*p != '\0')
            p++;
    }
}

/* One of the older single-value headers, unless the combined form set it. */
static void parse_single(const char *value, double *slot)
{
    double v;
    if (value != NULL && *slot < 0 && parse_number(value, strlen(value), &v) == 0)
        *slot = v;
}

int rate_limit_parse(const char *combined, const char *limit, const char *remaining, const char *reset,
                     rate_limit_info *out)
{
    double l = -1, rem = -1, rst = -1;
    if (combined != NULL)
        parse_combined(combined, &l, &rem, &rst);
    parse_single(limit, &l);
    parse_single(remaining, &rem);
    parse_single(reset, &rst);
    out->limit = l;
    out->remaining = rem < 0 ? 0 : rem;
    out->reset_s = rst < 0 ? 0 : (rst > RATE_LIMIT_MAX_S ? RATE_LIMIT_MAX_S : rst);
    out->present = rem >= 0 && rst >= 0;
    return out->present;
}

/* ---- lifecycle ---- */

rate_limit *rate_limit_new(void)
{
    rate_limit *rl = calloc(1, sizeof(*rl));
    if (rl != NULL)
        pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void rate_limit_free(rate_limit *rl)
{
    if (rl == NULL)
        return;
    for (bucket *b = rl->buckets, *next; b != NULL; b = next) {
        next = b->next;
        free(b->cred);
        free(b);
    }
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

double rate_limit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- budgets ---- */

/* The bucket for (cred, group); created on first use when create is set.
 * Called locked. A handful of credentials: a list is the right size. */
static bucket *find_bucket(rate_limit *rl, const char *cred, rate_limit_group g, int create)
{
    for (bucket *b = rl->buckets; b != NULL; b = b->next)
        if (b->group == g && strcmp(b->cred, cred) == 0)
            return b;
    if (!create)
        return NULL;
    bucket *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->cred = strdup(cred)) == NULL) {
        free(b);
        return NULL;
    }
    b->group = g;
    b->limit = -1;
    b->next = rl->buckets;
    rl->buckets = b;
    return b;
}

/* Once the window has passed with no fresh answer, assume a new one of the
 * same length starting now (later than Close's real start, so on the safe
 * side), with the full limit less what is on its way; without a known limit
 * nothing is known any more. */
static void roll_window(bucket *b, double now)
{
    if (!b->known || now < b->reset_at)
        return;
    if (b->limit > 0 && b->window_s > 0) {
        b->remaining = b->limit - b->inflight > 0 ? b->limit - b->inflight : 0;
        b->reset_at = now + b->window_s;
    } else {
        b->known = 0;
    }
}

/* The earliest a request may start: after a pause, and after the reset when
 * the window's budget is spent. */
static double earliest_start(bucket *b, double now)
{
    roll_window(b, now);
    double t = now;
    if (b->paused_until > t)
        t = b->paused_until;
    if (b->known && b->remaining < 1 && b->reset_at > t)
        t = b->reset_at;
    return t;
}

/* The gap a slot at `slot` leaves before the next one: the window's limit
 * spread evenly (window/limit), or, inside the current window, what is left
 * of it shared by the remaining budget when that is tighter (others using the
 * same key, a budget Close says is nearly spent). */
static double interval_after(const bucket *b, double slot)
{
    double even = b->limit > 0 && b->window_s > 0 ? b->window_s / b->limit : 0;
    if (b->known && slot < b->reset_at && b->remaining >= 1) {
        double share = (b->reset_at - slot) / b->remaining;
        return share > even ? share : even;
    }
    return even;
}

/* A request goes at `slot`: it is on its way until observed, and spends the
 * current window's budget if it falls in it. */
static void spend(bucket *b, double slot)
{
    b->inflight++;
    if (b->known && slot < b->reset_at && b->remaining >= 1)
        b->remaining -= 1;
}

/* The next slot on the schedule (after a pause, a spent window, and every
 * slot already handed out). */
static double next_free_slot(bucket *b, double now)
{
    double slot = earliest_start(b, now);
    return b->next_slot > slot ? b->next_slot : slot;
}

/* The window's length. A reset only bounds it from below (an answer comes
 * some way into its window), but when an answer opens the next window, the
 * distance between the two windows' ends is the length itself, provided it
 * is under twice the bound (else windows were skipped). Misjudged short, the
 * even pace would overrun every window and wait at each reset. */
static void learn_window(bucket *b, double reset_at, double reset_s)
{
    if (reset_s > b->reset_max)
        b->reset_max = reset_s;
    double apart = reset_at - b->told_reset_at;
    if (b->told_reset_at > 0 && apart >= b->reset_max - RATE_LIMIT_SAME_WINDOW_S && apart < 2 * b->reset_max)
        b->window_s = apart;
    else if (b->reset_max > b->window_s)
        b->window_s = b->reset_max;
}

/* Close's view of the window replaces ours. In the window we are already
 * counting in, the smaller of the two budgets holds: ours has every request
 * we sent taken off, Close's may lack those still on their way, and answers
 * can arrive out of order. For a window we had not rolled into yet, Close's
 * figure less everything on its way (some of it may already be counted:
 * the safe side, for the few requests before the next answer). */
static void absorb(bucket *b, double now, const rate_limit_info *info)
{
    double reset_at = now + info->reset_s;
    roll_window(b, now);
    double remaining;
    if (b->known && fabs(reset_at - b->reset_at) < RATE_LIMIT_SAME_WINDOW_S)
        remaining = info->remaining < b->remaining ? info->remaining : b->remaining;
    else
        remaining = info->remaining - b->inflight > 0 ? info->remaining - b->inflight : 0;
    learn_window(b, reset_at, info->reset_s);
    b->told_reset_at = reset_at;
    b->known = 1;
    b->remaining = remaining;
    b->reset_at = reset_at;
    if (info->limit >= 0)
        b->limit = info->limit;
}

/* A 429: nothing more for this group until Close's wait has passed. */
static void pause_bucket(bucket *b, double now, const rate_limit_info *info, double retry_after_s)
{
    double p = retry_after_s;
    if (p <= 0)
        p = info != NULL && info->present && info->reset_s > 0 ? info->reset_s : RATE_LIMIT_DEFAULT_PAUSE_S;
    if (p > RATE_LIMIT_MAX_S)
        p = RATE_LIMIT_MAX_S;
    if (now + p > b->paused_until)
        b->paused_until = now + p;
}

/* The value closehook_credential_pause_seconds should show for cred: the
 * longest pause left over its groups; -1 when it already shows 0 and still
 * should. Called locked; the caller publishes after unlocking. */
static double pause_to_publish(rate_limit *rl, const char *cred, double now)
{
    double left = 0;
    int shown = 0;
    for (bucket *b = rl->buckets; b != NULL; b = b->next) {
        if (strcmp(b->cred, cred) != 0)
            continue;
        if (b->paused_until - now > left)
            left = b->paused_until - now;
        shown |= b->pause_published;
    }
    if (left <= 0 && !shown)
        return -1;
    for (bucket *b = rl->buckets; b != NULL; b = b->next)
        if (strcmp(b->cred, cred) == 0)
            b->pause_published = left > 0;
    return left;
}

static void publish_pause(const char *cred, double value)
{
    if (value >= 0)
        metrics_set("closehook_credential_pause_seconds", value, METRIC_LABELS(cred));
}

/* One decision on one credential's bucket, made under the lock: the wait it
 * answers; limit is the caller's max (or min) wait. */
typedef double (*bucket_step)(bucket *b, double now, double limit);

/* Runs step on the bucket of cred and g. Without memory for a bucket the
 * answer is 0: the request goes, and Close's 429 remains the guard. publish:
 * the pause gauge is brought up to date too. */
static double on_bucket(rate_limit *rl, const char *cred, rate_limit_group g, double now, double limit,
                        bucket_step step, int publish)
{
    pthread_mutex_lock(&rl->lock);
    bucket *b = find_bucket(rl, cred, g, 1);
    double wait = b != NULL ? step(b, now, limit) : 0;
    double shown = publish ? pause_to_publish(rl, cred, now) : 0;
    pthread_mutex_unlock(&rl->lock);
    if (publish)
        publish_pause(cred, shown);
    return wait;
}

static double acquire_step(bucket *b, double now, double max_wait_s)
{
    double slot = next_free_slot(b, now);
    double wait = slot - now;
    if (wait <= max_wait_s) {
        double gap = interval_after(b, slot);
        spend(b, slot);
        b->next_slot = slot + gap;
    }
    return wait;
}

double rate_limit_acquire(rate_limit *rl, const char *cred, rate_limit_group g, double now, double max_wait_s)
{
    return on_bucket(rl, cred, g, now, max_wait_s, acquire_step, 1);
}

void rate_limit_observe(rate_limit *rl, const char *cred, rate_limit_group g, double now, long status,
                        const rate_limit_info *info, double retry_after_s)
{
    pthread_mutex_lock(&rl->lock);
    bucket *b = find_bucket(rl, cred, g, 1);
    if (b != NULL) {
        if (b->inflight > 0)
            b->inflight--;
        if (info != NULL && info->present)
            absorb(b, now, info);
        if (status == 429)
            pause_bucket(b, now, info, retry_after_s);
    }
    double shown = pause_to_publish(rl, cred, now);
    pthread_mutex_unlock(&rl->lock);
    if (status == 429)
        metrics_inc("closehook_close_rate_limited_total", METRIC_LABELS(cred));
    publish_pause(cred, shown);
}

static double book_step(bucket *b, double now, double min_wait_s)
{
    double slot = next_free_slot(b, now);
    if (slot - now <= min_wait_s)
        return 0;
    b->next_slot = slot + interval_after(b, slot);
    return slot - now;
}

double rate_limit_book(rate_limit *rl, const char *cred, rate_limit_group g, double now, double min_wait_s)
{
    return on_bucket(rl, cred, g, now, min_wait_s, book_step, 0);
}

static double redeem_step(bucket *b, double now, double max_wait_s)
{
    double slot = earliest_start(b, now);
    double wait = slot - now;
    if (wait <= max_wait_s)
        spend(b, slot);
    return wait;
}

double rate_limit_redeem(rate_limit *rl, const char *cred, rate_limit_group g, double now, double max_wait_s)
{
    return on_bucket(rl, cred, g, now, max_wait_s, redeem_step, 1);
}

double rate_limit_wait(rate_limit *rl, const char *cred, rate_limit_group g, double now)
{
    pthread_mutex_lock(&rl->lock);
    bucket *b = find_bucket(rl, cred, g, 0);
    double wait = b != NULL ? earliest_start(b, now) - now : 0;
    pthread_mutex_unlock(&rl->lock);
    return wait;
}
