/* Tests for redact: every spelling of a secret an upstream might echo is
 * taken out of its text, and nothing else is touched. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

#define KEY "api_5xQ/k+9Zr2LmT8vBn0"

static char *b64(const char *s, int urlsafe, int padded)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    for (int i = 0; urlsafe && i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    while (!padded && len > 0 && out[len - 1] == '=')
        out[--len] = '\0';
    return out;
}

static redactor *with_key(void)
{
    redactor *r = redact_new();
    cr_assert_not_null(r);
    cr_assert_eq(redact_add(r, KEY), 0);
    return r;
}

/* text with spelling inside: the result has the mark and not the spelling. */
static void assert_redacted(const redactor *r, const char *spelling)
{
    char text[512];
    snprintf(text, sizeof(text), "{\"echo\":\"Basic %s\",\"n\":1}", spelling);
    char *out = redact_text(r, text, strlen(text), 0);
    cr_assert_not_null(out);
    cr_assert_null(strstr(out, spelling), "%s survived in %s", spelling, out);
    cr_assert_not_null(strstr(out, REDACT_MARK), "%s", out);
    cr_assert_not_null(strstr(out, "\"n\":1}"), "the rest is kept: %s", out);
    free(out);
}

Test(redact, every_spelling_of_the_key)
{
    redactor *r = with_key();
    assert_redacted(r, KEY);
    assert_redacted(r, "api_5xQ\\/k+9Zr2LmT8vBn0");   /* JSON "\/" */
    assert_redacted(r, "api_5xQ%2Fk%2B9Zr2LmT8vBn0"); /* URL-encoded */
    for (int urlsafe = 0; urlsafe < 2; urlsafe++) {
        for (int padded = 0; padded < 2; padded++) {
            const char *forms[] = {KEY, KEY ":", KEY ":password", "x" KEY, "xy" KEY ":"};
            for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
                char *enc = b64(forms[i], urlsafe, padded);
                char text[512];
                snprintf(text, sizeof(text), "Basic %s", enc);
                char *out = redact_text(r, text, strlen(text), 0);
                /* What is left is at most the few base64 chars around the key's bytes. */
                cr_assert_not_null(strstr(out, REDACT_MARK), "%s -> %s", forms[i], out);
                cr_assert_lt(strlen(out), strlen("Basic ") + strlen(REDACT_MARK) + 17, "%s -> %s", forms[i],
                             out);
                free(out);
                free(enc);
            }
        }
    }
    redact_free(r);
}

Test(redact, other_text_is_untouched)
{
    redactor *r = with_key();
    const char *text = "{\"error\":\"Unknown outcome_id.\",\"field-errors\":{\"outcome_id\":\"bad\"}}";
    char *out = redact_text(r, text, strlen(text), 0);
    cr_assert_str_eq(out, text);
    free(out);
    redact_free(r);
}

Test(redact, a_text_cut_short_loses_the_start_of_a_spelling)
{
    redactor *r = with_key();
    char *enc = b64(KEY ":", 0, 1);
    char text[256];
    snprintf(text, sizeof(text), "{\"authorization\":\"Basic %.12s", enc);
    char *out = redact_text(r, text, strlen(text), 1);
    char start[13];
    snprintf(start, sizeof(start), "%.12s", enc);
    cr_assert_null(strstr(out, start), "%s", out);
    cr_assert_str_eq(out, "{\"authorization\":\"Basic " REDACT_MARK);
    char *whole = redact_text(r, text, strlen(text), 0);
    cr_assert_str_eq(whole, text, "not cut: a prefix alone is not a secret");
    free(whole);
    free(out);
    free(enc);
    redact_free(r);
}

Test(redact, credential_secrets_and_short_values)
{
    credential cred = {.name = "c",
                       .kind = CREDENTIAL_OAUTH,
                       .secret = "access-tok-123456",
                       .oauth = {.refresh_token = "refresh-tok-654321", .client_secret = "client-sec-777"}};
    redactor *r = redact_new();
    cr_assert_eq(redact_add_credential(r, &cred), 0);
    cr_assert_eq(redact_add(r, "abc"), 0); /* too short: ignored */
    cr_assert_eq(redact_add(r, NULL), 0);
    const char *text = "grant refresh-tok-654321 secret client-sec-777 Bearer access-tok-123456 abc";
    char *out = redact_text(r, text, strlen(text), 0);
    cr_assert_str_eq(out, "grant " REDACT_MARK " secret " REDACT_MARK " Bearer " REDACT_MARK " abc");
    free(out);
    cr_assert_gt(redact_count(r), 3);
    redact_free(r);
}

Test(redact, buffer_and_failed_redactor)
{
    redactor *r = with_key();
    char buf[32] = "key=" KEY;
    redact_buf(r, buf, sizeof(buf));
    cr_assert_str_eq(buf, "key=" REDACT_MARK);
    redact_free(r);

    char *out = redact_text(NULL, "anything", 8, 0);
    cr_assert_str_eq(out, REDACT_MARK, "no redactor: fail closed");
    free(out);
}
