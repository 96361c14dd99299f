/* admin: dead letters over HTTP, for operators who cannot (or should not)
 * shell into the node to run `closehook dlq`. It lives on its own port and its
 * own thread so it can never be reached through, or slow down, the webhook
 * listeners, and it refuses everything without the admin bearer token. */
#include "admin.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "answer.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "signature.h"

#define ADMIN_PREFIX "/admin/dlq"
/* How long the loop sleeps in epoll at most, so a stop is seen promptly. */
#define ADMIN_LOOP_TICK_MS 100
/* An operator's request arrives at once; an idle keep-alive connection is
 * closed after this, which also bounds how long it can hold up a shutdown. */
#define ADMIN_REQ_TIMEOUT_MS 5000
#define ADMIN_CLOSE_GRACE_MS (ADMIN_REQ_TIMEOUT_MS + 1000)
/* Admin requests carry no body; anything bigger is not ours. */
#define ADMIN_BODY_LIMIT 4096
/* A handful of operators at most. */
#define ADMIN_LISTEN_BACKLOG 16
/* Route names are at most 64 characters (config.c); a longer query value is
 * not one. Durations are a number and a unit. */
#define ADMIN_PARAM_MAX 65
/* The key under which both the configured and the presented token are hashed
 * before the constant-time compare, so the compare does not leak the token's
 * length either. It hides nothing by being secret. */
static const char TOKEN_HASH_KEY[] = "closehook admin token";

struct admin {
    const config *cfg;
    queue *q;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    listener_watch watch;
    int fd; /* -1 once the watch has it */
    pthread_t tid;
    atomic_int stopping;
    unsigned char token_digest[SIGNATURE_SHA256_LEN];
};

typedef struct admin_handler {
    h2o_handler_t super;
    admin *admin;
} admin_handler;

/* ---- shared with `closehook dlq` ---- */

int admin_parse_duration(const char *text, int64_t *ms)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60 * 1000}, {'h', 3600 * 1000}, {'d', 24 * 3600 * 1000}};
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (end[0] == units[i].unit) {
            if (n > INT64_MAX / units[i].ms)
                return -1;
            *ms = n * units[i].ms;
            return 0;
        }
    }
    return -1;
}

static void gen_time(yajl_gen g, const char *key, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char text[40] = "";
    if (gmtime_r(&secs, &tm) != NULL) {
        size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(text + n, sizeof(text) - n, ".%03dZ", (int)(ms % 1000));
    }
    json_gen_kv_str(g, key, text);
}

/* The fields every form of a row shares. */
static void gen_row_fields(yajl_gen g, const queue_row *row, const char *last_error, int64_t now_ms)
{
    json_gen_kv_int(g, "id", row->id);
    json_gen_kv_str(g, "route", row->route);
    json_gen_kv_str(g, "credential", row->credential);
    json_gen_kv_int(g, "attempts", row->attempts);
    gen_time(g, "created_at", row->created_at);
    json_gen_kv_int(g, "created_at_ms", row->created_at);
    json_gen_kv_int(g, "age_s", now_ms > row->created_at ? (now_ms - row->created_at) / 1000 : 0);
    json_gen_kv_str(g, "error", last_error);
}

void admin_gen_dead_row(yajl_gen g, const queue_row *row, const char *last_error, int64_t now_ms)
{
    yajl_gen_map_open(g);
    gen_row_fields(g, row, last_error, now_ms);
    json_gen_kv_str(g, "payload", row->payload);
    yajl_gen_map_close(g);
}

void admin_gen_row_detail(yajl_gen g, const queue_row *row, const char *state, const char *last_error,
                          int64_t now_ms)
{
    yajl_gen_map_open(g);
    gen_row_fields(g, row, last_error, now_ms);
    json_gen_kv_str(g, "state", state);
    json_gen_kv_str(g, "dedup_key", row->dedup_key);
    /* The payload is update.h's JSON; shown as an object it reads as what
     * will be sent. A payload that does not parse is shown as it is. */
    char why[128];
    yajl_val update = json_parse(row->payload, strlen(row->payload), why, sizeof(why));
    if (update != NULL) {
        json_gen_str(g, "update");
        json_gen_value(g, update);
        yajl_tree_free(update);
    } else {
        json_gen_kv_str(g, "payload", row->payload);
    }
    yajl_gen_map_close(g);
}

/* ---- requests ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int token_digest(const char *token, size_t len, unsigned char out[SIGNATURE_SHA256_LEN])
{
    signature_part part = {token, len};
    return signature_hmac_sha256(TOKEN_HASH_KEY, sizeof(TOKEN_HASH_KEY) - 1, &part, 1, out);
}

/* "Authorization: Bearer <token>" (the scheme in any case, RFC 7235). */
static int authorized(const admin *a, h2o_req_t *req)
{
    static const char scheme[] = "bearer ";
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = sizeof(scheme) - 1;
    if (v.len <= n || strncasecmp(v.base, scheme, n) != 0)
        return 0;
    unsigned char digest[SIGNATURE_SHA256_LEN];
    if (token_digest(v.base + n, v.len - n, digest) != 0)
        return 0;
    return signature_equal(digest, sizeof(digest), a->token_digest, sizeof(a->token_digest));
}

static int is_method(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

/* The value of name in the query string, into out. 1 found, 0 absent, -1 too
 * long. No percent-decoding: route names and durations are URL-safe, so an
 * encoded value is not a valid one and fails its own check. */
static int query_param(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nlen = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(stop - p) - nlen - 1;
            if (vlen >= outlen)
                return -1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

/* ?route=R: *route is NULL when absent. 0, or -1 after answering 400. */
static int route_param(h2o_req_t *req, char *buf, size_t buflen, const char **route)
{
    *route = NULL;
    int found = query_param(req, "route", buf, buflen);
    int ok = found >= 0 && (found == 0 || buf[0] != '\0');
    for (size_t i = 0; ok && found && buf[i]; i++)
        ok = isalnum((unsigned char)buf[i]) || buf[i] == '_' || buf[i] == '-';
    if (!ok) {
        answer_error(req, 400, "Bad Request", "bad_request", "route must be a route name");
        return -1;
    }
    *route = found ? buf : NULL;
    return 0;
}

/* Sends g's document as the 200 answer and frees g. */
static void answer_document(h2o_req_t *req, yajl_gen g)
{
    size_t len = 0;
    char *text = json_gen_take(g, &len);
    yajl_gen_free(g);
    if (text == NULL) {
        answer_unavailable(req, "out of memory");
        return;
    }
    answer_body(req, 200, "OK", "application/json", text, len);
    free(text);
}

static void answer_count(h2o_req_t *req, const char *key, long n)
{
    if (n < 0) {
        answer_error(req, 500, "Internal Server Error", "store_error", "the store failed; see the log");
        return;
    }
    yajl_gen g = json_gen_new();
    yajl_gen_map_open(g);
    json_gen_kv_int(g, key, n);
    yajl_gen_map_close(g);
    answer_document(req, g);
}

typedef struct dead_listing {
    yajl_gen g;
    long count;
    int64_t now_ms;
} dead_listing;

static void list_one(const queue_row *row, const char *last_error, void *arg)
{
    dead_listing *l = arg;
    admin_gen_dead_row(l->g, row, last_error, l->now_ms);
    l->count++;
}

static void handle_list(admin *a, h2o_req_t *req, const char *route)
{
    dead_listing l = {.g = json_gen_new(), .now_ms = wall_ms()};
    yajl_gen_map_open(l.g);
    json_gen_str(l.g, "dead_letters");
    yajl_gen_array_open(l.g);
    int rc = queue_list_dead(a->q, route, list_one, &l);
    yajl_gen_array_close(l.g);
    json_gen_kv_int(l.g, "count", l.count);
    yajl_gen_map_close(l.g);
    if (rc != 0) {
        yajl_gen_free(l.g);
        answer_count(req, "count", -1);
        return;
    }
    answer_document(req, l.g);
}

static void handle_show(admin *a, h2o_req_t *req, int64_t id)
{
    queue_row row;
    const char *state;
    char *last_error;
    int found = queue_get(a->q, id, &row, &state, &last_error);
    if (found <= 0) {
        if (found == 0)
            answer_error(req, 404, "Not Found", "not_found", "no row with this id");
        else
            answer_count(req, "count", -1);
        return;
    }
    yajl_gen g = json_gen_new();
    admin_gen_row_detail(g, &row, state, last_error, wall_ms());
    queue_row_clear(&row);
    free(last_error);
    answer_document(req, g);
}

static void handle_replay(admin *a, h2o_req_t *req, int64_t id, const char *route)
{
    long n = queue_replay(a->q, id, route);
    if (n > 0)
        log_write(LOG_INFO, "admin: dead letters replayed", LOG_INT("rows", n), "route", route, NULL);
    if (n == 0 && id > 0)
        answer_error(req, 404, "Not Found", "not_found", "no dead letter with this id");
    else
        answer_count(req, "replayed", n);
}

static void handle_purge(admin *a, h2o_req_t *req, const char *route)
{
    char text[ADMIN_PARAM_MAX];
    int64_t older_than_ms = 0;
    if (query_param(req, "older_than", text, sizeof(text)) != 1 ||
        admin_parse_duration(text, &older_than_ms) != 0) {
        answer_error(req, 400, "Bad Request", "bad_request",
                     "older_than=D is required, D like 30d, 12h, 90m or 3600s");
        return;
    }
    long n = queue_purge_dead(a->q, older_than_ms, route);
    if (n > 0)
        log_write(LOG_INFO, "admin: dead letters purged", LOG_INT("rows", n), "older_than", text, "route",
                  route, NULL);
    answer_count(req, "purged", n);
}

/* A row id in the path: 1..18 digits (any int64 id the store hands out). */
static int64_t parse_id(const char *s, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        id = id * 10 + (s[i] - '0');
    }
    return id > 0 ? id : -1;
}

/* The path below /admin/dlq: "", "/replay", "/<id>" or "/<id>/replay". */
static void dispatch(admin *a, h2o_req_t *req, const char *rest, size_t len)
{
    char buf[ADMIN_PARAM_MAX];
    const char *route = NULL;
    if (len == 0) {
        if (!is_method(req, "GET") && !is_method(req, "DELETE"))
            answer_method_not_allowed(req, "GET, DELETE");
        else if (route_param(req, buf, sizeof(buf), &route) != 0)
            return; /* answered */
        else if (is_method(req, "GET"))
            handle_list(a, req, route);
        else
            handle_purge(a, req, route);
        return;
    }
    static const char replay[] = "/replay";
    size_t rlen = sizeof(replay) - 1;
    int ends_in_replay = len >= rlen && memcmp(rest + len - rlen, replay, rlen) == 0;
    int64_t id = rest[0] == '/' ? parse_id(rest + 1, len - 1 - (ends_in_replay ? rlen : 0)) : -1;
    if (ends_in_replay && len == rlen) {
        if (!is_method(req, "POST"))
            answer_method_not_allowed(req, "POST");
        else if (route_param(req, buf, sizeof(buf), &route) == 0)
            handle_replay(a, req, 0, route);
    } else if (id > 0 && ends_in_replay) {
        if (!is_method(req, "POST"))
            answer_method_not_allowed(req, "POST");
        else
            handle_replay(a, req, id, NULL);
    } else if (id > 0) {
        if (!is_method(req, "GET"))
            answer_method_not_allowed(req, "GET");
        else
            handle_show(a, req, id);
    } else {
        answer_error(req, 404, "Not Found", "not_found", NULL);
    }
}

/* GET /metrics: operator-only, so it lives here behind the token and never
 * on the public listener, where h2o's path normalisation (/%6detrics,
 * /hooks/../metrics) would defeat any load-balancer rule meant to hide it. */
static void answer_metrics(h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        answer_method_not_allowed(req, "GET, HEAD");
        return;
    }
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL)
        answer_unavailable(req, "out of memory");
    else
        answer_body(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    admin *a = ((admin_handler *)self)->admin;
    /* Before anything else: without the token, not even a 404 is given. */
    if (!authorized(a, req)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"closehook admin\""));
        answer_error(req, 401, "Unauthorized", "unauthorized",
                     "Authorization: Bearer <admin.token> required");
        return 0;
    }
    h2o_iovec_t path = req->path_normalized;
    size_t prefix = sizeof(ADMIN_PREFIX) - 1;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")))
        answer_metrics(req);
    else if (path.len >= prefix && memcmp(path.base, ADMIN_PREFIX, prefix) == 0 &&
             (path.len == prefix || path.base[prefix] == '/'))
        dispatch(a, req, path.base + prefix, path.len - prefix);
    else
        answer_error(req, 404, "Not Found", "not_found", NULL);
    return 0;
}

/* ---- the listener and its loop ---- */

static void on_accept(listener_watch *watch, h2o_socket_t *sock)
{
    admin *a = watch->data;
    h2o_accept(&a->accept_ctx, sock);
}

static void *admin_main(void *arg)
{
    admin *a = arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&a->ctx, loop, &a->globalconf);
    a->accept_ctx.ctx = &a->ctx;
    a->accept_ctx.hosts = a->globalconf.hosts;
    listener_watch_start(&a->watch, &a->ctx, a->fd, "admin", on_accept, a);
    a->fd = -1; /* the watch's now */
    while (!atomic_load(&a->stopping))
        h2o_evloop_run(loop, ADMIN_LOOP_TICK_MS);

    listener_watch_close(&a->watch);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        h2o_evloop_run(loop, ADMIN_LOOP_TICK_MS);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (listener_context_busy(&a->ctx) &&
             (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 <
                 ADMIN_CLOSE_GRACE_MS);
    if (!listener_context_busy(&a->ctx)) {
        h2o_context_dispose(&a->ctx);
        h2o_evloop_run(loop, 0); /* the closed sockets are freed on the next turn */
        h2o_evloop_destroy(loop);
    }
    /* else: a client holds a connection open past the grace; h2o 2.2 cannot
     * dispose the context, and the process is exiting anyway. */
    return NULL;
}

/* The admin listener keeps the config it started with: its port and token
 * are not reloadable, and main keeps every config allocated until exit. */
static const config *start_config(void *arg)
{
    return ((admin *)arg)->cfg;
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

static void admin_free(admin *a)
{
    if (a->fd >= 0)
        close(a->fd);
    h2o_config_dispose(&a->globalconf);
    free(a);
}

admin *admin_start(const config *cfg, queue *q, char *err, size_t errlen)
{
    err[0] = '\0';
    if (cfg->admin.listen.port == 0)
        return NULL;
    admin *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->q = q;
    a->fd = -1;
    h2o_config_init(&a->globalconf);
    if (token_digest(cfg->admin.token, strlen(cfg->admin.token), a->token_digest) != 0) {
        snprintf(err, errlen, "cannot hash the admin token");
        admin_free(a);
        return NULL;
    }
    a->globalconf.max_request_entity_size = ADMIN_BODY_LIMIT;
    a->globalconf.http1.req_timeout = ADMIN_REQ_TIMEOUT_MS;
    a->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("closehook"));
    h2o_hostconf_t *host =
        h2o_config_register_host(&a->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    admin_handler *handler = (admin_handler *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->admin = a;
    /* The same answer shape, request ids, metrics and access log as webhooks. */
    answer_register_filter(pathconf, start_config, a);
    answer_register_filter(&host->fallback_path, start_config, a);

    if ((a->fd = listener_open(&cfg->admin.listen, ADMIN_LISTEN_BACKLOG, "admin listen", err, errlen)) < 0 ||
        pthread_create(&a->tid, NULL, admin_main, a) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot start the admin thread");
        admin_free(a);
        return NULL;
    }
    log_write(LOG_INFO, "admin listener started", "host", cfg->admin.listen.host,
              LOG_INT("port", cfg->admin.listen.port), NULL);
    if (!is_loopback(cfg->admin.listen.host))
        log_write(LOG_WARN,
                  "admin listener is not on loopback: it speaks plain HTTP, keep it on a private network",
                  "host", cfg->admin.listen.host, NULL);
    return a;
}

void admin_stop(admin *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stopping, 1);
    pthread_join(a->tid, NULL);
    admin_free(a);
}
