/* event: ownership helpers for meeting_event and event_list (see event.h). */
#include "event.h"

#include <stdlib.h>
#include <string.h>

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
    lookup_keys_clear(&ev->keys);
    free(ev->end_time);
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
