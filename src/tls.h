/* tls: the OpenSSL context of a TLS listener, with modern defaults: TLS 1.2
 * and 1.3 only, forward-secret AEAD ciphers for 1.2, no compression or
 * renegotiation, ALPN http/1.1 only (tls.c says why not h2). Plain HTTP stays the default behind a
 * TLS-terminating load balancer; this is for nodes that face senders directly.
 * Called from the main and signal threads (start-up, SIGHUP). */
#ifndef CLOSEHOOK_TLS_H
#define CLOSEHOOK_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Loads the PEM certificate chain and private key. NULL with err naming the
 * file and OpenSSL's reason. */
SSL_CTX *tls_context_new(const char *cert_path, const char *key_path, char *err, size_t errlen);

#endif
