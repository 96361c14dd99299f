/* test_intake: the webhook answer table (README "HTTP answers") decided by
 * intake without sockets — 405, 403, 503 backlog, 413, 415, 401, 400, the
 * handshake, ignored, the accepted jobs and what the commit turns them into
 * (202 queued, 200 duplicate, 503 store failure). Signatures are computed with
 * OpenSSL's one-shot HMAC() (source_fixture), not signature.c. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "intake.h"
#include "queue_fixture.h"
#include "source_fixture.h"

#define GENERIC_SECRET "intake-generic-secret"
#define ZOOM_SECRET "intake-zoom-secret"
#define GCAL_SECRET "intake-gcal-token"
#define ACTIVITY_ID "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb"
#define REQUEST_ID "req-intake-test-1"
/* Inside Zoom's 5-minute tolerance of the signatures made here. */
#define NOW 1764068412L

static const char config_text[] =
    "{\"listen\": [{\"port\": 9000}], \"store\": {\"path\": \"/tmp/unused-intake.db\"},\n"
    " \"close\": {\"base_url\": \"http://127.0.0.1:9\"},\n"
    " \"credentials\": {\"close\": {\"api_key\": \"env:INTAKE_CLOSE_KEY\"}},\n"
    " \"routes\": [\n"
    "  {\"name\": \"notetaker\", \"source\": \"generic\", \"secret\": \"env:INTAKE_GENERIC\","
    "   \"credential\": \"close\", \"event_type_path\": \"event\","
    "   \"activity_id_path\": \"close.activity_id\", \"dedup_path\": \"id\","
    "   \"rules\": [{\"event\": \"call_outcome\", \"when\": {\"outcome\": \"no_show\"},"
    "               \"outcome_id\": \"outcome_noshow\", \"note\": \"<p>{{notes}}</p>\"}]},\n"
    "  {\"name\": \"locked\", \"source\": \"generic\", \"secret\": \"env:INTAKE_GENERIC\","
    "   \"credential\": \"close\", \"allow_ips\": [\"10.0.0.0/8\"], \"event_type_path\": \"event\","
    "   \"activity_id_path\": \"close.activity_id\","
    "   \"rules\": [{\"event\": \"call_outcome\", \"outcome_id\": \"outcome_1\"}]},\n"
    "  {\"name\": \"zoom\", \"source\": \"zoom\", \"secret\": \"env:INTAKE_ZOOM\", \"credential\": \"close\","
    "   \"rules\": [{\"event\": \"meeting.ended\", \"outcome_id\": \"outcome_held\"}]},\n"
    "  {\"name\": \"google\", \"source\": \"gcal\", \"secret\": \"env:INTAKE_GCAL\", \"credential\": "
    "\"close\","
    "   \"rules\": [{\"event\": \"exists\", \"activity_id\": \"" ACTIVITY_ID
    "\", \"note\": \"<p>changed</p>\"}]}\n"
    " ]}\n";

static config *cfg;
static queue *q;
static char config_path[sizeof(queue_fixture_dir) + 32];

static void setup(void)
{
    queue_fixture_setup();
    setenv("INTAKE_CLOSE_KEY", "api_intake_close_key", 1);
    setenv("INTAKE_GENERIC", GENERIC_SECRET, 1);
    setenv("INTAKE_ZOOM", ZOOM_SECRET, 1);
    setenv("INTAKE_GCAL", GCAL_SECRET, 1);
    snprintf(config_path, sizeof(config_path), "%s/closehook.json", queue_fixture_dir);
    FILE *f = fopen(config_path, "w");
    cr_assert_not_null(f);
    fputs(config_text, f);
    fclose(f);
    char err[1024];
    cfg = config_load(config_path, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    q = open_store();
}

static void teardown(void)
{
    queue_close(q);
    config_free(cfg);
    unlink(config_path);
    queue_fixture_teardown();
}

TestSuite(intake, .init = setup, .fini = teardown);

/* One request: its view, headers, and the outcome intake gave. */
typedef struct hook_case {
    fake_headers headers;
    intake_request req;
    char sig[96];
    char ts[32];
    intake_outcome out;
} hook_case;

static const route *find_route(const char *name)
{
    const route *rt = config_find_route(cfg, name, strlen(name));
    cr_assert_not_null(rt, "route %s", name);
    return rt;
}

static void add_header(hook_case *c, const char *name, const char *value)
{
    cr_assert_lt(c->headers.n, FIXTURE_MAX_HEADERS);
    c->headers.names[c->headers.n] = name;
    c->headers.values[c->headers.n] = value;
    c->headers.n++;
}

/* A POST from 127.0.0.1 with body and no headers yet. */
static void case_open(hook_case *c, const char *body)
{
    memset(c, 0, sizeof(*c));
    c->req = (intake_request){.method = "POST",
                              .method_len = 4,
                              .header = fake_header,
                              .header_ctx = &c->headers,
                              .body = body,
                              .body_len = strlen(body),
                              .request_id = REQUEST_ID,
                              .now = NOW};
    cr_assert_eq(netaddr_parse("127.0.0.1", 9, &c->req.client), 0);
}

/* A generic sender's request: JSON, X-Signature-256 over the body with secret. */
static void case_generic(hook_case *c, const char *body, const char *secret)
{
    case_open(c, body);
    add_header(c, "content-type", "application/json");
    unsigned char mac[EVP_MAX_MD_SIZE];
    strcpy(c->sig, "sha256=");
    fixture_hex(mac, fixture_hmac(secret, strlen(secret), "", body, strlen(body), mac), c->sig + 7);
    add_header(c, "x-signature-256", c->sig);
}

static void run(hook_case *c, const char *route_name)
{
    intake_handle(cfg, q, find_route(route_name), &c->req, &c->out);
}

static void expect_error(hook_case *c, int status, const char *error, const char *detail_part)
{
    cr_expect_eq(c->out.kind, status == 503 ? INTAKE_UNAVAILABLE : INTAKE_ERROR, "kind %d", c->out.kind);
    cr_expect_eq(c->out.status, status);
    cr_expect_str_eq(c->out.error, error);
    cr_expect(strstr(c->out.detail, detail_part) != NULL, "detail \"%s\" lacks \"%s\"", c->out.detail,
              detail_part);
    cr_expect_eq(c->out.batch.njobs, 0);
    intake_outcome_clear(&c->out);
}

static char *outcome_body(void)
{
    size_t len;
    char *body = fixture_read_sample("generic", "outcome.json", &len);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
        body[--len] = '\0';
    return body;
}

/* ---- refusals before the body is looked at ---- */

Test(intake, a_get_is_405_allowing_post)
{
    hook_case c;
    case_generic(&c, "{}", GENERIC_SECRET);
    c.req.method = "GET";
    c.req.method_len = 3;
    run(&c, "notetaker");
    cr_expect_eq(c.out.kind, INTAKE_NOT_ALLOWED);
    cr_expect_eq(c.out.status, 405);
    cr_expect_str_eq(c.out.allow, "POST");
    intake_outcome_clear(&c.out);
}

Test(intake, a_method_that_only_starts_with_post_is_405)
{
    hook_case c;
    case_generic(&c, "{}", GENERIC_SECRET);
    c.req.method = "POSTX";
    c.req.method_len = 5;
    run(&c, "notetaker");
    cr_expect_eq(c.out.status, 405);
    intake_outcome_clear(&c.out);
}

Test(intake, a_client_outside_allow_ips_is_403)
{
    hook_case c;
    case_generic(&c, "{}", GENERIC_SECRET);
    run(&c, "locked");
    expect_error(&c, 403, "forbidden", "this client address may not use this route");
}

Test(intake, a_client_inside_allow_ips_goes_on_to_verify)
{
    hook_case c;
    case_generic(&c, "{}", "not-the-secret");
    cr_assert_eq(netaddr_parse("10.1.2.3", 8, &c.req.client), 0);
    run(&c, "locked");
    expect_error(&c, 401, "unauthorized", "signature mismatch");
}

Test(intake, a_backlog_at_max_pending_is_503)
{
    cfg->store.max_pending = 1;
    submit(q, "notetaker", "k1", QUEUE_ACCEPTED);
    char *body = outcome_body();
    hook_case c;
    case_generic(&c, body, GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 503, "unavailable", "over store.max_pending");
    free(body);
}

Test(intake, a_body_over_body_limit_is_413)
{
    cfg->body_limit = 4;
    hook_case c;
    case_generic(&c, "{\"a\":1}", GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 413, "payload_too_large", "body exceeds body_limit");
}

Test(intake, a_body_at_body_limit_goes_on)
{
    cfg->body_limit = 7;
    hook_case c;
    case_generic(&c, "{\"a\":1}", "not-the-secret");
    run(&c, "notetaker");
    expect_error(&c, 401, "unauthorized", "mismatch");
}

Test(intake, a_wrong_content_type_is_415)
{
    const char *types[] = {"text/plain", "application/jsonx", "application/x-www-form-urlencoded"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        hook_case c;
        case_generic(&c, "{}", GENERIC_SECRET);
        c.headers.values[0] = types[i];
        run(&c, "notetaker");
        expect_error(&c, 415, "unsupported_media_type", "Content-Type must be application/json");
    }
}

Test(intake, a_missing_content_type_is_415)
{
    hook_case c;
    case_open(&c, "{}");
    run(&c, "notetaker");
    expect_error(&c, 415, "unsupported_media_type", "Content-Type must be application/json");
}

Test(intake, json_content_type_with_any_case_and_parameters_is_taken)
{
    const char *types[] = {"application/json", "Application/JSON", "application/json; charset=utf-8",
                           "application/json;charset=utf-8"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        hook_case c;
        case_generic(&c, "{}", "not-the-secret");
        c.headers.values[0] = types[i];
        run(&c, "notetaker");
        expect_error(&c, 401, "unauthorized", "mismatch");
    }
}

Test(intake, a_body_on_a_bodyless_sender_is_415)
{
    hook_case c;
    case_open(&c, "{}");
    add_header(&c, "content-type", "application/json");
    run(&c, "google");
    expect_error(&c, 415, "unsupported_media_type", "this route's sender sends no body");
}

/* ---- verification and parsing ---- */

Test(intake, a_missing_signature_is_401)
{
    hook_case c;
    case_open(&c, "{}");
    add_header(&c, "content-type", "application/json");
    run(&c, "notetaker");
    expect_error(&c, 401, "unauthorized", "missing");
}

Test(intake, a_bad_signature_is_401_before_the_body_is_parsed)
{
    hook_case c;
    case_generic(&c, "{not json", "not-the-secret");
    run(&c, "notetaker");
    expect_error(&c, 401, "unauthorized", "signature mismatch");
}

Test(intake, signed_bad_json_is_400)
{
    hook_case c;
    case_generic(&c, "{\"event\":\"call_outcome\",", GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 400, "bad_request", "invalid JSON");
}

Test(intake, signed_deeply_nested_json_is_400)
{
    char body[2 * 1000 + 1];
    memset(body, '[', 1000);
    memset(body + 1000, ']', 1000);
    body[2000] = '\0';
    hook_case c;
    case_generic(&c, body, GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 400, "bad_request", "nested deeper than");
}

Test(intake, signed_json_with_an_escaped_nul_is_400)
{
    hook_case c;
    case_generic(&c, "{\"event\":\"call\\u0000outcome\"}", GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 400, "bad_request", "a string contains \\u0000");
}

Test(intake, a_body_the_source_cannot_parse_is_400)
{
    hook_case c;
    case_generic(&c, "[1, 2]", GENERIC_SECRET);
    run(&c, "notetaker");
    expect_error(&c, 400, "bad_request", "body must be a JSON object");
}

/* ---- answered without jobs ---- */

Test(intake, an_event_no_rule_matches_is_ignored)
{
    char body[] = "{\"event\":\"call_outcome\",\"id\":\"evt_1\",\"close\":{\"activity_id\":\"" ACTIVITY_ID
                  "\"},\"outcome\":\"held\"}";
    hook_case c;
    case_generic(&c, body, GENERIC_SECRET);
    run(&c, "notetaker");
    cr_expect_eq(c.out.kind, INTAKE_STATUS);
    cr_expect_eq(c.out.status, 200);
    cr_expect_str_eq(c.out.state, "ignored");
    cr_expect_str_eq(c.out.key, "reason");
    cr_expect_str_eq(c.out.detail, "no rule matches event \"call_outcome\"");
    cr_expect_eq(c.out.batch.njobs, 0);
    intake_outcome_clear(&c.out);
}

Test(intake, zoom_url_validation_is_answered_by_the_handshake)
{
    size_t len;
    char *body = fixture_read_sample("zoom", "url_validation.json", &len);
    while (len > 0 && body[len - 1] == '\n')
        body[--len] = '\0';
    hook_case c;
    case_open(&c, body);
    add_header(&c, "content-type", "application/json");
    snprintf(c.ts, sizeof(c.ts), "%ld", NOW);
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "v0:%s:", c.ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    strcpy(c.sig, "v0=");
    fixture_hex(mac, fixture_hmac(ZOOM_SECRET, strlen(ZOOM_SECRET), prefix, body, len, mac), c.sig + 3);
    add_header(&c, "x-zm-request-timestamp", c.ts);
    add_header(&c, "x-zm-signature", c.sig);
    run(&c, "zoom");
    cr_expect_eq(c.out.kind, INTAKE_BODY);
    cr_expect_eq(c.out.status, 200);
    cr_expect_str_eq(c.out.content_type, "application/json");
    cr_assert_not_null(c.out.body);
    cr_expect(memmem(c.out.body, c.out.body_len, "qgg8vlvZRS6UYooatFL8Aw", 22) != NULL, "%.*s",
              (int)c.out.body_len, c.out.body);
    intake_outcome_clear(&c.out);
    cr_expect_null(c.out.body);
    free(body);
}

/* ---- accepted: the jobs, then the commit's answer ---- */

static void expect_job(const queue_job *job)
{
    cr_expect_str_eq(job->route, "notetaker");
    cr_expect_str_eq(job->credential, "close");
    cr_expect_str_eq(job->dedup_key, "evt_01JDZ8Q4N7");
    cr_assert_not_null(job->payload);
    cr_expect(strstr(job->payload, "outcome_noshow") != NULL, "%s", job->payload);
    cr_expect(strstr(job->payload, ACTIVITY_ID) != NULL, "%s", job->payload);
    cr_expect(strstr(job->payload, REQUEST_ID) != NULL, "%s", job->payload);
    cr_expect(strstr(job->payload, "Prospect did not join.") != NULL, "%s", job->payload);
    cr_expect_null(job->owner);
    cr_expect_null(job->on_done);
}

/* Runs the signed outcome sample through intake, stores its jobs, and returns
 * the answer intake_settle gives. */
static void accept_and_settle(intake_outcome *settled)
{
    char *body = outcome_body();
    hook_case c;
    case_generic(&c, body, GENERIC_SECRET);
    run(&c, "notetaker");
    cr_assert_eq(c.out.kind, INTAKE_SUBMIT, "kind %d detail %s", c.out.kind, c.out.detail);
    cr_assert_eq(c.out.batch.njobs, 1);
    expect_job(&c.out.batch.jobs[0]);
    for (size_t i = 0; i < c.out.batch.njobs; i++)
        queue_submit_wait(q, &c.out.batch.jobs[i]);
    intake_settle(&c.out.batch, REQUEST_ID, settled);
    intake_outcome_clear(&c.out);
    cr_expect_eq(c.out.batch.njobs, 0);
    free(body);
}

Test(intake, an_accepted_webhook_gives_its_jobs_and_202_once_stored)
{
    intake_outcome out;
    accept_and_settle(&out);
    cr_expect_eq(out.kind, INTAKE_STATUS);
    cr_expect_eq(out.status, 202);
    cr_expect_str_eq(out.reason, "Accepted");
    cr_expect_str_eq(out.state, "queued");
    cr_expect_str_eq(out.key, "id");
    cr_expect_str_eq(out.detail, "1");
    intake_outcome_clear(&out);
    cr_expect_eq(counts(q).pending, 1);
}

Test(intake, the_same_webhook_again_is_200_duplicate_with_the_first_id)
{
    intake_outcome first, again;
    accept_and_settle(&first);
    accept_and_settle(&again);
    cr_expect_eq(again.kind, INTAKE_STATUS);
    cr_expect_eq(again.status, 200);
    cr_expect_str_eq(again.state, "duplicate");
    cr_expect_str_eq(again.detail, first.detail);
    intake_outcome_clear(&first);
    intake_outcome_clear(&again);
    cr_expect_eq(counts(q).pending, 1);
}

Test(intake, settling_answers_503_when_any_job_failed_to_be_stored)
{
    queue_job jobs[2] = {{.route = "notetaker", .result = QUEUE_ACCEPTED, .id = 7},
                         {.route = "notetaker", .result = QUEUE_FAILED, .error = "disk I/O error"}};
    intake_batch b = {.njobs = 2, .jobs = jobs};
    intake_outcome out;
    intake_settle(&b, REQUEST_ID, &out);
    cr_expect_eq(out.kind, INTAKE_UNAVAILABLE);
    cr_expect_eq(out.status, 503);
    cr_expect_str_eq(out.detail, "the webhook could not be stored; retry later");
}

Test(intake, settling_prefers_a_new_row_over_a_duplicate)
{
    queue_job jobs[2] = {{.route = "notetaker", .result = QUEUE_DUPLICATE, .id = 3},
                         {.route = "notetaker", .result = QUEUE_ACCEPTED, .id = 9}};
    intake_batch b = {.njobs = 2, .jobs = jobs};
    intake_outcome out;
    intake_settle(&b, REQUEST_ID, &out);
    cr_expect_eq(out.status, 202);
    cr_expect_str_eq(out.state, "queued");
    cr_expect_str_eq(out.detail, "9");
}
