/* Tests for resolve: the Zoom join-URL match (where a near miss would put notes
 * on the wrong meeting), time parsing, and the per-meeting match on Close's
 * own sample meeting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "resolve.h"

#define ZOOM_ID "85746392011"

Test(resolve, zoom_url_exact_and_with_suffixes)
{
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "?pwd=abc123", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "/", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "#success", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://example.zoom.us/j/" ZOOM_ID "?pwd=x", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("http://us02web.zoom.us/j/" ZOOM_ID, ZOOM_ID));
}

Test(resolve, zoom_url_near_misses)
{
    /* one digit more or less must never match: ids are prefixes of each other */
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/857463920111", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, "857463920111"));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/8574639201", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, "8574639201"));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/s/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/x/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "abc", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/wc/join?id=" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/1?next=/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("ftp://zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/857 4639 2011", "857 4639 2011"));
}

Test(resolve, zoom_url_null_and_empty)
{
    cr_assert_not(resolve_zoom_url_matches(NULL, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, NULL));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, ""));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/", ""));
}

/* 2026-11-25T09:00:03Z, computed independently of the parser. */
static time_t zoom_start(void)
{
    struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 25, .tm_hour = 9, .tm_sec = 3};
    return timegm(&tm);
}

Test(resolve, parse_time_forms)
{
    time_t t = zoom_start();
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03Z"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03+00:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T11:00:03+02:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T04:30:03-04:30"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.000000+00:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.987Z"), t);
}

Test(resolve, parse_time_garbage)
{
    cr_assert_eq(resolve_parse_time(NULL), -1);
    cr_assert_eq(resolve_parse_time(""), -1);
    cr_assert_eq(resolve_parse_time("yesterday"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03"), -1);   /* no zone */
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03Zjunk"), -1);
    cr_assert_eq(resolve_parse_time("2026-13-25T09:00:03Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-02-31T09:00:03Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03+0200"), -1);
}

static yajl_val load_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char err[256];
    yajl_val v = json_parse(buf, n, err, sizeof(err));
    cr_assert_not_null(v, "%s: %s", path, err);
    return v;
}

Test(resolve, sample_meeting_matches_zoom_start)
{
    yajl_val meeting = load_json(SAMPLES_DIR "/close/meeting.json");
    yajl_val zoom = load_json(SAMPLES_DIR "/zoom/meeting_ended.json");
    const char *zoom_id = json_scalar(json_get(zoom, "payload.object.id"));
    time_t start = resolve_parse_time(json_scalar(json_get(zoom, "payload.object.start_time")));
    cr_assert_str_eq(zoom_id, ZOOM_ID);
    cr_assert_eq(start, zoom_start());

    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start, 7200));
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start, 3)); /* 09:00:00 vs :03 */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start, 2));
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, 0, 0)); /* start 0: any time */
    /* the same Zoom id recurring an hour and more later is another occurrence */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start + 3 * 3600, 7200));
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start - 3604, 3600)); /* 3601 s off */
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start - 3603, 3600));   /* 3600 s off */
    /* a different Zoom meeting */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, "85746392012", start, 7200));
    cr_assert_not(resolve_meeting_matches_zoom(meeting, "857463920111", start, 7200));
    yajl_tree_free(zoom);
    yajl_tree_free(meeting);
}

Test(resolve, meeting_without_links_or_start)
{
    char err[256];
    const char *no_links = "{\"id\":\"acti_a\",\"starts_at\":\"2026-11-25T09:00:00+00:00\"}";
    const char *no_start =
        "{\"id\":\"acti_b\",\"conference_links\":[{\"type\":\"ZOOM\",\"url\":\"https://zoom.us/j/" ZOOM_ID
        "\"}]}";
    yajl_val a = json_parse(no_links, strlen(no_links), err, sizeof(err));
    yajl_val b = json_parse(no_start, strlen(no_start), err, sizeof(err));
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_not(resolve_meeting_matches_zoom(a, ZOOM_ID, zoom_start(), 7200));
    /* with a start to check, a meeting without starts_at cannot be proven to match */
    cr_assert_not(resolve_meeting_matches_zoom(b, ZOOM_ID, zoom_start(), 7200));
    cr_assert(resolve_meeting_matches_zoom(b, ZOOM_ID, 0, 7200));
    yajl_tree_free(a);
    yajl_tree_free(b);
}
