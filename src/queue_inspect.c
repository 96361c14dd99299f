/* queue_inspect: the store as operators see it (counts, one row, the dead
 * letters) and the only changes they make to it (replay, purge). Kept apart
 * from queue.c, whose subject is the hot path: accept, claim, settle. */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

int queue_counts_get(queue *q, queue_counts *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->rstmt[R_COUNTS];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        long n = (long)sqlite3_column_int64(st, 1);
        if (strcmp(state, "pending") == 0)
            out->pending = n;
        else if (strcmp(state, "inflight") == 0)
            out->inflight = n;
        else if (strcmp(state, "done") == 0)
            out->done = n;
        else if (strcmp(state, "dead") == 0)
            out->dead = n;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        queue_store_error(q, "counts");
    pthread_mutex_unlock(&q->store_lock);
    return rc == SQLITE_DONE ? 0 : -1;
}

int queue_list_dead(queue *q, const char *route, queue_row_fn fn, void *arg)
{
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->rstmt[R_LIST_DEAD];
    queue_bind_text(st, 1, route);
    int rc = SQLITE_DONE, ok = 1;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        queue_row row = {0};
        ok = queue_row_from_stmt(st, &row) == 0;
        if (ok)
            fn(&row, (const char *)sqlite3_column_text(st, 7), arg);
        queue_row_clear(&row);
    }
    sqlite3_reset(st);
    if (ok && rc != SQLITE_DONE)
        queue_store_error(q, "list_dead");
    pthread_mutex_unlock(&q->store_lock);
    return ok && rc == SQLITE_DONE ? 0 : -1;
}

/* The names the schema's CHECK allows, as static text for callers. */
static const char *state_name(const unsigned char *text)
{
    static const char *const names[] = {"pending", "inflight", "done", "dead"};
    for (size_t i = 0; text != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp((const char *)text, names[i]) == 0)
            return names[i];
    return "unknown";
}

int queue_get(queue *q, int64_t id, queue_row *row, const char **state, char **last_error)
{
    memset(row, 0, sizeof(*row));
    *state = NULL;
    *last_error = NULL;
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->rstmt[R_GET];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW, ok = 1;
    if (found) {
        *last_error = queue_column_dup(st, 7);
        *state = state_name(sqlite3_column_text(st, 8));
        ok = queue_row_from_stmt(st, row) == 0 && (*last_error || sqlite3_column_type(st, 7) == SQLITE_NULL);
        rc = sqlite3_step(st); /* id is the key: at most one row */
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        queue_store_error(q, "get");
    pthread_mutex_unlock(&q->store_lock);
    if (rc == SQLITE_DONE && ok)
        return found;
    queue_row_clear(row);
    free(*last_error);
    *last_error = NULL;
    *state = NULL;
    return -1;
}

/* Runs R_REPLAY or R_PURGE_DEAD; returns the rows changed, or -1. */
static long dead_rows_change(queue *q, int which, int64_t id, const char *route, int64_t when_ms,
                             const char *op)
{
    pthread_mutex_lock(&q->store_lock);
    sqlite3_stmt *st = q->rstmt[which];
    sqlite3_bind_int64(st, 1, id);
    queue_bind_text(st, 2, route);
    sqlite3_bind_int64(st, 3, when_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    long changed = rc == SQLITE_DONE ? (long)sqlite3_changes(q->rdb) : -1;
    if (rc != SQLITE_DONE)
        queue_store_error(q, op);
    pthread_mutex_unlock(&q->store_lock);
    return changed;
}

long queue_replay(queue *q, int64_t id, const char *route)
{
    return dead_rows_change(q, R_REPLAY, id, route, queue_now_ms(), "replay");
}

long queue_purge_dead(queue *q, int64_t older_than_ms, const char *route)
{
    return dead_rows_change(q, R_PURGE_DEAD, 0, route, queue_now_ms() - older_than_ms, "purge_dead");
}
