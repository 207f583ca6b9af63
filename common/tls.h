/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS client setup (OpenSSL 3) shared by the gateway (upstream providers)
 * and the exporter (the OTLP endpoint). One SSL_CTX per destination, made
 * at start-up and then only read (safe to share between threads): TLS 1.2
 * minimum and peer verification on, against the system trust store or a
 * PEM bundle, optionally presenting a client certificate (mTLS).
 * Each connection gets its own SSL carrying SNI and the
 * name (or IP address) the certificate must match. Both processes carry
 * secrets (API keys, export headers): they must never talk to an
 * unverified peer. The one exception is tls_client_ctx_skip_verify(),
 * reachable only from an explicit insecure_skip_verify: true in a config,
 * which the caller logs at WARN and exposes as a metric.
 */
#ifndef LLMGW_COMMON_TLS_H
#define LLMGW_COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "common/err.h"

/*
 * New client context. ca_file NULL or "" uses the system trust store.
 * alpn is the protocol list in ALPN wire format (length-prefixed names,
 * e.g. "\x08http/1.1"); NULL/0 offers none. The caller frees the context
 * with SSL_CTX_free(). NULL with a reason (the OpenSSL error) in err.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_file, const unsigned char *alpn, size_t alpn_len, struct err *err);

/*
 * Adds a client certificate for mTLS to ctx (before any SSL is made from
 * it): cert_file is a PEM chain (leaf first, then intermediates), key_file
 * its PEM private key, unencrypted (an encrypted key fails instead of
 * prompting on a terminal). -1 with a reason in err when a file cannot be
 * read or parsed, or when the key does not belong to the certificate;
 * ctx is then unusable for mTLS and should be freed.
 */
int tls_client_ctx_set_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file, struct err *err);

/*
 * New SSL for one connection to host (no brackets for IPv6): SNI and
 * host name verification (no partial wildcards) for names; for IP
 * literals no SNI (RFC 6066 forbids it) and verification of the IP
 * address instead. The caller owns the SSL (and usually hands it to a
 * bufferevent). NULL with a reason in err.
 */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, struct err *err);

/*
 * Stops ctx from refusing a peer whose certificate chain or host name does
 * not verify (SSL_VERIFY_NONE): the handshake goes on and the result is
 * only recorded. For insecure_skip_verify: true and nothing else; the only
 * place in the tree that turns verification off. Call it before making
 * any SSL from ctx.
 */
void tls_client_ctx_skip_verify(SSL_CTX *ctx);

/* false once tls_client_ctx_skip_verify() was applied to ctx. */
bool tls_client_ctx_verifies(const SSL_CTX *ctx);

/* true if host is an IPv4 or IPv6 literal (without brackets). */
bool tls_host_is_ip(const char *host);

/*
 * Why a handshake failed, for logs: the certificate verification result
 * when that failed (ssl may be NULL), else the OpenSSL error string of
 * ossl_err (0 = none). Returns false and leaves out "" when neither says
 * anything. Never contains secrets. On a context that skips verification
 * the verification result is not a cause (it did not stop anything).
 */
bool tls_describe_failure(const SSL *ssl, unsigned long ossl_err, char *out, size_t cap);

#endif
