/* json: shared yajl helpers, so no module walks yajl trees or escapes JSON by
 * hand. See json.h for the path syntax. */
#include "json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

yajl_val json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    /* yajl_tree_parse wants a C string; a NUL inside a body would silently cut
     * it short, so such bodies are refused instead. */
    if (memchr(buf, '\0', len) != NULL) {
        snprintf(err, errlen, "body contains a NUL byte");
        return NULL;
    }
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
        /* yajl's message spans lines and quotes the input; keep the first line. */
        char *nl = strchr(yerr, '\n');
        if (nl != NULL)
            *nl = '\0';
        snprintf(err, errlen, "invalid JSON: %s", yerr[0] ? yerr : "parse error");
    }
    return v;
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
