/* resolve: finds the Close meeting activity a webhook is about when the webhook
 * does not carry Close's id.
 *
 * First cut (Zoom): list the credential's meetings whose activity time falls in
 * a window around the sender's start time (Close's meeting list, paged with
 * _limit/_skip, filtered with activity_at__gte/__lte and checked again on
 * starts_at client-side), and keep those whose conference_links[].url holds the
 * Zoom meeting id as the /j/<id> path segment. Exactly one: found. None: not yet
 * (Close's calendar sync lags; delivery retries). Several: ambiguous, a dead
 * letter, never a guess. Runs on a delivery worker thread. */
#ifndef CLOSEHOOK_RESOLVE_H
#define CLOSEHOOK_RESOLVE_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "close_client.h"
#include "update.h"

typedef enum {
    RESOLVE_FOUND,
    RESOLVE_NOT_FOUND,  /* retry later */
    RESOLVE_AMBIGUOUS,  /* dead letter */
    RESOLVE_NO_KEYS,    /* nothing to look up with: dead letter */
    RESOLVE_TRANSIENT,  /* Close did not answer usefully: retry later */
    RESOLVE_PERMANENT   /* Close refused (401/403/400): dead letter */
} resolve_result;

/* Fills *activity_id (malloc'ed) on RESOLVE_FOUND; detail always says what was
 * tried and, for ambiguous, the candidate ids. */
resolve_result resolve_activity(close_client *c, const credential *cred, const close_update *u,
                                long window_s, char **activity_id, char *detail, size_t detail_len);

/* 1 when url's path is /j/<zoom_id> (optionally followed by ?, # or /), else 0.
 * Exposed for the unit tests: the near-misses matter. */
int resolve_zoom_url_matches(const char *url, const char *zoom_id);

/* 1 when the meeting (one element of Close's "data") holds the Zoom id in a
 * conference link and starts within window_s of start (start 0 = any time). */
int resolve_meeting_matches_zoom(yajl_val meeting, const char *zoom_id, time_t start, long window_s);

/* Parses an ISO 8601 / RFC 3339 time ("2026-11-25T09:00:03Z",
 * "2026-11-25T09:00:00+00:00", fractional seconds allowed). -1 on failure. */
time_t resolve_parse_time(const char *iso);

#endif
