/* source: the interface every sender implements (Zoom, generic, …), and the
 * registry that lists them.
 *
 * One file per sender owns it completely: its route config keys, handshake,
 * verification and parsing. The server calls, for a POST to a route:
 *   0. verify() first, with tree NULL, for a sender whose verification reads
 *      only the raw bytes and headers (verify_needs_tree 0: every HMAC and
 *      shared-token sender), so unauthenticated bytes reach nothing but the
 *      signature check -> 401,
 *   1. the body is parsed as JSON when non-empty (400 on failure),
 *   2. handshake(): answers the sender's URL/endpoint validation itself,
 *   3. verify():    authenticity (HMAC, token, timestamp tolerance) -> 401,
 *                   for a sender that needs the tree (verify_needs_tree 1),
 *   4. parse():     the body into one or more meeting_events -> 400.
 * All callbacks run on an event-loop thread, must not block, and may be called
 * concurrently from several threads (instances are read-only after configure).
 * Adding a sender is one new file (with its `const source source_<name>`
 * template) and one line in source/registry.c. The helpers senders share are
 * in source/common.h. */
#ifndef CLOSEHOOK_SOURCE_H
#define CLOSEHOOK_SOURCE_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "event.h"

/* The parts of an HTTP request a source may read. Bytes, not C strings. */
typedef struct source_request {
    const char *body;
    size_t body_len;
    const char *query; /* after '?', not decoded; NULL when absent */
    size_t query_len;
    /* Looks a header up by lower-case name; returns NULL when absent. */
    const char *(*header)(void *ctx, const char *name, size_t *len);
    void *header_ctx;
    time_t now; /* the clock timestamps are checked against */
} source_request;

/* A handshake answer, or an error the source chose (status 401, 400 …).
 * body is malloc'ed and freed by the caller. */
typedef struct source_answer {
    int status;
    const char *content_type; /* static string */
    char *body;
    size_t body_len;
} source_answer;

/* Ties a message to the config location it came from: "FILE: routes[2].secret: …". */
typedef struct source_config_ctx {
    const char *file;       /* config file path, for messages */
    const char *key_prefix; /* e.g. "routes[2]" */
    char *err;              /* where to write a message on failure */
    size_t errlen;
} source_config_ctx;

typedef struct source source;
struct source {
    const char *name;      /* "zoom", "generic": the route's "source" value */
    int body_is_json;      /* 1: non-empty bodies must be application/json;
                              0: the sender sends no body, and a body is refused (415) */
    int verify_needs_tree; /* 1: verify() reads the parsed body (Graph's clientState
                              sits inside it); 0: raw bytes and headers only */

    /* 1 when this request was a handshake and *ans holds the whole answer; 0 when
     * it is an ordinary event. tree may be NULL (empty body). */
    int (*handshake)(const source *self, const source_request *req, yajl_val tree, source_answer *ans);
    /* 0 when authentic; -1 with a detail that names what is wrong (missing header,
     * stale timestamp, "signature mismatch") but never which byte differs. */
    int (*verify)(const source *self, const source_request *req, yajl_val tree, char *detail,
                  size_t detail_len);
    /* 0 with events appended to out; -1 with detail for a 400. */
    int (*parse)(const source *self, const source_request *req, yajl_val tree, event_list *out, char *detail,
                 size_t detail_len);
    void (*destroy)(source *self);
    /* Builds an instance from a route (see source_create); set in the
     * sender's template, copied into every instance with the rest. */
    source *(*create)(yajl_val route, const char *secret, const source_config_ctx *ctx);
};

/* Builds the source named by a route's "source" key from the route object (which
 * also holds generic keys like "name", "rules"; a source reads only its own).
 * secret is the route's resolved "secret" (may be NULL; the source decides if it
 * needs one). Returns NULL with ctx->err filled when unknown or misconfigured. */
source *source_create(const char *name, yajl_val route, const char *secret, const source_config_ctx *ctx);
/* The registered names, NULL-terminated, for error messages and help. */
const char *const *source_names(void);

/* One per sender, defined in its file (const source source_zoom = {...}):
 * name, flags and callbacks, and create. The registry lists these and nothing
 * else; a constructor copies its template into the instance it allocates. */
extern const source source_zoom;
extern const source source_generic;
extern const source source_calendly;
extern const source source_stdwebhooks;
extern const source source_msgraph;
extern const source source_gcal;

/* The vendor constructors (each template's create), for the unit tests. */
source *zoom_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *generic_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *calendly_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *stdwebhooks_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *msgraph_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *gcal_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);

#endif
