/* try_cli: `closehook try`'s command line: parses the options, loads the
 * config for the one route (no secrets needed, placeholders allowed, absent
 * credentials fine: nothing is sent) and hands the sample to try_sample.
 *
 * Contract: called from main on the main thread; with --resolve it owns
 * curl_global_init/cleanup around the run. argv[0] is "try"; options are
 * parsed in the order given with getopt_long (--config=FILE and unique
 * abbreviations accepted). Everything allocated is freed before return.
 * Output: try_sample's report and --help on stdout; usage problems and config
 * errors on stderr. Returns try_sample's code (0 accepted, 1 refused), 1 when
 * the config does not load, 2 on a usage mistake (unknown option, a missing
 * --config/--route/SAMPLE, a second SAMPLE, a --header without ':' or more
 * than 64 of them). */
#ifndef CLOSEHOOK_TRY_CLI_H
#define CLOSEHOOK_TRY_CLI_H

int try_cli_run(int argc, char **argv);

#endif
