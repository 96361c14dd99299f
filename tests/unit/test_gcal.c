/* test_gcal: the Google Calendar push source against the sample headers — the
 * "sync" handshake, the channel token check and the event (and tree) made of
 * the X-Goog-* headers of a body-less push. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source/source.h"
#include "source_fixture.h"

/* The channel token of the sample's watch. */
#define SECRET "route-secret-token"
#define CHANNEL "01234567-89ab-cdef-0123-456789abcdef"
#define MAX_HEADERS 16
#define HEADER_TEXT 256

typedef struct stored_headers {
    char names[MAX_HEADERS][HEADER_TEXT];
    char values[MAX_HEADERS][HEADER_TEXT];
    int present[MAX_HEADERS];
    size_t n;
} stored_headers;

static const char *stored_header(void *ctx, const char *name, size_t *len)
{
    const stored_headers *h = ctx;
    for (size_t i = 0; i < h->n; i++) {
        if (h->present[i] && strcmp(h->names[i], name) == 0) {
            *len = strlen(h->values[i]);
            return h->values[i];
        }
    }
    return NULL;
}

/* Sets (or with value NULL removes) a header; name given lower-case. */
static void set_header(stored_headers *h, const char *name, const char *value)
{
    size_t i = 0;
    while (i < h->n && strcmp(h->names[i], name) != 0)
        i++;
    if (i == h->n) {
        cr_assert_lt(h->n, MAX_HEADERS);
        snprintf(h->names[h->n++], HEADER_TEXT, "%s", name);
    }
    h->present[i] = value != NULL;
    snprintf(h->values[i], HEADER_TEXT, "%s", value ? value : "");
}

/* The "Name: value" lines of gcal/headers.txt, names lower-cased as h2o gives them. */
static void load_sample_headers(stored_headers *h)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/gcal/headers.txt", SAMPLES_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *colon = strstr(line, ": ");
        if (line[0] == '#' || colon == NULL)
            continue;
        *colon = '\0';
        for (char *p = line; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        set_header(h, line, colon + 2);
    }
    fclose(f);
    cr_assert_geq(h->n, 7, "the sample holds the seven X-Goog-* headers");
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(gcal_source_create, "routes[1]", route_json, secret, err, errlen);
}

/* One push: the source and the sample's headers, with an empty body. */
typedef struct gcal_case {
    source *src;
    stored_headers headers;
    source_request req;
    char detail[256];
} gcal_case;

static void case_open(gcal_case *c)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(gcal_source_create, "routes[1]", "{\"name\":\"google\",\"source\":\"gcal\"}",
                               SECRET);
    load_sample_headers(&c->headers);
    c->req = (source_request){.body = "", .body_len = 0, .header = stored_header, .header_ctx = &c->headers};
}

static void case_close(gcal_case *c)
{
    c->src->destroy(c->src);
}

/* ---- sync handshake ---- */

Test(gcal, sync_with_the_right_token_is_answered_200_empty)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, "x-goog-resource-state", "sync");
    set_header(&c.headers, "x-goog-message-number", "1");
    source_answer ans = {0};
    cr_assert_eq(c.src->handshake(c.src, &c.req, NULL, &ans), 1);
    cr_assert_eq(ans.status, 200);
    cr_assert_str_eq(ans.content_type, "text/plain");
    cr_assert_eq(ans.body_len, 0);
    free(ans.body);
    case_close(&c);
}

static void assert_sync_unauthorized(const char *token, const char *want_detail)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, "x-goog-resource-state", "sync");
    set_header(&c.headers, "x-goog-channel-token", token);
    source_answer ans = {0};
    cr_assert_eq(c.src->handshake(c.src, &c.req, NULL, &ans), 1);
    cr_assert_eq(ans.status, 401);
    cr_assert_str_eq(ans.content_type, "application/json");
    char perr[128];
    yajl_val v = json_parse(ans.body, ans.body_len, perr, sizeof(perr));
    cr_assert_not_null(v, "%s", perr);
    cr_assert_str_eq(json_scalar(json_get(v, "error")), "unauthorized");
    cr_assert_str_eq(json_scalar(json_get(v, "detail")), want_detail);
    cr_assert_null(strstr(ans.body, SECRET), "the answer must not hold the secret");
    yajl_tree_free(v);
    free(ans.body);
    case_close(&c);
}

Test(gcal, sync_with_a_wrong_or_missing_token_is_answered_401)
{
    assert_sync_unauthorized("route-secret-tokeN", "channel token mismatch");
    assert_sync_unauthorized("route-secret-token-and-more", "channel token mismatch");
    assert_sync_unauthorized("", "channel token mismatch");
    assert_sync_unauthorized(NULL, "missing x-goog-channel-token header");
}

Test(gcal, other_states_are_no_handshake)
{
    const char *states[] = {"exists", "not_exists", "SYNC", "sync ", NULL};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        gcal_case c;
        case_open(&c);
        set_header(&c.headers, "x-goog-resource-state", states[i]);
        source_answer ans = {0};
        cr_assert_eq(c.src->handshake(c.src, &c.req, NULL, &ans), 0, "state %s",
                     states[i] ? states[i] : "(none)");
        cr_assert_null(ans.body);
        case_close(&c);
    }
}

/* ---- verify ---- */

static int verify_with_token(const char *token, char *detail, size_t detail_len)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, "x-goog-channel-token", token);
    int rc = c.src->verify(c.src, &c.req, NULL, detail, detail_len);
    case_close(&c);
    return rc;
}

Test(gcal, verify_checks_the_channel_token)
{
    char detail[256] = "";
    cr_assert_eq(verify_with_token(SECRET, detail, sizeof(detail)), 0, "%s", detail);
    cr_assert_eq(verify_with_token("route-secret-tokem", detail, sizeof(detail)), -1);
    cr_assert_str_eq(detail, "channel token mismatch");
    cr_assert_eq(verify_with_token("route-secret", detail, sizeof(detail)), -1);
    cr_assert_str_eq(detail, "channel token mismatch");
    cr_assert_eq(verify_with_token(NULL, detail, sizeof(detail)), -1);
    cr_assert_str_eq(detail, "missing x-goog-channel-token header");
}

Test(gcal, verify_accepts_the_sample_as_is)
{
    gcal_case c;
    case_open(&c);
    cr_assert_eq(c.src->verify(c.src, &c.req, NULL, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    case_close(&c);
}

/* ---- parse ---- */

static const char *tree_text(yajl_val tree, const char *path)
{
    yajl_val v = json_get(tree, path);
    cr_assert(YAJL_IS_STRING(v), "%s is a string in the tree", path);
    return v->u.string;
}

static void assert_push_event(const char *state)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, "x-goog-resource-state", state);
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, NULL, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_eq(out.count, 1);
    const meeting_event *ev = &out.items[0];
    cr_assert_str_eq(ev->sender, "gcal");
    cr_assert_str_eq(ev->event_type, state);
    cr_assert_str_eq(ev->dedup_key, CHANNEL ":10");
    cr_assert_null(ev->close_activity_id);
    cr_assert_null(ev->keys.calendar_event_id, "the push names no event");
    cr_assert_not_null(ev->owned_tree);
    cr_assert_eq(ev->tree, ev->owned_tree);

    cr_assert(YAJL_IS_OBJECT(ev->tree));
    cr_assert_eq(ev->tree->u.object.len, 6);
    cr_assert_str_eq(tree_text(ev->tree, "channel_id"), CHANNEL);
    cr_assert_str_eq(tree_text(ev->tree, "resource_id"), "ret08u3rv24htgh289g");
    cr_assert_str_eq(tree_text(ev->tree, "resource_uri"),
                     "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json");
    cr_assert_str_eq(tree_text(ev->tree, "resource_state"), state);
    cr_assert_str_eq(tree_text(ev->tree, "message_number"), "10");
    cr_assert_str_eq(tree_text(ev->tree, "channel_expiration"), "Wed, 02 Dec 2026 09:00:00 GMT");
    cr_assert_null(json_get(ev->tree, "channel_token"), "the token is no template field");
    event_list_free(&out);
    case_close(&c);
}

Test(gcal, parse_exists_and_not_exists_into_one_event_with_a_header_tree)
{
    assert_push_event("exists");
    assert_push_event("not_exists");
}

/* Google always sends both; without them a retry could not be recognised. */
Test(gcal, missing_channel_or_number_is_a_bad_request)
{
    const char *dropped[] = {"x-goog-message-number", "x-goog-channel-id"};
    for (size_t i = 0; i < 2; i++) {
        gcal_case c;
        case_open(&c);
        set_header(&c.headers, dropped[i], NULL);
        event_list out = {0};
        cr_assert_eq(c.src->parse(c.src, &c.req, NULL, &out, c.detail, sizeof(c.detail)), -1);
        char want[64];
        snprintf(want, sizeof(want), "missing %s header", dropped[i]);
        cr_assert_str_eq(c.detail, want);
        event_list_free(&out);
        case_close(&c);
    }
}

/* Header text with JSON's special characters must come through as text. */
Test(gcal, header_values_are_escaped_by_the_generator)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, "x-goog-resource-id", "a\"b\\c},{\"x\":1");
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, NULL, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_str_eq(tree_text(out.items[0].tree, "resource_id"), "a\"b\\c},{\"x\":1");
    cr_assert_null(json_get(out.items[0].tree, "x"));
    event_list_free(&out);
    case_close(&c);
}

static void assert_parse_400(const char *header, const char *value, const char *want_detail)
{
    gcal_case c;
    case_open(&c);
    set_header(&c.headers, header, value);
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, NULL, &out, c.detail, sizeof(c.detail)), -1, "%s", want_detail);
    cr_assert_str_eq(c.detail, want_detail);
    cr_assert_eq(out.count, 0);
    case_close(&c);
}

Test(gcal, parse_refuses_unknown_missing_and_unprintable_states)
{
    assert_parse_400("x-goog-resource-state", "updated", "unsupported x-goog-resource-state \"updated\"");
    assert_parse_400("x-goog-resource-state", "sync", "unsupported x-goog-resource-state \"sync\"");
    assert_parse_400("x-goog-resource-state", "ex\"ists\x01",
                     "unsupported x-goog-resource-state \"ex\"ists?\"");
    assert_parse_400("x-goog-resource-state", "0123456789012345678901234567890123456789",
                     "unsupported x-goog-resource-state \"01234567890123456789012345678901\"");
    assert_parse_400("x-goog-resource-state", NULL, "missing x-goog-resource-state header");
}

Test(gcal, parse_refuses_headers_that_are_not_utf8)
{
    assert_parse_400("x-goog-resource-uri", "https://example.com/\xff\xfe",
                     "x-goog-* headers are not valid UTF-8");
}

/* ---- configuration ---- */

Test(gcal, constructor_requires_the_channel_token_secret)
{
    char err[256] = "";
    cr_assert_null(make_source("{\"name\":\"g\",\"source\":\"gcal\"}", NULL, err, sizeof(err)));
    cr_assert_str_eq(err,
                     "test.json: routes[1].secret: required for source gcal (the watch channel's token)");
    err[0] = '\0';
    cr_assert_null(make_source("{\"name\":\"g\",\"source\":\"gcal\"}", "", err, sizeof(err)));
    cr_assert(strstr(err, "routes[1].secret: required") != NULL, "%s", err);
}

Test(gcal, constructor_refuses_unknown_keys_and_non_objects)
{
    char err[256] = "";
    cr_assert_null(
        make_source("{\"name\":\"g\",\"source\":\"gcal\",\"channel_id\":\"x\"}", SECRET, err, sizeof(err)));
    cr_assert_str_eq(err, "test.json: routes[1].channel_id: unknown key for source gcal");
    err[0] = '\0';
    cr_assert_null(make_source("\"gcal\"", SECRET, err, sizeof(err)));
    cr_assert_str_eq(err, "test.json: routes[1]: must be an object");

    source *ok = make_source("{\"name\":\"g\",\"source\":\"gcal\",\"credential\":\"c\",\"rules\":[]}", SECRET,
                             err, sizeof(err));
    cr_assert_not_null(ok, "%s", err);
    cr_assert_str_eq(ok->name, "gcal");
    cr_assert_eq(ok->body_is_json, 0, "the push has no body");
    ok->destroy(ok);
}
