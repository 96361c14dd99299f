/* Tests for queue.c: what a sender's 2xx promises (committed, deduplicated,
 * never a partial accept), what delivery relies on (claims, settling, crash
 * recovery) and that group commit really batches; the operator side (dead
 * letters, replay, purge) is in test_queue_inspect.c. Each test gets
 * its own store in a fresh temporary directory. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "queue_fixture.h"

TestSuite(queue, .init = queue_fixture_setup, .fini = queue_fixture_teardown);

Test(queue, accepted_job_is_claimed_with_its_fields)
{
    queue *q = open_store();
    int64_t before = now_ms();
    queue_job job = make_job("zoom", "evt-1", "{\"user_note_html\":\"<p>hi</p>\"}");
    job.credential = "close-key-1";
    cr_assert_eq(queue_submit_wait(q, &job), QUEUE_ACCEPTED);
    cr_assert_gt(job.id, 0);

    queue_row row;
    claim_expect(q, job.id, &row);
    cr_expect_str_eq(row.route, "zoom");
    cr_expect_str_eq(row.credential, "close-key-1");
    cr_expect_str_eq(row.dedup_key, "evt-1");
    cr_expect_str_eq(row.payload, "{\"user_note_html\":\"<p>hi</p>\"}");
    cr_expect_eq(row.attempts, 1);
    cr_expect_geq(row.created_at, before);
    cr_expect_leq(row.created_at, now_ms());
    queue_row_clear(&row);

    /* Nothing else pending: no row, and no due time to sleep until. */
    int64_t next_due = 0;
    cr_assert_eq(queue_claim(q, now_ms(), &row, &next_due), 0);
    cr_expect_eq(next_due, -1);
    cr_expect_eq(counts(q).inflight, 1);
    queue_close(q);
}

Test(queue, duplicate_key_answers_the_first_id_and_stores_nothing)
{
    queue *q = open_store();
    int64_t first = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    int64_t again = submit(q, "zoom", "evt-1", QUEUE_DUPLICATE);
    cr_expect_eq(again, first);
    cr_expect_eq(counts(q).pending, 1);
    queue_close(q);
}

Test(queue, null_dedup_keys_never_duplicate)
{
    queue *q = open_store();
    int64_t a = submit(q, "generic", NULL, QUEUE_ACCEPTED);
    int64_t b = submit(q, "generic", NULL, QUEUE_ACCEPTED);
    cr_expect_neq(a, b);
    cr_expect_eq(counts(q).pending, 2);
    queue_row row;
    claim_expect(q, a, &row);
    cr_expect_null(row.dedup_key);
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue, same_key_on_two_routes_is_two_deliveries)
{
    queue *q = open_store();
    int64_t a = submit(q, "zoom-a", "evt-1", QUEUE_ACCEPTED);
    int64_t b = submit(q, "zoom-b", "evt-1", QUEUE_ACCEPTED);
    cr_expect_neq(a, b);
    cr_expect_eq(counts(q).pending, 2);
    queue_close(q);
}

/* Holds the writer thread inside the first job's on_done, so every job
 * submitted meanwhile is waiting when it comes back: they form one batch. */
typedef struct writer_gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, released;
} writer_gate;

static writer_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
static atomic_int notified;
static atomic_int completed;

static void gate_on_done(queue_job *job)
{
    (void)job;
    pthread_mutex_lock(&gate.lock);
    gate.entered = 1;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.released)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void count_on_done(queue_job *job)
{
    (void)job;
    atomic_fetch_add(&completed, 1);
}

static void count_notify(void *arg)
{
    cr_assert_eq(arg, &notified);
    atomic_fetch_add(&notified, 1);
}

static void gate_hold_writer(queue *q, queue_job *opener)
{
    opener->on_done = gate_on_done;
    queue_submit(q, opener);
    pthread_mutex_lock(&gate.lock);
    while (!gate.entered)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void gate_release_writer(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.released = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

#define BATCH_JOBS 12

Test(queue, waiting_jobs_commit_as_one_batch_with_in_batch_duplicates)
{
    queue *q = open_store();
    queue_set_notify(q, count_notify, &notified);
    queue_job opener = make_job("zoom", "opener", "{}");
    gate_hold_writer(q, &opener);

    /* Three keys, four jobs each, all in the one batch behind the gate. */
    static const char *const keys[] = {"k0", "k1", "k2"};
    queue_job jobs[BATCH_JOBS];
    for (int i = 0; i < BATCH_JOBS; i++) {
        jobs[i] = make_job("zoom", keys[i % 3], "{}");
        jobs[i].on_done = count_on_done;
        queue_submit(q, &jobs[i]);
    }
    gate_release_writer();
    queue_stop(q); /* everything submitted is answered when this returns */

    cr_assert_eq(atomic_load(&completed), BATCH_JOBS);
    /* One batch for the opener, one for the rest: exactly two notifications. */
    cr_expect_eq(atomic_load(&notified), 2);
    for (int i = 0; i < BATCH_JOBS; i++) {
        queue_result want = i < 3 ? QUEUE_ACCEPTED : QUEUE_DUPLICATE;
        cr_expect_eq(jobs[i].result, want, "job %d: %d (%s)", i, jobs[i].result, jobs[i].error);
        cr_expect_eq(jobs[i].id, jobs[i % 3].id, "job %d points at its key's first row", i);
    }
    /* Acceptance order is id order. */
    cr_expect_lt(opener.id, jobs[0].id);
    cr_expect_lt(jobs[0].id, jobs[1].id);
    cr_expect_lt(jobs[1].id, jobs[2].id);
    cr_expect_eq(counts(q).pending, 4);
    queue_close(q);
}

Test(queue, batch_of_only_duplicates_does_not_notify)
{
    queue *q = open_store();
    /* The hook is set first: the writer calls it after the acks, so setting it
     * between two submits would race with the first batch's call. Batches are
     * processed in order, so once the duplicate is answered the first batch's
     * call has happened: exactly one. */
    queue_set_notify(q, count_notify, &notified);
    submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    submit(q, "zoom", "evt-1", QUEUE_DUPLICATE);
    queue_stop(q);
    cr_expect_eq(atomic_load(&notified), 1, "the stored batch notifies, the duplicate-only one does not");
    submit(q, "zoom", "evt-2", QUEUE_FAILED); /* stopped: refused, not stored */
    cr_expect_eq(counts(q).pending, 1);
    queue_close(q);
}

#define SUBMIT_THREADS 8

typedef struct submitter {
    queue *q;
    int index;
    int jobs;              /* how many this thread submits */
    int keys;              /* dedup keys cycle through this many; 0 = unique keys */
    queue_result *results; /* [jobs] */
    int64_t *ids;          /* [jobs] */
} submitter;

static void *submitter_main(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->jobs; i++) {
        char key[32], payload[64];
        if (s->keys > 0)
            snprintf(key, sizeof(key), "shared-%d", i % s->keys);
        else
            snprintf(key, sizeof(key), "t%d-%d", s->index, i);
        snprintf(payload, sizeof(payload), "{\"thread\":%d,\"n\":%d}", s->index, i);
        queue_job job = make_job("zoom", key, payload);
        s->results[i] = queue_submit_wait(s->q, &job);
        s->ids[i] = job.id;
    }
    return NULL;
}

/* Runs SUBMIT_THREADS submitters at once; results[t * per_thread + i]. */
static void run_submitters(queue *q, int per_thread, int keys, queue_result *results, int64_t *ids)
{
    pthread_t threads[SUBMIT_THREADS];
    submitter subs[SUBMIT_THREADS];
    for (int t = 0; t < SUBMIT_THREADS; t++) {
        subs[t] = (submitter){q, t, per_thread, keys, results + t * per_thread, ids + t * per_thread};
        cr_assert_eq(pthread_create(&threads[t], NULL, submitter_main, &subs[t]), 0);
    }
    for (int t = 0; t < SUBMIT_THREADS; t++)
        pthread_join(threads[t], NULL);
}

#define SHARED_KEYS 10
#define SHARED_PER_THREAD 20

Test(queue, concurrent_duplicates_accept_exactly_one_per_key)
{
    queue *q = open_store();
    enum { TOTAL = SUBMIT_THREADS * SHARED_PER_THREAD };
    queue_result results[TOTAL];
    int64_t ids[TOTAL];
    run_submitters(q, SHARED_PER_THREAD, SHARED_KEYS, results, ids);

    int accepted[SHARED_KEYS] = {0};
    int64_t key_id[SHARED_KEYS] = {0};
    for (int n = 0; n < TOTAL; n++) {
        int key = (n % SHARED_PER_THREAD) % SHARED_KEYS;
        cr_assert_neq(results[n], QUEUE_FAILED);
        if (results[n] == QUEUE_ACCEPTED)
            accepted[key]++;
        if (key_id[key] == 0)
            key_id[key] = ids[n];
        cr_expect_eq(ids[n], key_id[key], "every answer for key %d names one row", key);
    }
    for (int k = 0; k < SHARED_KEYS; k++)
        cr_expect_eq(accepted[k], 1, "key %d accepted %d times", k, accepted[k]);
    cr_expect_eq(counts(q).pending, SHARED_KEYS);
    queue_close(q);
}

#define MANY_PER_THREAD 63 /* 8 threads x 63 = 504: "hundreds at once" */

Test(queue, many_threads_all_accepted_and_stored)
{
    queue *q = open_store();
    enum { TOTAL = SUBMIT_THREADS * MANY_PER_THREAD };
    queue_result results[TOTAL];
    int64_t ids[TOTAL];
    run_submitters(q, MANY_PER_THREAD, 0, results, ids);
    for (int n = 0; n < TOTAL; n++) {
        cr_assert_eq(results[n], QUEUE_ACCEPTED, "job %d", n);
        for (int m = 0; m < n; m++)
            cr_assert_neq(ids[n], ids[m], "jobs %d and %d share id", n, m);
    }
    cr_expect_eq(counts(q).pending, TOTAL);
    queue_close(q);
}

Test(queue, rows_survive_close_and_reopen)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    queue_close(q);

    q = open_store();
    submit(q, "zoom", "evt-1", QUEUE_DUPLICATE); /* dedup survives too */
    queue_row row;
    claim_expect(q, id, &row);
    cr_expect_str_eq(row.dedup_key, "evt-1");
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue, inflight_row_is_pending_again_after_recovery)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    queue_row row;
    claim_expect(q, id, &row);
    queue_row_clear(&row);
    queue_close(q); /* "crash": the claimed row was never settled */

    q = open_store();
    cr_expect_eq(counts(q).inflight, 1, "opening alone (as dlq tools do) must not touch inflight rows");
    cr_expect_eq(queue_recover_inflight(q), 1);
    queue_counts c = counts(q);
    cr_expect_eq(c.inflight, 0);
    cr_expect_eq(c.pending, 1);
    claim_expect(q, id, &row);
    cr_expect_eq(row.attempts, 2, "the cut-off attempt still counts");
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue, retry_waits_until_its_time)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    queue_row row;
    claim_expect(q, id, &row);
    queue_row_clear(&row);

    int64_t now = now_ms(), later = now + 60000;
    cr_assert_eq(queue_mark_retry(q, id, later, "503 from Close"), 0);
    int64_t next_due = 0;
    cr_assert_eq(queue_claim(q, now, &row, &next_due), 0);
    cr_expect_eq(next_due, later);

    cr_assert_eq(queue_claim(q, later, &row, &next_due), 1);
    cr_expect_eq(row.id, id);
    cr_expect_eq(row.attempts, 2);
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue, settling_needs_an_inflight_row)
{
    queue *q = open_store();
    int64_t id = submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    cr_expect_eq(queue_mark_done(q, id), -1, "pending, not claimed");
    cr_expect_eq(queue_mark_dead(q, id, "x"), -1);
    cr_expect_eq(queue_mark_done(q, id + 1000), -1, "no such row");

    queue_row row;
    claim_expect(q, id, &row);
    queue_row_clear(&row);
    cr_expect_eq(queue_mark_done(q, id), 0);
    cr_expect_eq(queue_mark_done(q, id), -1, "already done");
    cr_expect_eq(queue_mark_retry(q, id, now_ms(), "late"), -1);
    cr_expect_eq(counts(q).done, 1);
    queue_close(q);
}

static void record_on_done(queue_job *job)
{
    (void)job;
    atomic_fetch_add(&completed, 1);
}

Test(queue, submit_after_stop_fails_and_still_answers)
{
    queue *q = open_store();
    queue_stop(q);
    queue_job job = make_job("zoom", "evt-1", "{}");
    job.on_done = record_on_done;
    queue_submit(q, &job);
    cr_expect_eq(atomic_load(&completed), 1, "on_done called even when refused");
    cr_expect_eq(job.result, QUEUE_FAILED);
    cr_expect_neq(job.error[0], '\0');
    cr_expect_eq(counts(q).pending, 0);
    queue_close(q);
}

Test(queue, job_missing_a_field_fails_alone)
{
    queue *q = open_store();
    queue_job job = make_job("zoom", "evt-1", NULL);
    cr_expect_eq(queue_submit_wait(q, &job), QUEUE_FAILED);
    cr_expect_neq(job.error[0], '\0');
    submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    queue_close(q);
}

Test(queue, open_on_unwritable_path_names_the_path)
{
    char path[160], err[256] = "";
    snprintf(path, sizeof(path), "%s/missing-dir/queue.db", queue_fixture_dir);
    cr_assert_null(queue_open(path, err, sizeof(err)));
    cr_expect_not_null(strstr(err, path), "error '%s' names the path", err);
}

Test(queue, open_on_a_file_that_is_not_a_database_fails)
{
    FILE *f = fopen(queue_fixture_path, "w");
    cr_assert_not_null(f);
    fputs("this is not an SQLite database, it is a text file long enough to matter\n", f);
    fclose(f);
    char err[256] = "";
    cr_assert_null(queue_open(queue_fixture_path, err, sizeof(err)));
    cr_expect_not_null(strstr(err, queue_fixture_path), "error '%s' names the path", err);
}

static int64_t submit_ordered(queue *q, const char *key, const char *order_key)
{
    queue_job job = make_job("generic", key, "{\"outcome_id\":\"outcome_1\"}");
    job.order_key = order_key;
    cr_assert_eq(queue_submit_wait(q, &job), QUEUE_ACCEPTED);
    return job.id;
}

Test(queue, rows_for_one_activity_are_claimed_one_at_a_time_in_order)
{
    queue *q = open_store();
    int64_t a1 = submit_ordered(q, "e1", "acti:A");
    int64_t b1 = submit_ordered(q, "e2", "acti:B");
    int64_t a2 = submit_ordered(q, "e3", "acti:A");
    int64_t free_row = submit_ordered(q, "e4", NULL);

    queue_row r1, r2, r3, r4;
    claim_expect(q, a1, &r1);
    claim_expect(q, b1, &r2);
    /* a2 waits behind a1, which is inflight; the unordered row goes ahead */
    claim_expect(q, free_row, &r3);
    int64_t next_due = 0;
    cr_expect_eq(queue_claim(q, now_ms(), &r4, &next_due), 0, "a2 must wait for a1");
    cr_expect_eq(next_due, -1, "a blocked row is not due: no busy wake-ups");

    /* a1 retried later still holds a2 back: acceptance order over retries */
    cr_assert_eq(queue_mark_retry(q, a1, now_ms() + 60000, "HTTP 503"), 0);
    cr_expect_eq(queue_claim(q, now_ms(), &r4, &next_due), 0);
    cr_assert_eq(queue_claim(q, now_ms() + 61000, &r4, &next_due), 1);
    cr_expect_eq(r4.id, a1);
    cr_assert_eq(queue_mark_done(q, a1), 0);
    queue_row_clear(&r4);
    claim_expect(q, a2, &r4);

    queue_row_clear(&r1);
    queue_row_clear(&r2);
    queue_row_clear(&r3);
    queue_row_clear(&r4);
    queue_close(q);
}

Test(queue, dead_row_does_not_hold_back_the_rows_behind_it)
{
    queue *q = open_store();
    int64_t a1 = submit_ordered(q, "e1", "acti:A");
    int64_t a2 = submit_ordered(q, "e2", "acti:A");
    queue_row r;
    claim_expect(q, a1, &r);
    queue_row_clear(&r);
    cr_assert_eq(queue_mark_dead(q, a1, "HTTP 400"), 0);
    claim_expect(q, a2, &r);
    queue_row_clear(&r);
    queue_close(q);
}

Test(queue, capped_store_refuses_new_jobs_but_still_delivers)
{
    queue *q = open_store();
    cr_assert_eq(queue_set_limits(q, 1, 0), 0);
    static char payload[20001];
    memset(payload, 'p', sizeof(payload) - 1);
    int accepted = 0;
    queue_result last = QUEUE_ACCEPTED;
    for (int i = 0; i < 200 && last == QUEUE_ACCEPTED; i++) {
        char key[32];
        snprintf(key, sizeof(key), "evt-%d", i);
        queue_job job = make_job("generic", key, payload);
        last = queue_submit_wait(q, &job);
        accepted += last == QUEUE_ACCEPTED;
        if (last == QUEUE_FAILED)
            cr_expect(strstr(job.error, "full") != NULL, "%s", job.error);
    }
    cr_assert_eq(last, QUEUE_FAILED, "a 1 MiB store never filled");
    cr_expect_eq(queue_undelivered(q), accepted, "only what was stored counts");
    cr_expect_eq(counts(q).pending, accepted, "a failed batch leaves nothing behind");
    queue_row row;
    int64_t next_due;
    cr_assert_eq(queue_claim(q, now_ms(), &row, &next_due), 1, "delivery still claims");
    cr_expect_eq(queue_mark_done(q, row.id), 0, "and settles");
    queue_row_clear(&row);
    queue_close(q);
}

static int64_t submit_for(queue *q, const char *credential, const char *key)
{
    queue_job job = make_job("zoom", key, "{}");
    job.credential = credential;
    cr_assert_eq(queue_submit_wait(q, &job), QUEUE_ACCEPTED);
    return job.id;
}

Test(queue, claim_among_takes_only_the_listed_credentials_rows)
{
    queue *q = open_store();
    int64_t a1 = submit_for(q, "cred-a", "evt-a1");
    submit_for(q, "cred-a", "evt-a2");
    int64_t b1 = submit_for(q, "cred-b", "evt-b1");
    int64_t c1 = submit_for(q, "cred-c", "evt-c1");

    const char *bc[] = {"cred-b", "cred-c"};
    queue_row row;
    cr_assert_eq(queue_claim_among(q, now_ms(), bc, 2, &row, NULL), 1);
    cr_expect_eq(row.id, b1, "the older rows of cred-a are passed over");
    queue_row_clear(&row);

    const char *c_only[] = {"cred-c"};
    cr_assert_eq(queue_claim_among(q, now_ms(), c_only, 1, &row, NULL), 1);
    cr_expect_eq(row.id, c1);
    queue_row_clear(&row);

    /* Only other credentials' rows are left: nothing due, and no due time
     * either, so the worker sleeps instead of spinning on rows it may not take. */
    int64_t next_due = 0;
    cr_assert_eq(queue_claim_among(q, now_ms(), bc, 2, &row, &next_due), 0);
    cr_expect_eq(next_due, -1);
    cr_assert_eq(queue_claim_among(q, now_ms(), bc, 0, &row, &next_due), 0, "an empty list claims nothing");

    /* Without a list the oldest row is next, as always. */
    cr_assert_eq(queue_claim_among(q, now_ms(), NULL, 0, &row, NULL), 1);
    cr_expect_eq(row.id, a1);
    queue_row_clear(&row);
    queue_close(q);
}

Test(queue, claim_among_keeps_the_order_of_one_meeting_and_reports_the_next_due)
{
    queue *q = open_store();
    queue_job first = make_job("zoom", "evt-1", "{}");
    first.credential = "cred-b";
    first.order_key = "acti_same";
    cr_assert_eq(queue_submit_wait(q, &first), QUEUE_ACCEPTED);
    queue_job second = first;
    second.dedup_key = "evt-2";
    cr_assert_eq(queue_submit_wait(q, &second), QUEUE_ACCEPTED);
    const char *b[] = {"cred-b"};
    queue_row row;
    cr_assert_eq(queue_claim_among(q, now_ms(), b, 1, &row, NULL), 1);
    cr_expect_eq(row.id, first.id);
    int64_t due = now_ms() + 60000;
    cr_assert_eq(queue_mark_retry(q, row.id, due, "later"), 0);
    queue_row_clear(&row);
    int64_t next_due = 0;
    cr_assert_eq(queue_claim_among(q, now_ms(), b, 1, &row, &next_due), 0,
                 "the newer row of the meeting waits behind the retrying one");
    cr_expect_eq(next_due, due);
    queue_close(q);
}

Test(queue, a_credential_name_with_quotes_is_matched_exactly)
{
    queue *q = open_store();
    submit_for(q, "weird", "evt-1");
    int64_t other = submit_for(q, "we\"ird\\cred", "evt-2");
    const char *among[] = {"we\"ird\\cred"};
    queue_row row;
    cr_assert_eq(queue_claim_among(q, now_ms(), among, 1, &row, NULL), 1);
    cr_expect_eq(row.id, other);
    queue_row_clear(&row);
    queue_close(q);
}
