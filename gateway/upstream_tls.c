/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL client setup for upstream providers. Verification is always on:
 * a gateway that carries API keys must never talk to an unverified peer.
 */
#include "gateway/upstream_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static int ossl_fail(struct err *err, const char *what)
{
	char buf[160];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return err_set(err, EINVAL, "%s: %s", what, e != 0 ? buf : "unknown error");
}

SSL_CTX *upstream_tls_ctx_new(const char *ca_file, struct err *err)
{
	/* "http/1.1" in ALPN wire format; HTTP/2 will add "h2" when it lands */
	static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ossl_fail(err, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			ossl_fail(err, "loading ca_file");
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ossl_fail(err, "loading the system CA store");
		goto fail;
	}
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0) {
		ossl_fail(err, "SSL_CTX_set_alpn_protos");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int is_ip_literal(const char *host)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

SSL *upstream_tls_ssl_new(SSL_CTX *ctx, const char *host, struct err *err)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ossl_fail(err, "SSL_new");
		return NULL;
	}
	if (is_ip_literal(host)) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
			ossl_fail(err, "setting the IP to verify");
			goto fail;
		}
	} else {
		if (SSL_set_tlsext_host_name(ssl, host) != 1) {
			ossl_fail(err, "setting SNI");
			goto fail;
		}
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, host) != 1) {
			ossl_fail(err, "setting the hostname to verify");
			goto fail;
		}
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

void upstream_tls_describe(SSL *ssl, unsigned long ossl_err, char *out, size_t cap)
{
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (vr != X509_V_OK) {
		snprintf(out, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
		return;
	}
	if (ossl_err != 0) {
		char buf[160];
		ERR_error_string_n(ossl_err, buf, sizeof(buf));
		snprintf(out, cap, "%s", buf);
		return;
	}
	snprintf(out, cap, "TLS handshake failed");
}
