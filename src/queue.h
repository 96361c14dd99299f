/* queue: the durable hand-off between acceptance and delivery, over a store
 * (store.h; SQLite today). Backend-neutral: the queue keeps the job list, the
 * writer thread and its group commits; rows live in the store.
 *
 * Accepting side: event-loop threads hand a queue_job to queue_submit() and
 * return at once; one writer thread commits every job waiting at that moment in
 * one transaction (group commit: one fsync per batch), then calls each job's
 * on_done from the writer thread. Only after on_done may the sender get its 2xx.
 * A job whose dedup key is already stored is answered QUEUE_DUPLICATE and not
 * stored again.
 *
 * Delivering side: workers claim due rows (pending -> inflight) and settle them
 * (done, retry later, dead). queue_recover_inflight(), called once by `serve`
 * before its workers start, puts rows left inflight by a crash back to pending:
 * delivery is at-least-once. All functions are thread-safe.
 *
 * Row: id, route, credential, dedup_key (unique when not NULL), payload
 * (update.h's JSON), state, attempts, created_at, next_attempt_at, last_error. */
#ifndef CLOSEHOOK_QUEUE_H
#define CLOSEHOOK_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct queue queue;
typedef struct store store;

typedef enum { QUEUE_ACCEPTED, QUEUE_DUPLICATE, QUEUE_FAILED } queue_result;

typedef struct queue_job queue_job;
struct queue_job {
    /* filled by the caller; strings borrowed until on_done returns */
    const char *route;
    const char *credential;
    const char *dedup_key; /* NULL: never a duplicate */
    const char *payload;
    const char *order_key; /* rows sharing it go out one at a time, in id order
                              (update_order_key); NULL: unordered */
    void *owner;           /* the caller's context; the queue never touches it */
    /* filled by the writer thread before on_done */
    queue_result result;
    int64_t id;      /* the new row, or the existing one for a duplicate */
    char error[128]; /* for QUEUE_FAILED */
    /* called once, on the writer thread, after the commit (or its failure);
     * after queue_stop, at once on the submitting thread with QUEUE_FAILED */
    void (*on_done)(queue_job *job);
    queue_job *next; /* private to the queue */
};

typedef struct queue_row {
    int64_t id;
    char *route;
    char *credential;
    char *dedup_key;
    char *payload;
    int attempts;       /* including the current one once claimed */
    int64_t created_at; /* unix ms */
} queue_row;

typedef struct queue_counts {
    long pending, inflight, done, dead;
} queue_counts;

/* Opens (creating) the store at path (store_open) and starts the writer
 * thread; the queue owns that store and queue_close closes it. NULL with err. */
queue *queue_open(const char *path, char *err, size_t errlen);
/* Starts a queue over an open store s, which stays the caller's: it must
 * outlive queue_close. NULL with err. */
queue *queue_open_store(store *s, char *err, size_t errlen);
/* The store under q (borrowed, valid until queue_close): what delivery hands
 * to the meeting cache and the OAuth registry, so the store is opened once. */
store *queue_store(queue *q);
/* Caps the store at max_size_mb (0: no cap; past it, writes fail as on a full
 * disk and submissions come back QUEUE_FAILED) and keeps delivered rows, the
 * dedup memory, for done_retention_s (0: forever). Call right after open.
 * Returns 0, or -1 when the cap could not be set. */
int queue_set_limits(queue *q, long max_size_mb, long done_retention_s);

/* Rows not yet delivered (pending + inflight), as of the last refresh (at most
 * a second old) plus rows stored since; cheap, for backpressure checks on an
 * event loop. */
long queue_undelivered(queue *q);

/* 1 once the store file was removed or replaced under this process (checked
 * by the writer on each batch and every second): intake is refused from then
 * on and /readyz answers 503. Cheap; safe from any thread. */
int queue_store_lost(queue *q);

/* Rows left inflight by a previous process -> pending. Only the serving process
 * calls it, before starting delivery (a dlq tool beside a running daemon must
 * not). Returns the rows changed, or -1. */
long queue_recover_inflight(queue *q);
/* Stops the writer after committing what was submitted, then closes. */
void queue_close(queue *q);
/* The first half of queue_close: from now on queue_submit fails jobs at once
 * (QUEUE_FAILED); returns when everything submitted before has been answered.
 * q stays valid until queue_close (shutdown: stop accepting, then close). */
void queue_stop(queue *q);

/* Hands a job to the writer thread; on_done will be called exactly once. */
void queue_submit(queue *q, queue_job *job);
/* queue_submit and wait for the result (tools and tests). */
queue_result queue_submit_wait(queue *q, queue_job *job);

/* Called (from the writer thread) after each batch that stored new rows, so
 * delivery can wake up. */
void queue_set_notify(queue *q, void (*fn)(void *arg), void *arg);

/* Claims the oldest pending row due at now_ms. 1 with *row filled (free with
 * queue_row_clear), 0 when nothing is due, -1 on a store error. *next_due_ms is
 * set to the earliest future next_attempt_at (or -1) when 0 is returned. */
int queue_claim(queue *q, int64_t now_ms, queue_row *row, int64_t *next_due_ms);
/* queue_claim, only among the namong credentials in among (delivery's
 * per-credential in-flight cap leaves out those at their cap); *next_due_ms
 * then looks at them only. among is only read during the call. */
int queue_claim_among(queue *q, int64_t now_ms, const char *const *among, size_t namong, queue_row *row,
                      int64_t *next_due_ms);
/* Settling a claimed row: 0 when stored; -1 when the row is not inflight (no
 * such row, or an operator changed it meanwhile: nothing to do);
 * QUEUE_STORE_ERROR when the store refused the write (full disk, I/O error):
 * the row is still inflight and the caller must try again. */
#define QUEUE_STORE_ERROR (-2)
int queue_mark_done(queue *q, int64_t id);
int queue_mark_retry(queue *q, int64_t id, int64_t next_attempt_ms, const char *error);
int queue_mark_dead(queue *q, int64_t id, const char *error);
void queue_row_clear(queue_row *row);

int queue_counts_get(queue *q, queue_counts *out);

/* Calls fn for each dead row, oldest first (route NULL = all routes). fn runs
 * with the store locked: it must not call back into the queue. */
typedef void (*queue_row_fn)(const queue_row *row, const char *last_error, void *arg);
int queue_list_dead(queue *q, const char *route, queue_row_fn fn, void *arg);
/* Dead -> pending, due now, attempts reset. Returns rows changed or -1. */
long queue_replay(queue *q, int64_t id /* 0 = all */, const char *route);
/* One row by id, whatever its state (`dlq show`): 1 with *row filled (free
 * with queue_row_clear), *state one of "pending", "inflight", "done", "dead"
 * (static text) and *last_error malloc'ed (NULL when none; the caller frees);
 * 0 when there is no such row; -1 on a store error. */
int queue_get(queue *q, int64_t id, queue_row *row, const char **state, char **last_error);
/* Deletes dead rows accepted at least older_than_ms ago (0: every dead row;
 * route NULL = all routes). Their dedup keys go with them, so a sender's late
 * retry of one is accepted anew. Returns rows deleted or -1. */
long queue_purge_dead(queue *q, int64_t older_than_ms, const char *route);

#endif
