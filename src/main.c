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
#include "cli.h"
#include "config.h"
#include "delivery.h"
#include "dlq_cli.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "reload.h"
#include "server.h"
#include "store_lock.h"
#include "try.h"

#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

/* The command being run, so its --help and usage errors show only its part. */
static const char *current_command;

static int usage(FILE *out, int rc)
{
    return cli_usage(out, current_command, rc);
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
    config *cfg = cli_load_config(config_path, flags, NULL, stderr);
    if (cfg == NULL)
        return 1;
    if (print_config) {
        config_print(cfg);
        config_free(cfg);
        return 0;
    }
    log_set_level(cfg->log_level);
    cli_note_placeholders(cfg, "serve");
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
    config *cfg = cli_load_config(path, flags, NULL, stderr);
    if (cfg == NULL)
        return 1;
    cli_note_placeholders(cfg, "check-config");
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
    config *cfg = cli_load_config(
        config_path, CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_PLACEHOLDERS,
        in.route_name, stderr);
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *cmd = argv[1];
    current_command = cli_is_command(cmd) ? cmd : NULL;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "dlq") == 0)
        return dlq_cli_run(argc - 1, argv + 1, stdout, stderr);
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
