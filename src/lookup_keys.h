/* lookup_keys: what says how to find the Close meeting a webhook is about
 * (Zoom meeting id, join URL, calendar event id, iCalUID, start time,
 * calendar provider, attendee emails). One struct, embedded in meeting_event
 * (a source fills it) and close_update (mapping copies it there, the queue
 * stores it, resolve reads it), so a new key is added in one place.
 *
 * Contract: plain data helpers, no I/O, no globals: callable from any thread
 * on a struct that thread owns. Every string is malloc'ed and owned by the
 * struct (calendar_type included); lookup_keys_clear frees them. Any member
 * may be NULL. Errors: only out of memory, reported as -1. */
#ifndef CLOSEHOOK_LOOKUP_KEYS_H
#define CLOSEHOOK_LOOKUP_KEYS_H

#include <stddef.h>

typedef struct lookup_keys {
    char *zoom_meeting_id; /* numeric meeting id as text */
    char *join_url;
    char *calendar_event_id;
    char *ical_uid;
    char *start_time;       /* ISO 8601 as the sender wrote it */
    char *calendar_type;    /* "microsoft" | "google": Close's provider_calendar_type; NULL otherwise */
    char **attendee_emails; /* every email the sender names, both sides (resolve sorts them out) */
    size_t nattendee_emails;
} lookup_keys;

/* Every member NULL / 0 (the same as a zeroed struct). */
void lookup_keys_init(lookup_keys *k);
/* Appends a copy of email unless it is NULL, empty or already listed
 * (compared case-insensitively: mailbox names are case-insensitive in
 * practice). 0, or -1 when out of memory (k unchanged). */
int lookup_keys_add_email(lookup_keys *k, const char *email);
/* Replaces *dst (which must be initialized) with a deep copy of *src. 0, or
 * -1 when out of memory, dst then cleared. */
int lookup_keys_copy(lookup_keys *dst, const lookup_keys *src);
/* Frees every member and re-initializes k. */
void lookup_keys_clear(lookup_keys *k);

#endif
