/* test_stdwebhooks: the Standard Webhooks source — the spec's own test vector,
 * both header spellings (webhook-* and svix-*), tolerance both ways, lists of
 * signatures, whsec_ secrets, fields from the configured paths and the
 * constructor's errors. Besides the spec's vector, expected signatures come
 * from OpenSSL's one-shot HMAC() and EVP_EncodeBlock, not from signature.c,
 * so the tests are not circular. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source/source.h"
#include "source_fixture.h"

/* The reference vector of the spec's libraries: standard-webhooks/standard-webhooks,
 * libraries/javascript/src/webhook.test.ts, test "sign function works" (the
 * other reference libraries' tests carry the same values). */
#define SPEC_KEY_BASE64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_SECRET "whsec_" SPEC_KEY_BASE64
#define SPEC_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TIMESTAMP 1614265330L
#define SPEC_PAYLOAD "{\"test\": 2432232314}"
#define SPEC_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* The key our own cases sign with, and its whsec_ form. */
#define KEY "closehook-stdwebhooks-test-key!!"
/* The id and time of headers.txt: the samples' era. */
#define MSG_ID "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
#define NOW 1764064800L
#define ACTIVITY_ID "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb"
#define PATHS_ROUTE                                                                                          \
    "{\"source\":\"stdwebhooks\",\"activity_id_path\":\"data.close_activity_id\","                           \
    "\"zoom_meeting_id_path\":\"data.external_meeting_id\",\"join_url_path\":\"data.join_url\"}"

typedef struct sw_case {
    source *src;
    char *body;
    size_t len;
    yajl_val tree;
    fake_headers headers;
    source_request req;
    char id[64];
    char ts[32];
    char sig[512];
    char detail[256];
} sw_case;

static char *read_sample(const char *name, size_t *len)
{
    return fixture_read_sample("stdwebhooks", name, len);
}

/* "whsec_" + base64(key), as a sender's dashboard shows it. */
static void whsec(const char *key, char *out)
{
    strcpy(out, "whsec_");
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)key, (int)strlen(key));
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(stdwebhooks_source_create, "routes[2]", route_json, secret, err, errlen);
}

/* base64(HMAC-SHA256(key, id + "." + ts + "." + body)) via OpenSSL directly. */
static void sw_sign(const char *key, const char *id, const char *ts, const char *body, size_t len, char *out)
{
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "%s.%s.", id, ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = fixture_hmac(key, strlen(key), prefix, body, len, mac);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
}

static void set_headers(sw_case *c, const char *prefix)
{
    static char names[2][3][32];
    int set = strcmp(prefix, "svix") == 0;
    snprintf(names[set][0], sizeof(names[set][0]), "%s-id", prefix);
    snprintf(names[set][1], sizeof(names[set][1]), "%s-timestamp", prefix);
    snprintf(names[set][2], sizeof(names[set][2]), "%s-signature", prefix);
    c->headers = (fake_headers){
        .names = {names[set][0], names[set][1], names[set][2]}, .values = {c->id, c->ts, c->sig}, .n = 3};
}

/* A request as a sender would make it: "v1,<sig>" under key at ts. */
static void case_sign(sw_case *c, const char *key, long ts)
{
    snprintf(c->ts, sizeof(c->ts), "%ld", ts);
    strcpy(c->sig, "v1,");
    sw_sign(key, c->id, c->ts, c->body, c->len, c->sig + 3);
}

static void case_open_body(sw_case *c, const char *route_json, const char *secret, char *body, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(stdwebhooks_source_create, "routes[2]", route_json, secret);
    c->body = body;
    c->len = len;
    c->tree = fixture_parse(body, len);
    c->req = (source_request){
        .body = body, .body_len = len, .header = fake_header, .header_ctx = &c->headers, .now = NOW};
    strcpy(c->id, MSG_ID);
    case_sign(c, KEY, NOW);
    set_headers(c, "webhook");
}

static void case_open_route(sw_case *c, const char *route_json)
{
    char secret[128];
    whsec(KEY, secret);
    size_t len;
    char *body = read_sample("meeting_completed.json", &len);
    case_open_body(c, route_json, secret, body, len);
}

static void case_open(sw_case *c)
{
    case_open_route(c, PATHS_ROUTE);
}

static void case_open_text(sw_case *c, const char *route_json, const char *json)
{
    char secret[128];
    whsec(KEY, secret);
    case_open_body(c, route_json, secret, strdup(json), strlen(json));
}

static void case_close(sw_case *c)
{
    fixture_release(c->src, c->tree, c->body);
}

static int case_verify(sw_case *c)
{
    c->detail[0] = '\0';
    return c->src->verify(c->src, &c->req, c->tree, c->detail, sizeof(c->detail));
}

/* The spec's request, verified at its own time with secret as configured. */
static int verify_spec_vector(const char *secret, const char *prefix, char *detail)
{
    sw_case c;
    char *body = strdup(SPEC_PAYLOAD);
    case_open_body(&c, "{\"source\":\"stdwebhooks\"}", secret, body, strlen(body));
    c.req.now = SPEC_TIMESTAMP;
    strcpy(c.id, SPEC_MSG_ID);
    snprintf(c.ts, sizeof(c.ts), "%ld", SPEC_TIMESTAMP);
    strcpy(c.sig, SPEC_SIGNATURE);
    set_headers(&c, prefix);
    int rc = case_verify(&c);
    strcpy(detail, c.detail);
    case_close(&c);
    return rc;
}

Test(stdwebhooks, verifies_the_spec_test_vector)
{
    char detail[256];
    cr_expect_eq(verify_spec_vector(SPEC_SECRET, "webhook", detail), 0, "%s", detail);
    cr_expect_eq(verify_spec_vector(SPEC_SECRET, "svix", detail), 0, "%s", detail);
    /* The reference libraries take the bare base64 too. */
    cr_expect_eq(verify_spec_vector(SPEC_KEY_BASE64, "webhook", detail), 0, "%s", detail);
    cr_expect_eq(verify_spec_vector("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", "webhook", detail), -1);
    cr_expect_str_eq(detail, "signature mismatch");
}

Test(stdwebhooks, verifies_good_signature_on_the_sample)
{
    sw_case c;
    case_open(&c);
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    case_close(&c);
}

Test(stdwebhooks, rejects_wrong_secret)
{
    sw_case c;
    case_open(&c);
    case_sign(&c, "another-key-another-key-another!", NOW);
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(stdwebhooks, rejects_tampered_body_and_id)
{
    sw_case c;
    case_open(&c);
    char *outcome = strstr(c.body, "demo_done");
    cr_assert_not_null(outcome);
    outcome[0] = 'D';
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    outcome[0] = 'd';
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    c.id[4] = 'X'; /* the id is signed: a replay under a fresh id fails */
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

static int verify_at(sw_case *c, long ts)
{
    case_sign(c, KEY, ts);
    return case_verify(c);
}

Test(stdwebhooks, default_tolerance_is_five_minutes_both_ways)
{
    sw_case c;
    case_open(&c);
    cr_expect_eq(verify_at(&c, NOW - 300), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW + 300), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW - 301), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 300 s tolerance");
    cr_expect_eq(verify_at(&c, NOW + 301), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 300 s tolerance");
    case_close(&c);
}

Test(stdwebhooks, configured_tolerance)
{
    sw_case c;
    case_open_route(&c, "{\"source\":\"stdwebhooks\",\"tolerance_s\":30}");
    cr_expect_eq(verify_at(&c, NOW + 30), 0, "%s", c.detail);
    cr_expect_eq(verify_at(&c, NOW - 31), -1);
    cr_expect_str_eq(c.detail, "timestamp outside the 30 s tolerance");
    case_close(&c);
}

Test(stdwebhooks, invalid_timestamp)
{
    sw_case c;
    case_open(&c);
    strcpy(c.ts, "1764064800.5");
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "invalid webhook-timestamp header");
    set_headers(&c, "svix");
    strcpy(c.ts, "");
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "invalid svix-timestamp header");
    case_close(&c);
}

Test(stdwebhooks, missing_each_header)
{
    static const char *const prefixes[] = {"webhook", "svix"};
    static const char *const parts[] = {"id", "timestamp", "signature"};
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < 3; i++) {
            sw_case c;
            case_open(&c);
            set_headers(&c, prefixes[p]);
            c.headers.names[i] = "x-other";
            char want[64];
            snprintf(want, sizeof(want), "missing %s-%s header", prefixes[p], parts[i]);
            cr_expect_eq(case_verify(&c), -1, "%s", want);
            cr_expect_str_eq(c.detail, want);
            case_close(&c);
        }
    }
    sw_case c;
    case_open(&c);
    c.headers.n = 0;
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "missing webhook-id header");
    case_close(&c);
}

Test(stdwebhooks, svix_spelling_and_the_preference_for_webhook)
{
    sw_case c;
    case_open(&c);
    set_headers(&c, "svix");
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);

    /* Both sets: the spec's is read, whatever the other says. */
    c.headers = (fake_headers){.names = {"svix-id", "svix-timestamp", "svix-signature", "webhook-id",
                                         "webhook-timestamp", "webhook-signature"},
                               .values = {"msg_other", "1", "v1,AAAA", c.id, c.ts, c.sig},
                               .n = 6};
    cr_expect_eq(case_verify(&c), 0, "%s", c.detail);
    c.headers = (fake_headers){.names = {"webhook-id", "webhook-timestamp", "webhook-signature", "svix-id",
                                         "svix-timestamp", "svix-signature"},
                               .values = {"msg_other", c.ts, "v1,AAAA", c.id, c.ts, c.sig},
                               .n = 6};
    cr_expect_eq(case_verify(&c), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

/* Verifies with the signature header set to exactly text. */
static int verify_signature(sw_case *c, const char *text)
{
    snprintf(c->sig, sizeof(c->sig), "%s", text);
    return case_verify(c);
}

Test(stdwebhooks, signature_lists)
{
    sw_case c;
    case_open(&c);
    char good[128], old_key[128], text[512];
    strcpy(good, c.sig);
    case_sign(&c, "the-previous-key-the-previous-k!", NOW);
    strcpy(old_key, c.sig);

    snprintf(text, sizeof(text), "%s %s", old_key, good); /* rotation: one bad, one good */
    cr_expect_eq(verify_signature(&c, text), 0, "%s", c.detail);
    snprintf(text, sizeof(text), "%s %s", good, old_key);
    cr_expect_eq(verify_signature(&c, text), 0, "%s", c.detail);
    snprintf(text, sizeof(text), "  %s  ", good); /* blanks around entries */
    cr_expect_eq(verify_signature(&c, text), 0, "%s", c.detail);
    /* The shape of the reference libraries' "multi sig payload is valid". */
    snprintf(
        text, sizeof(text),
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= %s v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        good);
    cr_expect_eq(verify_signature(&c, text), 0, "%s", c.detail);

    snprintf(text, sizeof(text), "%s v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", old_key);
    cr_expect_eq(verify_signature(&c, text), -1); /* all bad */
    cr_expect_str_eq(c.detail, "signature mismatch");
    snprintf(text, sizeof(text), "v1a,%s v2,%s", good + 3, good + 3); /* right bytes, other versions */
    cr_expect_eq(verify_signature(&c, text), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    snprintf(text, sizeof(text), "%.*s", (int)strlen(good) - 1, good); /* one character short */
    cr_expect_eq(verify_signature(&c, text), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    cr_expect_eq(verify_signature(&c, "v1,"), -1);
    cr_expect_str_eq(c.detail, "signature mismatch");
    case_close(&c);
}

Test(stdwebhooks, malformed_signature_headers)
{
    sw_case c;
    case_open(&c);
    char good[128], text[512];
    strcpy(good, c.sig);
    const char *const bare[] = {"", "   ", "v1", "dawfeoifkpqwoekfpqoekf"};
    for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
        cr_expect_eq(verify_signature(&c, bare[i]), -1, "\"%s\"", bare[i]);
        cr_expect_str_eq(c.detail, "malformed webhook-signature header", "\"%s\"", bare[i]);
    }
    snprintf(text, sizeof(text), "%s ,%s", good, good + 3); /* an entry without a version */
    cr_expect_eq(verify_signature(&c, text), -1);
    cr_expect_str_eq(c.detail, "malformed webhook-signature header");
    snprintf(text, sizeof(text), "%s", good + 3); /* bare base64 */
    cr_expect_eq(verify_signature(&c, text), -1);
    cr_expect_str_eq(c.detail, "malformed webhook-signature header");
    case_close(&c);
}

Test(stdwebhooks, never_a_handshake)
{
    sw_case c;
    case_open(&c);
    source_answer ans = {0};
    cr_expect_eq(c.src->handshake(c.src, &c.req, c.tree, &ans), 0);
    cr_expect_null(ans.body);
    case_close(&c);
}

static void parse_one(sw_case *c, event_list *list)
{
    int rc = c->src->parse(c->src, &c->req, c->tree, list, c->detail, sizeof(c->detail));
    cr_assert_eq(rc, 0, "%s", c->detail);
    cr_assert_eq(list->count, 1);
}

Test(stdwebhooks, parses_the_sample_through_the_paths)
{
    sw_case c;
    case_open(&c);
    event_list list = {0};
    parse_one(&c, &list);
    const meeting_event *ev = &list.items[0];
    cr_expect_str_eq(ev->sender, "stdwebhooks");
    cr_expect_eq(ev->tree, c.tree);
    cr_expect_str_eq(ev->event_type, "meeting.completed");
    cr_expect_str_eq(ev->dedup_key, MSG_ID);
    cr_expect_str_eq(ev->close_activity_id, ACTIVITY_ID);
    cr_expect_str_eq(ev->keys.zoom_meeting_id, "85746392011");
    cr_expect_str_eq(ev->keys.join_url, "https://example.zoom.us/j/85746392011");
    cr_expect_null(ev->keys.start_time);
    cr_expect_null(ev->end_time);
    cr_expect_null(ev->keys.calendar_event_id);
    cr_expect_null(ev->keys.ical_uid);
    event_list_free(&list);
    case_close(&c);
}

Test(stdwebhooks, without_paths_only_type_and_dedup)
{
    sw_case c;
    case_open_route(&c, "{\"source\":\"stdwebhooks\"}");
    set_headers(&c, "svix");
    strcpy(c.id, "msg_from_svix");
    event_list list = {0};
    parse_one(&c, &list);
    const meeting_event *ev = &list.items[0];
    cr_expect_str_eq(ev->event_type, "meeting.completed");
    cr_expect_str_eq(ev->dedup_key, "msg_from_svix");
    cr_expect_null(ev->close_activity_id);
    cr_expect_null(ev->keys.zoom_meeting_id);
    cr_expect_null(ev->keys.join_url);
    event_list_free(&list);
    case_close(&c);
}

Test(stdwebhooks, configured_event_type_and_start_time_paths)
{
    sw_case c;
    case_open_route(&c, "{\"source\":\"stdwebhooks\",\"event_type_path\":\"data.outcome\","
                        "\"start_time_path\":\"timestamp\"}");
    event_list list = {0};
    parse_one(&c, &list);
    cr_expect_str_eq(list.items[0].event_type, "demo_done");
    cr_expect_str_eq(list.items[0].keys.start_time, "2026-11-25T09:46:00Z");
    event_list_free(&list);
    case_close(&c);
}

Test(stdwebhooks, empty_id_is_no_dedup_key)
{
    sw_case c;
    case_open(&c);
    c.id[0] = '\0';
    event_list list = {0};
    parse_one(&c, &list);
    cr_expect_null(list.items[0].dedup_key);
    event_list_free(&list);
    case_close(&c);
}

Test(stdwebhooks, parse_errors)
{
    static const struct {
        const char *route;
        const char *body;
        const char *detail;
    } cases[] = {
        {"{\"source\":\"stdwebhooks\"}", "{\"data\":{}}", "missing event type at type"},
        {"{\"source\":\"stdwebhooks\"}", "{\"type\":\"\"}", "missing event type at type"},
        {"{\"source\":\"stdwebhooks\"}", "{\"type\":null}", "missing event type at type"},
        {"{\"source\":\"stdwebhooks\"}", SPEC_PAYLOAD, "missing event type at type"},
        {"{\"source\":\"stdwebhooks\"}", "{\"type\":{\"a\":1}}", "type is not a scalar"},
        {"{\"source\":\"stdwebhooks\"}", "[1]", "body must be a JSON object"},
        {PATHS_ROUTE, "{\"type\":\"t\",\"data\":{\"close_activity_id\":[]}}",
         "data.close_activity_id is not a scalar"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sw_case c;
        case_open_text(&c, cases[i].route, cases[i].body);
        event_list list = {0};
        cr_expect_eq(c.src->parse(c.src, &c.req, c.tree, &list, c.detail, sizeof(c.detail)), -1, "%s",
                     cases[i].body);
        cr_expect_str_eq(c.detail, cases[i].detail, "%s", cases[i].body);
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
    cr_expect_str_eq(err, message, "%s", route_json);
    if (secret != NULL && strlen(secret) > 6)
        cr_expect_null(strstr(err, secret + 6), "the message must not quote the secret");
}

Test(stdwebhooks, constructor_errors)
{
    static const char bad_secret[] =
        "test.json: routes[2].secret: must be \"whsec_\" followed by the key in base64";
    expect_config_error("{\"source\":\"stdwebhooks\"}", NULL,
                        "test.json: routes[2].secret: required for source stdwebhooks");
    expect_config_error("{\"source\":\"stdwebhooks\"}", "whsec_not base64!", bad_secret);
    expect_config_error("{\"source\":\"stdwebhooks\"}", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", bad_secret);
    expect_config_error("{\"source\":\"stdwebhooks\"}", "whsec_", bad_secret);
    expect_config_error("{\"source\":\"stdwebhooks\"}", "correct horse battery staple", bad_secret);
    expect_config_error("{\"source\":\"stdwebhooks\",\"dedup_path\":\"id\"}", SPEC_SECRET,
                        "test.json: routes[2].dedup_path: unknown key for source stdwebhooks");
    expect_config_error("{\"source\":\"stdwebhooks\",\"tolerance_s\":0}", SPEC_SECRET,
                        "test.json: routes[2].tolerance_s: must be an integer from 1 to 3600");
    expect_config_error("{\"source\":\"stdwebhooks\",\"join_url_path\":7}", SPEC_SECRET,
                        "test.json: routes[2].join_url_path: must be a non-empty string");
    expect_config_error("{\"source\":\"stdwebhooks\",\"event_type_path\":\"\"}", SPEC_SECRET,
                        "test.json: routes[2].event_type_path: must be a non-empty string");
}

Test(stdwebhooks, constructor_accepts_every_documented_key)
{
    char err[256] = "";
    source *src =
        make_source("{\"name\":\"notetaker\",\"source\":\"stdwebhooks\",\"secret\":\"env:S\","
                    "\"credential\":\"c\",\"rules\":[],\"tolerance_s\":600,\"event_type_path\":\"t\","
                    "\"activity_id_path\":\"a\",\"zoom_meeting_id_path\":\"z\",\"join_url_path\":\"j\","
                    "\"start_time_path\":\"s\"}",
                    SPEC_SECRET, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    cr_expect_str_eq(src->name, "stdwebhooks");
    cr_expect_eq(src->body_is_json, 1);
    src->destroy(src);
}

/* The registry's table, through its public entry point. */
Test(stdwebhooks, registry_knows_every_source)
{
    char perr[128], err[256] = "";
    yajl_val route = json_parse("{}", 2, perr, sizeof(perr));
    cr_assert_not_null(route, "%s", perr);
    source_config_ctx ctx = {
        .file = "test.json", .key_prefix = "routes[0]", .err = err, .errlen = sizeof(err)};
    source *src = source_create("stdwebhooks", route, SPEC_SECRET, &ctx);
    cr_assert_not_null(src, "%s", err);
    cr_expect_str_eq(src->name, "stdwebhooks");
    src->destroy(src);

    cr_expect_null(source_create("teams", route, SPEC_SECRET, &ctx));
    cr_expect_str_eq(err,
                     "test.json: routes[0].source: unknown source \"teams\" (known: zoom, generic, calendly, "
                     "stdwebhooks, msgraph, gcal)");
    yajl_tree_free(route);

    const char *const *names = source_names();
    static const char *const want[] = {"zoom", "generic", "calendly", "stdwebhooks", "msgraph", "gcal"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(names[i] != NULL && strcmp(names[i], want[i]) == 0, "names[%zu]", i);
    cr_expect_null(names[sizeof(want) / sizeof(want[0])]);
}
