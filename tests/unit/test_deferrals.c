/* Tests for deferrals.c: delivery's memory of rows its pacing put back (moved
 * here from the rate limiter with the same assertions). */
#include <criterion/criterion.h>
#include <pthread.h>

#include "deferrals.h"

Test(deferrals, counted_per_row_and_forgotten)
{
    deferrals *d = deferrals_new();
    cr_assert_not_null(d);
    for (int64_t id = 1; id <= 3000; id++)
        deferrals_note(d, id, 0);
    deferrals_note(d, 7, 1);
    deferrals_note(d, 7 + 1024, 0); /* same hash chain */
    cr_assert_eq(deferrals_count(d, 7), 2);
    cr_assert_eq(deferrals_count(d, 7 + 1024), 2);
    cr_assert_eq(deferrals_count(d, 2999), 1);
    cr_assert_eq(deferrals_count(d, 4000), 0);
    cr_assert_eq(deferrals_take_booking(d, 7), 1);
    cr_assert_eq(deferrals_take_booking(d, 7), 0, "handed over once");
    cr_assert_eq(deferrals_take_booking(d, 7 + 1024), 0);
    cr_assert_eq(deferrals_take_booking(d, 4000), 0);
    deferrals_forget(d, 7);
    cr_assert_eq(deferrals_count(d, 7), 0);
    cr_assert_eq(deferrals_count(d, 7 + 1024), 2);
    deferrals_free(d); /* frees the rest: LSan checks */
}

#define THREADS 4
#define PER_THREAD 500

static void *note_many(void *arg)
{
    deferrals *d = arg;
    for (int64_t id = 1; id <= PER_THREAD; id++)
        deferrals_note(d, id, 0);
    return NULL;
}

Test(deferrals, notes_from_several_workers_all_count)
{
    deferrals *d = deferrals_new();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, note_many, d), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int64_t id = 1; id <= PER_THREAD; id++)
        cr_assert_eq(deferrals_count(d, id), THREADS, "row %lld", (long long)id);
    deferrals_free(d);
}
