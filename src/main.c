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

#include "config.h"
#include "delivery.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "server.h"
#include "try.h"

#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

/* Room for every config error at once; config_load reports them all. */
#define CONFIG_ERROR_CAP 8192

static const char usage_text[] =
    "usage: closehook <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve --config FILE [--dry-run] [--print-config]\n"
    "        run the daemon; --dry-run logs each Close PUT instead of sending it\n"
    "        (a credential whose secret is not set is always dry-run)\n"
    "  check-config FILE [--print-config]\n"
    "        validate FILE, list every problem with its key; exit 0 when valid\n"
    "  dlq list --config FILE [--route R] [--json]\n"
    "        list dead-lettered updates with Close's answer\n"
    "  dlq replay --config FILE (ID | --all) [--route R]\n"
    "        put dead-lettered updates back in the queue\n"
    "  try --config FILE --route R SAMPLE [--header \"K: V\"]... [--query Q]\n"
    "        dry-run one sample through the route: verification, the matching\n"
    "        rule and the exact PUT; nothing is stored or sent\n"
    "  version\n"
    "        print the version\n";

static int usage(FILE *out, int rc)
{
    fputs(usage_text, out);
    return rc;
}

static config *load_config_or_report(const char *path)
{
    char *err = calloc(1, CONFIG_ERROR_CAP);
    config *cfg = err ? config_load(path, err, CONFIG_ERROR_CAP) : NULL;
    if (cfg == NULL && err != NULL)
        fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    free(err);
    return cfg;
}

/* ---- serve ---- */

typedef struct signal_waiter {
    sigset_t set;
    server *srv;
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
            log_write(LOG_WARN, "SIGHUP ignored: configuration reload is not supported yet", NULL);
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
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"print-config", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "c:nph", opts, NULL)) != -1;) {
        if (c == 'c')
            config_path = optarg;
        else if (c == 'n')
            dry_run = 1;
        else if (c == 'p')
            print_config = 1;
        else
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
    }
    if (config_path == NULL) {
        fprintf(stderr, "closehook serve: --config FILE is required\n");
        return 2;
    }
    config *cfg = load_config_or_report(config_path);
    if (cfg == NULL)
        return 1;
    if (print_config) {
        config_print(cfg);
        config_free(cfg);
        return 0;
    }
    log_set_level(cfg->log_level);
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

    signal_waiter waiter = {.set = set, .srv = srv};
    pthread_t signal_thread;
    pthread_create(&signal_thread, NULL, wait_for_signals, &waiter);
    rc = server_run(srv) == 0 ? 0 : 1;
    /* If the loops ended on their own, release the signal thread too. */
    pthread_kill(signal_thread, SIGTERM);
    pthread_join(signal_thread, NULL);
    log_write(LOG_INFO, "listeners closed; stopping delivery", NULL);

out:
    /* The writer stops first: it calls delivery's wake-up hook after commits. */
    if (q != NULL)
        queue_stop(q);
    if (d != NULL)
        delivery_stop(d);
    server_free(srv);
    if (q != NULL)
        queue_close(q);
    curl_global_cleanup();
    config_free(cfg);
    log_write(rc == 0 ? LOG_INFO : LOG_ERROR, "closehook stopped", NULL);
    log_forget_secrets();
    return rc;
}

/* ---- check-config ---- */

static int cmd_check_config(int argc, char **argv)
{
    int print_config = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0)
            print_config = 1;
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
    config *cfg = load_config_or_report(path);
    if (cfg == NULL)
        return 1;
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
    const char *config_path = NULL, *route = NULL, *sample = NULL, *query = NULL;
    try_header headers[TRY_MAX_HEADERS];
    char *owned[TRY_MAX_HEADERS];
    size_t nheaders = 0;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            route = argv[++i];
        } else if (strcmp(argv[i], "--query") == 0 && i + 1 < argc) {
            query = argv[++i];
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
        } else if (argv[i][0] != '-' && sample == NULL) {
            sample = argv[i];
        } else {
            rc = usage(stderr, 2);
            goto out;
        }
    }
    if (config_path == NULL || route == NULL || sample == NULL) {
        fprintf(stderr, "closehook try: --config FILE, --route R and SAMPLE are required\n");
        goto out;
    }
    config *cfg = load_config_or_report(config_path);
    if (cfg == NULL) {
        rc = 1;
        goto out;
    }
    rc = try_sample(cfg, route, sample, headers, nheaders, query, time(NULL), stdout);
    config_free(cfg);
out:
    for (size_t i = 0; i < nheaders; i++)
        free(owned[i]);
    return rc;
}

/* ---- dlq ---- */

typedef struct dlq_listing {
    int as_json;
    yajl_gen g;
    long count;
} dlq_listing;

static void print_dead_row(const queue_row *row, const char *last_error, void *arg)
{
    dlq_listing *l = arg;
    l->count++;
    if (l->as_json) {
        yajl_gen_map_open(l->g);
        json_gen_kv_int(l->g, "id", row->id);
        json_gen_kv_str(l->g, "route", row->route);
        json_gen_kv_str(l->g, "credential", row->credential);
        json_gen_kv_int(l->g, "attempts", row->attempts);
        json_gen_kv_int(l->g, "created_at_ms", row->created_at);
        json_gen_kv_str(l->g, "error", last_error);
        json_gen_kv_str(l->g, "payload", row->payload);
        yajl_gen_map_close(l->g);
    } else {
        printf("%lld\t%s\t%d attempts\t%s\n", (long long)row->id, row->route, row->attempts,
               last_error ? last_error : "");
    }
}

static int cmd_dlq(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *action = argv[1], *config_path = NULL, *route = NULL;
    int as_json = 0, all = 0;
    long long id = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc)
            route = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (argv[i][0] != '-' && (id = strtoll(argv[i], NULL, 10)) > 0)
            continue;
        else
            return usage(stderr, 2);
    }
    int is_list = strcmp(action, "list") == 0, is_replay = strcmp(action, "replay") == 0;
    if (config_path == NULL || (!is_list && !is_replay) || (is_replay && !all && id <= 0))
        return usage(stderr, 2);
    config *cfg = load_config_or_report(config_path);
    if (cfg == NULL)
        return 1;
    char err[512];
    queue *q = queue_open(cfg->store_path, err, sizeof(err));
    int rc = 1;
    if (q == NULL) {
        fprintf(stderr, "closehook dlq: %s\n", err);
    } else if (is_list) {
        dlq_listing l = {.as_json = as_json, .g = as_json ? json_gen_new() : NULL};
        if (as_json)
            yajl_gen_array_open(l.g);
        rc = queue_list_dead(q, route, print_dead_row, &l) == 0 ? 0 : 1;
        if (as_json) {
            yajl_gen_array_close(l.g);
            char *text = json_gen_take(l.g, NULL);
            printf("%s\n", text ? text : "[]");
            free(text);
            yajl_gen_free(l.g);
        }
    } else {
        long n = queue_replay(q, all ? 0 : id, route);
        if (n >= 0)
            printf("replayed %ld\n", n);
        rc = n >= 0 ? 0 : 1;
    }
    if (q != NULL)
        queue_close(q);
    config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return cmd_dlq(argc - 1, argv + 1);
    if (strcmp(cmd, "try") == 0)
        return cmd_try(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("closehook %s\n", CLOSEHOOK_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout, 0);
    fprintf(stderr, "closehook: unknown command \"%s\"\n", cmd);
    return usage(stderr, 2);
}
