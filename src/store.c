/* store: picks the backend for a store spec and opens it, so the rest of the
 * tree never names a backend (see store.h). Adding one is a line here. */
#include "store.h"

#include <string.h>

static const store_ops *const BACKENDS[] = {&store_sqlite_ops};

/* The backend named by spec's "<name>:" prefix (*location after it), else
 * sqlite with the whole spec as its path. */
static const store_ops *backend_for(const char *spec, const char **location)
{
    for (size_t i = 0; i < sizeof(BACKENDS) / sizeof(BACKENDS[0]); i++) {
        size_t n = strlen(BACKENDS[i]->name);
        if (strncmp(spec, BACKENDS[i]->name, n) == 0 && spec[n] == ':') {
            *location = spec + n + 1;
            return BACKENDS[i];
        }
    }
    *location = spec;
    return &store_sqlite_ops;
}

store *store_open(const char *spec, char *err, size_t errlen)
{
    const char *location = NULL;
    const store_ops *ops = backend_for(spec, &location);
    return ops->open(location, err, errlen);
}

void store_close(store *s)
{
    if (s != NULL)
        s->ops->close(s);
}
