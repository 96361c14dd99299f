/* config_placeholders: the shipped examples mark what only the operator can
 * know (an outcome id from their own Close org) with "REPLACE_WITH"; loaded as
 * a real value it would make every PUT naming it fail at Close, hours later.
 * This walk finds them at load instead, each with its line and key, so
 * check-config and serve refuse an example that was copied but not filled in. */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define PLACEHOLDER_MARK "REPLACE_WITH"
/* Enough of a value to recognise it; the line has other things to say. */
#define PLACEHOLDER_SHOWN 120

typedef struct placeholder_walk {
    loader *ld;
    config *cfg;
    const size_t *lines; /* line of each string value, document order */
    size_t nlines;
    size_t seen; /* string values walked so far */
    char path[CONFIG_KEY_MAX];
} placeholder_walk;

static void note_placeholder(placeholder_walk *w, const char *value)
{
    size_t index = w->seen - 1;
    char at[CONFIG_LINE_MAX / 2];
    if (index < w->nlines)
        snprintf(at, sizeof(at), "%s:%zu: %s", w->ld->file, w->lines[index], w->path);
    else
        snprintf(at, sizeof(at), "%s: %s", w->ld->file, w->path);
    w->cfg->nplaceholders++;
    if (w->ld->flags & CONFIG_LOAD_ALLOW_PLACEHOLDERS) {
        if (w->cfg->placeholder_first == NULL)
            w->cfg->placeholder_first = loader_xstrdup(w->ld, at);
        return;
    }
    size_t klen = strlen(w->path);
    int is_id = klen >= 2 && strcmp(w->path + klen - 2, "id") == 0;
    char line[CONFIG_LINE_MAX];
    snprintf(line, sizeof(line),
             "%s: \"%.*s\" is a placeholder: put the real %s there (or pass --allow-placeholders to "
             "try the example as it is)",
             at, PLACEHOLDER_SHOWN, value, is_id ? "id from Close" : "value");
    loader_add_line(w->ld, line);
}

/* Depth-first in document order, as json_string_value_lines counts; json_parse
 * bounds the depth, so the recursion is bounded too. */
static void walk(placeholder_walk *w, yajl_val v, size_t plen)
{
    if (YAJL_IS_STRING(v)) {
        w->seen++;
        if (strstr(v->u.string, PLACEHOLDER_MARK) != NULL)
            note_placeholder(w, v->u.string);
        return;
    }
    int object = YAJL_IS_OBJECT(v);
    size_t n = object ? v->u.object.len : YAJL_IS_ARRAY(v) ? v->u.array.len : 0;
    for (size_t i = 0; i < n; i++) {
        if (object)
            snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "." : "", v->u.object.keys[i]);
        else
            snprintf(w->path + plen, sizeof(w->path) - plen, "[%zu]", i);
        walk(w, object ? v->u.object.values[i] : v->u.array.values[i], strlen(w->path));
    }
    w->path[plen] = '\0';
}

void config_check_placeholders(loader *ld, config *cfg, yajl_val root, const char *text, size_t len)
{
    placeholder_walk w = {.ld = ld, .cfg = cfg};
    size_t *lines = json_string_value_lines(text, len, &w.nlines);
    w.lines = lines; /* NULL (out of memory): reported without lines */
    walk(&w, root, 0);
    free(lines);
}
