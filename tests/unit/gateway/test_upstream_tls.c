/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream client over TLS against the in-process server with a CA and
 * certificate generated at run time: ALPN picks h2 (http2: auto) or
 * HTTP/1.1 (server without h2, or http2: off), bodies spanning many TLS
 * records in both protocols, a wrong CA is a tls_error, and a handshake
 * that never completes is a connect_timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_upstream_call.h"

static struct ts_server srv;
static struct tc T;
static EVP_PKEY *key, *other_key;
static X509 *crt, *other_crt;
static char ca_path[64], wrong_ca_path[64];

static int group_setup(void **state)
{
	(void)state;
	ts_cert_make(&key, &crt, "llmgw test server");
	ts_cert_make(&other_key, &other_crt, "some other CA");
	ts_cert_file(crt, ca_path, sizeof(ca_path));
	ts_cert_file(other_crt, wrong_ca_path, sizeof(wrong_ca_path));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(ca_path);
	unlink(wrong_ca_path);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	X509_free(crt);
	X509_free(other_crt);
	return 0;
}

static void start(const struct ts_script *sc, bool alpn_h2, const char *extra, const char *ca)
{
	memset(&srv, 0, sizeof(srv));
	srv.sc = *sc;
	srv.alpn_h2 = alpn_h2;
	srv.tls = ts_server_ctx(&srv, key, crt);
	tc_start_pair(&T, &srv, "https", extra, ca);
}

static void stop(void)
{
	tc_fini(&T);
	SSL_CTX_free(srv.tls);
}

static void test_alpn_h2_streaming(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.pieces = {"data: a\n\n", "data: b\n\n"}, .npieces = 2, .ack = &k.ndata};
	(void)state;
	start(&sc, true, NULL, ca_path);
	tc_start(&T, &k, "/v1/chat/completions", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.proto, UPSTREAM_PROTO_H2);
	assert_string_equal(k.events, "HDDE");
	assert_int_equal(k.pieces_sent_at_first_data, 1);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connections_open{provider=\"up\",proto=\"h2\"}"), 1);
	stop();
}

static void test_alpn_first_burst_shares_one_session(void **state)
{
	enum { N = 10 };
	struct tcall k[N];
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .hold_until = N};
	(void)state;
	memset(k, 0, sizeof(k));
	start(&sc, true, NULL, ca_path);
	for (int i = 0; i < N; i++) /* before ALPN has answered even once */
		tc_start(&T, &k[i], "/burst", "{}");
	assert_true(tc_run_until(&T, &T.done, N));
	for (int i = 0; i < N; i++)
		assert_int_equal(k[i].outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, 1);
	assert_int_equal(srv.max_open_on_session, N);
	stop();
}

static void test_alpn_h1_server(void **state)
{
	struct tcall a = {0}, b = {0};
	struct ts_script sc = {.pieces = {"hello"}, .npieces = 1};
	(void)state;
	start(&sc, false, NULL, ca_path);
	tc_start(&T, &a, "/1", "{}");
	assert_true(tc_run_until(&T, &a.ndone, 1));
	tc_start(&T, &b, "/2", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(a.outcome, UPSTREAM_OK);
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_int_equal(a.proto, UPSTREAM_PROTO_H1);
	assert_string_equal(b.body, "hello");
	assert_int_equal(srv.accepted, 1); /* kept alive over TLS */
	stop();
}

static void test_http2_off(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {.pieces = {"x"}, .npieces = 1};
	(void)state;
	start(&sc, true, "http2: off", ca_path);
	tc_start(&T, &k, "/o", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.proto, UPSTREAM_PROTO_H1);
	stop();
}

/* Bodies of many TLS records (and, for h2, several flow-control windows of the defaults). */
static void big_body(bool h2)
{
	enum { PIECE = 200 * 1024 };
	static char p[3][PIECE + 1];
	struct tcall k = {0};
	for (int i = 0; i < 3; i++) {
		memset(p[i], 'a' + i, PIECE);
		p[i][PIECE] = '\0';
	}
	struct ts_script sc = {.pieces = {p[0], p[1], p[2]}, .npieces = 3, .length = true};
	start(&sc, h2, NULL, ca_path);
	tc_start(&T, &k, "/big", "{}");
	k.stream = true; /* count bytes without keeping them */
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.proto, h2 ? UPSTREAM_PROTO_H2 : UPSTREAM_PROTO_H1);
	assert_true(k.ndata >= 3);
	stop();
}

static void test_big_body_h1(void **state)
{
	(void)state;
	big_body(false);
}

static void test_big_body_h2(void **state)
{
	(void)state;
	big_body(true);
}

static void test_wrong_ca(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {.pieces = {"x"}, .npieces = 1};
	(void)state;
	start(&sc, true, NULL, wrong_ca_path);
	tc_start(&T, &k, "/w", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_TLS_ERROR);
	assert_non_null(strstr(k.detail, "certificate verify failed"));
	assert_int_equal(srv.requests, 0);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connects_total{provider=\"up\",result=\"tls_error\"}"), 1);
	stop();
}

static void test_handshake_never_completes(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {0};
	(void)state;
	memset(&srv, 0, sizeof(srv));
	srv.sc = sc;
	srv.no_accept = true;
	srv.tls = ts_server_ctx(&srv, key, crt);
	tc_start_pair(&T, &srv, "https", "connect_timeout: 150ms", ca_path);
	tc_start(&T, &k, "/t", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_CONNECT_TIMEOUT);
	assert_non_null(strstr(k.detail, "not connected within 150 ms"));
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connects_total{provider=\"up\",result=\"timeout\"}"), 1);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alpn_h2_streaming), cmocka_unit_test(test_alpn_first_burst_shares_one_session),
	    cmocka_unit_test(test_alpn_h1_server),    cmocka_unit_test(test_http2_off),
	    cmocka_unit_test(test_big_body_h1),	      cmocka_unit_test(test_big_body_h2),
	    cmocka_unit_test(test_wrong_ca),	      cmocka_unit_test(test_handshake_never_completes),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
