/* test_zoom: the Zoom source against the samples — signatures, timestamp
 * tolerance, the url_validation answer and the parsed meeting_event. Expected
 * digests are computed here with OpenSSL's one-shot HMAC(), not signature.c,
 * so a bug there cannot make these tests agree with it. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "signature.h"
#include "source/source.h"
#include "source_fixture.h"

#define SECRET "zoom-secret-token-for-tests"
/* An arbitrary "now", inside the samples' era (x-zm-request-timestamp of headers.txt). */
#define NOW 1764068412L

/* One request's worth of state: source, body, parsed tree, headers. */
typedef struct zoom_case {
    source *src;
    char *body;
    size_t len;
    yajl_val tree;
    fake_headers headers;
    source_request req;
    char ts[32];
    char sig[80];
    char detail[256];
} zoom_case;

static char *read_sample(const char *name, size_t *len)
{
    return fixture_read_sample("zoom", name, len);
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(zoom_source_create, "routes[0]", route_json, secret, err, errlen);
}

/* v0=hex(HMAC-SHA256(secret, "v0:" + ts + ":" + body)) via OpenSSL directly. */
static void zoom_sign(const char *secret, const char *ts, const char *body, size_t len, char *out)
{
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "v0:%s:", ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    strcpy(out, "v0=");
    fixture_hex(mac, fixture_hmac(secret, strlen(secret), prefix, body, len, mac), out + 3);
}

static void hmac_hex(const char *secret, const char *msg, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    fixture_hex(mac, fixture_hmac(secret, strlen(secret), "", msg, strlen(msg), mac), out);
}

static void case_set_body(zoom_case *c, char *body, size_t len)
{
    c->body = body;
    c->len = len;
    c->tree = fixture_parse(body, len);
    c->req = (source_request){
        .body = body, .body_len = len, .header = fake_header, .header_ctx = &c->headers, .now = NOW};
}

/* A request as Zoom would send it: signed with signing_secret at ts. */
static void case_sign(zoom_case *c, const char *signing_secret, long ts)
{
    snprintf(c->ts, sizeof(c->ts), "%ld", ts);
    zoom_sign(signing_secret, c->ts, c->body, c->len, c->sig);
    c->headers = (fake_headers){
        .names = {"x-zm-request-timestamp", "x-zm-signature"}, .values = {c->ts, c->sig}, .n = 2};
}

static void case_open(zoom_case *c, const char *route_json, char *body, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(zoom_source_create, "routes[0]", route_json, SECRET);
    case_set_body(c, body, len);
    case_sign(c, SECRET, NOW);
}

static void case_open_sample(zoom_case *c, const char *sample)
{
    size_t len;
    char *body = read_sample(sample, &len);
    case_open(c, "{\"name\":\"z\",\"source\":\"zoom\",\"secret\":\"env:ZOOM\"}", body, len);
}

static void case_open_text(zoom_case *c, const char *json)
{
    case_open(c, "{\"name\":\"z\",\"source\":\"zoom\",\"secret\":\"env:ZOOM\"}", strdup(json), strlen(json));
}

static void case_close(zoom_case *c)
{
    fixture_release(c->src, c->tree, c->body);
}

static int case_verify(zoom_case *c)
{
    c->detail[0] = '\0';
    return c->src->verify(c->src, &c->req, c->tree, c->detail, sizeof(c->detail));
}

static const char *const samples[] = {"meeting_ended.json", "summary_completed.json",
                                      "participant_joined.json", "recording_completed.json"};

Test(zoom, verifies_good_signature_on_every_sample)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        zoom_case c;
        case_open_sample(&c, samples[i]);
        cr_expect_eq(case_verify(&c), 0, "%s: %s", samples[i], c.detail);
        case_close(&c);
    }
}

Test(zoom, rejects_wrong_secret)
{
    zoom_case c;
    case_open_sample(&c, "meeting_ended.json");
    case_sign(&c, "another-secret", NOW);
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(zoom, rejects_tampered_body)
{
    zoom_case c;
    case_open_sample(&c, "meeting_ended.json");
    char *digit = strstr(c.body, "85746392011");
    cr_assert_not_null(digit);
    digit[0] = '9'; /* signed as 8…, delivered as 9… */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

static int verify_at(zoom_case *c, long ts)
{
    case_sign(c, SECRET, ts);
    return case_verify(c);
}

Test(zoom, timestamp_tolerance_both_directions)
{
    zoom_case c;
    case_open_sample(&c, "summary_completed.json");
    cr_expect_eq(verify_at(&c, NOW - 300), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW + 300), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW - 301), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 300 s tolerance");
    cr_expect_eq(verify_at(&c, NOW + 301), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 300 s tolerance");
    case_close(&c);
}

Test(zoom, configured_tolerance)
{
    size_t len;
    char *body = read_sample("meeting_ended.json", &len);
    zoom_case c;
    case_open(&c, "{\"source\":\"zoom\",\"tolerance_s\":60}", body, len);
    cr_expect_eq(verify_at(&c, NOW - 60), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW + 61), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 60 s tolerance");
    case_close(&c);
}

Test(zoom, rejects_non_numeric_timestamp)
{
    zoom_case c;
    case_open_sample(&c, "meeting_ended.json");
    strcpy(c.ts, "17640684x2");
    zoom_sign(SECRET, c.ts, c.body, c.len, c.sig); /* validly signed, still not a time */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "invalid x-zm-request-timestamp header");
    strcpy(c.ts, "");
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "invalid x-zm-request-timestamp header");
    case_close(&c);
}

Test(zoom, missing_headers)
{
    zoom_case c;
    case_open_sample(&c, "meeting_ended.json");
    c.headers.names[0] = "x-other"; /* drop the timestamp */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing x-zm-request-timestamp header");
    case_sign(&c, SECRET, NOW);
    c.headers.names[1] = "x-other"; /* drop the signature */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing x-zm-signature header");
    case_close(&c);
}

Test(zoom, malformed_signature_headers)
{
    zoom_case c;
    case_open_sample(&c, "participant_joined.json");
    char good[80];
    strcpy(good, c.sig);

    memmove(c.sig, c.sig + 3, strlen(c.sig + 3) + 1); /* bare hex, no "v0=" */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");

    strcpy(c.sig, good);
    c.sig[strlen(c.sig) - 1] = '\0'; /* one digit short */
    cr_expect_eq(case_verify(&c), -1);

    strcpy(c.sig, good);
    strcat(c.sig, "0"); /* one digit long */
    cr_expect_eq(case_verify(&c), -1);

    strcpy(c.sig, "v0=");
    memset(c.sig + 3, 'z', 64); /* right length, not hex */
    c.sig[67] = '\0';
    cr_expect_eq(case_verify(&c), -1);

    strcpy(c.sig, good);
    c.sig[1] = '1'; /* "v1=": another scheme version */
    cr_expect_eq(case_verify(&c), -1);

    strcpy(c.sig, good);
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    case_close(&c);
}

static int case_handshake(zoom_case *c, source_answer *ans)
{
    memset(ans, 0, sizeof(*ans));
    return c->src->handshake(c->src, &c->req, c->tree, ans);
}

Test(zoom, url_validation_answer_is_exact)
{
    zoom_case c;
    case_open_sample(&c, "url_validation.json");
    char encrypted[65];
    hmac_hex(SECRET, "qgg8vlvZRS6UYooatFL8Aw", encrypted);
    char expected[256];
    snprintf(expected, sizeof(expected),
             "{\"plainToken\":\"qgg8vlvZRS6UYooatFL8Aw\",\"encryptedToken\":\"%s\"}", encrypted);

    source_answer ans;
    cr_assert_eq(case_handshake(&c, &ans), 1);
    cr_expect_eq(ans.status, 200);
    cr_expect_str_eq(ans.content_type, "application/json");
    cr_assert_not_null(ans.body);
    cr_expect_eq(ans.body_len, strlen(expected));
    cr_expect_str_eq(ans.body, expected);
    free(ans.body);
    case_close(&c);
}

Test(zoom, url_validation_with_bad_signature_is_refused)
{
    zoom_case c;
    case_open_sample(&c, "url_validation.json");
    case_sign(&c, "attacker-guess", NOW);
    source_answer ans;
    cr_assert_eq(case_handshake(&c, &ans), 1);
    cr_expect_eq(ans.status, 401);
    cr_expect_str_eq(ans.content_type, "application/json");
    cr_assert_not_null(ans.body);
    cr_expect_str_eq(ans.body, "{\"error\":\"unauthorized\",\"detail\":\"signature mismatch\"}");
    cr_expect_null(strstr(ans.body, "encryptedToken"));
    free(ans.body);

    case_sign(&c, SECRET, NOW - 3600); /* a replayed, once-valid validation */
    cr_assert_eq(case_handshake(&c, &ans), 1);
    cr_expect_eq(ans.status, 401);
    cr_expect_str_eq(ans.body,
                     "{\"error\":\"unauthorized\",\"detail\":\"timestamp outside the 300 s tolerance\"}");
    free(ans.body);
    case_close(&c);
}

Test(zoom, url_validation_without_plain_token_is_bad_request)
{
    static const char *const bodies[] = {
        "{\"event\":\"endpoint.url_validation\",\"payload\":{}}",
        "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"\"}}",
        "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":42}}",
        "{\"event\":\"endpoint.url_validation\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        zoom_case c;
        case_open_text(&c, bodies[i]);
        source_answer ans;
        cr_assert_eq(case_handshake(&c, &ans), 1, "%s", bodies[i]);
        cr_expect_eq(ans.status, 400, "%s", bodies[i]);
        cr_expect_str_eq(ans.body, "{\"error\":\"bad_request\",\"detail\":\"missing payload.plainToken\"}");
        free(ans.body);
        case_close(&c);
    }
}

Test(zoom, ordinary_events_are_not_handshakes)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        zoom_case c;
        case_open_sample(&c, samples[i]);
        source_answer ans;
        cr_expect_eq(case_handshake(&c, &ans), 0, "%s", samples[i]);
        cr_expect_null(ans.body);
        case_close(&c);
    }
}

typedef struct expected_event {
    const char *sample;
    const char *event_type;
    const char *zoom_meeting_id;
    const char *start_time;
    const char *end_time;
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

static void parse_one(zoom_case *c, event_list *list)
{
    int rc = c->src->parse(c->src, &c->req, c->tree, list, c->detail, sizeof(c->detail));
    cr_assert_eq(rc, 0, "%s", c->detail);
    cr_assert_eq(list->count, 1);
}

Test(zoom, parses_every_sample)
{
    static const expected_event cases[] = {
        {"meeting_ended.json", "meeting.ended", "85746392011", "2026-11-25T09:00:03Z", "2026-11-25T09:41:52Z",
         "meeting.ended:4444AAAiAAAAAiAiAiiAii==:1764068412345"},
        {"summary_completed.json", "meeting.summary_completed", "85746392011", "2026-11-25T09:00:03Z",
         "2026-11-25T09:41:52Z", "meeting.summary_completed:4444AAAiAAAAAiAiAiiAii==:1764068700456"},
        {"participant_joined.json", "meeting.participant_joined", "85746392011", "2026-11-25T09:00:03Z", NULL,
         "meeting.participant_joined:4444AAAiAAAAAiAiAiiAii==:1764064900789:55555555-6666-7777-8888-"
         "999999999999"},
        {"recording_completed.json", "recording.completed", "85746392011", "2026-11-25T09:00:03Z", NULL,
         "recording.completed:4444AAAiAAAAAiAiAiiAii==:1764069000111"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const expected_event *want = &cases[i];
        zoom_case c;
        case_open_sample(&c, want->sample);
        event_list list = {0};
        parse_one(&c, &list);
        const meeting_event *ev = &list.items[0];
        cr_expect_str_eq(ev->sender, "zoom");
        cr_expect_eq(ev->tree, c.tree, "%s: the event carries the whole body tree", want->sample);
        expect_str_or_null(ev->event_type, want->event_type, "event_type", want->sample);
        expect_str_or_null(ev->keys.zoom_meeting_id, want->zoom_meeting_id, "zoom_meeting_id", want->sample);
        expect_str_or_null(ev->keys.start_time, want->start_time, "start_time", want->sample);
        expect_str_or_null(ev->end_time, want->end_time, "end_time", want->sample);
        expect_str_or_null(ev->dedup_key, want->dedup_key, "dedup_key", want->sample);
        expect_str_or_null(ev->keys.join_url, NULL, "join_url", want->sample);
        expect_str_or_null(ev->close_activity_id, NULL, "close_activity_id", want->sample);
        event_list_free(&list);
        case_close(&c);
    }
}

Test(zoom, reads_join_url_and_numeric_ids)
{
    zoom_case c;
    case_open_text(&c, "{\"event\":\"meeting.started\",\"event_ts\":17,\"payload\":{\"object\":{\"id\":123,"
                       "\"join_url\":\"https://acme.zoom.us/j/123?pwd=x\"}}}");
    event_list list = {0};
    parse_one(&c, &list);
    cr_expect_str_eq(list.items[0].keys.join_url, "https://acme.zoom.us/j/123?pwd=x");
    cr_expect_str_eq(list.items[0].keys.zoom_meeting_id, "123");
    /* No uuid: the numeric id names the meeting. */
    cr_expect_str_eq(list.items[0].dedup_key, "meeting.started:123:17");
    event_list_free(&list);
    case_close(&c);
}

static char *participant_dedup(const char *participant)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"event\":\"meeting.participant_joined\",\"event_ts\":5,\"payload\":{\"object\":"
             "{\"uuid\":\"U\",\"id\":\"1\",\"participant\":%s}}}",
             participant);
    zoom_case c;
    case_open_text(&c, body);
    event_list list = {0};
    parse_one(&c, &list);
    char *key = list.items[0].dedup_key ? strdup(list.items[0].dedup_key) : NULL;
    event_list_free(&list);
    case_close(&c);
    return key;
}

Test(zoom, two_participants_are_two_events)
{
    char *dana = participant_dedup("{\"participant_uuid\":\"p-dana\",\"user_id\":\"1\"}");
    char *lee = participant_dedup("{\"participant_uuid\":\"p-lee\",\"user_id\":\"2\"}");
    char *by_user = participant_dedup("{\"participant_uuid\":\"\",\"user_id\":\"77\"}");
    char *by_email = participant_dedup("{\"email\":\"lee@acme.example\"}");
    char *anonymous = participant_dedup("{\"user_name\":\"Guest\"}");
    cr_expect_str_eq(dana, "meeting.participant_joined:U:5:p-dana");
    cr_expect_str_eq(lee, "meeting.participant_joined:U:5:p-lee");
    cr_expect_str_eq(by_user, "meeting.participant_joined:U:5:77");
    cr_expect_str_eq(by_email, "meeting.participant_joined:U:5:lee@acme.example");
    cr_expect_str_eq(anonymous, "meeting.participant_joined:U:5");
    free(dana);
    free(lee);
    free(by_user);
    free(by_email);
    free(anonymous);
}

Test(zoom, no_dedup_key_without_event_ts)
{
    zoom_case c;
    case_open_text(&c, "{\"event\":\"meeting.ended\",\"payload\":{\"object\":{\"uuid\":\"U\"}}}");
    event_list list = {0};
    parse_one(&c, &list);
    cr_expect_null(list.items[0].dedup_key);
    cr_expect_null(list.items[0].keys.zoom_meeting_id);
    event_list_free(&list);
    case_close(&c);
}

Test(zoom, unknown_event_types_still_parse)
{
    zoom_case c;
    case_open_text(&c, "{\"event\":\"meeting.sharing_started\",\"event_ts\":9,\"payload\":{}}");
    event_list list = {0};
    parse_one(&c, &list);
    cr_expect_str_eq(list.items[0].event_type, "meeting.sharing_started");
    event_list_free(&list);
    case_close(&c);
}

Test(zoom, parse_rejects_missing_envelope_fields)
{
    static const struct {
        const char *body;
        const char *detail;
    } cases[] = {
        {"{\"payload\":{\"object\":{}}}", "missing event"},
        {"{\"event\":7,\"payload\":{}}", "missing event"},
        {"{\"event\":\"meeting.ended\"}", "missing payload"},
        {"{\"event\":\"meeting.ended\",\"payload\":[1]}", "missing payload"},
        {"[1,2]", "missing event"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zoom_case c;
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

Test(zoom, constructor_errors)
{
    expect_config_error("{\"source\":\"zoom\"}", NULL,
                        "test.json: routes[0].secret: required for source zoom");
    expect_config_error("{\"source\":\"zoom\",\"signature_header\":\"x\"}", SECRET,
                        "test.json: routes[0].signature_header: unknown key for source zoom");
    expect_config_error("{\"source\":\"zoom\",\"tolerance_s\":0}", SECRET,
                        "test.json: routes[0].tolerance_s: must be an integer from 1 to 3600");
    expect_config_error("{\"source\":\"zoom\",\"tolerance_s\":3601}", SECRET,
                        "test.json: routes[0].tolerance_s: must be an integer from 1 to 3600");
    expect_config_error("{\"source\":\"zoom\",\"tolerance_s\":\"300\"}", SECRET,
                        "test.json: routes[0].tolerance_s: must be an integer from 1 to 3600");
}

Test(zoom, constructor_accepts_the_common_route_keys)
{
    char err[256] = "";
    source *src = make_source("{\"name\":\"zoom-sales\",\"source\":\"zoom\",\"secret\":\"env:Z\","
                              "\"credential\":\"sales\",\"rules\":[],\"tolerance_s\":3600}",
                              SECRET, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    cr_expect_str_eq(src->name, "zoom");
    cr_expect_eq(src->body_is_json, 1);
    src->destroy(src);
}

Test(zoom, keeps_its_own_copy_of_the_secret)
{
    char secret[] = SECRET;
    char err[256] = "";
    source *src = make_source("{\"source\":\"zoom\"}", secret, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    memset(secret, 'x', sizeof(secret) - 1); /* the caller wipes its copy */

    zoom_case c;
    size_t len;
    memset(&c, 0, sizeof(c));
    c.src = src;
    char *body = read_sample("meeting_ended.json", &len);
    case_set_body(&c, body, len);
    case_sign(&c, SECRET, NOW);
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    case_close(&c);
}
