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
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "secret.h"

/* Config files are hand-written and a few KiB; a MiB bounds what a mistaken
 * path (a log file, a database) would make us read. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
/* A problem line is "FILE: KEY: PROBLEM"; keys and problems are short, the
 * file path gets the rest. */
#define CONFIG_LINE_MAX 1024
#define CONFIG_KEY_MAX 256
/* Route names are URL path segments and credential names land in queue rows
 * and log lines: a short, URL-safe alphabet keeps both unambiguous. */
#define CONFIG_NAME_MAX 64

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

/* Close's token endpoint, under the API's base URL (close-api.md). */
#define DEFAULT_TOKEN_PATH "/oauth2/token/"

/* Collects every problem of one load, one line each, into the caller's buffer. */
typedef struct loader {
    const char *file;
    char *err;
    size_t errlen;
    size_t used;
    int nerrors;
} loader;

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
    {"shutdown", "drain_delay_ms", NUM_LONG, offsetof(config, drain_delay_ms), 0, MAX_DRAIN_DELAY_MS,
     DEFAULT_DRAIN_DELAY_MS},
    {"store", "max_pending", NUM_LONG, offsetof(config, store_max_pending), 1, MAX_MAX_PENDING,
     DEFAULT_MAX_PENDING},
    {"store", "max_size_mb", NUM_LONG, offsetof(config, store_max_size_mb), 0, MAX_STORE_SIZE_MB, 0},
    {"store", "done_retention_s", NUM_LONG, offsetof(config, store_done_retention_s), 0, MAX_DONE_RETENTION_S,
     DEFAULT_DONE_RETENTION_S},
    {NULL, "threads", NUM_INT, offsetof(config, threads), 0, MAX_THREADS, 0},
    {NULL, "body_limit", NUM_SIZE, offsetof(config, body_limit), 1, MAX_BODY_LIMIT, DEFAULT_BODY_LIMIT},
    {"close", "timeout_ms", NUM_LONG, offsetof(config, close_timeout_ms), 1, MAX_CLOSE_TIMEOUT_MS,
     DEFAULT_CLOSE_TIMEOUT_MS},
    {"delivery", "workers", NUM_INT, offsetof(config, delivery_workers), 1, MAX_DELIVERY_WORKERS,
     DEFAULT_DELIVERY_WORKERS},
    {"delivery", "retry_initial_ms", NUM_LONG, offsetof(config, retry_initial_ms), 1, MAX_RETRY_MS,
     DEFAULT_RETRY_INITIAL_MS},
    {"delivery", "retry_max_ms", NUM_LONG, offsetof(config, retry_max_ms), 1, MAX_RETRY_MS,
     DEFAULT_RETRY_MAX_MS},
    {"delivery", "max_age_s", NUM_LONG, offsetof(config, max_age_s), 1, MAX_MAX_AGE_S, DEFAULT_MAX_AGE_S},
    {"resolve", "window_s", NUM_LONG, offsetof(config, resolve_window_s), 1, MAX_RESOLVE_WINDOW_S,
     DEFAULT_RESOLVE_WINDOW_S},
    {"resolve", "attendee_window_s", NUM_LONG, offsetof(config, resolve_attendee_window_s), 1,
     MAX_RESOLVE_WINDOW_S, DEFAULT_RESOLVE_ATTENDEE_WINDOW_S},
    {"resolve", "cache_ttl_s", NUM_LONG, offsetof(config, resolve_cache_ttl_s), 1, MAX_RESOLVE_CACHE_TTL_S,
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
static const char *const delivery_keys[] = {"workers", "retry_initial_ms", "retry_max_ms", "max_age_s", NULL};
static const char *const resolve_keys[] = {"window_s", "attendee_window_s", "cache_ttl_s", NULL};
static const char *const credential_keys[] = {"api_key", "bearer_token", "oauth", NULL};
static const char *const oauth_keys[] = {"access_token",  "refresh_token", "client_id",
                                         "client_secret", "token_url",     NULL};

/* ---- reporting ---- */

/* Appends a finished line; once the buffer is full the rest still counts as
 * errors, so a long list truncates but never loads. */
static void add_line(loader *ld, const char *line)
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
__attribute__((format(printf, 4, 5))) static void fail(loader *ld, const char *where, const char *key,
                                                       const char *fmt, ...)
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
    add_line(ld, line);
}

static char *xstrdup(loader *ld, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        fail(ld, NULL, NULL, "out of memory");
    return copy;
}

/* ---- typed access ---- */

/* Typo protection: a misspelt optional key would otherwise silently fall back
 * to its default. */
static void check_keys(loader *ld, yajl_val obj, const char *where, const char *const *allowed)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *key = obj->u.object.keys[i];
        size_t k = 0;
        while (allowed[k] != NULL && strcmp(allowed[k], key) != 0)
            k++;
        if (allowed[k] == NULL)
            fail(ld, where, key, "unknown key");
    }
}

/* The string at obj.key, or NULL when absent (reported when required) or of
 * another type (always reported). */
static const char *get_string(loader *ld, yajl_val obj, const char *where, const char *key, int required)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL || !YAJL_IS_STRING(v)) {
        if (v != NULL || required)
            fail(ld, where, key, v ? "must be a string" : "required");
        return NULL;
    }
    return v->u.string;
}

/* Replaces *out (a default) with obj.key when present and a non-empty string. */
static void set_string(loader *ld, yajl_val obj, const char *where, const char *key, char **out)
{
    const char *s = get_string(ld, obj, where, key, 0);
    if (s == NULL)
        return;
    if (s[0] == '\0') {
        fail(ld, where, key, "must not be empty");
        return;
    }
    char *copy = xstrdup(ld, s);
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
        fail(ld, where, key, "must be an integer %ld..%ld", min, max);
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
        fail(ld, NULL, key, "must be an object");
        return NULL;
    }
    check_keys(ld, v, key, allowed);
    return v;
}

static int valid_name(const char *s)
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
static char *resolve_reference(loader *ld, const char *ref, const char *where, const char *key, int *absent,
                               char *why, size_t whylen)
{
    char *secret = secret_resolve(ref, absent, why, whylen);
    if (secret != NULL)
        log_register_secret(secret);
    else if (!*absent)
        fail(ld, where, key, "%s", why);
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
    if (cfg->retry_max_ms < cfg->retry_initial_ms)
        fail(ld, "delivery", "retry_max_ms", "must be at least delivery.retry_initial_ms (%ld)",
             cfg->retry_initial_ms);
}

static void load_listener(loader *ld, yajl_val obj, const char *where, config_listener *l)
{
    l->host = xstrdup(ld, DEFAULT_HOST);
    l->port = DEFAULT_PORT;
    if (obj == NULL) /* no "listen" at all: the default listener */
        return;
    if (!YAJL_IS_OBJECT(obj)) {
        fail(ld, where, NULL, "must be an object {\"host\", \"port\"}");
        return;
    }
    check_keys(ld, obj, where, listen_keys);
    set_string(ld, obj, where, "host", &l->host);
    long port = DEFAULT_PORT;
    if (json_member(obj, "port") == NULL)
        fail(ld, where, "port", "required");
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
        fail(ld, at, NULL, "must be an object {\"cert\", \"key\"}");
        return;
    }
    check_keys(ld, tls, at, tls_keys);
    const char *cert = get_string(ld, tls, at, "cert", 1), *key = get_string(ld, tls, at, "key", 1);
    if (cert != NULL && access(cert, R_OK) != 0)
        fail(ld, at, "cert", "cannot read %s: %s", cert, strerror(errno));
    if (key != NULL && access(key, R_OK) != 0)
        fail(ld, at, "key", "cannot read %s: %s", key, strerror(errno));
    if (cert != NULL && key != NULL) {
        l->tls_cert = xstrdup(ld, cert);
        l->tls_key = xstrdup(ld, key);
    }
}

static void load_listen(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "listen");
    if (v != NULL && (!YAJL_IS_ARRAY(v) || v->u.array.len == 0)) {
        fail(ld, NULL, "listen", "must be a non-empty array of {\"host\", \"port\"}");
        return;
    }
    size_t n = v ? v->u.array.len : 1;
    cfg->listeners = calloc(n, sizeof(*cfg->listeners));
    if (cfg->listeners == NULL) {
        fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->nlisteners = n;
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "listen[%zu]", i);
        load_listener(ld, v ? v->u.array.values[i] : NULL, where, &cfg->listeners[i]);
    }
}

static void check_url(loader *ld, const char *where, const char *key, const char *url)
{
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    if (scheme == 0 || url[scheme] == '\0' || url[scheme] == '/')
        fail(ld, where, key, "must start with http:// or https:// and name a host");
}

static void check_base_url(loader *ld, char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    check_url(ld, "close", "base_url", url);
}

/* Everything but credentials and routes, each with its default. */
/* "log": {"access": true, "level": "info"}: the access log is on by default
 * because operators expect one line per request; busy nodes may turn it off. */
static void load_log(loader *ld, config *cfg, yajl_val root)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    cfg->access_log = 1;
    cfg->log_level = LOG_INFO;
    yajl_val section = get_section(ld, root, "log", log_keys);
    yajl_val access = json_member(section, "access");
    if (access != NULL && !YAJL_IS_TRUE(access) && !YAJL_IS_FALSE(access))
        fail(ld, "log", "access", "must be true or false");
    else if (access != NULL)
        cfg->access_log = YAJL_IS_TRUE(access);
    yajl_val level = json_member(section, "level");
    if (level == NULL)
        return;
    for (int i = 0; levels[i] != NULL; i++) {
        if (YAJL_IS_STRING(level) && strcmp(level->u.string, levels[i]) == 0) {
            cfg->log_level = (log_level)i;
            return;
        }
    }
    fail(ld, "log", "level", "must be \"debug\", \"info\", \"warn\" or \"error\"");
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
        fail(ld, "admin", "listen", "required");
    else
        load_listener(ld, listen, "admin.listen", &cfg->admin_listener);
    for (size_t i = 0; listen != NULL && i < cfg->nlisteners; i++)
        if (cfg->listeners[i].port == cfg->admin_listener.port)
            fail(ld, "admin.listen", "port", "%d is a webhook listener's port too", cfg->admin_listener.port);
    const char *ref = get_string(ld, section, "admin", "token", 1);
    if (ref == NULL || (cfg->admin_token_ref = xstrdup(ld, ref)) == NULL)
        return;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    cfg->admin_token = resolve_reference(ld, ref, "admin", "token", &absent, why, sizeof(why));
    if (absent)
        fail(ld, "admin", "token", "%s", why);
    else if (cfg->admin_token != NULL && strlen(cfg->admin_token) < ADMIN_TOKEN_MIN)
        fail(ld, "admin", "token", "must be at least %d characters", ADMIN_TOKEN_MIN);
}

static void load_settings(loader *ld, config *cfg, yajl_val root)
{
    cfg->store_path = xstrdup(ld, DEFAULT_STORE_PATH);
    cfg->close_base_url = xstrdup(ld, DEFAULT_BASE_URL);
    load_listen(ld, cfg, root);
    get_section(ld, root, "shutdown", shutdown_keys);
    yajl_val store = get_section(ld, root, "store", store_keys);
    set_string(ld, store, "store", "path", &cfg->store_path);
    yajl_val close = get_section(ld, root, "close", close_keys);
    set_string(ld, close, "close", "base_url", &cfg->close_base_url);
    if (cfg->close_base_url != NULL)
        check_base_url(ld, cfg->close_base_url);
    get_section(ld, root, "delivery", delivery_keys);
    get_section(ld, root, "resolve", resolve_keys);
    load_numbers(ld, cfg, root);
    load_log(ld, cfg, root);
    load_admin(ld, cfg, root);
}

/* ---- credentials ---- */

/* Resolves where.key into *secret, keeping its reference in *ref. Returns 0
 * when resolved, 1 when absent (allowed: the credential's routes dry-run, so
 * it is logged rather than reported), -1 when malformed (reported). */
static int load_credential_secret(loader *ld, const credential *c, yajl_val obj, const char *where,
                                  const char *key, char **ref, char **secret)
{
    const char *r = get_string(ld, obj, where, key, 1);
    if (r == NULL || (*ref = xstrdup(ld, r)) == NULL)
        return -1;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    *secret = resolve_reference(ld, r, where, key, &absent, why, sizeof(why));
    if (absent)
        log_write(LOG_WARN, "credential absent; routes using it run in dry-run", "credential", c->name, "ref",
                  r, "reason", why, NULL);
    return *secret != NULL ? 0 : absent ? 1 : -1;
}

/* {"oauth": {…}}: three secrets by reference, the client id and the token
 * endpoint in clear. One absent secret makes the whole credential absent: an
 * access token we could not refresh would fail within the hour anyway. */
static void load_oauth(loader *ld, config *cfg, credential *c, yajl_val obj, const char *where)
{
    credential_oauth *o = &c->oauth;
    char at[CONFIG_KEY_MAX + sizeof(".oauth")];
    snprintf(at, sizeof(at), "%s.oauth", where);
    c->kind = CREDENTIAL_OAUTH;
    if (!YAJL_IS_OBJECT(obj)) {
        fail(ld, at, NULL,
             "must be an object {\"access_token\", \"refresh_token\", \"client_id\", \"client_secret\"}");
        return;
    }
    check_keys(ld, obj, at, oauth_keys);
    const char *id = get_string(ld, obj, at, "client_id", 1);
    if (id != NULL && id[0] == '\0')
        fail(ld, at, "client_id", "must not be empty");
    else if (id != NULL)
        o->client_id = xstrdup(ld, id);
    if (cfg->close_base_url != NULL &&
        asprintf(&o->token_url, "%s" DEFAULT_TOKEN_PATH, cfg->close_base_url) < 0)
        o->token_url = NULL;
    set_string(ld, obj, at, "token_url", &o->token_url);
    if (o->token_url != NULL)
        check_url(ld, at, "token_url", o->token_url);
    int absent = load_credential_secret(ld, c, obj, at, "access_token", &c->secret_ref, &c->secret) > 0;
    absent |=
        load_credential_secret(ld, c, obj, at, "refresh_token", &o->refresh_token_ref, &o->refresh_token) > 0;
    absent |=
        load_credential_secret(ld, c, obj, at, "client_secret", &o->client_secret_ref, &o->client_secret) > 0;
    if (absent) {
        secret_free(c->secret);
        secret_free(o->refresh_token);
        secret_free(o->client_secret);
        c->secret = o->refresh_token = o->client_secret = NULL;
    }
}

static void load_credential(loader *ld, config *cfg, size_t i, const char *name, yajl_val obj)
{
    credential *c = &cfg->credentials[i];
    char where[CONFIG_KEY_MAX];
    snprintf(where, sizeof(where), "credentials.%s", name);
    if (!valid_name(name))
        fail(ld, where, NULL, "name must be 1..%d characters of A-Z a-z 0-9 _ -", CONFIG_NAME_MAX);
    else if (config_find_credential(cfg, name) != NULL)
        fail(ld, where, NULL, "defined twice");
    /* Named even when malformed, so routes using it report only this error. */
    if ((c->name = xstrdup(ld, name)) == NULL)
        return;
    if (!YAJL_IS_OBJECT(obj)) {
        fail(ld, where, NULL,
             "must be an object {\"api_key\": ref}, {\"bearer_token\": ref} or {\"oauth\": {…}}");
        return;
    }
    check_keys(ld, obj, where, credential_keys);
    yajl_val oauth = json_member(obj, "oauth");
    int has_api = json_member(obj, "api_key") != NULL;
    if (has_api + (json_member(obj, "bearer_token") != NULL) + (oauth != NULL) != 1) {
        fail(ld, where, NULL, "must have exactly one of \"api_key\", \"bearer_token\" or \"oauth\"");
        return;
    }
    if (oauth != NULL) {
        load_oauth(ld, cfg, c, oauth, where);
        return;
    }
    c->kind = has_api ? CREDENTIAL_API_KEY : CREDENTIAL_BEARER;
    load_credential_secret(ld, c, obj, where, has_api ? "api_key" : "bearer_token", &c->secret_ref,
                           &c->secret);
}

static void load_credentials(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "credentials");
    if (v == NULL)
        return;
    if (!YAJL_IS_OBJECT(v)) {
        fail(ld, NULL, "credentials",
             "must be an object of NAME: {\"api_key\"|\"bearer_token\": ref} or {\"oauth\": {…}}");
        return;
    }
    cfg->credentials = calloc(v->u.object.len ? v->u.object.len : 1, sizeof(*cfg->credentials));
    if (cfg->credentials == NULL) {
        fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->ncredentials = v->u.object.len;
    for (size_t i = 0; i < v->u.object.len; i++)
        load_credential(ld, cfg, i, v->u.object.keys[i], v->u.object.values[i]);
}

/* ---- routes ---- */

static void load_route_name(loader *ld, config *cfg, size_t i, yajl_val obj, const char *where)
{
    const char *name = get_string(ld, obj, where, "name", 1);
    if (name == NULL)
        return;
    if (!valid_name(name)) {
        fail(ld, where, "name", "must be 1..%d characters of A-Z a-z 0-9 _ -", CONFIG_NAME_MAX);
        return;
    }
    for (size_t j = 0; j < i; j++)
        if (cfg->routes[j].name != NULL && strcmp(cfg->routes[j].name, name) == 0)
            fail(ld, where, "name", "duplicate route name \"%s\" (also routes[%zu])", name, j);
    cfg->routes[i].name = xstrdup(ld, name);
}

/* The route's resolved secret, or NULL. *ok is 0 when a "secret" was given
 * but cannot be used: a route we cannot verify must not start. */
static char *load_route_secret(loader *ld, route *r, yajl_val obj, const char *where, int *ok)
{
    *ok = 1;
    if (json_member(obj, "secret") == NULL)
        return NULL;
    const char *ref = get_string(ld, obj, where, "secret", 0);
    *ok = 0;
    if (ref == NULL || (r->secret_ref = xstrdup(ld, ref)) == NULL)
        return NULL;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    char *secret = resolve_reference(ld, ref, where, "secret", &absent, why, sizeof(why));
    if (absent)
        fail(ld, where, "secret", "%s", why);
    *ok = secret != NULL;
    return secret;
}

static void load_route_credential(loader *ld, config *cfg, route *r, yajl_val obj, const char *where)
{
    const char *name = get_string(ld, obj, where, "credential", 1);
    if (name == NULL)
        return;
    /* The config is ours to fill; the lookup is const only for readers. */
    r->credential = (credential *)config_find_credential(cfg, name);
    if (r->credential == NULL)
        fail(ld, where, "credential", "no credential named \"%s\"", name);
}

static void load_route_rules(loader *ld, route *r, yajl_val obj, const char *where)
{
    yajl_val rules = json_member(obj, "rules");
    if (rules == NULL || !YAJL_IS_ARRAY(rules)) {
        fail(ld, where, "rules", rules ? "must be an array of rules" : "required");
        return;
    }
    char prefix[CONFIG_LINE_MAX / 2];
    snprintf(prefix, sizeof(prefix), "%s: %s.rules", ld->file, where);
    char why[CONFIG_LINE_MAX];
    why[0] = '\0';
    if (mapping_load(rules, prefix, &r->rules, why, sizeof(why)) != 0)
        add_line(ld, why[0] ? why : prefix);
}

static void load_route_source(loader *ld, route *r, yajl_val obj, const char *where, const char *secret)
{
    const char *name = get_string(ld, obj, where, "source", 1);
    if (name == NULL || (r->source_name = xstrdup(ld, name)) == NULL)
        return;
    char why[CONFIG_LINE_MAX];
    why[0] = '\0';
    source_config_ctx ctx = {.file = ld->file, .key_prefix = where, .err = why, .errlen = sizeof(why)};
    r->source = source_create(name, obj, secret, &ctx);
    if (r->source == NULL)
        add_line(ld, why[0] ? why : "source could not be created");
}

/* Only the keys every route shares are checked here; the rest belong to the
 * route's source, which reports its own. */
/* An optional array of CIDRs ("10.0.0.0/8", "2001:db8::/32", bare addresses):
 * trusted_proxies at the top, allow_ips on a route. */
static void load_cidrs(loader *ld, yajl_val obj, const char *where, const char *key, netaddr_list *out)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL)
        return;
    if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0) {
        fail(ld, where, key, "must be a non-empty array of addresses or CIDRs");
        return;
    }
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val e = v->u.array.values[i];
        char at[64];
        snprintf(at, sizeof(at), "%s[%zu]", key, i);
        if (!YAJL_IS_STRING(e) || netaddr_list_add(out, e->u.string) != 0)
            fail(ld, where, at, "must be an IPv4/IPv6 address or CIDR like \"192.0.2.0/24\"");
    }
}

static void load_route(loader *ld, config *cfg, size_t i, yajl_val obj)
{
    route *r = &cfg->routes[i];
    char where[32];
    snprintf(where, sizeof(where), "routes[%zu]", i);
    if (!YAJL_IS_OBJECT(obj)) {
        fail(ld, where, NULL, "must be an object");
        return;
    }
    load_route_name(ld, cfg, i, obj, where);
    load_cidrs(ld, obj, where, "allow_ips", &r->allow_ips);
    load_route_credential(ld, cfg, r, obj, where);
    load_route_rules(ld, r, obj, where);
    int secret_ok;
    char *secret = load_route_secret(ld, r, obj, where, &secret_ok);
    /* Without its secret the source would only add a second, misleading error. */
    if (secret_ok)
        load_route_source(ld, r, obj, where, secret);
    else
        get_string(ld, obj, where, "source", 1);
    secret_free(secret);
}

static void load_routes(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "routes");
    if (v == NULL || !YAJL_IS_ARRAY(v) || v->u.array.len == 0) {
        fail(ld, NULL, "routes", v ? "must be a non-empty array of routes" : "required");
        return;
    }
    cfg->routes = calloc(v->u.array.len, sizeof(*cfg->routes));
    if (cfg->routes == NULL) {
        fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->nroutes = v->u.array.len;
    for (size_t i = 0; i < v->u.array.len; i++)
        load_route(ld, cfg, i, v->u.array.values[i]);
}

/* ---- load / free ---- */

static yajl_val parse_config_file(loader *ld)
{
    size_t len = 0;
    char *text = secret_read_file(ld->file, CONFIG_MAX_FILE_BYTES, &len);
    if (text == NULL) {
        fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char why[CONFIG_LINE_MAX / 2];
    yajl_val root = json_parse(text, len, why, sizeof(why));
    free(text);
    if (root == NULL) {
        fail(ld, NULL, NULL, "%s", why);
    } else if (!YAJL_IS_OBJECT(root)) {
        fail(ld, NULL, NULL, "top level must be a JSON object");
        yajl_tree_free(root);
        root = NULL;
    }
    return root;
}

config *config_load(const char *path, char *err, size_t errlen)
{
    loader ld = {.file = path, .err = err, .errlen = errlen};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    yajl_val root = parse_config_file(&ld);
    if (root == NULL)
        return NULL;
    config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        fail(&ld, NULL, NULL, "out of memory");
        yajl_tree_free(root);
        return NULL;
    }
    cfg->path = xstrdup(&ld, path);
    check_keys(&ld, root, NULL, top_keys);
    load_settings(&ld, cfg, root);
    load_credentials(&ld, cfg, root);
    load_cidrs(&ld, root, NULL, "trusted_proxies", &cfg->trusted_proxies);
    load_routes(&ld, cfg, root);
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
    free(cfg->store_path);
    free(cfg->close_base_url);
    free(cfg->admin_listener.host);
    free(cfg->admin_token_ref);
    secret_free(cfg->admin_token);
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
