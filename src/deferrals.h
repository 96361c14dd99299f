/* deferrals: the rows delivery put back in the queue because of pacing (not
 * because Close failed): how often each was, so retry backoff counts only
 * real failures (the queue counts every claim as an attempt), and whether it
 * holds a booked rate-limit slot to redeem when it comes back.
 *
 * Owned by delivery, shared by its workers: every function is thread-safe
 * (one mutex, a few list steps). In memory only: after a restart a row's
 * backoff may start a step or two higher (still capped by retry_max_ms) and
 * its booking is gone (it books again). Out of memory loses a note, which
 * only makes that row's backoff a step longer. */
#ifndef CLOSEHOOK_DEFERRALS_H
#define CLOSEHOOK_DEFERRALS_H

#include <stdint.h>

typedef struct deferrals deferrals;

deferrals *deferrals_new(void); /* NULL: out of memory */
void deferrals_free(deferrals *d);

/* The row was put back by pacing; booked: it holds a booked slot. */
void deferrals_note(deferrals *d, int64_t row_id, int booked);
/* How many times the row was put back by pacing (0 for an unknown row). */
int deferrals_count(deferrals *d, int64_t row_id);
/* 1 when the row was put back holding a booking; the booking is handed over
 * (a second call says 0). */
int deferrals_take_booking(deferrals *d, int64_t row_id);
/* The row is settled (done or dead): forget it. */
void deferrals_forget(deferrals *d, int64_t row_id);

#endif
