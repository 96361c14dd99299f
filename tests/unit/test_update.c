/* Tests for update.c: what the queue stores must read back exactly, and a
 * damaged row must be refused rather than half-read. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "update.h"

static void expect_str_or_null(const char *got, const char *want, const char *what)
{
    if (want == NULL)
        cr_expect_null(got, "%s", what);
    else
        cr_expect(got != NULL && strcmp(got, want) == 0, "%s: \"%s\" != \"%s\"", what, got ? got : "(null)",
                  want);
}

/* Serializes u, parses it back and compares every member. */
static void round_trip(const close_update *u)
{
    char *text = update_serialize(u);
    cr_assert_not_null(text);
    close_update back;
    char err[256] = "";
    cr_assert_eq(update_parse(text, strlen(text), &back, err, sizeof(err)), 0, "%s: %s", text, err);
    expect_str_or_null(back.activity_id, u->activity_id, "activity_id");
    expect_str_or_null(back.body_json, u->body_json, "body_json");
    cr_expect_eq(back.note_mode, u->note_mode);
    expect_str_or_null(back.zoom_meeting_id, u->zoom_meeting_id, "zoom_meeting_id");
    expect_str_or_null(back.join_url, u->join_url, "join_url");
    expect_str_or_null(back.calendar_event_id, u->calendar_event_id, "calendar_event_id");
    expect_str_or_null(back.ical_uid, u->ical_uid, "ical_uid");
    expect_str_or_null(back.start_time, u->start_time, "start_time");
    expect_str_or_null(back.sender, u->sender, "sender");
    expect_str_or_null(back.event_type, u->event_type, "event_type");
    cr_expect_eq(back.rule_index, u->rule_index);
    update_clear(&back);
    cr_expect_null(back.body_json, "update_clear zeroes the struct");
    free(text);
}

Test(update, round_trip_all_fields)
{
    close_update u = {
        .activity_id = "acti_123",
        .body_json = "{\"outcome_id\":\"outcome_x\",\"user_note_html\":\"<p>a &amp; \\\"b\\\" é</p>\","
                     "\"custom\":{\"n\":1.50,\"l\":[true,null]}}",
        .note_mode = NOTE_APPEND,
        .zoom_meeting_id = "85746392011",
        .join_url = "https://us02web.zoom.us/j/85746392011?pwd=abc",
        .calendar_event_id = "AAMkAGI2",
        .ical_uid = "040000008200E00074C5B7101A82E008",
        .start_time = "2026-11-25T09:00:03Z",
        .sender = "zoom",
        .event_type = "meeting.summary_completed",
        .rule_index = 7,
    };
    round_trip(&u);
}

Test(update, round_trip_nulls)
{
    close_update u = {.body_json = "{\"outcome_id\":\"o\"}"};
    round_trip(&u);
    close_update empty = {.note_mode = NOTE_REPLACE};
    round_trip(&empty);
}

Test(update, body_is_embedded_as_an_object)
{
    close_update u = {.activity_id = "acti_1",
                      .body_json = "{ \"outcome_id\" : \"o\" }",
                      .sender = "generic",
                      .event_type = "call_outcome",
                      .rule_index = 2};
    char *text = update_serialize(&u);
    cr_assert_not_null(text);
    char err[256];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    yajl_val body = json_member(v, "body");
    cr_expect(YAJL_IS_OBJECT(body));
    cr_expect_str_eq(json_scalar(json_get(v, "body.outcome_id")), "o");
    cr_expect_str_eq(json_scalar(json_member(v, "note_mode")), "replace");
    cr_expect_str_eq(json_scalar(json_member(v, "rule")), "2");
    cr_expect(YAJL_IS_OBJECT(json_member(v, "lookup")));
    yajl_tree_free(v);

    close_update back;
    cr_assert_eq(update_parse(text, strlen(text), &back, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(back.body_json, "{\"outcome_id\":\"o\"}", "re-serialized compactly");
    update_clear(&back);
    free(text);
}

Test(update, parse_accepts_absent_members)
{
    const char *text = "{\"body\":{\"outcome_id\":\"o\"},\"future_key\":[1]}";
    close_update u;
    char err[256] = "";
    cr_assert_eq(update_parse(text, strlen(text), &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(u.activity_id);
    cr_expect_null(u.sender);
    cr_expect_eq(u.note_mode, NOTE_REPLACE);
    cr_expect_eq(u.rule_index, 0);
    cr_expect_str_eq(u.body_json, "{\"outcome_id\":\"o\"}");
    update_clear(&u);
}

static void expect_parse_error(const char *text, const char *needle)
{
    close_update u;
    char err[256] = "";
    cr_expect_eq(update_parse(text, strlen(text), &u, err, sizeof(err)), -1, "%s", text);
    cr_expect(strstr(err, needle) != NULL, "%s: \"%s\" lacks \"%s\"", text, err, needle);
    cr_expect_null(u.activity_id, "nothing half-read");
    cr_expect_null(u.body_json, "nothing half-read");
}

Test(update, parse_errors)
{
    expect_parse_error("{\"activity_id\":", "invalid JSON");
    expect_parse_error("", "invalid JSON");
    expect_parse_error("[1,2]", "not a JSON object");
    expect_parse_error("{\"activity_id\":\"a\",\"body\":\"{}\"}", "body: must be an object");
    expect_parse_error("{\"activity_id\":\"a\",\"note_mode\":\"merge\"}", "note_mode");
    expect_parse_error("{\"activity_id\":\"a\",\"lookup\":{\"join_url\":5}}", "join_url: must be a string");
    expect_parse_error("{\"activity_id\":\"a\",\"lookup\":[]}", "lookup: must be an object");
    expect_parse_error("{\"activity_id\":\"a\",\"rule\":\"1\"}", "rule: must be a non-negative integer");
    expect_parse_error("{\"activity_id\":\"a\",\"rule\":-1}", "rule: must be a non-negative integer");
    expect_parse_error("{\"activity_id\":7}", "activity_id: must be a string");
}

Test(update, parse_reads_only_len_bytes)
{
    const char *text = "{\"sender\":\"zoom\"}garbage";
    close_update u;
    char err[256] = "";
    cr_assert_eq(update_parse(text, strlen("{\"sender\":\"zoom\"}"), &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(u.sender, "zoom");
    update_clear(&u);
}

Test(update, order_key_prefers_the_activity_id_then_lookup_keys)
{
    close_update u = {0};
    cr_expect_null(update_order_key(&u), "an update naming nothing is unordered");
    u.join_url = "https://x.zoom.us/j/1";
    char *k = update_order_key(&u);
    cr_expect_str_eq(k, "join:https://x.zoom.us/j/1");
    free(k);
    u.calendar_event_id = "AAMk=";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "cal:AAMk=");
    free(k);
    u.zoom_meeting_id = "85746392011";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "zoom:85746392011");
    free(k);
    u.activity_id = "acti_1";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "acti:acti_1");
    free(k);
}
