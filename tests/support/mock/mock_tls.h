/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS server side of llmgw-mock (--tls-cert / --tls-key): an OpenSSL
 * server context whose ALPN callback prefers "h2" over "http/1.1", so a
 * client that offers both gets HTTP/2, like a real provider's front end.
 * The certificates are made by the tests at run time; nothing is committed.
 */
#ifndef LLMGW_TESTS_MOCK_TLS_H
#define LLMGW_TESTS_MOCK_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "common/err.h"

/*
 * New server context from PEM files (cert may hold the chain). offer_h2
 * false advertises http/1.1 only. The caller frees it with SSL_CTX_free().
 * NULL with the OpenSSL reason in err.
 */
SSL_CTX *mock_tls_ctx_new(const char *cert_file, const char *key_file, bool offer_h2, struct err *err);

#endif
