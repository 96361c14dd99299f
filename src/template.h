/* template: renders a rule's note template against a webhook's JSON.
 *
 * The template is trusted config; every value interpolated from the webhook is
 * HTML-escaped (& < > " ').
 *   {{a.b.c}}            the value at a dotted path (json.h); missing or null -> ""
 *                        an array of scalars renders as <ul><li>…</li>…</ul>
 *   {{#a.b}}…{{/a.b}}    section: for an array, once per item, with paths inside
 *                        resolved against the item first, then the root, and
 *                        {{.}} meaning the item itself; for any other present,
 *                        non-false, non-empty value, once; else not at all
 *   {{^a.b}}…{{/a.b}}    inverted: only when the value is missing/false/empty
 * Pure; safe from any thread. */
#ifndef CLOSEHOOK_TEMPLATE_H
#define CLOSEHOOK_TEMPLATE_H

#include <yajl/yajl_tree.h>

/* Checks syntax (balanced tags, no empty names) without rendering, for config
 * load. Returns 0, or -1 with a message naming the offset of the problem. */
int template_check(const char *tmpl, char *err, size_t errlen);

/* Renders tmpl with root as the data. Returns a malloc'ed string, or NULL with
 * err filled (syntax error or out of memory). */
char *template_render(const char *tmpl, yajl_val root, char *err, size_t errlen);

/* Appends the HTML-escaped form of len bytes of s to a malloc'ed buffer;
 * exposed for the tests and for mapping. Returns 0 or -1 (out of memory). */
int template_escape_html(const char *s, size_t len, char **buf, size_t *buf_len, size_t *buf_cap);

#endif
