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
 * Adding a sender is one new file and one line in source/registry.c. */
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
};

/* Builds the source named by a route's "source" key from the route object (which
 * also holds generic keys like "name", "rules"; a source reads only its own).
 * secret is the route's resolved "secret" (may be NULL; the source decides if it
 * needs one). Returns NULL with ctx->err filled when unknown or misconfigured. */
source *source_create(const char *name, yajl_val route, const char *secret, const source_config_ctx *ctx);
/* The registered names, NULL-terminated, for error messages and help. */
const char *const *source_names(void);

/* A header's value as a malloc'ed C string, or NULL when absent. */
char *source_header_dup(const source_request *req, const char *name);

/* ---- helpers every source shares (registry.c) ---- */

/* Fills *ans with status and the JSON object {k1: v1, k2: v2} (a 500 without
 * a body when it cannot be built). Returns 1, the handshake's "answered". */
int source_answer_json(source_answer *ans, int status, const char *k1, const char *v1, const char *k2,
                       const char *v2);

/* Writes "FILE: PREFIX.KEY: problem" into ctx->err. */
void source_config_error(const source_config_ctx *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 0 when every key of the route object is a common route key ("name",
 * "source", "secret", "credential", "rules") or listed in own_keys
 * (NULL-terminated); else -1 with "unknown key for source <name>" for the first
 * stray key. A misspelt key would otherwise be silently ignored. */
int source_check_keys(yajl_val route, const char *source_name, const char *const *own_keys,
                      const source_config_ctx *ctx);

/* Reads the route's optional "tolerance_s" (integer 1..max_s) into *out, or
 * default_s when absent. -1 with a config error when invalid. */
int source_read_tolerance(yajl_val route, long default_s, long max_s, long *out,
                          const source_config_ctx *ctx);

/* 0 when ts (len bytes, unix seconds, digits only) is within tolerance_s of now
 * in either direction (a future stamp is as suspicious as a stale one); else -1
 * with detail "invalid <header_name> header" or "timestamp outside the N s
 * tolerance". */
int source_timestamp_fresh(const char *ts, size_t len, time_t now, long tolerance_s, const char *header_name,
                           char *detail, size_t detail_len);

/* Reads the route's optional string key into *out (malloc'ed; left as is when
 * absent), lower-cased when lower (header names). -1 with a config error when
 * it is not a non-empty string. */
int source_read_string(yajl_val route, const char *key, int lower, char **out, const source_config_ctx *ctx);

/* The scalar at a dotted path of tree as malloc'ed text into *out; *out stays
 * NULL when path is NULL or the value is absent, null or empty. -1 with detail
 * "<path> is not a scalar" (an object or array there) or out of memory. */
int source_scalar_at(yajl_val tree, const char *path, char **out, char *detail, size_t detail_len);

/* Where in the body senders without a fixed envelope put an event's fields:
 * the route keys "event_type_path", "activity_id_path",
 * "zoom_meeting_id_path", "join_url_path", "start_time_path", "ical_uid_path" and
 * "calendar_event_id_path" (generic,
 * stdwebhooks). Each is a dotted path or NULL. */
typedef struct source_paths {
    char *event_type_path;
    char *activity_id_path;
    char *zoom_meeting_id_path;
    char *join_url_path;
    char *start_time_path;
    char *ical_uid_path;
    char *calendar_event_id_path;
} source_paths;

/* Like source_check_keys, with the source_paths keys allowed besides own_keys. */
int source_paths_check_keys(yajl_val route, const char *source_name, const char *const *own_keys,
                            const source_config_ctx *ctx);
/* Reads the path keys; event_type_path becomes default_event_type_path when
 * absent. -1 with a config error (everything read so far is freed). */
int source_paths_read(yajl_val route, const char *default_event_type_path, source_paths *out,
                      const source_config_ctx *ctx);
/* Fills ev->event_type (NULL when the path gives nothing: the caller decides
 * whether that is an error), close_activity_id, zoom_meeting_id, join_url and
 * start_time from tree. -1 with detail as for source_scalar_at. */
int source_paths_fill(const source_paths *paths, yajl_val tree, meeting_event *ev, char *detail,
                      size_t detail_len);
void source_paths_free(source_paths *paths);

/* What every constructor checks first: route is an object holding only its
 * keys (as source_check_keys), and, when secret_required is not NULL, a
 * non-empty secret (else that message under "secret"). 0 when fine; -1 with a
 * config error. */
int source_create_check(yajl_val route, const char *source_name, const char *const *own_keys,
                        const char *secret, const char *secret_required, const source_config_ctx *ctx);
/* A zeroed instance of size bytes and a copy of secret in *secret_copy; NULL
 * (nothing allocated) with an "out of memory" config error. */
void *source_alloc(size_t size, const char *secret, char **secret_copy, const source_config_ctx *ctx);
/* Appends *ev to out unless oom is set or the list cannot grow; then ev is
 * cleared and -1 returned with detail "out of memory". */
int source_emit(event_list *out, meeting_event *ev, int oom, char *detail, size_t detail_len);

/* The handshake of senders that have no endpoint validation step (generic,
 * Calendly, Standard Webhooks): never a handshake. */
int source_no_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans);

/* Vendor constructors, listed in registry.c. */
source *zoom_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *generic_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *calendly_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *stdwebhooks_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *msgraph_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);
source *gcal_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx);

#endif
