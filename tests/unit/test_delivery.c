/* Tests for delivery's backoff: full jitter must stay within its bounds for
 * any attempt count, since a negative or overflowed wait would either hammer
 * Close or park a row for centuries. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdint.h>

#include "delivery.h"

#define SAMPLES 2000
#define INITIAL_MS 1000L
#define MAX_MS 300000L

/* The cap the header promises: min(max, initial * 2^(attempts-1)). */
static int64_t expected_cap(int attempts)
{
    int64_t cap = INITIAL_MS;
    for (int i = 1; i < attempts && cap < MAX_MS; i++)
        cap *= 2;
    return cap < MAX_MS ? cap : MAX_MS;
}

Test(delivery, backoff_within_bounds)
{
    for (int attempts = 1; attempts <= 20; attempts++) {
        int64_t cap = expected_cap(attempts), seen_max = 0;
        for (int i = 0; i < SAMPLES; i++) {
            int64_t b = delivery_backoff_ms(attempts, INITIAL_MS, MAX_MS);
            cr_assert_geq(b, 0, "attempt %d gave %lld", attempts, (long long)b);
            cr_assert_leq(b, cap, "attempt %d gave %lld > %lld", attempts, (long long)b, (long long)cap);
            if (b > seen_max)
                seen_max = b;
        }
        /* full jitter spreads over the whole range: with 2000 samples the
         * largest lands in the top quarter (failure odds 0.75^2000) */
        cr_assert_geq(seen_max, cap * 3 / 4, "attempt %d max %lld", attempts, (long long)seen_max);
    }
}

Test(delivery, backoff_grows_with_attempts)
{
    double mean[6] = {0};
    for (int attempts = 1; attempts <= 5; attempts++) {
        for (int i = 0; i < SAMPLES; i++)
            mean[attempts] += (double)delivery_backoff_ms(attempts, INITIAL_MS, MAX_MS);
        mean[attempts] /= SAMPLES;
    }
    for (int attempts = 2; attempts <= 5; attempts++)
        cr_assert_gt(mean[attempts], mean[attempts - 1] * 1.5, "mean %d: %f vs %f", attempts, mean[attempts],
                     mean[attempts - 1]);
}

Test(delivery, backoff_huge_attempts_do_not_overflow)
{
    int64_t seen_max = 0;
    for (int i = 0; i < SAMPLES; i++) {
        int64_t b = delivery_backoff_ms(1000, INITIAL_MS, MAX_MS);
        cr_assert_geq(b, 0);
        cr_assert_leq(b, MAX_MS);
        if (b > seen_max)
            seen_max = b;
    }
    cr_assert_gt(seen_max, MAX_MS / 2);
    /* a cap near the type's limit must not wrap either */
    for (int i = 0; i < 100; i++) {
        int64_t b = delivery_backoff_ms(1000, 1000, LONG_MAX);
        cr_assert_geq(b, 0);
    }
    cr_assert_geq(delivery_backoff_ms(INT_MAX, INITIAL_MS, MAX_MS), 0);
}

Test(delivery, backoff_degenerate_inputs)
{
    for (int i = 0; i < 100; i++) {
        cr_assert_leq(delivery_backoff_ms(0, INITIAL_MS, MAX_MS), INITIAL_MS);
        cr_assert_leq(delivery_backoff_ms(-5, INITIAL_MS, MAX_MS), INITIAL_MS);
        cr_assert_leq(delivery_backoff_ms(3, 5000, 2000), 2000); /* initial above the cap */
    }
    cr_assert_eq(delivery_backoff_ms(3, 0, MAX_MS), 0);
    cr_assert_eq(delivery_backoff_ms(3, INITIAL_MS, 0), 0);
}

/* ---- the worker loop, on a real queue ---- */

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "update.h"

/* How long a test waits for the workers before failing (they poll at least
 * once a second, and are woken on every commit). */
#define WAIT_LIMIT_MS 5000

typedef struct fixture {
    char dir[64];
    char path[96];
    queue *q;
    credential creds[2];
    config cfg;
} fixture;

static void fixture_open(fixture *f, const char *base_url)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->dir, "/tmp/closehook_test_delivery_XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/q.db", f->dir);
    char err[256];
    f->q = queue_open(f->path, err, sizeof(err));
    cr_assert_not_null(f->q, "%s", err);
    f->creds[0] = (credential){.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "key_live_1"};
    f->creds[1] = (credential){.name = "absent", .kind = CREDENTIAL_API_KEY, .secret = NULL};
    f->cfg = (config){.close.base_url = (char *)base_url,
                      .close.timeout_ms = 2000,
                      .delivery.workers = 2,
                      .delivery.retry_initial_ms = 10,
                      .delivery.retry_max_ms = 50,
                      .delivery.max_age_s = 3600,
                      .resolve.window_s = 7200,
                      .credentials = f->creds,
                      .ncredentials = 2};
}

static void fixture_close(fixture *f)
{
    queue_close(f->q);
    char wal[128];
    unlink(f->path);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", f->path);
    unlink(wal);
    rmdir(f->dir);
}

static void submit(fixture *f, const char *credential_name, const char *payload)
{
    queue_job job = {.route = "zoom", .credential = credential_name, .payload = payload};
    cr_assert_eq(queue_submit_wait(f->q, &job), QUEUE_ACCEPTED);
}

static char *payload_for(const char *activity_id)
{
    close_update u = {.activity_id = (char *)activity_id, .body_json = "{\"outcome_id\":\"outcome_1\"}"};
    char *p = update_serialize(&u);
    cr_assert_not_null(p);
    return p;
}

/* Waits until the queue holds `done` done and `dead` dead rows. */
static void wait_for(fixture *f, long done, long dead)
{
    queue_counts c = {0};
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        cr_assert_eq(queue_counts_get(f->q, &c), 0);
        if (c.done == done && c.dead == dead)
            return;
        usleep(10000);
    }
    cr_assert_fail("counts: done %ld dead %ld pending %ld inflight %ld", c.done, c.dead, c.pending,
                   c.inflight);
}

static void collect_error(const queue_row *row, const char *last_error, void *arg)
{
    (void)row;
    snprintf(arg, 512, "%s", last_error ? last_error : "");
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(delivery_worker, .init = setup, .fini = teardown);

Test(delivery_worker, dry_run_marks_done_without_network)
{
    fixture f;
    /* nothing listens on port 1: a real send would be retried, not done */
    fixture_open(&f, "http://127.0.0.1:1");
    char *p = payload_for("acti_x");
    submit(&f, "sales", p);
    delivery *d = delivery_start(&f.cfg, f.q, 1);
    cr_assert_not_null(d);
    wait_for(&f, 1, 0);
    submit(&f, "absent", p); /* a credential without a secret is dry-run too */
    wait_for(&f, 2, 0);
    delivery_stop(d);
    free(p);
    fixture_close(&f);
}

Test(delivery_worker, unknown_credential_and_corrupt_payload_are_dead)
{
    fixture f;
    fixture_open(&f, "http://127.0.0.1:1");
    char *p = payload_for("acti_x");
    submit(&f, "nobody", p);
    delivery *d = delivery_start(&f.cfg, f.q, 0);
    cr_assert_not_null(d);
    wait_for(&f, 0, 1);
    char last[512] = "";
    queue_list_dead(f.q, NULL, collect_error, last);
    cr_assert_not_null(strstr(last, "unknown credential"), "%s", last);

    submit(&f, "sales", "{not json");
    wait_for(&f, 0, 2);
    queue_list_dead(f.q, NULL, collect_error, last);
    cr_assert(strncmp(last, "corrupt payload: ", 17) == 0, "%s", last);
    delivery_stop(d);
    free(p);
    fixture_close(&f);
}

Test(delivery_worker, transient_past_max_age_gives_up)
{
    fixture f;
    fixture_open(&f, "http://127.0.0.1:1"); /* connection refused: transient */
    f.cfg.delivery.max_age_s = 0;
    char *p = payload_for("acti_x");
    submit(&f, "sales", p);
    usleep(5000); /* the row must be older than max_age (0 s) when it fails */
    delivery *d = delivery_start(&f.cfg, f.q, 0);
    cr_assert_not_null(d);
    wait_for(&f, 0, 1);
    char last[512] = "";
    queue_list_dead(f.q, NULL, collect_error, last);
    cr_assert(strncmp(last, "gave up after 1 attempts over max_age: ", 39) == 0, "%s", last);
    cr_assert_null(strstr(last, "key_live_1"));
    delivery_stop(d);
    free(p);
    fixture_close(&f);
}
