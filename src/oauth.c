/* oauth: keeps every OAuth credential's access token fresh without ever losing
 * the refresh token. Close rotates refresh tokens, so the one dangerous moment
 * is between "Close answered a new pair" and "the new pair is safe on disk":
 * this file makes that window one store commit wide and never lets a worker
 * use a pair before that commit. It is the refresh policy; the pairs are kept
 * by the store (store.h token ops). */
#include "oauth.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "close_client.h"
#include "json.h"
#include "log.h"
#include "redact.h"
#include "store.h"

/* Refresh this long before the stated expiry: a request that starts with the
 * old token must still arrive while it is valid. 60 s covers the default
 * request timeout (10 s) plus ordinary clock skew, and costs at most 1/60 of
 * an hour-long token's life. */
#define OAUTH_REFRESH_MARGIN_S 60
/* The part of the token endpoint's error text kept in a dead letter: its
 * "error" code and a description are a few dozen bytes. */
#define OAUTH_ERROR_EXCERPT 160

/* One OAuth credential's live pair. lock is held across a whole refresh, so a
 * second worker that needs a token waits for the first one's result instead
 * of spending the (rotating) refresh token a second time. */
typedef struct token_state {
    const credential *cred;
    pthread_mutex_t lock;
    char *access_token;
    char *refresh_token;
    int64_t expires_at; /* unix seconds; 0 = unknown (the config's token): used until a 401 */
    close_client *http; /* for the token endpoint; used only under lock */
} token_state;

struct oauth {
    store *store; /* borrowed; NULL when no credential uses OAuth */
    token_state *states;
    size_t nstates;
};

/* ---- tokens in memory ---- */

static void wipe(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void oauth_token_free(char *token)
{
    wipe(token);
}

/* Replaces one token (fresh is already registered with the log). The old
 * text is dead once replaced (rotated or superseded), so it leaves the log's
 * registry, which would otherwise fill up after a day of hourly refreshes. */
static void replace_token(char **slot, char *fresh)
{
    if (*slot != NULL && strcmp(*slot, fresh) != 0)
        log_forget_secret(*slot);
    wipe(*slot);
    *slot = fresh;
}

static token_state *find_state(oauth *o, const credential *cred)
{
    for (size_t i = 0; o != NULL && cred != NULL && i < o->nstates; i++)
        if (strcmp(o->states[i].cred->name, cred->name) == 0)
            return &o->states[i];
    return NULL;
}

/* ---- the store ---- */

/* Takes the stored pair for st when there is one. Returns 1 when taken. */
static int load_stored(oauth *o, token_state *st)
{
    char *access = NULL, *refresh = NULL;
    int64_t expires_at = 0;
    if (o->store->ops->token_load(o->store, st->cred->name, &access, &refresh, &expires_at) != 1)
        return 0;
    log_register_secret(access);
    log_register_secret(refresh);
    replace_token(&st->access_token, access);
    replace_token(&st->refresh_token, refresh);
    st->expires_at = expires_at;
    return 1;
}

/* Commits the pair durably; 0 on success (the store logs a failure). */
static int persist(oauth *o, const token_state *st, const char *access, const char *refresh,
                   int64_t expires_at)
{
    return o->store->ops->token_save(o->store, st->cred->name, access, refresh, expires_at,
                                     (int64_t)time(NULL));
}

/* ---- the refresh ---- */

/* grant_type=refresh_token&… with every value escaped. Malloc'ed (holds
 * secrets: wipe it). */
static char *refresh_form(token_state *st)
{
    const credential_oauth *c = &st->cred->oauth;
    char *rt = close_client_escape(st->http, st->refresh_token);
    char *id = close_client_escape(st->http, c->client_id);
    char *cs = close_client_escape(st->http, c->client_secret);
    char *form = NULL;
    if (rt == NULL || id == NULL || cs == NULL ||
        asprintf(&form, "grant_type=refresh_token&refresh_token=%s&client_id=%s&client_secret=%s", rt, id,
                 cs) < 0)
        form = NULL;
    wipe(rt);
    wipe(id);
    wipe(cs);
    return form;
}

/* Why the token endpoint refused: its "error" code and description (RFC
 * 6749 §5.2), never the raw body, which is not ours to vouch for. Either may
 * echo the form we sent, so every spelling of st's secrets is taken out of
 * the whole body before any of it is cut to an excerpt. */
static void refusal(const token_state *st, const close_response *res, char *err, size_t errlen)
{
    char why[128];
    redactor *r = redact_new();
    redact_add_credential(r, st->cred);
    redact_add(r, st->refresh_token);
    redact_add(r, st->access_token);
    char *body = res->body ? redact_text(r, res->body, res->body_len, res->body_cut) : NULL;
    redact_free(r);
    yajl_val root = body ? json_parse(body, strlen(body), why, sizeof(why)) : NULL;
    const char *code = json_scalar(json_member(root, "error"));
    const char *desc = json_scalar(json_member(root, "error_description"));
    snprintf(err, errlen, "oauth refresh failed: HTTP %ld%s%.*s%s%.*s%s", res->status, code ? ": " : "",
             OAUTH_ERROR_EXCERPT, code ? code : "", desc ? " (" : "", OAUTH_ERROR_EXCERPT, desc ? desc : "",
             desc ? ")" : "");
    yajl_tree_free(root);
    free(body);
}

/* The new pair from a 200 answer. The refresh token may be missing (a server
 * that does not rotate): the current one stays. Returns 0, or -1 with err. */
static int parse_pair(const close_response *res, token_state *st, char **access, char **refresh,
                      int64_t *expires_at, char *err, size_t errlen)
{
    char why[128];
    yajl_val root = res->body ? json_parse(res->body, res->body_len, why, sizeof(why)) : NULL;
    yajl_val at = json_member(root, "access_token"), rt = json_member(root, "refresh_token");
    yajl_val in = json_member(root, "expires_in");
    *access = YAJL_IS_STRING(at) && at->u.string[0] ? strdup(at->u.string) : NULL;
    int rotated = YAJL_IS_STRING(rt) && rt->u.string[0];
    *refresh = strdup(rotated ? rt->u.string : st->refresh_token);
    *expires_at = YAJL_IS_INTEGER(in) && in->u.number.i > 0 ? (int64_t)time(NULL) + in->u.number.i : 0;
    yajl_tree_free(root);
    /* Known the moment they exist, so nothing after this can log them. */
    log_register_secret(*access);
    if (rotated)
        log_register_secret(*refresh);
    if (*access != NULL && *refresh != NULL)
        return 0;
    snprintf(err, errlen, "oauth refresh failed: the token endpoint's answer has no access_token");
    wipe(*access);
    wipe(*refresh);
    return -1;
}

/* Spends st's refresh token; called with st->lock held. On success the new
 * pair is committed to the store first, and only then published in st. */
static oauth_result refresh(oauth *o, token_state *st, char *err, size_t errlen)
{
    char *form = refresh_form(st);
    if (form == NULL) {
        snprintf(err, errlen, "oauth refresh failed: out of memory");
        return OAUTH_TRANSIENT;
    }
    close_response res;
    close_class cls = close_client_post_form(st->http, st->cred->oauth.token_url, form, &res);
    wipe(form);
    oauth_result result = OAUTH_OK;
    char *access = NULL, *refresh_token = NULL;
    int64_t expires_at = 0;
    if (cls == CLOSE_TRANSIENT) {
        if (res.status == 0)
            snprintf(err, errlen, "oauth refresh failed: %s", res.err);
        else
            refusal(st, &res, err, errlen);
        result = OAUTH_TRANSIENT;
    } else if (cls == CLOSE_PERMANENT) {
        refusal(st, &res, err, errlen);
        result = OAUTH_PERMANENT;
    } else if (parse_pair(&res, st, &access, &refresh_token, &expires_at, err, errlen) < 0) {
        result = OAUTH_PERMANENT;
    }
    if (res.body != NULL)
        explicit_bzero(res.body, res.body_len); /* a 200 carries the new pair */
    close_response_clear(&res);
    if (result != OAUTH_OK)
        return result;
    /* Close has already killed the old refresh token. If we crashed between its
     * answer and this commit, the new pair would be lost and the credential
     * need a new grant; no order of steps avoids that window, committing
     * before any use keeps it as short as one fsync. Should the commit fail,
     * the pair is still published: the old one is dead either way, and this
     * way the daemon keeps working until it restarts. */
    persist(o, st, access, refresh_token, expires_at);
    replace_token(&st->access_token, access);
    replace_token(&st->refresh_token, refresh_token);
    st->expires_at = expires_at;
    log_write(LOG_INFO, "oauth: access token refreshed", "credential", st->cred->name,
              LOG_INT("expires_in_s", expires_at ? expires_at - (int64_t)time(NULL) : (int64_t)-1), NULL);
    return OAUTH_OK;
}

static int expiring(const token_state *st)
{
    return st->expires_at != 0 && (int64_t)time(NULL) >= st->expires_at - OAUTH_REFRESH_MARGIN_S;
}

/* Refreshes when needed (with stale: if stale is still the current token;
 * without: if the current one is expiring), decided under the lock so that
 * waiting workers see the first one's result, then copies the token out. */
static oauth_result current_token(oauth *o, const credential *cred, const char *stale, char **token,
                                  char *err, size_t errlen)
{
    *token = NULL;
    token_state *st = find_state(o, cred);
    if (st == NULL) {
        snprintf(err, errlen, "oauth: credential \"%s\" has no token (its secrets are absent)",
                 cred ? cred->name : "?");
        return OAUTH_PERMANENT;
    }
    pthread_mutex_lock(&st->lock);
    oauth_result r = OAUTH_OK;
    int must = stale != NULL ? strcmp(st->access_token, stale) == 0 : expiring(st);
    if (must)
        r = refresh(o, st, err, errlen);
    /* Refreshing ahead of expiry is a courtesy: while the token still has
     * time left, a failed refresh must not hold deliveries back (a refused
     * grant surfaces at the 401 after expiry, as a dead letter). */
    if (r != OAUTH_OK && stale == NULL && (int64_t)time(NULL) < st->expires_at) {
        log_write(LOG_WARN, "oauth: early refresh failed; using the current token meanwhile", "credential",
                  st->cred->name, "error", err, NULL);
        r = OAUTH_OK;
    }
    if (r == OAUTH_OK && (*token = strdup(st->access_token)) == NULL) {
        snprintf(err, errlen, "oauth: out of memory");
        r = OAUTH_TRANSIENT;
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

oauth_result oauth_access_token(oauth *o, const credential *cred, char **token, char *err, size_t errlen)
{
    return current_token(o, cred, NULL, token, err, errlen);
}

oauth_result oauth_refresh_after_401(oauth *o, const credential *cred, const char *stale, char **token,
                                     char *err, size_t errlen)
{
    return current_token(o, cred, stale ? stale : "", token, err, errlen);
}

/* ---- open / close ---- */

int oauth_credential_usable(const credential *c)
{
    return c->kind == CREDENTIAL_OAUTH && c->secret != NULL && c->oauth.refresh_token != NULL &&
           c->oauth.client_secret != NULL;
}

/* Starts st from the stored pair, else from the config's. */
static int init_state(oauth *o, token_state *st, const credential *c, const config *cfg)
{
    st->cred = c;
    pthread_mutex_init(&st->lock, NULL);
    st->http = close_client_new(cfg->close.base_url, cfg->close.timeout_ms);
    if (st->http == NULL)
        return -1;
    if (load_stored(o, st)) {
        log_write(LOG_INFO, "oauth: using the stored token pair (it replaces the config's)", "credential",
                  c->name, NULL);
        return 0;
    }
    st->access_token = strdup(c->secret);
    st->refresh_token = strdup(c->oauth.refresh_token);
    return st->access_token != NULL && st->refresh_token != NULL ? 0 : -1;
}

oauth *oauth_open(store *s, const config *cfg, char *err, size_t errlen)
{
    oauth *o = calloc(1, sizeof(*o));
    if (o == NULL)
        goto oom;
    size_t n = 0;
    for (size_t i = 0; i < cfg->ncredentials; i++)
        n += oauth_credential_usable(&cfg->credentials[i]);
    if (n == 0)
        return o;
    if (s == NULL || s->ops->tokens_open(s, err, errlen) < 0) {
        if (s == NULL)
            snprintf(err, errlen, "oauth: no store");
        oauth_close(o);
        return NULL;
    }
    o->store = s;
    if ((o->states = calloc(n, sizeof(*o->states))) == NULL)
        goto oom;
    for (size_t i = 0; i < cfg->ncredentials; i++) {
        if (!oauth_credential_usable(&cfg->credentials[i]))
            continue;
        if (init_state(o, &o->states[o->nstates++], &cfg->credentials[i], cfg) < 0)
            goto oom;
    }
    return o;
oom:
    snprintf(err, errlen, "oauth: out of memory");
    oauth_close(o);
    return NULL;
}

void oauth_close(oauth *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->nstates; i++) {
        token_state *st = &o->states[i];
        wipe(st->access_token);
        wipe(st->refresh_token);
        close_client_free(st->http);
        pthread_mutex_destroy(&st->lock);
    }
    free(o->states);
    free(o);
}
