/* answer: how closehook answers HTTP. Every answer carries a Content-Length
 * (keep-alive holds) and an X-Request-Id; errors are JSON {"error","detail"};
 * a filter on every path counts each answer in /metrics, writes the access
 * log line, and gives h2o's own early errors (413 before our handler) the same
 * JSON shape. Used from event-loop threads only. */
#ifndef CLOSEHOOK_ANSWER_H
#define CLOSEHOOK_ANSWER_H

#include <h2o.h>

#include "config.h"
#include "netaddr.h"

/* Seconds a sender (or the load balancer) is told to wait when we cannot keep
 * what it sends; short, because a restart or a drained node recovers quickly. */
#define ANSWER_RETRY_AFTER "5"
/* The path prefix of webhook routes: POST /hooks/<route>. */
#define HOOKS_PREFIX "/hooks/"

void answer_body(h2o_req_t *req, int status, const char *reason, const char *content_type, const char *body,
                 size_t len);
/* {"error": error, "detail": detail} (detail omitted when NULL). */
void answer_error(h2o_req_t *req, int status, const char *reason, const char *error, const char *detail);
/* {"status": state, key: value} (the pair omitted when key is NULL). */
void answer_status(h2o_req_t *req, int status, const char *reason, const char *state, const char *key,
                   const char *value);
/* 503 with Retry-After. */
void answer_unavailable(h2o_req_t *req, const char *detail);
/* 405 with Allow. */
void answer_method_not_allowed(h2o_req_t *req, const char *allow);

/* The request's id: the load balancer's X-Request-Id when sane, else a new
 * random one; the same for the whole request. NUL-terminated, in req->pool. */
h2o_iovec_t answer_request_id(h2o_req_t *req);

/* The client that sent req: the TCP peer, or, when the peer is one of
 * cfg->trusted_proxies, the address it forwarded (netaddr_client). */
netaddr answer_client(h2o_req_t *req, const config *cfg);

/* Installs the per-answer filter on a path (call for "/" and the fallback);
 * current(arg) gives the config in force for each answer (it may be reloaded). */
void answer_register_filter(h2o_pathconf_t *pathconf, const config *(*current)(void *arg), void *arg);

#endif
