/* event: the meeting_event a source makes of one webhook, whatever the sender.
 *
 * A source fills it; mapping reads it to pick a rule and render the update; the
 * server frees it after the request. Strings are malloc'ed and owned by the
 * event; `tree` is borrowed from the request (the parsed body or one entry of a
 * batch) and outlives the event. Any lookup key may be NULL; attendee emails
 * are added with lookup_keys_add_email(&ev->keys, …). */
#ifndef CLOSEHOOK_EVENT_H
#define CLOSEHOOK_EVENT_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "lookup_keys.h"

typedef struct meeting_event {
    const char *sender;      /* the source's name: "zoom", "generic", ... (static) */
    char *event_type;        /* "meeting.ended", "invitee.created", ... never NULL */
    char *dedup_key;         /* the sender's delivery identity; NULL: no dedup */
    char *close_activity_id; /* when the sender names the Close meeting itself */

    lookup_keys keys; /* for resolve; calendar_type "microsoft" | "google" for
                         calendar senders, owned like every key */
    char *end_time;   /* ISO 8601 as the sender wrote it; not a lookup key */

    yajl_val tree;       /* what templates and rule conditions read (borrowed) */
    yajl_val owned_tree; /* a tree the source built itself (no body to borrow,
                            e.g. Google's header-only push); freed with the event */
} meeting_event;

/* A source's output: most webhooks are one event, Graph batches are several. */
typedef struct event_list {
    meeting_event *items;
    size_t count;
} event_list;

/* Appends a zeroed event and returns it (NULL when out of memory). */
meeting_event *event_list_add(event_list *list);
void event_list_free(event_list *list);
void meeting_event_clear(meeting_event *ev);

#endif
