/* Tests for dlq_cli: `closehook dlq` driven through dlq_cli_run on a real
 * store in a temporary directory, with out and err captured. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlq_cli.h"
#include "queue_fixture.h"

static char config_path[160];

/* A config whose store is the fixture's: dlq loads it without secrets. */
static void setup(void)
{
    queue_fixture_setup();
    snprintf(config_path, sizeof(config_path), "%s/closehook.json", queue_fixture_dir);
    FILE *f = fopen(config_path, "w");
    cr_assert_not_null(f);
    fprintf(
        f,
        "{\"store\":{\"path\":\"%s\"},"
        " \"credentials\":{\"close\":{\"api_key\":\"env:DLQ_CLI_TEST_UNSET\"}},"
        " \"routes\":[{\"name\":\"notetaker\",\"source\":\"generic\",\"secret\":\"env:DLQ_CLI_TEST_UNSET\","
        "  \"credential\":\"close\",\"activity_id_path\":\"close.activity_id\","
        "  \"rules\":[{\"event\":\"call_outcome\",\"outcome_id\":\"outcome_noshow\"}]}]}",
        queue_fixture_path);
    fclose(f);
}

static void teardown(void)
{
    unlink(config_path);
    queue_fixture_teardown();
}

typedef struct run_result {
    int rc;
    char *out, *err;
} run_result;

static run_result last;

/* Runs `closehook dlq WORDS... --config FILE` (with_config) or exactly
 * `closehook dlq WORDS...`; the NULL-terminated words follow "dlq". */
static run_result run_argv(int with_config, const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "dlq";
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w != NULL; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    va_end(ap);
    if (with_config) {
        argv[argc++] = "--config";
        argv[argc++] = config_path;
    }
    argv[argc] = NULL;
    free(last.out);
    free(last.err);
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&last.out, &olen), *err = open_memstream(&last.err, &elen);
    cr_assert(out != NULL && err != NULL);
    last.rc = dlq_cli_run(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return last;
}

#define RUN(...) run_argv(1, __VA_ARGS__, NULL)
#define RUN_BARE(...) run_argv(0, __VA_ARGS__, NULL)

/* Two dead rows on notetaker and one on other; the store closed again. */
static int64_t dead[3];
static void make_dead_rows(void)
{
    queue *q = open_store();
    dead[0] = make_dead(q, "notetaker", "k1", "HTTP 404: {\"error\":\"no such\nactivity\"}");
    dead[1] = make_dead(q, "notetaker", "k2", "HTTP 400: bad outcome");
    dead[2] = make_dead(q, "other", "k3", "HTTP 401");
    queue_close(q);
}

/* The row's state, or "missing" when the store has no such row. */
static const char *state_of(int64_t id)
{
    queue *q = open_store();
    queue_row row;
    const char *state = NULL;
    char *error = NULL;
    int found = queue_get(q, id, &row, &state, &error);
    cr_assert_geq(found, 0, "queue_get %lld", (long long)id);
    if (found == 1) {
        queue_row_clear(&row);
        free(error);
    }
    queue_close(q);
    return found == 1 ? state : "missing";
}

static void expect(int rc, const char *out, const char *err)
{
    cr_expect_eq(last.rc, rc, "rc %d, stdout '%s', stderr '%s'", last.rc, last.out, last.err);
    if (out != NULL)
        cr_expect_str_eq(last.out, out);
    if (err != NULL)
        cr_expect_str_eq(last.err, err);
}

TestSuite(dlq_cli, .init = setup, .fini = teardown);

Test(dlq_cli, list_text_table_one_line_per_dead_row)
{
    make_dead_rows();
    RUN("list");
    expect(0, NULL, "");
    char line[160];
    snprintf(line, sizeof(line), "%-8s %-16s %8s %6s  %s\n", "ID", "ROUTE", "ATTEMPTS", "AGE", "ERROR");
    cr_expect(strncmp(last.out, line, strlen(line)) == 0, "header: %s", last.out);
    /* The newline in Close's answer becomes a space: one row, one line. */
    snprintf(line, sizeof(line), "%-8lld %-16s %8d %6s  %s\n", (long long)dead[0], "notetaker", 1, "0s",
             "HTTP 404: {\"error\":\"no such activity\"}");
    cr_expect_not_null(strstr(last.out, line), "row line '%s' in:\n%s", line, last.out);
    int lines = 0;
    for (const char *p = last.out; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 4, "header and three rows:\n%s", last.out);

    RUN("list", "--route", "other");
    expect(0, NULL, "");
    cr_expect_null(strstr(last.out, "notetaker"), "%s", last.out);
    cr_expect_not_null(strstr(last.out, "HTTP 401"), "%s", last.out);
}

Test(dlq_cli, list_empty_says_so)
{
    RUN("list");
    expect(0, "no dead letters\n", "");
    RUN("list", "--route", "other");
    expect(0, "no dead letters for route other\n", "");
    RUN("list", "--json");
    expect(0, "[]\n", "");
}

Test(dlq_cli, list_json_is_one_array)
{
    make_dead_rows();
    RUN("list", "--json", "--route", "notetaker");
    expect(0, NULL, "");
    cr_expect(last.out[0] == '[' && strcmp(last.out + strlen(last.out) - 2, "]\n") == 0, "%s", last.out);
    char id[32];
    snprintf(id, sizeof(id), "\"id\":%lld", (long long)dead[1]);
    cr_expect_not_null(strstr(last.out, id), "%s", last.out);
    cr_expect_not_null(strstr(last.out, "\"route\":\"notetaker\""), "%s", last.out);
    cr_expect_null(strstr(last.out, "\"route\":\"other\""), "%s", last.out);
}

Test(dlq_cli, show_known_and_unknown_id)
{
    make_dead_rows();
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)dead[1]);
    RUN("show", id);
    expect(0, NULL, "");
    char want[64];
    snprintf(want, sizeof(want), "%-12s %s\n", "id", id);
    cr_expect(strncmp(last.out, want, strlen(want)) == 0, "%s", last.out);
    cr_expect_not_null(strstr(last.out, "state        dead\n"), "%s", last.out);
    cr_expect_not_null(strstr(last.out, "route        notetaker\n"), "%s", last.out);
    cr_expect_not_null(strstr(last.out, "error        HTTP 400: bad outcome\n"), "%s", last.out);
    cr_expect_not_null(strstr(last.out, "dedup key    k2\n"), "%s", last.out);

    RUN("show", id, "--json");
    expect(0, NULL, "");
    cr_expect_not_null(strstr(last.out, "\"state\":\"dead\""), "%s", last.out);

    RUN("show", "999999");
    expect(1, "", "closehook dlq: no row 999999\n");
}

Test(dlq_cli, replay_one_then_all_of_a_route)
{
    make_dead_rows();
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)dead[0]);
    RUN("replay", id);
    expect(0, "replayed 1\n", "");
    cr_expect_str_eq(state_of(dead[0]), "pending");

    char why[96];
    snprintf(why, sizeof(why), "closehook dlq: row %s is pending, not a dead letter\n", id);
    RUN("replay", id);
    expect(1, "", why);
    RUN("replay", "999999");
    expect(1, "", "closehook dlq: no row 999999\n");

    RUN("replay", "--all", "--route", "notetaker", "--json");
    expect(0, "{\"replayed\":1}\n", "");
    cr_expect_str_eq(state_of(dead[1]), "pending");
    cr_expect_str_eq(state_of(dead[2]), "dead", "--route kept other's row dead");
}

Test(dlq_cli, purge_by_age)
{
    make_dead_rows();
    RUN("purge", "--older-than", "30d");
    expect(0, "purged 0\n", "");
    RUN("purge", "--older-than", "0s", "--route", "other", "--json");
    expect(0, "{\"purged\":1}\n", "");
    cr_expect_str_eq(state_of(dead[2]), "missing");
    RUN("purge", "--older-than", "0s");
    expect(0, "purged 2\n", "");
    RUN("list");
    expect(0, "no dead letters\n", "");
}

/* Each mistake exits 2 with one line on stderr and nothing on stdout; the
 * calls follow each other in one process, so getopt's reset is exercised. */
Test(dlq_cli, usage_mistakes_exit_2_with_the_problem)
{
    static const struct {
        const char *a, *b, *message;
    } cases[] = {
        {"list", "--bogus", "unknown option"},
        {"show", NULL, "show takes one ID"},
        {"show", "abc", "ID must be a row id (digits)"},
        {"show", "0", "ID must be a row id (digits)"},
        {"show", "-5", "unknown option"},
        {"replay", NULL, "replay takes an ID or --all"},
        {"list", "--all", "list and purge take no ID or --all"},
        {"purge", NULL, "purge needs --older-than D, D like 30d, 12h, 90m or 3600s"},
        {"frobnicate", NULL, "the action is list, show, replay or purge"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        RUN(cases[i].a, cases[i].b);
        char want[160];
        snprintf(want, sizeof(want), "closehook dlq: %s (see closehook help)\n", cases[i].message);
        cr_expect_eq(last.rc, 2, "%s %s: rc %d", cases[i].a, cases[i].b ? cases[i].b : "", last.rc);
        cr_expect_str_eq(last.err, want, "%s %s", cases[i].a, cases[i].b ? cases[i].b : "");
        cr_expect_str_eq(last.out, "");
    }
    RUN("purge", "--older-than", "3 days");
    expect(2, "",
           "closehook dlq: purge needs --older-than D, D like 30d, 12h, 90m or 3600s (see closehook help)\n");
    RUN_BARE("list", "--json");
    expect(2, "", "closehook dlq: --config FILE is required (see closehook help)\n");
    RUN_BARE("list", "--config"); /* its value missing */
    expect(2, "", "closehook dlq: unknown option (see closehook help)\n");
    RUN_BARE("show", "--config", config_path, "1", "2");
    expect(2, "", "closehook dlq: ID must be a row id (digits) (see closehook help)\n");
}

Test(dlq_cli, help_on_stdout_exits_0)
{
    RUN_BARE("--help");
    expect(0, NULL, "");
    cr_expect(strncmp(last.out, "usage:\n  closehook dlq list --config FILE", 39) == 0, "%s", last.out);
    cr_expect_null(strstr(last.out, "closehook try"), "only dlq's part");
    RUN_BARE("show", "-h");
    expect(0, NULL, "");
    cr_expect_not_null(strstr(last.out, "closehook dlq purge"), "%s", last.out);
}

Test(dlq_cli, unloadable_config_exits_1)
{
    RUN_BARE("list", "--config", "/nonexistent/closehook.json");
    expect(1, "", NULL);
    cr_expect_not_null(strstr(last.err, "/nonexistent/closehook.json"), "%s", last.err);
}
