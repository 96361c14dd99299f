/* source/common: the helpers several senders share (header lookup, config
 * key checks, tolerance and timestamp freshness, JSON-path getters, the
 * path-keys of senders without a fixed envelope, constructor and emit
 * boilerplate), kept out of the registry so that it is only the list.
 *
 * Contract: called from a sender's callbacks (event-loop threads, any number
 * at once) or constructor (config load); no globals, no locks, no I/O but
 * the caller's buffers. Strings handed back are malloc'ed and the caller's;
 * errors are -1 (or NULL) with a detail or config message filled, which never
 * holds a secret. */
#ifndef CLOSEHOOK_SOURCE_COMMON_H
#define CLOSEHOOK_SOURCE_COMMON_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "event.h"
#include "source.h"

/* A header's value as a malloc'ed C string, or NULL when absent. */
char *source_header_dup(const source_request *req, const char *name);

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

/* The non-empty scalar at a dotted path of root as text (borrowed from
 * root), or NULL when absent, not a scalar or empty. */
const char *source_text_at(yajl_val root, const char *path);
/* A malloc'ed copy of s, NULL for NULL; sets *oom when the copy fails. */
char *source_dup(const char *s, int *oom);

#endif
