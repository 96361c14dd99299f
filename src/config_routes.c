/* config_routes: the named parts of closehook.json, credentials and routes,
 * with the checks that tie them together (a route names a credential that
 * exists, a source that knows its keys, rules that compile). config.c loads
 * the settings around them and owns the struct's lifetime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "json.h"
#include "log.h"
#include "secret.h"

/* Close's token endpoint, under the API's base URL (close-api.md). */
#define DEFAULT_TOKEN_PATH "/oauth2/token/"

static const char *const credential_keys[] = {"api_key", "bearer_token", "oauth", "dry_run", NULL};
static const char *const oauth_keys[] = {"access_token",  "refresh_token", "client_id",
                                         "client_secret", "token_url",     NULL};

/* ---- credentials ---- */

/* Resolves where.key into *secret, keeping its reference in *ref. Returns 0
 * when resolved, 1 when absent, -1 when malformed or skipped. Absent is an
 * error naming the credential and key unless the load allows it (dry-run,
 * try), when the credential's routes dry-run: noted as a log line under serve,
 * as human text on stderr under an operator command (try). */
static int load_credential_secret(loader *ld, const credential *c, yajl_val obj, const char *where,
                                  const char *key, char **ref, char **secret)
{
    const char *r = loader_get_string(ld, obj, where, key, 1);
    if (r == NULL || (*ref = loader_xstrdup(ld, r)) == NULL)
        return -1;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    *secret = loader_resolve_reference(ld, r, where, key, &absent, why, sizeof(why));
    if (absent && !(ld->flags & CONFIG_LOAD_ALLOW_ABSENT) && !c->dry_run)
        loader_fail(ld, where, key,
                    "credential \"%s\" cannot be loaded: %s (use serve --dry-run or the credential's "
                    "\"dry_run\": true to run without it)",
                    c->name, why);
    else if (absent && (ld->flags & CONFIG_LOAD_NO_SECRETS)) /* an operator command: human text */
        fprintf(stderr, "closehook: credential \"%s\" (%s) is absent: %s; its routes run in dry-run\n",
                c->name, r, why);
    else if (absent) /* the daemon: a JSON log line like every other */
        log_write(LOG_WARN, "credential absent; routes using it run in dry-run", "credential", c->name, "ref",
                  r, "reason", why, NULL);
    return *secret != NULL ? 0 : absent ? 1 : -1;
}

/* {"oauth": {…}}: three secrets by reference, the client id and the token
 * endpoint in clear. One absent secret makes the whole credential absent: an
 * access token we could not refresh would fail within the hour anyway. */
static void load_oauth(loader *ld, config *cfg, credential *c, yajl_val obj, const char *where)
{
    credential_oauth *o = &c->oauth;
    char at[CONFIG_KEY_MAX + sizeof(".oauth")];
    snprintf(at, sizeof(at), "%s.oauth", where);
    c->kind = CREDENTIAL_OAUTH;
    if (!YAJL_IS_OBJECT(obj)) {
        loader_fail(
            ld, at, NULL,
            "must be an object {\"access_token\", \"refresh_token\", \"client_id\", \"client_secret\"}");
        return;
    }
    loader_check_keys(ld, obj, at, oauth_keys);
    const char *id = loader_get_string(ld, obj, at, "client_id", 1);
    if (id != NULL && id[0] == '\0')
        loader_fail(ld, at, "client_id", "must not be empty");
    else if (id != NULL)
        o->client_id = loader_xstrdup(ld, id);
    if (cfg->close.base_url != NULL &&
        asprintf(&o->token_url, "%s" DEFAULT_TOKEN_PATH, cfg->close.base_url) < 0)
        o->token_url = NULL;
    loader_set_string(ld, obj, at, "token_url", &o->token_url);
    if (o->token_url != NULL)
        loader_check_url(ld, at, "token_url", o->token_url);
    int absent = load_credential_secret(ld, c, obj, at, "access_token", &c->secret_ref, &c->secret) > 0;
    absent |=
        load_credential_secret(ld, c, obj, at, "refresh_token", &o->refresh_token_ref, &o->refresh_token) > 0;
    absent |=
        load_credential_secret(ld, c, obj, at, "client_secret", &o->client_secret_ref, &o->client_secret) > 0;
    if (absent) {
        secret_free(c->secret);
        secret_free(o->refresh_token);
        secret_free(o->client_secret);
        c->secret = o->refresh_token = o->client_secret = NULL;
    }
}

static void load_credential(loader *ld, config *cfg, size_t i, const char *name, yajl_val obj)
{
    credential *c = &cfg->credentials[i];
    char where[CONFIG_KEY_MAX];
    snprintf(where, sizeof(where), "credentials.%s", name);
    if (!loader_valid_name(name))
        loader_fail(ld, where, NULL, "name must be 1..%d characters of A-Z a-z 0-9 _ -", CONFIG_NAME_MAX);
    else if (config_find_credential(cfg, name) != NULL)
        loader_fail(ld, where, NULL, "defined twice");
    /* Named even when malformed, so routes using it report only this error. */
    if ((c->name = loader_xstrdup(ld, name)) == NULL)
        return;
    if (!YAJL_IS_OBJECT(obj)) {
        loader_fail(ld, where, NULL,
                    "must be an object {\"api_key\": ref}, {\"bearer_token\": ref} or {\"oauth\": {…}}");
        return;
    }
    yajl_val dry = json_member(obj, "dry_run");
    if (dry != NULL && !YAJL_IS_TRUE(dry) && !YAJL_IS_FALSE(dry))
        loader_fail(ld, where, "dry_run", "must be true or false");
    c->dry_run = dry != NULL && YAJL_IS_TRUE(dry);
    loader_check_keys(ld, obj, where, credential_keys);
    yajl_val oauth = json_member(obj, "oauth");
    int has_api = json_member(obj, "api_key") != NULL;
    if (has_api + (json_member(obj, "bearer_token") != NULL) + (oauth != NULL) != 1) {
        loader_fail(ld, where, NULL, "must have exactly one of \"api_key\", \"bearer_token\" or \"oauth\"");
        return;
    }
    if (oauth != NULL) {
        load_oauth(ld, cfg, c, oauth, where);
        return;
    }
    c->kind = has_api ? CREDENTIAL_API_KEY : CREDENTIAL_BEARER;
    load_credential_secret(ld, c, obj, where, has_api ? "api_key" : "bearer_token", &c->secret_ref,
                           &c->secret);
}

void config_load_credentials(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "credentials");
    if (v == NULL)
        return;
    if (!YAJL_IS_OBJECT(v)) {
        loader_fail(ld, NULL, "credentials",
                    "must be an object of NAME: {\"api_key\"|\"bearer_token\": ref} or {\"oauth\": {…}}");
        return;
    }
    cfg->credentials = calloc(v->u.object.len ? v->u.object.len : 1, sizeof(*cfg->credentials));
    if (cfg->credentials == NULL) {
        loader_fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->ncredentials = v->u.object.len;
    for (size_t i = 0; i < v->u.object.len; i++)
        load_credential(ld, cfg, i, v->u.object.keys[i], v->u.object.values[i]);
}

/* ---- routes ---- */

static void load_route_name(loader *ld, config *cfg, size_t i, yajl_val obj, const char *where)
{
    const char *name = loader_get_string(ld, obj, where, "name", 1);
    if (name == NULL)
        return;
    if (!loader_valid_name(name)) {
        loader_fail(ld, where, "name", "must be 1..%d characters of A-Z a-z 0-9 _ -", CONFIG_NAME_MAX);
        return;
    }
    for (size_t j = 0; j < i; j++)
        if (cfg->routes[j].name != NULL && strcmp(cfg->routes[j].name, name) == 0)
            loader_fail(ld, where, "name", "duplicate route name \"%s\" (also routes[%zu])", name, j);
    cfg->routes[i].name = loader_xstrdup(ld, name);
}

/* The route's resolved secret, or NULL. *ok is 0 when a "secret" was given
 * but cannot be used: a route we cannot verify must not start. */
static char *load_route_secret(loader *ld, route *r, yajl_val obj, const char *where, int *ok)
{
    *ok = 1;
    if (json_member(obj, "secret") == NULL)
        return NULL;
    const char *ref = loader_get_string(ld, obj, where, "secret", 0);
    *ok = 0;
    if (ref == NULL || (r->secret_ref = loader_xstrdup(ld, ref)) == NULL)
        return NULL;
    if ((ld->flags & CONFIG_LOAD_NO_SECRETS) &&
        (ld->only_route == NULL || r->name == NULL || strcmp(ld->only_route, r->name) != 0))
        return NULL; /* not needed by this command: no source either */
    unsigned flags = ld->flags;
    ld->flags &= ~CONFIG_LOAD_NO_SECRETS;
    int absent;
    char why[CONFIG_LINE_MAX / 2];
    char *secret = loader_resolve_reference(ld, ref, where, "secret", &absent, why, sizeof(why));
    ld->flags = flags;
    if (absent)
        loader_fail(ld, where, "secret", "%s", why);
    *ok = secret != NULL;
    return secret;
}

static void load_route_credential(loader *ld, config *cfg, route *r, yajl_val obj, const char *where)
{
    const char *name = loader_get_string(ld, obj, where, "credential", 1);
    if (name == NULL)
        return;
    /* The config is ours to fill; the lookup is const only for readers. */
    r->credential = (credential *)config_find_credential(cfg, name);
    if (r->credential == NULL)
        loader_fail(ld, where, "credential", "no credential named \"%s\"", name);
}

static void load_route_rules(loader *ld, route *r, yajl_val obj, const char *where)
{
    yajl_val rules = json_member(obj, "rules");
    if (rules == NULL || !YAJL_IS_ARRAY(rules)) {
        loader_fail(ld, where, "rules", rules ? "must be an array of rules" : "required");
        return;
    }
    char prefix[CONFIG_LINE_MAX / 2];
    snprintf(prefix, sizeof(prefix), "%s: %s.rules", ld->file, where);
    char why[CONFIG_LINE_MAX];
    why[0] = '\0';
    if (mapping_load(rules, prefix, &r->rules, why, sizeof(why)) != 0)
        loader_add_line(ld, why[0] ? why : prefix);
}

static void load_route_source(loader *ld, route *r, yajl_val obj, const char *where, const char *secret)
{
    const char *name = loader_get_string(ld, obj, where, "source", 1);
    if (name == NULL || (r->source_name = loader_xstrdup(ld, name)) == NULL)
        return;
    char why[CONFIG_LINE_MAX];
    why[0] = '\0';
    source_config_ctx ctx = {.file = ld->file, .key_prefix = where, .err = why, .errlen = sizeof(why)};
    r->source = source_create(name, obj, secret, &ctx);
    if (r->source == NULL)
        loader_add_line(ld, why[0] ? why : "source could not be created");
}

/* An optional array of CIDRs ("10.0.0.0/8", "2001:db8::/32", bare addresses):
 * trusted_proxies at the top, allow_ips on a route. */
void config_load_cidrs(loader *ld, yajl_val obj, const char *where, const char *key, netaddr_list *out)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL)
        return;
    if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0) {
        loader_fail(ld, where, key, "must be a non-empty array of addresses or CIDRs");
        return;
    }
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val e = v->u.array.values[i];
        char at[64];
        snprintf(at, sizeof(at), "%s[%zu]", key, i);
        if (!YAJL_IS_STRING(e) || netaddr_list_add(out, e->u.string) != 0)
            loader_fail(ld, where, at, "must be an IPv4/IPv6 address or CIDR like \"192.0.2.0/24\"");
    }
}

/* Only the keys every route shares are checked here; the rest belong to the
 * route's source, which reports its own. */
static void load_route(loader *ld, config *cfg, size_t i, yajl_val obj)
{
    route *r = &cfg->routes[i];
    char where[32];
    snprintf(where, sizeof(where), "routes[%zu]", i);
    if (!YAJL_IS_OBJECT(obj)) {
        loader_fail(ld, where, NULL, "must be an object");
        return;
    }
    load_route_name(ld, cfg, i, obj, where);
    config_load_cidrs(ld, obj, where, "allow_ips", &r->allow_ips);
    load_route_credential(ld, cfg, r, obj, where);
    load_route_rules(ld, r, obj, where);
    int secret_ok;
    char *secret = load_route_secret(ld, r, obj, where, &secret_ok);
    /* Without its secret the source would only add a second, misleading error. */
    if (secret_ok)
        load_route_source(ld, r, obj, where, secret);
    else
        loader_get_string(ld, obj, where, "source", 1);
    secret_free(secret);
}

void config_load_routes(loader *ld, config *cfg, yajl_val root)
{
    yajl_val v = json_member(root, "routes");
    if (v == NULL || !YAJL_IS_ARRAY(v) || v->u.array.len == 0) {
        loader_fail(ld, NULL, "routes", v ? "must be a non-empty array of routes" : "required");
        return;
    }
    cfg->routes = calloc(v->u.array.len, sizeof(*cfg->routes));
    if (cfg->routes == NULL) {
        loader_fail(ld, NULL, NULL, "out of memory");
        return;
    }
    cfg->nroutes = v->u.array.len;
    for (size_t i = 0; i < v->u.array.len; i++)
        load_route(ld, cfg, i, v->u.array.values[i]);
}
