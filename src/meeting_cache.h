/* meeting_cache: what resolve learned, kept in the store, so a meeting's
 * second webhook (meeting.ended after participant_joined, the summary after
 * the recording) costs no Close lookup at all.
 *
 * A table meeting_cache(key TEXT PRIMARY KEY, activity_id TEXT NOT NULL,
 * expires_at INTEGER NOT NULL) in the queue's SQLite file, on its own
 * connection (WAL, busy timeout), so cache writes never wait behind the
 * queue's group commit. Keys are built by resolve ("<credential>/zoom:<id>@<start>",
 * "<credential>/cal:<type>:<id>", …); this module does not interpret them.
 * Thread-safe: every call takes the cache's lock. Times are unix seconds,
 * passed in so tests can move the clock. */
#ifndef CLOSEHOOK_MEETING_CACHE_H
#define CLOSEHOOK_MEETING_CACHE_H

#include <stddef.h>
#include <time.h>

typedef struct meeting_cache meeting_cache;

/* Opens (creating the table in) the store at path. NULL with err filled. */
meeting_cache *meeting_cache_open(const char *path, char *err, size_t errlen);
void meeting_cache_close(meeting_cache *mc);

/* The activity id cached for key and not expired at now (malloc'ed), or NULL
 * (absent, expired, or a store error: a miss only costs a lookup). */
char *meeting_cache_get(meeting_cache *mc, const char *key, time_t now);
/* Stores key -> activity_id until now + ttl_s (replacing what was there).
 * 0, or -1 on a store error. */
int meeting_cache_put(meeting_cache *mc, const char *key, const char *activity_id, time_t now, long ttl_s);
/* Forgets key, but only while it still maps to activity_id (NULL: whatever
 * it maps to), so a worker that saw a stale id cannot erase the fresh one
 * another worker just stored. Returns rows removed, or -1. */
int meeting_cache_forget(meeting_cache *mc, const char *key, const char *activity_id);
/* Drops entries expired at now; returns rows removed, or -1. */
int meeting_cache_prune(meeting_cache *mc, time_t now);

#endif
