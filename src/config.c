/* config: turns closehook.json into a validated, read-only struct before any
 * socket opens, so a typo or an unresolvable secret stops the daemon at start
 * with every problem listed at once, instead of surfacing as a 401 or a lost
 * webhook hours later. Routes hand their own keys to their source and their
 * rules to mapping; this file owns everything else. */
#include "config.h"
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "secret.h"

/* Config files are hand-written and a few KiB; a MiB bounds what a mistaken
 * path (a log file, a database) would make us read. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 8080
#define DEFAULT_STORE_PATH "closehook.db"
#define DEFAULT_BASE_URL "https://api.close.com"
/* Close answers a PUT in well under a second; 10 s rides out a slow moment
 * without letting a hung connection hold a worker for long. */
#define DEFAULT_CLOSE_TIMEOUT_MS 10000
#define MAX_CLOSE_TIMEOUT_MS 600000
/* Sender bodies are a few KiB (a Zoom summary is the largest we know, ~20 KiB);
 * 1 MiB leaves room, 64 MiB is where a body limit stops protecting memory. */
#define DEFAULT_BODY_LIMIT (1024 * 1024)
#define MAX_BODY_LIMIT (64L * 1024 * 1024)
/* One event loop per core is h2o's model; beyond 256 threads only contention grows. */
#define MAX_THREADS 256
/* Delivery is network-bound and Close rate-limits per key; two workers keep a
 * pipe full, 64 is far past anything the rate limits would let through. */
#define DEFAULT_DELIVERY_WORKERS 2
#define MAX_DELIVERY_WORKERS 64
/* Backoff starts at 1 s and caps at 5 min; an update older than 72 h (a long
 * weekend of Close trouble) goes to the dead letters instead. */
#define DEFAULT_RETRY_INITIAL_MS 1000
#define DEFAULT_RETRY_MAX_MS 300000
#define MAX_RETRY_MS (24L * 3600 * 1000)
#define DEFAULT_MAX_AGE_S (72L * 3600)
#define MAX_MAX_AGE_S (30L * 24 * 3600)
/* A calendar meeting and its Zoom call rarely start more than two hours apart
 * (early joins, late starts); a day is the widest window that still matches
 * one meeting rather than a day's worth. */
#define DEFAULT_RESOLVE_WINDOW_S 7200
#define MAX_RESOLVE_WINDOW_S 86400
/* The attendee rule has only people and a time to go on, so its window is
 * tight: calendar invites start on the minute, and people join a call at most
 * a quarter hour early or late; the same people meeting twice within that is
 * rare, and would be ambiguous (a dead letter), never a guess. */
#define DEFAULT_RESOLVE_ATTENDEE_WINDOW_S 900
/* A meeting's webhooks arrive within hours (joins, ended, recording, summary
 * up to a few hours later), so a day covers them all, while a stale entry (a
 * meeting deleted and re-synced in Close) lives at most a day; a 404 on PUT
 * drops it sooner. Occurrences of a recurring meeting have their own keys. */
#define DEFAULT_RESOLVE_CACHE_TTL_S 86400
#define MAX_RESOLVE_CACHE_TTL_S (30L * 24 * 3600)

/* SIGTERM: /readyz answers 503 at once; webhooks are still served for this
 * long so a load balancer checking every second or two moves traffic away
 * before the listener closes. */
#define DEFAULT_DRAIN_DELAY_MS 2000
#define MAX_DRAIN_DELAY_MS 120000
/* Backpressure: past this many undelivered rows the node answers 503 with
 * Retry-After rather than keep what it may never deliver in time (a day of a
 * busy team's webhooks is a few thousand; a million means Close is gone). */
#define DEFAULT_MAX_PENDING 1000000
#define MAX_MAX_PENDING 1000000000L
/* 0: no cap on the store's size; else SQLite refuses writes past it (FULL),
 * the webhook gets 503, and nothing is half-written. */
#define MAX_STORE_SIZE_MB (1024L * 1024)
/* Delivered rows are the dedup memory: they must outlive every sender's
 * retries (Zoom ~1.5 h, Graph 4 h, Calendly 24 h), so 72 h by default. */
#define DEFAULT_DONE_RETENTION_S (72L * 3600)
#define MAX_DONE_RETENTION_S (365L * 24 * 3600)

const number_setting config_numbers[] = {
    {"shutdown", "drain_delay_ms", NUM_LONG, offsetof(config, shutdown.drain_delay_ms), 0, MAX_DRAIN_DELAY_MS,
     DEFAULT_DRAIN_DELAY_MS},
    {"store", "max_pending", NUM_LONG, offsetof(config, store.max_pending), 1, MAX_MAX_PENDING,
     DEFAULT_MAX_PENDING},
    {"store", "max_size_mb", NUM_LONG, offsetof(config, store.max_size_mb), 0, MAX_STORE_SIZE_MB, 0},
    {"store", "done_retention_s", NUM_LONG, offsetof(config, store.done_retention_s), 0, MAX_DONE_RETENTION_S,
     DEFAULT_DONE_RETENTION_S},
    {NULL, "threads", NUM_INT, offsetof(config, threads), 0, MAX_THREADS, 0},
    {NULL, "body_limit", NUM_SIZE, offsetof(config, body_limit), 1, MAX_BODY_LIMIT, DEFAULT_BODY_LIMIT},
    {"close", "timeout_ms", NUM_LONG, offsetof(config, close.timeout_ms), 1, MAX_CLOSE_TIMEOUT_MS,
     DEFAULT_CLOSE_TIMEOUT_MS},
    {"delivery", "workers", NUM_INT, offsetof(config, delivery.workers), 1, MAX_DELIVERY_WORKERS,
     DEFAULT_DELIVERY_WORKERS},
    {"delivery", "retry_initial_ms", NUM_LONG, offsetof(config, delivery.retry_initial_ms), 1, MAX_RETRY_MS,
     DEFAULT_RETRY_INITIAL_MS},
    {"delivery", "retry_max_ms", NUM_LONG, offsetof(config, delivery.retry_max_ms), 1, MAX_RETRY_MS,
     DEFAULT_RETRY_MAX_MS},
    {"delivery", "max_age_s", NUM_LONG, offsetof(config, delivery.max_age_s), 1, MAX_MAX_AGE_S,
     DEFAULT_MAX_AGE_S},
    {"delivery", "per_credential", NUM_INT, offsetof(config, delivery.per_credential), 0,
     MAX_DELIVERY_WORKERS, 0},
    {"resolve", "window_s", NUM_LONG, offsetof(config, resolve.window_s), 1, MAX_RESOLVE_WINDOW_S,
     DEFAULT_RESOLVE_WINDOW_S},
    {"resolve", "attendee_window_s", NUM_LONG, offsetof(config, resolve.attendee_window_s), 1,
     MAX_RESOLVE_WINDOW_S, DEFAULT_RESOLVE_ATTENDEE_WINDOW_S},
    {"resolve", "cache_ttl_s", NUM_LONG, offsetof(config, resolve.cache_ttl_s), 1, MAX_RESOLVE_CACHE_TTL_S,
     DEFAULT_RESOLVE_CACHE_TTL_S},
};
const size_t config_nnumbers = sizeof(config_numbers) / sizeof(config_numbers[0]);

static const char *const top_keys[] = {"listen",   "threads", "body_limit",      "store",  "close",
                                       "delivery", "resolve", "credentials",     "routes", "log",
                                       "shutdown", "admin",   "trusted_proxies", NULL};
static const char *const log_keys[] = {"access", "level", NULL};
static const char *const listen_keys[] = {"host", "port", "tls", NULL};
static const char *const tls_keys[] = {"cert", "key", NULL};
static const char *const store_keys[] = {"path", "max_pending", "max_size_mb", "done_retention_s", NULL};
static const char *const shutdown_keys[] = {"drain_delay_ms", NULL};
static const char *const admin_keys[] = {"listen", "token", NULL};
static const char *const close_keys[] = {"base_url", "timeout_ms", NULL};
static const char *const delivery_keys[] = {"workers",   "retry_initial_ms", "retry_max_ms",
                                            "max_age_s", "per_credential",   NULL};
static const char *const resolve_keys[] = {"window_s", "attendee_window_s", "cache_ttl_s", NULL};

/* ---- reporting ---- */

/* Appends a finished line; once the buffer is full the rest still counts as
 * errors, so a long list truncates but never loads. */
void loader_add_line(loader *ld, const char *line)
{
    ld->nerrors++;
    if (ld->err == NULL || ld->errlen == 0 || ld->used + 1 >= ld->errlen)
        return;
    int n = snprintf(ld->err + ld->used, ld->errlen - ld->used, "%s%s", ld->used ? "\n" : "", line);
    if (n < 0)
        return;
    size_t room = ld->errlen - ld->used - 1;
    ld->used += (size_t)n < room ? (size_t)n : room;
}

/* Reports "FILE: WHERE.KEY: PROBLEM"; where and key may each be NULL or "". */
void loader_fail(loader *ld, const char *where, const char *key, const char *fmt, ...)
{
    char problem[CONFIG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    int has_where = where != NULL && where[0] != '\0', has_key = key != NULL && key[0] != '\0';
    char line[CONFIG_LINE_MAX];
    snprintf(line, sizeof(line), "%s: %s%s%s%s%s", ld->file, has_where ? where : "",
             has_where && has_key ? "." : "", has_key ? key : "", has_where || has_key ? ": " : "", problem);
    loader_add_line(ld, line);
}

char *loader_xstrdup(loader *ld, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        loader_fail(ld, NULL, NULL, "out of memory");
    return copy;
}

/* ---- typed access ---- */

/* Typo protection: a misspelt optional key would otherwise silently fall back
 * to its default. */
void loader_check_keys(loader *ld, yajl_val obj, const char *where, const char *const *allowed)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *key = obj->u.object.keys[i];
        size_t k = 0;
        while (allowed[k] != NULL && strcmp(allowed[k], key) != 0)
            k++;
        if (allowed[k] == NULL)
            loader_fail(ld, where, key, "unknown key");
    }
}

/* The string at obj.key, or NULL when absent (reported when required) or of
 * another type (always reported). */
const char *loader_get_string(loader *ld, yajl_val obj, const char *where, const char *key, int required)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL || !YAJL_IS_STRING(v)) {
        if (v != NULL || required)
            loader_fail(ld, where, key, v ? "must be a string" : "required");
        return NULL;
    }
    return v->u.string;
}

/* Replaces *out (a default) with obj.key when present and a non-empty string. */
void loader_set_string(loader *ld, yajl_val obj, const char *where, const char *key, char **out)
{
    const char *s = loader_get_string(ld, obj, where, key, 0);
    if (s == NULL)
        return;
    if (s[0] == '\0') {
        loader_fail(ld, where, key, "must not be empty");
        return;
    }
    char *copy = loader_xstrdup(ld, s);
    if (copy != NULL) {
        free(*out);
        *out = copy;
    }
}

/* Leaves *out (a default) alone when obj.key is absent. */
static void set_long(loader *ld, yajl_val obj, const char *where, const char *key, long min, long max,
                     long *out)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL)
        return;
    if (!YAJL_IS_INTEGER(v) || v->u.number.i < min || v->u.number.i > max) {
        loader_fail(ld, where, key, "must be an integer %ld..%ld", min, max);
        return;
    }
    *out = (long)v->u.number.i;
}

/* A fixed-shape object section (store, close, …), or NULL when absent or not
 * an object (reported). */
static yajl_val get_section(loader *ld, yajl_val root, const char *key, const char *const *allowed)
{
    yajl_val v = json_member(root, key);
    if (v == NULL)
        return NULL;
    if (!YAJL_IS_OBJECT(v)) {
        loader_fail(ld, NULL, key, "must be an object");
        return NULL;
    }
    loader_check_keys(ld, v, key, allowed);
    return v;
}

int loader_valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > CONFIG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* Resolves where.key's reference and registers the secret with the log. A
 * malformed reference is reported here; an absent one is the caller's call
 * (*absent set, the reason in why). */
char *loader_resolve_reference(loader *ld, const char *ref, const char *where, const char *key, int *absent,
                               char *why, size_t whylen)
{
    *absent = 0;
    if ((ld->flags & CONFIG_LOAD_NO_SECRETS) && ld->only_route == NULL)
        return NULL;
    char *secret = secret_resolve(ref, absent, why, whylen);
    if (secret != NULL)
        log_register_secret(secret);
    else if (!*absent)
        loader_fail(ld, where, key, "%s", why);
    return secret;
}

/* ---- settings ---- */

static void number_store(config *cfg, const number_setting *n, long v)
{
    char *field = (char *)cfg + n->offset;
    if (n->type == NUM_INT)
        *(int *)field = (int)v;
    else if (n->type == NUM_LONG)
        *(long *)field = v;
    else
        *(size_t *)field = (size_t)v;
}

long config_number_fetch(const config *cfg, const number_setting *n)
{
    const char *field = (const char *)cfg + n->offset;
    if (n->type == NUM_INT)
        return *(const int *)field;
    if (n->type == NUM_LONG)
        return *(const long *)field;
    return (long)*(const size_t *)field;
}

/* Sections of the wrong type were reported by get_section; their numbers keep
 * their defaults (json_member of a non-object is NULL). */
static void load_numbers(loader *ld, config *cfg, yajl_val root)
{
    for (size_t i = 0; i < config_nnumbers; i++) {
        const number_setting *n = &config_numbers[i];
        long v = n->dflt;
        set_long(ld, n->section ? json_member(root, n->section) : root, n->section, n->key, n->min, n->max,
                 &v);
        number_store(cfg, n, v);
    }
    if (cfg->threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    }
    if (cfg->delivery.retry_max_ms < cfg->delivery.retry_initial_ms)
        loader_fail(ld, "delivery", "retry_max_ms", "must be at least delivery.retry_initial_ms (%ld)",
                    cfg->delivery.retry_initial_ms);
}

static void load_listener(loader *ld, yajl_val obj, const char *where, config_listener *l)
{
    l->host = loader_xstrdup(ld, DEFAULT_HOST);
    l->port = DEFAULT_PORT;
    if (obj == NULL) /* no "listen" at all: the default listener */
        return;
    if (!YAJL_IS_OBJECT(obj)) {
        loader_fail(ld, where, NULL, "must be an object {\"host\", \"port\"}");
        return;
    }
    loader_check_keys(ld, obj, where, listen_keys);
    loader_set_string(ld, obj, where, "host", &l->host);
    long port = DEFAULT_PORT;
    if (json_member(obj, "port") == NULL)
        loader_fail(ld, where, "port", "required");
    set_long(ld, obj, where, "port", 1, 65535, &port);
    l->port = (int)port;
    /* "tls": {"cert": PEM chain file, "key": PEM key file}: checked for being
     * readable here; the server loads them (and again on SIGHUP). */
    yajl_val tls = json_member(obj, "tls");
    if (tls == NULL)
        return;
    char at[64];
    snprintf(at, sizeof(at), "%s.tls", where);
    if (!YAJL_IS_OBJECT(tls)) {
        loader_fail(ld, at, NULL, "must be an object {\"cert\", \"key\"}");
        return;
    }
    loader_check_keys(ld, tls, at, tls_keys);
    const char *cert = loader_get_string(ld, tls, at, "cert", 1),
               *key = loader_get_string(ld, tls, at, "key", 1);
    if (cert != NULL && access(cert, R_OK) != 0)
        loader_fail(ld, at, "cert", "cannot read %s: %s", cert, strerror(errno));
    if (key != NULL && access(key, R_OK) != 0)
        loader_fail(ld, at, "key", "cannot read %s: %s", key, strerror(errno));
    if (cert != NULL && key != NULL) {
        l->tls_cert = loader_xstrdup(ld, cert);
        l->tls_key = loader_xstrdup(ld, key);
    }
}

static void load_listen(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "listen");
    if (v != NULL && (!YAJL_IS_ARRAY(v) || v->u.array.len == 0)) {
        loader_fail(ld, NULL, "listen", "must be a non-empty array of {\"host\", \"port\"}");
        return;
    }
    size_t n = v ? v->u.array.len : 1;
    cfg->listeners = calloc(n, sizeof(*cfg->listeners));
    if (cfg->listeners == NULL) {
        loader_fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->nlisteners = n;
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "listen[%zu]", i);
        load_listener(ld, v ? v->u.array.values[i] : NULL, where, &cfg->listeners[i]);
    }
}

void loader_check_url(loader *ld, const char *where, const char *key, const char *url)
{
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    if (scheme == 0 || url[scheme] == '\0' || url[scheme] == '/')
        loader_fail(ld, where, key, "must start with http:// or https:// and name a host");
}

/* 1 when the authority's host (port and brackets aside) is loopback. */
static int host_is_loopback(const char *authority, size_t len)
{
    static const char *const loopback[] = {"127.0.0.1", "localhost", "[::1]", NULL};
    for (const char *const *h = loopback; *h; h++) {
        size_t n = strlen(*h);
        if (len >= n && strncasecmp(authority, *h, n) == 0 && (len == n || authority[n] == ':'))
            return 1;
    }
    return 0;
}

/* The API's origin only: closehook appends /api/v1/… itself, the key travels
 * in the Authorization header (never in the URL), and only over TLS unless
 * the host is this machine (the tests' fake, a local proxy). */
static void check_base_url(loader *ld, char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    loader_check_url(ld, "close", "base_url", url);
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return;
    const char *authority = sep + 3;
    size_t alen = strcspn(authority, "/?#");
    if (memchr(authority, '@', alen) != NULL)
        loader_fail(ld, "close", "base_url", "must not hold user-info; credentials go in \"credentials\"");
    if (authority[alen] != '\0')
        loader_fail(ld, "close", "base_url",
                    "must be the API's origin without a path (closehook adds /api/v1/...), e.g. "
                    "https://api.close.com");
    if (strncmp(url, "http://", 7) == 0 && !host_is_loopback(authority, alen))
        loader_fail(
            ld, "close", "base_url",
            "http:// would send the API key in clear; use https:// (plain http only to a loopback host)");
}

/* Everything but credentials and routes, each with its default. */
/* "log": {"access": true, "level": "info"}: the access log is on by default
 * because operators expect one line per request; busy nodes may turn it off. */
static void load_log(loader *ld, config *cfg, yajl_val root)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    cfg->log.access = 1;
    cfg->log.level = LOG_INFO;
    yajl_val section = get_section(ld, root, "log", log_keys);
    yajl_val access = json_member(section, "access");
    if (access != NULL && !YAJL_IS_TRUE(access) && !YAJL_IS_FALSE(access))
        loader_fail(ld, "log", "access", "must be true or false");
    else if (access != NULL)
        cfg->log.access = YAJL_IS_TRUE(access);
    yajl_val level = json_member(section, "level");
    if (level == NULL)
        return;
    for (int i = 0; levels[i] != NULL; i++) {
        if (YAJL_IS_STRING(level) && strcmp(level->u.string, levels[i]) == 0) {
            cfg->log.level = (log_level)i;
            return;
        }
    }
    loader_fail(ld, "log", "level", "must be \"debug\", \"info\", \"warn\" or \"error\"");
}

/* The admin token guards replay and purge; 16 characters is the least that
 * stays unguessable online (a random alphanumeric one carries ~95 bits). */
#define ADMIN_TOKEN_MIN 16

/* "admin": the dead-letter API (admin.h), off when the section is absent. On,
 * it needs a listener of its own and a token that resolves now: an absent
 * token must not mean an open admin port. */
static void load_admin(loader *ld, config *cfg, yajl_val root)
{
    yajl_val section = get_section(ld, root, "admin", admin_keys);
    if (section == NULL)
        return;
    yajl_val listen = json_member(section, "listen");
    if (listen == NULL)
        loader_fail(ld, "admin", "listen", "required");
    else
        load_listener(ld, listen, "admin.listen", &cfg->admin.listen);
    for (size_t i = 0; listen != NULL && i < cfg->nlisteners; i++)
        if (cfg->listeners[i].port == cfg->admin.listen.port)
            loader_fail(ld, "admin.listen", "port", "%d is a webhook listener's port too",
                        cfg->admin.listen.port);
    const char *ref = loader_get_string(ld, section, "admin", "token", 1);
    if (ref == NULL || (cfg->admin.token_ref = loader_xstrdup(ld, ref)) == NULL)
        return;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    if (ld->flags & CONFIG_LOAD_NO_SECRETS)
        return;
    cfg->admin.token = loader_resolve_reference(ld, ref, "admin", "token", &absent, why, sizeof(why));
    if (absent)
        loader_fail(ld, "admin", "token", "%s", why);
    else if (cfg->admin.token != NULL && strlen(cfg->admin.token) < ADMIN_TOKEN_MIN)
        loader_fail(ld, "admin", "token", "must be at least %d characters", ADMIN_TOKEN_MIN);
}

static void load_settings(loader *ld, config *cfg, yajl_val root)
{
    cfg->store.path = loader_xstrdup(ld, DEFAULT_STORE_PATH);
    cfg->close.base_url = loader_xstrdup(ld, DEFAULT_BASE_URL);
    load_listen(ld, cfg, root);
    get_section(ld, root, "shutdown", shutdown_keys);
    yajl_val store = get_section(ld, root, "store", store_keys);
    loader_set_string(ld, store, "store", "path", &cfg->store.path);
    yajl_val close = get_section(ld, root, "close", close_keys);
    loader_set_string(ld, close, "close", "base_url", &cfg->close.base_url);
    if (cfg->close.base_url != NULL)
        check_base_url(ld, cfg->close.base_url);
    get_section(ld, root, "delivery", delivery_keys);
    get_section(ld, root, "resolve", resolve_keys);
    load_numbers(ld, cfg, root);
    load_log(ld, cfg, root);
    load_admin(ld, cfg, root);
}

/* ---- load / free ---- */

/* The parsed tree, and in *text (the caller frees it) the file it came from. */
static yajl_val parse_config_file(loader *ld, char **text, size_t *len)
{
    *len = 0;
    *text = secret_read_file(ld->file, CONFIG_MAX_FILE_BYTES, len);
    if (*text == NULL) {
        loader_fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char why[CONFIG_LINE_MAX / 2];
    yajl_val root = json_parse(*text, *len, why, sizeof(why));
    if (root == NULL) {
        loader_fail(ld, NULL, NULL, "%s", why);
    } else if (!YAJL_IS_OBJECT(root)) {
        loader_fail(ld, NULL, NULL, "top level must be a JSON object");
        yajl_tree_free(root);
        root = NULL;
    } else if (json_find_duplicate_key(root, why, sizeof(why))) {
        /* yajl keeps both and every reader takes the first: the operator's
         * later (usually intended) value would be ignored without a word. */
        loader_fail(ld, why, NULL, "given more than once");
        yajl_tree_free(root);
        root = NULL;
    }
    return root;
}

config *config_load(const char *path, char *err, size_t errlen)
{
    return config_load_mode(path, 0, NULL, err, errlen);
}

config *config_load_mode(const char *path, unsigned flags, const char *only_route, char *err, size_t errlen)
{
    loader ld = {.file = path, .err = err, .errlen = errlen, .flags = flags, .only_route = only_route};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    char *text;
    size_t len;
    yajl_val root = parse_config_file(&ld, &text, &len);
    config *cfg = root ? calloc(1, sizeof(*cfg)) : NULL;
    if (cfg == NULL) {
        if (root != NULL)
            loader_fail(&ld, NULL, NULL, "out of memory");
        yajl_tree_free(root);
        free(text);
        return NULL;
    }
    cfg->path = loader_xstrdup(&ld, path);
    config_check_placeholders(&ld, cfg, root, text, len);
    free(text);
    loader_check_keys(&ld, root, NULL, top_keys);
    load_settings(&ld, cfg, root);
    config_load_credentials(&ld, cfg, root);
    config_load_cidrs(&ld, root, NULL, "trusted_proxies", &cfg->trusted_proxies);
    config_load_routes(&ld, cfg, root);
    yajl_tree_free(root);
    if (ld.nerrors > 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

void config_free(config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        route *r = &cfg->routes[i];
        if (r->source != NULL && r->source->destroy != NULL)
            r->source->destroy(r->source);
        mapping_free(&r->rules);
        netaddr_list_free(&r->allow_ips);
        free(r->name);
        free(r->source_name);
        free(r->secret_ref);
    }
    free(cfg->routes);
    for (size_t i = 0; i < cfg->ncredentials; i++) {
        credential *c = &cfg->credentials[i];
        free(c->name);
        free(c->secret_ref);
        secret_free(c->secret);
        free(c->oauth.refresh_token_ref);
        secret_free(c->oauth.refresh_token);
        free(c->oauth.client_id);
        free(c->oauth.client_secret_ref);
        secret_free(c->oauth.client_secret);
        free(c->oauth.token_url);
    }
    free(cfg->credentials);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        free(cfg->listeners[i].host);
        free(cfg->listeners[i].tls_cert);
        free(cfg->listeners[i].tls_key);
    }
    free(cfg->listeners);
    netaddr_list_free(&cfg->trusted_proxies);
    free(cfg->store.path);
    free(cfg->close.base_url);
    free(cfg->admin.listen.host);
    free(cfg->admin.token_ref);
    secret_free(cfg->admin.token);
    free(cfg->placeholder_first);
    free(cfg->path);
    free(cfg);
}

const route *config_find_route(const config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const char *n = cfg->routes[i].name;
        if (n != NULL && strlen(n) == len && memcmp(n, name, len) == 0)
            return &cfg->routes[i];
    }
    return NULL;
}

const credential *config_find_credential(const config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ncredentials; i++)
        if (cfg->credentials[i].name != NULL && strcmp(cfg->credentials[i].name, name) == 0)
            return &cfg->credentials[i];
    return NULL;
}
