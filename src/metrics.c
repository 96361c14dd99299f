/* metrics: the one place closehook's operational numbers live, so /metrics is
 * a render of this table and no module formats exposition text itself. */
#include "metrics.h"

#include "grow.h"
#include "log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 4
#define MAX_BUCKETS 20

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

typedef struct family {
    const char *name;
    metric_type type;
    const char *help;
    const char *labels[MAX_LABELS + 1]; /* NULL-terminated label names */
    const double *buckets;              /* histograms: upper bounds, ascending */
    size_t nbuckets;
} family;

/* A Close request takes tens of milliseconds; timeouts are seconds. */
static const double request_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
/* Accept-to-delivered spans retries and Close's calendar-sync lag: up to days. */
static const double end_to_end_buckets[] = {0.01, 0.05, 0.1, 0.5,  1,    5,     10,
                                            30,   60,   300, 1800, 3600, 21600, 86400};

#define BUCKETS(b) b, sizeof(b) / sizeof(b[0])

static const family families[] = {
    {"closehook_build_info", METRIC_GAUGE, "Build information; the value is always 1.", {"version"}, NULL, 0},
    {"closehook_http_requests_total",
     METRIC_COUNTER,
     "HTTP requests answered, by route, source and status.",
     {"route", "source", "status"},
     NULL,
     0},
    {"closehook_verification_failures_total",
     METRIC_COUNTER,
     "Webhooks refused as unauthentic, by route and reason.",
     {"route", "reason"},
     NULL,
     0},
    {"closehook_webhooks_total",
     METRIC_COUNTER,
     "Verified webhooks by route and result (queued, duplicate, ignored).",
     {"route", "result"},
     NULL,
     0},
    {"closehook_queue_rows", METRIC_GAUGE, "Rows in the durable queue, by state.", {"state"}, NULL, 0},
    {"closehook_deliveries_total",
     METRIC_COUNTER,
     "Delivery attempts by route, outcome (done, retry, dead, dry_run) and Close's HTTP status (0: no "
     "answer).",
     {"route", "outcome", "close_status"},
     NULL,
     0},
    {"closehook_dead_letters_total", METRIC_COUNTER, "Updates dead-lettered, by route.", {"route"}, NULL, 0},
    {"closehook_close_request_duration_seconds",
     METRIC_HISTOGRAM,
     "Duration of requests to the Close API, by kind (put, list, get, search, token).",
     {"kind"},
     BUCKETS(request_buckets)},
    {"closehook_end_to_end_seconds",
     METRIC_HISTOGRAM,
     "Time from a webhook's acceptance to its successful delivery, by route.",
     {"route"},
     BUCKETS(end_to_end_buckets)},
    {"closehook_close_rate_limited_total",
     METRIC_COUNTER,
     "429 answers from Close, by credential.",
     {"credential"},
     NULL,
     0},
    {"closehook_accept_backoffs_total",
     METRIC_COUNTER,
     "Accepts that failed for want of file descriptors or memory, each followed by a 100 ms pause of that "
     "listener, by listener (webhook, admin) and reason (emfile, enfile, enobufs, enomem).",
     {"listener", "reason"},
     NULL,
     0},
    {"closehook_credential_pause_seconds",
     METRIC_GAUGE,
     "Seconds a credential is paused for Close's rate limit (0: flowing).",
     {"credential"},
     NULL,
     0},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

typedef struct series {
    char *key; /* label values joined by \x1f */
    char *values[MAX_LABELS];
    double value;             /* counters and gauges; histogram sum */
    unsigned long long count; /* histograms */
    unsigned long long buckets[MAX_BUCKETS];
} series;

typedef struct family_state {
    series *items;
    size_t count, cap;
} family_state;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static family_state states[NFAMILIES];

static int family_index(const char *name)
{
    for (size_t i = 0; i < NFAMILIES; i++)
        if (strcmp(families[i].name, name) == 0)
            return (int)i;
    log_write(LOG_ERROR, "metrics: unknown family (a bug)", "family", name, NULL);
    return -1;
}

/* The series for these label values, created on first use. Called locked. */
static series *find_series(int fi, const char *const *labels)
{
    char key[512] = "";
    size_t used = 0, nlabels = 0;
    while (families[fi].labels[nlabels] != NULL)
        nlabels++;
    for (size_t i = 0; i < nlabels; i++) {
        const char *v = labels && labels[i] ? labels[i] : "";
        int n = snprintf(key + used, sizeof(key) - used, "%s\x1f", v);
        if (n < 0 || (size_t)n >= sizeof(key) - used)
            return NULL;
        used += (size_t)n;
    }
    family_state *st = &states[fi];
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->items[i].key, key) == 0)
            return &st->items[i];
    series *grown = grow_for_one_more(st->items, &st->cap, st->count, sizeof(*grown), 8);
    if (grown == NULL)
        return NULL;
    st->items = grown;
    series *s = &st->items[st->count];
    memset(s, 0, sizeof(*s));
    s->key = strdup(key);
    for (size_t i = 0; i < nlabels; i++)
        s->values[i] = strdup(labels && labels[i] ? labels[i] : "");
    st->count++;
    return s;
}

static void update(const char *name, const char *const *labels, int mode, double v)
{
    int fi = family_index(name);
    if (fi < 0)
        return;
    pthread_mutex_lock(&lock);
    series *s = find_series(fi, labels);
    if (s != NULL) {
        if (mode == 0) {
            s->value += v;
        } else if (mode == 1) {
            s->value = v;
        } else {
            s->value += v;
            s->count++;
            for (size_t b = 0; b < families[fi].nbuckets; b++)
                if (v <= families[fi].buckets[b])
                    s->buckets[b]++;
        }
    }
    pthread_mutex_unlock(&lock);
}

void metrics_add(const char *family, double delta, const char *const *labels)
{
    update(family, labels, 0, delta);
}

void metrics_set(const char *family, double value, const char *const *labels)
{
    update(family, labels, 1, value);
}

void metrics_observe(const char *family, double value, const char *const *labels)
{
    update(family, labels, 2, value);
}

/* ---- rendering ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        /* No arithmetic on a NULL buffer: the first call only measures. */
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *grown = realloc(t->buf, cap);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* Label values escape backslash, double quote and newline (exposition format). */
static void append_label_value(text *t, const char *v)
{
    append(t, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            append(t, "\\\\");
        else if (*p == '"')
            append(t, "\\\"");
        else if (*p == '\n')
            append(t, "\\n");
        else
            append(t, "%c", *p);
    }
    append(t, "\"");
}

/* {a="x",b="y"[,le="0.5"]} or nothing when there are no labels at all. */
static void append_labels(text *t, const family *f, const series *s, const char *le)
{
    if (f->labels[0] == NULL && le == NULL)
        return;
    append(t, "{");
    size_t i = 0;
    for (; f->labels[i] != NULL; i++) {
        append(t, "%s%s=", i ? "," : "", f->labels[i]);
        append_label_value(t, s->values[i]);
    }
    if (le != NULL) {
        append(t, "%sle=", i ? "," : "");
        append_label_value(t, le);
    }
    append(t, "}");
}

static void append_number(text *t, double v)
{
    if (isnan(v))
        append(t, "NaN"); /* the exposition format's spelling, not printf's "nan" */
    else if (isinf(v))
        append(t, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        append(t, "%.0f", v);
    else
        append(t, "%.17g", v);
}

static void render_family(text *t, const family *f, const family_state *st)
{
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    append(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_names[f->type]);
    for (size_t i = 0; i < st->count; i++) {
        const series *s = &st->items[i];
        if (f->type != METRIC_HISTOGRAM) {
            append(t, "%s", f->name);
            append_labels(t, f, s, NULL);
            append(t, " ");
            append_number(t, s->value);
            append(t, "\n");
            continue;
        }
        for (size_t b = 0; b <= f->nbuckets; b++) {
            char le[32];
            if (b < f->nbuckets)
                snprintf(le, sizeof(le), "%g", f->buckets[b]);
            else
                snprintf(le, sizeof(le), "+Inf");
            append(t, "%s_bucket", f->name);
            append_labels(t, f, s, le);
            append(t, " %llu\n", b < f->nbuckets ? s->buckets[b] : s->count);
        }
        append(t, "%s_sum", f->name);
        append_labels(t, f, s, NULL);
        append(t, " ");
        append_number(t, s->value);
        append(t, "\n%s_count", f->name);
        append_labels(t, f, s, NULL);
        append(t, " %llu\n", s->count);
    }
}

char *metrics_render(size_t *len)
{
    text t = {0};
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NFAMILIES; i++)
        render_family(&t, &families[i], &states[i]);
    pthread_mutex_unlock(&lock);
    if (t.failed || t.buf == NULL) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NFAMILIES; i++) {
        for (size_t j = 0; j < states[i].count; j++) {
            free(states[i].items[j].key);
            for (size_t k = 0; k < MAX_LABELS; k++)
                free(states[i].items[j].values[k]);
        }
        free(states[i].items);
        memset(&states[i], 0, sizeof(states[i]));
    }
    pthread_mutex_unlock(&lock);
}
