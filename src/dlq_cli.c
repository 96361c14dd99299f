/* dlq_cli: `closehook dlq`, the operator's commands on dead letters, moved
 * out of main.c so they can be unit-tested with their own out/err streams.
 * See dlq_cli.h for the contract. */
#include "dlq_cli.h"

#include <getopt.h>
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

typedef enum dlq_action { DLQ_NONE, DLQ_LIST, DLQ_SHOW, DLQ_REPLAY, DLQ_PURGE } dlq_action;

typedef struct dlq_args {
    dlq_action action;
    const char *config_path, *route, *older_than;
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

static dlq_action dlq_parse_action(const char *word)
{
    static const char *const names[] = {"list", "show", "replay", "purge"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(word, names[i]) == 0)
            return (dlq_action)(DLQ_LIST + i);
    return DLQ_NONE;
}

static const struct option dlq_options[] = {{"config", required_argument, NULL, 'c'},
                                            {"route", required_argument, NULL, 'r'},
                                            {"older-than", required_argument, NULL, 'o'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"all", no_argument, NULL, 'a'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

/* The words after the action, in the order given ("-" in the optstring: an
 * ID comes back as option 1 where it stands, so the first problem is the one
 * reported, and POSIXLY_CORRECT changes nothing). 0, -1 (help printed) or 2. */
static int dlq_parse_options(int argc, char **argv, dlq_args *a)
{
    cli_getopt_reset();
    for (int c; (c = getopt_long(argc, argv, "-:h", dlq_options, NULL)) != -1;) {
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'r':
            a->route = optarg;
            break;
        case 'o':
            a->older_than = optarg;
            break;
        case 'j':
            a->as_json = 1;
            break;
        case 'a':
            a->all = 1;
            break;
        case 'h':
            return cli_usage(a->out, "dlq", -1); /* -1: done, exit 0 */
        case 1:
            if (a->id == 0 && (a->id = dlq_parse_id(optarg)) > 0)
                break;
            return dlq_usage_error(a, "ID must be a row id (digits)");
        default: /* '?' unknown, ':' its value missing */
            return dlq_usage_error(a, "unknown option");
        }
    }
    /* Words after a "--" were never options or an ID here. */
    return optind < argc ? dlq_usage_error(a, "unknown option") : 0;
}

/* Whether the options fit the action; 0 or 2 (the problem printed). */
static int dlq_check(dlq_args *a)
{
    dlq_action act = a->action;
    if (act == DLQ_NONE)
        return dlq_usage_error(a, "the action is list, show, replay or purge");
    if (a->config_path == NULL)
        return dlq_usage_error(a, "--config FILE is required");
    if ((act == DLQ_LIST || act == DLQ_PURGE) && (a->id > 0 || a->all))
        return dlq_usage_error(a, "list and purge take no ID or --all");
    if (act == DLQ_SHOW && (a->id <= 0 || a->all || a->route))
        return dlq_usage_error(a, "show takes one ID");
    if (act == DLQ_REPLAY && (a->id > 0) == (a->all != 0))
        return dlq_usage_error(a, "replay takes an ID or --all");
    if (act != DLQ_PURGE && a->older_than)
        return dlq_usage_error(a, "--older-than belongs to purge");
    if (act == DLQ_PURGE &&
        (a->older_than == NULL || admin_parse_duration(a->older_than, &a->older_than_ms) != 0))
        return dlq_usage_error(a, "purge needs --older-than D, D like 30d, 12h, 90m or 3600s");
    return 0;
}

/* 0 when argv is a valid dlq command line, else the exit code (-1: help
 * printed, exit 0). argv[1] is the action; getopt sees it as argv[0]. */
static int dlq_parse(int argc, char **argv, dlq_args *a)
{
    const char *word = argc >= 2 ? argv[1] : "";
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
        return cli_usage(a->out, "dlq", -1);
    int rc = argc >= 2 ? dlq_parse_options(argc - 1, argv + 1, a) : 0;
    if (rc != 0)
        return rc;
    a->action = dlq_parse_action(word);
    return dlq_check(a);
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
    } lookup[] = {{"zoom id", u.keys.zoom_meeting_id},       {"join url", u.keys.join_url},
                  {"calendar id", u.keys.calendar_event_id}, {"ical uid", u.keys.ical_uid},
                  {"start time", u.keys.start_time},         {"calendar", u.keys.calendar_type}};
    fprintf(out, "%-12s %s\n", "activity", u.activity_id ? u.activity_id : "(found by lookup)");
    for (size_t i = 0; i < sizeof(lookup) / sizeof(lookup[0]); i++)
        if (lookup[i].value != NULL)
            fprintf(out, "%-12s %s\n", lookup[i].label, lookup[i].value);
    for (size_t i = 0; i < u.keys.nattendee_emails; i++)
        fprintf(out, "%-12s %s\n", i == 0 ? "attendees" : "", u.keys.attendee_emails[i]);
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
    int replay = a->action == DLQ_REPLAY;
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
    queue *q = queue_open(cfg->store.path, why, sizeof(why));
    if (q == NULL) {
        fprintf(err, "closehook dlq: %s\n", why);
        rc = 1;
    } else if (a.action == DLQ_LIST) {
        rc = dlq_list(q, &a);
    } else if (a.action == DLQ_SHOW) {
        rc = dlq_show(q, &a);
    } else {
        rc = dlq_change(q, &a);
    }
    queue_close(q);
    config_free(cfg);
    log_forget_secrets();
    return rc;
}
