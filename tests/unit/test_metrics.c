/* Tests for metrics: counters, gauges, histograms and their exposition text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(void)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    cr_assert_not_null(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

static void expect_line(const char *text, const char *line)
{
    char *want = NULL;
    cr_assert(asprintf(&want, "\n%s\n", line) > 0);
    cr_expect(strstr(text, want) != NULL, "missing line: %s\n--- got:\n%s", line, text);
    free(want);
}

Test(metrics, every_family_has_help_and_type_even_without_series, .init = metrics_reset)
{
    char *text = render();
    cr_expect(strncmp(text, "# HELP closehook_build_info ", 28) == 0);
    expect_line(text, "# TYPE closehook_http_requests_total counter");
    expect_line(text, "# TYPE closehook_queue_rows gauge");
    expect_line(text, "# TYPE closehook_end_to_end_seconds histogram");
    free(text);
}

Test(metrics, counters_add_per_label_set, .init = metrics_reset)
{
    metrics_inc("closehook_http_requests_total", METRIC_LABELS("zoom", "zoom", "202"));
    metrics_inc("closehook_http_requests_total", METRIC_LABELS("zoom", "zoom", "202"));
    metrics_inc("closehook_http_requests_total", METRIC_LABELS("zoom", "zoom", "401"));
    char *text = render();
    expect_line(text, "closehook_http_requests_total{route=\"zoom\",source=\"zoom\",status=\"202\"} 2");
    expect_line(text, "closehook_http_requests_total{route=\"zoom\",source=\"zoom\",status=\"401\"} 1");
    free(text);
}

Test(metrics, gauges_are_set_not_added, .init = metrics_reset)
{
    metrics_set("closehook_queue_rows", 7, METRIC_LABELS("pending"));
    metrics_set("closehook_queue_rows", 3, METRIC_LABELS("pending"));
    metrics_set("closehook_credential_pause_seconds", 1.75, METRIC_LABELS("close"));
    char *text = render();
    expect_line(text, "closehook_queue_rows{state=\"pending\"} 3");
    expect_line(text, "closehook_credential_pause_seconds{credential=\"close\"} 1.75");
    free(text);
}

Test(metrics, histogram_buckets_are_cumulative_with_inf_sum_and_count, .init = metrics_reset)
{
    metrics_observe("closehook_close_request_duration_seconds", 0.02, METRIC_LABELS("put"));
    metrics_observe("closehook_close_request_duration_seconds", 0.3, METRIC_LABELS("put"));
    metrics_observe("closehook_close_request_duration_seconds", 100, METRIC_LABELS("put"));
    char *text = render();
    expect_line(text, "closehook_close_request_duration_seconds_bucket{kind=\"put\",le=\"0.01\"} 0");
    expect_line(text, "closehook_close_request_duration_seconds_bucket{kind=\"put\",le=\"0.025\"} 1");
    expect_line(text, "closehook_close_request_duration_seconds_bucket{kind=\"put\",le=\"0.5\"} 2");
    expect_line(text, "closehook_close_request_duration_seconds_bucket{kind=\"put\",le=\"30\"} 2");
    expect_line(text, "closehook_close_request_duration_seconds_bucket{kind=\"put\",le=\"+Inf\"} 3");
    expect_line(text, "closehook_close_request_duration_seconds_sum{kind=\"put\"} 100.31999999999999");
    expect_line(text, "closehook_close_request_duration_seconds_count{kind=\"put\"} 3");
    free(text);
}

Test(metrics, label_values_are_escaped, .init = metrics_reset)
{
    metrics_inc("closehook_dead_letters_total", METRIC_LABELS("a\"b\\c\nd"));
    char *text = render();
    expect_line(text, "closehook_dead_letters_total{route=\"a\\\"b\\\\c\\nd\"} 1");
    free(text);
}

Test(metrics, unknown_family_is_ignored, .init = metrics_reset)
{
    metrics_inc("closehook_no_such_metric", METRIC_LABELS("x"));
    char *text = render();
    cr_expect_null(strstr(text, "no_such_metric"));
    free(text);
}
