/* test_msgraph: the Microsoft Graph source against the samples — the
 * validationToken echo, the per-entry clientState check and the split of a
 * batch into one meeting_event per entry. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source/source.h"
#include "source_fixture.h"

/* The clientState the samples were "subscribed" with. */
#define SECRET "secretClientValue"
#define SUBSCRIPTION "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
#define RESOURCE_A "Users/d1a2b3c4-0000-0000-0000-000000000001/Events/AAMkAGI2TAAA="
#define RESOURCE_B "Users/d1a2b3c4-0000-0000-0000-000000000001/Events/AAMkAGI2TBBB="

/* Graph sends nothing this source reads in headers. */
static const char *no_header(void *ctx, const char *name, size_t *len)
{
    (void)ctx;
    (void)name;
    (void)len;
    return NULL;
}

static char *read_sample(const char *name, size_t *len)
{
    return fixture_read_sample("msgraph", name, len);
}

static source *make_source(const char *route_json, const char *secret, char *err, size_t errlen)
{
    return fixture_make_source(msgraph_source_create, "routes[0]", route_json, secret, err, errlen);
}

/* One request: source, body and its tree. */
typedef struct graph_case {
    source *src;
    char *body;
    yajl_val tree;
    source_request req;
    char detail[256];
} graph_case;

static void case_open(graph_case *c, char *body, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->src = fixture_source_ok(msgraph_source_create, "routes[0]",
                               "{\"name\":\"outlook\",\"source\":\"msgraph\"}", SECRET);
    c->body = body;
    c->tree = len > 0 ? fixture_parse(body, len) : NULL;
    c->req = (source_request){.body = body, .body_len = len, .header = no_header};
}

static void case_open_json(graph_case *c, const char *json)
{
    case_open(c, strdup(json), strlen(json));
}

static void case_open_sample(graph_case *c, const char *sample)
{
    size_t len;
    char *body = read_sample(sample, &len);
    case_open(c, body, len);
}

static void case_close(graph_case *c)
{
    fixture_release(c->src, c->tree, c->body);
}

/* Replaces the n-th (0-based) occurrence of from in s by to, same length. */
static void replace_nth(char *s, const char *from, const char *to, int n)
{
    cr_assert_eq(strlen(from), strlen(to));
    char *p = s;
    for (int i = 0; i <= n; i++) {
        p = strstr(i ? p + 1 : p, from);
        cr_assert_not_null(p, "occurrence %d of %s", i, from);
    }
    memcpy(p, to, strlen(to));
}

/* ---- validation handshake ---- */

static int handshake_query(const char *query, source_answer *ans)
{
    graph_case c;
    case_open(&c, NULL, 0);
    c.req.query = query;
    c.req.query_len = query ? strlen(query) : 0;
    memset(ans, 0, sizeof(*ans));
    int rc = c.src->handshake(c.src, &c.req, NULL, ans);
    case_close(&c);
    return rc;
}

/* The query from the sample's request line, and the decoded token the answer
 * must hold, from the comment line that follows "decoded token:". */
static void validation_sample(char **query, char **expected)
{
    size_t len;
    char *text = read_sample("validation.txt", &len);
    char *q = strchr(text, '?');
    char *sp = q ? strchr(q, ' ') : NULL;
    cr_assert(q && sp, "no query on the request line");
    *query = strndup(q + 1, (size_t)(sp - q - 1));
    char *marker = strstr(text, "decoded token:\n# ");
    cr_assert_not_null(marker);
    char *start = marker + strlen("decoded token:\n# ");
    *expected = strndup(start, strcspn(start, "\n"));
    free(text);
}

Test(msgraph, validation_echoes_the_decoded_token_byte_exact)
{
    char *query, *expected;
    validation_sample(&query, &expected);
    source_answer ans;
    cr_assert_eq(handshake_query(query, &ans), 1);
    cr_assert_eq(ans.status, 200);
    cr_assert_str_eq(ans.content_type, "text/plain");
    cr_assert_eq(ans.body_len, strlen(expected), "body %zu bytes, want %zu", ans.body_len, strlen(expected));
    cr_assert_eq(memcmp(ans.body, expected, ans.body_len), 0, "body [%.*s]", (int)ans.body_len, ans.body);
    cr_assert(strstr(expected, "Validation: Testing") == expected, "sample's decoded token: %s", expected);
    free(ans.body);
    free(query);
    free(expected);
}

Test(msgraph, validation_treats_plus_as_space_but_keeps_an_encoded_plus)
{
    source_answer ans;
    cr_assert_eq(handshake_query("tenant=x&validationToken=a+b%2Bc%3Dd&other=1", &ans), 1);
    cr_assert_eq(ans.status, 200);
    cr_assert_eq(ans.body_len, strlen("a b+c=d"));
    cr_assert_eq(memcmp(ans.body, "a b+c=d", ans.body_len), 0);
    free(ans.body);
}

static void assert_bad_request(const source_answer *ans)
{
    cr_assert_eq(ans->status, 400);
    cr_assert_str_eq(ans->content_type, "application/json");
    char perr[128];
    yajl_val v = json_parse(ans->body, ans->body_len, perr, sizeof(perr));
    cr_assert_not_null(v, "%s", perr);
    cr_assert_str_eq(json_scalar(json_get(v, "error")), "bad_request");
    cr_assert(strstr(json_scalar(json_get(v, "detail")), "validationToken") != NULL);
    yajl_tree_free(v);
}

Test(msgraph, empty_validation_token_is_400)
{
    source_answer ans;
    cr_assert_eq(handshake_query("validationToken=", &ans), 1);
    assert_bad_request(&ans);
    free(ans.body);
    cr_assert_eq(handshake_query("a=1&validationToken", &ans), 1);
    assert_bad_request(&ans);
    free(ans.body);
}

Test(msgraph, requests_without_validation_token_are_no_handshake)
{
    source_answer ans;
    cr_assert_eq(handshake_query(NULL, &ans), 0);
    cr_assert_eq(handshake_query("", &ans), 0);
    cr_assert_eq(handshake_query("validationTokenX=1&xvalidationToken=2", &ans), 0);
    cr_assert_null(ans.body);

    graph_case c;
    case_open_sample(&c, "notification.json");
    cr_assert_eq(c.src->handshake(c.src, &c.req, c.tree, &ans), 0);
    case_close(&c);
}

/* ---- verify ---- */

Test(msgraph, verify_accepts_the_sample_notification)
{
    graph_case c;
    case_open_sample(&c, "notification.json");
    cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    case_close(&c);
}

Test(msgraph, verify_refuses_a_batch_with_one_wrong_client_state_naming_its_index)
{
    size_t len;
    char *body = read_sample("notification.json", &len);
    replace_nth(body, SECRET, "wrongClientValue!", 1);
    graph_case c;
    case_open(&c, body, len);
    cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), -1);
    cr_assert_str_eq(c.detail, "clientState mismatch in value[1]");
    case_close(&c);
}

Test(msgraph, verify_refuses_a_missing_client_state)
{
    graph_case c;
    case_open_json(&c, "{\"value\":[{\"clientState\":\"" SECRET "\",\"changeType\":\"created\"},"
                       "{\"changeType\":\"updated\"}]}");
    cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), -1);
    cr_assert_str_eq(c.detail, "missing clientState in value[1]");
    case_close(&c);

    /* A clientState that is not a string is as good as missing. */
    case_open_json(&c, "{\"value\":[{\"clientState\":42,\"changeType\":\"created\"}]}");
    cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), -1);
    cr_assert_str_eq(c.detail, "missing clientState in value[0]");
    case_close(&c);
}

Test(msgraph, verify_refuses_a_prefix_or_extension_of_the_secret)
{
    const char *bodies[] = {
        "{\"value\":[{\"clientState\":\"secretClient\"}]}",
        "{\"value\":[{\"clientState\":\"secretClientValueX\"}]}",
        "{\"value\":[{\"clientState\":\"\"}]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        graph_case c;
        case_open_json(&c, bodies[i]);
        cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), -1, "%s", bodies[i]);
        cr_assert_str_eq(c.detail, "clientState mismatch in value[0]");
        case_close(&c);
    }
}

/* The shape is parse's to refuse (400); verify judges authenticity only. */
Test(msgraph, bodies_not_shaped_as_a_value_array_pass_verify_and_fail_parse)
{
    const char *bodies[] = {"{\"foo\":1}", "[1,2]", "{\"value\":{}}", "\"value\""};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        graph_case c;
        case_open_json(&c, bodies[i]);
        cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), 0, "%s", bodies[i]);
        event_list out = {0};
        cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), -1);
        cr_assert_str_eq(c.detail, "body must be {\"value\": [...]}");
        cr_assert_eq(out.count, 0);
        case_close(&c);
    }
}

/* ---- parse ---- */

Test(msgraph, parse_splits_the_sample_batch_into_two_events)
{
    graph_case c;
    case_open_sample(&c, "notification.json");
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_eq(out.count, 2);

    const meeting_event *a = &out.items[0], *b = &out.items[1];
    cr_assert_str_eq(a->sender, "msgraph");
    cr_assert_str_eq(a->event_type, "updated");
    cr_assert_str_eq(a->keys.calendar_event_id, "AAMkAGI2TAAA=");
    cr_assert_str_eq(a->dedup_key,
                     SUBSCRIPTION ":" RESOURCE_A ":updated:W/\"CQAAABYAAACQ2fKdhq8oSKEDSVrdi3lRAAAA\"");
    cr_assert_eq(a->tree, c.tree->u.object.values[0]->u.array.values[0], "tree is the entry itself");
    cr_assert_str_eq(json_scalar(json_get(a->tree, "resourceData.id")), "AAMkAGI2TAAA=");
    cr_assert_null(a->owned_tree);

    cr_assert_str_eq(b->sender, "msgraph");
    cr_assert_str_eq(b->event_type, "deleted");
    cr_assert_str_eq(b->keys.calendar_event_id, "AAMkAGI2TBBB=");
    cr_assert_str_eq(b->dedup_key, SUBSCRIPTION ":" RESOURCE_B ":deleted");
    cr_assert_str_eq(json_scalar(json_get(b->tree, "changeType")), "deleted");
    event_list_free(&out);
    case_close(&c);
}

/* A later real update of the same event carries a new etag, so it must not be
 * taken for Graph's retry of the first. */
Test(msgraph, a_new_etag_makes_a_new_dedup_key)
{
    size_t len;
    char *body = read_sample("notification.json", &len);
    replace_nth(body, "CQAAABYAAACQ2fKdhq8oSKEDSVrdi3lRAAAA", "CQAAABYAAACQ2fKdhq8oSKEDSVrdi3lRAAAB", 0);
    graph_case c;
    case_open(&c, body, len);
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_str_eq(out.items[0].dedup_key,
                     SUBSCRIPTION ":" RESOURCE_A ":updated:W/\"CQAAABYAAACQ2fKdhq8oSKEDSVrdi3lRAAAB\"");
    event_list_free(&out);
    case_close(&c);
}

Test(msgraph, lifecycle_notification_becomes_a_lifecycle_event_and_is_logged, .init = cr_redirect_stderr,
     .timeout = 10)
{
    graph_case c;
    case_open_sample(&c, "lifecycle.json");
    cr_assert_eq(c.src->verify(c.src, &c.req, c.tree, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(out.items[0].event_type, "lifecycle.reauthorizationRequired");
    cr_assert_str_eq(out.items[0].sender, "msgraph");
    cr_assert_null(out.items[0].keys.calendar_event_id);
    cr_assert_str_eq(json_scalar(json_get(out.items[0].tree, "lifecycleEvent")), "reauthorizationRequired");

    char line[1024] = "";
    cr_assert_not_null(fgets(line, sizeof(line), cr_get_redirected_stderr()));
    char perr[128];
    yajl_val logged = json_parse(line, strlen(line), perr, sizeof(perr));
    cr_assert_not_null(logged, "%s: %s", perr, line);
    cr_assert_str_eq(json_scalar(json_get(logged, "msg")), "graph lifecycle notification");
    cr_assert_str_eq(json_scalar(json_get(logged, "level")), "warn");
    cr_assert_str_eq(json_scalar(json_get(logged, "lifecycle_event")), "reauthorizationRequired");
    cr_assert_str_eq(json_scalar(json_get(logged, "subscription")), SUBSCRIPTION);
    cr_assert_null(strstr(line, SECRET), "the clientState must not be logged");
    yajl_tree_free(logged);
    event_list_free(&out);
    case_close(&c);
}

static void assert_parse_400(const char *json, const char *want_detail)
{
    graph_case c;
    case_open_json(&c, json);
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), -1, "%s", json);
    cr_assert_str_eq(c.detail, want_detail);
    cr_assert_eq(out.count, 0, "a refused batch leaves no events behind");
    event_list_free(&out);
    case_close(&c);
}

Test(msgraph, parse_refuses_empty_and_malformed_batches)
{
    assert_parse_400("{\"value\":[]}", "empty value array");
    assert_parse_400("{\"value\":[{\"changeType\":\"created\",\"clientState\":\"" SECRET "\"},7]}",
                     "value[1] is not an object");
    assert_parse_400("{\"value\":[{\"clientState\":\"" SECRET "\",\"resource\":\"r\"}]}",
                     "missing changeType in value[0]");
}

Test(msgraph, entries_without_subscription_or_resource_get_no_dedup_key)
{
    graph_case c;
    case_open_json(&c, "{\"value\":[{\"changeType\":\"created\",\"resourceData\":{\"id\":\"E1\"}}]}");
    event_list out = {0};
    cr_assert_eq(c.src->parse(c.src, &c.req, c.tree, &out, c.detail, sizeof(c.detail)), 0, "%s", c.detail);
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(out.items[0].event_type, "created");
    cr_assert_str_eq(out.items[0].keys.calendar_event_id, "E1");
    cr_assert_null(out.items[0].dedup_key);
    event_list_free(&out);
    case_close(&c);
}

/* ---- configuration ---- */

Test(msgraph, constructor_requires_the_client_state_secret)
{
    char err[256] = "";
    cr_assert_null(make_source("{\"name\":\"o\",\"source\":\"msgraph\"}", NULL, err, sizeof(err)));
    cr_assert_str_eq(err, "test.json: routes[0].secret: required for source msgraph (the subscription's "
                          "clientState)");
    err[0] = '\0';
    cr_assert_null(make_source("{\"name\":\"o\",\"source\":\"msgraph\"}", "", err, sizeof(err)));
    cr_assert(strstr(err, "routes[0].secret: required") != NULL, "%s", err);
}

Test(msgraph, constructor_refuses_unknown_keys_and_non_objects)
{
    char err[256] = "";
    cr_assert_null(make_source("{\"name\":\"o\",\"source\":\"msgraph\",\"client_state\":\"x\"}", SECRET, err,
                               sizeof(err)));
    cr_assert_str_eq(err, "test.json: routes[0].client_state: unknown key for source msgraph");
    err[0] = '\0';
    cr_assert_null(make_source("[1]", SECRET, err, sizeof(err)));
    cr_assert_str_eq(err, "test.json: routes[0]: must be an object");

    source *ok = make_source("{\"name\":\"o\",\"source\":\"msgraph\",\"credential\":\"c\",\"rules\":[]}",
                             SECRET, err, sizeof(err));
    cr_assert_not_null(ok, "%s", err);
    cr_assert_str_eq(ok->name, "msgraph");
    cr_assert_eq(ok->body_is_json, 1);
    ok->destroy(ok);
}
