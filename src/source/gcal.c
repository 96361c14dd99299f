/* gcal: Google Calendar push notifications (watch channels), owned whole here —
 * the route key ("secret", the channel token given when the watch was
 * created), the "sync" handshake, the X-Goog-Channel-Token check and the
 * meeting_event made of the X-Goog-* headers (the push has no body). See
 * senders.md for the facts this follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "signature.h"

/* How much of an unexpected X-Goog-Resource-State is echoed in the 400: enough
 * to recognise a real state name, little enough that a header cannot bloat
 * the answer. */
#define GCAL_STATE_ECHO_MAX 32

typedef struct gcal_source {
    source super;
    char *secret;
    signature_token token; /* the channel token, over secret */
} gcal_source;

/* Only the common route keys: "secret" holds the channel token. */
static const char *const gcal_keys[] = {NULL};

/* The tree an event carries: JSON member name and the header it comes from. */
enum {
    GCAL_CHANNEL_ID,
    GCAL_RESOURCE_ID,
    GCAL_RESOURCE_URI,
    GCAL_STATE,
    GCAL_MESSAGE_NUMBER,
    GCAL_EXPIRATION
};
static const struct {
    const char *key;
    const char *header;
} gcal_fields[] = {
    [GCAL_CHANNEL_ID] = {"channel_id", "x-goog-channel-id"},
    [GCAL_RESOURCE_ID] = {"resource_id", "x-goog-resource-id"},
    [GCAL_RESOURCE_URI] = {"resource_uri", "x-goog-resource-uri"},
    [GCAL_STATE] = {"resource_state", "x-goog-resource-state"},
    [GCAL_MESSAGE_NUMBER] = {"message_number", "x-goog-message-number"},
    [GCAL_EXPIRATION] = {"channel_expiration", "x-goog-channel-expiration"},
};
#define GCAL_NFIELDS (sizeof(gcal_fields) / sizeof(gcal_fields[0]))

/* The one authenticity check, shared by the sync handshake and events. */
static int gcal_authentic(const gcal_source *g, const source_request *req, char *detail, size_t detail_len)
{
    size_t len;
    const char *token = req->header(req->header_ctx, "x-goog-channel-token", &len);
    if (token == NULL) {
        snprintf(detail, detail_len, "missing x-goog-channel-token header");
        return -1;
    }
    if (!signature_token_matches(&g->token, token, len)) {
        snprintf(detail, detail_len, "channel token mismatch");
        return -1;
    }
    return 0;
}

static int gcal_state_is(const source_request *req, const char *state)
{
    size_t len;
    const char *v = req->header(req->header_ctx, "x-goog-resource-state", &len);
    return v != NULL && len == strlen(state) && memcmp(v, state, len) == 0;
}

/* "sync" is the first message after a watch is created: Google wants a 200 and
 * nothing else. The token is checked first all the same: a 200 to anyone who
 * says "sync" would tell a scanner which routes take Google pushes. */
static int gcal_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans)
{
    (void)tree;
    if (!gcal_state_is(req, "sync"))
        return 0;
    char detail[128];
    if (gcal_authentic((const gcal_source *)self, req, detail, sizeof(detail)) != 0)
        return source_answer_json(ans, 401, "error", "unauthorized", "detail", detail);
    ans->status = 200;
    ans->content_type = "text/plain";
    ans->body = NULL;
    ans->body_len = 0;
    return 1;
}

static int gcal_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                       size_t detail_len)
{
    (void)tree;
    return gcal_authentic((const gcal_source *)self, req, detail, detail_len);
}

/* Names an unexpected state in the 400 without echoing control bytes or
 * invalid UTF-8 (the detail ends up in a JSON answer). */
static void gcal_bad_state(const source_request *req, char *detail, size_t detail_len)
{
    size_t len;
    const char *v = req->header(req->header_ctx, "x-goog-resource-state", &len);
    if (v == NULL) {
        snprintf(detail, detail_len, "missing x-goog-resource-state header");
        return;
    }
    char shown[GCAL_STATE_ECHO_MAX + 1];
    size_t n = len < GCAL_STATE_ECHO_MAX ? len : GCAL_STATE_ECHO_MAX;
    for (size_t i = 0; i < n; i++)
        shown[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    shown[n] = '\0';
    snprintf(detail, detail_len, "unsupported x-goog-resource-state \"%s\"", shown);
}

/* One member; yajl_gen's own status, since it refuses invalid UTF-8 and a
 * skipped value would shift every later key into a value's place. */
static yajl_gen_status gcal_gen_member(yajl_gen g, const char *key, const char *value)
{
    yajl_gen_status st = yajl_gen_string(g, (const unsigned char *)key, strlen(key));
    if (st != yajl_gen_status_ok)
        return st;
    return value ? yajl_gen_string(g, (const unsigned char *)value, strlen(value)) : yajl_gen_null(g);
}

/* The headers as a JSON object, through yajl_gen and json_parse so escaping
 * and the tree's layout are yajl's. NULL when a header is not valid UTF-8 or
 * memory ran out (detail says which). */
static yajl_val gcal_build_tree(char *const *values, char *detail, size_t detail_len)
{
    yajl_gen g = json_gen_new();
    if (g == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return NULL;
    }
    yajl_gen_status st = yajl_gen_map_open(g);
    for (size_t i = 0; i < GCAL_NFIELDS && st == yajl_gen_status_ok; i++)
        st = gcal_gen_member(g, gcal_fields[i].key, values[i]);
    if (st == yajl_gen_status_ok)
        st = yajl_gen_map_close(g);
    yajl_val tree = NULL;
    if (st == yajl_gen_invalid_string) {
        snprintf(detail, detail_len, "x-goog-* headers are not valid UTF-8");
    } else {
        size_t len = 0;
        char *text = st == yajl_gen_status_ok ? json_gen_take(g, &len) : NULL;
        char err[128];
        tree = text ? json_parse(text, len, err, sizeof(err)) : NULL;
        if (tree == NULL)
            snprintf(detail, detail_len, "out of memory");
        free(text);
    }
    yajl_gen_free(g);
    return tree;
}

/* A watch's message numbers rise per channel, so channel and number name one
 * delivery. Google always sends both; a push without either is malformed, and
 * queuing it without a dedup key would deliver every retry of it again. */
static int gcal_fill(const source_request *req, meeting_event *ev, char *detail, size_t detail_len)
{
    char *values[GCAL_NFIELDS];
    int oom = 0;
    for (size_t i = 0; i < GCAL_NFIELDS; i++) {
        size_t len;
        int present = req->header(req->header_ctx, gcal_fields[i].header, &len) != NULL;
        values[i] = source_header_dup(req, gcal_fields[i].header);
        oom |= present && values[i] == NULL;
    }
    const char *channel = values[GCAL_CHANNEL_ID], *number = values[GCAL_MESSAGE_NUMBER];
    int rc = -1;
    if (oom) {
        snprintf(detail, detail_len, "out of memory");
    } else if (channel == NULL || number == NULL) {
        snprintf(detail, detail_len, "missing %s header",
                 channel == NULL ? "x-goog-channel-id" : "x-goog-message-number");
    } else if ((ev->event_type = strdup(values[GCAL_STATE])) == NULL ||
               asprintf(&ev->dedup_key, "%s:%s", channel, number) < 0) {
        ev->dedup_key = NULL;
        snprintf(detail, detail_len, "out of memory");
    } else if ((ev->owned_tree = gcal_build_tree(values, detail, detail_len)) != NULL) {
        ev->tree = ev->owned_tree;
        rc = 0;
    }
    for (size_t i = 0; i < GCAL_NFIELDS; i++)
        free(values[i]);
    return rc;
}

/* The push says only "this calendar changed", never which event. Turning it
 * into the changed event needs Google's events.list with a sync token and
 * Google credentials, which closehook does not have yet; so the event carries
 * the channel and resource ids ({{channel_id}}, {{resource_id}} …), and a rule
 * can use them only together with an explicit Close activity id. */
static int gcal_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
                      char *detail, size_t detail_len)
{
    (void)self;
    (void)tree;
    if (!gcal_state_is(req, "exists") && !gcal_state_is(req, "not_exists")) {
        gcal_bad_state(req, detail, detail_len);
        return -1;
    }
    /* Close's provider_calendar_type, ready for when the event id is known */
    meeting_event ev = {.sender = "gcal", .keys.calendar_type = strdup("google")};
    if (ev.keys.calendar_type == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    if (gcal_fill(req, &ev, detail, detail_len) != 0) {
        meeting_event_clear(&ev);
        return -1;
    }
    return source_emit(out, &ev, 0, detail, detail_len);
}

static void gcal_destroy(source *self)
{
    gcal_source *g = (gcal_source *)self;
    if (g == NULL)
        return;
    free(g->secret);
    free(g);
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_gcal = {
    .name = "gcal",
    .body_is_json = 0, /* a push carries no body */
    .handshake = gcal_handshake,
    .verify = gcal_verify,
    .parse = gcal_parse,
    .destroy = gcal_destroy,
    .create = gcal_source_create,
};

source *gcal_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (source_create_check(route, source_gcal.name, gcal_keys, secret,
                            "required for source gcal (the watch channel's token)", ctx) != 0)
        return NULL;
    char *secret_copy;
    gcal_source *g = source_alloc(sizeof(*g), secret, &secret_copy, ctx);
    if (g == NULL)
        return NULL;
    g->secret = secret_copy;
    if (signature_token_init(&g->token, g->secret, strlen(g->secret)) != 0) {
        gcal_destroy(&g->super);
        source_config_error(ctx, "secret", "could not be prepared");
        return NULL;
    }
    g->super = source_gcal;
    return &g->super;
}
