/* registry: the list of senders closehook knows. Adding a sender is one line
 * here and one file in src/source/; nothing else changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

typedef struct source_entry {
    const char *name;
    source *(*create)(yajl_val route, const char *secret, const source_config_ctx *ctx);
} source_entry;

static const source_entry sources[] = {
    {"zoom", zoom_source_create},
    {"generic", generic_source_create},
};

static const char *const names[] = {"zoom", "generic", NULL};

source *source_create(const char *name, yajl_val route, const char *secret,
                      const source_config_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (strcmp(sources[i].name, name) == 0)
            return sources[i].create(route, secret, ctx);
    snprintf(ctx->err, ctx->errlen, "%s: %s.source: unknown source \"%s\" (known: zoom, generic)",
             ctx->file, ctx->key_prefix, name);
    return NULL;
}

const char *const *source_names(void)
{
    return names;
}

char *source_header_dup(const source_request *req, const char *name)
{
    size_t len;
    const char *v = req->header(req->header_ctx, name, &len);
    if (v == NULL)
        return NULL;
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, v, len);
        copy[len] = '\0';
    }
    return copy;
}
