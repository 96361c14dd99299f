/* generic: senders with no source of their own. Authenticity is an HMAC-SHA256
 * of the raw body in a configurable header (GitHub's "sha256=<hex>", bare hex
 * or base64), optionally bound to a timestamp header, or a shared bearer
 * token; the event type, delivery id, Close activity id and lookup keys come
 * from configured JSON paths. The route keys are listed in generic_string_keys
 * and generic_create; senders.md describes the senders this fits. */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "signature.h"
#include "source.h"

/* Five minutes, the window Zoom and Standard Webhooks both document. */
#define GENERIC_DEFAULT_TOLERANCE_S 300
/* Beyond an hour a captured request could be replayed long after the fact,
 * which is what the timestamp is there to prevent. */
#define GENERIC_MAX_TOLERANCE_S 3600
/* Unix seconds need 10 digits until the year 2286; 18 still fits a long long,
 * so anything longer is garbage rather than a time. */
#define GENERIC_TIMESTAMP_MAX_DIGITS 18
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
    /* HMAC(secret, secret): bearer tokens are compared as digests so that
     * not even the secret's length shows in the timing. */
    unsigned char token_digest[SIGNATURE_SHA256_LEN];
    long tolerance_s;
    char *signature_header; /* lower-cased, as header lookups want */
    char *timestamp_header; /* lower-cased; NULL: the body alone is signed */
    char *event_type_path;
    char *event_type;
    char *activity_id_path;
    char *dedup_path;
    char *dedup_header; /* lower-cased */
    char *zoom_meeting_id_path;
    char *join_url_path;
    char *start_time_path;
} generic_source;

/* The route keys holding one string each, so reading, validating and freeing
 * them is one loop rather than ten copies. */
typedef struct generic_string_key {
    const char *key;
    size_t offset;
    int is_header;
} generic_string_key;

static const generic_string_key generic_string_keys[] = {
    {"signature_header", offsetof(generic_source, signature_header), 1},
    {"timestamp_header", offsetof(generic_source, timestamp_header), 1},
    {"event_type_path", offsetof(generic_source, event_type_path), 0},
    {"event_type", offsetof(generic_source, event_type), 0},
    {"activity_id_path", offsetof(generic_source, activity_id_path), 0},
    {"dedup_path", offsetof(generic_source, dedup_path), 0},
    {"dedup_header", offsetof(generic_source, dedup_header), 1},
    {"zoom_meeting_id_path", offsetof(generic_source, zoom_meeting_id_path), 0},
    {"join_url_path", offsetof(generic_source, join_url_path), 0},
    {"start_time_path", offsetof(generic_source, start_time_path), 0},
};
#define GENERIC_NSTRING_KEYS (sizeof(generic_string_keys) / sizeof(generic_string_keys[0]))

static const char *const generic_other_keys[] = {"auth", "signature_encoding", "tolerance_s", NULL};
/* Keys only an HMAC check reads; with a bearer token they would be ignored. */
static const char *const generic_hmac_keys[] = {"signature_header", "signature_encoding", "timestamp_header",
                                                "tolerance_s", NULL};
/* Keys every route carries, read by config, not by the source. */
static const char *const route_common_keys[] = {"name", "source", "secret", "credential", "rules", NULL};

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

__attribute__((format(printf, 3, 4))) static void generic_config_error(const source_config_ctx *ctx,
                                                                       const char *key, const char *fmt, ...)
{
    char problem[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    snprintf(ctx->err, ctx->errlen, "%s: %s.%s: %s", ctx->file, ctx->key_prefix, key, problem);
}

static int key_listed(const char *key, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

static int generic_is_string_key(const char *key)
{
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++)
        if (strcmp(generic_string_keys[i].key, key) == 0)
            return 1;
    return 0;
}

/* A misspelt key ("dedup" for "dedup_path") would otherwise be ignored
 * silently; naming it at load time is kinder. */
static int generic_check_keys(yajl_val route, const source_config_ctx *ctx)
{
    for (size_t i = 0; i < route->u.object.len; i++) {
        const char *key = route->u.object.keys[i];
        if (!key_listed(key, route_common_keys) && !key_listed(key, generic_other_keys) &&
            !generic_is_string_key(key)) {
            generic_config_error(ctx, key, "unknown key for source generic");
            return -1;
        }
    }
    return 0;
}

static int generic_read_strings(generic_source *g, yajl_val route, const source_config_ctx *ctx)
{
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++) {
        const generic_string_key *k = &generic_string_keys[i];
        yajl_val v = json_member(route, k->key);
        if (v == NULL)
            continue;
        if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0') {
            generic_config_error(ctx, k->key, "must be a non-empty string");
            return -1;
        }
        char *copy = strdup(v->u.string);
        if (copy == NULL) {
            generic_config_error(ctx, k->key, "out of memory");
            return -1;
        }
        /* Header names are case-insensitive; lookups take them lower-case. */
        for (char *p = copy; k->is_header && *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        *generic_field(g, k) = copy;
    }
    return 0;
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
    generic_config_error(ctx, key, "must be one of %s", known);
    return -1;
}

static int generic_read_tolerance(yajl_val route, long *out, const source_config_ctx *ctx)
{
    yajl_val v = json_member(route, "tolerance_s");
    *out = GENERIC_DEFAULT_TOLERANCE_S;
    if (v == NULL)
        return 0;
    if (!YAJL_IS_INTEGER(v) || v->u.number.i < 1 || v->u.number.i > GENERIC_MAX_TOLERANCE_S) {
        generic_config_error(ctx, "tolerance_s", "must be an integer from 1 to %d", GENERIC_MAX_TOLERANCE_S);
        return -1;
    }
    *out = (long)v->u.number.i;
    return 0;
}

/* Combinations that would silently not do what the config says. */
static int generic_check_combinations(const generic_source *g, yajl_val route, const source_config_ctx *ctx)
{
    if (g->dedup_path != NULL && g->dedup_header != NULL) {
        generic_config_error(ctx, "dedup_header", "cannot be combined with dedup_path");
        return -1;
    }
    for (const char *const *k = generic_hmac_keys; g->auth == GENERIC_AUTH_BEARER && *k != NULL; k++) {
        if (json_member(route, *k) != NULL) {
            generic_config_error(ctx, *k, "only applies to auth \"hmac\"");
            return -1;
        }
    }
    if (g->timestamp_header == NULL && json_member(route, "tolerance_s") != NULL) {
        generic_config_error(ctx, "tolerance_s", "needs timestamp_header");
        return -1;
    }
    return 0;
}

/* 0 when the header holds unix seconds no further than the tolerance from now,
 * in either direction: a future stamp is as suspicious as a stale one. */
static int generic_timestamp_fresh(const generic_source *g, const char *ts, size_t len, time_t now,
                                   char *detail, size_t detail_len)
{
    int digits = len > 0 && len <= GENERIC_TIMESTAMP_MAX_DIGITS;
    long long seconds = 0;
    for (size_t i = 0; digits && i < len; i++) {
        digits = ts[i] >= '0' && ts[i] <= '9';
        seconds = seconds * 10 + (ts[i] - '0');
    }
    if (!digits) {
        snprintf(detail, detail_len, "invalid %s header", g->timestamp_header);
        return -1;
    }
    long long skew = (long long)now - seconds;
    if (skew > g->tolerance_s || skew < -g->tolerance_s) {
        snprintf(detail, detail_len, "timestamp outside the %ld s tolerance", g->tolerance_s);
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
        if (generic_timestamp_fresh(g, ts, ts_len, req->now, detail, detail_len) != 0)
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
    if (!signature_equal(sig, sig_len, expected, strlen(expected))) {
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
    const signature_part token = {value + scheme_len, len - scheme_len};
    unsigned char digest[SIGNATURE_SHA256_LEN];
    if (signature_hmac_sha256(g->secret, g->secret_len, &token, 1, digest) != 0 ||
        !signature_equal(digest, sizeof(digest), g->token_digest, sizeof(g->token_digest))) {
        snprintf(detail, detail_len, "token mismatch");
        return -1;
    }
    return 0;
}

static int generic_handshake(const source *self, const source_request *req, yajl_val tree, source_answer *ans)
{
    /* Generic senders have no endpoint validation step. */
    (void)self;
    (void)req;
    (void)tree;
    (void)ans;
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

/* The scalar at path as text into *out (NULL when the path is unset, absent,
 * null or empty). An object or array there is the sender's mistake: -1. */
static int generic_scalar_at(yajl_val tree, const char *path, char **out, char *detail, size_t detail_len)
{
    yajl_val v = path ? json_get(tree, path) : NULL;
    if (v == NULL || YAJL_IS_NULL(v))
        return 0;
    const char *s = json_scalar(v);
    if (s == NULL) {
        snprintf(detail, detail_len, "%s is not a scalar", path);
        return -1;
    }
    if (s[0] != '\0' && (*out = strdup(s)) == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    return 0;
}

static int generic_event_type(const generic_source *g, yajl_val tree, meeting_event *ev, char *detail,
                              size_t detail_len)
{
    if (generic_scalar_at(tree, g->event_type_path, &ev->event_type, detail, detail_len) != 0)
        return -1;
    if (ev->event_type == NULL && g->event_type != NULL && (ev->event_type = strdup(g->event_type)) == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    if (ev->event_type == NULL) {
        snprintf(detail, detail_len, "missing event type at %s", g->event_type_path);
        return -1;
    }
    return 0;
}

/* A missing activity id is not an error here: a rule may template one, or the
 * mapping fails later with a better message. */
static int generic_fill(const generic_source *g, const source_request *req, yajl_val tree, meeting_event *ev,
                        char *detail, size_t detail_len)
{
    if (generic_event_type(g, tree, ev, detail, detail_len) != 0)
        return -1;
    const struct {
        const char *path;
        char **dst;
    } lookups[] = {
        {g->activity_id_path, &ev->close_activity_id},   {g->dedup_path, &ev->dedup_key},
        {g->zoom_meeting_id_path, &ev->zoom_meeting_id}, {g->join_url_path, &ev->join_url},
        {g->start_time_path, &ev->start_time},
    };
    for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
        if (generic_scalar_at(tree, lookups[i].path, lookups[i].dst, detail, detail_len) != 0)
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
    meeting_event *slot = NULL;
    if (generic_fill(g, req, tree, &ev, detail, detail_len) == 0) {
        slot = event_list_add(out);
        if (slot == NULL)
            snprintf(detail, detail_len, "out of memory");
    }
    if (slot == NULL) {
        meeting_event_clear(&ev);
        return -1;
    }
    *slot = ev;
    return 0;
}

static void generic_destroy(source *self)
{
    generic_source *g = (generic_source *)self;
    if (g == NULL)
        return;
    for (size_t i = 0; i < GENERIC_NSTRING_KEYS; i++)
        free(*generic_field(g, &generic_string_keys[i]));
    free(g->secret);
    free(g);
}

static int generic_set_defaults(generic_source *g)
{
    if (g->signature_header == NULL && (g->signature_header = strdup("x-signature-256")) == NULL)
        return -1;
    if (g->event_type_path == NULL && (g->event_type_path = strdup("event")) == NULL)
        return -1;
    return 0;
}

static int generic_configure(generic_source *g, yajl_val route, const char *secret,
                             const source_config_ctx *ctx)
{
    if (generic_check_keys(route, ctx) != 0)
        return -1;
    if (secret == NULL || secret[0] == '\0') {
        generic_config_error(ctx, "secret", "required for source generic");
        return -1;
    }
    int auth = GENERIC_AUTH_HMAC, encoding = GENERIC_ENC_SHA256_HEX;
    if (generic_read_choice(route, "auth", generic_auth_choices, &auth, ctx) != 0 ||
        generic_read_choice(route, "signature_encoding", generic_encoding_choices, &encoding, ctx) != 0 ||
        generic_read_tolerance(route, &g->tolerance_s, ctx) != 0 || generic_read_strings(g, route, ctx) != 0)
        return -1;
    g->auth = (generic_auth)auth;
    g->encoding = (generic_encoding)encoding;
    if (generic_check_combinations(g, route, ctx) != 0)
        return -1;

    g->secret_len = strlen(secret);
    const signature_part whole = {secret, g->secret_len};
    if ((g->secret = strdup(secret)) == NULL || generic_set_defaults(g) != 0 ||
        signature_hmac_sha256(g->secret, g->secret_len, &whole, 1, g->token_digest) != 0) {
        generic_config_error(ctx, "secret", "could not be prepared (out of memory)");
        return -1;
    }
    return 0;
}

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
    g->super.name = "generic";
    g->super.body_is_json = 1;
    g->super.handshake = generic_handshake;
    g->super.verify = generic_verify;
    g->super.parse = generic_parse;
    g->super.destroy = generic_destroy;
    if (generic_configure(g, route, secret, ctx) != 0) {
        generic_destroy(&g->super);
        return NULL;
    }
    return &g->super;
}
