/* store_sqlite_internal: what the SQLite backend's files (store_sqlite.c:
 * open, accepting; store_sqlite_rows.c: claiming, settling, operators;
 * store_sqlite_schema.c; store_sqlite_guard.c; store_sqlite_aux.c: meeting
 * cache and OAuth tokens) share and nothing else: the connections, their
 * statements and locks. Nothing outside store_sqlite*.c includes it. */
#ifndef CLOSEHOOK_STORE_SQLITE_INTERNAL_H
#define CLOSEHOOK_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* How long a connection waits for another one's write lock before failing.
 * A group commit is one fsync (milliseconds); 5 s only trips on a stuck disk. */
#define SQ_BUSY_TIMEOUT_MS 5000

/* Statements of the writer connection (the queue's writer thread). */
enum { W_INSERT, W_FIND_DUP, W_DEPTH, W_PRUNE, W_COUNT };

/* Statements of the claim/settle connection. The claim and list queries
 * return the row columns in queue_row's order. */
enum {
    R_CLAIM,
    R_NEXT_DUE,
    R_PICK_CRED,
    R_CLAIM_ID,
    R_NEXT_DUE_CRED,
    R_DONE,
    R_RETRY,
    R_DEAD,
    R_COUNTS,
    R_LIST_DEAD,
    R_GET,
    R_REPLAY,
    R_PURGE_DEAD,
    R_COUNT
};

/* The meeting cache's statements (its own connection). */
enum { MC_GET, MC_PUT, MC_FORGET, MC_FORGET_ANY, MC_PRUNE, MC_COUNT };

typedef struct sq_store {
    store base; /* first: a store * is an sq_store * */
    char *path;

    /* Every write transaction of this process, the writer's and the delivery
     * side's, runs under lock. SQLite's own busy handler arbitrates between
     * connections by sleeping and retrying, and under load the writer kept
     * losing to back-to-back claims until its 5 s timeout failed whole
     * batches (503s, bench/README.md); a mutex hands the database over
     * without sleeping. Other processes (the dlq tools) still meet the busy
     * timeout. */
    pthread_mutex_t lock;
    sqlite3 *wdb; /* FULL synchronous: what it commits was acknowledged */
    sqlite3_stmt *wstmt[W_COUNT];
    sqlite3 *rdb; /* NORMAL: claims and settles */
    sqlite3_stmt *rstmt[R_COUNT];

    /* store_sqlite_guard.c (writer thread, except store_lost) */
    int disk_low;
    dev_t store_dev; /* the file opened, to notice it removed or replaced */
    ino_t store_ino;
    atomic_int store_lost;

    /* store_sqlite_aux.c: opened on first use, each under its own lock */
    pthread_mutex_t cache_lock;
    sqlite3 *cdb;
    sqlite3_stmt *cst[MC_COUNT];
    pthread_mutex_t token_lock;
    sqlite3 *tdb;
} sq_store;

static inline sq_store *sq_of(store *s)
{
    return (sq_store *)s;
}

/* store_sqlite_rows.c: the claim/settle connection's SQL, and its ops. */
extern const char *const sq_reader_sql[R_COUNT];
long sq_recover_inflight(store *s, long *dead);
int sq_claim(store *s, int64_t now_ms, const char *const *among, size_t namong, queue_row *row,
             int64_t *next_due_ms);
int sq_settle(store *s, store_settle how, int64_t id, int64_t when_ms, const char *error);
int sq_counts(store *s, queue_counts *out);
int sq_list_dead(store *s, const char *route, queue_row_fn fn, void *arg);
int sq_get(store *s, int64_t id, queue_row *row, const char **state, char **last_error);
long sq_replay(store *s, int64_t id, const char *route, int64_t now_ms);
long sq_purge_dead(store *s, const char *route, int64_t before_ms);

/* store_sqlite_guard.c: at open, records the file's identity and runs
 * quick_check (0, or -1 with err); the intake_refusal and lost ops. */
int sq_guard_open(sq_store *q, char *err, size_t errlen);
const char *sq_intake_refusal(store *s);
int sq_lost(const store *s);

/* store_sqlite_schema.c: creates or migrates the schema of q->wdb's file to
 * this build's version. 0, or -1 with err naming the path. */
int sq_ensure_schema(sq_store *q, char *err, size_t errlen);

/* store_sqlite_aux.c: the meeting cache and token ops, and their teardown. */
int sq_cache_open(store *s, char *err, size_t errlen);
char *sq_cache_get(store *s, const char *key, time_t now);
int sq_cache_put(store *s, const char *key, const char *activity_id, time_t expires_at);
int sq_cache_forget(store *s, const char *key, const char *activity_id);
int sq_cache_prune(store *s, time_t now);
int sq_tokens_open(store *s, char *err, size_t errlen);
int sq_token_load(store *s, const char *credential, char **access, char **refresh, int64_t *expires_at);
int sq_token_save(store *s, const char *credential, const char *access, const char *refresh,
                  int64_t expires_at, int64_t now);
void sq_aux_close(sq_store *q);

/* store_sqlite.c: helpers for all of the above. */
/* sqlite3_exec without a callback; the SQLite result code. */
int sq_exec(sqlite3 *db, const char *sql);
/* Runs a one-row PRAGMA: its first column as text (when text) or as an int
 * (when value). 0, or -1 on a store error. */
int sq_pragma_step(sqlite3 *db, const char *sql, char *text, size_t textlen, int *value);
/* err = "<path>: <SQLite's message for db>". */
void sq_open_error(const sq_store *q, sqlite3 *db, char *err, size_t errlen);
/* Opens a connection to q->path with the busy timeout and the given
 * synchronous pragma; NULL with err. */
sqlite3 *sq_connect(const sq_store *q, const char *synchronous_sql, char *err, size_t errlen);
/* Logs a delivering-side store error with the path and SQLite's message for
 * db. Call under the lock that guards db. */
void sq_store_error(const sq_store *q, sqlite3 *db, const char *op);
/* Binds s (NULL binds NULL) without copying: s must outlive the statement's use. */
void sq_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* A malloc'ed copy of a text column, NULL for NULL (or out of memory). */
char *sq_column_dup(sqlite3_stmt *st, int col);

#endif
