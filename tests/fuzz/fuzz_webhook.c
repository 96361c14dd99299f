/* fuzz_webhook: libFuzzer drives arbitrary bytes through everything a webhook
 * meets before it is queued: a route's source (handshake, verification,
 * parsing), the rules of config/closehook.example.json (match, templates,
 * the update's JSON) and the report `closehook try` prints. The sanitizers
 * (ASan, UBSan) turn any memory or undefined-behaviour slip into a crash.
 *
 * Input: byte 0 picks the route; then, up to a blank line, "name: value"
 * header lines (a line "?…" is the query string); the rest is the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "try.h"

#define FUZZ_MAX_HEADERS 16

static config *cfg;
static FILE *devnull;

/* The example config's routes with its demo secrets (scripts/run-example.sh). */
static void setup(void)
{
    setenv("ZOOM_WEBHOOK_SECRET", "demo-zoom-secret", 0);
    setenv("NOTETAKER_WEBHOOK_SECRET", "demo-notetaker-secret", 0);
    setenv("CALENDLY_SIGNING_KEY", "demo-calendly-signing-key", 0);
    setenv("RECORDER_WEBHOOK_SECRET", "whsec_ZGVtby1yZWNvcmRlci13ZWJob29rLWtleQ==", 0);
    setenv("GRAPH_CLIENT_STATE", "demo-graph-client-state", 0);
    setenv("GOOGLE_CHANNEL_TOKEN", "demo-google-channel-token", 0);
    setenv("CLOSE_API_KEY", "api_fuzz_placeholder", 0); /* an absent credential is an error now */
    char err[4096] = "";
    cfg = config_load_mode(EXAMPLE_CONFIG, CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL, err, sizeof(err));
    devnull = fopen("/dev/null", "w");
    if (cfg == NULL || cfg->nroutes == 0 || devnull == NULL) {
        fprintf(stderr, "fuzz_webhook: cannot load %s: %s\n", EXAMPLE_CONFIG, err);
        abort();
    }
}

/* Splits the header block into headers (pointing into block, which is
 * modified) and the query; returns the number of headers. */
static size_t split_headers(char *block, try_header *headers, const char **query)
{
    size_t n = 0;
    for (char *line = block; line != NULL && n < FUZZ_MAX_HEADERS;) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *colon = strchr(line, ':');
        if (line[0] == '?') {
            *query = line + 1;
        } else if (colon != NULL) {
            *colon = '\0';
            const char *value = colon + 1;
            while (*value == ' ')
                value++;
            headers[n++] = (try_header){line, value};
        }
        line = next;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL)
        setup();
    if (size == 0)
        return 0;
    const route *rt = &cfg->routes[data[0] % cfg->nroutes];
    /* A NUL-terminated copy: the header block is cut into C strings. */
    char *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    size_t rest = size - 1;
    const char *body = copy;
    size_t body_len = rest;
    try_header headers[FUZZ_MAX_HEADERS];
    try_input in = {.headers = headers, .now = (time_t)1795597200}; /* the seeds' signing time */
    char *blank = memmem(copy, rest, "\n\n", 2);
    if (blank != NULL) {
        *blank = '\0';
        body = blank + 2;
        body_len = rest - (size_t)(body - copy);
        in.nheaders = split_headers(copy, headers, &in.query);
    }
    try_body(cfg, rt, &in, body, body_len, devnull);
    free(copy);
    return 0;
}
