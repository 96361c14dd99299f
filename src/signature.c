/* signature: the cryptographic primitives webhook verification needs, all from
 * OpenSSL (HMAC, base64, CRYPTO_memcmp), so no source hand-rolls one. */
#include "signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

/* Fetching the HMAC implementation is costly and the result is immutable and
 * thread-safe, so it is fetched once per process. */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void fetch_hmac(void)
{
    hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int signature_hmac_sha256(const void *key, size_t key_len, const signature_part *parts, size_t nparts,
                          unsigned char out[SIGNATURE_SHA256_LEN])
{
    pthread_once(&hmac_once, fetch_hmac);
    if (hmac_impl == NULL)
        return -1;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_impl);
    if (ctx == NULL)
        return -1;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    /* An empty key is legal HMAC; OpenSSL wants a non-NULL pointer for it. */
    static const unsigned char empty_key[1];
    int ok = EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) == 1;
    for (size_t i = 0; ok && i < nparts; i++)
        if (parts[i].len > 0)
            ok = EVP_MAC_update(ctx, parts[i].base, parts[i].len) == 1;
    size_t out_len = 0;
    ok =
        ok && EVP_MAC_final(ctx, out, &out_len, SIGNATURE_SHA256_LEN) == 1 && out_len == SIGNATURE_SHA256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

void signature_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

void signature_base64(const unsigned char *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* EVP_DecodeBlock trims surrounding whitespace and takes '=' mid-text, so the
 * text is held to the alphabet, with padding only at the very end, first. */
static int base64_well_formed(const char *text, size_t len)
{
    size_t pad = text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++) {
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/'))
            return 0;
    }
    return 1;
}

long signature_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_cap)
{
    if (text_len == 0 || text_len % 4 != 0 || text_len / 4 * 3 > out_cap ||
        !base64_well_formed(text, text_len))
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)text_len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes; take them back off. */
    if (text[text_len - 1] == '=')
        n--;
    if (text[text_len - 2] == '=')
        n--;
    return n;
}

int signature_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return 0;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

/* Longest hex text compared: "sha256=" and 64 digits, with room to spare. */
#define SIGNATURE_HEX_MAX 128

int signature_equal_hex(const char *presented, size_t len, const char *expected, size_t expected_len)
{
    if (len != expected_len || len > SIGNATURE_HEX_MAX)
        return 0;
    unsigned char folded[SIGNATURE_HEX_MAX];
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)presented[i];
        unsigned char upper_hex = (unsigned char)((unsigned char)(c - 'A') < 6u);
        folded[i] = (unsigned char)(c + (upper_hex << 5)); /* 'A'..'F' + 32 = 'a'..'f' */
    }
    return CRYPTO_memcmp(folded, expected, len) == 0;
}

int signature_token_init(signature_token *t, const char *secret, size_t secret_len)
{
    t->secret = secret;
    t->secret_len = secret_len;
    const signature_part whole = {secret, secret_len};
    return signature_hmac_sha256(secret, secret_len, &whole, 1, t->digest);
}

int signature_token_matches(const signature_token *t, const void *offered, size_t len)
{
    const signature_part part = {offered, len};
    unsigned char digest[SIGNATURE_SHA256_LEN];
    return signature_hmac_sha256(t->secret, t->secret_len, &part, 1, digest) == 0 &&
           signature_equal(digest, sizeof(digest), t->digest, sizeof(t->digest));
}
