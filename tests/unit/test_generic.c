/* test_generic: the generic source — each signature encoding, bearer tokens,
 * the timestamp variant, fields from configured paths and the constructor's
 * errors. Expected signatures come from OpenSSL's one-shot HMAC() and
 * EVP_EncodeBlock, not from signature.c, so the tests are not circular. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source/source.h"
#include "source_fixture.h"

#define SECRET "generic-shared-secret"
#define NOW 1764068412L
#define MAX_HEADERS 4
#define ACTIVITY_ID "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb"

typedef struct generic_case {
    source *src;
    char *body;
    size_t len;
    yajl_val tree;
    fake_headers headers;
    source_request req;
    char ts[32];
    char sig[128];
    char auth[128];
    char detail[256];
} generic_case;

static char *read_outcome(size_t *len)
{
    return fixture_read_sample("generic", "outcome.json", len);
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(generic_source_create, "routes[3]", route_json, secret, err, errlen);
}

typedef enum { ENC_SHA256_HEX, ENC_HEX, ENC_BASE64 } test_encoding;

/* The signature a sender would put in its header, computed independently. */
static void sign(const char *secret, const char *ts, const char *body, size_t len, test_encoding enc,
                 char *out)
{
    char prefix[48] = "";
    if (ts)
        snprintf(prefix, sizeof(prefix), "%s.", ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = fixture_hmac(secret, strlen(secret), prefix, body, len, mac);
    if (enc == ENC_BASE64) {
        EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
        return;
    }
    char *p = out;
    if (enc == ENC_SHA256_HEX)
        p += sprintf(p, "sha256=");
    fixture_hex(mac, mac_len, p);
}

static void case_open_body(generic_case *c, const char *route_json, char *body, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(generic_source_create, "routes[3]", route_json, SECRET);
    c->body = body;
    c->len = len;
    c->tree = len ? fixture_parse(body, len) : NULL;
    c->req = (source_request){
        .body = body, .body_len = len, .header = fake_header, .header_ctx = &c->headers, .now = NOW};
}

static void case_open(generic_case *c, const char *route_json)
{
    size_t len;
    char *body = read_outcome(&len);
    case_open_body(c, route_json, body, len);
}

static void case_open_text(generic_case *c, const char *route_json, const char *json)
{
    case_open_body(c, route_json, strdup(json), strlen(json));
}

static void case_close(generic_case *c)
{
    fixture_release(c->src, c->tree, c->body);
}

static void add_header(generic_case *c, const char *name, const char *value)
{
    cr_assert_lt(c->headers.n, MAX_HEADERS);
    c->headers.names[c->headers.n] = name;
    c->headers.values[c->headers.n] = value;
    c->headers.n++;
}

static int case_verify(generic_case *c)
{
    c->detail[0] = '\0';
    return c->src->verify(c->src, &c->req, c->tree, c->detail, sizeof(c->detail));
}

/* Verifies outcome.json signed with signing_secret under a route's encoding. */
static int verify_encoding(const char *route_json, test_encoding enc, const char *header,
                           const char *signing_secret, char *detail)
{
    generic_case c;
    case_open(&c, route_json);
    sign(signing_secret, NULL, c.body, c.len, enc, c.sig);
    add_header(&c, header, c.sig);
    int rc = case_verify(&c);
    strcpy(detail, c.detail);
    case_close(&c);
    return rc;
}

Test(generic, hmac_in_each_encoding)
{
    static const struct {
        const char *route;
        test_encoding enc;
    } cases[] = {
        {"{\"source\":\"generic\"}", ENC_SHA256_HEX},
        {"{\"source\":\"generic\",\"signature_encoding\":\"sha256=hex\"}", ENC_SHA256_HEX},
        {"{\"source\":\"generic\",\"signature_encoding\":\"hex\"}", ENC_HEX},
        {"{\"source\":\"generic\",\"signature_encoding\":\"base64\"}", ENC_BASE64},
    };
    char detail[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(verify_encoding(cases[i].route, cases[i].enc, "x-signature-256", SECRET, detail), 0,
                     "%s: %s", cases[i].route, detail);
        cr_expect_eq(verify_encoding(cases[i].route, cases[i].enc, "x-signature-256", "wrong", detail), -1,
                     "%s", cases[i].route);
        cr_expect_str_eq(detail, "signature mismatch");
    }
}

Test(generic, encodings_are_not_interchangeable)
{
    char detail[256];
    /* Bare hex where "sha256=hex" is configured, and the other way round. */
    cr_expect_eq(verify_encoding("{\"source\":\"generic\"}", ENC_HEX, "x-signature-256", SECRET, detail), -1);
    cr_expect_eq(verify_encoding("{\"source\":\"generic\",\"signature_encoding\":\"hex\"}", ENC_SHA256_HEX,
                                 "x-signature-256", SECRET, detail),
                 -1);
    cr_expect_eq(verify_encoding("{\"source\":\"generic\",\"signature_encoding\":\"base64\"}", ENC_HEX,
                                 "x-signature-256", SECRET, detail),
                 -1);
}

Test(generic, configured_signature_header_is_matched_lower_case)
{
    char detail[256];
    const char *route = "{\"source\":\"generic\",\"signature_header\":\"X-Hub-Signature-256\"}";
    cr_expect_eq(verify_encoding(route, ENC_SHA256_HEX, "x-hub-signature-256", SECRET, detail), 0, "%s",
                 detail);
    cr_expect_eq(verify_encoding(route, ENC_SHA256_HEX, "x-signature-256", SECRET, detail), -1);
    cr_expect_str_eq(detail, "missing x-hub-signature-256 header");
}

Test(generic, tampered_body_and_missing_header)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\"}");
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing x-signature-256 header");
    sign(SECRET, NULL, c.body, c.len, ENC_SHA256_HEX, c.sig);
    add_header(&c, "x-signature-256", c.sig);
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    char *outcome = strstr(c.body, "no_show");
    cr_assert_not_null(outcome);
    outcome[0] = 'N';
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

static const char *const bearer_route = "{\"source\":\"generic\",\"auth\":\"bearer\"}";

static int verify_bearer(const char *authorization, char *detail)
{
    generic_case c;
    case_open(&c, bearer_route);
    if (authorization != NULL)
        add_header(&c, "authorization", authorization);
    int rc = case_verify(&c);
    strcpy(detail, c.detail);
    case_close(&c);
    return rc;
}

Test(generic, bearer_token)
{
    char detail[256];
    cr_expect_eq(verify_bearer("Bearer " SECRET, detail), 0, "%s", detail);
    cr_expect_eq(verify_bearer("bearer " SECRET, detail), 0, "scheme is case-insensitive: %s", detail);
    cr_expect_eq(verify_bearer("Bearer " SECRET "x", detail), -1);
    cr_expect_str_eq(detail, "token mismatch");
    cr_expect_eq(verify_bearer("Bearer generic-shared-secreT", detail), -1);
    cr_expect_str_eq(detail, "token mismatch");
    cr_expect_eq(verify_bearer("Bearer ", detail), -1);
    cr_expect_str_eq(detail, "token mismatch");
    cr_expect_eq(verify_bearer(NULL, detail), -1);
    cr_expect_str_eq(detail, "missing authorization header");
    cr_expect_eq(verify_bearer("Basic " SECRET, detail), -1);
    cr_expect_str_eq(detail, "authorization is not a Bearer token");
    cr_expect_eq(verify_bearer(SECRET, detail), -1);
    cr_expect_str_eq(detail, "authorization is not a Bearer token");
}

static int verify_timestamped(long ts, const char *signing_secret, char *detail)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\",\"timestamp_header\":\"X-Timestamp\",\"tolerance_s\":120}");
    snprintf(c.ts, sizeof(c.ts), "%ld", ts);
    sign(signing_secret, c.ts, c.body, c.len, ENC_SHA256_HEX, c.sig);
    add_header(&c, "x-timestamp", c.ts);
    add_header(&c, "x-signature-256", c.sig);
    int rc = case_verify(&c);
    strcpy(detail, c.detail);
    case_close(&c);
    return rc;
}

Test(generic, timestamp_header_binds_and_limits_age)
{
    char detail[256];
    cr_expect_eq(verify_timestamped(NOW, SECRET, detail), 0, "%s", detail);
    cr_expect_eq(verify_timestamped(NOW - 120, SECRET, detail), 0, "%s", detail);
    cr_expect_eq(verify_timestamped(NOW + 120, SECRET, detail), 0, "%s", detail);
    cr_expect_eq(verify_timestamped(NOW - 121, SECRET, detail), -1);
    cr_expect_str_eq(detail, "timestamp outside the 120 s tolerance");
    cr_expect_eq(verify_timestamped(NOW + 121, SECRET, detail), -1);
    cr_expect_str_eq(detail, "timestamp outside the 120 s tolerance");
    cr_expect_eq(verify_timestamped(NOW, "wrong", detail), -1);
    cr_expect_str_eq(detail, "signature mismatch");
}

Test(generic, timestamp_header_is_part_of_the_signed_message)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\",\"timestamp_header\":\"x-timestamp\"}");
    snprintf(c.ts, sizeof(c.ts), "%ld", NOW);
    sign(SECRET, NULL, c.body, c.len, ENC_SHA256_HEX, c.sig); /* body alone: not what is configured */
    add_header(&c, "x-signature-256", c.sig);
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing x-timestamp header");
    add_header(&c, "x-timestamp", c.ts);
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    strcpy(c.ts, "soon");
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "invalid x-timestamp header");
    case_close(&c);
}

static int case_parse(generic_case *c, event_list *list)
{
    c->detail[0] = '\0';
    return c->src->parse(c->src, &c->req, c->tree, list, c->detail, sizeof(c->detail));
}

Test(generic, fields_from_paths)
{
    generic_case c;
    case_open(&c,
              "{\"source\":\"generic\",\"activity_id_path\":\"close.activity_id\",\"dedup_path\":\"id\"}");
    event_list list = {0};
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_assert_eq(list.count, 1);
    const meeting_event *ev = &list.items[0];
    cr_expect_str_eq(ev->sender, "generic");
    cr_expect_str_eq(ev->event_type, "call_outcome");
    cr_expect_str_eq(ev->close_activity_id, ACTIVITY_ID);
    cr_expect_str_eq(ev->dedup_key, "evt_01JDZ8Q4N7");
    cr_expect_eq(ev->tree, c.tree);
    cr_expect_null(ev->keys.zoom_meeting_id);
    cr_expect_null(ev->keys.join_url);
    cr_expect_null(ev->keys.start_time);
    event_list_free(&list);
    case_close(&c);
}

Test(generic, event_type_from_another_path_or_a_constant)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\",\"event_type_path\":\"outcome\",\"event_type\":\"fallback\"}");
    event_list list = {0};
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_expect_str_eq(list.items[0].event_type, "no_show");
    cr_expect_null(list.items[0].dedup_key);
    event_list_free(&list);
    case_close(&c);

    case_open(&c, "{\"source\":\"generic\",\"event_type_path\":\"kind\",\"event_type\":\"call_outcome_v2\"}");
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_expect_str_eq(list.items[0].event_type, "call_outcome_v2");
    event_list_free(&list);
    case_close(&c);
}

Test(generic, missing_event_type_fails)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\",\"event_type_path\":\"kind\"}");
    event_list list = {0};
    cr_expect_eq(case_parse(&c, &list), -1);
    cr_expect_str_eq(c.detail, "missing event type at kind");
    cr_expect_eq(list.count, 0);
    case_close(&c);

    case_open_text(&c, "{\"source\":\"generic\"}", "{\"event\":\"\"}");
    cr_expect_eq(case_parse(&c, &list), -1);
    cr_expect_str_eq(c.detail, "missing event type at event");
    case_close(&c);

    case_open_text(&c, "{\"source\":\"generic\"}", "{\"event\":{\"type\":\"x\"}}");
    cr_expect_eq(case_parse(&c, &list), -1);
    cr_expect_str_eq(c.detail, "event is not a scalar");
    case_close(&c);
}

Test(generic, dedup_from_header)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\",\"dedup_header\":\"X-Delivery-Id\"}");
    add_header(&c, "x-delivery-id", "delivery-42");
    event_list list = {0};
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_expect_str_eq(list.items[0].dedup_key, "delivery-42");
    event_list_free(&list);
    c.headers.n = 0; /* no header: no dedup, not an error */
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_expect_null(list.items[0].dedup_key);
    event_list_free(&list);
    case_close(&c);
}

Test(generic, lookup_keys_and_missing_activity_id)
{
    generic_case c;
    case_open_text(&c,
                   "{\"source\":\"generic\",\"activity_id_path\":\"close.activity_id\","
                   "\"zoom_meeting_id_path\":\"meeting.id\",\"join_url_path\":\"meeting.url\","
                   "\"start_time_path\":\"meeting.start\",\"dedup_path\":\"seq\"}",
                   "{\"event\":\"ended\",\"seq\":7,\"meeting\":{\"id\":85746392011,"
                   "\"url\":\"https://acme.zoom.us/j/85746392011\",\"start\":\"2026-11-25T09:00:00Z\"}}");
    event_list list = {0};
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    const meeting_event *ev = &list.items[0];
    cr_expect_null(ev->close_activity_id, "absent activity id is left to the rules");
    cr_expect_str_eq(ev->keys.zoom_meeting_id, "85746392011");
    cr_expect_str_eq(ev->keys.join_url, "https://acme.zoom.us/j/85746392011");
    cr_expect_str_eq(ev->keys.start_time, "2026-11-25T09:00:00Z");
    cr_expect_str_eq(ev->dedup_key, "7");
    event_list_free(&list);
    case_close(&c);
}

Test(generic, calendar_keys_from_paths)
{
    generic_case c;
    case_open_text(&c,
                   "{\"source\":\"generic\",\"ical_uid_path\":\"cal.uid\","
                   "\"calendar_event_id_path\":\"cal.event\",\"start_time_path\":\"cal.start\"}",
                   "{\"event\":\"held\",\"cal\":{\"uid\":\"040000008200E00074C5B7101A82E008\","
                   "\"event\":\"AAMkAGI2TAAA=\",\"start\":\"2026-11-25T09:00:00Z\"}}");
    event_list list = {0};
    cr_assert_eq(case_parse(&c, &list), 0, "%s", c.detail);
    cr_expect_str_eq(list.items[0].keys.ical_uid, "040000008200E00074C5B7101A82E008");
    cr_expect_str_eq(list.items[0].keys.calendar_event_id, "AAMkAGI2TAAA=");
    cr_expect_null(list.items[0].keys.calendar_type, "a generic sender names no calendar provider");
    event_list_free(&list);
    case_close(&c);
}

Test(generic, non_scalar_values_fail)
{
    static const char *const bodies[] = {
        "{\"event\":\"e\",\"close\":{\"activity_id\":[\"acti_1\"]}}",
        "{\"event\":\"e\",\"close\":{\"activity_id\":{\"id\":\"acti_1\"}}}",
    };
    for (size_t i = 0; i < 2; i++) {
        generic_case c;
        case_open_text(&c, "{\"source\":\"generic\",\"activity_id_path\":\"close.activity_id\"}", bodies[i]);
        event_list list = {0};
        cr_expect_eq(case_parse(&c, &list), -1, "%s", bodies[i]);
        cr_expect_str_eq(c.detail, "close.activity_id is not a scalar");
        cr_expect_eq(list.count, 0);
        case_close(&c);
    }
}

Test(generic, body_must_be_an_object)
{
    generic_case c;
    case_open_text(&c, "{\"source\":\"generic\",\"event_type\":\"x\"}", "[{\"event\":\"e\"}]");
    event_list list = {0};
    cr_expect_eq(case_parse(&c, &list), -1);
    cr_expect_str_eq(c.detail, "body must be a JSON object");
    case_close(&c);

    case_open_body(&c, "{\"source\":\"generic\",\"event_type\":\"x\"}", NULL, 0); /* empty body */
    cr_expect_eq(case_parse(&c, &list), -1);
    cr_expect_str_eq(c.detail, "body must be a JSON object");
    cr_expect_eq(list.count, 0);
    case_close(&c);
}

Test(generic, never_a_handshake)
{
    generic_case c;
    case_open(&c, "{\"source\":\"generic\"}");
    source_answer ans = {0};
    cr_expect_eq(c.src->handshake(c.src, &c.req, c.tree, &ans), 0);
    cr_expect_null(ans.body);
    case_close(&c);
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

Test(generic, constructor_errors)
{
    expect_config_error("{\"source\":\"generic\",\"dedup\":\"id\"}", SECRET,
                        "test.json: routes[3].dedup: unknown key for source generic");
    expect_config_error("{\"source\":\"generic\",\"signature_encoding\":\"hex-upper\"}", SECRET,
                        "test.json: routes[3].signature_encoding: must be one of \"sha256=hex\", \"hex\", "
                        "\"base64\"");
    expect_config_error("{\"source\":\"generic\",\"auth\":\"basic\"}", SECRET,
                        "test.json: routes[3].auth: must be one of \"hmac\", \"bearer\"");
    expect_config_error("{\"source\":\"generic\",\"dedup_path\":\"id\",\"dedup_header\":\"x-id\"}", SECRET,
                        "test.json: routes[3].dedup_header: cannot be combined with dedup_path");
    expect_config_error("{\"source\":\"generic\"}", NULL,
                        "test.json: routes[3].secret: required for source generic");
    expect_config_error("{\"source\":\"generic\",\"activity_id_path\":\"\"}", SECRET,
                        "test.json: routes[3].activity_id_path: must be a non-empty string");
    expect_config_error("{\"source\":\"generic\",\"event_type_path\":3}", SECRET,
                        "test.json: routes[3].event_type_path: must be a non-empty string");
    expect_config_error("{\"source\":\"generic\",\"auth\":\"bearer\",\"signature_encoding\":\"hex\"}", SECRET,
                        "test.json: routes[3].signature_encoding: only applies to auth \"hmac\"");
    expect_config_error("{\"source\":\"generic\",\"tolerance_s\":60}", SECRET,
                        "test.json: routes[3].tolerance_s: needs timestamp_header");
    expect_config_error("{\"source\":\"generic\",\"timestamp_header\":\"t\",\"tolerance_s\":0}", SECRET,
                        "test.json: routes[3].tolerance_s: must be an integer from 1 to 3600");
}

Test(generic, constructor_accepts_every_documented_key)
{
    char err[256] = "";
    source *src =
        make_source("{\"name\":\"crm\",\"source\":\"generic\",\"secret\":\"env:G\",\"credential\":\"c\","
                    "\"rules\":[],\"auth\":\"hmac\",\"signature_header\":\"X-Sig\","
                    "\"signature_encoding\":\"base64\",\"timestamp_header\":\"X-Ts\",\"tolerance_s\":30,"
                    "\"event_type_path\":\"type\",\"event_type\":\"t\",\"activity_id_path\":\"a\","
                    "\"dedup_path\":\"d\",\"zoom_meeting_id_path\":\"z\",\"join_url_path\":\"j\","
                    "\"start_time_path\":\"s\"}",
                    SECRET, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    cr_expect_str_eq(src->name, "generic");
    cr_expect_eq(src->body_is_json, 1);
    src->destroy(src);
}
