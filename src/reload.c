/* reload: swaps in a new configuration on SIGHUP, or refuses it whole, so an
 * operator's typo never takes a serving node down. */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oauth.h"

/* Room for every config error at once; config_load reports them all. */
#define RELOAD_ERROR_CAP 8192

struct reloader {
    char *path;
    unsigned flags;
    config *active;
    config **retired;
    size_t nretired;
    server *srv;
    delivery *d;
};

reloader *reloader_new(const char *path, unsigned flags, config *active, server *srv, delivery *d)
{
    reloader *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        return NULL;
    }
    r->flags = flags;
    r->active = active;
    r->srv = srv;
    r->d = d;
    return r;
}

/* 1 when cfg has a usable OAuth credential called name. */
static int has_oauth(const config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ncredentials; i++)
        if (strcmp(cfg->credentials[i].name, name) == 0)
            return oauth_credential_usable(&cfg->credentials[i]);
    return 0;
}

/* Why next cannot replace cur without a restart, or NULL. */
static const char *needs_restart(const config *cur, const config *next)
{
    if (cur->nlisteners != next->nlisteners)
        return "\"listen\" changed: listeners are bound at start; restart to change them";
    for (size_t i = 0; i < cur->nlisteners; i++)
        if (cur->listeners[i].port != next->listeners[i].port ||
            strcmp(cur->listeners[i].host, next->listeners[i].host) != 0)
            return "\"listen\" changed: listeners are bound at start; restart to change them";
    if (strcmp(cur->store.path, next->store.path) != 0)
        return "\"store.path\" changed: the queue is open; restart to change it";
    /* oauth.c keeps a token pair per OAuth credential from the start on;
     * serving one it has none for would dead-letter its routes' updates. */
    for (size_t i = 0; i < next->ncredentials; i++)
        if (oauth_credential_usable(&next->credentials[i]) && !has_oauth(cur, next->credentials[i].name))
            return "an OAuth credential was added (or its secrets became available): token state is made "
                   "at start; restart to use it";
    return NULL;
}

static void warn_start_up_values(const config *cur, const config *next)
{
    if (cur->threads != next->threads || cur->body_limit != next->body_limit ||
        cur->delivery.workers != next->delivery.workers)
        log_write(LOG_WARN, "reload: threads, body_limit and delivery.workers keep their start-up values",
                  NULL);
}

int reloader_reload(reloader *r)
{
    char *err = calloc(1, RELOAD_ERROR_CAP);
    config *next = err ? config_load_mode(r->path, r->flags, NULL, err, RELOAD_ERROR_CAP) : NULL;
    if (next == NULL) {
        log_write(LOG_ERROR, "reload refused: the new config is invalid; the old one keeps serving", "config",
                  r->path, "errors", err ? err : "out of memory", NULL);
        free(err);
        return -1;
    }
    free(err);
    const char *why = needs_restart(r->active, next);
    if (why != NULL) {
        log_write(LOG_ERROR, "reload refused; the old config keeps serving", "config", r->path, "reason", why,
                  NULL);
        config_free(next);
        return -1;
    }
    config **grown = realloc(r->retired, (r->nretired + 1) * sizeof(*grown));
    if (grown != NULL)
        r->retired = grown;
    char tls_err[512] = "out of memory";
    if (grown == NULL || server_set_config(r->srv, next, tls_err, sizeof(tls_err)) != 0) {
        log_write(LOG_ERROR, "reload refused; the old config keeps serving", "config", r->path, "reason",
                  tls_err, NULL);
        config_free(next);
        return -1;
    }
    warn_start_up_values(r->active, next);
    r->retired[r->nretired++] = r->active;
    r->active = next;
    delivery_set_config(r->d, next);
    log_set_level(next->log.level);
    log_write(LOG_INFO, "config reloaded", "config", r->path, LOG_INT("routes", next->nroutes), NULL);
    return 0;
}

void reloader_free(reloader *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nretired; i++)
        config_free(r->retired[i]);
    free(r->retired);
    config_free(r->active);
    free(r->path);
    free(r);
}
