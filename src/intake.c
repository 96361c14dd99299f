/* intake: what closehook decides about a webhook, kept out of server.c so the
 * whole answer table (405 … 202) can be tested without sockets or h2o, and so
 * server.c is left with sockets, loops, TLS and the translation. */
#include "intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "json.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "source/source.h"
#include "update.h"

/* ---- outcomes ---- */

static void set_error(intake_outcome *out, int status, const char *reason, const char *error,
                      const char *detail)
{
    out->kind = INTAKE_ERROR;
    out->status = status;
    out->reason = reason;
    out->error = error;
    snprintf(out->detail, sizeof(out->detail), "%s", detail);
}

static void set_unavailable(intake_outcome *out, const char *detail)
{
    set_error(out, 503, "Service Unavailable", "unavailable", detail);
    out->kind = INTAKE_UNAVAILABLE;
}

static void set_bad_request(intake_outcome *out, const char *detail)
{
    set_error(out, 400, "Bad Request", "bad_request", detail);
}

static void set_status(intake_outcome *out, int status, const char *state, const char *key, const char *value)
{
    out->kind = INTAKE_STATUS;
    out->status = status;
    out->reason = status == 200 ? "OK" : "Accepted";
    out->state = state;
    out->key = key;
    snprintf(out->detail, sizeof(out->detail), "%s", value);
}

void intake_batch_clear(intake_batch *b)
{
    for (size_t i = 0; i < b->njobs; i++) {
        free(b->payloads[i]);
        free(b->dedup_keys[i]);
        free(b->order_keys[i]);
    }
    free(b->order_keys);
    free(b->payloads);
    free(b->dedup_keys);
    free(b->jobs);
    memset(b, 0, sizeof(*b));
}

void intake_outcome_clear(intake_outcome *out)
{
    free(out->body);
    out->body = NULL;
    intake_batch_clear(&out->batch);
}

/* ---- the checks that need no body ---- */

/* application/json, any case, parameters (charset) allowed. */
static int is_json_content_type(const intake_request *req)
{
    size_t len = 0;
    const char *v = req->header(req->header_ctx, "content-type", &len);
    if (v == NULL)
        return 0;
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (len < n || strncasecmp(v, want, n) != 0)
        return 0;
    return len == n || v[n] == ';' || v[n] == ' ';
}

static int client_refused(const route *rt, const intake_request *req)
{
    if (rt->allow_ips.count == 0 || netaddr_list_contains(&rt->allow_ips, &req->client))
        return 0;
    char text[64];
    netaddr_format(&req->client, text, sizeof(text));
    log_write(LOG_WARN, "client not in the route's allow_ips", "route", rt->name, "client", text, NULL);
    return 1;
}

/* Method, allow-list, backpressure, size and content type. 1 when out holds
 * the refusal, 0 to go on. */
static int refused_early(const config *cfg, queue *q, const route *rt, const intake_request *req,
                         intake_outcome *out)
{
    static const char err_415[] = "unsupported_media_type", reason_415[] = "Unsupported Media Type";
    if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0) {
        out->kind = INTAKE_NOT_ALLOWED;
        out->status = 405;
        out->reason = "Method Not Allowed";
        out->allow = "POST";
    } else if (client_refused(rt, req)) {
        set_error(out, 403, "Forbidden", "forbidden", "this client address may not use this route");
    } else if (queue_undelivered(q) >= cfg->store.max_pending) {
        /* Backpressure: past the high-water mark, a 503 with Retry-After is
         * honest; accepting what we may never deliver in time is not. */
        metrics_inc("closehook_webhooks_total", METRIC_LABELS(rt->name, "refused_backlog"));
        set_unavailable(out, "the delivery backlog is over store.max_pending; retry later");
    } else if (req->body_len > cfg->body_limit) {
        set_error(out, 413, "Payload Too Large", "payload_too_large", "body exceeds body_limit");
    } else if (req->body_len > 0 && !rt->source->body_is_json) {
        set_error(out, 415, reason_415, err_415, "this route's sender sends no body");
    } else if (req->body_len > 0 && !is_json_content_type(req)) {
        set_error(out, 415, reason_415, err_415, "Content-Type must be application/json");
    } else {
        return 0;
    }
    return 1;
}

/* A coarse, bounded reason for the verification-failure metric; the detail
 * itself (logged) says exactly what was wrong. */
static const char *failure_reason(const char *detail)
{
    if (strstr(detail, "missing") != NULL)
        return "missing_credential";
    if (strstr(detail, "timestamp") != NULL || strstr(detail, "tolerance") != NULL)
        return "timestamp";
    if (strstr(detail, "mismatch") != NULL)
        return "mismatch";
    return "malformed";
}

static void refuse_unverified(const route *rt, const intake_request *req, const char *detail,
                              intake_outcome *out)
{
    log_write(LOG_WARN, "verification failed", "route", rt->name, "detail", detail, "request_id",
              req->request_id, NULL);
    metrics_inc("closehook_verification_failures_total", METRIC_LABELS(rt->name, failure_reason(detail)));
    set_error(out, 401, "Unauthorized", "unauthorized", detail);
}

/* ---- events to jobs ---- */

static int batch_alloc(intake_batch *b, size_t n)
{
    b->jobs = calloc(n, sizeof(*b->jobs));
    b->payloads = calloc(n, sizeof(char *));
    b->dedup_keys = calloc(n, sizeof(char *));
    b->order_keys = calloc(n, sizeof(char *));
    return b->jobs && b->payloads && b->dedup_keys && b->order_keys ? 0 : -1;
}

/* One matched event as the batch's next job. 0, or the status to answer:
 * 400 (the rule could not be built, detail says why) or 503 (out of memory). */
static int add_job(intake_batch *b, const route *rt, int rule, const meeting_event *ev,
                   const char *request_id, char *detail, size_t detail_len)
{
    close_update update;
    if (mapping_build(&rt->rules, rule, ev, &update, detail, detail_len) != 0)
        return 400;
    update.request_id = strdup(request_id);
    char *payload = update_serialize(&update);
    char *order_key = update_order_key(&update);
    update_clear(&update);
    size_t n = b->njobs++;
    b->payloads[n] = payload;
    b->order_keys[n] = order_key;
    if (payload == NULL)
        return 503;
    /* Dedup keys are kept per route by the queue, so the sender's own ids
     * cannot collide across routes. */
    b->dedup_keys[n] = ev->dedup_key ? strdup(ev->dedup_key) : NULL;
    queue_job *job = &b->jobs[n];
    job->route = rt->name;
    job->credential = rt->credential->name;
    job->dedup_key = b->dedup_keys[n];
    job->payload = payload;
    job->order_key = order_key;
    return 0;
}

/* The sender's events through the rules: a batch to submit, "ignored" when no
 * event matches a rule, or the error. */
static void map_events(const route *rt, const intake_request *req, const event_list *events,
                       intake_outcome *out)
{
    intake_batch *b = &out->batch;
    char detail[256] = "";
    if (batch_alloc(b, events->count) != 0) {
        intake_batch_clear(b);
        set_unavailable(out, "out of memory");
        return;
    }
    const char *ignored_type = NULL;
    for (size_t i = 0; i < events->count; i++) {
        const meeting_event *ev = &events->items[i];
        int rule = mapping_match(&rt->rules, ev);
        if (rule < 0) {
            ignored_type = ev->event_type;
            continue;
        }
        int status = add_job(b, rt, rule, ev, req->request_id, detail, sizeof(detail));
        if (status != 0) {
            intake_batch_clear(b);
            if (status == 400)
                set_bad_request(out, detail);
            else
                set_unavailable(out, "out of memory");
            return;
        }
    }
    if (b->njobs > 0) {
        out->kind = INTAKE_SUBMIT;
        out->status = 202;
        return;
    }
    intake_batch_clear(b);
    snprintf(detail, sizeof(detail), "no rule matches event \"%s\"", ignored_type ? ignored_type : "");
    log_write(LOG_INFO, "ignored", "route", rt->name, "reason", detail, NULL);
    metrics_inc("closehook_webhooks_total", METRIC_LABELS(rt->name, "ignored"));
    set_status(out, 200, "ignored", "reason", detail);
}

/* A verified, parsed body: the source's parse, then the rules. */
static void accept_events(const route *rt, const intake_request *req, const source_request *sreq,
                          yajl_val tree, intake_outcome *out)
{
    const source *src = rt->source;
    char detail[256] = "";
    event_list events = {0};
    if (src->parse(src, sreq, tree, &events, detail, sizeof(detail)) != 0)
        set_bad_request(out, detail);
    else
        map_events(rt, req, &events, out);
    event_list_free(&events);
}

/* The sender's handshake (Zoom's url_validation, Graph's validationToken …). */
static void take_handshake(const route *rt, source_answer *ans, intake_outcome *out)
{
    out->kind = INTAKE_BODY;
    out->status = ans->status;
    out->reason = ans->status == 200 ? "OK" : "Error";
    out->content_type = ans->content_type;
    out->body = ans->body;
    out->body_len = ans->body ? ans->body_len : 0;
    log_write(LOG_INFO, "handshake answered", "route", rt->name, NULL);
}

/* A sender that signs the raw body is verified before the body is parsed, so
 * unauthenticated bytes reach nothing but the signature check; Graph's
 * clientState sits inside the body, so its route parses first (json_parse is
 * bounded for exactly such input). */
void intake_handle(const config *cfg, queue *q, const route *rt, const intake_request *req,
                   intake_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (refused_early(cfg, q, rt, req, out))
        return;
    const source *src = rt->source;
    source_request sreq = {
        .body = req->body,
        .body_len = req->body_len,
        .query = req->query,
        .query_len = req->query_len,
        .header = req->header,
        .header_ctx = req->header_ctx,
        .now = req->now,
    };
    char detail[256] = "";
    if (!src->verify_needs_tree && src->verify(src, &sreq, NULL, detail, sizeof(detail)) != 0) {
        refuse_unverified(rt, req, detail, out);
        return;
    }
    yajl_val tree = NULL;
    if (req->body_len > 0 && src->body_is_json &&
        (tree = json_parse(req->body, req->body_len, detail, sizeof(detail))) == NULL) {
        set_bad_request(out, detail);
        return;
    }
    source_answer ans = {0};
    if (src->handshake(src, &sreq, tree, &ans))
        take_handshake(rt, &ans, out);
    else if (src->verify_needs_tree && src->verify(src, &sreq, tree, detail, sizeof(detail)) != 0)
        refuse_unverified(rt, req, detail, out);
    else
        accept_events(rt, req, &sreq, tree, out);
    yajl_tree_free(tree);
}

/* ---- after the commit ---- */

static void settle_as(const queue_job *job, const char *request_id, const char *state, int status,
                      intake_outcome *out)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)job->id);
    log_write(LOG_INFO, state, "route", job->route, LOG_INT("id", job->id), "request_id", request_id, NULL);
    metrics_inc("closehook_webhooks_total", METRIC_LABELS(job->route, state));
    set_status(out, status, state, "id", id);
}

void intake_settle(const intake_batch *b, const char *request_id, intake_outcome *out)
{
    memset(out, 0, sizeof(*out));
    const queue_job *first_queued = NULL, *first_duplicate = NULL;
    for (size_t i = 0; i < b->njobs; i++) {
        const queue_job *job = &b->jobs[i];
        if (job->result == QUEUE_FAILED) {
            log_write(LOG_ERROR, "store write failed", "route", job->route, "error", job->error, NULL);
            set_unavailable(out, "the webhook could not be stored; retry later");
            return;
        }
        if (job->result == QUEUE_ACCEPTED && first_queued == NULL)
            first_queued = job;
        if (job->result == QUEUE_DUPLICATE && first_duplicate == NULL)
            first_duplicate = job;
    }
    if (first_queued != NULL)
        settle_as(first_queued, request_id, "queued", 202, out);
    else
        settle_as(first_duplicate, request_id, "duplicate", 200, out);
}
