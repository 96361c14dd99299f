/* test_signature: the crypto primitives every source verifies with — HMAC-SHA256
 * against the RFC 4231 test vectors, hex, base64 (RFC 4648 vectors, round trip,
 * invalid input) and the constant-time comparison's answers. */
#include <criterion/criterion.h>
#include <string.h>

#include "signature.h"

typedef struct rfc4231_case {
    const char *name;
    unsigned char key[131];
    size_t key_len;
    const char *data;
    size_t data_len;
    const char *hmac_sha256;
} rfc4231_case;

static void fill(unsigned char *buf, unsigned char byte, size_t n)
{
    memset(buf, byte, n);
}

static void hmac_hex(const void *key, size_t key_len, const signature_part *parts, size_t nparts, char *hex)
{
    unsigned char mac[SIGNATURE_SHA256_LEN];
    cr_assert_eq(signature_hmac_sha256(key, key_len, parts, nparts, mac), 0);
    signature_hex(mac, sizeof(mac), hex);
}

/* RFC 4231 section 4: test cases 1-4, 6 and 7 (5 is a truncated output). */
Test(signature, hmac_sha256_rfc4231_vectors)
{
    static unsigned char data3[50], data4[50];
    fill(data3, 0xdd, sizeof(data3));
    fill(data4, 0xcd, sizeof(data4));
    rfc4231_case cases[] = {
        {"1", {0}, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"2", "Jefe", 4, "what do ya want for nothing?", 28,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"3",
         {0},
         20,
         (const char *)data3,
         50,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {"4",
         {0},
         25,
         (const char *)data4,
         50,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {"6",
         {0},
         131,
         "Test Using Larger Than Block-Size Key - Hash Key First",
         54,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {"7",
         {0},
         131,
         "This is a test using a larger than block-size key and a larger than block-size data. The key needs "
         "to "
         "be hashed before being used by the HMAC algorithm.",
         152,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    fill(cases[0].key, 0x0b, 20);
    fill(cases[2].key, 0xaa, 20);
    for (unsigned char i = 0; i < 25; i++)
        cases[3].key[i] = (unsigned char)(i + 1);
    fill(cases[4].key, 0xaa, 131);
    fill(cases[5].key, 0xaa, 131);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const signature_part part = {cases[i].data, cases[i].data_len};
        char hex[2 * SIGNATURE_SHA256_LEN + 1];
        hmac_hex(cases[i].key, cases[i].key_len, &part, 1, hex);
        cr_expect_str_eq(hex, cases[i].hmac_sha256, "RFC 4231 test case %s", cases[i].name);
    }
}

Test(signature, hmac_over_parts_equals_hmac_over_the_whole)
{
    unsigned char key[20];
    fill(key, 0x0b, sizeof(key));
    const signature_part parts[] = {{"Hi", 2}, {"", 0}, {NULL, 0}, {" The", 4}, {"re", 2}};
    char hex[2 * SIGNATURE_SHA256_LEN + 1];
    hmac_hex(key, sizeof(key), parts, 5, hex);
    cr_expect_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

Test(signature, hmac_with_empty_key_and_message)
{
    /* HMAC-SHA256("", "") is a well-known value; an empty key must not fail. */
    char hex[2 * SIGNATURE_SHA256_LEN + 1];
    hmac_hex("", 0, NULL, 0, hex);
    cr_expect_str_eq(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

Test(signature, hex_is_lower_case_and_terminated)
{
    const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(in) + 2];
    memset(out, 'X', sizeof(out));
    signature_hex(in, sizeof(in), out);
    cr_expect_str_eq(out, "00017f80abff");
    signature_hex(in, 0, out);
    cr_expect_str_eq(out, "");
}

/* RFC 4648 section 10. */
static const struct {
    const char *plain;
    const char *encoded;
} rfc4648[] = {
    {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

Test(signature, base64_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char out[16];
        signature_base64((const unsigned char *)rfc4648[i].plain, strlen(rfc4648[i].plain), out);
        cr_expect_str_eq(out, rfc4648[i].encoded);

        unsigned char decoded[16];
        long n =
            signature_base64_decode(rfc4648[i].encoded, strlen(rfc4648[i].encoded), decoded, sizeof(decoded));
        cr_expect_eq(n, (long)strlen(rfc4648[i].plain), "decoding %s", rfc4648[i].encoded);
        cr_expect(n >= 0 && memcmp(decoded, rfc4648[i].plain, (size_t)n) == 0, "decoding %s",
                  rfc4648[i].encoded);
    }
    char out[4];
    signature_base64((const unsigned char *)"", 0, out);
    cr_expect_str_eq(out, "");
}

Test(signature, base64_round_trip_of_every_byte_and_length)
{
    unsigned char in[64];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 37 + 200); /* covers high bits, "+" and "/" */
    for (size_t len = 1; len <= sizeof(in); len++) {
        char text[4 * ((sizeof(in) + 2) / 3) + 1];
        signature_base64(in, len, text);
        cr_expect_eq(strlen(text), 4 * ((len + 2) / 3));
        /* Room for 3 bytes a quantum, padding included: EVP_DecodeBlock writes those too. */
        unsigned char back[sizeof(in) + 2];
        long n = signature_base64_decode(text, strlen(text), back, sizeof(back));
        cr_expect_eq(n, (long)len, "length %zu", len);
        cr_expect(n == (long)len && memcmp(back, in, len) == 0, "round trip of %zu bytes", len);
    }
}

Test(signature, base64_refuses_invalid_input)
{
    unsigned char out[64];
    static const char *const invalid[] = {
        "Zm9",   /* not a multiple of 4 */
        "Zm9vY", /* ditto */
        "Zm9*",  /* outside the alphabet */
        "Zm9v\x01\x02\x03\x04",
        "Zm 9v", /* inner whitespace, and 5 long */
        "Zm9-",  /* base64url, not standard */
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        cr_expect_eq(signature_base64_decode(invalid[i], strlen(invalid[i]), out, sizeof(out)), -1, "\"%s\"",
                     invalid[i]);
    /* The output would not fit. */
    cr_expect_eq(signature_base64_decode("Zm9vYmFy", 8, out, 5), -1);
    cr_expect_eq(signature_base64_decode("Zm9vYmFy", 8, out, 6), 6);
}

/* The header promises "padding required, no whitespace": OpenSSL's
 * EVP_DecodeBlock alone trims surrounding whitespace and takes '=' inside the
 * text, so these pin the stricter promise. */
Test(signature, base64_refuses_whitespace_and_misplaced_padding)
{
    unsigned char out[64];
    static const char *const invalid[] = {
        "Zm9v    ", "    Zm9v", "Zm9v\n\n\n\n", "Zm9v====", "Zg==Zg==", "====", "Z===", "Zm9vYg=\n",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        cr_expect_eq(signature_base64_decode(invalid[i], strlen(invalid[i]), out, sizeof(out)), -1,
                     "case %zu should be refused", i);
}

Test(signature, equal_compares_contents_and_lengths)
{
    const char a[] = "v0=0123456789abcdef";
    const char b[] = "v0=0123456789abcdef";
    const char c[] = "v0=0123456789abcdeF";
    cr_expect_eq(signature_equal(a, strlen(a), b, strlen(b)), 1);
    cr_expect_eq(signature_equal(a, strlen(a), c, strlen(c)), 0);
    cr_expect_eq(signature_equal(a, strlen(a), b, strlen(b) - 1), 0, "a prefix is not equal");
    cr_expect_eq(signature_equal(a, strlen(a) - 1, b, strlen(b)), 0);
    cr_expect_eq(signature_equal("x", 1, "y", 1), 0);
    cr_expect_eq(signature_equal("", 0, "", 0), 1);
    cr_expect_eq(signature_equal("", 0, "a", 1), 0);
}

Test(signature, token_matches_only_the_secret_itself)
{
    const char secret[] = "channel-token-7f3a";
    signature_token t;
    cr_assert_eq(signature_token_init(&t, secret, strlen(secret)), 0);
    cr_expect_eq(signature_token_matches(&t, secret, strlen(secret)), 1);
    cr_expect_eq(signature_token_matches(&t, "channel-token-7f3A", 18), 0, "one byte differs");
    cr_expect_eq(signature_token_matches(&t, secret, strlen(secret) - 1), 0, "a prefix");
    cr_expect_eq(signature_token_matches(&t, "channel-token-7f3a ", 19), 0, "a longer value");
    cr_expect_eq(signature_token_matches(&t, "", 0), 0, "an empty value");
    /* The digest is HMAC(secret, secret), nothing else. */
    const signature_part whole = {secret, strlen(secret)};
    unsigned char want[SIGNATURE_SHA256_LEN];
    cr_assert_eq(signature_hmac_sha256(secret, strlen(secret), &whole, 1, want), 0);
    cr_expect_arr_eq(t.digest, want, sizeof(want));
}

Test(signature, hex_compares_ignoring_the_case_of_hex_digits_only)
{
    const char *want = "v0=0a1b2c3d4e5f";
    cr_expect(signature_equal_hex("v0=0a1b2c3d4e5f", 15, want, 15));
    cr_expect(signature_equal_hex("v0=0A1B2C3D4E5F", 15, want, 15), "upper-case hex digits match");
    cr_expect(signature_equal_hex("v0=0a1B2c3D4e5F", 15, want, 15));
    cr_expect(!signature_equal_hex("V0=0a1b2c3d4e5f", 15, want, 15), "only hex digits fold");
    cr_expect(!signature_equal_hex("v0=0a1b2c3d4e5e", 15, want, 15));
    cr_expect(!signature_equal_hex("v0=0a1b2c3d4e5", 14, want, 15));
    cr_expect(!signature_equal_hex("v0=0a1b2c3d4e5g", 15, "v0=0a1b2c3d4e5G", 15));
}
