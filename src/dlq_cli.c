/* dlq_cli: `closehook dlq`, the operator's commands on dead letters, moved
 * out of main.c so they can be unit-tested with their own out/err streams.
 * See dlq_cli.h for the contract. */
#include "dlq_cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "cli.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "update.h"

/* The table shows this much of an error (about what is left of an 80-column
 * terminal after id, route, attempts and age); `dlq show` prints all of it. */
#define DLQ_ERROR_EXCERPT 48

typedef struct dlq_args {
    const char *action, *config_path, *route, *older_than;
    int as_json, all;
    int64_t id, older_than_ms;
    FILE *out, *err; /* results and help; errors */
} dlq_args;

/* The one problem, not the whole usage text: it would bury the message. */
static int dlq_usage_error(const dlq_args *a, const char *what)
{
    fprintf(a->err, "closehook dlq: %s (see closehook help)\n", what);
    return 2;
}

/* A row id as the operator typed it: digits only, positive. */
static int64_t dlq_parse_id(const char *s)
{
    char *end = NULL;
    long long id = strtoll(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && *end == '\0' && id > 0 ? (int64_t)id : -1;
}

/* 0 when argv is a valid dlq command line, else the exit code (usage printed). */
static int dlq_parse(int argc, char **argv, dlq_args *a)
{
    FILE *out = a->out, *err = a->err;
    memset(a, 0, sizeof(*a));
    a->out = out;
    a->err = err;
    a->action = argc >= 2 ? argv[1] : "";
    if (strcmp(a->action, "--help") == 0 || strcmp(a->action, "-h") == 0)
        return cli_usage(a->out, "dlq", -1); /* -1: done, exit 0 */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            a->config_path = argv[++i];
        else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc)
            a->route = argv[++i];
        else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc)
            a->older_than = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            a->as_json = 1;
        else if (strcmp(argv[i], "--all") == 0)
            a->all = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return cli_usage(a->out, "dlq", -1); /* -1: done, exit 0 */
        else if (a->id == 0 && (a->id = dlq_parse_id(argv[i])) > 0)
            continue;
        else
            return dlq_usage_error(a, argv[i][0] == '-' ? "unknown option" : "ID must be a row id (digits)");
    }
    int list = strcmp(a->action, "list") == 0, show = strcmp(a->action, "show") == 0;
    int replay = strcmp(a->action, "replay") == 0, purge = strcmp(a->action, "purge") == 0;
    if (!list && !show && !replay && !purge)
        return dlq_usage_error(a, "the action is list, show, replay or purge");
    if (a->config_path == NULL)
        return dlq_usage_error(a, "--config FILE is required");
    if ((list || purge) && (a->id > 0 || a->all))
        return dlq_usage_error(a, "list and purge take no ID or --all");
    if (show && (a->id <= 0 || a->all || a->route))
        return dlq_usage_error(a, "show takes one ID");
    if (replay && (a->id > 0) == (a->all != 0))
        return dlq_usage_error(a, "replay takes an ID or --all");
    if (!purge && a->older_than)
        return dlq_usage_error(a, "--older-than belongs to purge");
    if (purge && (a->older_than == NULL || admin_parse_duration(a->older_than, &a->older_than_ms) != 0))
        return dlq_usage_error(a, "purge needs --older-than D, D like 30d, 12h, 90m or 3600s");
    return 0;
}

static void format_age(int64_t ms, char *out, size_t len)
{
    long long s = ms > 0 ? ms / 1000 : 0;
    if (s < 120)
        snprintf(out, len, "%llds", s);
    else if (s < 2 * 3600)
        snprintf(out, len, "%lldm", s / 60);
    else if (s < 2 * 86400)
        snprintf(out, len, "%lldh", s / 3600);
    else
        snprintf(out, len, "%lldd", s / 86400);
}

/* The error on one table line: control characters (Close's bodies may hold
 * newlines) become spaces, and a cut never splits a UTF-8 character. */
static void error_excerpt(const char *error, char *out, size_t cap)
{
    size_t len = error ? strlen(error) : 0, n = len < cap - 4 ? len : cap - 4;
    while (n < len && n > 0 && ((unsigned char)error[n] & 0xC0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)error[i] < 0x20 ? ' ' : error[i];
    strcpy(out + n, n < len ? "..." : "");
}

typedef struct dlq_listing {
    yajl_gen g; /* NULL: the text table */
    FILE *out;
    long count;
    int64_t now_ms;
} dlq_listing;

static int64_t wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_dead_row(const queue_row *row, const char *last_error, void *arg)
{
    dlq_listing *l = arg;
    if (l->g != NULL) {
        admin_gen_dead_row(l->g, row, last_error, l->now_ms);
    } else {
        char age[24], excerpt[DLQ_ERROR_EXCERPT + 4];
        format_age(l->now_ms - row->created_at, age, sizeof(age));
        error_excerpt(last_error, excerpt, sizeof(excerpt));
        if (l->count == 0)
            fprintf(l->out, "%-8s %-16s %8s %6s  %s\n", "ID", "ROUTE", "ATTEMPTS", "AGE", "ERROR");
        fprintf(l->out, "%-8lld %-16s %8d %6s  %s\n", (long long)row->id, row->route, row->attempts, age,
                excerpt);
    }
    l->count++;
}

/* Prints g's document and frees g. */
static void print_document(FILE *out, yajl_gen g)
{
    char *text = json_gen_take(g, NULL);
    fprintf(out, "%s\n", text ? text : "null");
    free(text);
    yajl_gen_free(g);
}

static int dlq_list(queue *q, const dlq_args *a)
{
    dlq_listing l = {.g = a->as_json ? json_gen_new() : NULL, .out = a->out, .now_ms = wall_clock_ms()};
    if (l.g != NULL)
        yajl_gen_array_open(l.g);
    int rc = queue_list_dead(q, a->route, print_dead_row, &l);
    if (l.g != NULL) {
        yajl_gen_array_close(l.g);
        print_document(a->out, l.g);
    } else if (rc == 0 && l.count == 0) {
        fprintf(a->out, "no dead letters%s%s\n", a->route ? " for route " : "", a->route ? a->route : "");
    }
    return rc == 0 ? 0 : 1;
}

/* The stored update as an operator reads it: which meeting, what PUT. */
static void print_update(FILE *out, const char *payload)
{
    close_update u = {0};
    char why[256];
    if (update_parse(payload, strlen(payload), &u, why, sizeof(why)) != 0) {
        fprintf(out, "%-12s %s\n", "payload", payload);
        return;
    }
    const struct {
        const char *label, *value;
    } lookup[] = {{"zoom id", u.zoom_meeting_id},       {"join url", u.join_url},
                  {"calendar id", u.calendar_event_id}, {"ical uid", u.ical_uid},
                  {"start time", u.start_time},         {"calendar", u.calendar_type}};
    fprintf(out, "%-12s %s\n", "activity", u.activity_id ? u.activity_id : "(found by lookup)");
    for (size_t i = 0; i < sizeof(lookup) / sizeof(lookup[0]); i++)
        if (lookup[i].value != NULL)
            fprintf(out, "%-12s %s\n", lookup[i].label, lookup[i].value);
    for (size_t i = 0; i < u.nattendee_emails; i++)
        fprintf(out, "%-12s %s\n", i == 0 ? "attendees" : "", u.attendee_emails[i]);
    fprintf(out, "%-12s %s / %s, rule %d\n", "event", u.sender ? u.sender : "?",
            u.event_type ? u.event_type : "?", u.rule_index);
    fprintf(out, "%-12s %s\n", "note mode", u.note_mode == NOTE_APPEND ? "append" : "replace");
    fprintf(out, "%-12s %s\n", "PUT body", u.body_json ? u.body_json : "{}");
    update_clear(&u);
}

static int dlq_show(queue *q, const dlq_args *a)
{
    queue_row row;
    const char *state;
    char *error;
    int found = queue_get(q, a->id, &row, &state, &error);
    if (found <= 0) {
        fprintf(a->err, "closehook dlq: %s %lld\n", found == 0 ? "no row" : "store error reading row",
                (long long)a->id);
        return 1;
    }
    int64_t now = wall_clock_ms();
    if (a->as_json) {
        yajl_gen g = json_gen_new();
        admin_gen_row_detail(g, &row, state, error, now);
        print_document(a->out, g);
    } else {
        char age[24], created[32] = "?";
        time_t secs = (time_t)(row.created_at / 1000);
        struct tm tm;
        if (gmtime_r(&secs, &tm) != NULL)
            strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        format_age(now - row.created_at, age, sizeof(age));
        fprintf(a->out, "%-12s %lld\n%-12s %s\n%-12s %s\n%-12s %s\n%-12s %d\n%-12s %s (%s ago)\n", "id",
                (long long)row.id, "state", state, "route", row.route, "credential", row.credential,
                "attempts", row.attempts, "created", created, age);
        if (row.dedup_key != NULL)
            fprintf(a->out, "%-12s %s\n", "dedup key", row.dedup_key);
        fprintf(a->out, "%-12s %s\n", "error", error ? error : "(none)");
        print_update(a->out, row.payload);
    }
    queue_row_clear(&row);
    free(error);
    return 0;
}

/* Why replaying one id changed nothing: it is gone, or not dead. */
static void explain_not_dead(const dlq_args *a, queue *q, int64_t id)
{
    queue_row row;
    const char *state;
    char *error;
    int found = queue_get(q, id, &row, &state, &error);
    if (found == 1)
        fprintf(a->err, "closehook dlq: row %lld is %s, not a dead letter\n", (long long)id, state);
    else
        fprintf(a->err, "closehook dlq: no row %lld\n", (long long)id);
    if (found == 1) {
        queue_row_clear(&row);
        free(error);
    }
}

/* replay and purge: one count, as text or JSON. */
static int dlq_change(queue *q, const dlq_args *a)
{
    int replay = strcmp(a->action, "replay") == 0;
    long n = replay ? queue_replay(q, a->all ? 0 : a->id, a->route)
                    : queue_purge_dead(q, a->older_than_ms, a->route);
    if (n < 0) {
        fprintf(a->err, "closehook dlq: the store failed; see the log above\n");
        return 1;
    }
    if (replay && !a->all && n == 0) {
        explain_not_dead(a, q, a->id);
        return 1;
    }
    const char *what = replay ? "replayed" : "purged";
    if (a->as_json) {
        yajl_gen g = json_gen_new();
        yajl_gen_map_open(g);
        json_gen_kv_int(g, what, n);
        yajl_gen_map_close(g);
        print_document(a->out, g);
    } else {
        fprintf(a->out, "%s %ld\n", what, n);
    }
    return 0;
}

int dlq_cli_run(int argc, char **argv, FILE *out, FILE *err)
{
    dlq_args a = {.out = out, .err = err};
    int rc = dlq_parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    /* dlq reads the store only: the daemon's config, placeholders and all. */
    config *cfg =
        cli_load_config(a.config_path, CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL, err);
    if (cfg == NULL)
        return 1;
    char why[512];
    queue *q = queue_open(cfg->store_path, why, sizeof(why));
    if (q == NULL) {
        fprintf(err, "closehook dlq: %s\n", why);
        rc = 1;
    } else if (strcmp(a.action, "list") == 0) {
        rc = dlq_list(q, &a);
    } else if (strcmp(a.action, "show") == 0) {
        rc = dlq_show(q, &a);
    } else {
        rc = dlq_change(q, &a);
    }
    queue_close(q);
    config_free(cfg);
    log_forget_secrets();
    return rc;
}
