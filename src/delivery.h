/* delivery: worker threads that take due rows from the queue and send them to
 * Close (resolving the meeting first when needed).
 *
 * Outcomes per row: 2xx -> done; transient (5xx, 429, timeout, connection error,
 * meeting not found yet) -> retry with exponential backoff and full jitter,
 * capped at retry_max_ms, until max_age_s after acceptance -> dead; permanent
 * (other 4xx, ambiguous match) -> dead at once with Close's body or the reason.
 * In dry-run (globally, or for a credential whose secret is absent) the PUT is
 * logged instead of sent and the row is marked done.
 * Started and stopped from the main thread. */
#ifndef CLOSEHOOK_DELIVERY_H
#define CLOSEHOOK_DELIVERY_H

#include <stdint.h>

#include "config.h"
#include "queue.h"

typedef struct delivery delivery;

/* Starts cfg->delivery.workers threads. NULL on failure. */
delivery *delivery_start(const config *cfg, queue *q, int dry_run);
/* Makes cfg the config rows are delivered under from now on (SIGHUP reload);
 * the caller keeps the old one allocated until after delivery_stop. A reload
 * adding an OAuth credential is refused before it gets here (reload.c: token
 * state is made at start). Safe from any thread. */
void delivery_set_config(delivery *d, const config *cfg);
/* Wakes the workers (new rows are due). Safe from any thread. */
void delivery_wake(delivery *d);
/* Asks the workers to stop after their current row and joins them. Rows not yet
 * delivered stay in the queue. */
void delivery_stop(delivery *d);

/* Backoff before attempt number `attempts`+1: a uniform random value in
 * [0, min(max_ms, initial_ms * 2^(attempts-1))] ("full jitter"). */
int64_t delivery_backoff_ms(int attempts, long initial_ms, long max_ms);

#endif
