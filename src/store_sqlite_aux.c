/* store_sqlite_aux: the SQLite backend's side tables, the meeting cache and
 * the OAuth token pairs. Each has its own connection, opened on first need
 * (only a serving daemon with delivery needs them), so cache writes never wait
 * behind the queue's group commit and a token commit is FULL-synchronous
 * whatever the queue's connections are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite_internal.h"

static const char CACHE_SCHEMA_SQL[] = "CREATE TABLE IF NOT EXISTS meeting_cache ("
                                       " key TEXT PRIMARY KEY,"
                                       " activity_id TEXT NOT NULL,"
                                       " expires_at INTEGER NOT NULL)";

static const char *const CACHE_SQL[MC_COUNT] = {
    [MC_GET] = "SELECT activity_id FROM meeting_cache WHERE key = ?1 AND expires_at > ?2",
    [MC_PUT] = "INSERT INTO meeting_cache (key, activity_id, expires_at) VALUES (?1, ?2, ?3)"
               " ON CONFLICT(key) DO UPDATE SET activity_id = excluded.activity_id,"
               " expires_at = excluded.expires_at",
    [MC_FORGET] = "DELETE FROM meeting_cache WHERE key = ?1 AND activity_id = ?2",
    [MC_FORGET_ANY] = "DELETE FROM meeting_cache WHERE key = ?1",
    [MC_PRUNE] = "DELETE FROM meeting_cache WHERE expires_at <= ?1",
};

static const char TOKEN_SCHEMA_SQL[] = "CREATE TABLE IF NOT EXISTS oauth_tokens ("
                                       " credential TEXT PRIMARY KEY,"
                                       " access_token TEXT NOT NULL,"
                                       " refresh_token TEXT NOT NULL,"
                                       " expires_at INTEGER NOT NULL,"
                                       " updated_at INTEGER NOT NULL)";
static const char TOKEN_SELECT_SQL[] =
    "SELECT access_token, refresh_token, expires_at FROM oauth_tokens WHERE credential = ?1";
/* One statement is one transaction: the new access and refresh token land
 * together or not at all. */
static const char TOKEN_UPSERT_SQL[] =
    "INSERT INTO oauth_tokens (credential, access_token, refresh_token, expires_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(credential) DO UPDATE SET"
    " access_token = excluded.access_token, refresh_token = excluded.refresh_token,"
    " expires_at = excluded.expires_at, updated_at = excluded.updated_at";

void sq_aux_close(sq_store *q)
{
    for (int i = 0; i < MC_COUNT; i++)
        sqlite3_finalize(q->cst[i]);
    sqlite3_close(q->cdb);
    sqlite3_close(q->tdb);
    q->cdb = q->tdb = NULL;
}

/* ---- meeting cache ------------------------------------------------------- */

/* A cache may lose its last entries on power loss (a lost entry costs one
 * lookup), so NORMAL synchronous is enough. Call under cache_lock. */
static int cache_connect(sq_store *q, char *err, size_t errlen)
{
    if ((q->cdb = sq_connect(q, "PRAGMA synchronous = NORMAL", err, errlen)) == NULL)
        goto fail;
    if (sq_exec(q->cdb, CACHE_SCHEMA_SQL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < MC_COUNT; i++)
        if (sqlite3_prepare_v2(q->cdb, CACHE_SQL[i], -1, &q->cst[i], NULL) != SQLITE_OK)
            goto fail;
    return 0;
fail:
    if (q->cdb != NULL)
        snprintf(err, errlen, "%s: meeting cache: %s", q->path, sqlite3_errmsg(q->cdb));
    for (int i = 0; i < MC_COUNT; i++) {
        sqlite3_finalize(q->cst[i]);
        q->cst[i] = NULL;
    }
    sqlite3_close(q->cdb);
    q->cdb = NULL;
    return -1;
}

int sq_cache_open(store *s, char *err, size_t errlen)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->cache_lock);
    int rc = q->cdb != NULL ? 0 : cache_connect(q, err, errlen);
    pthread_mutex_unlock(&q->cache_lock);
    return rc;
}

static void cache_error(const sq_store *q, const char *op)
{
    log_write(LOG_WARN, "meeting cache: store error", "op", op, "error", sqlite3_errmsg(q->cdb), NULL);
}

/* Runs a statement to completion with cache_lock held; returns the changes
 * (or -1), and leaves the statement reset. */
static int cache_run_change(sq_store *q, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(q->cdb) : -1;
    if (changed < 0)
        cache_error(q, op);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return changed;
}

char *sq_cache_get(store *s, const char *key, time_t now)
{
    sq_store *q = sq_of(s);
    char *id = NULL;
    pthread_mutex_lock(&q->cache_lock);
    if (q->cdb != NULL) {
        sqlite3_stmt *st = q->cst[MC_GET];
        sq_bind_text(st, 1, key);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            id = strdup((const char *)sqlite3_column_text(st, 0));
        else if (rc != SQLITE_DONE)
            cache_error(q, "get");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    pthread_mutex_unlock(&q->cache_lock);
    return id;
}

int sq_cache_put(store *s, const char *key, const char *activity_id, time_t expires_at)
{
    sq_store *q = sq_of(s);
    int changed = -1;
    pthread_mutex_lock(&q->cache_lock);
    if (q->cdb != NULL) {
        sqlite3_stmt *st = q->cst[MC_PUT];
        sq_bind_text(st, 1, key);
        sq_bind_text(st, 2, activity_id);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)expires_at);
        changed = cache_run_change(q, st, "put");
    }
    pthread_mutex_unlock(&q->cache_lock);
    return changed < 0 ? -1 : 0;
}

int sq_cache_forget(store *s, const char *key, const char *activity_id)
{
    sq_store *q = sq_of(s);
    int changed = -1;
    pthread_mutex_lock(&q->cache_lock);
    if (q->cdb != NULL) {
        sqlite3_stmt *st = q->cst[activity_id ? MC_FORGET : MC_FORGET_ANY];
        sq_bind_text(st, 1, key);
        if (activity_id != NULL)
            sq_bind_text(st, 2, activity_id);
        changed = cache_run_change(q, st, "forget");
    }
    pthread_mutex_unlock(&q->cache_lock);
    return changed;
}

int sq_cache_prune(store *s, time_t now)
{
    sq_store *q = sq_of(s);
    int changed = -1;
    pthread_mutex_lock(&q->cache_lock);
    if (q->cdb != NULL) {
        sqlite3_stmt *st = q->cst[MC_PRUNE];
        sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
        changed = cache_run_change(q, st, "prune");
    }
    pthread_mutex_unlock(&q->cache_lock);
    return changed;
}

/* ---- OAuth token pairs --------------------------------------------------- */

int sq_tokens_open(store *s, char *err, size_t errlen)
{
    sq_store *q = sq_of(s);
    int rc = 0;
    pthread_mutex_lock(&q->token_lock);
    /* FULL: a rotated pair acknowledged by Close must survive a power loss,
     * or the next start holds only dead refresh tokens. */
    if (q->tdb == NULL && (q->tdb = sq_connect(q, "PRAGMA synchronous = FULL", err, errlen)) == NULL)
        rc = -1;
    else if (sq_exec(q->tdb, TOKEN_SCHEMA_SQL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: oauth token store: %s", q->path, sqlite3_errmsg(q->tdb));
        rc = -1;
    }
    pthread_mutex_unlock(&q->token_lock);
    return rc;
}

/* A copy of a text column, NULL for NULL or empty text. */
static char *token_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    return text != NULL && text[0] != '\0' ? strdup((const char *)text) : NULL;
}

static void wipe(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int sq_token_load(store *s, const char *credential, char **access, char **refresh, int64_t *expires_at)
{
    sq_store *q = sq_of(s);
    *access = *refresh = NULL;
    *expires_at = 0;
    pthread_mutex_lock(&q->token_lock);
    sqlite3_stmt *st = NULL;
    int found = -1;
    if (q->tdb != NULL && sqlite3_prepare_v2(q->tdb, TOKEN_SELECT_SQL, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, credential, -1, SQLITE_STATIC) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        found = rc == SQLITE_DONE ? 0 : -1;
        if (rc == SQLITE_ROW) {
            *access = token_dup(st, 0);
            *refresh = token_dup(st, 1);
            *expires_at = sqlite3_column_int64(st, 2);
            found = *access != NULL && *refresh != NULL;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->token_lock);
    if (found != 1) {
        wipe(*access);
        wipe(*refresh);
        *access = *refresh = NULL;
    }
    return found;
}

int sq_token_save(store *s, const char *credential, const char *access, const char *refresh,
                  int64_t expires_at, int64_t now)
{
    sq_store *q = sq_of(s);
    pthread_mutex_lock(&q->token_lock);
    sqlite3_stmt *st = NULL;
    int rc = q->tdb != NULL ? sqlite3_prepare_v2(q->tdb, TOKEN_UPSERT_SQL, -1, &st, NULL) : SQLITE_MISUSE;
    if (rc == SQLITE_OK) {
        sq_bind_text(st, 1, credential);
        sq_bind_text(st, 2, access);
        sq_bind_text(st, 3, refresh);
        sqlite3_bind_int64(st, 4, expires_at);
        sqlite3_bind_int64(st, 5, now);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        log_write(LOG_ERROR, "oauth: cannot store the new token pair; a restart will need a new grant",
                  "credential", credential, "error", q->tdb ? sqlite3_errmsg(q->tdb) : "token store not open",
                  NULL);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->token_lock);
    return rc == SQLITE_DONE ? 0 : -1;
}
