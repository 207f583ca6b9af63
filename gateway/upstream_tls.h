/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for upstream connections (OpenSSL 3). One SSL_CTX per https provider,
 * made at start-up and shared read-only by every worker: TLS 1.2+, peer
 * verification against the system store (or the provider's ca_file),
 * hostname (or IP) verification and SNI on every connection.
 */
#ifndef LLMGW_GATEWAY_UPSTREAM_TLS_H
#define LLMGW_GATEWAY_UPSTREAM_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common/err.h"

/* New client context; ca_file NULL uses the default verify paths. */
SSL_CTX *upstream_tls_ctx_new(const char *ca_file, struct err *err);

/*
 * New SSL for one connection to host: SNI (names only, never IP literals,
 * per RFC 6066) and SSL_set1_host / IP verification. Caller owns the SSL
 * (it usually hands it to a bufferevent).
 */
SSL *upstream_tls_ssl_new(SSL_CTX *ctx, const char *host, struct err *err);

/*
 * Short description of why a handshake failed for logs: the certificate
 * verification result if that failed, else the OpenSSL error string of
 * ossl_err (0 = unknown). Never contains secrets.
 */
void upstream_tls_describe(SSL *ssl, unsigned long ossl_err, char *out, size_t cap);

#endif
