/* meeting_cache: what resolve learned, kept in the store, so a meeting's
 * second webhook (meeting.ended after participant_joined, the summary after
 * the recording) costs no Close lookup at all.
 *
 * Entries key -> activity id with an expiry, kept by the store (store.h's
 * cache ops; SQLite: table meeting_cache on its own connection, so cache
 * writes never wait behind the queue's group commit). Keys are built by
 * resolve ("<credential>/zoom:<id>@<start>", "<credential>/cal:<type>:<id>",
 * …); this module does not interpret them. Opened on the main thread over
 * the process's one store (delivery passes queue_store()), then thread-safe:
 * any delivery worker may call it. Times are unix seconds, passed in so tests
 * can move the clock. */
#ifndef CLOSEHOOK_MEETING_CACHE_H
#define CLOSEHOOK_MEETING_CACHE_H

#include <stddef.h>
#include <time.h>

typedef struct meeting_cache meeting_cache;
typedef struct store store;

/* Makes the cache usable in s (creating its table), which it borrows: s must
 * outlive meeting_cache_close. NULL with err filled. */
meeting_cache *meeting_cache_open(store *s, char *err, size_t errlen);
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
