/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL client contexts and per-connection SSL objects (see tls.h).
 * Verification is on for every context; a private CA is handled with
 * ca_file. The single switch that turns it off is
 * tls_client_ctx_skip_verify(), for an explicit insecure_skip_verify in a
 * config (tests/integration/security.test.mjs checks that no other
 * SSL_VERIFY_NONE or verify callback exists in the tree).
 */
#include "common/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* what: reason from the OpenSSL error queue, which is then emptied for the next caller. */
static int ossl_fail(struct err *err, const char *what, const char *arg)
{
	char buf[160];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(err, EINVAL, "%s%s: %s", what, arg, e != 0 ? buf : "unknown error");
}

SSL_CTX *tls_client_ctx_new(const char *ca_file, const unsigned char *alpn, size_t alpn_len, struct err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ossl_fail(err, "cannot create a TLS context", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* idle keep-alive connections then hold no read/write buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			ossl_fail(err, "cannot load trust store ", ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ossl_fail(err, "cannot load the system trust store", "");
		goto fail;
	}
	/* SSL_CTX_set_alpn_protos returns 0 on success, unlike the rest of OpenSSL */
	if (alpn != NULL && alpn_len > 0 && SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alpn_len) != 0) {
		ossl_fail(err, "cannot set ALPN", "");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_client_ctx_skip_verify(SSL_CTX *ctx)
{
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
}

bool tls_client_ctx_verifies(const SSL_CTX *ctx)
{
	return (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0;
}

/* No passphrase prompts: a daemon has no terminal to read one from. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int tls_client_ctx_set_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file, struct err *err)
{
	ERR_clear_error();
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return ossl_fail(err, "cannot load client certificate ", cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL compares the key with the certificate right here; say so plainly */
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			return err_set(err, EINVAL, "client key %s does not match the certificate %s", key_file,
				       cert_file);
		}
		return ossl_fail(err, "cannot load client key ", key_file);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ossl_fail(err, "client key does not match the certificate ", cert_file);
	return 0;
}

bool tls_host_is_ip(const char *host)
{
	unsigned char tmp[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, struct err *err)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ossl_fail(err, "SSL_new", "");
		return NULL;
	}
	if (tls_host_is_ip(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
			ossl_fail(err, "setting the IP address to verify", "");
			goto fail;
		}
		return ssl;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1) {
		ossl_fail(err, "setting SNI", "");
		goto fail;
	}
	/* "*.example.com" matches, "f*.example.com" does not: partial wildcards are a known weak spot */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1) {
		ossl_fail(err, "setting the host name to verify", "");
		goto fail;
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

bool tls_describe_failure(const SSL *ssl, unsigned long ossl_err, char *out, size_t cap)
{
	/* with verification skipped a bad chain did not fail the handshake: do not blame it */
	long vr =
	    ssl != NULL && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (cap == 0)
		return false;
	out[0] = '\0';
	if (vr != X509_V_OK) {
		snprintf(out, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
		return true;
	}
	if (ossl_err != 0) {
		ERR_error_string_n(ossl_err, out, cap);
		return true;
	}
	return false;
}
