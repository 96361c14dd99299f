/* source/common: helpers several senders share (see common.h). */
#include "common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Unix seconds need 10 digits until the year 2286; 18 still fits a long long,
 * so anything longer is garbage rather than a time. */
#define SOURCE_TIMESTAMP_MAX_DIGITS 18
/* More own keys than any source passes besides the path keys (generic, the
 * largest, has 8); a bound keeps the merged key list on the stack. */
#define SOURCE_MAX_OWN_KEYS 32

/* Keys every route carries, read by config, not by the source. */
static const char *const route_common_keys[] = {"name",  "source",    "secret", "credential",
                                                "rules", "allow_ips", NULL};

char *source_header_dup(const source_request *req, const char *name)
{
    size_t len;
    const char *v = req->header(req->header_ctx, name, &len);
    if (v == NULL)
        return NULL;
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, v, len);
        copy[len] = '\0';
    }
    return copy;
}

void source_config_error(const source_config_ctx *ctx, const char *key, const char *fmt, ...)
{
    char problem[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    snprintf(ctx->err, ctx->errlen, "%s: %s.%s: %s", ctx->file, ctx->key_prefix, key, problem);
}

static int key_listed(const char *key, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

int source_check_keys(yajl_val route, const char *source_name, const char *const *own_keys,
                      const source_config_ctx *ctx)
{
    for (size_t i = 0; YAJL_IS_OBJECT(route) && i < route->u.object.len; i++) {
        const char *key = route->u.object.keys[i];
        if (!key_listed(key, route_common_keys) && !key_listed(key, own_keys)) {
            source_config_error(ctx, key, "unknown key for source %s", source_name);
            return -1;
        }
    }
    return 0;
}

int source_read_tolerance(yajl_val route, long default_s, long max_s, long *out, const source_config_ctx *ctx)
{
    yajl_val v = json_member(route, "tolerance_s");
    *out = default_s;
    if (v == NULL)
        return 0;
    if (!YAJL_IS_INTEGER(v) || v->u.number.i < 1 || v->u.number.i > max_s) {
        source_config_error(ctx, "tolerance_s", "must be an integer from 1 to %ld", max_s);
        return -1;
    }
    *out = (long)v->u.number.i;
    return 0;
}

int source_timestamp_fresh(const char *ts, size_t len, time_t now, long tolerance_s, const char *header_name,
                           char *detail, size_t detail_len)
{
    int digits = len > 0 && len <= SOURCE_TIMESTAMP_MAX_DIGITS;
    long long seconds = 0;
    for (size_t i = 0; digits && i < len; i++) {
        digits = ts[i] >= '0' && ts[i] <= '9';
        seconds = seconds * 10 + (ts[i] - '0');
    }
    if (!digits) {
        snprintf(detail, detail_len, "invalid %s header", header_name);
        return -1;
    }
    long long skew = (long long)now - seconds;
    if (skew > tolerance_s || skew < -tolerance_s) {
        snprintf(detail, detail_len, "timestamp outside the %ld s tolerance", tolerance_s);
        return -1;
    }
    return 0;
}

int source_read_string(yajl_val route, const char *key, int lower, char **out, const source_config_ctx *ctx)
{
    yajl_val v = json_member(route, key);
    if (v == NULL)
        return 0;
    if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0') {
        source_config_error(ctx, key, "must be a non-empty string");
        return -1;
    }
    char *copy = strdup(v->u.string);
    if (copy == NULL) {
        source_config_error(ctx, key, "out of memory");
        return -1;
    }
    /* Header names are case-insensitive; lookups take them lower-case. */
    for (char *p = copy; lower && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    free(*out);
    *out = copy;
    return 0;
}

int source_scalar_at(yajl_val tree, const char *path, char **out, char *detail, size_t detail_len)
{
    yajl_val v = path ? json_get(tree, path) : NULL;
    if (v == NULL || YAJL_IS_NULL(v))
        return 0;
    const char *s = json_scalar(v);
    if (s == NULL) {
        snprintf(detail, detail_len, "%s is not a scalar", path);
        return -1;
    }
    if (s[0] != '\0' && (*out = strdup(s)) == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    return 0;
}

/* The path keys, the source_paths member each is read into and the event
 * member it fills: reading, filling and freeing are one loop each. */
typedef struct source_path_key {
    const char *key;
    size_t path_offset;
    size_t event_offset;
} source_path_key;

static const source_path_key path_keys[] = {
    {"event_type_path", offsetof(source_paths, event_type_path), offsetof(meeting_event, event_type)},
    {"activity_id_path", offsetof(source_paths, activity_id_path),
     offsetof(meeting_event, close_activity_id)},
    {"zoom_meeting_id_path", offsetof(source_paths, zoom_meeting_id_path),
     offsetof(meeting_event, keys.zoom_meeting_id)},
    {"join_url_path", offsetof(source_paths, join_url_path), offsetof(meeting_event, keys.join_url)},
    {"start_time_path", offsetof(source_paths, start_time_path), offsetof(meeting_event, keys.start_time)},
    {"ical_uid_path", offsetof(source_paths, ical_uid_path), offsetof(meeting_event, keys.ical_uid)},
    {"calendar_event_id_path", offsetof(source_paths, calendar_event_id_path),
     offsetof(meeting_event, keys.calendar_event_id)},
};
#define SOURCE_NPATH_KEYS (sizeof(path_keys) / sizeof(path_keys[0]))

static char **path_field(source_paths *p, const source_path_key *k)
{
    return (char **)((char *)p + k->path_offset);
}

static char *const *path_field_const(const source_paths *p, const source_path_key *k)
{
    return (char *const *)((const char *)p + k->path_offset);
}

static char **event_field(meeting_event *ev, const source_path_key *k)
{
    return (char **)((char *)ev + k->event_offset);
}

int source_paths_check_keys(yajl_val route, const char *source_name, const char *const *own_keys,
                            const source_config_ctx *ctx)
{
    const char *all[SOURCE_MAX_OWN_KEYS + SOURCE_NPATH_KEYS + 1];
    size_t n = 0;
    for (; own_keys != NULL && *own_keys != NULL && n < SOURCE_MAX_OWN_KEYS; own_keys++)
        all[n++] = *own_keys;
    for (size_t i = 0; i < SOURCE_NPATH_KEYS; i++)
        all[n++] = path_keys[i].key;
    all[n] = NULL;
    return source_check_keys(route, source_name, all, ctx);
}

void source_paths_free(source_paths *paths)
{
    for (size_t i = 0; i < SOURCE_NPATH_KEYS; i++) {
        char **field = path_field(paths, &path_keys[i]);
        free(*field);
        *field = NULL;
    }
}

int source_paths_read(yajl_val route, const char *default_event_type_path, source_paths *out,
                      const source_config_ctx *ctx)
{
    *out = (source_paths){0};
    for (size_t i = 0; i < SOURCE_NPATH_KEYS; i++) {
        if (source_read_string(route, path_keys[i].key, 0, path_field(out, &path_keys[i]), ctx) != 0) {
            source_paths_free(out);
            return -1;
        }
    }
    if (out->event_type_path == NULL && (out->event_type_path = strdup(default_event_type_path)) == NULL) {
        source_config_error(ctx, "event_type_path", "out of memory");
        source_paths_free(out);
        return -1;
    }
    return 0;
}

int source_paths_fill(const source_paths *paths, yajl_val tree, meeting_event *ev, char *detail,
                      size_t detail_len)
{
    for (size_t i = 0; i < SOURCE_NPATH_KEYS; i++) {
        const source_path_key *k = &path_keys[i];
        if (source_scalar_at(tree, *path_field_const(paths, k), event_field(ev, k), detail, detail_len) != 0)
            return -1;
    }
    return 0;
}

int source_create_check(yajl_val route, const char *source_name, const char *const *own_keys,
                        const char *secret, const char *secret_required, const source_config_ctx *ctx)
{
    if (!YAJL_IS_OBJECT(route)) {
        snprintf(ctx->err, ctx->errlen, "%s: %s: must be an object", ctx->file, ctx->key_prefix);
        return -1;
    }
    if (source_check_keys(route, source_name, own_keys, ctx) != 0)
        return -1;
    if (secret_required != NULL && (secret == NULL || secret[0] == '\0')) {
        source_config_error(ctx, "secret", "%s", secret_required);
        return -1;
    }
    return 0;
}

void *source_alloc(size_t size, const char *secret, char **secret_copy, const source_config_ctx *ctx)
{
    void *self = calloc(1, size);
    char *copy = self != NULL ? strdup(secret) : NULL;
    if (copy == NULL) {
        free(self);
        snprintf(ctx->err, ctx->errlen, "%s: %s: out of memory", ctx->file, ctx->key_prefix);
        return NULL;
    }
    *secret_copy = copy;
    return self;
}

int source_emit(event_list *out, meeting_event *ev, int oom, char *detail, size_t detail_len)
{
    meeting_event *slot = oom ? NULL : event_list_add(out);
    if (slot == NULL) {
        meeting_event_clear(ev);
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    *slot = *ev;
    return 0;
}

int source_answer_json(source_answer *ans, int status, const char *k1, const char *v1, const char *k2,
                       const char *v2)
{
    ans->status = status;
    ans->content_type = "application/json";
    ans->body = NULL;
    ans->body_len = 0;
    yajl_gen g = json_gen_new();
    if (g != NULL) {
        yajl_gen_map_open(g);
        json_gen_kv_str(g, k1, v1);
        json_gen_kv_str(g, k2, v2);
        if (yajl_gen_map_close(g) == yajl_gen_status_ok)
            ans->body = json_gen_take(g, &ans->body_len);
        yajl_gen_free(g);
    }
    if (ans->body == NULL)
        ans->status = 500;
    return 1;
}

int source_no_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans)
{
    (void)self;
    (void)req;
    (void)tree;
    (void)ans;
    return 0;
}

const char *source_text_at(yajl_val root, const char *path)
{
    const char *s = json_scalar(json_get(root, path));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

char *source_dup(const char *s, int *oom)
{
    char *copy = s ? strdup(s) : NULL;
    *oom |= s != NULL && copy == NULL;
    return copy;
}
