/* oauth: the live token pair of every OAuth credential, shared by all delivery
 * workers.
 *
 * Close's refresh tokens rotate: each refresh answers a new refresh token and
 * kills the old one. So the pair lives in the store (store.h token ops;
 * SQLite: table oauth_tokens on its own FULL-synchronous connection) and
 * every new pair is committed there before anyone uses it. This module is the
 * refresh policy: the only one that calls the token endpoint. At open, a
 * stored pair wins over the config's (the config's refresh token is dead
 * after the first rotation).
 *
 * Created once by delivery on the main thread (oauth_open), then used from any
 * worker thread: all calls are thread-safe, and at most one refresh per
 * credential is in flight (the others wait for its result). Tokens handed out
 * are malloc'ed copies the caller frees with oauth_token_free; every token is
 * registered with log_register_secret the moment it is known, and none ever
 * reaches an error text. */
#ifndef CLOSEHOOK_OAUTH_H
#define CLOSEHOOK_OAUTH_H

#include <stddef.h>

#include "config.h"

typedef struct oauth oauth;
typedef struct store store;

typedef enum {
    OAUTH_OK,
    OAUTH_TRANSIENT, /* token endpoint unreachable, 5xx, 429: retry the delivery later */
    OAUTH_PERMANENT  /* refused (400 invalid_grant, 401 invalid_client, …): dead letter */
} oauth_result;

/* 1 when c is an OAuth credential whose secrets all resolved: one the registry
 * keeps a token pair for. */
int oauth_credential_usable(const credential *c);

/* Loads the pair of every OAuth credential of cfg whose secrets resolved:
 * the stored one when the store has it, else the config's. Token storage in
 * s is set up (its table created) only when there is such a credential. s
 * (borrowed: delivery passes queue_store()) and cfg must outlive the
 * registry; s may be NULL when cfg has no such credential. NULL with err
 * filled on a store error. */
oauth *oauth_open(store *s, const config *cfg, char *err, size_t errlen);
void oauth_close(oauth *o);

/* The access token to send for cred, refreshed first when it expires within
 * OAUTH_REFRESH_MARGIN_S. On failure *token is NULL and err says why
 * ("oauth refresh failed: …"). */
oauth_result oauth_access_token(oauth *o, const credential *cred, char **token, char *err, size_t errlen);

/* Close answered 401 to a request sent with stale. Refreshes unless another
 * worker already replaced stale, and hands out the current token either way. */
oauth_result oauth_refresh_after_401(oauth *o, const credential *cred, const char *stale, char **token,
                                     char *err, size_t errlen);

/* Wipes and frees a token from the two calls above. */
void oauth_token_free(char *token);

#endif
