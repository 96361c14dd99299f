/* queue_fixture: what the store tests (test_queue, test_queue_inspect) share:
 * a fresh store in its own temporary directory per test, and the few steps
 * every test takes (submit and wait, claim the expected row, walk a row to
 * dead), each asserting as it goes so test bodies read as the story. */
#ifndef CLOSEHOOK_QUEUE_FIXTURE_H
#define CLOSEHOOK_QUEUE_FIXTURE_H

#include <stdint.h>

#include "queue.h"

/* The running test's temporary directory and store path (set by
 * queue_fixture_setup). */
extern char queue_fixture_dir[64];
extern char queue_fixture_path[128];

/* Criterion .init/.fini: a new temporary directory, then its removal. */
void queue_fixture_setup(void);
void queue_fixture_teardown(void);

queue *open_store(void);
int64_t now_ms(void);
/* A job on route with dedup key key (may be NULL) and credential "cred-main". */
queue_job make_job(const char *route, const char *key, const char *payload);
/* Submits and waits; asserts the result and returns the row id. */
int64_t submit(queue *q, const char *route, const char *key, queue_result want);
queue_counts counts(queue *q);
/* Claims the row that must be due now and checks it is the expected one. */
void claim_expect(queue *q, int64_t id, queue_row *row);
/* Stores a job on route and walks it to dead with error. */
int64_t make_dead(queue *q, const char *route, const char *key, const char *error);

#endif
