/* answer: closehook's HTTP answers in one place, so every status the sender
 * sees has the same shape, length, request id, metric and log line. */
#include "answer.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "signature.h"

/* Every answer goes through here. h2o 2.2's h2o_send_inline does not set the
 * length itself, and without it HTTP/1.1 answers are chunked or close the
 * connection, so every webhook would pay for a new TCP connection. */
void answer_body(h2o_req_t *req, int status, const char *reason, const char *content_type, const char *body,
                 size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_send_inline(req, body, len);
}

static void answer_json(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    answer_body(req, status, reason, "application/json", body, len);
}

/* A JSON object of one or two string members ({k1: v1} when k2 is NULL). */
static void answer_object(h2o_req_t *req, int status, const char *reason, const char *k1, const char *v1,
                          const char *k2, const char *v2)
{
    yajl_gen g = json_gen_new();
    char *body = NULL;
    size_t len = 0;
    if (g != NULL) {
        yajl_gen_map_open(g);
        json_gen_kv_str(g, k1, v1);
        if (k2 != NULL)
            json_gen_kv_str(g, k2, v2);
        if (yajl_gen_map_close(g) == yajl_gen_status_ok)
            body = json_gen_take(g, &len);
        yajl_gen_free(g);
    }
    answer_json(req, status, reason, body ? body : "{}", body ? len : 2);
    free(body);
}

void answer_error(h2o_req_t *req, int status, const char *reason, const char *error, const char *detail)
{
    answer_object(req, status, reason, "error", error, detail != NULL ? "detail" : NULL, detail);
}

void answer_status(h2o_req_t *req, int status, const char *reason, const char *state, const char *key,
                   const char *value)
{
    answer_object(req, status, reason, "status", state, key, value);
}

void answer_unavailable(h2o_req_t *req, const char *detail)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   H2O_STRLIT(ANSWER_RETRY_AFTER));
    answer_error(req, 503, "Service Unavailable", "unavailable", detail);
}

void answer_method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("allow"), 0, NULL, allow, strlen(allow));
    answer_error(req, 405, "Method Not Allowed", "method_not_allowed", NULL);
}

/* ---- h2o's own error answers, in our JSON shape ----
 * h2o answers some bad requests before our handler sees them: a body over
 * max_request_entity_size (413), an unparsable request line (400), a timeout.
 * Those answers are text/plain; senders and operators get the same
 * {"error","detail"} JSON as from our handler. Our own answers are never
 * text/plain with status >= 400, so the filter touches only h2o's. */

typedef struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
} json_error_ostream;

static const char *error_code_for(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
        return "payload_too_large";
    case 415:
        return "unsupported_media_type";
    case 503:
        return "unavailable";
    default:
        return status < 500 ? "client_error" : "server_error";
    }
}

static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                               h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    json_error_ostream *o = (json_error_ostream *)self;
    if (o->sent) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    o->sent = 1;
    h2o_ostream_send_next(self, req, &o->body, 1, state);
}

/* X-Request-Id from the load balancer when it is sane (printable, short), else
 * a new random one; kept in the request's env so the handler, the access log
 * and the answer all use the same id. */
#define REQUEST_ID_MAX 128
h2o_iovec_t answer_request_id(h2o_req_t *req)
{
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT("closehook.request_id"), 1);
    if (slot->len > 0)
        return *slot;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        int sane = v.len > 0 && v.len <= REQUEST_ID_MAX;
        for (size_t k = 0; sane && k < v.len; k++)
            sane = v.base[k] > 0x20 && v.base[k] < 0x7f && v.base[k] != '"' && v.base[k] != '\\';
        if (sane) {
            *slot = h2o_strdup(&req->pool, v.base, v.len);
            return *slot;
        }
    }
    unsigned char raw[16];
    char hex[2 * sizeof(raw) + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        memset(raw, 0, sizeof(raw));
    signature_hex(raw, sizeof(raw), hex);
    *slot = h2o_strdup(&req->pool, hex, strlen(hex));
    return *slot;
}

/* Which configured route (and source) a path names, for labels and logs; a
 * path we do not serve is "-" so attackers cannot grow label sets. */
static void route_labels(const config *cfg, h2o_req_t *req, const char **route_name, const char **source_name)
{
    h2o_iovec_t path = req->path_normalized.base ? req->path_normalized : req->path;
    size_t prefix = sizeof(HOOKS_PREFIX) - 1;
    *route_name = "-";
    *source_name = "-";
    if (path.len > prefix && memcmp(path.base, HOOKS_PREFIX, prefix) == 0) {
        const route *rt = config_find_route(cfg, path.base + prefix, path.len - prefix);
        if (rt != NULL) {
            *route_name = rt->name;
            *source_name = rt->source_name;
        }
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        *route_name = "healthz";
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        *route_name = "readyz";
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        *route_name = "metrics";
    }
}

netaddr answer_client(h2o_req_t *req, const config *cfg)
{
    struct sockaddr_storage ss;
    netaddr peer;
    memset(&peer, 0, sizeof(peer));
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        netaddr_from_sockaddr((struct sockaddr *)&ss, &peer) != 0)
        return peer;
    ssize_t f = h2o_find_header_by_str(&req->headers, H2O_STRLIT("forwarded"), -1);
    ssize_t x = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, -1);
    return netaddr_client(&peer, &cfg->trusted_proxies, f >= 0 ? req->headers.entries[f].value.base : NULL,
                          f >= 0 ? req->headers.entries[f].value.len : 0,
                          x >= 0 ? req->headers.entries[x].value.base : NULL,
                          x >= 0 ? req->headers.entries[x].value.len : 0);
}

typedef struct answer_filter {
    h2o_filter_t super;
    const config *(*current)(void *arg);
    void *arg;
} answer_filter;

/* Runs for every answer, ours and h2o's: echoes the request id, counts it,
 * writes the access log line, and gives h2o's own errors our JSON shape. */
static void answer_on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    answer_filter *filter = (answer_filter *)self;
    const config *cfg = filter->current(filter->arg);
    h2o_iovec_t id = answer_request_id(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, id.base,
                          id.len);
    const char *route, *source;
    route_labels(cfg, req, &route, &source);
    char status[8];
    snprintf(status, sizeof(status), "%d", req->res.status);
    metrics_inc("closehook_http_requests_total", METRIC_LABELS(route, source, status));
    if (cfg->log.access) {
        struct timeval now;
        gettimeofday(&now, NULL);
        double ms = (now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1e3 +
                    (now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1e3;
        char rid[REQUEST_ID_MAX + 1];
        snprintf(rid, sizeof(rid), "%.*s", (int)id.len, id.base);
        /* The path without its query: a query may carry a sender's token. */
        size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
        char *path = strndup(req->path.base ? req->path.base : "", req->path.base ? plen : 0);
        char *method = strndup(req->method.base ? req->method.base : "", req->method.len);
        netaddr client = answer_client(req, cfg);
        char client_text[64];
        netaddr_format(&client, client_text, sizeof(client_text));
        log_write(LOG_INFO, "access", "request_id", rid, "client", client_text, "method", method, "path",
                  path, "route", route, LOG_INT("status", req->res.status), LOG_DOUBLE("duration_ms", ms),
                  NULL);
        free(path);
        free(method);
    }

    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status >= 400 && ct >= 0 &&
        h2o_memis(req->res.headers.entries[ct].value.base, 10, H2O_STRLIT("text/plain"))) {
        yajl_gen g = json_gen_new();
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "error", error_code_for(req->res.status));
        json_gen_kv_str(g, "detail", req->res.status == 413 ? "body exceeds body_limit" : req->res.reason);
        yajl_gen_map_close(g);
        size_t len;
        char *text = json_gen_take(g, &len);
        yajl_gen_free(g);
        if (text != NULL) {
            json_error_ostream *o = (json_error_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
            o->body = h2o_strdup(&req->pool, text, len);
            o->sent = 0;
            o->super.do_send = json_error_do_send;
            free(text);
            req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
            req->res.content_length = len;
            slot = &o->super.next;
        }
    }
    h2o_setup_next_ostream(req, slot);
}

void answer_register_filter(h2o_pathconf_t *pathconf, const config *(*current)(void *arg), void *arg)
{
    answer_filter *f = (answer_filter *)h2o_create_filter(pathconf, sizeof(answer_filter));
    f->super.on_setup_ostream = answer_on_setup_ostream;
    f->current = current;
    f->arg = arg;
}
