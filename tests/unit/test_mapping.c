/* Tests for mapping.c: rule validation messages, first-match selection and the
 * close_update a matched rule builds from the Zoom and generic samples. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mapping.h"

#define WHERE "closehook.json: routes[0].rules"

static yajl_val parse_text(const char *text)
{
    char err[256];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "parse: %s", err);
    return v;
}

static yajl_val parse_sample(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SAMPLES_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return parse_text(buf);
}

/* Loads rules from JSON text, asserting success. */
static void load_ok(const char *text, mapping_rules *out)
{
    yajl_val v = parse_text(text);
    char err[512] = "";
    int rc = mapping_load(v, WHERE, out, err, sizeof(err));
    yajl_tree_free(v);
    cr_assert_eq(rc, 0, "load %s: %s", text, err);
}

/* Loads rules from JSON text, asserting failure with exactly `want`. */
static void load_fails(const char *text, const char *want)
{
    yajl_val v = parse_text(text);
    mapping_rules rules;
    char err[512] = "";
    int rc = mapping_load(v, WHERE, &rules, err, sizeof(err));
    yajl_tree_free(v);
    cr_expect_eq(rc, -1, "load %s", text);
    cr_expect_str_eq(err, want, "load %s", text);
    cr_expect_null(rules.items);
    cr_expect_eq(rules.count, 0);
}

/* The event a Zoom source would make of summary_completed.json. */
static void zoom_event(meeting_event *ev, yajl_val tree)
{
    memset(ev, 0, sizeof(*ev));
    ev->sender = "zoom";
    ev->event_type = strdup("meeting.summary_completed");
    ev->keys.zoom_meeting_id = strdup("85746392011");
    ev->keys.start_time = strdup("2026-11-25T09:00:03Z");
    ev->tree = tree;
}

Test(mapping, loads_good_rules)
{
    mapping_rules rules;
    load_ok("[{\"event\":\"meeting.ended\",\"outcome_id\":\"outcome_done\"},"
            " {\"event\":\"*\",\"when\":{\"payload.object.meeting_id\":85746392011,\"x\":true,\"y\":\"s\"},"
            "  \"activity_id\":\"{{close.activity_id}}\",\"note\":\"<b>{{a}}</b>\",\"note_mode\":\"append\","
            "  \"fields\":{\"status\":\"completed\",\"custom.cf_1\":[1,2]}}]",
            &rules);
    cr_assert_eq(rules.count, 2);
    const mapping_rule *a = &rules.items[0], *b = &rules.items[1];
    cr_expect_str_eq(a->event, "meeting.ended");
    cr_expect_str_eq(a->outcome_id, "outcome_done");
    cr_expect_null(a->note_template);
    cr_expect_null(a->activity_id_template);
    cr_expect_null(a->fields);
    cr_expect_eq(a->note_mode, NOTE_REPLACE);
    cr_expect_str_eq(b->event, "*");
    cr_assert_eq(b->nconditions, 3);
    cr_expect_str_eq(b->conditions[0].path, "payload.object.meeting_id");
    cr_expect_str_eq(b->conditions[0].value, "85746392011");
    cr_expect_str_eq(b->conditions[1].value, "true");
    cr_expect_str_eq(b->conditions[2].value, "s");
    cr_expect_str_eq(b->activity_id_template, "{{close.activity_id}}");
    cr_expect_str_eq(b->note_template, "<b>{{a}}</b>");
    cr_expect_eq(b->note_mode, NOTE_APPEND);
    cr_expect_str_eq(b->fields_json, "{\"status\":\"completed\",\"custom.cf_1\":[1,2]}");
    cr_expect_str_eq(json_scalar(json_member(b->fields, "status")), "completed");
    mapping_free(&rules);
    cr_expect_eq(rules.count, 0);
}

Test(mapping, empty_rules_load)
{
    mapping_rules rules;
    load_ok("[]", &rules);
    cr_expect_eq(rules.count, 0);
    meeting_event ev = {.sender = "zoom", .event_type = "meeting.ended"};
    cr_expect_eq(mapping_match(&rules, &ev), -1);
    mapping_free(&rules);
}

Test(mapping, bad_rules_name_index_and_key)
{
    load_fails("{}", WHERE ": must be an array of rules");
    load_fails("[5]", WHERE "[0]: must be an object");
    load_fails("[{\"outcome_id\":\"outcome_o\"}]", WHERE "[0].event: required");
    load_fails("[{\"event\":\"\",\"outcome_id\":\"outcome_o\"}]",
               WHERE "[0].event: must be a non-empty string");
    load_fails("[{\"event\":3,\"outcome_id\":\"outcome_o\"}]", WHERE "[0].event: must be a non-empty string");
    load_fails("[{\"event\":\"e\"}]",
               WHERE "[0]: sets nothing: give at least one of outcome_id, note, fields");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"\"}]", WHERE "[0].outcome_id: must be a non-empty string");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"notes\":\"x\"}]",
               WHERE "[0].notes: unknown key");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"outcome_id\":\"outcome_p\"}]",
               WHERE "[0].outcome_id: given more than once");
}

Test(mapping, bad_rule_index_is_reported)
{
    load_fails("[{\"event\":\"a\",\"outcome_id\":\"outcome_o\"},{\"event\":\"b\",\"note\":\"n\"},"
               "{\"event\":\"c\",\"note\":\"n\",\"note_mode\":\"merge\"}]",
               WHERE "[2].note_mode: must be \"replace\" or \"append\"");
    load_fails("[{\"event\":\"c\",\"note\":\"n\",\"note_mode\":1}]",
               WHERE "[0].note_mode: must be \"replace\" or \"append\"");
}

Test(mapping, bad_when)
{
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"when\":[\"a\"]}]",
               WHERE "[0].when: must be an object of \"path\": value");
    load_fails(
        "[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"when\":{\"ok\":\"1\",\"payload.x\":{\"y\":1}}}]",
        WHERE "[0].when.payload.x: must be a string, number or boolean");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"when\":{\"payload.x\":null}}]",
               WHERE "[0].when.payload.x: must be a string, number or boolean");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"when\":{\"\":\"1\"}}]",
               WHERE "[0].when: has an empty path");
}

Test(mapping, bad_templates)
{
    load_fails("[{\"event\":\"e\",\"note\":\"ab{{x\"}]", WHERE "[0].note: unclosed tag at offset 2");
    load_fails("[{\"event\":\"e\",\"note\":7}]", WHERE "[0].note: must be a template string");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"activity_id\":\"{{#a}}\"}]",
               WHERE "[0].activity_id: section {{#a}} at offset 0 is never closed");
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"outcome_o\",\"activity_id\":\"\"}]",
               WHERE "[0].activity_id: must be a non-empty template string");
}

Test(mapping, bad_fields)
{
    load_fails("[{\"event\":\"e\",\"fields\":{\"status\":\"x\",\"outcome_id\":\"outcome_o\"}}]",
               WHERE "[0].fields.outcome_id: set it with the rule's own key, not in fields");
    load_fails("[{\"event\":\"e\",\"fields\":{\"user_note_html\":\"x\"}}]",
               WHERE "[0].fields.user_note_html: set it with the rule's own key, not in fields");
    load_fails("[{\"event\":\"e\",\"fields\":\"status\"}]", WHERE "[0].fields: must be a non-empty object");
    load_fails("[{\"event\":\"e\",\"fields\":{}}]", WHERE "[0].fields: must be a non-empty object");
}

Test(mapping, first_match_wins)
{
    mapping_rules rules;
    load_ok("[{\"event\":\"meeting.ended\",\"outcome_id\":\"outcome_o0\"},"
            " {\"event\":\"meeting.summary_completed\",\"outcome_id\":\"outcome_o1\"},"
            " {\"event\":\"meeting.summary_completed\",\"outcome_id\":\"outcome_o2\"},"
            " {\"event\":\"*\",\"outcome_id\":\"outcome_o3\"}]",
            &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    cr_expect_eq(mapping_match(&rules, &ev), 1);
    free(ev.event_type);
    ev.event_type = strdup("meeting.started");
    cr_expect_eq(mapping_match(&rules, &ev), 3, "\"*\" matches any event");
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, when_conditions)
{
    mapping_rules rules;
    load_ok(
        "[{\"event\":\"*\",\"when\":{\"payload.object.meeting_id\":85746392012},\"outcome_id\":\"outcome_"
        "near\"},"
        " {\"event\":\"*\",\"when\":{\"payload.object.no_such\":\"x\"},\"outcome_id\":\"outcome_missing\"},"
        " {\"event\":\"*\",\"when\":{\"payload.object.meeting_id\":85746392011,"
        "                          "
        "\"payload.object.summary_details.1.label\":\"Security\"},\"outcome_id\":\"outcome_hit\"},"
        " {\"event\":\"*\",\"outcome_id\":\"outcome_fallback\"}]",
        &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    cr_expect_eq(mapping_match(&rules, &ev), 2);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, number_condition_matches_as_text)
{
    /* Config may write the id as a string; the payload has a number. */
    mapping_rules rules;
    load_ok(
        "[{\"event\":\"meeting.summary_completed\",\"when\":{\"payload.object.meeting_id\":\"85746392011\"},"
        "  \"outcome_id\":\"outcome_o\"}]",
        &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    cr_expect_eq(mapping_match(&rules, &ev), 0);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, no_match)
{
    mapping_rules rules;
    load_ok("[{\"event\":\"meeting.ended\",\"outcome_id\":\"outcome_o\"},"
            " {\"event\":\"*\",\"when\":{\"event\":\"meeting.summary_completedX\"},\"outcome_id\":\"outcome_"
            "p\"}]",
            &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    cr_expect_eq(mapping_match(&rules, &ev), -1);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, build_zoom_summary_note)
{
    mapping_rules rules;
    load_ok("[{\"event\":\"meeting.summary_completed\",\"outcome_id\":\"outcome_held\","
            "  \"note\":\"<h2>{{payload.object.summary_title}}</h2><p>{{payload.object.summary_overview}}</p>"
            "{{#payload.object.summary_details}}<h3>{{label}}</h3><p>{{summary}}</p>{{/"
            "payload.object.summary_details}}"
            "<h3>Next steps</h3>{{payload.object.next_steps}}\",\"note_mode\":\"append\"}]",
            &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    close_update u;
    char err[256] = "";
    cr_assert_eq(mapping_build(&rules, 0, &ev, &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(
        u.body_json,
        "{\"outcome_id\":\"outcome_held\",\"user_note_html\":\"<h2>Pricing follow-up with Acme</h2>"
        "<p>Acme wants the Growth plan for 40 seats if SSO is included. &lt;Decision&gt; due Friday "
        "&amp; legal review pending.</p><h3>Pricing</h3><p>Discussed 40 seats on Growth; asked for 12% "
        "discount.</p><h3>Security</h3><p>SSO and audit log are must-haves.</p><h3>Next steps</h3>"
        "<ul><li>Send revised quote by Thursday</li><li>Book security review with their IT lead</li>"
        "</ul>\"}");
    cr_expect_null(u.activity_id, "no id anywhere: resolve finds it");
    cr_expect_eq(u.note_mode, NOTE_APPEND);
    cr_expect_eq(u.rule_index, 0);
    cr_expect_str_eq(u.sender, "zoom");
    cr_expect_str_eq(u.event_type, "meeting.summary_completed");
    cr_expect_str_eq(u.keys.zoom_meeting_id, "85746392011");
    cr_expect_str_eq(u.keys.start_time, "2026-11-25T09:00:03Z");
    cr_expect_null(u.keys.join_url);
    cr_expect_null(u.keys.calendar_event_id);
    cr_expect_null(u.keys.ical_uid);
    update_clear(&u);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, build_merges_fields)
{
    mapping_rules rules;
    load_ok("[{\"event\":\"*\",\"outcome_id\":\"outcome_o\"},"
            " {\"event\":\"*\",\"fields\":{\"status\":\"completed\",\"custom.cf_x\":[1,\"a\"],\"n\":2.50}}]",
            &rules);
    yajl_val tree = parse_sample("zoom/summary_completed.json");
    meeting_event ev;
    zoom_event(&ev, tree);
    close_update u;
    char err[256] = "";
    cr_assert_eq(mapping_build(&rules, 1, &ev, &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(u.body_json, "{\"status\":\"completed\",\"custom.cf_x\":[1,\"a\"],\"n\":2.50}");
    cr_expect_eq(u.rule_index, 1);
    cr_expect_eq(u.note_mode, NOTE_REPLACE);
    update_clear(&u);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, activity_id_sources)
{
    mapping_rules rules;
    load_ok(
        "[{\"event\":\"call_outcome\",\"activity_id\":\"{{close.activity_id}}\",\"outcome_id\":\"outcome_o\","
        "  \"note\":\"{{notes}}\",\"fields\":{\"status\":\"{{outcome}}\"}},"
        " {\"event\":\"*\",\"outcome_id\":\"outcome_o\"},"
        " {\"event\":\"*\",\"activity_id\":\"{{close.nothing}}\",\"outcome_id\":\"outcome_o\"},"
        " {\"event\":\"*\",\"activity_id\":\"{{notes}}\",\"outcome_id\":\"outcome_o\"}]",
        &rules);
    yajl_val tree = parse_sample("generic/outcome.json");
    meeting_event ev = {.sender = "generic",
                        .event_type = strdup("call_outcome"),
                        .close_activity_id = strdup("acti_fromEvent"),
                        .tree = tree};
    close_update u;
    char err[256] = "";

    cr_assert_eq(mapping_build(&rules, 0, &ev, &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(u.activity_id, "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb",
                     "the rule's template wins");
    cr_expect_str_eq(u.body_json,
                     "{\"outcome_id\":\"outcome_o\",\"user_note_html\":\"Prospect did not join. Sent "
                     "reschedule link &lt;2 min&gt; after start.\",\"status\":\"{{outcome}}\"}",
                     "fields are literal, not templates");
    update_clear(&u);

    cr_assert_eq(mapping_build(&rules, 1, &ev, &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(u.activity_id, "acti_fromEvent");
    update_clear(&u);

    cr_expect_eq(mapping_build(&rules, 2, &ev, &u, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "activity_id template rendered empty");
    cr_expect_null(u.body_json, "a failed build leaves nothing to free");

    cr_expect_eq(mapping_build(&rules, 3, &ev, &u, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "activity_id has characters a Close id never has");

    free(ev.close_activity_id);
    ev.close_activity_id = NULL;
    cr_assert_eq(mapping_build(&rules, 1, &ev, &u, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(u.activity_id);
    update_clear(&u);

    ev.close_activity_id = strdup("../../lead/x");
    cr_expect_eq(mapping_build(&rules, 1, &ev, &u, err, sizeof(err)), -1,
                 "an id must not escape the URL path");
    cr_expect_eq(mapping_build(&rules, 9, &ev, &u, err, sizeof(err)), -1);
    meeting_event_clear(&ev);
    yajl_tree_free(tree);
    mapping_free(&rules);
}

Test(mapping, close_ids_must_carry_their_kind)
{
    load_fails("[{\"event\":\"e\",\"outcome_id\":\"stat_held\"}]",
               WHERE "[0].outcome_id: must be a Close outcome id (\"outcome_…\")");
    load_fails("[{\"event\":\"e\",\"activity_id\":\"meeting_123\",\"note\":\"n\"}]",
               WHERE "[0].activity_id: must be a Close activity id (\"acti_…\") or a template");
    mapping_rules rules;
    load_ok("[{\"event\":\"e\",\"activity_id\":\"acti_1\",\"outcome_id\":\"outcome_x\"},"
            " {\"event\":\"f\",\"activity_id\":\"{{close.id}}\",\"note\":\"n\"}]",
            &rules);
    mapping_free(&rules);
}
