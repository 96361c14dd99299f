/* tls: one place that decides how closehook speaks TLS, so every listener and
 * every reload gets the same settings. */
#include "tls.h"

#include <openssl/err.h>
#include <stdio.h>

#include <h2o.h>

/* TLS 1.2 suites: ECDHE for forward secrecy, AEAD only (Mozilla's
 * "intermediate" profile); TLS 1.3's suites are all fine as they are. */
#define TLS12_CIPHERS                                                                                        \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"               \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* HTTP/1.1 only, not h2: h2o 2.2 buffers an HTTP/2 request body inside its
 * protocol layer and, past max_request_entity_size, resets the stream
 * (REFUSED_STREAM) before any handler runs, so an h2 sender could never be
 * given the 413 JSON answer; it has no streaming-body hook to intervene
 * with either. Webhook senders speak HTTP/1.1, and an h2-capable client
 * falls back to it through ALPN. */
static const h2o_iovec_t ALPN_HTTP1_ONLY[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

static SSL_CTX *fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, path ? path : "", reason);
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_context_new(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return fail(ctx, err, errlen, "cannot create a TLS context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx,
                        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
        return fail(ctx, err, errlen, "cannot set the cipher list", NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1)
        return fail(ctx, err, errlen, "cannot load the certificate chain", cert_path);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1)
        return fail(ctx, err, errlen, "cannot load the private key", key_path);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(ctx, err, errlen, "the private key does not match the certificate", key_path);
    h2o_ssl_register_alpn_protocols(ctx, ALPN_HTTP1_ONLY);
    return ctx;
}
