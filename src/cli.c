/* cli: the parts of the command line every subcommand uses, so main.c is only
 * the dispatch and each command's module holds only its own parsing. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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

int cli_usage(FILE *out, const char *command, int rc)
{
    fputs(command ? "usage:\n" : "usage: closehook <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
        if (command == NULL || strcmp(command, help[i].command) == 0)
            fprintf(out, "  closehook %s", help[i].text);
    return rc;
}

int cli_is_command(const char *name)
{
    for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
        if (strcmp(name, help[i].command) == 0)
            return 1;
    return 0;
}

config *cli_load_config(const char *path, unsigned flags, const char *only_route, FILE *err)
{
    char *why = calloc(1, CONFIG_ERROR_CAP);
    config *cfg = why ? config_load_mode(path, flags, only_route, why, CONFIG_ERROR_CAP) : NULL;
    if (cfg == NULL && why != NULL)
        fprintf(err, "%s%s", why, why[0] && why[strlen(why) - 1] == '\n' ? "" : "\n");
    free(why);
    return cfg;
}

/* Placeholders allowed are still worth a word: updates naming them fail at Close. */
void cli_note_placeholders(const config *cfg, const char *command)
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

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 also re-initialises its internal state */
}
