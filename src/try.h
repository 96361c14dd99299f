/* try: `closehook try`, a dry run of one sample webhook through a route.
 *
 * Runs the route's source (handshake, verification, parsing) and mapping on a
 * file with the headers the user gives, then prints which rule matched and the
 * exact PUT that delivery would send (or what resolve would look up). Nothing
 * is stored and nothing is sent: it is how users write and debug rules.
 * Called from main on the main thread. */
#ifndef CLOSEHOOK_TRY_H
#define CLOSEHOOK_TRY_H

#include <stdio.h>
#include <time.h>

#include "config.h"

typedef struct try_header {
    const char *name; /* as given; compared case-insensitively */
    const char *value;
} try_header;

/* Returns 0 when the sample would be accepted (queued, or ignored by the
 * rules), 1 when it would be refused (verification or parsing), 2 on a usage
 * problem (unknown route, unreadable file). Writes a readable report to out. */
int try_sample(const config *cfg, const char *route_name, const char *sample_path, const try_header *headers,
               size_t nheaders, const char *query, time_t now, FILE *out);

#endif
