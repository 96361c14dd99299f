/* json: shared yajl helpers, so no module walks yajl trees or escapes JSON by
 * hand. See json.h for the path syntax. */
#include "json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* What the first pass over a document learned: how deep it is now, and why
 * it was refused (NULL while acceptable). */
typedef struct json_check {
    int depth;
    const char *refusal;
} json_check;

static int check_open(void *ctx)
{
    json_check *c = ctx;
    if (++c->depth > JSON_MAX_DEPTH) {
        c->refusal = "nested deeper than " JSON_MAX_DEPTH_TEXT " levels";
        return 0;
    }
    return 1;
}

static int check_close(void *ctx)
{
    ((json_check *)ctx)->depth--;
    return 1;
}

/* yajl's tree keeps strings NUL-terminated, so an escaped \u0000 would cut a
 * value (an activity id, a dedup key) short without a word: refused instead. */
static int check_string(void *ctx, const unsigned char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL) {
        ((json_check *)ctx)->refusal = "a string contains \\u0000";
        return 0;
    }
    return 1;
}

static int check_scalar(void *ctx)
{
    (void)ctx;
    return 1;
}

static int check_bool(void *ctx, int b)
{
    (void)b;
    return check_scalar(ctx);
}

static int check_number(void *ctx, const char *s, size_t len)
{
    (void)s;
    (void)len;
    return check_scalar(ctx);
}

static const yajl_callbacks check_callbacks = {
    .yajl_null = check_scalar,
    .yajl_boolean = check_bool,
    .yajl_number = check_number,
    .yajl_string = check_string,
    .yajl_start_map = check_open,
    .yajl_map_key = check_string,
    .yajl_end_map = check_close,
    .yajl_start_array = check_open,
    .yajl_end_array = check_close,
};

/* Line and column (from 1) of byte offset in buf, for syntax errors. */
static void json_position(const char *buf, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (buf[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

static void json_syntax_error(yajl_handle h, const char *buf, size_t len, char *err, size_t errlen)
{
    size_t offset = yajl_get_bytes_consumed(h);
    size_t line, column;
    json_position(buf, offset < len ? offset : len, &line, &column);
    unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)buf, len);
    char first[160] = "parse error";
    if (msg != NULL) {
        snprintf(first, sizeof(first), "%s", (const char *)msg);
        first[strcspn(first, "\n")] = '\0';
        yajl_free_error(h, msg);
    }
    snprintf(err, errlen, "invalid JSON at line %zu, column %zu: %s", line, column, first);
}

/* The first pass: yajl's event parser (an explicit stack, no recursion)
 * checks depth, \u0000 and syntax, so the tree builder, and every walk over
 * a tree (yajl_tree_free recurses), only ever sees bounded documents. */
static int json_check_document(const char *buf, size_t len, char *err, size_t errlen)
{
    json_check c = {0};
    yajl_handle h = yajl_alloc(&check_callbacks, NULL, &c);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yajl_config(h, yajl_allow_comments, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    int rc = 0;
    if (c.refusal != NULL) {
        snprintf(err, errlen, "invalid JSON: %s", c.refusal);
        rc = -1;
    } else if (st != yajl_status_ok) {
        json_syntax_error(h, buf, len, err, errlen);
        rc = -1;
    }
    yajl_free(h);
    return rc;
}

yajl_val json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    /* yajl_tree_parse wants a C string; a NUL inside a body would silently cut
     * it short, so such bodies are refused instead. */
    if (memchr(buf, '\0', len) != NULL) {
        snprintf(err, errlen, "body contains a NUL byte");
        return NULL;
    }
    if (json_check_document(buf, len, err, errlen) != 0)
        return NULL;
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
    char yerr[256] = "";
    yajl_val v = yajl_tree_parse(copy, yerr, sizeof(yerr));
    free(copy);
    if (v == NULL) {
        /* The first pass accepted it, so this is memory, not syntax. */
        yerr[strcspn(yerr, "\n")] = '\0';
        snprintf(err, errlen, "invalid JSON: %s", yerr[0] ? yerr : "parse error");
    }
    return v;
}

/* json_string_value_lines's pass: a cursor (the line at byte pos) that only
 * moves forward, so the whole document is counted once. */
typedef struct value_lines {
    const char *buf;
    yajl_handle h;
    size_t pos, line;
    size_t *lines, n, cap;
} value_lines;

static int note_value_line(void *ctx, const unsigned char *s, size_t len)
{
    (void)s;
    (void)len;
    value_lines *v = ctx;
    /* Inside a callback yajl has consumed the string token itself; JSON
     * strings hold no raw newline, so its end is on its line. */
    size_t end = yajl_get_bytes_consumed(v->h);
    for (; v->pos < end; v->pos++)
        v->line += v->buf[v->pos] == '\n';
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        size_t *grown = realloc(v->lines, cap * sizeof(*grown));
        if (grown == NULL)
            return 0;
        v->lines = grown;
        v->cap = cap;
    }
    v->lines[v->n++] = v->line;
    return 1;
}

size_t *json_string_value_lines(const char *buf, size_t len, size_t *count)
{
    static const yajl_callbacks callbacks = {.yajl_string = note_value_line};
    value_lines v = {.buf = buf, .line = 1};
    *count = 0;
    yajl_handle h = yajl_alloc(&callbacks, NULL, &v);
    if (h == NULL)
        return NULL;
    v.h = h;
    yajl_config(h, yajl_allow_comments, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    if (st != yajl_status_ok) {
        free(v.lines);
        return NULL;
    }
    *count = v.n;
    return v.lines;
}

yajl_val json_member(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

static int segment_is_index(const char *seg, size_t len, size_t *index)
{
    if (len == 0 || len > 9)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)seg[i]))
            return 0;
        n = n * 10 + (size_t)(seg[i] - '0');
    }
    *index = n;
    return 1;
}

yajl_val json_get(yajl_val root, const char *path)
{
    yajl_val v = root;
    const char *p = path;
    while (v != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        size_t index;
        if (YAJL_IS_ARRAY(v) && segment_is_index(p, len, &index)) {
            v = index < v->u.array.len ? v->u.array.values[index] : NULL;
        } else if (YAJL_IS_OBJECT(v)) {
            yajl_val found = NULL;
            for (size_t i = 0; i < v->u.object.len; i++) {
                const char *k = v->u.object.keys[i];
                if (strncmp(k, p, len) == 0 && k[len] == '\0') {
                    found = v->u.object.values[i];
                    break;
                }
            }
            v = found;
        } else {
            v = NULL;
        }
        p += len;
        if (*p == '.')
            p++;
    }
    return v;
}

const char *json_scalar(yajl_val v)
{
    if (v == NULL)
        return NULL;
    if (YAJL_IS_STRING(v))
        return v->u.string;
    if (YAJL_IS_NUMBER(v))
        return v->u.number.r;
    if (YAJL_IS_TRUE(v))
        return "true";
    if (YAJL_IS_FALSE(v))
        return "false";
    return NULL;
}

char *json_strdup_path(yajl_val root, const char *path)
{
    const char *s = json_scalar(json_get(root, path));
    return s ? strdup(s) : NULL;
}

yajl_gen json_gen_new(void)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g != NULL)
        yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    return g;
}

void json_gen_str(yajl_gen g, const char *s)
{
    if (s == NULL)
        yajl_gen_null(g);
    else
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void json_gen_kv_str(yajl_gen g, const char *key, const char *value)
{
    json_gen_str(g, key);
    json_gen_str(g, value);
}

void json_gen_kv_int(yajl_gen g, const char *key, long long value)
{
    json_gen_str(g, key);
    yajl_gen_integer(g, value);
}

void json_gen_value(yajl_gen g, yajl_val v)
{
    if (v == NULL || YAJL_IS_NULL(v)) {
        yajl_gen_null(g);
    } else if (YAJL_IS_STRING(v)) {
        json_gen_str(g, v->u.string);
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            json_gen_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            json_gen_str(g, v->u.object.keys[i]);
            json_gen_value(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
    }
}

char *json_gen_take(yajl_gen g, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
        return NULL;
    char *out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, buf, n);
        out[n] = '\0';
        if (len != NULL)
            *len = n;
    }
    yajl_gen_clear(g);
    return out;
}

/* One open container of json_find_duplicate_key's walk. */
typedef struct dup_frame {
    yajl_val v;
    size_t next;    /* the next member or element to visit */
    size_t pathlen; /* where this container's own path ends in the text */
} dup_frame;

/* Appends ".key" or "[i]" for member i of frame f to path (truncated safely). */
static size_t dup_path_step(char *path, size_t cap, size_t at, const dup_frame *f, size_t i)
{
    int n;
    if (YAJL_IS_OBJECT(f->v))
        n = snprintf(path + at, cap - at, "%s%s", at > 0 ? "." : "", f->v->u.object.keys[i]);
    else
        n = snprintf(path + at, cap - at, "[%zu]", i);
    size_t end = at + (n > 0 ? (size_t)n : 0);
    return end < cap ? end : cap - 1;
}

static int object_repeats_key(yajl_val obj, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(obj->u.object.keys[j], obj->u.object.keys[i]) == 0)
            return 1;
    return 0;
}

int json_find_duplicate_key(yajl_val root, char *path, size_t cap)
{
    dup_frame stack[JSON_MAX_DEPTH + 1];
    size_t depth = 0;
    path[0] = '\0';
    if (YAJL_IS_OBJECT(root) || YAJL_IS_ARRAY(root))
        stack[depth++] = (dup_frame){root, 0, 0};
    while (depth > 0) {
        dup_frame *f = &stack[depth - 1];
        size_t len = YAJL_IS_OBJECT(f->v) ? f->v->u.object.len : f->v->u.array.len;
        if (f->next >= len) {
            depth--;
            continue;
        }
        size_t i = f->next++;
        size_t end = dup_path_step(path, cap, f->pathlen, f, i);
        if (YAJL_IS_OBJECT(f->v) && object_repeats_key(f->v, i))
            return 1;
        yajl_val child = YAJL_IS_OBJECT(f->v) ? f->v->u.object.values[i] : f->v->u.array.values[i];
        if ((YAJL_IS_OBJECT(child) || YAJL_IS_ARRAY(child)) && depth < JSON_MAX_DEPTH + 1)
            stack[depth++] = (dup_frame){child, 0, end};
    }
    path[0] = '\0';
    return 0;
}
