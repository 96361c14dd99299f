/* lookup_keys: ownership helpers for the keys resolve finds a meeting by
 * (see lookup_keys.h); one copy instead of one per struct that carries them. */
#include "lookup_keys.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lookup_keys_init(lookup_keys *k)
{
    memset(k, 0, sizeof(*k));
}

int lookup_keys_add_email(lookup_keys *k, const char *email)
{
    if (email == NULL || email[0] == '\0')
        return 0;
    for (size_t i = 0; i < k->nattendee_emails; i++)
        if (strcasecmp(k->attendee_emails[i], email) == 0)
            return 0;
    char **grown = realloc(k->attendee_emails, (k->nattendee_emails + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    k->attendee_emails = grown;
    if ((grown[k->nattendee_emails] = strdup(email)) == NULL)
        return -1;
    k->nattendee_emails++;
    return 0;
}

static int copy_opt(char **dst, const char *src)
{
    *dst = NULL;
    return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

int lookup_keys_copy(lookup_keys *dst, const lookup_keys *src)
{
    lookup_keys_clear(dst);
    int oom = copy_opt(&dst->zoom_meeting_id, src->zoom_meeting_id) != 0;
    oom |= copy_opt(&dst->join_url, src->join_url) != 0;
    oom |= copy_opt(&dst->calendar_event_id, src->calendar_event_id) != 0;
    oom |= copy_opt(&dst->ical_uid, src->ical_uid) != 0;
    oom |= copy_opt(&dst->start_time, src->start_time) != 0;
    oom |= copy_opt(&dst->calendar_type, src->calendar_type) != 0;
    for (size_t i = 0; !oom && i < src->nattendee_emails; i++)
        oom = lookup_keys_add_email(dst, src->attendee_emails[i]) != 0;
    if (oom)
        lookup_keys_clear(dst);
    return oom ? -1 : 0;
}

void lookup_keys_clear(lookup_keys *k)
{
    free(k->zoom_meeting_id);
    free(k->join_url);
    free(k->calendar_event_id);
    free(k->ical_uid);
    free(k->start_time);
    free(k->calendar_type);
    for (size_t i = 0; i < k->nattendee_emails; i++)
        free(k->attendee_emails[i]);
    free(k->attendee_emails);
    lookup_keys_init(k);
}
