/* rate_limit: per-credential pacing of Close requests, following Close's own
 * rate-limit headers so a steady load above the limit is spread out instead
 * of answered with 429s (close-api.md, "Rate limits").
 *
 * One rate_limit is shared by every delivery worker (and the clients they
 * own); every function is thread-safe (one mutex, held for a few list steps).
 * State is kept per credential name and endpoint group. Close counts requests
 * per key *and* endpoint group ("GETs … and POSTs/PUTs … may be counted as two
 * different API groups"), and every answer reports its own group's budget, so
 * reads (GET) and writes (PUT, POST) each get a budget; mixing them in one
 * would let a roomy read budget hide an exhausted write budget.
 *
 * Protocol for one request: rate_limit_acquire before it (and wait what it
 * says), then rate_limit_observe with the answer, always, also for a
 * transport error (it returns the slot). A 429 pauses only that credential's
 * group, for max(rate_reset, Retry-After).
 *
 * A backlog is scheduled, not slept through: a worker whose slot is further
 * off than RATE_LIMIT_SLEEP_MAX_S books it (rate_limit_book) and puts the row
 * back due at that time; when the row comes back its request carries a
 * BOOKED ticket (rate_limit_slot) and redeems the booking (rate_limit_redeem)
 * instead of queueing behind the schedule again. The shaper knows credentials
 * and groups only, never queue rows.
 * So one credential's backlog goes out at its limit while the workers serve
 * other credentials' rows in between.
 *
 * Times are CLOCK_MONOTONIC seconds (rate_limit_now()), passed in so tests
 * can move the clock. The credential name (not a secret) labels
 * closehook_close_rate_limited_total and closehook_credential_pause_seconds. */
#ifndef CLOSEHOOK_RATE_LIMIT_H
#define CLOSEHOOK_RATE_LIMIT_H

#include <stdint.h>

/* Waits up to this are slept by the worker before sending: a pacing gap or
 * two at Close's limits of tens of requests a second. A longer wait (a
 * backlog's later slot, a 429 pause, a spent budget with a long reset) puts
 * the row back in the queue so the worker serves other credentials; kept
 * short because a sleeping worker serves nobody. */
#define RATE_LIMIT_SLEEP_MAX_S 0.25

typedef enum { RATE_LIMIT_READ, RATE_LIMIT_WRITE } rate_limit_group;

/* How one request takes its slot, carried with the request itself (the
 * ticket): QUEUE asks rate_limit_acquire for the next one; BOOKED redeems the
 * slot its row booked earlier (rate_limit_redeem). Only delivery books, and
 * only for its PUT; which rows hold a booking is delivery's to remember
 * (deferrals.h), not the shaper's. */
typedef enum { RATE_LIMIT_QUEUE, RATE_LIMIT_BOOKED } rate_limit_slot;

/* One answer's rate-limit headers. */
typedef struct rate_limit_info {
    int present;      /* 1 when both remaining and reset were readable */
    double limit;     /* -1 when not given */
    double remaining; /* requests left in the window */
    double reset_s;   /* seconds until the window resets */
} rate_limit_info;

typedef struct rate_limit rate_limit;

/* Reads Close's headers: combined is the "RateLimit: limit=…, remaining=…,
 * reset=…" value, the others the older RateLimit-Limit / -Remaining / -Reset
 * values; NULL for any that is absent. Items may come in any order, with any
 * spacing, separated by ',' or ';'; unknown items are skipped; a number that
 * is negative, not finite or trailed by junk makes that item unreadable.
 * The combined form wins where both give a value. Returns out->present. */
int rate_limit_parse(const char *combined, const char *limit, const char *remaining, const char *reset,
                     rate_limit_info *out);

rate_limit *rate_limit_new(void);
void rate_limit_free(rate_limit *rl);

double rate_limit_now(void);

/* How long to wait before sending one request of group g for credential
 * cred. A result <= max_wait_s reserves a slot: wait that long, send, then
 * rate_limit_observe. A larger result reserves nothing (the credential is
 * paused or its budget spent): do not send; ask again after that long.
 * Slots are spaced at the limit's even pace (window / limit, the window's
 * length learnt from successive resets), or wider inside the current window
 * when Close's remaining budget is smaller than that pace assumes, so a
 * backlog goes out at the limit's rate, not as a burst. A window that passed
 * without a fresh answer is assumed refilled. Before any answer nothing waits
 * but a pause. */
double rate_limit_acquire(rate_limit *rl, const char *cred, rate_limit_group g, double now,
                          double max_wait_s);

/* Books the next free slot of the schedule for a request that will be made
 * later (the row is put back due then), if that slot is more than min_wait_s
 * away. Returns the wait to it, or 0 with nothing booked (send now through
 * rate_limit_acquire). */
double rate_limit_book(rate_limit *rl, const char *cred, rate_limit_group g, double now, double min_wait_s);

/* Takes a booked slot that is due: like rate_limit_acquire, but without
 * queueing behind the schedule; only a pause or a budget Close says is spent
 * can still make it wait (a result > max_wait_s: not taken, book again). */
double rate_limit_redeem(rate_limit *rl, const char *cred, rate_limit_group g, double now, double max_wait_s);

/* Records an answer to a request acquired before: status (0 = no answer),
 * its headers (NULL or !present: none), and retry_after_s, the longer of a
 * 429's body rate_reset and Retry-After. A 429 pauses cred's group g for
 * retry_after_s (or the header's reset, or a default second when Close gave
 * neither), counts closehook_close_rate_limited_total and sets
 * closehook_credential_pause_seconds. */
void rate_limit_observe(rate_limit *rl, const char *cred, rate_limit_group g, double now, long status,
                        const rate_limit_info *info, double retry_after_s);

/* How long a request of group g for cred would have to wait at now, without
 * reserving anything: the pause left, or the time to the window's reset when
 * the budget is spent. 0 when it may go (pacing gaps aside). */
double rate_limit_wait(rate_limit *rl, const char *cred, rate_limit_group g, double now);

#endif
