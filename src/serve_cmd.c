/* serve_cmd: `closehook serve` out of main.c, split into its phases (parse,
 * load, start the parts, run, stop) so each reads on its own. See
 * serve_cmd.h for the contract. */
#include "serve_cmd.h"

#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "admin.h"
#include "cli.h"
#include "config.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "reload.h"
#include "server.h"
#include "store_lock.h"

#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

typedef struct serve_opts {
    const char *config_path;
    int dry_run, print_config;
    unsigned flags; /* CONFIG_LOAD_* */
} serve_opts;

/* The running parts; NULL until started. */
typedef struct serve_parts {
    queue *q;
    delivery *d;
    server *srv;
    admin *adm;
    reloader *reload;
} serve_parts;

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

/* 0 when argv is a serve command line, else the exit code (-1: help shown). */
static int serve_parse(int argc, char **argv, serve_opts *o)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"allow-placeholders", no_argument, NULL, 'a'},
                                         {"print-config", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_getopt_reset();
    for (int c; (c = getopt_long(argc, argv, "c:naph", opts, NULL)) != -1;) {
        if (c == 'c')
            o->config_path = optarg;
        else if (c == 'n')
            o->dry_run = 1;
        else if (c == 'a')
            o->flags |= CONFIG_LOAD_ALLOW_PLACEHOLDERS;
        else if (c == 'p')
            o->print_config = 1;
        else
            return c == 'h' ? cli_usage(stdout, "serve", -1) : cli_usage(stderr, "serve", 2);
    }
    if (o->config_path == NULL) {
        fprintf(stderr, "closehook serve: --config FILE is required\n");
        return 2;
    }
    if (o->dry_run)
        o->flags |= CONFIG_LOAD_ALLOW_ABSENT;
    return 0;
}

/* Process-wide set-up before any thread: log level, build info, signals. */
static void serve_prepare(const config *cfg, sigset_t *set)
{
    log_set_level(cfg->log.level);
    cli_note_placeholders(cfg, "serve");
    char version_label[32];
    snprintf(version_label, sizeof(version_label), "%s", CLOSEHOOK_VERSION);
    metrics_set("closehook_build_info", 1, METRIC_LABELS(version_label));
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL); /* inherited by every thread below */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The store: locked, opened, capped, its in-flight rows recovered. 0 or -1 (logged). */
static int serve_open_store(const config *cfg, serve_parts *p)
{
    char err[512] = "";
    if (store_lock_take(cfg->store.path, err, sizeof(err)) != 0) {
        log_write(LOG_ERROR, "refusing to start", "error", err, NULL);
        return -1;
    }
    if ((p->q = queue_open(cfg->store.path, err, sizeof(err))) == NULL) {
        log_write(LOG_ERROR, "cannot open the store", "error", err, NULL);
        return -1;
    }
    if (queue_set_limits(p->q, cfg->store.max_size_mb, cfg->store.done_retention_s) != 0) {
        log_write(LOG_ERROR, "cannot cap the store's size", "store", cfg->store.path, NULL);
        return -1;
    }
    return queue_recover_inflight(p->q) < 0 ? -1 : 0;
}

/* The listeners, the admin listener and the delivery workers. 0 or -1 (logged). */
static int serve_start_parts(const config *cfg, int dry_run, serve_parts *p)
{
    char err[512] = "";
    if ((p->srv = server_create(cfg, p->q, err, sizeof(err))) == NULL) {
        log_write(LOG_ERROR, "cannot listen", "error", err, NULL);
        return -1;
    }
    if ((p->adm = admin_start(cfg, p->q, err, sizeof(err))) == NULL && err[0] != '\0') {
        log_write(LOG_ERROR, "cannot start the admin listener", "error", err, NULL);
        return -1;
    }
    if ((p->d = delivery_start(cfg, p->q, dry_run)) == NULL) {
        log_write(LOG_ERROR, "cannot start delivery workers", NULL);
        return -1;
    }
    log_write(LOG_INFO, "closehook started", "version", CLOSEHOOK_VERSION, "config", cfg->path, "host",
              cfg->listeners[0].host, LOG_INT("port", cfg->listeners[0].port),
              LOG_INT("threads", cfg->threads), "store", cfg->store.path, LOG_BOOL("dry_run", dry_run), NULL);
    return 0;
}

/* Runs the listeners until a signal stops them; the exit code. */
static int serve_loop(serve_parts *p, const sigset_t *set)
{
    signal_waiter waiter = {.set = *set, .srv = p->srv, .reload = p->reload};
    pthread_t signal_thread;
    pthread_create(&signal_thread, NULL, wait_for_signals, &waiter);
    int rc = server_run(p->srv) == 0 ? 0 : 1;
    /* If the loops ended on their own, release the signal thread too. */
    pthread_kill(signal_thread, SIGTERM);
    pthread_join(signal_thread, NULL);
    log_write(LOG_INFO, "listeners closed; stopping delivery", NULL);
    return rc;
}

static void serve_stop_parts(serve_parts *p)
{
    admin_stop(p->adm);
    /* The writer stops first: it calls delivery's wake-up hook after commits. */
    if (p->q != NULL)
        queue_stop(p->q);
    if (p->d != NULL)
        delivery_stop(p->d);
    server_free(p->srv);
    if (p->q != NULL)
        queue_close(p->q);
    curl_global_cleanup();
    reloader_free(p->reload); /* every config, once nothing uses them */
}

int serve_cmd_run(int argc, char **argv)
{
    serve_opts o = {0};
    int rc = serve_parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    config *cfg = cli_load_config(o.config_path, o.flags, NULL, stderr);
    if (cfg == NULL)
        return 1;
    if (o.print_config) {
        config_print(cfg);
        config_free(cfg);
        return 0;
    }
    sigset_t set;
    serve_prepare(cfg, &set);
    serve_parts p = {0};
    rc = 1;
    if (serve_open_store(cfg, &p) == 0 && serve_start_parts(cfg, o.dry_run, &p) == 0 &&
        (p.reload = reloader_new(o.config_path, o.flags, cfg, p.srv, p.d)) != NULL) {
        cfg = NULL; /* the reloader owns it now, and every config after it */
        rc = serve_loop(&p, &set);
    }
    serve_stop_parts(&p);
    config_free(cfg);
    log_write(rc == 0 ? LOG_INFO : LOG_ERROR, "closehook stopped", NULL);
    log_forget_secrets();
    return rc;
}
