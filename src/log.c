/* log: structured JSON lines on stderr. Operators feed these to a collector,
 * so every line is one complete JSON object written with a single write(2),
 * and no registered secret can appear in one. */
#include "log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

#define LOG_MAX_SECRETS 64
/* Shorter values would redact ordinary words and numbers from every line. */
#define LOG_MIN_SECRET_LEN 4

/* Flood control for warnings: each distinct message (by its text's address,
 * a literal at its call site) writes at most LOG_WARN_BURST lines a second;
 * the rest are counted and reported by the first line of the next second
 * ("suppressed": N). 45k unsigned requests a second once wrote 365k lines in
 * 8 s; metrics still count every event, logs only need to show it happens. */
#define LOG_WARN_BURST 20
#define LOG_FLOOD_SLOTS 64

typedef struct flood_slot {
    const char *msg;
    time_t second;
    long written, suppressed;
} flood_slot;

static pthread_mutex_t flood_lock = PTHREAD_MUTEX_INITIALIZER;
static flood_slot flood[LOG_FLOOD_SLOTS];

static log_level min_level = LOG_INFO;
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_MAX_SECRETS];
static size_t nsecrets;

void log_set_level(log_level min)
{
    min_level = min;
}

void log_register_secret(const char *secret)
{
    if (secret == NULL || strlen(secret) < LOG_MIN_SECRET_LEN)
        return;
    pthread_mutex_lock(&secrets_lock);
    int known = 0; /* a reload registers the same secrets again */
    for (size_t i = 0; i < nsecrets && !known; i++)
        known = strcmp(secrets[i], secret) == 0;
    if (!known && nsecrets < LOG_MAX_SECRETS)
        secrets[nsecrets++] = strdup(secret);
    pthread_mutex_unlock(&secrets_lock);
}

void log_forget_secrets(void)
{
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    nsecrets = 0;
    pthread_mutex_unlock(&secrets_lock);
}

void log_forget_secret(const char *secret)
{
    if (secret == NULL)
        return;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets;) {
        if (strcmp(secrets[i], secret) == 0) {
            free(secrets[i]);
            secrets[i] = secrets[--nsecrets];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
}

/* Returns a malloc'ed copy of s with every registered secret replaced, or NULL
 * when s holds none (the common case costs one strstr per secret). */
static char *redact(const char *s)
{
    char *out = NULL;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        const char *cur = out ? out : s;
        if (strstr(cur, secrets[i]) == NULL)
            continue;
        size_t slen = strlen(secrets[i]), clen = strlen(cur);
        char *next = malloc(clen + 16 * (clen / slen + 1) + 1);
        if (next == NULL)
            break;
        char *w = next;
        for (const char *p = cur;;) {
            const char *hit = strstr(p, secrets[i]);
            if (hit == NULL) {
                strcpy(w, p);
                break;
            }
            memcpy(w, p, (size_t)(hit - p));
            w += hit - p;
            memcpy(w, "[redacted]", 10);
            w += 10;
            p = hit + slen;
        }
        free(out);
        out = next;
    }
    pthread_mutex_unlock(&secrets_lock);
    return out;
}

static void gen_field(yajl_gen g, const char *value)
{
    if (value == NULL) {
        yajl_gen_null(g);
        return;
    }
    char *clean = redact(value);
    json_gen_str(g, clean ? clean : value);
    free(clean);
}

/* One key/value pair; the key's tag (log.h's LOG_INT, LOG_BOOL, LOG_DOUBLE) says which
 * type the value was passed as. */
static void gen_typed_field(yajl_gen g, const char *key, va_list *ap)
{
    if (key[0] == '\x01') {
        json_gen_str(g, key + 1);
        yajl_gen_integer(g, va_arg(*ap, long long));
    } else if (key[0] == '\x02') {
        json_gen_str(g, key + 1);
        yajl_gen_bool(g, va_arg(*ap, int));
    } else if (key[0] == '\x03') {
        json_gen_str(g, key + 1);
        double v = va_arg(*ap, double);
        char num[64];
        int n = isfinite(v) ? snprintf(num, sizeof(num), "%.3f", v) : -1;
        if (n > 0 && (size_t)n < sizeof(num))
            yajl_gen_number(g, num, (size_t)n);
        else
            yajl_gen_null(g);
    } else {
        json_gen_str(g, key);
        gen_field(g, va_arg(*ap, const char *));
    }
}

/* 1 when this warning may be written now; *suppressed is then the count of
 * its lines dropped in the last second it flooded (0 usually). */
static int flood_allows(const char *msg, time_t now, long *suppressed)
{
    *suppressed = 0;
    pthread_mutex_lock(&flood_lock);
    flood_slot *slot = &flood[((uintptr_t)msg >> 3) % LOG_FLOOD_SLOTS];
    if (slot->msg != msg) { /* a new message takes the slot; its old count is lost */
        slot->msg = msg;
        slot->second = now;
        slot->written = slot->suppressed = 0;
    }
    if (slot->second != now) {
        *suppressed = slot->suppressed;
        slot->second = now;
        slot->written = slot->suppressed = 0;
    }
    int allowed = slot->written < LOG_WARN_BURST;
    if (allowed)
        slot->written++;
    else
        slot->suppressed++;
    pthread_mutex_unlock(&flood_lock);
    return allowed;
}

void log_write(log_level level, const char *msg, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    long suppressed = 0;
    if (level == LOG_WARN && !flood_allows(msg, tv.tv_sec, &suppressed))
        return;
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    yajl_gen g = json_gen_new();
    if (g == NULL)
        return;
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "time", when);
    json_gen_kv_str(g, "level", names[level]);
    json_gen_str(g, "msg");
    gen_field(g, msg);
    va_list ap;
    va_start(ap, msg);
    for (const char *key = va_arg(ap, const char *); key != NULL; key = va_arg(ap, const char *))
        gen_typed_field(g, key, &ap);
    va_end(ap);
    if (suppressed > 0)
        json_gen_kv_int(g, "suppressed", suppressed);
    yajl_gen_map_close(g);

    size_t len;
    char *line = json_gen_take(g, &len);
    yajl_gen_free(g);
    if (line == NULL)
        return;
    line[len] = '\n'; /* json_gen_take left room: the NUL becomes the newline */
    ssize_t ignored = write(STDERR_FILENO, line, len + 1);
    (void)ignored;
    free(line);
}
