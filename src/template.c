/* template: the mustache-like renderer behind a rule's "note" and "activity_id".
 *
 * A template is compiled into a flat token list (sections know the index of
 * their closing tag), then rendered. Recursion follows the template's own
 * section nesting, which is trusted config; the webhook's data depth is only
 * ever walked iteratively (json_get), so a hostile payload cannot deepen the
 * stack. See template.h for the syntax. */
#include "template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "json.h"

/* A guard against a template multiplying an untrusted array (a section nested
 * in a section over the same list renders n^2 items). Far above any useful
 * meeting note, and four times the default 1 MiB inbound body limit. */
#define TEMPLATE_MAX_OUTPUT (4u * 1024u * 1024u)

/* The first allocation of an output buffer; most notes fit in it. */
#define TEMPLATE_INITIAL_CAP 256u

#define NO_PARENT SIZE_MAX

typedef enum { TOK_TEXT, TOK_VAR, TOK_SECTION, TOK_INVERTED, TOK_CLOSE } tok_kind;

typedef struct tmpl_token {
    tok_kind kind;
    size_t offset;    /* byte offset of the token in the template, for errors */
    size_t len;       /* TOK_TEXT: bytes of literal text at offset */
    const char *name; /* tags: the trimmed name, NUL-terminated in `names` */
    size_t end;       /* sections: index of the matching TOK_CLOSE */
    size_t parent;    /* sections while compiling: the enclosing open section */
} tmpl_token;

typedef struct compiled {
    char *names; /* a copy of the template with NULs written after tag names */
    tmpl_token *toks;
    size_t count, cap;
} compiled;

/* One level of section context: lookups try the innermost item first. */
typedef struct scope {
    yajl_val item;
    const struct scope *outer;
} scope;

typedef struct renderer {
    const compiled *c;
    const char *tmpl;
    yajl_val root;
    char *buf;
    size_t len, cap;
    char *err;
    size_t errlen;
} renderer;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Every error path writes its message and returns -1, so callers stay one line. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Grows the output so `extra` more bytes and a terminating NUL fit. */
static int buf_reserve(char **buf, size_t *len, size_t *cap, size_t extra)
{
    if (*buf != NULL && *len + extra < *cap)
        return 0;
    size_t want = *cap ? *cap : TEMPLATE_INITIAL_CAP;
    while (want <= *len + extra) {
        if (want > SIZE_MAX / 2)
            return -1;
        want *= 2;
    }
    char *grown = realloc(*buf, want);
    if (grown == NULL)
        return -1;
    *buf = grown;
    *cap = want;
    return 0;
}

static int buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (buf_reserve(buf, len, cap, n) != 0)
        return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* The entity for a byte HTML gives meaning to, or NULL for any other byte. */
static const char *html_entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

int template_escape_html(const char *s, size_t len, char **buf, size_t *buf_len, size_t *buf_cap)
{
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < len; i++) {
        const char *entity = html_entity(s[i]);
        if (entity == NULL)
            continue;
        if (buf_append(buf, buf_len, buf_cap, s + run, i - run) != 0 ||
            buf_append(buf, buf_len, buf_cap, entity, strlen(entity)) != 0)
            return -1;
        run = i + 1;
    }
    return buf_append(buf, buf_len, buf_cap, s + run, len - run);
}

/* ---- compiling ---------------------------------------------------------- */

static tmpl_token *add_token(compiled *c, tok_kind kind, size_t offset)
{
    tmpl_token *grown = grow_for_one_more(c->toks, &c->cap, c->count, sizeof(*grown), 16);
    if (grown == NULL)
        return NULL;
    c->toks = grown;
    tmpl_token *t = &c->toks[c->count++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->offset = offset;
    t->parent = NO_PARENT;
    return t;
}

static void compiled_free(compiled *c)
{
    free(c->names);
    free(c->toks);
    memset(c, 0, sizeof(*c));
}

/* Narrows [*from, *to) past leading and trailing whitespace. */
static void trim(const char *s, size_t *from, size_t *to)
{
    while (*from < *to && isspace((unsigned char)s[*from]))
        (*from)++;
    while (*to > *from && isspace((unsigned char)s[*to - 1]))
        (*to)--;
}

static tok_kind tag_kind(char sigil)
{
    switch (sigil) {
    case '#':
        return TOK_SECTION;
    case '^':
        return TOK_INVERTED;
    case '/':
        return TOK_CLOSE;
    default:
        return TOK_VAR;
    }
}

/* Pairs a closing tag with the innermost open section. */
static int close_section(compiled *c, size_t *open, char *err, size_t errlen)
{
    size_t idx = c->count - 1;
    const tmpl_token *t = &c->toks[idx];
    if (*open == NO_PARENT)
        return fail(err, errlen, "closing tag {{/%s}} at offset %zu has no open section", t->name, t->offset);
    tmpl_token *sec = &c->toks[*open];
    if (strcmp(sec->name, t->name) != 0)
        return fail(err, errlen, "closing tag {{/%s}} at offset %zu does not match {{%c%s}} at offset %zu",
                    t->name, t->offset, sec->kind == TOK_SECTION ? '#' : '^', sec->name, sec->offset);
    sec->end = idx;
    *open = sec->parent;
    return 0;
}

/* Adds the tag between "{{" at `at` and "}}" at `close`, keeping the stack of
 * open sections as a parent chain through the tokens. */
static int compile_tag(compiled *c, const char *tmpl, size_t at, size_t close, size_t *open, char *err,
                       size_t errlen)
{
    size_t from = at + 2, to = close;
    trim(tmpl, &from, &to);
    tok_kind kind = from < to ? tag_kind(tmpl[from]) : TOK_VAR;
    if (kind != TOK_VAR) {
        from++;
        trim(tmpl, &from, &to);
    }
    if (from == to)
        return fail(err, errlen, "empty tag name at offset %zu", at);
    /* Catches "{{{raw}}}": unescaped output is deliberately not offered. */
    if (memchr(tmpl + from, '{', to - from) != NULL || memchr(tmpl + from, '}', to - from) != NULL)
        return fail(err, errlen, "brace in tag name at offset %zu", at);
    c->names[to] = '\0';
    tmpl_token *t = add_token(c, kind, at);
    if (t == NULL)
        return fail(err, errlen, "out of memory");
    t->name = c->names + from;
    if (kind == TOK_CLOSE)
        return close_section(c, open, err, errlen);
    if (kind == TOK_SECTION || kind == TOK_INVERTED) {
        t->parent = *open;
        *open = c->count - 1;
    }
    return 0;
}

static int compile(const char *tmpl, compiled *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->names = strdup(tmpl);
    if (c->names == NULL)
        return fail(err, errlen, "out of memory");
    size_t n = strlen(tmpl), pos = 0, open = NO_PARENT;
    while (pos < n) {
        const char *start = strstr(tmpl + pos, "{{");
        size_t at = start ? (size_t)(start - tmpl) : n;
        if (at > pos) {
            tmpl_token *t = add_token(c, TOK_TEXT, pos);
            if (t == NULL)
                return fail(err, errlen, "out of memory");
            t->len = at - pos;
        }
        if (start == NULL)
            break;
        const char *stop = strstr(start + 2, "}}");
        /* "{{a {{b}}" is an unclosed first tag, not a name containing braces. */
        const char *reopen = strstr(start + 2, "{{");
        if (stop == NULL || (reopen != NULL && reopen < stop))
            return fail(err, errlen, "unclosed tag at offset %zu", at);
        size_t close = (size_t)(stop - tmpl);
        if (compile_tag(c, tmpl, at, close, &open, err, errlen) != 0)
            return -1;
        pos = close + 2;
    }
    if (open != NO_PARENT) {
        const tmpl_token *sec = &c->toks[open];
        return fail(err, errlen, "section {{%c%s}} at offset %zu is never closed",
                    sec->kind == TOK_SECTION ? '#' : '^', sec->name, sec->offset);
    }
    return 0;
}

int template_check(const char *tmpl, char *err, size_t errlen)
{
    compiled c;
    int rc = compile(tmpl, &c, err, errlen);
    compiled_free(&c);
    return rc;
}

/* ---- rendering ---------------------------------------------------------- */

/* Section items first, innermost out, then the document root; "." is the
 * innermost item. */
static yajl_val lookup(const renderer *r, const scope *sc, const char *name)
{
    if (strcmp(name, ".") == 0)
        return sc != NULL ? sc->item : r->root;
    for (const scope *s = sc; s != NULL; s = s->outer) {
        yajl_val v = json_get(s->item, name);
        if (v != NULL)
            return v;
    }
    return json_get(r->root, name);
}

/* Mustache's truthiness: what a section runs for and an inverted one skips. */
static int truthy(yajl_val v)
{
    if (v == NULL || YAJL_IS_NULL(v) || YAJL_IS_FALSE(v))
        return 0;
    if (YAJL_IS_STRING(v))
        return v->u.string[0] != '\0';
    if (YAJL_IS_ARRAY(v))
        return v->u.array.len > 0;
    if (YAJL_IS_OBJECT(v))
        return v->u.object.len > 0;
    return 1;
}

/* Checks the growth after each append, so one hostile template/data pair
 * cannot exhaust memory. */
static int out_check(renderer *r, int rc)
{
    if (rc != 0)
        return fail(r->err, r->errlen, "out of memory");
    if (r->len > TEMPLATE_MAX_OUTPUT)
        return fail(r->err, r->errlen, "rendered output exceeds %u bytes", TEMPLATE_MAX_OUTPUT);
    return 0;
}

static int out_raw(renderer *r, const char *s, size_t n)
{
    return out_check(r, buf_append(&r->buf, &r->len, &r->cap, s, n));
}

static int out_escaped(renderer *r, const char *s)
{
    return out_check(r, template_escape_html(s, strlen(s), &r->buf, &r->len, &r->cap));
}

/* An array's scalar items as an HTML list; items that are not scalars (and
 * an array with none) render nothing, since there is no sensible text. */
static int out_list(renderer *r, yajl_val arr)
{
    int any = 0;
    for (size_t i = 0; i < arr->u.array.len; i++) {
        const char *item = json_scalar(arr->u.array.values[i]);
        if (item == NULL)
            continue;
        if ((!any && out_raw(r, "<ul>", 4) != 0) || out_raw(r, "<li>", 4) != 0 || out_escaped(r, item) != 0 ||
            out_raw(r, "</li>", 5) != 0)
            return -1;
        any = 1;
    }
    return any ? out_raw(r, "</ul>", 5) : 0;
}

static int out_value(renderer *r, yajl_val v)
{
    const char *s = json_scalar(v);
    if (s != NULL)
        return out_escaped(r, s);
    if (YAJL_IS_ARRAY(v))
        return out_list(r, v);
    return 0;
}

static int render_range(renderer *r, size_t from, size_t to, const scope *sc);

/* Runs the body of section token i: once per item for an array, once with
 * the value as context for any other truthy value. */
static int render_section(renderer *r, size_t i, const scope *sc)
{
    const tmpl_token *t = &r->c->toks[i];
    yajl_val v = lookup(r, sc, t->name);
    if (t->kind == TOK_INVERTED)
        return truthy(v) ? 0 : render_range(r, i + 1, t->end, sc);
    if (!truthy(v))
        return 0;
    size_t n = YAJL_IS_ARRAY(v) ? v->u.array.len : 1;
    for (size_t k = 0; k < n; k++) {
        scope inner = {YAJL_IS_ARRAY(v) ? v->u.array.values[k] : v, sc};
        if (render_range(r, i + 1, t->end, &inner) != 0)
            return -1;
    }
    return 0;
}

static int render_range(renderer *r, size_t from, size_t to, const scope *sc)
{
    for (size_t i = from; i < to; i++) {
        const tmpl_token *t = &r->c->toks[i];
        int rc = 0;
        if (t->kind == TOK_TEXT) {
            rc = out_raw(r, r->tmpl + t->offset, t->len);
        } else if (t->kind == TOK_VAR) {
            rc = out_value(r, lookup(r, sc, t->name));
        } else if (t->kind == TOK_SECTION || t->kind == TOK_INVERTED) {
            rc = render_section(r, i, sc);
            i = t->end; /* the closing tag; the loop steps past it */
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

char *template_render(const char *tmpl, yajl_val root, char *err, size_t errlen)
{
    compiled c;
    if (compile(tmpl, &c, err, errlen) != 0) {
        compiled_free(&c);
        return NULL;
    }
    renderer r = {.c = &c, .tmpl = tmpl, .root = root, .err = err, .errlen = errlen};
    int rc = render_range(&r, 0, c.count, NULL);
    /* An empty template still yields an empty string, not NULL. */
    if (rc == 0)
        rc = out_raw(&r, "", 0);
    compiled_free(&c);
    if (rc != 0) {
        free(r.buf);
        return NULL;
    }
    return r.buf;
}
