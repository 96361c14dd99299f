/* json: the small set of JSON helpers every module shares, on top of yajl.
 *
 * Parsing uses yajl's tree API; generation uses yajl_gen so escaping is always
 * yajl's. Paths are dotted ("payload.object.id"); a numeric segment indexes an
 * array ("summary_details.0.label"). Thread-safe: no global state. */
#ifndef CLOSEHOOK_JSON_H
#define CLOSEHOOK_JSON_H

#include <stddef.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* Nesting deeper than this is refused. Every tree walk (yajl_tree_free,
 * json_gen_value, config checks) recurses once per level, so the bound keeps
 * their stack use small whatever arrives; real payloads nest under 10. */
#define JSON_MAX_DEPTH 64
#define JSON_MAX_DEPTH_TEXT "64"

/* Parses len bytes (not NUL-terminated; bodies are bytes). Refuses embedded NUL
 * bytes, a string or key holding an escaped \u0000 (yajl's tree would cut it
 * there) and nesting deeper than JSON_MAX_DEPTH, without recursing on the
 * input. Comments are accepted (config files use them). On failure returns
 * NULL and writes a one-line reason into err; syntax errors name the line and
 * column ("invalid JSON at line 3, column 7: …"). The caller frees with
 * yajl_tree_free. */
yajl_val json_parse(const char *buf, size_t len, char *err, size_t errlen);

/* 1 when some object in the tree gives one key twice (yajl keeps both, and
 * readers see only the first): path then names it ("routes[1].secret"); 0
 * when every key is unique. Walks without recursion. */
int json_find_duplicate_key(yajl_val root, char *path, size_t cap);

/* The line (from 1) of every string value in buf, in document order (keys
 * are not values; comments are skipped), so a check over the parsed tree can
 * name where its n-th string value sits: malloc'ed, *count entries. buf should
 * be a document json_parse accepted; NULL (and *count 0) when it is not or on
 * out of memory. */
size_t *json_string_value_lines(const char *buf, size_t len, size_t *count);

/* The value at a dotted path, or NULL when any segment is missing. */
yajl_val json_get(yajl_val root, const char *path);

/* The object member called key (exact), or NULL. */
yajl_val json_member(yajl_val obj, const char *key);

/* A scalar as text: strings as-is, numbers in their original spelling,
 * true/false, and NULL for null, objects, arrays and missing values. The
 * pointer borrows from v (or is a static literal). */
const char *json_scalar(yajl_val v);

/* json_scalar of the value at path, strdup'ed; NULL when absent or not scalar. */
char *json_strdup_path(yajl_val root, const char *path);

/* A new generator (no indentation). Free with yajl_gen_free. */
yajl_gen json_gen_new(void);
void json_gen_str(yajl_gen g, const char *s); /* NULL writes null */
void json_gen_kv_str(yajl_gen g, const char *key, const char *value);
void json_gen_kv_int(yajl_gen g, const char *key, long long value);
/* Writes a parsed tree back out (used to embed a sub-tree in another document). */
void json_gen_value(yajl_gen g, yajl_val v);
/* The generated text, malloc'ed and NUL-terminated; the generator is reset. */
char *json_gen_take(yajl_gen g, size_t *len);

#endif
