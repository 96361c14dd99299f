/* Tests for try: one sample through a route's source and rules, dry. */
#include <criterion/criterion.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "signature.h"
#include "try.h"

static const char config_text[] =
    "{\"store\":{\"path\":\"/tmp/closehook-test-try.db\"},"
    " \"credentials\":{\"close\":{\"api_key\":\"env:TRY_TEST_UNSET_KEY\"}},"
    " \"routes\":[{\"name\":\"notetaker\",\"source\":\"generic\",\"secret\":\"env:TRY_TEST_SECRET\","
    "  \"credential\":\"close\",\"activity_id_path\":\"close.activity_id\",\"dedup_path\":\"id\","
    "  \"rules\":[{\"event\":\"call_outcome\",\"when\":{\"outcome\":\"no_show\"},"
    "   \"outcome_id\":\"outcome_noshow\",\"note\":\"<p>{{notes}}</p>\"}]}]}";

static config *cfg;
static char config_path[] = "/tmp/closehook-try-XXXXXX";
static const char *sample = SAMPLES_DIR "/generic/outcome.json";

static void setup(void)
{
    setenv("TRY_TEST_SECRET", "try-secret-value", 1);
    int fd = mkstemp(config_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, config_text, strlen(config_text)), (ssize_t)strlen(config_text));
    close(fd);
    char err[1024];
    cfg = config_load_mode(config_path, CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_NO_SECRETS, "notetaker", err,
                           sizeof(err)); /* as `closehook try` loads it */
    cr_assert_not_null(cfg, "%s", err);
}

static void teardown(void)
{
    config_free(cfg);
    unlink(config_path);
}

/* The sample's signature header, computed independently of signature.c. */
static void sign_sample(char *header, size_t len)
{
    FILE *f = fopen(sample, "rb");
    cr_assert_not_null(f);
    char body[4096];
    size_t n = fread(body, 1, sizeof(body), f);
    fclose(f);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), "try-secret-value", 16, (unsigned char *)body, n, mac, &mac_len);
    char hex[65];
    signature_hex(mac, 32, hex);
    snprintf(header, len, "sha256=%s", hex);
}

static char *run(const try_header *headers, size_t n, const char *route, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    const try_input in = {
        .route_name = route, .sample_path = sample, .headers = headers, .nheaders = n, .now = time(NULL)};
    *rc = try_sample(cfg, &in, out);
    fclose(out);
    return text;
}

Test(try, signed_sample_prints_the_matched_rule_and_the_exact_put, .init = setup, .fini = teardown)
{
    char sig[80];
    sign_sample(sig, sizeof(sig));
    try_header h[] = {{"X-Signature-256", sig}};
    int rc;
    char *text = run(h, 1, "notetaker", &rc);
    cr_expect_eq(rc, 0, "%s", text);
    cr_expect(strstr(text, "verification: ok") != NULL, "%s", text);
    cr_expect(strstr(text, "matched rules[0] (event \"call_outcome\")") != NULL, "%s", text);
    cr_expect(strstr(text, "PUT https://api.close.com/api/v1/activity/meeting/"
                           "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb/") != NULL,
              "%s", text);
    cr_expect(strstr(text,
                     "{\"outcome_id\":\"outcome_noshow\",\"user_note_html\":\"<p>Prospect did not join. "
                     "Sent reschedule link &lt;2 min&gt; after start.</p>\"}") != NULL,
              "%s", text);
    cr_expect_null(strstr(text, "try-secret-value"), "the secret must never be printed");
    free(text);
}

Test(try, unsigned_sample_reports_why_it_would_be_refused, .init = setup, .fini = teardown)
{
    int rc;
    char *text = run(NULL, 0, "notetaker", &rc);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(text, "verification: FAILED: ") != NULL, "%s", text);
    cr_expect(strstr(text, "(answered 401)") != NULL, "%s", text);
    cr_expect(strstr(text, "matched rules[0]") != NULL, "the rules still run for debugging: %s", text);
    free(text);
}

Test(try, unknown_route_is_a_usage_error, .init = setup, .fini = teardown)
{
    int rc;
    char *text = run(NULL, 0, "nope", &rc);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(text, "no route named \"nope\"") != NULL, "%s", text);
    free(text);
}
