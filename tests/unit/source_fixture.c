/* source_fixture: helpers shared by the webhook source unit tests; see
 * source_fixture.h for why they live together. */
#include "source_fixture.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

const char *fake_header(void *ctx, const char *name, size_t *len)
{
    const fake_headers *h = ctx;
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->names[i], name) == 0) {
            *len = strlen(h->values[i]);
            return h->values[i];
        }
    }
    return NULL;
}

char *fixture_read_sample(const char *sender, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", SAMPLES_DIR, sender, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

source *fixture_make_source(fixture_source_ctor create, const char *key_prefix, const char *route_json,
                            const char *secret, char *err, size_t errlen)
{
    char perr[128];
    yajl_val route = json_parse(route_json, strlen(route_json), perr, sizeof(perr));
    cr_assert_not_null(route, "%s", perr);
    source_config_ctx ctx = {.file = "test.json", .key_prefix = key_prefix, .err = err, .errlen = errlen};
    source *src = create(route, secret, &ctx);
    yajl_tree_free(route);
    return src;
}

source *fixture_source_ok(fixture_source_ctor create, const char *key_prefix, const char *route_json,
                          const char *secret)
{
    char err[256] = "";
    source *src = fixture_make_source(create, key_prefix, route_json, secret, err, sizeof(err));
    cr_assert_not_null(src, "%s", err);
    return src;
}

void fixture_release(source *src, yajl_val tree, char *body)
{
    src->destroy(src);
    yajl_tree_free(tree);
    free(body);
}

yajl_val fixture_parse(const char *body, size_t len)
{
    char perr[128];
    yajl_val tree = json_parse(body, len, perr, sizeof(perr));
    cr_assert_not_null(tree, "%s", perr);
    return tree;
}

unsigned int fixture_hmac(const char *secret, size_t secret_len, const char *prefix, const char *body,
                          size_t len, unsigned char *mac)
{
    size_t plen = strlen(prefix);
    unsigned char *msg = malloc(plen + len + 1);
    memcpy(msg, prefix, plen);
    memcpy(msg + plen, body, len);
    unsigned int mac_len = 0;
    cr_assert_not_null(HMAC(EVP_sha256(), secret, (int)secret_len, msg, plen + len, mac, &mac_len));
    free(msg);
    return mac_len;
}

size_t fixture_hex(const unsigned char *mac, unsigned int len, char *out)
{
    for (unsigned int i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
    out[2 * len] = '\0';
    return 2 * (size_t)len;
}
