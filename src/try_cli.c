/* try_cli: `closehook try` parsing moved out of main.c, so main is dispatch
 * only and try.c stays the dry run itself. See try_cli.h for the contract. */
#include "try_cli.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "try.h"

#define TRY_MAX_HEADERS 64

typedef struct try_args {
    const char *config_path;
    try_header headers[TRY_MAX_HEADERS];
    char *owned[TRY_MAX_HEADERS]; /* each header's "Name\0value" copy */
    try_input in;
} try_args;

/* One --header "Name: value"; 0, or 2 with the problem printed. */
static int try_add_header(try_args *a, const char *arg)
{
    if (a->in.nheaders >= TRY_MAX_HEADERS)
        return cli_usage(stderr, "try", 2);
    char *h = strdup(arg);
    char *colon = h ? strchr(h, ':') : NULL;
    if (colon == NULL) {
        fprintf(stderr, "closehook try: --header wants \"Name: value\", got \"%s\"\n", arg);
        free(h);
        return 2;
    }
    *colon = '\0';
    const char *value = colon + 1;
    while (*value == ' ')
        value++;
    a->owned[a->in.nheaders] = h;
    a->headers[a->in.nheaders++] = (try_header){h, value};
    return 0;
}

static const struct option try_options[] = {{"config", required_argument, NULL, 'c'},
                                            {"route", required_argument, NULL, 'r'},
                                            {"query", required_argument, NULL, 'q'},
                                            {"header", required_argument, NULL, 'H'},
                                            {"resolve", no_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

/* 0 when argv is a try command line, else the exit code (-1: help shown).
 * "-" in the optstring: SAMPLE comes back as option 1 where it stands, so
 * the first problem in the line is the one reported. */
static int try_parse(int argc, char **argv, try_args *a)
{
    cli_getopt_reset();
    int rc = 0;
    for (int c; rc == 0 && (c = getopt_long(argc, argv, "-:", try_options, NULL)) != -1;) {
        if (c == 'c')
            a->config_path = optarg;
        else if (c == 'r')
            a->in.route_name = optarg;
        else if (c == 'q')
            a->in.query = optarg;
        else if (c == 's')
            a->in.resolve = 1;
        else if (c == 'H')
            rc = try_add_header(a, optarg);
        else if (c == 'h')
            rc = cli_usage(stdout, "try", -1);
        else if (c == 1 && a->in.sample_path == NULL)
            a->in.sample_path = optarg;
        else /* unknown option, a missing value, a second SAMPLE */
            rc = cli_usage(stderr, "try", 2);
    }
    if (rc == 0 && optind < argc) /* words after "--" */
        rc = cli_usage(stderr, "try", 2);
    if (rc == 0 && (a->config_path == NULL || a->in.route_name == NULL || a->in.sample_path == NULL)) {
        fprintf(stderr, "closehook try: --config FILE, --route R and SAMPLE are required\n");
        rc = 2;
    }
    return rc;
}

static int try_run(try_args *a)
{
    /* try sends nothing, so an example's placeholder ids may stay. */
    config *cfg = cli_load_config(
        a->config_path, CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_PLACEHOLDERS,
        a->in.route_name, stderr);
    if (cfg == NULL)
        return 1;
    a->in.now = time(NULL);
    if (a->in.resolve)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = try_sample(cfg, &a->in, stdout);
    if (a->in.resolve)
        curl_global_cleanup();
    config_free(cfg);
    return rc;
}

int try_cli_run(int argc, char **argv)
{
    try_args a = {0};
    a.in.headers = a.headers;
    int rc = try_parse(argc, argv, &a);
    if (rc == 0)
        rc = try_run(&a);
    for (size_t i = 0; i < a.in.nheaders; i++)
        free(a.owned[i]);
    return rc < 0 ? 0 : rc;
}
