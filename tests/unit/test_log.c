/* Tests for log.c: each line is one JSON object, and a flood of one warning
 * is cut to a burst a second with the rest counted, not lost silently. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

/* Runs fn with stderr captured; returns the text (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    cr_assert_eq(pread(fd, text, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return text;
}

static const char FLOOD_MSG[] = "verification failed";

static void flood(void)
{
    for (int i = 0; i < 1000; i++)
        log_write(LOG_WARN, FLOOD_MSG, "route", "zoom", NULL);
    time_t start = time(NULL);
    while (time(NULL) == start)
        usleep(10000);
    log_write(LOG_WARN, FLOOD_MSG, "route", "zoom", NULL);
    log_write(LOG_ERROR, "an error is never dropped", NULL);
}

Test(log, a_flood_of_one_warning_is_cut_and_counted)
{
    char *text = capture(flood);
    long lines = 0, suppressed = 0, errors = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char err[128];
        yajl_val v = json_parse(line, strlen(line), err, sizeof(err));
        cr_assert_not_null(v, "not JSON: %s (%s)", line, err);
        const char *msg = json_scalar(json_member(v, "msg"));
        if (strcmp(msg, FLOOD_MSG) == 0) {
            lines++;
            yajl_val n = json_member(v, "suppressed");
            if (n != NULL) {
                cr_expect(YAJL_IS_INTEGER(n), "suppressed is a JSON number");
                suppressed += YAJL_GET_INTEGER(n);
            }
        } else {
            errors++;
        }
        yajl_tree_free(v);
    }
    cr_expect(lines <= 3 * 20 + 1, "%ld lines written for 1001 warnings", lines);
    cr_expect_eq(lines + suppressed, 1001, "every warning written or counted: %ld + %ld", lines, suppressed);
    cr_expect_eq(errors, 1);
    free(text);
}

static void typed(void)
{
    log_write(LOG_INFO, "typed", "route", "zoom", LOG_INT("id", 42), LOG_INT("big", 9007199254740993LL),
              LOG_BOOL("dry_run", 0), LOG_DOUBLE("ms", 1.23456), LOG_DOUBLE("nan", NAN), "none", NULL, NULL);
}

Test(log, typed_fields_keep_their_json_type)
{
    char *text = capture(typed);
    char err[128];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "%s: %s", text, err);
    cr_expect(YAJL_IS_STRING(json_member(v, "route")));
    cr_expect(YAJL_IS_INTEGER(json_member(v, "id")) && YAJL_GET_INTEGER(json_member(v, "id")) == 42, "%s",
              text);
    cr_expect(YAJL_GET_INTEGER(json_member(v, "big")) == 9007199254740993LL, "%s", text);
    cr_expect(YAJL_IS_FALSE(json_member(v, "dry_run")), "%s", text);
    cr_expect(YAJL_IS_NULL(json_member(v, "none")), "%s", text);
    cr_expect(strstr(text, "\"ms\":1.235") != NULL, "three decimals, as a number: %s", text);
    cr_expect(YAJL_IS_NULL(json_member(v, "nan")), "%s", text);
    yajl_tree_free(v);
    free(text);
}
