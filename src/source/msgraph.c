/* msgraph: Microsoft Graph change notifications for Outlook / Microsoft 365
 * calendars, owned whole here — the route key ("secret", the subscription's
 * clientState), the ?validationToken= handshake, the per-entry clientState
 * check and the split of a notification batch into one meeting_event per
 * entry. See senders.md for the facts this follows. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "log.h"
#include "signature.h"

#define MSGRAPH_VALIDATION_PARAM "validationToken"

typedef struct msgraph_source {
    source super;
    char *secret;
    signature_token client_state; /* over secret */
} msgraph_source;

/* Only the common route keys: "secret" holds the clientState. */
static const char *const msgraph_keys[] = {NULL};

/* The raw (still encoded) value of the query parameter name: 1 and *value,
 * *len when present (an absent '=' reads as an empty value), else 0. */
static int msgraph_query_param(const char *query, size_t query_len, const char *name, const char **value,
                               size_t *len)
{
    size_t name_len = strlen(name);
    const char *p = query, *end = query + query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq ? eq : stop;
        if ((size_t)(name_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            *value = eq ? eq + 1 : stop;
            *len = (size_t)(stop - *value);
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

/* Graph may form-encode the token, where '+' stands for a space; it is
 * replaced before percent-decoding so that a literal "%2B" stays a '+'.
 * Returns curl-allocated text (free with curl_free) or NULL. */
static char *msgraph_decode(const char *raw, size_t raw_len, size_t *out_len)
{
    if (raw_len > INT_MAX)
        return NULL;
    char *copy = malloc(raw_len + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < raw_len; i++)
        copy[i] = raw[i] == '+' ? ' ' : raw[i];
    copy[raw_len] = '\0';
    int n = 0;
    char *decoded = curl_easy_unescape(NULL, copy, (int)raw_len, &n);
    free(copy);
    *out_len = decoded ? (size_t)n : 0;
    return decoded;
}

/* Subscription validation. It is answered without any check on purpose: Graph
 * sends it before the subscription (and so its clientState) exists, and the
 * echo reveals nothing of ours — the token is Graph's own nonce, and the
 * answer involves no secret, unlike Zoom's HMAC, so it is no oracle. */
static int msgraph_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans)
{
    (void)self;
    (void)tree;
    const char *raw;
    size_t raw_len;
    if (req->query == NULL ||
        !msgraph_query_param(req->query, req->query_len, MSGRAPH_VALIDATION_PARAM, &raw, &raw_len))
        return 0;
    if (raw_len == 0)
        return source_answer_json(ans, 400, "error", "bad_request", "detail", "empty validationToken");

    size_t len;
    char *token = msgraph_decode(raw, raw_len, &len);
    if (token == NULL)
        return source_answer_json(ans, 500, "error", "internal", "detail",
                                  "validationToken could not be decoded");
    ans->status = 200;
    ans->content_type = "text/plain";
    ans->body = malloc(len + 1);
    ans->body_len = len;
    if (ans->body == NULL) {
        curl_free(token);
        return source_answer_json(ans, 500, "error", "internal", "detail", "out of memory");
    }
    /* The caller frees with free(), not curl_free(), hence the copy. */
    memcpy(ans->body, token, len);
    ans->body[len] = '\0';
    curl_free(token);
    return 1;
}

/* The batch's entries, or NULL when the body is not {"value": [...]}. */
static yajl_val msgraph_entries(yajl_val tree)
{
    yajl_val value = json_member(tree, "value");
    return YAJL_IS_ARRAY(value) ? value : NULL;
}

/* Every entry must carry our clientState: a batch is accepted or refused as a
 * whole, since Graph retries it as a whole. The body's shape is parse's
 * business (a 400); here only authenticity is judged. */
static int msgraph_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                          size_t detail_len)
{
    (void)req;
    const msgraph_source *m = (const msgraph_source *)self;
    yajl_val entries = msgraph_entries(tree);
    for (size_t i = 0; entries != NULL && i < entries->u.array.len; i++) {
        yajl_val entry = entries->u.array.values[i];
        if (!YAJL_IS_OBJECT(entry))
            continue;
        yajl_val state = json_member(entry, "clientState");
        if (!YAJL_IS_STRING(state)) {
            snprintf(detail, detail_len, "missing clientState in value[%zu]", i);
            return -1;
        }
        if (!signature_token_matches(&m->client_state, state->u.string, strlen(state->u.string))) {
            snprintf(detail, detail_len, "clientState mismatch in value[%zu]", i);
            return -1;
        }
    }
    return 0;
}

/* A non-empty string member, else NULL. By member, not dotted path:
 * "@odata.etag" has a dot in its name. */
static const char *msgraph_string(yajl_val obj, const char *key)
{
    yajl_val v = json_member(obj, key);
    return YAJL_IS_STRING(v) && v->u.string[0] != '\0' ? v->u.string : NULL;
}

/* Graph entries carry no timestamp of the change, so the etag — new with
 * every modification of the event — is what tells a retry from a later real
 * update. Deleted notifications have no etag; one delete per event is all
 * there is. Without a subscription or resource there is no safe key. */
static int msgraph_dedup_key(yajl_val entry, const char *change, char **out)
{
    const char *subscription = msgraph_string(entry, "subscriptionId");
    const char *resource = msgraph_string(entry, "resource");
    yajl_val data = json_member(entry, "resourceData");
    const char *etag = msgraph_string(data, "@odata.etag");
    *out = NULL;
    if (subscription == NULL || resource == NULL)
        return 0;
    int n = etag ? asprintf(out, "%s:%s:%s:%s", subscription, resource, change, etag)
                 : asprintf(out, "%s:%s:%s", subscription, resource, change);
    if (n < 0) {
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Lifecycle notifications (reauthorizationRequired, subscriptionRemoved,
 * missed) are about the subscription, not a meeting: they become
 * "lifecycle.<event>" so a rule can pick them up, and are logged by parse. */
static int msgraph_fill(yajl_val entry, size_t index, meeting_event *ev, char *detail, size_t detail_len)
{
    const char *lifecycle = msgraph_string(entry, "lifecycleEvent");
    if (lifecycle != NULL) {
        if (asprintf(&ev->event_type, "lifecycle.%s", lifecycle) < 0) {
            ev->event_type = NULL;
            snprintf(detail, detail_len, "out of memory");
            return -1;
        }
        return 0;
    }
    const char *change = msgraph_string(entry, "changeType");
    if (change == NULL) {
        snprintf(detail, detail_len, "missing changeType in value[%zu]", index);
        return -1;
    }
    const char *id = msgraph_string(json_member(entry, "resourceData"), "id");
    ev->event_type = strdup(change);
    ev->keys.calendar_event_id = id ? strdup(id) : NULL;
    ev->keys.calendar_type = strdup("microsoft"); /* Close's provider_calendar_type for Outlook events */
    int oom = ev->event_type == NULL || ev->keys.calendar_type == NULL ||
              (id != NULL && ev->keys.calendar_event_id == NULL);
    if (oom || msgraph_dedup_key(entry, change, &ev->dedup_key) != 0) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    return 0;
}

static void msgraph_log_lifecycle(yajl_val entries)
{
    for (size_t i = 0; i < entries->u.array.len; i++) {
        yajl_val entry = entries->u.array.values[i];
        const char *lifecycle = msgraph_string(entry, "lifecycleEvent");
        if (lifecycle != NULL)
            log_write(LOG_WARN, "graph lifecycle notification", "lifecycle_event", lifecycle, "subscription",
                      msgraph_string(entry, "subscriptionId"), NULL);
    }
}

static int msgraph_add_entry(yajl_val entry, size_t index, event_list *out, char *detail, size_t detail_len)
{
    if (!YAJL_IS_OBJECT(entry)) {
        snprintf(detail, detail_len, "value[%zu] is not an object", index);
        return -1;
    }
    meeting_event ev = {.sender = "msgraph", .tree = entry};
    if (msgraph_fill(entry, index, &ev, detail, detail_len) != 0) {
        meeting_event_clear(&ev);
        return -1;
    }
    return source_emit(out, &ev, 0, detail, detail_len);
}

/* A batch is refused whole (Graph retries it whole), so the events of its
 * earlier entries go too: a caller never sees half a batch. */
static void msgraph_drop_from(event_list *out, size_t first)
{
    while (out->count > first)
        meeting_event_clear(&out->items[--out->count]);
}

static int msgraph_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
                         char *detail, size_t detail_len)
{
    (void)self;
    (void)req;
    yajl_val entries = msgraph_entries(tree);
    if (entries == NULL) {
        snprintf(detail, detail_len, "body must be {\"value\": [...]}");
        return -1;
    }
    if (entries->u.array.len == 0) {
        snprintf(detail, detail_len, "empty value array");
        return -1;
    }
    size_t first = out->count;
    for (size_t i = 0; i < entries->u.array.len; i++) {
        if (msgraph_add_entry(entries->u.array.values[i], i, out, detail, detail_len) != 0) {
            msgraph_drop_from(out, first);
            return -1;
        }
    }
    /* Only once the whole batch is accepted, so a refused batch that Graph
     * retries is not logged twice. */
    msgraph_log_lifecycle(entries);
    return 0;
}

static void msgraph_destroy(source *self)
{
    msgraph_source *m = (msgraph_source *)self;
    if (m == NULL)
        return;
    free(m->secret);
    free(m);
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_msgraph = {
    .name = "msgraph",
    .body_is_json = 1,
    .verify_needs_tree = 1,
    .handshake = msgraph_handshake,
    .verify = msgraph_verify,
    .parse = msgraph_parse,
    .destroy = msgraph_destroy,
    .create = msgraph_source_create,
};

source *msgraph_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (source_create_check(route, source_msgraph.name, msgraph_keys, secret,
                            "required for source msgraph (the subscription's clientState)", ctx) != 0)
        return NULL;
    char *secret_copy;
    msgraph_source *m = source_alloc(sizeof(*m), secret, &secret_copy, ctx);
    if (m == NULL)
        return NULL;
    m->secret = secret_copy;
    if (signature_token_init(&m->client_state, m->secret, strlen(m->secret)) != 0) {
        msgraph_destroy(&m->super);
        source_config_error(ctx, "secret", "could not be prepared");
        return NULL;
    }
    m->super = source_msgraph;
    return &m->super;
}
