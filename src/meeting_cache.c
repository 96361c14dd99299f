/* meeting_cache: external meeting key -> Close activity id, with a TTL, in the
 * store. It exists because every lookup costs rate limit against the
 * customer's Close key, and one meeting typically sends four to six webhooks
 * (participants joining, ended, recording, summary). The storage is the
 * store's (store.h cache ops); this file is the TTL policy and the NULL-safe
 * face resolve uses. See meeting_cache.h. */
#include "meeting_cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "store.h"

struct meeting_cache {
    store *store; /* borrowed */
};

meeting_cache *meeting_cache_open(store *s, char *err, size_t errlen)
{
    if (s == NULL) {
        snprintf(err, errlen, "meeting cache: no store");
        return NULL;
    }
    if (s->ops->cache_open(s, err, errlen) != 0)
        return NULL;
    meeting_cache *mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mc->store = s;
    return mc;
}

void meeting_cache_close(meeting_cache *mc)
{
    free(mc);
}

char *meeting_cache_get(meeting_cache *mc, const char *key, time_t now)
{
    if (mc == NULL || key == NULL)
        return NULL;
    return mc->store->ops->cache_get(mc->store, key, now);
}

int meeting_cache_put(meeting_cache *mc, const char *key, const char *activity_id, time_t now, long ttl_s)
{
    if (mc == NULL || key == NULL || activity_id == NULL)
        return -1;
    return mc->store->ops->cache_put(mc->store, key, activity_id, now + ttl_s);
}

int meeting_cache_forget(meeting_cache *mc, const char *key, const char *activity_id)
{
    if (mc == NULL || key == NULL)
        return -1;
    return mc->store->ops->cache_forget(mc->store, key, activity_id);
}

int meeting_cache_prune(meeting_cache *mc, time_t now)
{
    if (mc == NULL)
        return -1;
    return mc->store->ops->cache_prune(mc->store, now);
}
