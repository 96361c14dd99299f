/* calendly: Calendly webhook subscriptions (API v2), owned whole here — the
 * route keys ("secret", the subscription's signing key, and "tolerance_s"),
 * the Calendly-Webhook-Signature check and the mapping of Calendly's envelope
 * to a meeting_event. Calendly has no endpoint validation step. See
 * senders.md for the facts this follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "signature.h"

/* Calendly's documentation suggests refusing signatures older than about
 * three minutes. */
#define CALENDLY_DEFAULT_TOLERANCE_S 180
/* Beyond an hour a captured request could be replayed long after the fact,
 * which is what the timestamp is there to prevent. */
#define CALENDLY_MAX_TOLERANCE_S 3600
#define CALENDLY_SIGNATURE_HEADER "calendly-webhook-signature"

typedef struct calendly_source {
    source super;
    char *secret;
    size_t secret_len;
    long tolerance_s;
} calendly_source;

static const char *const calendly_keys[] = {"tolerance_s", NULL};

/* One "key=value" element of the signature header; bytes, not C strings. */
typedef struct calendly_pair {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} calendly_pair;

/* The header is "t=<unix>,v1=<hex>" with the elements in any order (and one
 * v1 per signing key while a key is being rolled). Moves *p past the next
 * element: 1 with *pair filled, 0 at the end, -1 for an element with no '='
 * or an empty one. Blanks after a comma are skipped, as hand-written
 * examples have them. */
static int calendly_next_pair(const char **p, const char *end, calendly_pair *pair)
{
    if (*p == NULL)
        return 0;
    const char *start = *p;
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    const char *comma = memchr(start, ',', (size_t)(end - start));
    const char *stop = comma ? comma : end;
    *p = comma ? comma + 1 : NULL;
    const char *eq = memchr(start, '=', (size_t)(stop - start));
    if (eq == NULL || eq == start)
        return -1;
    *pair = (calendly_pair){start, (size_t)(eq - start), eq + 1, (size_t)(stop - eq - 1)};
    return 1;
}

static int pair_is(const calendly_pair *pair, const char *key)
{
    return pair->key_len == strlen(key) && memcmp(pair->key, key, pair->key_len) == 0;
}

/* Finds the one t element and checks that there is at least one v1: 0 with
 * *t set, -1 when the header is not of Calendly's form. */
static int calendly_scan(const char *sig, size_t sig_len, calendly_pair *t)
{
    const char *p = sig;
    calendly_pair pair;
    int rc, have_t = 0, have_v1 = 0;
    while ((rc = calendly_next_pair(&p, sig + sig_len, &pair)) == 1) {
        if (pair_is(&pair, "t")) {
            if (have_t++)
                return -1; /* two times: which one was signed? */
            *t = pair;
        }
        have_v1 |= pair_is(&pair, "v1");
    }
    return rc == 0 && have_t && have_v1 ? 0 : -1;
}

/* 1 when any v1 element equals expected. Every element is compared, so the
 * time taken does not tell which one matched. */
static int calendly_any_v1(const char *sig, size_t sig_len, const char *expected)
{
    const char *p = sig;
    calendly_pair pair;
    int match = 0;
    while (calendly_next_pair(&p, sig + sig_len, &pair) == 1)
        if (pair_is(&pair, "v1"))
            match |= signature_equal_hex(pair.value, pair.value_len, expected, strlen(expected));
    return match;
}

static int calendly_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                           size_t detail_len)
{
    (void)tree;
    const calendly_source *c = (const calendly_source *)self;
    size_t sig_len;
    const char *sig = req->header(req->header_ctx, CALENDLY_SIGNATURE_HEADER, &sig_len);
    if (sig == NULL) {
        snprintf(detail, detail_len, "missing " CALENDLY_SIGNATURE_HEADER " header");
        return -1;
    }
    calendly_pair t = {0};
    if (calendly_scan(sig, sig_len, &t) != 0) {
        snprintf(detail, detail_len, "malformed " CALENDLY_SIGNATURE_HEADER " header");
        return -1;
    }
    if (source_timestamp_fresh(t.value, t.value_len, req->now, c->tolerance_s, CALENDLY_SIGNATURE_HEADER,
                               detail, detail_len) != 0)
        return -1;

    const signature_part parts[] = {{t.value, t.value_len}, {".", 1}, {req->body, req->body_len}};
    unsigned char mac[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(c->secret, c->secret_len, parts, 3, mac) != 0) {
        snprintf(detail, detail_len, "signature could not be computed");
        return -1;
    }
    /* Comparing text with text makes a wrong length or non-hex digits plain
     * mismatches. */
    char expected[2 * SIGNATURE_SHA256_LEN + 1];
    signature_hex(mac, sizeof(mac), expected);
    if (!calendly_any_v1(sig, sig_len, expected)) {
        snprintf(detail, detail_len, "signature mismatch");
        return -1;
    }
    return 0;
}

static char *calendly_dup(yajl_val root, const char *path, int *oom)
{
    return source_dup(source_text_at(root, path), oom);
}

/* Calendly retries a delivery with the same body, so event, subject and
 * created_at together name it. The subject is payload.uri — the invitee
 * (invitee.*) or the no-show record (invitee_no_show.*, whose payload has no
 * event) — with payload.event, the scheduled event, standing in when there is
 * no uri. A part missing means no key at all: a partial one could join
 * distinct deliveries. */
static char *calendly_dedup_key(yajl_val tree, yajl_val payload, const char *event, int *oom)
{
    const char *subject = source_text_at(payload, "uri");
    if (subject == NULL)
        subject = source_text_at(payload, "event");
    const char *created_at = source_text_at(tree, "created_at");
    if (subject == NULL || created_at == NULL)
        return NULL;
    char *key = NULL;
    if (asprintf(&key, "%s:%s:%s", event, subject, created_at) < 0) {
        *oom = 1;
        return NULL;
    }
    return key;
}

/* The invitee (payload.email) and the hosts (event_memberships[].user_email):
 * both sides, for resolve's attendee rule, which tells them apart by Close's
 * own organizer flags. */
static int calendly_add_emails(meeting_event *ev, yajl_val payload)
{
    if (lookup_keys_add_email(&ev->keys, source_text_at(payload, "email")) != 0)
        return -1;
    yajl_val members = json_get(payload, "scheduled_event.event_memberships");
    for (size_t i = 0; YAJL_IS_ARRAY(members) && i < members->u.array.len; i++)
        if (lookup_keys_add_email(&ev->keys, source_text_at(members->u.array.values[i], "user_email")) != 0)
            return -1;
    return 0;
}

static int calendly_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
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

    int oom = 0;
    meeting_event ev = {.sender = "calendly", .tree = tree};
    ev.event_type = strdup(event->u.string);
    oom |= ev.event_type == NULL;
    ev.keys.join_url = calendly_dup(payload, "scheduled_event.location.join_url", &oom);
    ev.keys.start_time = calendly_dup(payload, "scheduled_event.start_time", &oom);
    ev.end_time = calendly_dup(payload, "scheduled_event.end_time", &oom);
    ev.keys.calendar_event_id = calendly_dup(payload, "scheduled_event.uri", &oom);
    ev.dedup_key = calendly_dedup_key(tree, payload, event->u.string, &oom);
    oom |= calendly_add_emails(&ev, payload) != 0;

    return source_emit(out, &ev, oom, detail, detail_len);
}

static void calendly_destroy(source *self)
{
    calendly_source *c = (calendly_source *)self;
    if (c == NULL)
        return;
    free(c->secret);
    free(c);
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_calendly = {
    .name = "calendly",
    .body_is_json = 1,
    .handshake = source_no_handshake,
    .verify = calendly_verify,
    .parse = calendly_parse,
    .destroy = calendly_destroy,
    .create = calendly_source_create,
};

source *calendly_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (source_create_check(route, source_calendly.name, calendly_keys, secret,
                            "required for source calendly", ctx) != 0)
        return NULL;
    long tolerance_s;
    if (source_read_tolerance(route, CALENDLY_DEFAULT_TOLERANCE_S, CALENDLY_MAX_TOLERANCE_S, &tolerance_s,
                              ctx) != 0)
        return NULL;

    char *secret_copy;
    calendly_source *c = source_alloc(sizeof(*c), secret, &secret_copy, ctx);
    if (c == NULL)
        return NULL;
    c->secret = secret_copy;
    c->secret_len = strlen(secret);
    c->tolerance_s = tolerance_s;
    c->super = source_calendly;
    return &c->super;
}
