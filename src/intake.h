/* intake: the webhook decision, apart from HTTP plumbing. Given a plain view of
 * a POST /hooks/<route> request and its route, it runs the checks in order —
 * method, allow_ips, backpressure (store.max_pending), body_limit, content
 * type, the source's verify, the JSON parse, the handshake, the source's parse
 * and the rules — and says what to answer, or which queue jobs to submit.
 *
 * Caller: the server's event-loop threads (any number at once; intake keeps no
 * state of its own). It never submits, never touches sockets and knows nothing
 * of h2o: the server translates its h2o_req_t into an intake_request and the
 * intake_outcome back into an answer. It logs and counts in /metrics the way
 * the answers always have (verification failures, refusals, ignored, queued).
 *
 * Memory: the request view is borrowed for the call only; the outcome owns its
 * body and its batch (free both with intake_outcome_clear, or move the batch out
 * and clear it later with intake_batch_clear). Static strings (reason, error,
 * state, allow, content_type) are never freed. */
#ifndef CLOSEHOOK_INTAKE_H
#define CLOSEHOOK_INTAKE_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "netaddr.h"
#include "queue.h"

/* What intake reads of a request. All borrowed for the call. */
typedef struct intake_request {
    const char *method; /* not NUL-terminated */
    size_t method_len;
    const char *query; /* after '?', not decoded; NULL when absent */
    size_t query_len;
    /* Looks a header up by lower-case name; NULL when absent. */
    const char *(*header)(void *ctx, const char *name, size_t *len);
    void *header_ctx;
    const char *body; /* never NULL ("" with body_len 0 when there is none) */
    size_t body_len;
    netaddr client;         /* the sending client (after trusted_proxies) */
    const char *request_id; /* NUL-terminated; copied into each job's payload */
    time_t now;             /* the clock signature timestamps are checked against */
} intake_request;

/* The jobs of one accepted webhook: one per event that matched a rule. Each
 * jobs[i] points at payloads[i], dedup_keys[i] and order_keys[i] (owned here)
 * and at the route's and credential's names (owned by the config, which the
 * server keeps alive). owner and on_done are left for the submitter to set. */
typedef struct intake_batch {
    size_t njobs;
    queue_job *jobs;
    char **payloads;
    char **dedup_keys;
    char **order_keys;
} intake_batch;

typedef enum intake_kind {
    /* {"error": error, "detail": detail}, with status and reason. */
    INTAKE_ERROR,
    /* 503 with Retry-After; {"error": "unavailable", "detail": detail}. */
    INTAKE_UNAVAILABLE,
    /* 405 with Allow: allow. */
    INTAKE_NOT_ALLOWED,
    /* {"status": state, key: detail} (the pair omitted when key is NULL). */
    INTAKE_STATUS,
    /* The sender's handshake: status, content_type and body as given. */
    INTAKE_BODY,
    /* Submit every job of batch; the answer comes once all are settled, from
     * intake_settle. Until then the batch must stay where it is. */
    INTAKE_SUBMIT,
} intake_kind;

typedef struct intake_outcome {
    intake_kind kind;
    int status;
    const char *reason;       /* HTTP reason phrase */
    const char *error;        /* INTAKE_ERROR: the error code */
    const char *allow;        /* INTAKE_NOT_ALLOWED */
    const char *state;        /* INTAKE_STATUS */
    const char *key;          /* INTAKE_STATUS: NULL, "reason" or "id" */
    char detail[256];         /* the detail, or INTAKE_STATUS's value ("" when none) */
    const char *content_type; /* INTAKE_BODY */
    char *body;               /* INTAKE_BODY: malloc'ed, may be NULL */
    size_t body_len;
    intake_batch batch; /* INTAKE_SUBMIT */
} intake_outcome;

/* Decides what rt answers req. cfg is the config in force (body_limit,
 * store_max_pending); q is read only for its backlog (queue_undelivered).
 * Always fills out; clear it with intake_outcome_clear. */
void intake_handle(const config *cfg, queue *q, const route *rt, const intake_request *req,
                   intake_outcome *out);

/* The answer to a submitted batch, every job of which is settled: 503 when any
 * failed to be stored, else 202 "queued" with the first new row's id, else 200
 * "duplicate" with the first duplicate's id. Logs and counts it. Fills out
 * (whose batch stays empty); the caller still owns b. */
void intake_settle(const intake_batch *b, const char *request_id, intake_outcome *out);

void intake_batch_clear(intake_batch *b);
void intake_outcome_clear(intake_outcome *out);

#endif
