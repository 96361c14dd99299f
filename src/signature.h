/* signature: HMAC-SHA256, encodings and constant-time comparison for the
 * sources' webhook verification (all through OpenSSL, never by hand).
 * Pure functions, safe from any thread. */
#ifndef CLOSEHOOK_SIGNATURE_H
#define CLOSEHOOK_SIGNATURE_H

#include <stddef.h>

#define SIGNATURE_SHA256_LEN 32

/* A piece of the signed message; the HMAC runs over the pieces concatenated,
 * so "v0:" + timestamp + ":" + body needs no copy of the body. */
typedef struct signature_part {
    const void *base;
    size_t len;
} signature_part;

/* HMAC-SHA256(key, parts...) into out[32]. Returns 0, or -1 on an OpenSSL error. */
int signature_hmac_sha256(const void *key, size_t key_len, const signature_part *parts, size_t nparts,
                          unsigned char out[SIGNATURE_SHA256_LEN]);

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void signature_hex(const unsigned char *in, size_t len, char *out);

/* Standard base64 (with padding) of len bytes into out (4*((len+2)/3)+1 bytes). */
void signature_base64(const unsigned char *in, size_t len, char *out);

/* Decodes standard base64 (padding required, no whitespace). Returns the
 * decoded length, or -1 when text is not valid base64 or out is too small. */
long signature_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_cap);

/* Constant-time equality of two byte strings. Different lengths compare
 * unequal; only the length (public: it is the digest's) leaks through timing. */
int signature_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* signature_equal for a presented hex signature against our lower-case hex
 * text (expected, as signature_hex writes it, possibly after a prefix such as
 * "v0="): hex digits A-F in the presented text count as a-f, since hex is
 * case-insensitive and some senders and proxies upper-case it. Still constant
 * time: every byte is folded and compared, without branches on its value. */
int signature_equal_hex(const char *presented, size_t len, const char *expected, size_t expected_len);

/* A shared token (a bearer token, Graph's clientState, a Google channel token)
 * checked in constant time whatever its length: the offered value and the
 * secret are both HMAC'ed with the secret as key and the digests compared, so
 * not even the secret's length shows in the timing. secret is borrowed and
 * must outlive the token. */
typedef struct signature_token {
    const char *secret;
    size_t secret_len;
    unsigned char digest[SIGNATURE_SHA256_LEN]; /* HMAC(secret, secret) */
} signature_token;

/* 0, or -1 on an OpenSSL error. */
int signature_token_init(signature_token *t, const char *secret, size_t secret_len);
/* 1 when offered (len bytes) is the secret, else 0. */
int signature_token_matches(const signature_token *t, const void *offered, size_t len);

#endif
