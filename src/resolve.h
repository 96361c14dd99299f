/* resolve: finds the Close meeting activity a webhook is about when the webhook
 * does not carry Close's id. Runs on a delivery worker thread.
 *
 * Cheapest exact step first, each only when the update has its keys:
 *   a. the cache (meeting_cache.h): what an earlier webhook of the same
 *      meeting resolved to; no Close call at all;
 *   b. Meeting Search, for calendar senders (calendar_event_id and
 *      calendar_type): Close's meeting list filtered by
 *      provider_calendar_event_id + provider_calendar_type, and by
 *      starts_at__gte/__lt around the start when there is one (a recurring
 *      event's occurrences share one event id);
 *   c. the iCalUID (ical_uid): the meetings starting within window_s of the
 *      start (Close's list, paged, filtered with activity_at__gte/__lte and
 *      checked again on starts_at), kept when calendar_event_uids holds the
 *      UID exactly (resolve_meeting_matches_ical);
 *   d. the Zoom meeting id (or the /j/<id> of the join URL): among the same
 *      listed meetings, those with a conference_links[].url holding the id as
 *      its /j/<id> path;
 *   e. attendee emails, last and strict: among the same listed meetings, those
 *      starting within attendee_window_s whose attendees hold every external
 *      email of the event (resolve_meeting_matches_attendees).
 * Steps c, d and e need a start time and share one fetch of the list.
 * Exactly one candidate at a step: found (and cached). Several: ambiguous, a
 * dead letter listing them, never a guess. None after every step: not found
 * yet (Close's calendar sync lags; delivery retries), detail saying what was
 * tried. No step possible: no keys. */
#ifndef CLOSEHOOK_RESOLVE_H
#define CLOSEHOOK_RESOLVE_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "close_client.h"
#include "meeting_cache.h"
#include "update.h"

typedef enum {
    RESOLVE_FOUND,
    RESOLVE_NOT_FOUND, /* retry later */
    RESOLVE_AMBIGUOUS, /* dead letter */
    RESOLVE_NO_KEYS,   /* nothing to look up with: dead letter */
    RESOLVE_TRANSIENT, /* Close did not answer usefully: retry later */
    RESOLVE_PERMANENT  /* Close refused (401/403/400): dead letter */
} resolve_result;

typedef struct resolve_options {
    long window_s;          /* resolve.window_s: steps b, c and d */
    long attendee_window_s; /* resolve.attendee_window_s: step e, at most window_s */
    meeting_cache *cache;   /* NULL: no cache */
    long cache_ttl_s;       /* resolve.cache_ttl_s */
    int skip_cache;         /* 1: ask Close even when cached (the cached id got a 404) */
} resolve_options;

/* Fills *activity_id (malloc'ed) on RESOLVE_FOUND, and *from_cache (may be
 * NULL) with 1 when the id came from the cache; detail always says what was
 * tried and, for ambiguous, the candidate ids. An update naming its activity
 * id explicitly is found at once, never cached. */
resolve_result resolve_find(close_client *c, const credential *cred, const close_update *u,
                            const resolve_options *o, char **activity_id, int *from_cache, char *detail,
                            size_t detail_len);

/* Drops u's cache entries while they still map to activity_id: Close answered
 * 404 for it, so the cached answer is stale (meeting deleted or merged). */
void resolve_forget(const resolve_options *o, const credential *cred, const close_update *u,
                    const char *activity_id);

/* resolve_find without a cache, one window for steps c, d and e. */
resolve_result resolve_activity(close_client *c, const credential *cred, const close_update *u, long window_s,
                                char **activity_id, char *detail, size_t detail_len);

/* 1 when url's path is /j/<zoom_id> (optionally followed by ?, # or /), else 0.
 * Exposed for the unit tests: the near-misses matter. */
int resolve_zoom_url_matches(const char *url, const char *zoom_id);

/* 1 when the meeting (one element of Close's "data") holds the Zoom id in a
 * conference link and starts within window_s of start (start 0 = any time). */
int resolve_meeting_matches_zoom(yajl_val meeting, const char *zoom_id, time_t start, long window_s);

/* Step c's rule for one meeting (an element of Close's "data"): 1 when its
 * calendar_event_uids holds ical_uid byte for byte (UIDs are opaque: no case
 * folding, no prefix) and it starts within window_s of start (start 0 = any
 * time). NULL or empty ical_uid: 0. */
int resolve_meeting_matches_ical(yajl_val meeting, const char *ical_uid, time_t start, long window_s);

/* Step e's rule for one meeting (an element of Close's "data"). Emails are
 * compared case-insensitively. The meeting's organizer set is the emails of
 * its attendees[] entries with "is_organizer": true (Close marks the
 * calendar owner, the seller side, so); an event email is external when it is
 * not in that set. The meeting matches when it starts within window_s of start
 * (start must be known: 0 never matches), at least one of the n event emails
 * is external, and every external one is among its attendees[].email. */
int resolve_meeting_matches_attendees(yajl_val meeting, char *const *emails, size_t n, time_t start,
                                      long window_s);

/* Parses an ISO 8601 / RFC 3339 time ("2026-11-25T09:00:03Z",
 * "2026-11-25T09:00:00+00:00", fractional seconds allowed). -1 on failure. */
time_t resolve_parse_time(const char *iso);

#endif
