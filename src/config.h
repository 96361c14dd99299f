/* config: loads and validates closehook's JSON config (comments allowed).
 *
 * Secrets are given only by reference, "env:NAME" or "file:/path", and are
 * resolved at load time; the resolved text lives only in this struct and is
 * registered with log_register_secret. Every error names the file, the key and
 * the problem ("closehook.json: routes[1].credential: no credential named
 * \"sales\""), and config_load reports all errors it finds, not just the first.
 * Loaded once on the main thread; read-only afterwards and shared by all threads.
 *
 * Top-level keys (all optional but "routes"):
 *   "listen":      [{"host": "0.0.0.0", "port": 8080,
 *                    "tls": {"cert": "/path/chain.pem", "key": "/path/key.pem"}}]
 *                  (default 127.0.0.1:8080, plain HTTP; TLS files reloaded on SIGHUP)
 *   "threads":     event-loop threads, 0 = one per core       (default 0)
 *   "body_limit":  max request body bytes                     (default 1048576)
 *   "store":       {"path": "closehook.db", "max_pending": 1000000, "max_size_mb": 0,
 *                   "done_retention_s": 259200}
 *   "shutdown":    {"drain_delay_ms": 2000}
 *   "close":       {"base_url": "https://api.close.com", "timeout_ms": 10000}
 *   "delivery":    {"workers": 2, "retry_initial_ms": 1000, "retry_max_ms": 300000,
 *                   "max_age_s": 259200, "per_credential": 0}
 *                   per_credential: the most rows of one credential in flight at
 *                   once; 0 (the default) is workers. The pool runs one thread more
 *                   than this cap, so a credential whose Close hangs always leaves
 *                   a worker to the others
 *   "log":         {"access": true, "level": "info"}
 *   "admin":       {"listen": {"host": "127.0.0.1", "port": 8081}, "token": "env:NAME"}
 *                   the dead-letter API (admin.h); off when absent. The token is
 *                   required when on, and must resolve: a guard that is absent
 *                   would leave replay and purge open
 *   "resolve":     {"window_s": 7200, "attendee_window_s": 900, "cache_ttl_s": 86400}
 *                   window_s: how far from the sender's start time a Close meeting
 *                   may start and still match a Zoom id / calendar event;
 *                   attendee_window_s: the same for the attendee-email rule;
 *                   cache_ttl_s: how long a resolved meeting id is reused
 *   "credentials": {"NAME": {"api_key": "env:…"} | {"bearer_token": "file:…"}
 *                   | {"oauth": {"access_token": ref, "refresh_token": ref,
 *                      "client_id": "…" (literal, not a secret), "client_secret": ref,
 *                      "token_url": default "<close.base_url>/oauth2/token/"}}}
 *   "trusted_proxies": ["10.0.0.0/8"]  peers whose X-Forwarded-For / Forwarded we believe
 *   "routes":      [{"name", "source", "secret", "credential", "rules",
 *                    "allow_ips": ["3.7.35.0/25"] (optional), …source keys}]
 * A credential whose env variable is unset or whose file is missing is not an
 * error: it is "absent", and routes using it run in dry-run (logged at load).
 * An OAuth credential is absent when any of its three secrets is. */
#ifndef CLOSEHOOK_CONFIG_H
#define CLOSEHOOK_CONFIG_H

#include <stddef.h>

#include "log.h"
#include "mapping.h"
#include "netaddr.h"
#include "source/source.h"

typedef struct config_listener {
    char *host;
    int port;
    char *tls_cert; /* "tls.cert": PEM certificate chain; NULL = plain HTTP */
    char *tls_key;  /* "tls.key": PEM private key */
} config_listener;

typedef enum { CREDENTIAL_API_KEY, CREDENTIAL_BEARER, CREDENTIAL_OAUTH } credential_kind;

/* What an OAuth credential has beyond its access token. The tokens here are
 * only the starting pair: oauth.c owns the live one (see oauth.h). When the
 * credential is absent, all three resolved secrets are NULL. */
typedef struct credential_oauth {
    char *refresh_token_ref;
    char *refresh_token;
    char *client_id;
    char *client_secret_ref;
    char *client_secret;
    char *token_url;
} credential_oauth;

typedef struct credential {
    char *name;
    credential_kind kind;
    char *secret_ref;       /* "env:CLOSE_API_KEY": safe to print; OAuth: the access token's */
    char *secret;           /* resolved; NULL when absent (dry-run only) */
    int dry_run;            /* "dry_run": true: its updates are logged, never sent */
    credential_oauth oauth; /* CREDENTIAL_OAUTH only */
} credential;

typedef struct route {
    char *name; /* URL path segment: POST /hooks/<name> */
    char *source_name;
    source *source;
    char *secret_ref;       /* safe to print; NULL when the route has no "secret" */
    credential *credential; /* borrowed from config.credentials */
    mapping_rules rules;
    netaddr_list allow_ips; /* "allow_ips": empty = any client */
} route;

/* Each section of the file has its own struct, as nginx gives each module its
 * own conf; a module reads the sections it needs. */
typedef struct config_store {
    char *path;
    long max_pending;      /* "store.max_pending": 503 past this backlog */
    long max_size_mb;      /* "store.max_size_mb": 0 = no cap */
    long done_retention_s; /* "store.done_retention_s": dedup memory */
} config_store;

typedef struct config_close {
    char *base_url; /* no trailing slash */
    long timeout_ms;
} config_close;

typedef struct config_delivery {
    int workers;
    int per_credential; /* 0: workers - 1, at least 1 (delivery.c) */
    long retry_initial_ms;
    long retry_max_ms;
    long max_age_s;
} config_delivery;

typedef struct config_resolve {
    long window_s;
    long attendee_window_s;
    long cache_ttl_s;
} config_resolve;

typedef struct config_shutdown {
    long drain_delay_ms; /* "shutdown.drain_delay_ms": serve on after SIGTERM */
} config_shutdown;

typedef struct config_log {
    int access;      /* "log.access": one line per HTTP answer */
    log_level level; /* "log.level" */
} config_log;

typedef struct config_admin {
    config_listener listen; /* "admin.listen"; port 0: no admin listener */
    char *token_ref;        /* "admin.token", safe to print */
    char *token;            /* resolved; non-NULL whenever admin is on */
} config_admin;

typedef struct config {
    char *path;
    config_listener *listeners;
    size_t nlisteners;
    int threads;
    size_t body_limit;
    netaddr_list trusted_proxies; /* "trusted_proxies": peers whose X-Forwarded-For we believe */
    credential *credentials;
    size_t ncredentials;
    route *routes;
    size_t nroutes;
    size_t nplaceholders;    /* placeholder values accepted (CONFIG_LOAD_ALLOW_PLACEHOLDERS) */
    char *placeholder_first; /* "FILE:LINE: KEY" of the first of them; NULL when none */
    config_store store;
    config_close close;
    config_delivery delivery;
    config_resolve resolve;
    config_shutdown shutdown;
    config_log log;
    config_admin admin;
} config;

/* Loads path. Returns a config, or NULL with every problem written to err (one
 * per line, each "FILE: KEY: PROBLEM", or "FILE:LINE: KEY: PROBLEM" where the
 * line is known). */
config *config_load(const char *path, char *err, size_t errlen);

/* How much of the config a command needs. Default (0, what config_load and
 * `serve` use): every secret must resolve; a credential whose secret is
 * absent (env var unset, file missing) is an error naming it and its key.
 * CONFIG_LOAD_ALLOW_ABSENT: an absent credential is allowed and left NULL
 * (serve --dry-run, try). CONFIG_LOAD_NO_SECRETS: for operator commands that
 * must work beside the daemon without its environment. With only_route NULL
 * (dlq: it needs the store) no secret at all is resolved; with only_route
 * (try) only that route's signing secret and the credentials are. Routes
 * whose secret was skipped have no source.
 * Placeholders: a string value anywhere in the file holding "REPLACE_WITH"
 * (how the shipped examples mark ids only the operator knows, such as
 * "outcome_REPLACE_WITH_YOUR_NO_SHOW_OUTCOME_ID") is an error naming file, line
 * and key ("FILE:LINE: KEY: PROBLEM"). CONFIG_LOAD_ALLOW_PLACEHOLDERS accepts
 * them (check-config and serve --allow-placeholders, try, dlq) and counts them
 * in nplaceholders. Comments are not values. */
#define CONFIG_LOAD_ALLOW_ABSENT 1u
#define CONFIG_LOAD_NO_SECRETS 2u
#define CONFIG_LOAD_ALLOW_PLACEHOLDERS 4u
config *config_load_mode(const char *path, unsigned flags, const char *only_route, char *err, size_t errlen);
void config_free(config *cfg);

/* Looks a route up by its URL name (len bytes, not NUL-terminated). */
const route *config_find_route(const config *cfg, const char *name, size_t len);
const credential *config_find_credential(const config *cfg, const char *name);

/* Writes the effective config as JSON to stdout, secrets shown only by reference
 * ("env:NAME" plus whether it resolved), for `--print-config` and check-config. */
void config_print(const config *cfg);

#endif
