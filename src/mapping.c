/* mapping: a route's "rules", validated at config load so a typo fails
 * check-config instead of a webhook, then matched and rendered per event into
 * the close_update the queue stores. See mapping.h for the rule keys. */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "template.h"

/* Close ids are "<kind>_<base62>" (acti_…); anything else came from a
 * payload we should not trust to be spliced into the PUT's URL path. */
#define ACTIVITY_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

/* Where a rule's problems are reported: "<where>[<index>]". */
typedef struct rule_ctx {
    const char *where;
    size_t index;
    char *err;
    size_t errlen;
} rule_ctx;

static int rule_fail(const rule_ctx *c, const char *key, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "<where>[<i>].<key>[.<sub>]: <problem>" and returns -1. */
static int rule_fail(const rule_ctx *c, const char *key, const char *sub, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errlen, "%s[%zu]%s%s%s%s: ", c->where, c->index, key ? "." : "",
                     key ? key : "", sub ? "." : "", sub ? sub : "");
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int dup_into(char **dst, const char *s, const rule_ctx *c, const char *key)
{
    *dst = strdup(s);
    return *dst ? 0 : rule_fail(c, key, NULL, "out of memory");
}

static int load_nonempty_string(char **dst, yajl_val v, const rule_ctx *c, const char *key)
{
    if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
        return rule_fail(c, key, NULL, "must be a non-empty string");
    return dup_into(dst, v->u.string, c, key);
}

static int load_template(char **dst, yajl_val v, const rule_ctx *c, const char *key)
{
    if (!YAJL_IS_STRING(v))
        return rule_fail(c, key, NULL, "must be a template string");
    char problem[256];
    if (template_check(v->u.string, problem, sizeof(problem)) != 0)
        return rule_fail(c, key, NULL, "%s", problem);
    return dup_into(dst, v->u.string, c, key);
}

/* ---- one loader per rule key -------------------------------------------- */

static int load_event(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    return load_nonempty_string(&r->event, v, c, key);
}

/* Close's ids carry their kind as a prefix; a value without it is a typo or
 * a paste from the wrong field, and Close would answer every PUT 400. */
#define CLOSE_OUTCOME_PREFIX "outcome_"
#define CLOSE_ACTIVITY_PREFIX "acti_"

static int load_outcome_id(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    if (YAJL_IS_STRING(v) && v->u.string[0] != '\0' &&
        strncmp(v->u.string, CLOSE_OUTCOME_PREFIX, strlen(CLOSE_OUTCOME_PREFIX)) != 0)
        return rule_fail(c, key, NULL, "must be a Close outcome id (\"" CLOSE_OUTCOME_PREFIX "…\")");
    return load_nonempty_string(&r->outcome_id, v, c, key);
}

/* A literal (no "{{") activity id must look like one; a template's value is
 * checked when it is rendered. */
static int load_activity_id(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    if (YAJL_IS_STRING(v) && v->u.string[0] == '\0')
        return rule_fail(c, key, NULL, "must be a non-empty template string");
    if (YAJL_IS_STRING(v) && strstr(v->u.string, "{{") == NULL &&
        strncmp(v->u.string, CLOSE_ACTIVITY_PREFIX, strlen(CLOSE_ACTIVITY_PREFIX)) != 0)
        return rule_fail(c, key, NULL,
                         "must be a Close activity id (\"" CLOSE_ACTIVITY_PREFIX "…\") or a template");
    return load_template(&r->activity_id_template, v, c, key);
}

static int load_note(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    return load_template(&r->note_template, v, c, key);
}

static int load_note_mode(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    const char *mode = YAJL_IS_STRING(v) ? v->u.string : "";
    if (strcmp(mode, "replace") == 0)
        r->note_mode = NOTE_REPLACE;
    else if (strcmp(mode, "append") == 0)
        r->note_mode = NOTE_APPEND;
    else
        return rule_fail(c, key, NULL, "must be \"replace\" or \"append\"");
    return 0;
}

/* Conditions compare text, so only values with a scalar spelling qualify. */
static int load_when(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    if (!YAJL_IS_OBJECT(v))
        return rule_fail(c, key, NULL, "must be an object of \"path\": value");
    size_t n = v->u.object.len;
    r->conditions = calloc(n ? n : 1, sizeof(*r->conditions));
    if (r->conditions == NULL)
        return rule_fail(c, key, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *path = v->u.object.keys[i];
        const char *value = json_scalar(v->u.object.values[i]);
        if (path[0] == '\0')
            return rule_fail(c, key, NULL, "has an empty path");
        if (value == NULL)
            return rule_fail(c, key, path, "must be a string, number or boolean");
        mapping_condition *cond = &r->conditions[r->nconditions++];
        if (dup_into(&cond->path, path, c, key) != 0 || dup_into(&cond->value, value, c, key) != 0)
            return -1;
    }
    return 0;
}

/* The body keys a rule sets through its own keys, so "fields" cannot fight
 * them. */
static const char *const reserved_fields[] = {"outcome_id", "user_note_html"};

/* Keeps an owned copy of the "fields" object: the config tree is freed after
 * load, and yajl has no deep copy, so the object is serialized and re-parsed. */
static int load_fields(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key)
{
    if (!YAJL_IS_OBJECT(v) || v->u.object.len == 0)
        return rule_fail(c, key, NULL, "must be a non-empty object");
    for (size_t i = 0; i < v->u.object.len; i++)
        for (size_t k = 0; k < sizeof(reserved_fields) / sizeof(reserved_fields[0]); k++)
            if (strcmp(v->u.object.keys[i], reserved_fields[k]) == 0)
                return rule_fail(c, key, reserved_fields[k], "set it with the rule's own key, not in fields");
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return rule_fail(c, key, NULL, "out of memory");
    json_gen_value(g, v);
    size_t len = 0;
    r->fields_json = json_gen_take(g, &len);
    yajl_gen_free(g);
    if (r->fields_json == NULL)
        return rule_fail(c, key, NULL, "out of memory");
    char perr[128];
    r->fields = json_parse(r->fields_json, len, perr, sizeof(perr));
    return r->fields ? 0 : rule_fail(c, key, NULL, "%s", perr);
}

typedef int (*rule_key_loader)(mapping_rule *r, yajl_val v, const rule_ctx *c, const char *key);

static const struct {
    const char *key;
    rule_key_loader load;
} rule_keys[] = {
    {"event", load_event},           {"when", load_when}, {"activity_id", load_activity_id},
    {"outcome_id", load_outcome_id}, {"note", load_note}, {"note_mode", load_note_mode},
    {"fields", load_fields},
};

static rule_key_loader loader_for(const char *key)
{
    for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++)
        if (strcmp(rule_keys[i].key, key) == 0)
            return rule_keys[i].load;
    return NULL;
}

static void rule_free(mapping_rule *r)
{
    free(r->event);
    for (size_t i = 0; i < r->nconditions; i++) {
        free(r->conditions[i].path);
        free(r->conditions[i].value);
    }
    free(r->conditions);
    free(r->activity_id_template);
    free(r->outcome_id);
    free(r->note_template);
    yajl_tree_free(r->fields);
    free(r->fields_json);
    memset(r, 0, sizeof(*r));
}

static int load_rule(mapping_rule *r, yajl_val obj, const rule_ctx *c)
{
    if (!YAJL_IS_OBJECT(obj))
        return rule_fail(c, NULL, NULL, "must be an object");
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *key = obj->u.object.keys[i];
        /* A repeated key would silently load twice and leak the first. */
        for (size_t k = 0; k < i; k++)
            if (strcmp(obj->u.object.keys[k], key) == 0)
                return rule_fail(c, key, NULL, "given more than once");
        rule_key_loader load = loader_for(key);
        if (load == NULL)
            return rule_fail(c, key, NULL, "unknown key");
        if (load(r, obj->u.object.values[i], c, key) != 0)
            return -1;
    }
    if (r->event == NULL)
        return rule_fail(c, "event", NULL, "required");
    if (r->outcome_id == NULL && r->note_template == NULL && r->fields == NULL)
        return rule_fail(c, NULL, NULL, "sets nothing: give at least one of outcome_id, note, fields");
    return 0;
}

int mapping_load(yajl_val rules, const char *where, mapping_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!YAJL_IS_ARRAY(rules)) {
        snprintf(err, errlen, "%s: must be an array of rules", where);
        return -1;
    }
    size_t n = rules->u.array.len;
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (out->items == NULL) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        rule_ctx c = {where, i, err, errlen};
        out->count = i + 1; /* so mapping_free releases a half-loaded rule */
        if (load_rule(&out->items[i], rules->u.array.values[i], &c) != 0) {
            mapping_free(out);
            return -1;
        }
    }
    return 0;
}

void mapping_free(mapping_rules *rules)
{
    for (size_t i = 0; i < rules->count; i++)
        rule_free(&rules->items[i]);
    free(rules->items);
    rules->items = NULL;
    rules->count = 0;
}

/* ---- matching ----------------------------------------------------------- */

static int rule_matches(const mapping_rule *r, const meeting_event *ev)
{
    if (strcmp(r->event, "*") != 0 && (ev->event_type == NULL || strcmp(r->event, ev->event_type) != 0))
        return 0;
    for (size_t i = 0; i < r->nconditions; i++) {
        const char *have = json_scalar(json_get(ev->tree, r->conditions[i].path));
        if (have == NULL || strcmp(have, r->conditions[i].value) != 0)
            return 0;
    }
    return 1;
}

int mapping_match(const mapping_rules *rules, const meeting_event *ev)
{
    for (size_t i = 0; i < rules->count; i++)
        if (rule_matches(&rules->items[i], ev))
            return (int)i;
    return -1;
}

/* ---- building ----------------------------------------------------------- */

static int build_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int build_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* strdup that tells "was NULL" apart from "out of memory". */
static int copy_opt(char **dst, const char *s)
{
    if (s == NULL)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

/* The PUT body: outcome_id, the rendered note, then the literal fields. */
static int build_body(const mapping_rule *r, const meeting_event *ev, close_update *out, char *err,
                      size_t errlen)
{
    char *note = NULL;
    if (r->note_template != NULL) {
        char problem[256];
        note = template_render(r->note_template, ev->tree, problem, sizeof(problem));
        if (note == NULL)
            return build_fail(err, errlen, "note: %s", problem);
    }
    yajl_gen g = json_gen_new();
    if (g == NULL) {
        free(note);
        return build_fail(err, errlen, "out of memory");
    }
    yajl_gen_map_open(g);
    if (r->outcome_id != NULL)
        json_gen_kv_str(g, "outcome_id", r->outcome_id);
    if (note != NULL)
        json_gen_kv_str(g, "user_note_html", note);
    for (size_t i = 0; r->fields != NULL && i < r->fields->u.object.len; i++) {
        json_gen_str(g, r->fields->u.object.keys[i]);
        json_gen_value(g, r->fields->u.object.values[i]);
    }
    yajl_gen_map_close(g);
    out->body_json = json_gen_take(g, NULL);
    yajl_gen_free(g);
    free(note);
    return out->body_json ? 0 : build_fail(err, errlen, "out of memory");
}

/* The rule's template wins; else the id the sender named; else NULL and
 * resolve looks the meeting up. Either way the id goes into a URL path, so
 * it must look like a Close id. */
static int build_activity_id(const mapping_rule *r, const meeting_event *ev, close_update *out, char *err,
                             size_t errlen)
{
    if (r->activity_id_template != NULL) {
        char problem[256];
        out->activity_id = template_render(r->activity_id_template, ev->tree, problem, sizeof(problem));
        if (out->activity_id == NULL)
            return build_fail(err, errlen, "activity_id: %s", problem);
        if (out->activity_id[0] == '\0')
            return build_fail(err, errlen, "activity_id template rendered empty");
    } else if (copy_opt(&out->activity_id, ev->close_activity_id) != 0) {
        return build_fail(err, errlen, "out of memory");
    }
    if (out->activity_id != NULL && strspn(out->activity_id, ACTIVITY_ID_CHARS) != strlen(out->activity_id))
        return build_fail(err, errlen, "activity_id has characters a Close id never has");
    return 0;
}

int mapping_build(const mapping_rules *rules, int idx, const meeting_event *ev, close_update *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (idx < 0 || (size_t)idx >= rules->count)
        return build_fail(err, errlen, "no rule %d", idx);
    const mapping_rule *r = &rules->items[idx];
    out->note_mode = r->note_mode;
    out->rule_index = idx;
    if (build_body(r, ev, out, err, errlen) != 0 || build_activity_id(r, ev, out, err, errlen) != 0)
        goto fail;
    if (lookup_keys_copy(&out->keys, &ev->keys) != 0 || copy_opt(&out->sender, ev->sender) != 0 ||
        copy_opt(&out->event_type, ev->event_type) != 0) {
        build_fail(err, errlen, "out of memory");
        goto fail;
    }
    return 0;
fail:
    update_clear(out);
    return -1;
}
