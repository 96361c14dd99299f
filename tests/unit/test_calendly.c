/* test_calendly: the Calendly source against the samples — the
 * Calendly-Webhook-Signature check (element order, several v1 entries,
 * tolerance both ways, malformed headers), the parsed meeting_event and its
 * dedup key for each event kind, and the constructor's errors. Expected
 * digests come from OpenSSL's one-shot HMAC(), not signature.c, so the tests
 * are not circular. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source/source.h"
#include "source_fixture.h"

#define SECRET "calendly-webhook-signing-key-for-tests"
/* The t= of headers.txt: the samples' era. */
#define NOW 1764064800L
#define HEADER "calendly-webhook-signature"
#define SCHEDULED_EVENT "https://api.calendly.com/scheduled_events/CCCCCCCCCCCCCCCC"
#define INVITEE SCHEDULED_EVENT "/invitees/BBBBBBBBBBBBBBBB"

typedef struct one_header {
    const char *name;
    const char *value;
} one_header;

static const char *fake_lookup(void *ctx, const char *name, size_t *len)
{
    const one_header *h = ctx;
    if (h->name == NULL || strcmp(h->name, name) != 0)
        return NULL;
    *len = strlen(h->value);
    return h->value;
}

/* One request's worth of state: source, body, parsed tree, the header. */
typedef struct calendly_case {
    source *src;
    char *body;
    size_t len;
    yajl_val tree;
    one_header header;
    source_request req;
    char sig[512];
    char detail[256];
} calendly_case;

static char *read_sample(const char *name, size_t *len)
{
    return fixture_read_sample("calendly", name, len);
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(calendly_source_create, "routes[1]", route_json, secret, err, errlen);
}

/* hex(HMAC-SHA256(secret, ts + "." + body)) via OpenSSL directly. */
static void calendly_hex(const char *secret, long ts, const char *body, size_t len, char *out)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%ld.", ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    fixture_hex(mac, fixture_hmac(secret, strlen(secret), prefix, body, len, mac), out);
}

/* The header as Calendly sends it: signed with signing_secret at ts. */
static void case_sign(calendly_case *c, const char *signing_secret, long ts)
{
    char hex[65];
    calendly_hex(signing_secret, ts, c->body, c->len, hex);
    snprintf(c->sig, sizeof(c->sig), "t=%ld,v1=%s", ts, hex);
    c->header = (one_header){HEADER, c->sig};
}

static void case_open_body(calendly_case *c, const char *route_json, char *body, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(calendly_source_create, "routes[1]", route_json, SECRET);
    c->body = body;
    c->len = len;
    c->tree = fixture_parse(body, len);
    c->req = (source_request){
        .body = body, .body_len = len, .header = fake_lookup, .header_ctx = &c->header, .now = NOW};
    case_sign(c, SECRET, NOW);
}

static void case_open_sample(calendly_case *c, const char *sample)
{
    size_t len;
    char *body = read_sample(sample, &len);
    case_open_body(c, "{\"name\":\"cal\",\"source\":\"calendly\",\"secret\":\"env:CAL\"}", body, len);
}

static void case_open_text(calendly_case *c, const char *json)
{
    case_open_body(c, "{\"source\":\"calendly\"}", strdup(json), strlen(json));
}

static void case_close(calendly_case *c)
{
    fixture_release(c->src, c->tree, c->body);
}

static int case_verify(calendly_case *c)
{
    c->detail[0] = '\0';
    return c->src->verify(c->src, &c->req, c->tree, c->detail, sizeof(c->detail));
}

/* Verifies with the header set to exactly text. */
static int verify_header(calendly_case *c, const char *text)
{
    snprintf(c->sig, sizeof(c->sig), "%s", text);
    return case_verify(c);
}

static const char *const samples[] = {"invitee_created.json", "invitee_canceled.json",
                                      "invitee_no_show_created.json"};

Test(calendly, verifies_good_signature_on_every_sample)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        calendly_case c;
        case_open_sample(&c, samples[i]);
        cr_expect_eq(case_verify(&c), 0, "%s: %s", samples[i], c.detail);
        case_close(&c);
    }
}

Test(calendly, rejects_wrong_secret)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    case_sign(&c, "another-signing-key", NOW);
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(calendly, rejects_tampered_body)
{
    calendly_case c;
    case_open_sample(&c, "invitee_canceled.json");
    char *reason = strstr(c.body, "Budget frozen");
    cr_assert_not_null(reason);
    reason[0] = 'b'; /* signed as "Budget", delivered as "budget" */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

static int verify_at(calendly_case *c, long ts)
{
    case_sign(c, SECRET, ts);
    return case_verify(c);
}

Test(calendly, default_tolerance_is_three_minutes_both_ways)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    cr_expect_eq(verify_at(&c, NOW - 180), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW + 180), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW - 181), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 180 s tolerance");
    cr_expect_eq(verify_at(&c, NOW + 181), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 180 s tolerance");
    case_close(&c);
}

Test(calendly, configured_tolerance)
{
    size_t len;
    char *body = read_sample("invitee_created.json", &len);
    calendly_case c;
    case_open_body(&c, "{\"source\":\"calendly\",\"tolerance_s\":900}", body, len);
    cr_expect_eq(verify_at(&c, NOW - 900), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW + 901), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 900 s tolerance");
    case_close(&c);
}

Test(calendly, missing_header)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    c.header.name = "x-other";
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing calendly-webhook-signature header");
    case_close(&c);
}

/* shape with every "T" replaced by the time and every "S" by the signature. */
static void fill_shape(const char *shape, long ts, const char *sig, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = shape; *p != '\0' && used < cap; p++) {
        if (*p == 'T')
            used += (size_t)snprintf(out + used, cap - used, "%ld", ts);
        else if (*p == 'S')
            used += (size_t)snprintf(out + used, cap - used, "%s", sig);
        else
            used += (size_t)snprintf(out + used, cap - used, "%c", *p);
    }
}

Test(calendly, malformed_headers)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    char good[80], text[256];
    calendly_hex(SECRET, NOW, c.body, c.len, good);
    static const char *const shapes[] = {
        "",             /* empty */
        "t=T",          /* no v1 */
        "v1=S",         /* no t */
        "t=T;v1=S",     /* wrong separator */
        "t=T,v1=S,",    /* empty trailing element */
        "t=T,,v1=S",    /* empty element */
        "t=T,v1S",      /* element without '=' */
        "t=T,=S",       /* element without a key */
        "t=T,t=T,v1=S", /* two times: which was signed? */
        "S",            /* bare hex */
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        fill_shape(shapes[i], NOW, good, text, sizeof(text));
        cr_expect_eq(verify_header(&c, text), -1, "\"%s\"", text);
        cr_expect_str_eq(c.detail, "malformed calendly-webhook-signature header", "\"%s\"", text);
    }
    snprintf(text, sizeof(text), "t=17640648x0,v1=%s", good);
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "invalid calendly-webhook-signature header");
    snprintf(text, sizeof(text), "t=,v1=%s", good);
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "invalid calendly-webhook-signature header");
    case_close(&c);
}

Test(calendly, signature_text_must_match_exactly)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    char good[80], text[256];
    calendly_hex(SECRET, NOW, c.body, c.len, good);

    snprintf(text, sizeof(text), "t=%ld,v1=%.63s", NOW, good); /* one digit short */
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    snprintf(text, sizeof(text), "t=%ld,v1=%s0", NOW, good); /* one digit long */
    cr_expect_eq(verify_header(&c, text), -1);
    snprintf(text, sizeof(text), "t=%ld,v0=%s", NOW, good); /* another scheme: no v1 */
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "malformed calendly-webhook-signature header");
    snprintf(text, sizeof(text), "t=%ld,v1=%s", NOW - 1, good); /* signed at another time */
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(calendly, elements_in_any_order_with_blanks_and_extras)
{
    calendly_case c;
    case_open_sample(&c, "invitee_canceled.json");
    char good[80], text[256];
    calendly_hex(SECRET, NOW, c.body, c.len, good);

    snprintf(text, sizeof(text), "v1=%s,t=%ld", good, NOW);
    cr_expect_eq(verify_header(&c, text), 0, "%s: %s", text, c.detail);
    snprintf(text, sizeof(text), "t=%ld, v1=%s", NOW, good);
    cr_expect_eq(verify_header(&c, text), 0, "%s: %s", text, c.detail);
    snprintf(text, sizeof(text), "v0=abc,t=%ld,v1=%s", NOW, good); /* unknown elements are ignored */
    cr_expect_eq(verify_header(&c, text), 0, "%s: %s", text, c.detail);
    case_close(&c);
}

Test(calendly, several_v1_entries_any_match_is_enough)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    char good[80], old_key[80], text[512];
    calendly_hex(SECRET, NOW, c.body, c.len, good);
    calendly_hex("the-previous-signing-key", NOW, c.body, c.len, old_key);

    snprintf(text, sizeof(text), "t=%ld,v1=%s,v1=%s", NOW, old_key, good);
    cr_expect_eq(verify_header(&c, text), 0, "%s", c.detail);
    snprintf(text, sizeof(text), "t=%ld,v1=%s,v1=%s", NOW, good, old_key);
    cr_expect_eq(verify_header(&c, text), 0, "%s", c.detail);
    snprintf(text, sizeof(text), "t=%ld,v1=%s,v1=%s", NOW, old_key, "00");
    cr_expect_eq(verify_header(&c, text), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(calendly, never_a_handshake)
{
    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    source_answer ans = {0};
    cr_expect_eq(c.src->handshake(c.src, &c.req, c.tree, &ans), 0);
    cr_expect_null(ans.body);
    case_close(&c);
}

typedef struct expected_event {
    const char *sample;
    const char *event_type;
    const char *join_url;
    const char *start_time;
    const char *end_time;
    const char *calendar_event_id;
    const char *dedup_key;
} expected_event;

static void expect_str_or_null(const char *got, const char *want, const char *what, const char *sample)
{
    if (want == NULL)
        cr_expect_null(got, "%s %s: got \"%s\"", sample, what, got ? got : "");
    else
        cr_expect(got != NULL && strcmp(got, want) == 0, "%s %s: got \"%s\", want \"%s\"", sample, what,
                  got ? got : "(null)", want);
}

static void parse_one(calendly_case *c, event_list *list)
{
    int rc = c->src->parse(c->src, &c->req, c->tree, list, c->detail, sizeof(c->detail));
    cr_assert_eq(rc, 0, "%s", c->detail);
    cr_assert_eq(list->count, 1);
}

Test(calendly, parses_every_sample)
{
    static const expected_event cases[] = {
        {"invitee_created.json", "invitee.created", "https://example.zoom.us/j/85746392011",
         "2026-11-25T09:00:00.000000Z", "2026-11-25T09:30:00.000000Z", SCHEDULED_EVENT,
         "invitee.created:" INVITEE ":2026-11-20T14:12:33.000000Z"},
        {"invitee_canceled.json", "invitee.canceled", "https://example.zoom.us/j/85746392011",
         "2026-11-25T09:00:00.000000Z", "2026-11-25T09:30:00.000000Z", SCHEDULED_EVENT,
         "invitee.canceled:" INVITEE ":2026-11-22T08:00:00.000000Z"},
        /* A no-show names only itself and the invitee: no scheduled event. */
        {"invitee_no_show_created.json", "invitee_no_show.created", NULL, NULL, NULL, NULL,
         "invitee_no_show.created:https://api.calendly.com/invitee_no_shows/EEEEEEEEEEEEEEEE:"
         "2026-11-25T09:35:00.000000Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const expected_event *want = &cases[i];
        calendly_case c;
        case_open_sample(&c, want->sample);
        event_list list = {0};
        parse_one(&c, &list);
        const meeting_event *ev = &list.items[0];
        cr_expect_str_eq(ev->sender, "calendly");
        cr_expect_eq(ev->tree, c.tree, "%s: the event carries the whole body tree", want->sample);
        expect_str_or_null(ev->event_type, want->event_type, "event_type", want->sample);
        expect_str_or_null(ev->keys.join_url, want->join_url, "join_url", want->sample);
        expect_str_or_null(ev->keys.start_time, want->start_time, "start_time", want->sample);
        expect_str_or_null(ev->end_time, want->end_time, "end_time", want->sample);
        expect_str_or_null(ev->keys.calendar_event_id, want->calendar_event_id, "calendar_event_id",
                           want->sample);
        expect_str_or_null(ev->dedup_key, want->dedup_key, "dedup_key", want->sample);
        expect_str_or_null(ev->keys.zoom_meeting_id, NULL, "zoom_meeting_id", want->sample);
        expect_str_or_null(ev->close_activity_id, NULL, "close_activity_id", want->sample);
        expect_str_or_null(ev->keys.ical_uid, NULL, "ical_uid", want->sample);
        event_list_free(&list);
        case_close(&c);
    }
}

static char *dedup_of(const char *body)
{
    calendly_case c;
    case_open_text(&c, body);
    event_list list = {0};
    parse_one(&c, &list);
    char *key = list.items[0].dedup_key ? strdup(list.items[0].dedup_key) : NULL;
    event_list_free(&list);
    case_close(&c);
    return key;
}

Test(calendly, dedup_key_is_whole_or_absent)
{
    char *by_event = dedup_of("{\"event\":\"invitee.created\",\"created_at\":\"T1\",\"payload\":"
                              "{\"event\":\"https://x/se/1\"}}");
    char *no_subject = dedup_of("{\"event\":\"invitee.created\",\"created_at\":\"T1\",\"payload\":{}}");
    char *no_time = dedup_of("{\"event\":\"invitee.created\",\"payload\":{\"uri\":\"https://x/i/1\"}}");
    char *empty_uri = dedup_of("{\"event\":\"invitee.created\",\"created_at\":\"T1\",\"payload\":"
                               "{\"uri\":\"\",\"event\":\"https://x/se/2\"}}");
    cr_expect_str_eq(by_event, "invitee.created:https://x/se/1:T1");
    cr_expect_null(no_subject);
    cr_expect_null(no_time);
    cr_expect_str_eq(empty_uri, "invitee.created:https://x/se/2:T1");
    free(by_event);
    free(no_subject);
    free(no_time);
    free(empty_uri);
}

Test(calendly, parse_rejects_missing_envelope_fields)
{
    static const struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"{\"payload\":{}}", "missing event"},
        {"{\"event\":\"\",\"payload\":{}}", "missing event"},
        {"{\"event\":3,\"payload\":{}}", "missing event"},
        {"{\"event\":\"invitee.created\"}", "missing payload"},
        {"{\"event\":\"invitee.created\",\"payload\":\"x\"}", "missing payload"},
        {"[1]", "missing event"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        calendly_case c;
        case_open_text(&c, cases[i].body);
        event_list list = {0};
        cr_expect_eq(c.src->parse(c.src, &c.req, c.tree, &list, c.detail, sizeof(c.detail)), -1, "%s",
                     cases[i].body);
        cr_expect_str_eq(c.detail, cases[i].detail);
        cr_expect_eq(list.count, 0);
        case_close(&c);
    }
}

static void expect_config_error(const char *route_json, const char *secret, const char *message)
{
    char err[256] = "";
    source *src = make_source(route_json, secret, err, sizeof(err));
    cr_expect_null(src, "%s should be refused", route_json);
    if (src != NULL)
        src->destroy(src);
    cr_expect_str_eq(err, message);
}

Test(calendly, constructor_errors)
{
    expect_config_error("{\"source\":\"calendly\"}", NULL,
                        "test.json: routes[1].secret: required for source calendly");
    expect_config_error("{\"source\":\"calendly\"}", "",
                        "test.json: routes[1].secret: required for source calendly");
    expect_config_error("{\"source\":\"calendly\",\"signing_key\":\"x\"}", SECRET,
                        "test.json: routes[1].signing_key: unknown key for source calendly");
    expect_config_error("{\"source\":\"calendly\",\"tolerance_s\":0}", SECRET,
                        "test.json: routes[1].tolerance_s: must be an integer from 1 to 3600");
    expect_config_error("{\"source\":\"calendly\",\"tolerance_s\":3601}", SECRET,
                        "test.json: routes[1].tolerance_s: must be an integer from 1 to 3600");
    expect_config_error("{\"source\":\"calendly\",\"tolerance_s\":1.5}", SECRET,
                        "test.json: routes[1].tolerance_s: must be an integer from 1 to 3600");
}

Test(calendly, registered_by_name_with_the_common_route_keys)
{
    char perr[128], err[256] = "";
    const char *json = "{\"name\":\"cal\",\"source\":\"calendly\",\"secret\":\"env:C\",\"credential\":\"c\","
                       "\"rules\":[],\"tolerance_s\":3600}";
    yajl_val route = json_parse(json, strlen(json), perr, sizeof(perr));
    cr_assert_not_null(route, "%s", perr);
    source_config_ctx ctx = {
        .file = "test.json", .key_prefix = "routes[1]", .err = err, .errlen = sizeof(err)};
    source *src = source_create("calendly", route, SECRET, &ctx);
    yajl_tree_free(route);
    cr_assert_not_null(src, "%s", err);
    cr_expect_str_eq(src->name, "calendly");
    cr_expect_eq(src->body_is_json, 1);
    src->destroy(src);
}

Test(calendly, keeps_its_own_copy_of_the_secret)
{
    char secret[] = SECRET;
    char err[256] = "";
    source *src = make_source("{\"source\":\"calendly\"}", secret, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    memset(secret, 'x', sizeof(secret) - 1); /* the caller wipes its copy */

    calendly_case c;
    case_open_sample(&c, "invitee_created.json");
    c.src->destroy(c.src);
    c.src = src;
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    case_close(&c);
}
