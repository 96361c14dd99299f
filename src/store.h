/* store: the one interface to the durable store, opened once per process and
 * handed to the queue, the meeting cache and the OAuth registry, the way
 * curl's struct Curl_ssl sits over its TLS backends. A backend is one set of
 * files implementing store_ops (store_sqlite*.c today; a PostgreSQL backend
 * would be store_pg*.c plus one line in store.c), and nothing else in the
 * tree speaks the backend's API.
 *
 * Callers and threads. store_open and store_close run on one thread (main,
 * or a test) while nothing else uses the store. Every op is thread-safe and
 * may be called at once from the queue's writer thread, delivery workers,
 * the admin and intake threads and CLI tools; each op is atomic: it commits
 * all its changes or none. Other processes may have the same store open (a
 * `dlq` tool beside `serve`): every op must stay correct against them, and
 * ops wait (SQLite: busy timeout 5 s) rather than fail on a brief conflict.
 *
 * Memory. Strings passed in are borrowed for the call only. Rows, strings
 * and tokens handed out are malloc'ed and the caller's (queue_row_clear,
 * free; tokens are secrets: the caller wipes them). Static text is said so.
 *
 * Errors. Unless stated otherwise an op returns 0 (or a count >= 0) on
 * success and -1 on a store error, which the backend has already logged
 * without any payload or secret. err/errlen, where present, get a message
 * naming the store (its path) for the caller to show.
 *
 * The data (queue.h's row): id (assigned at insert, increasing in insert
 * order, never reused even after deletes), route, credential, dedup_key
 * (NULL: none), order_key (NULL: none), payload, state (pending, inflight,
 * done, dead), attempts, created_at, next_attempt_at (unix ms), last_error,
 * and a count of the starts that found the row inflight (poison detection).
 * Times are wall-clock unix ms, passed in by the caller. */
#ifndef CLOSEHOOK_STORE_H
#define CLOSEHOOK_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue.h"

typedef struct store store;
typedef struct store_ops store_ops;

/* Every backend's handle starts with this; the rest is the backend's. */
struct store {
    const store_ops *ops;
};

/* The settles of a claimed row; see store_ops.settle. */
typedef enum { STORE_SETTLE_DONE, STORE_SETTLE_RETRY, STORE_SETTLE_DEAD } store_settle;

/* The starts in a row a row may be found inflight before recover_inflight
 * dead-letters it as poisoned (it is taken to be what kills the process). */
#define STORE_POISON_STARTS 5

struct store_ops {
    const char *name; /* "sqlite" */

    /* ---- lifecycle (backend-private; use store_open / store_close) ---- */
    /* Opens or creates the store at location (the backend's spelling: a file
     * path for sqlite), creates or migrates the schema to this build's
     * version (refusing one newer than this build), and checks the store is
     * sound (sqlite: quick_check). NULL with err. */
    store *(*open)(const char *location, char *err, size_t errlen);
    void (*close)(store *s);
    /* The location as given to open (static for the store's life). */
    const char *(*location)(const store *s);

    /* ---- queue: accepting (the queue's writer thread only) ---- */
    /* Caps the store's size at max_size_mb (> 0): past it inserts fail as on
     * a full disk, while claims and settles still work so a backlog drains. */
    int (*set_max_size)(store *s, long max_size_mb);
    /* Stores a batch (the jobs linked by ->next) in ONE transaction, in list
     * order (ids follow it). Per job: QUEUE_ACCEPTED with the new id, or
     * QUEUE_DUPLICATE with the id of the row already holding (route,
     * dedup_key), whether committed before or earlier in this batch (dedup is
     * unique per route among stored rows; NULL keys never collide), or, for a
     * job lacking route, credential or payload, QUEUE_FAILED with error set
     * and nothing stored for it. All-or-nothing: when the transaction fails,
     * every job is QUEUE_FAILED, id 0, error "store <stage> failed: …", and
     * nothing is stored. New rows are pending, due at now_ms, created_at
     * now_ms. Returns the rows stored (0 on failure). */
    long (*insert_batch)(store *s, queue_job *batch, int64_t now_ms);
    /* Rows pending, inflight and dead (done left 0): cheap enough once a
     * second. */
    int (*depth)(store *s, queue_counts *out);
    /* Deletes up to a bounded number (10000) of done rows created before
     * before_ms; returns the rows deleted. */
    long (*prune_done)(store *s, int64_t before_ms);
    /* Why intake must stop now (static text), or NULL: the store's space is
     * under the reserve kept for claims and settles, or the store was removed
     * or replaced under this process. Logs once per episode. Writer thread. */
    const char *(*intake_refusal)(store *s);
    /* 1 once the store was found removed or replaced (sticky); any thread. */
    int (*lost)(const store *s);

    /* ---- queue: delivering (any thread) ---- */
    /* "Inflight" means held by a worker of the one serving process. At
     * serve's start no worker exists, so every inflight row was cut off by a
     * crash or stop: in one transaction, rows already found inflight at
     * STORE_POISON_STARTS - 1 earlier starts go dead (last_error says
     * poisoned), the rest go pending with their start count + 1. *dead gets
     * the rows dead-lettered; returns the rows made pending. Only serve calls
     * it, before its workers start. */
    long (*recover_inflight)(store *s, long *dead);
    /* Atomically moves one row pending -> inflight (attempts + 1) and fills
     * *row: the lowest id that is pending, due (next_attempt_at <= now_ms),
     * whose credential is one of the namong in among (among NULL: any
     * credential; namong 0: none, nothing is claimed), and that has no older
     * (lower id) row with the same order_key still pending or inflight (the
     * ordering guarantee: rows sharing an order_key are claimed one at a time,
     * in id order). Two concurrent claims never get the same row. 1 claimed;
     * 0 none due, with *next_due_ms (when not NULL) the earliest
     * next_attempt_at of a row that would be claimable among the same
     * credentials (-1: none); -1 store error. A claim among credentials must
     * cost in proportion to their rows, not to other credentials' backlogs. */
    int (*claim)(store *s, int64_t now_ms, const char *const *among, size_t namong, queue_row *row,
                 int64_t *next_due_ms);
    /* Settles row id, only while it is inflight: DONE; RETRY (pending, due at
     * when_ms, last_error = error, start count reset); DEAD (last_error =
     * error). 0 changed; -1 not inflight (nothing done); QUEUE_STORE_ERROR
     * the write failed (the row is still inflight). */
    int (*settle)(store *s, store_settle how, int64_t id, int64_t when_ms, const char *error);

    /* ---- queue: operators (any thread, CLI tools) ---- */
    int (*counts)(store *s, queue_counts *out);
    /* fn for each dead row (route NULL: all), in id order, inside one read;
     * fn must not call into the store. */
    int (*list_dead)(store *s, const char *route, queue_row_fn fn, void *arg);
    /* One row by id: 1 found (*state static text, *last_error malloc'ed or
     * NULL), 0 none, -1 error. */
    int (*get)(store *s, int64_t id, queue_row *row, const char **state, char **last_error);
    /* Dead rows (id 0: all; route NULL: all) -> pending, attempts 0, due and
     * created at now_ms, last_error cleared. Returns the rows changed. */
    long (*replay)(store *s, int64_t id, const char *route, int64_t now_ms);
    /* Deletes dead rows (route NULL: all) created at or before before_ms;
     * their dedup keys go with them. Returns the rows deleted. */
    long (*purge_dead)(store *s, const char *route, int64_t before_ms);

    /* ---- meeting cache (any thread) ---- */
    /* Makes the cache usable (sqlite: its table, its own connection so cache
     * writes never wait behind a group commit). Idempotent. 0, or -1 with err. */
    int (*cache_open)(store *s, char *err, size_t errlen);
    /* The activity id for key expiring after now (unix s), malloc'ed, or NULL
     * (absent, expired, or error). */
    char *(*cache_get)(store *s, const char *key, time_t now);
    /* key -> activity_id until expires_at, replacing what was there. */
    int (*cache_put)(store *s, const char *key, const char *activity_id, time_t expires_at);
    /* Deletes key while it maps to activity_id (NULL: to anything); rows. */
    int (*cache_forget)(store *s, const char *key, const char *activity_id);
    /* Deletes entries with expires_at <= now; rows. */
    int (*cache_prune)(store *s, time_t now);

    /* ---- OAuth token pairs (any thread) ---- */
    /* Makes token storage usable (sqlite: table and a FULL-synchronous
     * connection). Idempotent. 0, or -1 with err. */
    int (*tokens_open)(store *s, char *err, size_t errlen);
    /* The stored pair of credential: 1 with *access and *refresh malloc'ed
     * (secrets: wipe) and *expires_at (unix s, 0 unknown); 0 none (or an
     * empty one); -1 error. */
    int (*token_load)(store *s, const char *credential, char **access, char **refresh, int64_t *expires_at);
    /* Replaces credential's pair in one durable commit (it must survive a
     * power loss once this returns 0): both tokens or neither. */
    int (*token_save)(store *s, const char *credential, const char *access, const char *refresh,
                      int64_t expires_at, int64_t now);
};

/* Opens the store named by spec: "<backend>:<location>" ("sqlite:/var/lib/
 * closehook/store.db"), or a bare path, which is sqlite. Main thread. NULL with
 * err (unknown backend, or the backend's open error). */
store *store_open(const char *spec, char *err, size_t errlen);
/* Closes s (NULL is fine) once nothing uses it any more. */
void store_close(store *s);

/* The backends store_open knows. */
extern const store_ops store_sqlite_ops;

#endif
