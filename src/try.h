/* try: `closehook try`, a dry run of one sample webhook through a route.
 *
 * Runs the route's source (handshake, verification, parsing) and mapping on a
 * file with the headers the user gives, then prints which rule matched and the
 * exact PUT that delivery would send (or what resolve would look up). Nothing
 * is stored and nothing is sent: it is how users write and debug rules. With
 * resolve set, resolve runs for real against Close's API (read-only: meeting
 * list and search GETs with the route's credential) and the PUT names the
 * meeting it found. Called from main on the main thread. */
#ifndef CLOSEHOOK_TRY_H
#define CLOSEHOOK_TRY_H

#include <stdio.h>
#include <time.h>

#include "config.h"

typedef struct try_header {
    const char *name; /* as given; compared case-insensitively */
    const char *value;
} try_header;

typedef struct try_input {
    const char *route_name;
    const char *sample_path;
    const try_header *headers;
    size_t nheaders;
    const char *query; /* after '?', as the sender would send it; NULL: none */
    time_t now;        /* the clock timestamps are checked against */
    int resolve;       /* 1: look the meeting up in Close (GETs only) */
} try_input;

/* Returns 0 when the sample would be accepted (queued, or ignored by the
 * rules) and, with resolve, its meeting was found; 1 when it would be refused
 * (verification or parsing) or resolve did not find exactly one meeting; 2 on
 * a usage problem (unknown route, unreadable file). Writes a readable report
 * to out. */
int try_sample(const config *cfg, const try_input *in, FILE *out);
/* try_sample on a body in memory, for route rt (in->route_name and
 * in->sample_path are not read): what the fuzz tests drive. */
int try_body(const config *cfg, const route *rt, const try_input *in, const char *body, size_t len,
             FILE *out);

#endif
