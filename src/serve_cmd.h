/* serve_cmd: `closehook serve`, the daemon's start-up wiring and lifecycle:
 * config -> store lock -> queue -> server -> admin -> delivery -> reloader,
 * then the listeners run until SIGTERM/SIGINT, and everything stops in the
 * reverse order (the queue's writer before delivery, since it wakes delivery).
 *
 * Contract: called once from main on the main thread, before any other thread
 * exists: it blocks SIGTERM, SIGINT and SIGHUP in every thread it starts and
 * takes them on its own signal thread (SIGHUP reloads the config file), sets
 * SIGPIPE to ignored and owns curl_global_init/cleanup. argv[0] is "serve";
 * options are parsed with getopt_long (getopt prints its own message for an
 * unknown option, then the usage goes to stderr). Everything it allocates is
 * freed before it returns. Output: --help and --print-config on stdout, config
 * errors on stderr, everything else in the log.
 *
 * Returns the exit code: 0 after a clean stop (or --help, --print-config), 1
 * when the config does not load or a part does not start (the log says which),
 * 2 on a usage mistake. */
#ifndef CLOSEHOOK_SERVE_CMD_H
#define CLOSEHOOK_SERVE_CMD_H

int serve_cmd_run(int argc, char **argv);

#endif
