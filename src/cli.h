/* cli: what closehook's subcommands share — the help text, config loading that
 * reports every problem, the placeholder note and getopt's reset.
 *
 * Contract: called from main and the *_cli / serve_cmd modules on the main
 * thread before any other thread exists (getopt's globals and the usage text
 * are process state). Nothing returned needs freeing except the config from
 * cli_load_config (config_free). Errors are words on the FILE* given, never
 * secrets. */
#ifndef CLOSEHOOK_CLI_H
#define CLOSEHOOK_CLI_H

#include <stdio.h>

#include "config.h"

/* Prints the usage text to out and returns rc. command NULL prints every
 * command with the "usage: closehook <command>" header; otherwise only
 * command's entries under "usage:". */
int cli_usage(FILE *out, const char *command, int rc);

/* 1 when name is a command with help text (serve, check-config, dlq, try,
 * version), so main can say usage for that command only. */
int cli_is_command(const char *name);

/* config_load_mode that prints every error it finds to err (ending in a
 * newline). Returns NULL after printing; the caller frees the config. */
config *cli_load_config(const char *path, unsigned flags, const char *only_route, FILE *err);

/* Notes accepted placeholders: a log warning for "serve", otherwise a line on
 * stderr naming command. Nothing when cfg holds none. */
void cli_note_placeholders(const config *cfg, const char *command);

/* Resets getopt_long's state (optind = 0) so a command can parse again in the
 * same process, as the unit tests do. Commands that print their own messages
 * start their optstring with ':' (getopt then prints none). */
void cli_getopt_reset(void);

#endif
