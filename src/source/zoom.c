/* zoom: Zoom Marketplace event subscriptions, owned whole here — the route
 * keys ("secret", "tolerance_s"), the endpoint.url_validation handshake, the
 * x-zm-signature check and the mapping of Zoom's envelope to a meeting_event.
 * See senders.md for the facts this follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "signature.h"

/* Zoom's documentation: refuse a request whose timestamp is more than five
 * minutes away from now. */
#define ZOOM_DEFAULT_TOLERANCE_S 300
/* Beyond an hour a captured request could be replayed long after the fact,
 * which is what the timestamp is there to prevent. */
#define ZOOM_MAX_TOLERANCE_S 3600
/* "v0=" + 64 hex digits + NUL. */
#define ZOOM_SIGNATURE_BUF (3 + 2 * SIGNATURE_SHA256_LEN + 1)

typedef struct zoom_source {
    source super;
    char *secret;
    size_t secret_len;
    long tolerance_s;
} zoom_source;

/* Misspelt keys ("tolerance" for "tolerance_s") are refused at load rather
 * than silently ignored. */
static const char *const zoom_keys[] = {"tolerance_s", NULL};

/* The one authenticity check, shared by events and the URL validation. */
static int zoom_authentic(const zoom_source *z, const source_request *req, char *detail, size_t detail_len)
{
    size_t ts_len, sig_len;
    const char *ts = req->header(req->header_ctx, "x-zm-request-timestamp", &ts_len);
    const char *sig = req->header(req->header_ctx, "x-zm-signature", &sig_len);
    if (ts == NULL) {
        snprintf(detail, detail_len, "missing x-zm-request-timestamp header");
        return -1;
    }
    if (sig == NULL) {
        snprintf(detail, detail_len, "missing x-zm-signature header");
        return -1;
    }
    if (source_timestamp_fresh(ts, ts_len, req->now, z->tolerance_s, "x-zm-request-timestamp", detail,
                               detail_len) != 0)
        return -1;

    const signature_part parts[] = {{"v0:", 3}, {ts, ts_len}, {":", 1}, {req->body, req->body_len}};
    unsigned char mac[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(z->secret, z->secret_len, parts, 4, mac) != 0) {
        snprintf(detail, detail_len, "signature could not be computed");
        return -1;
    }
    /* Comparing the whole header text against the expected text makes a
     * missing "v0=", a wrong length or non-hex digits plain mismatches. */
    char expected[ZOOM_SIGNATURE_BUF] = "v0=";
    signature_hex(mac, sizeof(mac), expected + 3);
    if (!signature_equal_hex(sig, sig_len, expected, strlen(expected))) {
        snprintf(detail, detail_len, "signature mismatch");
        return -1;
    }
    return 0;
}

static int zoom_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                       size_t detail_len)
{
    (void)tree;
    return zoom_authentic((const zoom_source *)self, req, detail, detail_len);
}

/* The validation is verified like any event first: answering unsigned ones
 * would let anyone have us HMAC text of their choice with our secret. */
static int zoom_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans)
{
    const zoom_source *z = (const zoom_source *)self;
    yajl_val event = json_member(tree, "event");
    if (!YAJL_IS_STRING(event) || strcmp(event->u.string, "endpoint.url_validation") != 0)
        return 0;

    char detail[128];
    if (zoom_authentic(z, req, detail, sizeof(detail)) != 0)
        return source_answer_json(ans, 401, "error", "unauthorized", "detail", detail);
    yajl_val token = json_get(tree, "payload.plainToken");
    if (!YAJL_IS_STRING(token) || token->u.string[0] == '\0')
        return source_answer_json(ans, 400, "error", "bad_request", "detail", "missing payload.plainToken");

    const signature_part part = {token->u.string, strlen(token->u.string)};
    unsigned char mac[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(z->secret, z->secret_len, &part, 1, mac) != 0) {
        ans->status = 500;
        ans->content_type = "application/json";
        ans->body = NULL;
        ans->body_len = 0;
        return 1;
    }
    char encrypted[2 * SIGNATURE_SHA256_LEN + 1];
    signature_hex(mac, sizeof(mac), encrypted);
    return source_answer_json(ans, 200, "plainToken", token->u.string, "encryptedToken", encrypted);
}

/* Zoom spells the same fact differently per event (meeting.ended has "id",
 * meeting.summary_completed "meeting_id"): the first non-empty scalar wins. */
static const char *first_scalar(yajl_val root, const char *const *paths)
{
    for (; *paths != NULL; paths++) {
        const char *s = source_text_at(root, *paths);
        if (s != NULL)
            return s;
    }
    return NULL;
}

static char *dup_first(yajl_val root, const char *const *paths, int *oom)
{
    return source_dup(first_scalar(root, paths), oom);
}

static const char *const meeting_id_paths[] = {"id", "meeting_id", NULL};
static const char *const meeting_identity_paths[] = {"uuid", "meeting_uuid", "id", "meeting_id", NULL};
static const char *const start_paths[] = {"start_time", "meeting_start_time", NULL};
static const char *const end_paths[] = {"end_time", "meeting_end_time", NULL};
static const char *const join_url_paths[] = {"join_url", NULL};
static const char *const participant_paths[] = {"participant.participant_uuid", "participant.user_id",
                                                "participant.email", NULL};

/* Zoom's retries repeat event, meeting and event_ts, so together they name a
 * delivery; two people joining share all three, hence the participant. With
 * no meeting or no event_ts there is no safe key (distinct meetings would
 * collide), so none is made and the event is not deduplicated. */
static char *zoom_dedup_key(yajl_val tree, yajl_val object, const char *event, int *oom)
{
    const char *meeting = first_scalar(object, meeting_identity_paths);
    const char *event_ts = json_scalar(json_member(tree, "event_ts"));
    if (meeting == NULL || event_ts == NULL)
        return NULL;
    const char *participant = first_scalar(object, participant_paths);
    char *key = NULL;
    int n = participant ? asprintf(&key, "%s:%s:%s:%s", event, meeting, event_ts, participant)
                        : asprintf(&key, "%s:%s:%s", event, meeting, event_ts);
    if (n < 0) {
        *oom = 1;
        return NULL;
    }
    return key;
}

static int zoom_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
                      char *detail, size_t detail_len)
{
    (void)self;
    (void)req;
    yajl_val event = json_member(tree, "event");
    if (!YAJL_IS_STRING(event) || event->u.string[0] == '\0') {
        snprintf(detail, detail_len, "missing event");
        return -1;
    }
    yajl_val payload = json_member(tree, "payload");
    if (!YAJL_IS_OBJECT(payload)) {
        snprintf(detail, detail_len, "missing payload");
        return -1;
    }
    yajl_val object = json_member(payload, "object");

    int oom = 0;
    meeting_event ev = {.sender = "zoom", .tree = tree};
    ev.event_type = strdup(event->u.string);
    oom |= ev.event_type == NULL;
    ev.keys.zoom_meeting_id = dup_first(object, meeting_id_paths, &oom);
    ev.keys.start_time = dup_first(object, start_paths, &oom);
    ev.end_time = dup_first(object, end_paths, &oom);
    ev.keys.join_url = dup_first(object, join_url_paths, &oom);
    ev.dedup_key = zoom_dedup_key(tree, object, event->u.string, &oom);
    /* participant events name one attendee; resolve's last, strict rule can use it */
    oom |= lookup_keys_add_email(&ev.keys, json_scalar(json_get(object, "participant.email"))) != 0;

    return source_emit(out, &ev, oom, detail, detail_len);
}

static void zoom_destroy(source *self)
{
    zoom_source *z = (zoom_source *)self;
    if (z == NULL)
        return;
    free(z->secret);
    free(z);
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_zoom = {
    .name = "zoom",
    .body_is_json = 1,
    .handshake = zoom_handshake,
    .verify = zoom_verify,
    .parse = zoom_parse,
    .destroy = zoom_destroy,
    .create = zoom_source_create,
};

source *zoom_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (source_create_check(route, source_zoom.name, zoom_keys, secret, "required for source zoom", ctx) != 0)
        return NULL;
    long tolerance_s;
    if (source_read_tolerance(route, ZOOM_DEFAULT_TOLERANCE_S, ZOOM_MAX_TOLERANCE_S, &tolerance_s, ctx) != 0)
        return NULL;

    char *secret_copy;
    zoom_source *z = source_alloc(sizeof(*z), secret, &secret_copy, ctx);
    if (z == NULL)
        return NULL;
    z->secret = secret_copy;
    z->secret_len = strlen(secret);
    z->tolerance_s = tolerance_s;
    z->super = source_zoom;
    return &z->super;
}
