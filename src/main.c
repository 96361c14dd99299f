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
#include "serve_cmd.h"
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
        return serve_cmd_run(argc - 1, argv + 1);
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
