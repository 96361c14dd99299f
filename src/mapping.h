/* mapping: a route's ordered rules; the first rule that matches an event
 * decides the Close update.
 *
 * Config ("rules" of a route), each rule an object:
 *   "event":        event type to match exactly, or "*" for any   (required)
 *   "when":         {"dotted.path": "value", …} all must equal (scalar text)
 *   "activity_id":  template for the Close activity id; when absent the event's
 *                   own close_activity_id is used, else resolve finds it
 *   "outcome_id":   Close outcome id to set (literal)
 *   "note":         template for user_note_html (template.h)
 *   "note_mode":    "replace" (default) or "append"
 *   "fields":       {"status": "completed", …} extra literal fields for the PUT
 * A rule must set at least one of outcome_id, note, fields.
 * Loaded once at config time; matching and building are read-only and safe
 * from any thread. */
#ifndef CLOSEHOOK_MAPPING_H
#define CLOSEHOOK_MAPPING_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "event.h"
#include "update.h"

typedef struct mapping_condition {
    char *path;
    char *value;
} mapping_condition;

typedef struct mapping_rule {
    char *event;
    mapping_condition *conditions;
    size_t nconditions;
    char *activity_id_template; /* NULL: from the event, else resolve */
    char *outcome_id;
    char *note_template;
    note_mode note_mode;
    yajl_val fields;   /* owned copy's root, or NULL */
    char *fields_json; /* serialized "fields" object members, or NULL */
} mapping_rule;

typedef struct mapping_rules {
    mapping_rule *items;
    size_t count;
} mapping_rules;

/* Loads a route's "rules" array. where is the key prefix for messages, e.g.
 * "config.json: routes[0].rules". Returns 0, or -1 with err naming the rule
 * index, key and problem. */
int mapping_load(yajl_val rules, const char *where, mapping_rules *out, char *err, size_t errlen);
void mapping_free(mapping_rules *rules);

/* The index of the first matching rule, or -1 when none matches. */
int mapping_match(const mapping_rules *rules, const meeting_event *ev);

/* Renders rule index idx for ev into *out (zeroed first). Returns 0, or -1 with
 * err filled (a template could not render, an explicit activity id came out
 * empty, out of memory). */
int mapping_build(const mapping_rules *rules, int idx, const meeting_event *ev, close_update *out, char *err,
                  size_t errlen);

#endif
