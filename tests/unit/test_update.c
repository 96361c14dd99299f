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
    expect_str_or_null(back.keys.zoom_meeting_id, u->keys.zoom_meeting_id, "zoom_meeting_id");
    expect_str_or_null(back.keys.join_url, u->keys.join_url, "join_url");
    expect_str_or_null(back.keys.calendar_event_id, u->keys.calendar_event_id, "calendar_event_id");
    expect_str_or_null(back.keys.ical_uid, u->keys.ical_uid, "ical_uid");
    expect_str_or_null(back.keys.start_time, u->keys.start_time, "start_time");
    expect_str_or_null(back.keys.calendar_type, u->keys.calendar_type, "calendar_type");
    cr_expect_eq(back.keys.nattendee_emails, u->keys.nattendee_emails);
    for (size_t i = 0; i < u->keys.nattendee_emails && i < back.keys.nattendee_emails; i++)
        expect_str_or_null(back.keys.attendee_emails[i], u->keys.attendee_emails[i], "attendee_emails[]");
    expect_str_or_null(back.request_id, u->request_id, "request_id");
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
        .keys.zoom_meeting_id = "85746392011",
        .keys.join_url = "https://us02web.zoom.us/j/85746392011?pwd=abc",
        .keys.calendar_event_id = "AAMkAGI2",
        .keys.ical_uid = "040000008200E00074C5B7101A82E008",
        .keys.start_time = "2026-11-25T09:00:03Z",
        .keys.calendar_type = "microsoft",
        .request_id = "lb-7f3a-42",
        .keys.attendee_emails = (char *[]){"dana@acme.example", "host@seller.example"},
        .keys.nattendee_emails = 2,
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
    u.keys.join_url = "https://x.zoom.us/j/1";
    char *k = update_order_key(&u);
    cr_expect_str_eq(k, "join:https://x.zoom.us/j/1");
    free(k);
    u.keys.calendar_event_id = "AAMk=";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "cal:AAMk=");
    free(k);
    u.keys.zoom_meeting_id = "85746392011";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "zoom:85746392011");
    free(k);
    u.activity_id = "acti_1";
    k = update_order_key(&u);
    cr_expect_str_eq(k, "acti:acti_1");
    free(k);
}

/* ---- lookup keys added later: attendee emails, calendar type ---- */

Test(update, rows_from_before_attendee_emails_still_parse)
{
    /* exactly what the previous version wrote */
    const char *old = "{\"activity_id\":null,\"body\":{\"outcome_id\":\"o\"},\"note_mode\":\"replace\","
                      "\"lookup\":{\"zoom_meeting_id\":\"85746392011\",\"join_url\":null,"
                      "\"calendar_event_id\":null,\"ical_uid\":null,\"start_time\":\"2026-11-25T09:00:03Z\"},"
                      "\"sender\":\"zoom\",\"event_type\":\"meeting.ended\",\"rule\":1}";
    close_update u;
    char err[256] = "";
    cr_assert_eq(update_parse(old, strlen(old), &u, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(u.keys.zoom_meeting_id, "85746392011");
    cr_assert_null(u.keys.calendar_type);
    cr_assert_eq(u.keys.nattendee_emails, 0);
    cr_assert_null(u.keys.attendee_emails);
    update_clear(&u);
}

Test(update, attendee_emails_must_be_strings)
{
    const char *bad = "{\"lookup\":{\"attendee_emails\":[\"a@b\",1]}}";
    const char *not_array = "{\"lookup\":{\"attendee_emails\":\"a@b\"}}";
    close_update u;
    char err[256] = "";
    cr_assert_eq(update_parse(bad, strlen(bad), &u, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "attendee_emails"), "%s", err);
    cr_assert_eq(update_parse(not_array, strlen(not_array), &u, err, sizeof(err)), -1);
}

Test(update, add_email_skips_empty_and_duplicates_in_any_case)
{
    close_update u = {0};
    cr_assert_eq(lookup_keys_add_email(&u.keys, "Dana@Acme.example"), 0);
    cr_assert_eq(lookup_keys_add_email(&u.keys, "dana@acme.EXAMPLE"), 0);
    cr_assert_eq(lookup_keys_add_email(&u.keys, ""), 0);
    cr_assert_eq(lookup_keys_add_email(&u.keys, NULL), 0);
    cr_assert_eq(lookup_keys_add_email(&u.keys, "host@seller.example"), 0);
    cr_assert_eq(u.keys.nattendee_emails, 2);
    cr_assert_str_eq(u.keys.attendee_emails[0], "Dana@Acme.example");
    cr_assert_str_eq(u.keys.attendee_emails[1], "host@seller.example");
    update_clear(&u);
}

/* ---- note_mode append ---- */

static yajl_val parse_body(const char *text)
{
    char err[256];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "%s: %s", text, err);
    return v;
}

/* The note of an append body, strdup'ed (NULL when the body has none). */
static char *appended(const char *body, const char *current)
{
    char *out = NULL, err[256] = "";
    cr_assert_eq(update_append_body(body, current, &out, err, sizeof(err)), 0, "%s", err);
    if (out == NULL)
        return NULL;
    yajl_val v = parse_body(out);
    const char *note = json_scalar(json_member(v, "user_note_html"));
    char *copy = note ? strdup(note) : NULL;
    yajl_tree_free(v);
    free(out);
    return copy;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

Test(update, append_keeps_the_earlier_note_and_wraps_the_section)
{
    const char *body = "{\"user_note_html\":\"<p>Summary</p>\"}";
    char *note = appended(body, "<p>Prep: ask about SSO.</p>");
    cr_assert_not_null(note);
    cr_assert_eq(strncmp(note, "<p>Prep: ask about SSO.</p><div data-closehook=\"", 45), 0, "%s", note);
    cr_assert_not_null(strstr(note, "\"><p>Summary</p></div>"), "%s", note);
    /* no current note at all */
    char *fresh = appended(body, NULL);
    cr_assert_eq(strncmp(fresh, "<div data-closehook=\"", 21), 0, "%s", fresh);
    /* the marker is a digest of the section: stable, and different per section */
    cr_assert_str_eq(strstr(note, "<div"), fresh);
    char *other = appended("{\"user_note_html\":\"<p>Other</p>\"}", NULL);
    cr_assert_neq(strncmp(other, fresh, strlen("<div data-closehook=\"0123456789abcdef")), 0, "%s", other);
    free(note);
    free(fresh);
    free(other);
}

Test(update, append_twice_adds_the_section_once)
{
    const char *body = "{\"user_note_html\":\"<p>Summary</p>\",\"outcome_id\":\"outcome_x\"}";
    char *once = appended(body, "<p>Prep</p>");
    char *out = NULL, err[256];
    cr_assert_eq(update_append_body(body, once, &out, err, sizeof(err)), 0);
    cr_assert_not_null(out, "the outcome still has to be sent");
    yajl_val v = parse_body(out);
    cr_assert_null(json_member(v, "user_note_html"), "%s", out);
    cr_assert_str_eq(json_scalar(json_member(v, "outcome_id")), "outcome_x");
    yajl_tree_free(v);
    free(out);
    /* Close re-quoted the attribute: the digest is still found */
    char *requoted = strdup(once);
    for (char *p = strstr(requoted, "data-closehook="); *p && *p != '>'; p++)
        if (*p == '"')
            *p = '\'';
    cr_assert_eq(
        update_append_body("{\"user_note_html\":\"<p>Summary</p>\"}", requoted, &out, err, sizeof(err)), 0);
    cr_assert_null(out, "nothing left to send: %s", out ? out : "");
    /* a section written verbatim without a marker counts as present too */
    cr_assert_eq(update_append_body("{\"user_note_html\":\"<p>Summary</p>\"}", "<p>Prep</p><p>Summary</p>",
                                    &out, err, sizeof(err)),
                 0);
    cr_assert_null(out);
    cr_assert_eq(count(once, "<p>Summary</p>"), 1);
    free(requoted);
    free(once);
}

Test(update, append_never_erases_the_note)
{
    char *out = NULL, err[256];
    cr_assert_eq(update_append_body("{\"user_note_html\":null,\"outcome_id\":\"o\"}", "<p>keep</p>", &out,
                                    err, sizeof(err)),
                 0);
    cr_assert_str_eq(out, "{\"outcome_id\":\"o\"}");
    free(out);
    cr_assert_eq(update_append_body("{\"user_note_html\":\"\"}", "<p>keep</p>", &out, err, sizeof(err)), 0);
    cr_assert_null(out);
    cr_assert_eq(update_append_body("[1]", NULL, &out, err, sizeof(err)), -1);
    cr_assert_eq(update_append_body(NULL, NULL, &out, err, sizeof(err)), -1);
}
