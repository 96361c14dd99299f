/* event: ownership helpers for meeting_event and event_list (see event.h). */
#include "event.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

meeting_event *event_list_add(event_list *list)
{
    meeting_event *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    list->items = grown;
    meeting_event *ev = &list->items[list->count++];
    memset(ev, 0, sizeof(*ev));
    return ev;
}

void meeting_event_clear(meeting_event *ev)
{
    free(ev->event_type);
    free(ev->dedup_key);
    free(ev->close_activity_id);
    free(ev->zoom_meeting_id);
    free(ev->join_url);
    free(ev->calendar_event_id);
    free(ev->ical_uid);
    free(ev->start_time);
    free(ev->end_time);
    for (size_t i = 0; i < ev->nattendee_emails; i++)
        free(ev->attendee_emails[i]);
    free(ev->attendee_emails);
    yajl_tree_free(ev->owned_tree);
    memset(ev, 0, sizeof(*ev));
}

void event_list_free(event_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        meeting_event_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

int meeting_event_add_email(meeting_event *ev, const char *email)
{
    if (email == NULL || email[0] == '\0')
        return 0;
    for (size_t i = 0; i < ev->nattendee_emails; i++)
        if (strcasecmp(ev->attendee_emails[i], email) == 0)
            return 0;
    char **grown = realloc(ev->attendee_emails, (ev->nattendee_emails + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    ev->attendee_emails = grown;
    if ((grown[ev->nattendee_emails] = strdup(email)) == NULL)
        return -1;
    ev->nattendee_emails++;
    return 0;
}
