/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL server context for llmgw-mock. TLS 1.2 is the floor (what the
 * gateway's client requires too); the protocol is chosen by ALPN in the
 * server's order of preference, and a client that offers no protocol we
 * know still gets HTTP/1.1 (no ALPN answer), as most servers do.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests/support/mock/mock_tls.h"

static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	const unsigned char *ours = arg;
	unsigned int ours_len = (unsigned int)strlen((const char *)ours);
	unsigned char *sel = NULL;
	(void)ssl;
	/* SSL_select_next_proto walks the first list (ours) in order: our preference wins. */
	if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int fail(SSL_CTX *ctx, struct err *err, const char *what, const char *file)
{
	char reason[160];
	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return err_set(err, 0, "%s %s: %s", what, file != NULL ? file : "", reason);
}

SSL_CTX *mock_tls_ctx_new(const char *cert_file, const char *key_file, bool offer_h2, struct err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		fail(NULL, err, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		fail(ctx, err, "cannot load certificate", cert_file);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		fail(ctx, err, "cannot load key", key_file);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		fail(ctx, err, "key does not match certificate", key_file);
		return NULL;
	}
	/* The callback only reads the list: casting away const for the void * argument is safe. */
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)(offer_h2 ? alpn_h2 : alpn_h1));
	return ctx;
}
