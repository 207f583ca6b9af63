/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream client over HTTP/2 (h2c prior knowledge) against the
 * in-process nghttp2 server of test_upstream_srv.h: streaming, request
 * headers as h2 sees them, many streams on one session, the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY, RST_STREAM(CANCEL) on cancel
 * with the session kept, timeouts, resets and the pool idle close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_upstream_call.h"

#define H2C "http2: prior_knowledge"
#define OPEN_H2 "llmgw_upstream_connections_open{provider=\"up\",proto=\"h2\"}"

static struct ts_server srv;
static struct tc T;

static void start(const struct ts_script *sc, const char *extra)
{
	char x[256];
	memset(&srv, 0, sizeof(srv));
	srv.sc = *sc;
	srv.h2c = true;
	snprintf(x, sizeof(x), "%s%s%s", H2C, extra != NULL ? ", " : "", extra != NULL ? extra : "");
	tc_start_pair(&T, &srv, "http", x, NULL);
}

static void test_stream_and_headers(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.pieces = {"data: a\n\n", "data: b\n\n", "data: c\n\n"}, .npieces = 3, .ack = &k.ndata};
	char auth[64];
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/v1/chat/completions", "{\"stream\":true}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.proto, UPSTREAM_PROTO_H2);
	assert_string_equal(k.events, "HDDDE");
	assert_int_equal(k.pieces_sent_at_first_data, 1);
	assert_memory_equal(k.body, "data: a\n\ndata: b\n\ndata: c\n\n", 27);
	assert_string_equal(k.hdr_x_test, "h2");
	snprintf(auth, sizeof(auth), "127.0.0.1:%u", (unsigned)srv.port);
	assert_string_equal(srv.last_authority, auth);
	assert_string_equal(srv.last_method, "POST");
	assert_string_equal(srv.log[0], "/v1/chat/completions");
	assert_string_equal(srv.last_body, "{\"stream\":true}");
	assert_non_null(strstr(srv.last_hdrs, "content-type: application/json\n")); /* lower-cased */
	assert_non_null(strstr(srv.last_hdrs, "x-trace: abc\n"));
	assert_null(strstr(srv.last_hdrs, "connection")); /* hop-by-hop never on h2 */
	assert_int_equal(tc_metric(&T, OPEN_H2), 1);
	/* enlarged receive windows so a fast stream is never throttled; no push */
	assert_int_equal(srv.h2_conn_window, 16 << 20);
	assert_int_equal(srv.h2_stream_window, 4 << 20);
	assert_int_equal(srv.h2_push, 0);
	tc_fini(&T);
}

static void test_buffered(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {.pieces = {"{\"id\":", "1}"}, .npieces = 2, .status = 201};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/b", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.status, 201);
	assert_string_equal(k.body, "{\"id\":1}");
	assert_string_equal(k.hdr_x_test, "h2"); /* headers kept for on_done in buffered mode */
	tc_fini(&T);
}

static void test_many_streams_one_session(void **state)
{
	enum { N = 50 };
	struct tcall k[N];
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .hold_until = N};
	(void)state;
	memset(k, 0, sizeof(k));
	start(&sc, NULL);
	for (int i = 0; i < N; i++)
		tc_start(&T, &k[i], "/many", "{}");
	assert_true(tc_run_until(&T, &T.done, N));
	for (int i = 0; i < N; i++)
		assert_int_equal(k[i].outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, 1);
	assert_int_equal(srv.max_open_on_session, N); /* all at the same time, on one connection */
	assert_int_equal(tc_metric(&T, OPEN_H2), 1);
	tc_fini(&T);
}

static void test_max_concurrent_streams(void **state)
{
	enum { N = 12 };
	struct tcall first = {0}, k[N];
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .h2_max_streams = 5};
	(void)state;
	memset(k, 0, sizeof(k));
	start(&sc, NULL);
	tc_start(&T, &first, "/learn", "{}"); /* the session learns the server's limit */
	assert_true(tc_run_until(&T, &first.ndone, 1));
	srv.sc.hold_until = N;
	srv.released = false;
	for (int i = 0; i < N; i++)
		tc_start(&T, &k[i], "/limited", "{}");
	assert_true(tc_run_until(&T, &T.done, N + 1));
	for (int i = 0; i < N; i++) {
		assert_int_equal(k[i].outcome, UPSTREAM_OK);
		assert_false(k[i].retried); /* nothing was refused: the limit was respected */
	}
	assert_int_equal(srv.max_open_on_session, 5);
	assert_int_equal(srv.accepted, 3); /* 5 + 5 + 2 */
	tc_fini(&T);
}

static void test_goaway(void **state)
{
	struct tcall k[3];
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .goaway_last_id = 1};
	(void)state;
	memset(k, 0, sizeof(k));
	start(&sc, NULL);
	for (int i = 0; i < 3; i++)
		tc_start(&T, &k[i], "/g", "{}");
	assert_true(tc_run_until(&T, &T.done, 3));
	int retried = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(k[i].outcome, UPSTREAM_OK);
		retried += k[i].retried;
	}
	assert_false(k[0].retried);	   /* stream 1 finished on the old session */
	assert_int_equal(retried, 2);	   /* streams 3 and 5 were refused by the GOAWAY */
	assert_int_equal(srv.accepted, 2); /* and went to a new session */
	/* the old session closes once its last stream ended */
	for (int i = 0; i < 100 && tc_metric(&T, OPEN_H2) != 1; i++)
		tc_run_ms(&T, 5);
	assert_int_equal(tc_metric(&T, OPEN_H2), 1);
	tc_fini(&T);
}

static void cancel_case(int where)
{
	struct tcall k = {.stream = true, .cancel_in = where}, b = {0};
	struct ts_script sc = {.pieces = {"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}, .npieces = 3, .ack = &k.ndata};
	start(&sc, NULL);
	tc_start(&T, &k, "/c", "{}");
	assert_true(tc_run_until(&T, where == 1 ? &k.nhead : &k.ndata, 1));
	assert_true(tc_run_until(&T, &srv.rst_streams, 1));
	assert_int_equal(srv.rst_code, NGHTTP2_CANCEL);
	assert_string_equal(k.events, where == 1 ? "H" : "HD");
	assert_int_equal(k.ndone, 0);
	/* the session stays up for the next call */
	srv.sc.ack = NULL;
	tc_start(&T, &b, "/next", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, 1);
	assert_int_equal(srv.peer_closed, 0);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_requests_total{provider=\"up\",outcome=\"cancelled\"}"), 1);
	tc_fini(&T);
}

static void test_cancel_in_head_rst(void **state)
{
	(void)state;
	cancel_case(1);
}

static void test_cancel_in_data_rst(void **state)
{
	(void)state;
	cancel_case(2);
}

static void test_first_byte_timeout_keeps_session(void **state)
{
	struct tcall k = {0}, b = {0};
	struct ts_script sc = {.action = TS_SILENT};
	(void)state;
	start(&sc, "first_byte_timeout: 100ms, timeout: 20s");
	tc_start(&T, &k, "/slow", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_FIRST_BYTE_TIMEOUT);
	assert_true(tc_run_until(&T, &srv.rst_streams, 1));
	assert_int_equal(srv.rst_code, NGHTTP2_CANCEL);
	srv.sc.action = TS_RESPOND;
	srv.sc.pieces[0] = "ok";
	srv.sc.npieces = 1;
	tc_start(&T, &b, "/fast", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, 1);
	tc_fini(&T);
}

static void test_idle_timeout_h2(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.action = TS_STALL, .pieces = {"data: 1\n\n"}, .npieces = 1};
	(void)state;
	start(&sc, "idle_timeout: 100ms");
	tc_start(&T, &k, "/stall", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_IDLE_TIMEOUT);
	assert_string_equal(k.events, "HDE");
	tc_fini(&T);
}

static void test_rst_mid_body(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.action = TS_RESET, .pieces = {"data: 1\n\n"}, .npieces = 1, .ack = &k.ndata};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/rst", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_RESET);
	assert_non_null(strstr(k.detail, "mid-body"));
	assert_int_equal(k.ndata, 1);
	tc_fini(&T);
}

static void test_connection_lost(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {.action = TS_CLOSE};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/lost", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_RESET);
	assert_false(k.retried); /* a fresh session: the request may have been processed */
	tc_fini(&T);
}

static void test_pool_idle_close(void **state)
{
	struct tcall k = {0};
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1};
	(void)state;
	start(&sc, "pool_idle_timeout: 100ms");
	tc_start(&T, &k, "/i", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(tc_metric(&T, OPEN_H2), 1);
	assert_true(tc_run_until(&T, &srv.peer_closed, 1));
	assert_int_equal(tc_metric(&T, OPEN_H2), 0);
	tc_fini(&T);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_and_headers),
	    cmocka_unit_test(test_buffered),
	    cmocka_unit_test(test_many_streams_one_session),
	    cmocka_unit_test(test_max_concurrent_streams),
	    cmocka_unit_test(test_goaway),
	    cmocka_unit_test(test_cancel_in_head_rst),
	    cmocka_unit_test(test_cancel_in_data_rst),
	    cmocka_unit_test(test_first_byte_timeout_keeps_session),
	    cmocka_unit_test(test_idle_timeout_h2),
	    cmocka_unit_test(test_rst_mid_body),
	    cmocka_unit_test(test_connection_lost),
	    cmocka_unit_test(test_pool_idle_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
