/* generic: senders with no source of their own. Authenticity is an HMAC-SHA256
 * of the raw body in a configurable header (GitHub's "sha256=<hex>", bare hex
 * or base64), optionally bound to a timestamp header, or a shared bearer
 * token; the event type, delivery id, Close activity id and lookup keys come
 * from configured JSON paths. The route keys are generic_other_keys,
 * generic_string_keys and the shared source_paths keys (source.h); senders.md
 * describes the senders this fits. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "json.h"
#include "signature.h"

/* Five minutes, the window Zoom and Standard Webhooks both document. */
#define GENERIC_DEFAULT_TOLERANCE_S 300
/* Beyond an hour a captured request could be replayed long after the fact,
 * which is what the timestamp is there to prevent. */
#define GENERIC_MAX_TOLERANCE_S 3600
/* Where most hand-rolled senders put the type: {"event": "...", ...}. */
#define GENERIC_DEFAULT_EVENT_TYPE_PATH "event"
/* The longest encoding: "sha256=" + 64 hex digits + NUL (base64 needs 45). */
#define GENERIC_SIGNATURE_BUF (7 + 2 * SIGNATURE_SHA256_LEN + 1)

typedef enum { GENERIC_AUTH_HMAC, GENERIC_AUTH_BEARER } generic_auth;
typedef enum { GENERIC_ENC_SHA256_HEX, GENERIC_ENC_HEX, GENERIC_ENC_BASE64 } generic_encoding;

typedef struct generic_source {
    source super;
    char *secret;
    size_t secret_len;
    generic_auth auth;
    generic_encoding encoding;
    signature_token token; /* auth bearer: the token, over secret */
    long tolerance_s;
    char *signature_header; /* lower-cased, as header lookups want */
    char *timestamp_header; /* lower-cased; NULL: the body alone is signed */
    char *event_type;       /* the type when the body names none */
    char *dedup_path;
    char *dedup_header; /* lower-cased */
    source_paths paths;
} generic_source;

/* The route keys holding one string each (besides the shared path keys), so
 * reading, validating and freeing them is one loop rather than five copies. */
typedef struct generic_string_key {
    const char *key;
    size_t offset;
    int is_header;
} generic_string_key;

static const generic_string_key generic_string_keys[] = {
    {"signature_header", offsetof(generic_source, signature_header), 1},
    {"timestamp_header", offsetof(generic_source, timestamp_header), 1},
    {"event_type", offsetof(generic_source, event_type), 0},
    {"dedup_path", offsetof(generic_source, dedup_path), 0},
    {"dedup_header", offsetof(generic_source, dedup_header), 1},
};
#define GENERIC_NSTRING_KEYS (sizeof(generic_string_keys) / sizeof(generic_string_keys[0]))

static const char *const generic_other_keys[] = {"auth", "signature_encoding", "tolerance_s", NULL};
/* Keys only an HMAC check reads; with a bearer token they would be ignored. */
static const char *const generic_hmac_keys[] = {"signature_header", "signature_encoding", "timestamp_header",
                                                "tolerance_s", NULL};

typedef struct generic_choice {
    const char *name;
    int value;
} generic_choice;

static const generic_choice generic_auth_choices[] = {
    {"hmac", GENERIC_AUTH_HMAC}, {"bearer", GENERIC_AUTH_BEARER}, {NULL, 0}};
static const generic_choice generic_encoding_choices[] = {{"sha256=hex", GENERIC_ENC_SHA256_HEX},
                                                          {"hex", GENERIC_ENC_HEX},
                                                          {"base64", GENERIC_ENC_BASE64},
                                                          {NULL, 0}};

static char **generic_field(generic_source *g, const generic_string_key *k)
{
    return (char **)((char *)g + k->offset);
}

/* A misspelt key ("dedup" for "dedup_path") would otherwise be ignored
 * silently; naming it at load time is kinder. */
static int generic_check_keys(yajl_val route, const source_config_ctx *ctx)
{
    const char *own[sizeof(generic_other_keys) / sizeof(generic_other_keys[0]) + GENERIC_NSTRING_KEYS];
    size_t n = 0;
    for (const char *const *k = generic_other_keys; *k != NULL; k++)
        own[n++] = *k;
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++)
        own[n++] = generic_string_keys[i].key;
    own[n] = NULL;
    return source_paths_check_keys(route, source_generic.name, own, ctx);
}

static int generic_read_strings(generic_source *g, yajl_val route, const source_config_ctx *ctx)
{
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++) {
        const generic_string_key *k = &generic_string_keys[i];
        if (source_read_string(route, k->key, k->is_header, generic_field(g, k), ctx) != 0)
            return -1;
    }
    return source_paths_read(route, GENERIC_DEFAULT_EVENT_TYPE_PATH, &g->paths, ctx);
}

static int generic_read_choice(yajl_val route, const char *key, const generic_choice *choices, int *out,
                               const source_config_ctx *ctx)
{
    yajl_val v = json_member(route, key);
    if (v == NULL)
        return 0; /* *out keeps its default */
    for (const generic_choice *c = choices; YAJL_IS_STRING(v) && c->name != NULL; c++) {
        if (strcmp(c->name, v->u.string) == 0) {
            *out = c->value;
            return 0;
        }
    }
    char known[128] = "";
    for (const generic_choice *c = choices; c->name != NULL; c++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof(known) - used, "%s\"%s\"", used ? ", " : "", c->name);
    }
    source_config_error(ctx, key, "must be one of %s", known);
    return -1;
}

/* Combinations that would silently not do what the config says. */
static int generic_check_combinations(const generic_source *g, yajl_val route, const source_config_ctx *ctx)
{
    if (g->dedup_path != NULL && g->dedup_header != NULL) {
        source_config_error(ctx, "dedup_header", "cannot be combined with dedup_path");
        return -1;
    }
    for (const char *const *k = generic_hmac_keys; g->auth == GENERIC_AUTH_BEARER && *k != NULL; k++) {
        if (json_member(route, *k) != NULL) {
            source_config_error(ctx, *k, "only applies to auth \"hmac\"");
            return -1;
        }
    }
    if (g->timestamp_header == NULL && json_member(route, "tolerance_s") != NULL) {
        source_config_error(ctx, "tolerance_s", "needs timestamp_header");
        return -1;
    }
    return 0;
}

static void generic_encode(generic_encoding encoding, const unsigned char *mac, char *out)
{
    switch (encoding) {
    case GENERIC_ENC_SHA256_HEX:
        memcpy(out, "sha256=", 7);
        signature_hex(mac, SIGNATURE_SHA256_LEN, out + 7);
        break;
    case GENERIC_ENC_HEX:
        signature_hex(mac, SIGNATURE_SHA256_LEN, out);
        break;
    case GENERIC_ENC_BASE64:
        signature_base64(mac, SIGNATURE_SHA256_LEN, out);
        break;
    }
}

static int generic_check_hmac(const generic_source *g, const source_request *req, char *detail,
                              size_t detail_len)
{
    size_t sig_len, ts_len = 0;
    const char *sig = req->header(req->header_ctx, g->signature_header, &sig_len);
    if (sig == NULL) {
        snprintf(detail, detail_len, "missing %s header", g->signature_header);
        return -1;
    }
    signature_part parts[3];
    size_t nparts = 0;
    if (g->timestamp_header != NULL) {
        const char *ts = req->header(req->header_ctx, g->timestamp_header, &ts_len);
        if (ts == NULL) {
            snprintf(detail, detail_len, "missing %s header", g->timestamp_header);
            return -1;
        }
        if (source_timestamp_fresh(ts, ts_len, req->now, g->tolerance_s, g->timestamp_header, detail,
                                   detail_len) != 0)
            return -1;
        parts[nparts++] = (signature_part){ts, ts_len};
        parts[nparts++] = (signature_part){".", 1};
    }
    parts[nparts++] = (signature_part){req->body, req->body_len};

    unsigned char mac[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(g->secret, g->secret_len, parts, nparts, mac) != 0) {
        snprintf(detail, detail_len, "signature could not be computed");
        return -1;
    }
    /* Comparing the header text with the expected text makes a wrong prefix,
     * length or alphabet a plain mismatch. */
    char expected[GENERIC_SIGNATURE_BUF];
    generic_encode(g->encoding, mac, expected);
    /* Hex is case-insensitive; base64 is not. */
    int equal = g->encoding == GENERIC_ENC_BASE64
                    ? signature_equal(sig, sig_len, expected, strlen(expected))
                    : signature_equal_hex(sig, sig_len, expected, strlen(expected));
    if (!equal) {
        snprintf(detail, detail_len, "signature mismatch");
        return -1;
    }
    return 0;
}

static int generic_check_bearer(const generic_source *g, const source_request *req, char *detail,
                                size_t detail_len)
{
    static const char scheme[] = "Bearer ";
    const size_t scheme_len = sizeof(scheme) - 1;
    size_t len;
    const char *value = req->header(req->header_ctx, "authorization", &len);
    if (value == NULL) {
        snprintf(detail, detail_len, "missing authorization header");
        return -1;
    }
    /* RFC 7235: the scheme name is case-insensitive. */
    if (len < scheme_len || strncasecmp(value, scheme, scheme_len) != 0) {
        snprintf(detail, detail_len, "authorization is not a Bearer token");
        return -1;
    }
    if (!signature_token_matches(&g->token, value + scheme_len, len - scheme_len)) {
        snprintf(detail, detail_len, "token mismatch");
        return -1;
    }
    return 0;
}

static int generic_verify(const source *self, const source_request *req, yajl_val tree, char *detail,
                          size_t detail_len)
{
    (void)tree;
    const generic_source *g = (const generic_source *)self;
    if (g->auth == GENERIC_AUTH_BEARER)
        return generic_check_bearer(g, req, detail, detail_len);
    return generic_check_hmac(g, req, detail, detail_len);
}

static int generic_event_type(const generic_source *g, meeting_event *ev, char *detail, size_t detail_len)
{
    if (ev->event_type == NULL && g->event_type != NULL && (ev->event_type = strdup(g->event_type)) == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    if (ev->event_type == NULL) {
        snprintf(detail, detail_len, "missing event type at %s", g->paths.event_type_path);
        return -1;
    }
    return 0;
}

/* A missing activity id is not an error here: a rule may template one, or the
 * mapping fails later with a better message. */
static int generic_fill(const generic_source *g, const source_request *req, yajl_val tree, meeting_event *ev,
                        char *detail, size_t detail_len)
{
    if (source_paths_fill(&g->paths, tree, ev, detail, detail_len) != 0 ||
        generic_event_type(g, ev, detail, detail_len) != 0 ||
        source_scalar_at(tree, g->dedup_path, &ev->dedup_key, detail, detail_len) != 0)
        return -1;
    if (g->dedup_header != NULL) {
        ev->dedup_key = source_header_dup(req, g->dedup_header);
        if (ev->dedup_key != NULL && ev->dedup_key[0] == '\0') {
            free(ev->dedup_key);
            ev->dedup_key = NULL;
        }
    }
    return 0;
}

static int generic_parse(const source *self, const source_request *req, yajl_val tree, event_list *out,
                         char *detail, size_t detail_len)
{
    const generic_source *g = (const generic_source *)self;
    if (!YAJL_IS_OBJECT(tree)) {
        snprintf(detail, detail_len, "body must be a JSON object");
        return -1;
    }
    meeting_event ev = {.sender = "generic", .tree = tree};
    if (generic_fill(g, req, tree, &ev, detail, detail_len) != 0) {
        meeting_event_clear(&ev);
        return -1;
    }
    return source_emit(out, &ev, 0, detail, detail_len);
}

static void generic_destroy(source *self)
{
    generic_source *g = (generic_source *)self;
    if (g == NULL)
        return;
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++)
        free(*generic_field(g, &generic_string_keys[i]));
    source_paths_free(&g->paths);
    free(g->secret);
    free(g);
}

static int generic_set_defaults(generic_source *g)
{
    if (g->signature_header == NULL && (g->signature_header = strdup("x-signature-256")) == NULL)
        return -1;
    return 0;
}

static int generic_configure(generic_source *g, yajl_val route, const char *secret,
                             const source_config_ctx *ctx)
{
    if (generic_check_keys(route, ctx) != 0)
        return -1;
    if (secret == NULL || secret[0] == '\0') {
        source_config_error(ctx, "secret", "required for source generic");
        return -1;
    }
    int auth = GENERIC_AUTH_HMAC, encoding = GENERIC_ENC_SHA256_HEX;
    if (generic_read_choice(route, "auth", generic_auth_choices, &auth, ctx) != 0 ||
        generic_read_choice(route, "signature_encoding", generic_encoding_choices, &encoding, ctx) != 0 ||
        source_read_tolerance(route, GENERIC_DEFAULT_TOLERANCE_S, GENERIC_MAX_TOLERANCE_S, &g->tolerance_s,
                              ctx) != 0 ||
        generic_read_strings(g, route, ctx) != 0)
        return -1;
    g->auth = (generic_auth)auth;
    g->encoding = (generic_encoding)encoding;
    if (generic_check_combinations(g, route, ctx) != 0)
        return -1;

    g->secret_len = strlen(secret);
    if ((g->secret = strdup(secret)) == NULL || generic_set_defaults(g) != 0 ||
        signature_token_init(&g->token, g->secret, g->secret_len) != 0) {
        source_config_error(ctx, "secret", "could not be prepared (out of memory)");
        return -1;
    }
    return 0;
}

/* The registry's entry for this sender; every instance starts as a copy. */
const source source_generic = {
    .name = "generic",
    .body_is_json = 1,
    .handshake = source_no_handshake,
    .verify = generic_verify,
    .parse = generic_parse,
    .destroy = generic_destroy,
    .create = generic_source_create,
};

source *generic_source_create(yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    if (!YAJL_IS_OBJECT(route)) {
        snprintf(ctx->err, ctx->errlen, "%s: %s: must be an object", ctx->file, ctx->key_prefix);
        return NULL;
    }
    generic_source *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(ctx->err, ctx->errlen, "%s: %s: out of memory", ctx->file, ctx->key_prefix);
        return NULL;
    }
    g->super = source_generic;
    if (generic_configure(g, route, secret, ctx) != 0) {
        generic_destroy(&g->super);
        return NULL;
    }
    return &g->super;
}
