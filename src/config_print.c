/* config_print: the effective configuration as JSON for `--print-config` and
 * check-config. Secrets appear only as their references, never as values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"
#include "json.h"

static void gen_secret_ref(yajl_gen g, const char *key, const char *ref, int resolved)
{
    json_gen_str(g, key);
    if (ref == NULL) {
        yajl_gen_null(g);
        return;
    }
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "ref", ref);
    json_gen_str(g, "resolved");
    yajl_gen_bool(g, resolved);
    yajl_gen_map_close(g);
}

static void gen_numbers(yajl_gen g, const config *cfg, const char *section)
{
    for (size_t i = 0; i < config_nnumbers; i++) {
        const char *s = config_numbers[i].section;
        if (section == NULL ? s == NULL : s != NULL && strcmp(s, section) == 0)
            json_gen_kv_int(g, config_numbers[i].key, config_number_fetch(cfg, &config_numbers[i]));
    }
}

/* A section object: its one string setting, if any, then its numbers. */
static void gen_section(yajl_gen g, const config *cfg, const char *section, const char *key,
                        const char *value)
{
    json_gen_str(g, section);
    yajl_gen_map_open(g);
    if (key != NULL)
        json_gen_kv_str(g, key, value);
    gen_numbers(g, cfg, section);
    yajl_gen_map_close(g);
}

static void gen_credential(yajl_gen g, const credential *c)
{
    json_gen_str(g, c->name);
    yajl_gen_map_open(g);
    if (c->kind == CREDENTIAL_OAUTH) {
        const credential_oauth *o = &c->oauth;
        json_gen_str(g, "oauth");
        yajl_gen_map_open(g);
        gen_secret_ref(g, "access_token", c->secret_ref, c->secret != NULL);
        gen_secret_ref(g, "refresh_token", o->refresh_token_ref, o->refresh_token != NULL);
        json_gen_kv_str(g, "client_id", o->client_id);
        gen_secret_ref(g, "client_secret", o->client_secret_ref, o->client_secret != NULL);
        json_gen_kv_str(g, "token_url", o->token_url);
        yajl_gen_map_close(g);
    } else {
        gen_secret_ref(g, c->kind == CREDENTIAL_API_KEY ? "api_key" : "bearer_token", c->secret_ref,
                       c->secret != NULL);
    }
    yajl_gen_map_close(g);
}

static void gen_cidrs(yajl_gen g, const char *key, const netaddr_list *list)
{
    json_gen_str(g, key);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < list->count; i++) {
        char text[64], cidr[80];
        netaddr_format(&list->items[i].addr, text, sizeof(text));
        int v4 = strchr(text, ':') == NULL;
        snprintf(cidr, sizeof(cidr), "%s/%d", text, v4 ? list->items[i].prefix - 96 : list->items[i].prefix);
        json_gen_str(g, cidr);
    }
    yajl_gen_array_close(g);
}

static void gen_route(yajl_gen g, const route *r)
{
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "name", r->name);
    json_gen_kv_str(g, "source", r->source_name);
    /* A route that loaded has resolved its secret; an absent one fails the load. */
    gen_secret_ref(g, "secret", r->secret_ref, 1);
    json_gen_kv_str(g, "credential", r->credential ? r->credential->name : NULL);
    json_gen_str(g, "dry_run");
    yajl_gen_bool(g, r->credential == NULL || r->credential->secret == NULL);
    /* The rules are the file's own text; the count shows they all loaded. */
    json_gen_kv_int(g, "rules", (long long)r->rules.count);
    if (r->allow_ips.count > 0)
        gen_cidrs(g, "allow_ips", &r->allow_ips);
    yajl_gen_map_close(g);
}

static void gen_config(yajl_gen g, const config *cfg)
{
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "path", cfg->path);
    json_gen_str(g, "listen");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "host", cfg->listeners[i].host);
        json_gen_kv_int(g, "port", cfg->listeners[i].port);
        if (cfg->listeners[i].tls_cert != NULL) {
            json_gen_str(g, "tls");
            yajl_gen_map_open(g);
            json_gen_kv_str(g, "cert", cfg->listeners[i].tls_cert);
            json_gen_kv_str(g, "key", cfg->listeners[i].tls_key);
            yajl_gen_map_close(g);
        }
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    gen_cidrs(g, "trusted_proxies", &cfg->trusted_proxies);
    json_gen_str(g, "log");
    yajl_gen_map_open(g);
    json_gen_str(g, "access");
    yajl_gen_bool(g, cfg->log.access);
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    json_gen_kv_str(g, "level", levels[cfg->log.level]);
    yajl_gen_map_close(g);
    if (cfg->admin.listen.port != 0) {
        json_gen_str(g, "admin");
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "host", cfg->admin.listen.host);
        json_gen_kv_int(g, "port", cfg->admin.listen.port);
        gen_secret_ref(g, "token", cfg->admin.token_ref, cfg->admin.token != NULL);
        yajl_gen_map_close(g);
    }
    gen_numbers(g, cfg, NULL);
    gen_section(g, cfg, "store", "path", cfg->store.path);
    gen_section(g, cfg, "close", "base_url", cfg->close.base_url);
    gen_section(g, cfg, "delivery", NULL, NULL);
    gen_section(g, cfg, "resolve", NULL, NULL);
    gen_section(g, cfg, "shutdown", NULL, NULL);
    json_gen_str(g, "credentials");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < cfg->ncredentials; i++)
        gen_credential(g, &cfg->credentials[i]);
    yajl_gen_map_close(g);
    json_gen_str(g, "routes");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < cfg->nroutes; i++)
        gen_route(g, &cfg->routes[i]);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
}

void config_print(const config *cfg)
{
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return;
    yajl_gen_config(g, yajl_gen_beautify, 1);
    gen_config(g, cfg);
    size_t len;
    char *text = json_gen_take(g, &len);
    yajl_gen_free(g);
    if (text != NULL) {
        fwrite(text, 1, len, stdout);
        if (len == 0 || text[len - 1] != '\n')
            fputc('\n', stdout);
        fflush(stdout);
    }
    free(text);
}
