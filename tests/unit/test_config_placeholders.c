/* test_config_placeholders: a config still holding an example's placeholder
 * ("outcome_REPLACE_WITH_…") must be refused at load, each one named by file,
 * line and key, unless the caller allows placeholders (trying an example). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ERR_LEN 4096

/* Line 1 is the comment; the placeholders are on lines 6 and 8. */
static const char placeholder_config[] =
    "// outcome_REPLACE_WITH_IN_A_COMMENT is not a value\n"
    "{\"credentials\": {\"close\": {\"api_key\": \"env:PHTEST_CLOSE_KEY\"}},\n"
    " \"routes\": [{\"name\": \"notes\", \"source\": \"generic\",\n"
    "   \"secret\": \"env:PHTEST_SECRET\", \"credential\": \"close\",\n"
    "   \"rules\": [{\"event\": \"a\", \"outcome_id\": \"outcome_real\"},\n"
    "             {\"event\": \"b\", \"outcome_id\": \"outcome_REPLACE_WITH_YOUR_NO_SHOW_ID\"},\n"
    "             {\"event\": \"c\",\n"
    "              \"outcome_id\": \"outcome_REPLACE_WITH_YOUR_HELD_ID\"}]}]}\n";

static char path[64];

static void write_config(void)
{
    setenv("PHTEST_CLOSE_KEY", "api_placeholder_test_key", 1);
    setenv("PHTEST_SECRET", "placeholder-test-secret", 1);
    strcpy(path, "/tmp/closehook_ph_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t len = strlen(placeholder_config);
    cr_assert_eq(write(fd, placeholder_config, len), (ssize_t)len);
    close(fd);
}

static void expect_line(const char *err, const char *fmt, const char *arg)
{
    char want[256];
    snprintf(want, sizeof(want), fmt, arg);
    cr_assert(strstr(err, want) != NULL, "expected \"%s\" in:\n%s", want, err);
}

Test(config_placeholders, refused_with_file_line_and_key)
{
    write_config();
    char err[ERR_LEN];
    config *cfg = config_load(path, err, sizeof(err));
    unlink(path);
    cr_assert_null(cfg, "a config with placeholders loaded");
    cr_log_info("%s", err);
    expect_line(err,
                "%s:6: routes[0].rules[1].outcome_id: \"outcome_REPLACE_WITH_YOUR_NO_SHOW_ID\" is a "
                "placeholder: put the real id from Close there",
                path);
    expect_line(err, "%s:8: routes[0].rules[2].outcome_id: \"outcome_REPLACE_WITH_YOUR_HELD_ID\"", path);
    expect_line(err, "%s", "--allow-placeholders");
    cr_assert_null(strstr(err, "IN_A_COMMENT"), "a comment was taken for a value:\n%s", err);
    cr_assert_null(strstr(err, "outcome_real"), "a real id was reported:\n%s", err);
}

Test(config_placeholders, accepted_and_counted_when_allowed)
{
    write_config();
    char err[ERR_LEN];
    config *cfg = config_load_mode(path, CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL, err, sizeof(err));
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nplaceholders, 2);
    char want[128];
    snprintf(want, sizeof(want), "%s:6: routes[0].rules[1].outcome_id", path);
    cr_assert_str_eq(cfg->placeholder_first, want);
    config_free(cfg);
}

Test(config_placeholders, other_errors_still_reported_beside_them)
{
    write_config();
    unsetenv("PHTEST_CLOSE_KEY"); /* the credential is absent now: an error of its own */
    char err[ERR_LEN];
    config *cfg = config_load(path, err, sizeof(err));
    unlink(path);
    cr_assert_null(cfg);
    cr_assert(strstr(err, "is a placeholder") != NULL, "%s", err);
    cr_assert(strstr(err, "PHTEST_CLOSE_KEY") != NULL, "%s", err);
}

/* Any string value counts, not only ids; the advice then names no Close id. */
Test(config_placeholders, any_string_value_and_its_key)
{
    setenv("PHTEST_CLOSE_KEY", "api_placeholder_test_key", 1);
    strcpy(path, "/tmp/closehook_ph_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    static const char text[] = "{\"store\": {\"path\": \"/var/lib/REPLACE_WITH_A_DIR/q.db\"},\n"
                               " \"credentials\": {\"close\": {\"api_key\": \"env:PHTEST_CLOSE_KEY\"}},\n"
                               " \"routes\": []}\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[ERR_LEN];
    config *cfg = config_load(path, err, sizeof(err));
    unlink(path);
    cr_assert_null(cfg);
    expect_line(err,
                "%s:1: store.path: \"/var/lib/REPLACE_WITH_A_DIR/q.db\" is a placeholder: put the real value",
                path);
}

/* The shipped example is what placeholders are for: refused as it is, loaded
 * when allowed (as run-example.sh runs it). */
Test(config_placeholders, shipped_example)
{
    static const char *const env[] = {"ZOOM_WEBHOOK_SECRET",  "NOTETAKER_WEBHOOK_SECRET",
                                      "CALENDLY_SIGNING_KEY", "GRAPH_CLIENT_STATE",
                                      "GOOGLE_CHANNEL_TOKEN", NULL};
    for (size_t i = 0; env[i] != NULL; i++)
        setenv(env[i], "example-secret-value", 1);
    setenv("RECORDER_WEBHOOK_SECRET", "whsec_ZXhhbXBsZS1yZWNvcmRlci1rZXk=", 1);
    const char *example = SAMPLES_DIR "/../../config/closehook.example.json";
    char err[ERR_LEN];
    cr_assert_null(config_load_mode(example, CONFIG_LOAD_ALLOW_ABSENT, NULL, err, sizeof(err)));
    cr_assert(strstr(err, ".outcome_id: \"outcome_REPLACE_WITH_") != NULL, "%s", err);
    cr_assert(strstr(err, ".activity_id: \"acti_REPLACE_WITH_") != NULL, "%s", err);
    cr_assert_null(strstr(err, "oa2client_REPLACE_WITH"), "the commented-out credential was read:\n%s", err);
    config *cfg = config_load_mode(example, CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL,
                                   err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nplaceholders, 6);
    config_free(cfg);
}
