/* meeting_cache: external meeting key -> Close activity id, with a TTL, in the
 * store. It exists because every lookup costs rate limit against the
 * customer's Close key, and one meeting typically sends four to six webhooks
 * (participants joining, ended, recording, summary). See meeting_cache.h. */
#include "meeting_cache.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The same wait as the queue's connections: a group commit is one fsync, so
 * 5 s only trips on a stuck disk. */
#define MEETING_CACHE_BUSY_TIMEOUT_MS 5000

static const char SCHEMA_SQL[] = "CREATE TABLE IF NOT EXISTS meeting_cache ("
                                 " key TEXT PRIMARY KEY,"
                                 " activity_id TEXT NOT NULL,"
                                 " expires_at INTEGER NOT NULL)";

enum { MC_GET, MC_PUT, MC_FORGET, MC_FORGET_ANY, MC_PRUNE, MC_COUNT };
static const char *const SQL[MC_COUNT] = {
    [MC_GET] = "SELECT activity_id FROM meeting_cache WHERE key = ?1 AND expires_at > ?2",
    [MC_PUT] = "INSERT INTO meeting_cache (key, activity_id, expires_at) VALUES (?1, ?2, ?3)"
               " ON CONFLICT(key) DO UPDATE SET activity_id = excluded.activity_id,"
               " expires_at = excluded.expires_at",
    [MC_FORGET] = "DELETE FROM meeting_cache WHERE key = ?1 AND activity_id = ?2",
    [MC_FORGET_ANY] = "DELETE FROM meeting_cache WHERE key = ?1",
    [MC_PRUNE] = "DELETE FROM meeting_cache WHERE expires_at <= ?1",
};

struct meeting_cache {
    sqlite3 *db;
    sqlite3_stmt *st[MC_COUNT];
    pthread_mutex_t lock;
};

static void cache_error(const meeting_cache *mc, const char *op)
{
    log_write(LOG_WARN, "meeting cache: store error", "op", op, "error", sqlite3_errmsg(mc->db), NULL);
}

/* A cache may lose its last entries on power loss (a lost entry costs one
 * lookup), so NORMAL synchronous is enough; WAL is the file's mode already
 * when the queue opened it first, and asking again is harmless. */
static int configure(meeting_cache *mc, const char *path, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &mc->db, flags, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(mc->db, MEETING_CACHE_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(mc->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(mc->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(mc->db, SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < MC_COUNT; i++)
        if (sqlite3_prepare_v2(mc->db, SQL[i], -1, &mc->st[i], NULL) != SQLITE_OK)
            goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s: meeting cache: %s", path, mc->db ? sqlite3_errmsg(mc->db) : "cannot open");
    return -1;
}

meeting_cache *meeting_cache_open(const char *path, char *err, size_t errlen)
{
    meeting_cache *mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&mc->lock, NULL);
    if (configure(mc, path, err, errlen) != 0) {
        meeting_cache_close(mc);
        return NULL;
    }
    return mc;
}

void meeting_cache_close(meeting_cache *mc)
{
    if (mc == NULL)
        return;
    for (int i = 0; i < MC_COUNT; i++)
        sqlite3_finalize(mc->st[i]);
    sqlite3_close(mc->db);
    pthread_mutex_destroy(&mc->lock);
    free(mc);
}

/* Runs a statement to completion with the lock held; returns the changes
 * (or -1), and leaves the statement reset. */
static int run_change(meeting_cache *mc, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(mc->db) : -1;
    if (changed < 0)
        cache_error(mc, op);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return changed;
}

char *meeting_cache_get(meeting_cache *mc, const char *key, time_t now)
{
    if (mc == NULL || key == NULL)
        return NULL;
    char *id = NULL;
    pthread_mutex_lock(&mc->lock);
    sqlite3_stmt *st = mc->st[MC_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        id = strdup((const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        cache_error(mc, "get");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&mc->lock);
    return id;
}

int meeting_cache_put(meeting_cache *mc, const char *key, const char *activity_id, time_t now, long ttl_s)
{
    if (mc == NULL || key == NULL || activity_id == NULL)
        return -1;
    pthread_mutex_lock(&mc->lock);
    sqlite3_stmt *st = mc->st[MC_PUT];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, activity_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)now + ttl_s);
    int changed = run_change(mc, st, "put");
    pthread_mutex_unlock(&mc->lock);
    return changed < 0 ? -1 : 0;
}

int meeting_cache_forget(meeting_cache *mc, const char *key, const char *activity_id)
{
    if (mc == NULL || key == NULL)
        return -1;
    pthread_mutex_lock(&mc->lock);
    sqlite3_stmt *st = mc->st[activity_id ? MC_FORGET : MC_FORGET_ANY];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (activity_id != NULL)
        sqlite3_bind_text(st, 2, activity_id, -1, SQLITE_STATIC);
    int changed = run_change(mc, st, "forget");
    pthread_mutex_unlock(&mc->lock);
    return changed;
}

int meeting_cache_prune(meeting_cache *mc, time_t now)
{
    if (mc == NULL)
        return -1;
    pthread_mutex_lock(&mc->lock);
    sqlite3_stmt *st = mc->st[MC_PRUNE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
    int changed = run_change(mc, st, "prune");
    pthread_mutex_unlock(&mc->lock);
    return changed;
}
