/* queue_internal: what queue.c (accepting, claiming, settling) shares with
 * queue_inspect.c (operator reads and dead-letter changes) and nothing else:
 * the store's state and its prepared statements, so the two halves run on the
 * same connections, under the same lock. */
#ifndef CLOSEHOOK_QUEUE_INTERNAL_H
#define CLOSEHOOK_QUEUE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue.h"

/* Statements of the writer connection, used only by the writer thread. */
enum { W_INSERT, W_FIND_DUP, W_DEPTH, W_PRUNE, W_COUNT };

/* Statements of the claim/settle connection, used under q->store_lock. The
 * claim and list queries return the row columns in queue_row's order. */
enum {
    R_CLAIM,
    R_NEXT_DUE,
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

struct queue {
    char *path;

    /* Accepting side: jobs waiting for the writer, FIFO so ids follow
     * submission order (delivery relies on acceptance order). */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_ready;   /* writer: a job arrived or we are stopping */
    pthread_cond_t stopped_cond; /* concurrent queue_stop callers */
    queue_job *head, *tail;
    int stopping, stopped, writer_started;
    void (*notify)(void *arg);
    void *notify_arg;
    pthread_t writer;
    int64_t depth_published_ms;
    /* pending + inflight at the last depth refresh, plus rows stored since:
     * what backpressure compares with store.max_pending, with no SQL. */
    atomic_long undelivered;
    int64_t done_retention_ms; /* 0: keep delivered rows forever */
    int disk_low;              /* writer only: intake stopped for the disk reserve (queue_guard.c) */
    dev_t store_dev;           /* the file opened, to notice it removed or replaced */
    ino_t store_ino;
    atomic_int store_lost; /* set once by the writer; read by queue_store_lost */
    sqlite3 *wdb;
    sqlite3_stmt *wstmt[W_COUNT];

    /* Delivering side: one connection shared under a mutex. */
    pthread_mutex_t store_lock;
    sqlite3 *rdb;
    sqlite3_stmt *rstmt[R_COUNT];
};

/* queue_guard.c: at open, records the file's identity and runs SQLite's
 * quick_check (0, or -1 with err); per batch on the writer, 1 (every job
 * failed with the reason) when intake must stop, else 0. */
int queue_guard_open(queue *q, char *err, size_t errlen);
int queue_guard_refuses(queue *q, queue_job *batch);

/* queue_schema.c: creates or migrates the schema of q->wdb's file to this
 * build's version. 0, or -1 with err naming the path. */
int queue_ensure_schema(queue *q, char *err, size_t errlen);
/* sqlite3_exec without a callback; the SQLite result code. */
int queue_exec_sql(sqlite3 *db, const char *sql);
/* Runs a one-row PRAGMA: its first column as text (when text) or as an int
 * (when value). 0, or -1 on a store error. */
int queue_pragma_step(sqlite3 *db, const char *sql, char *text, size_t textlen, int *value);
/* err = "<path>: <SQLite's message for db>". */
void queue_open_error(const queue *q, sqlite3 *db, char *err, size_t errlen);

/* Wall-clock unix milliseconds: the store's times are comparable across
 * restarts and across processes sharing the file. */
int64_t queue_now_ms(void);
/* Logs a delivering-side store error with the path and SQLite's message. Call
 * under store_lock. */
void queue_store_error(const queue *q, const char *op);
/* Binds s (NULL binds NULL) without copying: s must outlive the statement's use. */
void queue_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* A malloc'ed copy of a text column, NULL for NULL (or out of memory). */
char *queue_column_dup(sqlite3_stmt *st, int col);
/* Fills row from columns id, route, credential, dedup_key, payload, attempts,
 * created_at; -1 when out of memory. */
int queue_row_from_stmt(sqlite3_stmt *st, queue_row *row);

#endif
