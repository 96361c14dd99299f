/* registry: the list of senders closehook knows, one table of their
 * templates (each sender's `const source source_<name>`); names and
 * constructors are read from it. Adding a sender is one line here and one
 * file in src/source/; nothing else changes. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "source.h"

static const source *const sources[] = {
    &source_zoom, &source_generic, &source_calendly, &source_stdwebhooks, &source_msgraph, &source_gcal,
};
#define SOURCE_COUNT (sizeof(sources) / sizeof(sources[0]))

/* source_names()'s NULL-terminated list, filled once from the table (the
 * templates live in other files, so it cannot be a static initializer). */
static const char *names[SOURCE_COUNT + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_fill(void)
{
    for (size_t i = 0; i < SOURCE_COUNT; i++)
        names[i] = sources[i]->name;
    names[SOURCE_COUNT] = NULL;
}

source *source_create(const char *name, yajl_val route, const char *secret, const source_config_ctx *ctx)
{
    for (size_t i = 0; i < SOURCE_COUNT; i++)
        if (strcmp(sources[i]->name, name) == 0)
            return sources[i]->create(route, secret, ctx);
    char known[128] = "";
    for (size_t i = 0; i < SOURCE_COUNT; i++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", sources[i]->name);
    }
    snprintf(ctx->err, ctx->errlen, "%s: %s.source: unknown source \"%s\" (known: %s)", ctx->file,
             ctx->key_prefix, name, known);
    return NULL;
}

const char *const *source_names(void)
{
    pthread_once(&names_once, names_fill);
    return names;
}
