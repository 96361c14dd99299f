/* Tests for the queue's operator calls (store_sqlite_rows.c through
 * queue.h): what operators see of the store (counts, one row, the dead
 * letters with their errors) and the only changes they make (replay restarts
 * a row's attempts and age; purge takes its dedup key with it). Each test
 * gets its own store in a fresh temporary directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queue_fixture.h"

TestSuite(queue_inspect, .init = queue_fixture_setup, .fini = queue_fixture_teardown);

typedef struct dead_seen {
    int n;
    int64_t ids[4];
    char errors[4][64];
    char routes[4][32];
} dead_seen;

static void collect_dead(const queue_row *row, const char *last_error, void *arg)
{
    dead_seen *seen = arg;
    cr_assert_lt(seen->n, 4);
    seen->ids[seen->n] = row->id;
    snprintf(seen->errors[seen->n], sizeof(seen->errors[0]), "%s", last_error);
    snprintf(seen->routes[seen->n], sizeof(seen->routes[0]), "%s", row->route);
    seen->n++;
}

Test(queue_inspect, dead_rows_are_listed_oldest_first_with_their_error)
{
    queue *q = open_store();
    int64_t a = make_dead(q, "zoom", "e1", "404 meeting not found");
    int64_t b = make_dead(q, "calendly", "e2", "ambiguous: 2 meetings");
    submit(q, "zoom", "e3", QUEUE_ACCEPTED); /* pending: not listed */

    dead_seen all = {0};
    cr_assert_eq(queue_list_dead(q, NULL, collect_dead, &all), 0);
    cr_assert_eq(all.n, 2);
    cr_expect_eq(all.ids[0], a);
    cr_expect_eq(all.ids[1], b);
    cr_expect_str_eq(all.errors[0], "404 meeting not found");
    cr_expect_str_eq(all.errors[1], "ambiguous: 2 meetings");
    cr_expect_str_eq(all.routes[1], "calendly");

    dead_seen calendly = {0};
    cr_assert_eq(queue_list_dead(q, "calendly", collect_dead, &calendly), 0);
    cr_assert_eq(calendly.n, 1);
    cr_expect_eq(calendly.ids[0], b);
    queue_close(q);
}

Test(queue_inspect, replay_makes_dead_rows_claimable_again)
{
    queue *q = open_store();
    int64_t a = make_dead(q, "zoom", "e1", "422");
    int64_t b = make_dead(q, "zoom", "e2", "422");
    int64_t c = make_dead(q, "calendly", "e3", "400");

    int64_t before_replay = now_ms();
    cr_expect_eq(queue_replay(q, a, NULL), 1);
    cr_expect_eq(queue_replay(q, a, NULL), 0, "no longer dead");
    queue_row row;
    claim_expect(q, a, &row);
    cr_expect_eq(row.attempts, 1, "attempts start over");
    cr_expect_geq(row.created_at, before_replay, "the row's age restarts with the replay");
    queue_row_clear(&row);

    cr_expect_eq(queue_replay(q, 0, "calendly"), 1);
    cr_expect_eq(counts(q).dead, 1);
    cr_expect_eq(queue_replay(q, 0, NULL), 1);
    claim_expect(q, b, &row); /* b is older than c, both due now */
    queue_row_clear(&row);
    claim_expect(q, c, &row);
    queue_row_clear(&row);

    dead_seen none = {0};
    cr_assert_eq(queue_list_dead(q, NULL, collect_dead, &none), 0);
    cr_expect_eq(none.n, 0);
    queue_close(q);
}

Test(queue_inspect, counts_follow_every_state)
{
    queue *q = open_store();
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof(key), "e%d", i);
        ids[i] = submit(q, "zoom", key, QUEUE_ACCEPTED);
    }
    queue_row done, dead, inflight;
    claim_expect(q, ids[0], &done);
    claim_expect(q, ids[1], &dead);
    claim_expect(q, ids[2], &inflight);
    cr_assert_eq(queue_mark_done(q, done.id), 0);
    cr_assert_eq(queue_mark_dead(q, dead.id, "400"), 0);
    queue_row_clear(&done);
    queue_row_clear(&dead);
    queue_row_clear(&inflight);

    queue_counts c = counts(q);
    cr_expect_eq(c.pending, 1);
    cr_expect_eq(c.inflight, 1);
    cr_expect_eq(c.done, 1);
    cr_expect_eq(c.dead, 1);
    queue_close(q);
}

Test(queue_inspect, get_shows_one_row_in_any_state_with_its_error)
{
    queue *q = open_store();
    int64_t before = now_ms();
    int64_t dead = make_dead(q, "zoom", "e1", "404 {\"error\": \"Not found.\"}");
    int64_t pending = submit(q, "calendly", "e2", QUEUE_ACCEPTED);

    queue_row row;
    const char *state = NULL;
    char *error = NULL;
    cr_assert_eq(queue_get(q, dead, &row, &state, &error), 1);
    cr_expect_eq(row.id, dead);
    cr_expect_str_eq(row.route, "zoom");
    cr_expect_str_eq(row.credential, "cred-main");
    cr_expect_str_eq(row.dedup_key, "e1");
    cr_expect_str_eq(row.payload, "{\"outcome_id\":\"outcome_1\"}");
    cr_expect_eq(row.attempts, 1);
    cr_expect_geq(row.created_at, before);
    cr_expect_str_eq(state, "dead");
    cr_assert_not_null(error);
    cr_expect_str_eq(error, "404 {\"error\": \"Not found.\"}");
    queue_row_clear(&row);
    free(error);

    cr_assert_eq(queue_get(q, pending, &row, &state, &error), 1);
    cr_expect_str_eq(state, "pending");
    cr_expect_null(error, "a row that never failed has no error");
    cr_expect_eq(row.attempts, 0);
    queue_row_clear(&row);

    cr_expect_eq(queue_get(q, pending + 100, &row, &state, &error), 0, "no such row");
    cr_expect_null(row.route);
    cr_expect_null(error);
    queue_close(q);
}

Test(queue_inspect, purge_deletes_only_dead_rows_old_enough)
{
    queue *q = open_store();
    int64_t a = make_dead(q, "zoom", "e1", "422");
    make_dead(q, "calendly", "e2", "400");
    int64_t pending = submit(q, "zoom", "e3", QUEUE_ACCEPTED);

    const int64_t hour_ms = 3600 * 1000;
    cr_expect_eq(queue_purge_dead(q, hour_ms, NULL), 0, "both dead rows are younger than an hour");
    cr_expect_eq(counts(q).dead, 2);
    cr_expect_eq(queue_purge_dead(q, 0, "calendly"), 1);
    cr_expect_eq(counts(q).dead, 1);
    cr_expect_eq(queue_purge_dead(q, 0, NULL), 1);
    queue_counts c = counts(q);
    cr_expect_eq(c.dead, 0);
    cr_expect_eq(c.pending, 1, "a pending row is never purged");

    queue_row row;
    const char *state;
    char *error;
    cr_expect_eq(queue_get(q, a, &row, &state, &error), 0, "the purged row is gone");
    cr_expect_eq(queue_get(q, pending, &row, &state, &error), 1);
    queue_row_clear(&row);
    free(error);
    /* The purged row's dedup key went with it: the sender's retry is new. */
    int64_t again = submit(q, "zoom", "e1", QUEUE_ACCEPTED);
    cr_expect_gt(again, pending);
    queue_close(q);
}
