/* dlq_cli: `closehook dlq list|show|replay|purge`, the operator's view of the
 * store's dead letters (the same rows and JSON as the admin API's /admin/dlq).
 *
 * Contract: called from main (and the unit tests) on the main thread, with no
 * other thread of this process using getopt (it resets getopt_long's state
 * itself, so it may be called again and again). argv[0] is "dlq", argv[1] the
 * action (list, show, replay, purge, or --help / -h), the options and ID
 * follow in any order, parsed with getopt_long (so --config=FILE and unique
 * abbreviations like --conf work too). argv is only read, never reordered;
 * everything dlq_cli_run allocates (config, store handle, rows) is freed
 * before it returns. The store is opened and closed
 * here; a running daemon may hold it at the same time.
 *
 * Output: results (the table, "no dead letters", a row, "replayed N",
 * "purged N", or with --json one JSON document and a newline) go to out; help
 * goes to out; every error goes to err as one line starting "closehook dlq: "
 * (config errors as config_load words them). Queue log lines go to the log.
 *
 * Exit codes (the return value):
 *   0  done (including --help, and list/purge finding nothing);
 *   1  the config would not load, the store would not open or failed, show of
 *      an id that is not there, replay of an id that is gone or not dead;
 *   2  a usage mistake: unknown option or action, missing --config, an ID that
 *      is not a positive decimal row id, an ID/--all/--older-than the action
 *      does not take, or a missing or malformed --older-than D. */
#ifndef CLOSEHOOK_DLQ_CLI_H
#define CLOSEHOOK_DLQ_CLI_H

#include <stdio.h>

int dlq_cli_run(int argc, char **argv, FILE *out, FILE *err);

#endif
