/* Tests for rate_limit: reading Close's headers in both forms (and refusing
 * junk), the pacing arithmetic on an injected clock, 429 pauses confined to
 * one credential and group, slot handout under concurrent workers, and the
 * whole path through close_client against a loopback server answering
 * Close's sample 429. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_client.h"
#include "fake_http.h"
#include "metrics.h"
#include "rate_limit.h"

/* Float slack for times computed by a few divisions. */
#define EPS 1e-9
/* Criterion's float asserts evaluate their arguments more than once, and
 * acquire has side effects: evaluate once, then compare. */
#define NEAR(expr, want, eps)                                                                                \
    do {                                                                                                     \
        double got_ = (expr);                                                                                \
        cr_assert(fabs(got_ - (want)) <= (eps), "%s = %.9f, want %.9f", #expr, got_, (double)(want));        \
    } while (0)
/* A max_wait that never refuses: tests of the arithmetic want every slot. */
#define ANY_WAIT 1e9

static rate_limit_info info(double limit, double remaining, double reset)
{
    rate_limit_info i = {.present = 1, .limit = limit, .remaining = remaining, .reset_s = reset};
    return i;
}

/* ---- parsing ---- */

Test(rate_limit_parse, combined_form_as_close_sends_it)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse("limit=20, remaining=0, reset=1.75", NULL, NULL, NULL, &i), 1);
    NEAR(i.limit, 20, EPS);
    NEAR(i.remaining, 0, EPS);
    NEAR(i.reset_s, 1.75, EPS);
}

Test(rate_limit_parse, combined_form_in_any_order_spacing_case_and_separator)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse("  Reset = 0.5 ;REMAINING=7,limit=100  ", NULL, NULL, NULL, &i), 1);
    NEAR(i.limit, 100, EPS);
    NEAR(i.remaining, 7, EPS);
    NEAR(i.reset_s, 0.5, EPS);
}

Test(rate_limit_parse, unknown_items_are_skipped)
{
    rate_limit_info i;
    cr_assert_eq(
        rate_limit_parse("\"default\", policy=x, remaining=3, window=60, reset=2", NULL, NULL, NULL, &i), 1);
    NEAR(i.remaining, 3, EPS);
    NEAR(i.reset_s, 2, EPS);
    NEAR(i.limit, -1, EPS);
}

Test(rate_limit_parse, older_three_header_form)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse(NULL, "60", " 12 ", "0.25", &i), 1);
    NEAR(i.limit, 60, EPS);
    NEAR(i.remaining, 12, EPS);
    NEAR(i.reset_s, 0.25, EPS);
}

Test(rate_limit_parse, combined_wins_and_older_form_fills_gaps)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse("remaining=4", "50", "40", "3", &i), 1);
    NEAR(i.remaining, 4, EPS);
    NEAR(i.limit, 50, EPS);
    NEAR(i.reset_s, 3, EPS);
}

Test(rate_limit_parse, nothing_or_half_is_not_present)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse(NULL, NULL, NULL, NULL, &i), 0);
    cr_assert_eq(rate_limit_parse("limit=10, remaining=5", NULL, NULL, NULL, &i), 0, "no reset");
    cr_assert_eq(rate_limit_parse(NULL, "10", NULL, "1", &i), 0, "no remaining");
    cr_assert_eq(rate_limit_parse("", "", "", "", &i), 0);
}

Test(rate_limit_parse, junk_values_are_unreadable)
{
    static const char *const junk[] = {
        "abc", "-1", "1.5x", "nan", "inf",
        "",    " ",  "1 2",  "=",   "99999999999999999999999999999999999999999999999999999"};
    for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
        rate_limit_info i;
        char combined[128];
        snprintf(combined, sizeof(combined), "limit=10, remaining=%s, reset=1", junk[k]);
        cr_assert_eq(rate_limit_parse(combined, NULL, NULL, NULL, &i), 0, "remaining=%s", junk[k]);
        cr_assert_eq(rate_limit_parse(NULL, "10", junk[k], "1", &i), 0, "RateLimit-Remaining: %s", junk[k]);
    }
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse("remaining, reset", NULL, NULL, NULL, &i), 0, "items without values");
    cr_assert_eq(rate_limit_parse(",,;;=,", NULL, NULL, NULL, &i), 0);
}

Test(rate_limit_parse, absurd_reset_is_capped)
{
    rate_limit_info i;
    cr_assert_eq(rate_limit_parse("remaining=0, reset=1e12", NULL, NULL, NULL, &i), 1);
    cr_assert_leq(i.reset_s, 3600.0);
}

/* ---- pacing arithmetic ---- */

Test(rate_limit_pace, unknown_credential_goes_at_once)
{
    rate_limit *rl = rate_limit_new();
    for (int k = 0; k < 5; k++)
        NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 10.0, ANY_WAIT), 0, EPS);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 10.0), 0, EPS);
    rate_limit_free(rl);
}

Test(rate_limit_pace, remaining_budget_is_spread_over_the_window)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(10, 10, 1.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    /* 10 left for 1 s: one every 0.1 s, then the next window's at its pace */
    for (int k = 0; k < 15; k++)
        NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 0.1 * k, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pace, light_load_is_not_delayed)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(10, 9, 1.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 0, EPS);
    /* the next one comes later than its share: no wait */
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.5, ANY_WAIT), 0, EPS);
    rate_limit_free(rl);
}

Test(rate_limit_pace, spent_budget_waits_for_the_reset_without_reserving)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(20, 0, 1.75);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 100.0, 200, &i, 0);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 100.0), 1.75, 1e-6);
    /* a refused acquire reserves nothing: asking again gives the same answer */
    for (int k = 0; k < 3; k++)
        NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 100.0, 1.0), 1.75, 1e-6);
    /* at the reset the new window's budget is there */
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 101.75, 1.0), 0, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pace, requests_on_their_way_are_counted_against_the_answer)
{
    rate_limit *rl = rate_limit_new();
    /* two requests out; the first answer says 3 left: one of those 3 is the
     * second request's, so 2 remain for 1 s */
    rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT);
    rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT);
    rate_limit_info i = info(10, 3, 1.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 0, EPS);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 0.5, 1e-6);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 0.0), 1.0, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pace, late_answer_from_the_same_window_gives_no_budget_back)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info newer = info(10, 1, 0.5), older = info(10, 4, 0.5);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &newer, 0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &older, 0);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 0, EPS);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 0.0), 0.5, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pace, a_passed_window_refills_at_the_learnt_pace)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(4, 0, 2.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    /* no answer since; at t=5 the window is long gone: 4 per 2 s from now */
    for (int k = 0; k < 4; k++)
        NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 5.0, ANY_WAIT), 0.5 * k, 1e-6);
    rate_limit_free(rl);
}

/* A fixed-window server (limit per second, windows starting at whole seconds)
 * and one worker that always has work: pacing must keep it at the limit
 * without a single 429. */
Test(rate_limit_pace, saturating_load_meets_a_fixed_window_without_429)
{
    const double limit = 10, latency = 0.02;
    rate_limit *rl = rate_limit_new();
    double t = 0;
    int used = 0, window = 0, sent = 0, refused = 0;
    while (t < 20.0) {
        double wait = rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, t, 1.0);
        if (wait > 1.0) {
            t += wait;
            continue;
        }
        double at = t + wait;
        if ((int)floor(at) != window) {
            window = (int)floor(at);
            used = 0;
        }
        long status = used < limit ? 200 : 429;
        if (status == 200)
            used++, sent++;
        else
            refused++;
        rate_limit_info i = info(limit, limit - used, window + 1 - at);
        t = at + latency;
        rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, t, status, &i, status == 429 ? window + 1 - at : 0);
    }
    cr_assert_eq(refused, 0, "%d 429s", refused);
    cr_assert_geq(sent, 0.9 * limit * 20, "only %d sent in 20 s", sent);
    cr_assert_leq(sent, limit * 20 + limit);
    rate_limit_free(rl);
}

/* A backlog is booked slot by slot at the limit's pace; a booked request
 * coming back goes at once instead of behind the schedule. */
Test(rate_limit_pace, backlog_is_booked_and_bookings_are_redeemed)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(10, 10, 1.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0, EPS);
    NEAR(rate_limit_book(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0, EPS); /* near: nothing booked */
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0.1, 1e-6);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0.2, 1e-6);
    /* further off than the sleep limit: acquire refuses, book takes them */
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0.3, 1e-6);
    for (int k = 3; k < 30; k++)
        NEAR(rate_limit_book(rl, "a", RATE_LIMIT_WRITE, 0.0, 0.25), 0.1 * k, 1e-6);
    /* a newcomer queues behind every booking */
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 0.0, ANY_WAIT), 3.0, 1e-6);
    /* the booking due at 0.3 is redeemed at 0.3, and moves nothing */
    NEAR(rate_limit_redeem(rl, "a", RATE_LIMIT_WRITE, 0.3, 0.25), 0, EPS);
    NEAR(rate_limit_book(rl, "a", RATE_LIMIT_WRITE, 0.3, 0.25), 3.1 - 0.3, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pace, redeeming_waits_for_a_pause_or_a_spent_window)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 429, NULL, 2.0);
    NEAR(rate_limit_redeem(rl, "a", RATE_LIMIT_WRITE, 0.5, 0.25), 1.5, 1e-6);
    rate_limit_info spent = info(10, 0, 0.2);
    rate_limit_observe(rl, "b", RATE_LIMIT_WRITE, 0.0, 200, &spent, 0);
    NEAR(rate_limit_redeem(rl, "b", RATE_LIMIT_WRITE, 0.0, 0.25), 0.2, 1e-6);
    rate_limit_free(rl);
}

/* ---- 429 pauses ---- */

Test(rate_limit_pause, only_the_paused_credential_and_group_wait)
{
    metrics_reset();
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(20, 0, 1.75);
    rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 50.0, ANY_WAIT);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 50.0, 429, &i, 2.0);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 50.0, 1.0), 2.0, 1e-6);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 51.0), 1.0, 1e-6);
    NEAR(rate_limit_acquire(rl, "b", RATE_LIMIT_WRITE, 50.0, 1.0), 0, EPS);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_READ, 50.0, 1.0), 0, EPS);
    NEAR(rate_limit_acquire(rl, "a", RATE_LIMIT_WRITE, 52.0, 1.0), 0, EPS);

    size_t len;
    char *text = metrics_render(&len);
    cr_assert_not_null(strstr(text, "closehook_close_rate_limited_total{credential=\"a\"} 1\n"), "%s", text);
    cr_assert_null(strstr(text, "closehook_close_rate_limited_total{credential=\"b\"}"));
    /* the pause ended, and the gauge says so */
    cr_assert_not_null(strstr(text, "closehook_credential_pause_seconds{credential=\"a\"} 0\n"), "%s", text);
    free(text);
    rate_limit_free(rl);
}

Test(rate_limit_pause, gauge_shows_the_pause_while_it_lasts)
{
    metrics_reset();
    rate_limit *rl = rate_limit_new();
    rate_limit_observe(rl, "sales", RATE_LIMIT_WRITE, 0.0, 429, NULL, 3.0);
    size_t len;
    char *text = metrics_render(&len);
    cr_assert_not_null(strstr(text, "closehook_credential_pause_seconds{credential=\"sales\"} 3\n"), "%s",
                       text);
    free(text);
    rate_limit_free(rl);
}

Test(rate_limit_pause, without_retry_after_the_reset_or_a_second)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(10, 0, 2.5);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 429, &i, 0);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 0.0), 2.5, 1e-6);
    rate_limit_observe(rl, "b", RATE_LIMIT_WRITE, 0.0, 429, NULL, 0);
    NEAR(rate_limit_wait(rl, "b", RATE_LIMIT_WRITE, 0.0), 1.0, 1e-6);
    rate_limit_free(rl);
}

Test(rate_limit_pause, a_shorter_later_pause_does_not_cut_a_longer_one)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 0.0, 429, NULL, 5.0);
    rate_limit_observe(rl, "a", RATE_LIMIT_WRITE, 1.0, 429, NULL, 1.0);
    NEAR(rate_limit_wait(rl, "a", RATE_LIMIT_WRITE, 1.0), 4.0, 1e-6);
    rate_limit_free(rl);
}

/* ---- concurrency ---- */

#define THREADS 8
#define PER_THREAD 50

typedef struct slot_run {
    rate_limit *rl;
    double waits[PER_THREAD];
} slot_run;

static void *take_slots(void *arg)
{
    slot_run *r = arg;
    for (int k = 0; k < PER_THREAD; k++)
        r->waits[k] = rate_limit_acquire(r->rl, "shared", RATE_LIMIT_WRITE, 0.0, ANY_WAIT);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Workers racing for one credential get distinct slots, exactly the ones a
 * single worker would have got: none lost, none handed out twice. */
Test(rate_limit_concurrency, racing_workers_share_one_schedule)
{
    rate_limit *rl = rate_limit_new();
    rate_limit_info i = info(10, 10, 1.0);
    rate_limit_observe(rl, "shared", RATE_LIMIT_WRITE, 0.0, 200, &i, 0);
    slot_run runs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t].rl = rl;
        cr_assert_eq(pthread_create(&th[t], NULL, take_slots, &runs[t]), 0);
    }
    double all[THREADS * PER_THREAD];
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        memcpy(all + t * PER_THREAD, runs[t].waits, sizeof(runs[t].waits));
    }
    qsort(all, THREADS * PER_THREAD, sizeof(double), cmp_double);
    for (int k = 0; k < THREADS * PER_THREAD; k++)
        NEAR(all[k], 0.1 * k, 1e-6);
    /* every slot is returned by its answer: then the budget is Close's alone */
    for (int k = 0; k < THREADS * PER_THREAD; k++)
        rate_limit_observe(rl, "shared", RATE_LIMIT_WRITE, 100.0, 0, NULL, 0);
    rate_limit_info fresh = info(10, 2, 1.0);
    rate_limit_observe(rl, "shared", RATE_LIMIT_WRITE, 100.0, 200, &fresh, 0);
    NEAR(rate_limit_acquire(rl, "shared", RATE_LIMIT_WRITE, 100.0, ANY_WAIT), 0, 1e-6);
    NEAR(rate_limit_acquire(rl, "shared", RATE_LIMIT_WRITE, 100.0, ANY_WAIT), 0.5, 1e-6);
    rate_limit_free(rl);
}

/* ---- through close_client ---- */

/* The sample 429 as a raw HTTP answer (CRLF, Content-Length). */
static char *sample_429(void)
{
    FILE *f = fopen(SAMPLES_DIR "/close/rate_limited_429.txt", "rb");
    cr_assert_not_null(f);
    char text[2048];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *split = strstr(text, "\n\n");
    cr_assert_not_null(split);
    *split = '\0';
    const char *body = split + 2;
    size_t body_len = strcspn(body, "\n");
    char head[1024] = "";
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
        snprintf(head + strlen(head), sizeof(head) - strlen(head), "%s\r\n", line);
    char *out = NULL;
    cr_assert_geq(asprintf(&out, "%sContent-Length: %zu\r\n\r\n%.*s", head, body_len, (int)body_len, body),
                  0);
    return out;
}

Test(rate_limit_client, close_429_pauses_the_credential_and_the_next_call_is_not_sent)
{
    metrics_reset();
    fake_http fake = {0};
    char *answer = sample_429();
    fake.responses[0] = answer;
    fake.nresponses = 1;
    cr_assert_eq(fake_http_start(&fake), 0);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", fake.port);
    close_client *c = close_client_new(base, 5000);
    rate_limit *rl = rate_limit_new();
    close_client_set_rate_limit(c, rl);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};

    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_TRANSIENT);
    cr_assert_eq(res.status, 429);
    cr_assert_eq(res.ratelimit.present, 1);
    NEAR(res.ratelimit.limit, 20, EPS);
    NEAR(res.ratelimit.remaining, 0, EPS);
    NEAR(res.ratelimit.reset_s, 1.75, EPS);
    NEAR(res.retry_after_s, 2.0, EPS);
    cr_assert_eq(res.paced, 0);
    close_response_clear(&res);

    double wait = rate_limit_wait(rl, "sales", RATE_LIMIT_WRITE, rate_limit_now());
    cr_assert(wait > 1.5 && wait <= 2.0, "paused for %f", wait);

    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_TRANSIENT);
    cr_assert_eq(res.paced, 1);
    cr_assert_eq(res.status, 0);
    cr_assert(res.retry_after_s > 1.5 && res.retry_after_s <= 2.0);
    cr_assert_not_null(strstr(res.err, "rate limit"), "%s", res.err);
    cr_assert_null(strstr(res.err, "api_key_123"), "no secret in errors");
    close_response_clear(&res);

    fake_http_stop(&fake);
    cr_assert_eq(fake.nrequests, 1, "the paced call reached the server");
    size_t len;
    char *text = metrics_render(&len);
    cr_assert_not_null(strstr(text, "closehook_close_rate_limited_total{credential=\"sales\"} 1\n"), "%s",
                       text);
    cr_assert_not_null(strstr(text, "closehook_close_request_duration_seconds_count{kind=\"put\"} 1\n"), "%s",
                       text);
    free(text);
    close_client_free(c);
    rate_limit_free(rl);
    free(answer);
}
