/* main: closehook's command line, wiring only: it picks the subcommand and
 * hands argv to its module (serve_cmd, dlq_cli, try_cli); check-config, help
 * and version are small enough to live here. cli.c holds the help text. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "dlq_cli.h"
#include "log.h"
#include "serve_cmd.h"
#include "try_cli.h"

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

typedef struct check_args {
    const char *path;
    int print_config;
    unsigned flags;
} check_args;

/* 0 when argv is a check-config line, else the exit code (-1: help shown).
 * In order ("-"): FILE comes back as option 1 where it stands. */
static int check_config_parse(int argc, char **argv, check_args *a)
{
    static const struct option opts[] = {{"print-config", no_argument, NULL, 'p'},
                                         {"allow-placeholders", no_argument, NULL, 'a'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_getopt_reset();
    for (int c; (c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1;) {
        if (c == 'p')
            a->print_config = 1;
        else if (c == 'a')
            a->flags |= CONFIG_LOAD_ALLOW_PLACEHOLDERS;
        else if (c == 'c' || (c == 1 && a->path == NULL))
            a->path = optarg;
        else if (c == 'h')
            return usage(stdout, -1);
        else /* unknown option, a missing value, a second FILE */
            return usage(stderr, 2);
    }
    if (optind < argc) /* words after "--" */
        return usage(stderr, 2);
    if (a->path == NULL) {
        fprintf(stderr, "closehook check-config: FILE is required\n");
        return 2;
    }
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    check_args a = {0};
    int rc = check_config_parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    config *cfg = cli_load_config(a.path, a.flags, NULL, stderr);
    if (cfg == NULL)
        return 1;
    cli_note_placeholders(cfg, "check-config");
    if (a.print_config)
        config_print(cfg);
    else
        printf("%s: ok (%zu routes, %zu credentials)\n", a.path, cfg->nroutes, cfg->ncredentials);
    config_free(cfg);
    log_forget_secrets();
    return 0;
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
        return try_cli_run(argc - 1, argv + 1);
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
