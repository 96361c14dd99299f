/* main: closehook's command line. `serve` wires the data path together
 * (config -> queue -> delivery -> server) and owns the process lifecycle; the
 * other subcommands are the operator's tools on the same config and store. */
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "config.h"
#include "delivery.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "reload.h"
#include "server.h"
#include "store_lock.h"
#include "try.h"
#include "update.h"

#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

/* Room for every config error at once; config_load reports them all. */
#define CONFIG_ERROR_CAP 8192

/* Each command's synopsis and description; `closehook help` prints them all,
 * `closehook CMD --help` (and a usage error) only CMD's. */
typedef struct command_help {
    const char *command;
    const char *text;
} command_help;

static const command_help help[] = {
    {"serve", "serve --config FILE [--dry-run] [--allow-placeholders] [--print-config]\n"
              "        run the daemon; --dry-run logs each Close PUT instead of sending it.\n"
              "        Without --dry-run every credential's secret must load, or serve refuses.\n"
              "        A value holding REPLACE_WITH (an example's placeholder id) is refused\n"
              "        unless --allow-placeholders (then logged as a warning).\n"
              "        SIGTERM drains and exits 0; SIGHUP reloads FILE (refused whole if invalid)\n"},
    {"check-config", "check-config FILE [--allow-placeholders] [--print-config]\n"
                     "        validate FILE, list every problem with its key; exit 0 when valid;\n"
                     "        --allow-placeholders accepts REPLACE_WITH placeholders (noted on stderr);\n"
                     "        --print-config shows the effective config, secrets only by reference\n"},
    {"dlq", "dlq list --config FILE [--route R] [--json]\n"
            "        list dead-lettered updates: id, route, attempts, age, Close's answer\n"},
    {"dlq", "dlq show --config FILE ID [--json]\n"
            "        one row in full: its error, the meeting it names and the PUT body\n"},
    {"dlq", "dlq replay --config FILE (ID | --all) [--route R] [--json]\n"
            "        put dead-lettered updates back in the queue (sent within a second\n"
            "        by a running daemon; attempts and age start over)\n"},
    {"dlq", "dlq purge --config FILE --older-than D [--route R] [--json]\n"
            "        delete dead letters older than D (D like 30d, 12h, 90m, 3600s)\n"},
    {"try", "try --config FILE --route R SAMPLE [--header \"K: V\"]... [--query Q] [--resolve]\n"
            "        dry-run one sample through the route: verification, the matching\n"
            "        rule and the exact PUT; nothing is stored or sent. --resolve also\n"
            "        looks the meeting up in Close (read-only GETs with the route's\n"
            "        credential) and names the meeting the PUT would go to\n"},
    {"version", "version\n"
                "        print the version\n"},
};

/* The command being run, so its --help and usage errors show only its part. */
static const char *current_command;

static int usage(FILE *out, int rc)
{
    fputs(current_command ? "usage:\n" : "usage: closehook <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
        if (current_command == NULL || strcmp(current_command, help[i].command) == 0)
            fprintf(out, "  closehook %s", help[i].text);
    return rc;
}

static config *load_config_mode_or_report(const char *path, unsigned flags, const char *only_route)
{
    char *err = calloc(1, CONFIG_ERROR_CAP);
    config *cfg = err ? config_load_mode(path, flags, only_route, err, CONFIG_ERROR_CAP) : NULL;
    if (cfg == NULL && err != NULL)
        fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    free(err);
    return cfg;
}

/* Placeholders allowed are still worth a word: updates naming them fail at Close. */
static void note_placeholders(const config *cfg, const char *command)
{
    if (cfg->nplaceholders == 0)
        return;
    char count[24];
    snprintf(count, sizeof(count), "%zu", cfg->nplaceholders);
    if (strcmp(command, "serve") == 0)
        log_write(LOG_WARN,
                  "config still holds placeholder values (--allow-placeholders); updates naming them "
                  "will fail at Close",
                  "placeholders", count, "first", cfg->placeholder_first, NULL);
    else
        fprintf(stderr,
                "closehook %s: note: %s placeholder value(s) accepted (--allow-placeholders), the first at "
                "%s; replace them before serving (without the flag every one is listed)\n",
                command, count, cfg->placeholder_first ? cfg->placeholder_first : "?");
}

/* ---- serve ---- */

typedef struct signal_waiter {
    sigset_t set;
    server *srv;
    reloader *reload;
} signal_waiter;

/* All signals of interest are blocked in every thread and taken here, so no
 * handler ever runs on an event loop or inside SQLite. */
static void *wait_for_signals(void *arg)
{
    signal_waiter *w = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&w->set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reloader_reload(w->reload);
            continue;
        }
        log_write(LOG_INFO, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
        server_stop(w->srv);
        return NULL;
    }
}

static int cmd_serve(int argc, char **argv)
{
    const char *config_path = NULL;
    int dry_run = 0, print_config = 0;
    unsigned flags = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"allow-placeholders", no_argument, NULL, 'a'},
                                         {"print-config", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "c:naph", opts, NULL)) != -1;) {
        if (c == 'c')
            config_path = optarg;
        else if (c == 'n')
            dry_run = 1;
        else if (c == 'a')
            flags |= CONFIG_LOAD_ALLOW_PLACEHOLDERS;
        else if (c == 'p')
            print_config = 1;
        else
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
    }
    if (config_path == NULL) {
        fprintf(stderr, "closehook serve: --config FILE is required\n");
        return 2;
    }
    if (dry_run)
        flags |= CONFIG_LOAD_ALLOW_ABSENT;
    config *cfg = load_config_mode_or_report(config_path, flags, NULL);
    if (cfg == NULL)
        return 1;
    if (print_config) {
        config_print(cfg);
        config_free(cfg);
        return 0;
    }
    log_set_level(cfg->log_level);
    note_placeholders(cfg, "serve");
    char version_label[32];
    snprintf(version_label, sizeof(version_label), "%s", CLOSEHOOK_VERSION);
    metrics_set("closehook_build_info", 1, METRIC_LABELS(version_label));

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread below */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int rc = 1;
    char err[512] = "";
    queue *q = NULL;
    delivery *d = NULL;
    server *srv = NULL;
    admin *adm = NULL;
    reloader *reload = NULL;
    if (store_lock_take(cfg->store_path, err, sizeof(err)) != 0) {
        log_write(LOG_ERROR, "refusing to start", "error", err, NULL);
        goto out;
    }
    if ((q = queue_open(cfg->store_path, err, sizeof(err))) == NULL) {
        log_write(LOG_ERROR, "cannot open the store", "error", err, NULL);
        goto out;
    }
    if (queue_set_limits(q, cfg->store_max_size_mb, cfg->store_done_retention_s) != 0) {
        log_write(LOG_ERROR, "cannot cap the store's size", "store", cfg->store_path, NULL);
        goto out;
    }
    if (queue_recover_inflight(q) < 0)
        goto out;
    if ((srv = server_create(cfg, q, err, sizeof(err))) == NULL) {
        log_write(LOG_ERROR, "cannot listen", "error", err, NULL);
        goto out;
    }
    if ((adm = admin_start(cfg, q, err, sizeof(err))) == NULL && err[0] != '\0') {
        log_write(LOG_ERROR, "cannot start the admin listener", "error", err, NULL);
        goto out;
    }
    if ((d = delivery_start(cfg, q, dry_run)) == NULL) {
        log_write(LOG_ERROR, "cannot start delivery workers", NULL);
        goto out;
    }
    char threads[16], port[16];
    snprintf(threads, sizeof(threads), "%d", cfg->threads);
    snprintf(port, sizeof(port), "%d", cfg->listeners[0].port);
    log_write(LOG_INFO, "closehook started", "version", CLOSEHOOK_VERSION, "config", cfg->path, "host",
              cfg->listeners[0].host, "port", port, "threads", threads, "store", cfg->store_path, "dry_run",
              dry_run ? "true" : "false", NULL);

    if ((reload = reloader_new(config_path, flags & CONFIG_LOAD_ALLOW_PLACEHOLDERS, cfg, srv, d)) == NULL)
        goto out;
    cfg = NULL; /* the reloader owns it now, and every config after it */
    signal_waiter waiter = {.set = set, .srv = srv, .reload = reload};
    pthread_t signal_thread;
    pthread_create(&signal_thread, NULL, wait_for_signals, &waiter);
    rc = server_run(srv) == 0 ? 0 : 1;
    /* If the loops ended on their own, release the signal thread too. */
    pthread_kill(signal_thread, SIGTERM);
    pthread_join(signal_thread, NULL);
    log_write(LOG_INFO, "listeners closed; stopping delivery", NULL);

out:
    admin_stop(adm);
    /* The writer stops first: it calls delivery's wake-up hook after commits. */
    if (q != NULL)
        queue_stop(q);
    if (d != NULL)
        delivery_stop(d);
    server_free(srv);
    if (q != NULL)
        queue_close(q);
    curl_global_cleanup();
    reloader_free(reload); /* every config, once nothing uses them */
    config_free(cfg);
    log_write(rc == 0 ? LOG_INFO : LOG_ERROR, "closehook stopped", NULL);
    log_forget_secrets();
    return rc;
}

/* ---- check-config ---- */

static int cmd_check_config(int argc, char **argv)
{
    int print_config = 0;
    unsigned flags = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0)
            print_config = 1;
        else if (strcmp(argv[i], "--allow-placeholders") == 0)
            flags |= CONFIG_LOAD_ALLOW_PLACEHOLDERS;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            return usage(stderr, 2);
    }
    if (path == NULL) {
        fprintf(stderr, "closehook check-config: FILE is required\n");
        return 2;
    }
    config *cfg = load_config_mode_or_report(path, flags, NULL);
    if (cfg == NULL)
        return 1;
    note_placeholders(cfg, "check-config");
    if (print_config)
        config_print(cfg);
    else
        printf("%s: ok (%zu routes, %zu credentials)\n", path, cfg->nroutes, cfg->ncredentials);
    config_free(cfg);
    log_forget_secrets();
    return 0;
}

/* ---- try ---- */

#define TRY_MAX_HEADERS 64

static int cmd_try(int argc, char **argv)
{
    const char *config_path = NULL;
    try_header headers[TRY_MAX_HEADERS];
    try_input in = {.headers = headers};
    char *owned[TRY_MAX_HEADERS];
    size_t nheaders = 0;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            in.route_name = argv[++i];
        } else if (strcmp(argv[i], "--query") == 0 && i + 1 < argc) {
            in.query = argv[++i];
        } else if (strcmp(argv[i], "--resolve") == 0) {
            in.resolve = 1;
        } else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc && nheaders < TRY_MAX_HEADERS) {
            char *h = strdup(argv[++i]);
            char *colon = h ? strchr(h, ':') : NULL;
            if (colon == NULL) {
                fprintf(stderr, "closehook try: --header wants \"Name: value\", got \"%s\"\n", argv[i]);
                free(h);
                goto out;
            }
            *colon = '\0';
            const char *value = colon + 1;
            while (*value == ' ')
                value++;
            owned[nheaders] = h;
            headers[nheaders++] = (try_header){h, value};
        } else if (strcmp(argv[i], "--help") == 0) {
            rc = usage(stdout, 0);
            goto out;
        } else if (argv[i][0] != '-' && in.sample_path == NULL) {
            in.sample_path = argv[i];
        } else {
            rc = usage(stderr, 2);
            goto out;
        }
    }
    if (config_path == NULL || in.route_name == NULL || in.sample_path == NULL) {
        fprintf(stderr, "closehook try: --config FILE, --route R and SAMPLE are required\n");
        goto out;
    }
    /* try sends nothing, so an example's placeholder ids may stay. */
    config *cfg = load_config_mode_or_report(
        config_path, CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_PLACEHOLDERS,
        in.route_name);
    if (cfg == NULL) {
        rc = 1;
        goto out;
    }
    in.nheaders = nheaders;
    in.now = time(NULL);
    if (in.resolve)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = try_sample(cfg, &in, stdout);
    if (in.resolve)
        curl_global_cleanup();
    config_free(cfg);
out:
    for (size_t i = 0; i < nheaders; i++)
        free(owned[i]);
    return rc;
}

/* ---- dlq ---- */

/* The table shows this much of an error (about what is left of an 80-column
 * terminal after id, route, attempts and age); `dlq show` prints all of it. */
#define DLQ_ERROR_EXCERPT 48

typedef struct dlq_args {
    const char *action, *config_path, *route, *older_than;
    int as_json, all;
    int64_t id, older_than_ms;
} dlq_args;

/* The one problem, not the whole usage text: it would bury the message. */
static int dlq_usage_error(const char *what)
{
    fprintf(stderr, "closehook dlq: %s (see closehook help)\n", what);
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
    memset(a, 0, sizeof(*a));
    a->action = argc >= 2 ? argv[1] : "";
    if (strcmp(a->action, "--help") == 0 || strcmp(a->action, "-h") == 0)
        return usage(stdout, -1); /* -1: done, exit 0 */
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
            return usage(stdout, -1); /* -1: done, exit 0 */
        else if (a->id == 0 && (a->id = dlq_parse_id(argv[i])) > 0)
            continue;
        else
            return dlq_usage_error(argv[i][0] == '-' ? "unknown option" : "ID must be a row id (digits)");
    }
    int list = strcmp(a->action, "list") == 0, show = strcmp(a->action, "show") == 0;
    int replay = strcmp(a->action, "replay") == 0, purge = strcmp(a->action, "purge") == 0;
    if (!list && !show && !replay && !purge)
        return dlq_usage_error("the action is list, show, replay or purge");
    if (a->config_path == NULL)
        return dlq_usage_error("--config FILE is required");
    if ((list || purge) && (a->id > 0 || a->all))
        return dlq_usage_error("list and purge take no ID or --all");
    if (show && (a->id <= 0 || a->all || a->route))
        return dlq_usage_error("show takes one ID");
    if (replay && (a->id > 0) == (a->all != 0))
        return dlq_usage_error("replay takes an ID or --all");
    if (!purge && a->older_than)
        return dlq_usage_error("--older-than belongs to purge");
    if (purge && (a->older_than == NULL || admin_parse_duration(a->older_than, &a->older_than_ms) != 0))
        return dlq_usage_error("purge needs --older-than D, D like 30d, 12h, 90m or 3600s");
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
            printf("%-8s %-16s %8s %6s  %s\n", "ID", "ROUTE", "ATTEMPTS", "AGE", "ERROR");
        printf("%-8lld %-16s %8d %6s  %s\n", (long long)row->id, row->route, row->attempts, age, excerpt);
    }
    l->count++;
}

/* Prints g's document and frees g. */
static void print_document(yajl_gen g)
{
    char *text = json_gen_take(g, NULL);
    printf("%s\n", text ? text : "null");
    free(text);
    yajl_gen_free(g);
}

static int dlq_list(queue *q, const dlq_args *a)
{
    dlq_listing l = {.g = a->as_json ? json_gen_new() : NULL, .now_ms = wall_clock_ms()};
    if (l.g != NULL)
        yajl_gen_array_open(l.g);
    int rc = queue_list_dead(q, a->route, print_dead_row, &l);
    if (l.g != NULL) {
        yajl_gen_array_close(l.g);
        print_document(l.g);
    } else if (rc == 0 && l.count == 0) {
        printf("no dead letters%s%s\n", a->route ? " for route " : "", a->route ? a->route : "");
    }
    return rc == 0 ? 0 : 1;
}

/* The stored update as an operator reads it: which meeting, what PUT. */
static void print_update(const char *payload)
{
    close_update u = {0};
    char why[256];
    if (update_parse(payload, strlen(payload), &u, why, sizeof(why)) != 0) {
        printf("%-12s %s\n", "payload", payload);
        return;
    }
    const struct {
        const char *label, *value;
    } lookup[] = {{"zoom id", u.zoom_meeting_id},       {"join url", u.join_url},
                  {"calendar id", u.calendar_event_id}, {"ical uid", u.ical_uid},
                  {"start time", u.start_time},         {"calendar", u.calendar_type}};
    printf("%-12s %s\n", "activity", u.activity_id ? u.activity_id : "(found by lookup)");
    for (size_t i = 0; i < sizeof(lookup) / sizeof(lookup[0]); i++)
        if (lookup[i].value != NULL)
            printf("%-12s %s\n", lookup[i].label, lookup[i].value);
    for (size_t i = 0; i < u.nattendee_emails; i++)
        printf("%-12s %s\n", i == 0 ? "attendees" : "", u.attendee_emails[i]);
    printf("%-12s %s / %s, rule %d\n", "event", u.sender ? u.sender : "?", u.event_type ? u.event_type : "?",
           u.rule_index);
    printf("%-12s %s\n", "note mode", u.note_mode == NOTE_APPEND ? "append" : "replace");
    printf("%-12s %s\n", "PUT body", u.body_json ? u.body_json : "{}");
    update_clear(&u);
}

static int dlq_show(queue *q, const dlq_args *a)
{
    queue_row row;
    const char *state;
    char *error;
    int found = queue_get(q, a->id, &row, &state, &error);
    if (found <= 0) {
        fprintf(stderr, "closehook dlq: %s %lld\n", found == 0 ? "no row" : "store error reading row",
                (long long)a->id);
        return 1;
    }
    int64_t now = wall_clock_ms();
    if (a->as_json) {
        yajl_gen g = json_gen_new();
        admin_gen_row_detail(g, &row, state, error, now);
        print_document(g);
    } else {
        char age[24], created[32] = "?";
        time_t secs = (time_t)(row.created_at / 1000);
        struct tm tm;
        if (gmtime_r(&secs, &tm) != NULL)
            strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        format_age(now - row.created_at, age, sizeof(age));
        printf("%-12s %lld\n%-12s %s\n%-12s %s\n%-12s %s\n%-12s %d\n%-12s %s (%s ago)\n", "id",
               (long long)row.id, "state", state, "route", row.route, "credential", row.credential,
               "attempts", row.attempts, "created", created, age);
        if (row.dedup_key != NULL)
            printf("%-12s %s\n", "dedup key", row.dedup_key);
        printf("%-12s %s\n", "error", error ? error : "(none)");
        print_update(row.payload);
    }
    queue_row_clear(&row);
    free(error);
    return 0;
}

/* Why replaying one id changed nothing: it is gone, or not dead. */
static void explain_not_dead(queue *q, int64_t id)
{
    queue_row row;
    const char *state;
    char *error;
    int found = queue_get(q, id, &row, &state, &error);
    if (found == 1)
        fprintf(stderr, "closehook dlq: row %lld is %s, not a dead letter\n", (long long)id, state);
    else
        fprintf(stderr, "closehook dlq: no row %lld\n", (long long)id);
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
        fprintf(stderr, "closehook dlq: the store failed; see the log above\n");
        return 1;
    }
    if (replay && !a->all && n == 0) {
        explain_not_dead(q, a->id);
        return 1;
    }
    const char *what = replay ? "replayed" : "purged";
    if (a->as_json) {
        yajl_gen g = json_gen_new();
        yajl_gen_map_open(g);
        json_gen_kv_int(g, what, n);
        yajl_gen_map_close(g);
        print_document(g);
    } else {
        printf("%s %ld\n", what, n);
    }
    return 0;
}

static int cmd_dlq(int argc, char **argv)
{
    dlq_args a;
    int rc = dlq_parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    /* dlq reads the store only: the daemon's config, placeholders and all. */
    config *cfg = load_config_mode_or_report(a.config_path,
                                             CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL);
    if (cfg == NULL)
        return 1;
    char err[512];
    queue *q = queue_open(cfg->store_path, err, sizeof(err));
    if (q == NULL) {
        fprintf(stderr, "closehook dlq: %s\n", err);
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
        if (strcmp(cmd, help[i].command) == 0)
            current_command = help[i].command;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return cmd_dlq(argc - 1, argv + 1);
    if (strcmp(cmd, "try") == 0)
        return cmd_try(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && strcmp(argv[2], "--help") == 0)
            return usage(stdout, 0);
        printf("closehook %s\n", CLOSEHOOK_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout, 0);
    fprintf(stderr, "closehook: unknown command \"%s\"\n", cmd);
    return usage(stderr, 2);
}
