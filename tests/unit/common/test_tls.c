/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/tls without a network: IP-literal detection,
 * context creation (system store, a missing ca_file, ALPN), what a
 * per-connection SSL is set up to send and verify (SNI and host name for
 * names, the IP address and no SNI for literals), the failure
 * description used in logs, and client certificates for mTLS (a matching
 * pair loads; a key of another certificate, a missing file or an
 * encrypted key fail with a reason and never prompt for a passphrase).
 * Verification is on for every new context and only
 * tls_client_ctx_skip_verify() turns it off; real handshakes over memory
 * BIOs against a self-signed "localhost" server show what each setting
 * lets through (system store: refused; its certificate as ca_file:
 * accepted, but not for another host name; skip: accepted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <unistd.h>

#include "common/tls.h"

static void test_host_is_ip(void **state)
{
	(void)state;
	assert_true(tls_host_is_ip("127.0.0.1"));
	assert_true(tls_host_is_ip("::1"));
	assert_true(tls_host_is_ip("2001:db8::1"));
	assert_false(tls_host_is_ip("otlp.last9.io"));
	assert_false(tls_host_is_ip("[::1]"));
	assert_false(tls_host_is_ip("1.2.3"));
	assert_false(tls_host_is_ip(""));
}

static void test_ctx(void **state)
{
	(void)state;
	struct err err = {0};
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	ctx = tls_client_ctx_new("", alpn, sizeof(alpn) - 1, &err);
	assert_non_null(ctx);
	SSL_CTX_free(ctx);
	ctx = tls_client_ctx_new("/nonexistent/ca.pem", NULL, 0, &err);
	assert_null(ctx);
	assert_non_null(strstr(err.msg, "cannot load trust store /nonexistent/ca.pem: "));
	assert_int_equal(ERR_peek_error(), 0); /* the queue is left clean for the next caller */
}

static void test_ssl_for_name_and_ip(void **state)
{
	(void)state;
	struct err err = {0};
	SSL_CTX *ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_non_null(ctx);

	SSL *ssl = tls_client_ssl_new(ctx, "api.example.com", &err);
	assert_non_null(ssl);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "api.example.com");
	assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "api.example.com");
	assert_true((X509_VERIFY_PARAM_get_hostflags(SSL_get0_param(ssl)) & X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS) != 0);
	SSL_free(ssl);

	static const char *const ips[] = {"127.0.0.1", "::1"};
	for (size_t i = 0; i < 2; i++) {
		ssl = tls_client_ssl_new(ctx, ips[i], &err);
		assert_non_null(ssl);
		assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)); /* RFC 6066: no SNI for IPs */
		assert_null(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0));
		char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
		assert_non_null(ip);
		if (i == 0)
			assert_string_equal(ip, "127.0.0.1"); /* IPv6 comes back in OpenSSL's own long form */
		OPENSSL_free(ip);
		SSL_free(ssl);
	}
	SSL_CTX_free(ctx);
}

static void test_describe(void **state)
{
	(void)state;
	char out[200];
	struct err err = {0};
	assert_false(tls_describe_failure(NULL, 0, out, sizeof(out)));
	assert_string_equal(out, "");
	SSL_CTX *ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	SSL *ssl = tls_client_ssl_new(ctx, "h.example", &err);
	assert_false(tls_describe_failure(ssl, 0, out, sizeof(out)));
	unsigned long e = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER);
	assert_true(tls_describe_failure(ssl, e, out, sizeof(out)));
	assert_non_null(strstr(out, "wrong version number"));
	/* A failed verification wins over the error queue: it says what to fix. */
	SSL_set_verify_result(ssl, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_true(tls_describe_failure(ssl, e, out, sizeof(out)));
	assert_string_equal(out, "certificate verify failed: certificate has expired");
	/* Cut to fit, still terminated. */
	char small[12];
	assert_true(tls_describe_failure(ssl, 0, small, sizeof(small)));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

/* A self-signed certificate and its key, for the mTLS loader. */
static void cert_make(EVP_PKEY **key, X509 **crt)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"client", -1,
				   -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, k, EVP_sha256()) != 0);
	*key = k;
	*crt = x;
}

static void pem_file(char *path, size_t cap, X509 *crt, EVP_PKEY *key, const char *pass)
{
	snprintf(path, cap, "/tmp/llmgw-test-tls.XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	assert_non_null(f);
	if (crt != NULL)
		assert_int_equal(PEM_write_X509(f, crt), 1);
	if (key != NULL)
		assert_int_equal(PEM_write_PrivateKey(f, key, pass ? EVP_aes_128_cbc() : NULL, NULL, 0, NULL,
						      (void *)(uintptr_t)pass),
				 1);
	fclose(f);
}

static void test_client_cert(void **state)
{
	(void)state;
	struct err err = {0};
	EVP_PKEY *k1, *k2;
	X509 *c1, *c2;
	char crt[64], key[64], other[64], locked[64];
	cert_make(&k1, &c1);
	cert_make(&k2, &c2);
	pem_file(crt, sizeof(crt), c1, NULL, NULL);
	pem_file(key, sizeof(key), NULL, k1, NULL);
	pem_file(other, sizeof(other), NULL, k2, NULL);
	pem_file(locked, sizeof(locked), NULL, k1, "secret");

	SSL_CTX *ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_int_equal(tls_client_ctx_set_cert(ctx, crt, key, &err), 0);
	assert_non_null(SSL_CTX_get0_certificate(ctx));
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_int_equal(tls_client_ctx_set_cert(ctx, crt, other, &err), -1);
	assert_non_null(strstr(err.msg, "does not match the certificate"));
	assert_int_equal(ERR_peek_error(), 0);
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_int_equal(tls_client_ctx_set_cert(ctx, crt, locked, &err), -1); /* no prompt, a reason */
	assert_non_null(strstr(err.msg, "cannot load client key"));
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_int_equal(tls_client_ctx_set_cert(ctx, "/nonexistent/c.pem", key, &err), -1);
	assert_non_null(strstr(err.msg, "cannot load client certificate /nonexistent/c.pem"));
	SSL_CTX_free(ctx);

	unlink(crt);
	unlink(key);
	unlink(other);
	unlink(locked);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	X509_free(c1);
	X509_free(c2);
}

static void test_skip_verify(void **state)
{
	(void)state;
	struct err err = {0};
	SSL_CTX *ctx = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_non_null(ctx);
	assert_true(tls_client_ctx_verifies(ctx));
	assert_null(SSL_CTX_get_verify_callback(ctx)); /* OpenSSL's own chain check, nothing that overrides it */
	tls_client_ctx_skip_verify(ctx);
	assert_false(tls_client_ctx_verifies(ctx));
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
	SSL *ssl = tls_client_ssl_new(ctx, "h.example", &err);
	assert_non_null(ssl);
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
	/* a chain that did not verify stopped nothing here: the description does not blame it */
	char out[200];
	SSL_set_verify_result(ssl, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_false(tls_describe_failure(ssl, 0, out, sizeof(out)));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

/* A self-signed server certificate for "localhost" (SAN DNS:localhost), and its key. */
static void server_cert_make(EVP_PKEY **key, X509 **crt)
{
	X509V3_CTX v3;
	cert_make(key, crt);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_subject_name(*crt, name);
	X509_set_issuer_name(*crt, name);
	X509_NAME_free(name);
	X509V3_set_ctx(&v3, *crt, *crt, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	assert_non_null(ext);
	X509_add_ext(*crt, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(*crt, *key, EVP_sha256()) != 0);
}

/*
 * One handshake between a client SSL from cctx (verifying host) and a
 * server presenting crt/key, over a memory BIO pair. Returns the client's
 * verdict: 1 handshake done, 0 refused.
 */
static int handshake(SSL_CTX *cctx, const char *host, X509 *crt, EVP_PKEY *key)
{
	struct err err = {0};
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(sctx);
	assert_int_equal(SSL_CTX_use_certificate(sctx, crt), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	SSL *c = tls_client_ssl_new(cctx, host, &err), *sv = SSL_new(sctx);
	BIO *bc, *bs;
	assert_non_null(c);
	assert_non_null(sv);
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(sv, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(sv);
	int rc = -1;
	for (int i = 0; i < 50 && rc < 0; i++) {
		int a = SSL_do_handshake(c), b = SSL_do_handshake(sv);
		int ea = a == 1 ? SSL_ERROR_NONE : SSL_get_error(c, a);
		if (a == 1 && b == 1)
			rc = 1;
		else if (ea != SSL_ERROR_WANT_READ && ea != SSL_ERROR_WANT_WRITE && ea != SSL_ERROR_NONE)
			rc = 0; /* the client gave up: verification failed */
	}
	assert_true(rc >= 0);
	ERR_clear_error();
	SSL_free(c);
	SSL_free(sv);
	SSL_CTX_free(sctx);
	return rc;
}

static void test_handshakes(void **state)
{
	(void)state;
	struct err err = {0};
	EVP_PKEY *key;
	X509 *crt;
	char ca[64];
	server_cert_make(&key, &crt);
	pem_file(ca, sizeof(ca), crt, NULL, NULL);

	SSL_CTX *sys = tls_client_ctx_new(NULL, NULL, 0, &err);
	assert_int_equal(handshake(sys, "localhost", crt, key), 0); /* unknown issuer: refused */
	SSL_CTX *pinned = tls_client_ctx_new(ca, NULL, 0, &err);
	assert_non_null(pinned);
	assert_int_equal(handshake(pinned, "localhost", crt, key), 1);
	assert_int_equal(handshake(pinned, "other.example", crt, key), 0); /* right CA, wrong name: refused */
	SSL_CTX *skip = tls_client_ctx_new(NULL, NULL, 0, &err);
	tls_client_ctx_skip_verify(skip);
	assert_int_equal(handshake(skip, "other.example", crt, key), 1); /* insecure_skip_verify: anything */

	SSL_CTX_free(sys);
	SSL_CTX_free(pinned);
	SSL_CTX_free(skip);
	unlink(ca);
	EVP_PKEY_free(key);
	X509_free(crt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_host_is_ip),		cmocka_unit_test(test_ctx),
	    cmocka_unit_test(test_ssl_for_name_and_ip), cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_client_cert),		cmocka_unit_test(test_skip_verify),
	    cmocka_unit_test(test_handshakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
