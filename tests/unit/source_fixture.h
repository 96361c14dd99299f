/* source_fixture: what the webhook source tests (test_zoom, test_generic,
 * test_calendly, test_stdwebhooks, test_msgraph, test_gcal) all need — a fake
 * header lookup, samples read from disk, a source built from route JSON and an
 * independent HMAC — so each test file holds only what is particular to its
 * sender. Digests come from OpenSSL's one-shot HMAC(), not signature.c, so a
 * bug there cannot make the tests agree with it. */
#ifndef CLOSEHOOK_SOURCE_FIXTURE_H
#define CLOSEHOOK_SOURCE_FIXTURE_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "source/source.h"

/* Room for the most headers one test request sets (stdwebhooks: both spellings). */
#define FIXTURE_MAX_HEADERS 8

/* Headers a test sets by pointer; names given lower-case as h2o gives them. */
typedef struct fake_headers {
    const char *names[FIXTURE_MAX_HEADERS];
    const char *values[FIXTURE_MAX_HEADERS];
    size_t n;
} fake_headers;

/* A source_request.header callback over a fake_headers (ctx). */
const char *fake_header(void *ctx, const char *name, size_t *len);

/* SAMPLES_DIR/sender/name, malloc'ed and NUL-terminated; asserts it exists. */
char *fixture_read_sample(const char *sender, const char *name, size_t *len);

typedef source *(*fixture_source_ctor)(yajl_val route, const char *secret, const source_config_ctx *ctx);

/* Builds a source from route_json as config entry key_prefix of "test.json".
 * The route is freed before returning: the source must not keep pointers into it. */
source *fixture_make_source(fixture_source_ctor create, const char *key_prefix, const char *route_json,
                            const char *secret, char *err, size_t errlen);

/* fixture_make_source that must succeed; asserts with the error otherwise. */
source *fixture_source_ok(fixture_source_ctor create, const char *key_prefix, const char *route_json,
                          const char *secret);

/* Frees what a test request held: the source, the body's tree and the body. */
void fixture_release(source *src, yajl_val tree, char *body);

/* The JSON tree of body; asserts it parses. */
yajl_val fixture_parse(const char *body, size_t len);

/* HMAC-SHA256(secret, prefix || body) into mac (EVP_MAX_MD_SIZE bytes); returns its length. */
unsigned int fixture_hmac(const char *secret, size_t secret_len, const char *prefix, const char *body,
                          size_t len, unsigned char *mac);

/* Lower-case hex of mac into out (2 * len + 1 bytes); returns the characters written. */
size_t fixture_hex(const unsigned char *mac, unsigned int len, char *out);

#endif
