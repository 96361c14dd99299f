/* stdwebhooks: senders following the Standard Webhooks spec (Svix, and the
 * notetakers and in-house systems built on it). The signature scheme is
 * fixed by the spec — webhook-id/-timestamp/-signature (or Svix's svix-*
 * spelling), base64 HMAC-SHA256 of id.timestamp.body under a "whsec_" key —
 * while the payload is the sender's own, so the event fields come from the
 * shared JSON-path keys (source_paths, as for generic). Route keys: "secret",
 * "tolerance_s" and the path keys. See senders.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "signature.h"

/* The spec's reference libraries refuse timestamps more than five minutes
 * away from now, in either direction. */
#define STDWEBHOOKS_DEFAULT_TOLERANCE_S 300
/* Beyond an hour a captured request could be replayed long after the fact,
 * which is what the timestamp is there to prevent. */
#define STDWEBHOOKS_MAX_TOLERANCE_S 3600
/* The spec's payloads name their type in "type": {"type": "...", "data": {…}}. */
#define STDWEBHOOKS_DEFAULT_EVENT_TYPE_PATH "type"
/* How the spec marks a symmetric secret; what follows is the key in base64. */
#define STDWEBHOOKS_SECRET_PREFIX "whsec_"
/* base64 of a 32-byte digest (44 characters) + NUL. */
#define STDWEBHOOKS_SIGNATURE_BUF (4 * ((SIGNATURE_SHA256_LEN + 2) / 3) + 1)

typedef struct stdwebhooks_source {
    source super;
    unsigned char *key; /* the decoded secret */
    size_t key_len;
    long tolerance_s;
    source_paths paths;
} stdwebhooks_source;

static const char *const stdwebhooks_keys[] = {"tolerance_s", NULL};

/* The same three headers under the spec's names and under Svix's. */
typedef struct stdwebhooks_header_set {
    const char *id;
    const char *timestamp;
    const char *signature;
} stdwebhooks_header_set;

static const stdwebhooks_header_set header_sets[] = {
    {"webhook-id", "webhook-timestamp", "webhook-signature"},
    {"svix-id", "svix-timestamp", "svix-signature"},
};
#define STDWEBHOOKS_NSETS (sizeof(header_sets) / sizeof(header_sets[0]))

/* The first spelling the request uses any header of; the spec's own when it
 * uses none, so the "missing" detail names the spec's header. Mixing the two
 * is not supported: a set is read whole or not at all. */
static const stdwebhooks_header_set *stdwebhooks_headers(const source_request *req)
{
    size_t len;
    for (size_t i = 0; i < STDWEBHOOKS_NSETS; i++) {
        const stdwebhooks_header_set *set = &header_sets[i];
        if (req->header(req->header_ctx, set->id, &len) != NULL ||
            req->header(req->header_ctx, set->timestamp, &len) != NULL ||
            req->header(req->header_ctx, set->signature, &len) != NULL)
            return set;
    }
    return &header_sets[0];
}

/* The header's value, or NULL with a "missing" detail. */
static const char *stdwebhooks_require(const source_request *req, const char *name, size_t *len, char *detail,
                                       size_t detail_len)
{
    const char *v = req->header(req->header_ctx, name, len);
    if (v == NULL)
        snprintf(detail, detail_len, "missing %s header", name);
    return v;
}

/* The signature header is a space-separated list of "<version>,<base64>"
 * entries, several while a secret is rotated. 1 when any v1 entry equals
 * expected, 0 when none does, -1 when the list is empty or an entry has no
 * version. Other versions (v1a: asymmetric) are not ours to check. Every v1
 * entry is compared, so the time taken does not tell which one matched. */
static int stdwebhooks_any_v1(const char *sig, size_t sig_len, const char *expected)
{
    const char *p = sig, *end = sig + sig_len;
    int entries = 0, match = 0;
    while (p < end) {
        if (*p == ' ') {
            p++;
            continue;
        }
        const char *space = memchr(p, ' ', (size_t)(end - p));
        const char *stop = space ? space : end;
        const char *comma = memchr(p, ',', (size_t)(stop - p));
        if (comma == NULL || comma == p)
            return -1;
        entries++;
        if (comma - p == 2 && memcmp(p, "v1", 2) == 0)
            match |= signature_equal(comma + 1, (size_t)(stop - comma - 1), expected, strlen(expected));
        p = stop;
    }
    return entries == 0 ? -1 : match;
}

static int stdwebhooks_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                              size_t detail_len)
{
    (void)tree;
    const stdwebhooks_source *s = (const stdwebhooks_source *)self;
    const stdwebhooks_header_set *set = stdwebhooks_headers(req);
    size_t id_len, ts_len, sig_len;
    const char *id, *ts, *sig;
    if ((id = stdwebhooks_require(req, set->id, &id_len, detail, detail_len)) == NULL ||
        (ts = stdwebhooks_require(req, set->timestamp, &ts_len, detail, detail_len)) == NULL ||
        (sig = stdwebhooks_require(req, set->signature, &sig_len, detail, detail_len)) == NULL)
        return -1;
    if (source_timestamp_fresh(ts, ts_len, req->now, s->tolerance_s, set->timestamp, detail, detail_len) != 0)
        return -1;

    const signature_part parts[] = {
        {id, id_len}, {".", 1}, {ts, ts_len}, {".", 1}, {req->body, req->body_len}};
    unsigned char mac[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(s->key, s->key_len, parts, 5, mac) != 0) {
        snprintf(detail, detail_len, "signature could not be computed");
        return -1;
    }
    char expected[STDWEBHOOKS_SIGNATURE_BUF];
    signature_base64(mac, sizeof(mac), expected);
    int match = stdwebhooks_any_v1(sig, sig_len, expected);
    if (match < 0) {
        snprintf(detail, detail_len, "malformed %s header", set->signature);
        return -1;
    }
    if (match == 0) {
        snprintf(detail, detail_len, "signature mismatch");
        return -1;
    }
    return 0;
}

/* The message id is the spec's idempotency key: a retry repeats it, and a new
 * message never reuses it. An empty one is no key. */
static int stdwebhooks_dedup_key(const source_request *req, meeting_event *ev, char *detail,
                                 size_t detail_len)
{
    const char *name = stdwebhooks_headers(req)->id;
    size_t len;
    if (req->header(req->header_ctx, name, &len) == NULL || len == 0)
        return 0;
    if ((ev->dedup_key = source_header_dup(req, name)) == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    return 0;
}

/* A missing activity id is not an error here: a rule may template one, or the
 * mapping fails later with a better message. */
static int stdwebhooks_fill(const stdwebhooks_source *s, const source_request *req, yajl_val tree,
                            meeting_event *ev, char *detail, size_t detail_len)
{
    if (source_paths_fill(&s->paths, tree, ev, detail, detail_len) != 0)
        return -1;
    if (ev->event_type == NULL) {
        snprintf(detail, detail_len, "missing event type at %s", s->paths.event_type_path);
        return -1;
    }
    return stdwebhooks_dedup_key(req, ev, detail, detail_len);
}

static int stdwebhooks_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
                             char *detail, size_t detail_len)
{
    const stdwebhooks_source *s = (const stdwebhooks_source *)self;
    if (!YAJL_IS_OBJECT(tree)) {
        snprintf(detail, detail_len, "body must be a JSON object");
        return -1;
    }
    meeting_event ev = {.sender = "stdwebhooks", .tree = tree};
    if (stdwebhooks_fill(s, req, tree, &ev, detail, detail_len) != 0) {
        meeting_event_clear(&ev);
        return -1;
    }
    return source_emit(out, &ev, 0, detail, detail_len);
}

static void stdwebhooks_destroy(source *self)
{
    stdwebhooks_source *s = (stdwebhooks_source *)self;
    if (s == NULL)
        return;
    source_paths_free(&s->paths);
    free(s->key);
    free(s);
}

/* The HMAC key is the base64 after "whsec_"; senders that show the bare
 * base64 are accepted too, as the spec's reference libraries do. A secret
 * that does not decode would fail every request, so it fails the load. The
 * message never quotes the secret. */
static int stdwebhooks_decode_secret(stdwebhooks_source *s, const char *secret, const source_config_ctx *ctx)
{
    const size_t prefix_len = strlen(STDWEBHOOKS_SECRET_PREFIX);
    if (strncmp(secret, STDWEBHOOKS_SECRET_PREFIX, prefix_len) == 0)
        secret += prefix_len;
    size_t len = strlen(secret);
    if ((s->key = malloc(len + 1)) == NULL) {
        source_config_error(ctx, "secret", "out of memory");
        return -1;
    }
    long key_len = signature_base64_decode(secret, len, s->key, len + 1);
    if (key_len <= 0) {
        source_config_error(ctx, "secret", "must be \"whsec_\" followed by the key in base64");
        return -1;
    }
    s->key_len = (size_t)key_len;
    return 0;
}

static int stdwebhooks_configure(stdwebhooks_source *s, yajl_val route, const char *secret,
                                 const source_config_ctx *ctx)
{
    if (source_paths_check_keys(route, source_stdwebhooks.name, stdwebhooks_keys, ctx) != 0)
        return -1;
    if (secret == NULL || secret[0] == '\0') {
        source_config_error(ctx, "secret", "required for source stdwebhooks");
        return -1;
    }
    if (stdwebhooks_decode_secret(s, secret, ctx) != 0 ||
        source_read_tolerance(route, STDWEBHOOKS_DEFAULT_TOLERANCE_S, STDWEBHOOKS_MAX_TOLERANCE_S,
                              &s->tolerance_s, ctx) != 0)
        return -1;
    return source_paths_read(route, STDWEBHOOKS_DEFAULT_EVENT_TYPE_PATH, &s->paths, ctx);
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_stdwebhooks = {
    .name = "stdwebhooks",
    .body_is_json = 1,
    .handshake = source_no_handshake,
    .verify = stdwebhooks_verify,
    .parse = stdwebhooks_parse,
    .destroy = stdwebhooks_destroy,
    .create = stdwebhooks_source_create,
};

source *stdwebhooks_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (!YAJL_IS_OBJECT(route)) {
        snprintf(ctx->err, ctx->errlen, "%s: %s: must be an object", ctx->file, ctx->key_prefix);
        return NULL;
    }
    stdwebhooks_source *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(ctx->err, ctx->errlen, "%s: %s: out of memory", ctx->file, ctx->key_prefix);
        return NULL;
    }
    s->super = source_stdwebhooks;
    if (stdwebhooks_configure(s, route, secret, ctx) != 0) {
        stdwebhooks_destroy(&s->super);
        return NULL;
    }
    return &s->super;
}
