/* update: a close_update, what one accepted webhook will do in Close, and its
 * serialized form, which is the queue row's payload.
 *
 * mapping builds it on the request thread; queue stores update_serialize()'s
 * text; delivery reads it back with update_parse(). Strings are malloc'ed and
 * owned by the struct. */
#ifndef CLOSEHOOK_UPDATE_H
#define CLOSEHOOK_UPDATE_H

#include <stddef.h>

#include "lookup_keys.h"

typedef enum { NOTE_REPLACE, NOTE_APPEND } note_mode;

typedef struct close_update {
    char *activity_id; /* explicit Close id; NULL means resolve must find it */
    char *body_json;   /* the PUT body: {"outcome_id":…, "user_note_html":…} */
    note_mode note_mode;

    /* what resolve may use when activity_id is NULL (copied from the event) */
    lookup_keys keys;

    /* for logs and dead letters */
    char *request_id; /* the accepting request's X-Request-Id, sent on to Close */
    char *sender;
    char *event_type;
    int rule_index; /* 0-based index of the rule that matched */
} close_update;

/* JSON text for the queue; malloc'ed, NULL on out of memory. */
char *update_serialize(const close_update *u);
/* Reads update_serialize()'s text back. Returns 0, or -1 with err filled. */
int update_parse(const char *text, size_t len, close_update *out, char *err, size_t errlen);
void update_clear(close_update *u);

/* note_mode "append": the PUT body that appends body_json's user_note_html,
 * as a section, to current_note (the meeting's note as Close has it now; NULL
 * = none). The section is wrapped in <div data-closehook="DIGEST">…</div>,
 * DIGEST naming its content; when current_note already holds that digest or
 * the section verbatim, the note is left out of the body (a retry must not
 * add it twice). *out is the body to PUT, or NULL when nothing is left to
 * send. Returns 0, or -1 with err filled (body_json not an object, OOM). */
int update_append_body(const char *body_json, const char *current_note, char **out, char *err, size_t errlen);

/* The key that orders this update against others for the same Close meeting:
 * the activity id when known, else the best lookup key ("zoom:…", "join:…",
 * "cal:…", "ical:…"). Malloc'ed; NULL when the update names nothing. Two
 * updates for one meeting that name it differently (an explicit id and a Zoom
 * id) are not ordered against each other. */
char *update_order_key(const close_update *u);

#endif
