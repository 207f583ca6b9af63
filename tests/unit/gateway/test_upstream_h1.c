/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream client over HTTP/1.1 against the in-process server of
 * test_upstream_srv.h: buffered and streamed responses, every timeout,
 * resets, cancellation from each callback, keep-alive reuse, the stale
 * connection retry, idle-close detection, max_connections and its FIFO,
 * malformed responses. Outcomes and event order only; no durations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_upstream_call.h"

static struct ts_server srv;
static struct tc T;

static void start(const struct ts_script *sc, const char *extra)
{
	memset(&srv, 0, sizeof(srv));
	srv.sc = *sc;
	tc_start_pair(&T, &srv, "http", extra, NULL);
}

static void down(void)
{
	tc_fini(&T);
}

static void test_buffered_response(void **state)
{
	struct ts_script sc = {.pieces = {"hel", "lo"}, .npieces = 2, .length = true, .extra_hdrs = "x-test: h1\r\n"};
	struct tcall k = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/v1/chat/completions", "{\"a\":1}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_int_equal(k.status, 200);
	assert_string_equal(k.body, "hello");
	assert_string_equal(k.events, "HE");
	assert_string_equal(k.hdr_x_test, "h1");
	assert_int_equal(k.proto, UPSTREAM_PROTO_H1);
	assert_false(k.retried);
	/* what went on the wire */
	assert_string_equal(srv.last_method, "POST");
	assert_string_equal(srv.log[0], "/v1/chat/completions");
	assert_string_equal(srv.last_body, "{\"a\":1}");
	char host[64];
	snprintf(host, sizeof(host), "host: 127.0.0.1:%u\r\n", (unsigned)srv.port);
	assert_non_null(strstr(srv.last_hdrs, host));
	assert_non_null(strstr(srv.last_hdrs, "content-length: 7\r\n"));
	assert_non_null(strstr(srv.last_hdrs, "x-trace: abc\r\n"));
	assert_null(ts_strcasestr(srv.last_hdrs, "connection:")); /* hop-by-hop dropped */
	down();
}

static void test_streaming_lockstep(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.pieces = {"data: a\n\n", "data: b\n\n", "data: c\n\n"}, .npieces = 3, .ack = &k.ndata};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/s", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_string_equal(k.events, "HDDDE");
	assert_int_equal(k.body_len, 27);
	assert_memory_equal(k.body, "data: a\n\ndata: b\n\ndata: c\n\n", 27);
	/* the first piece reached on_data while the server had sent only that piece */
	assert_int_equal(k.pieces_sent_at_first_data, 1);
	down();
}

static void test_close_delimited(void **state)
{
	struct ts_script sc = {.pieces = {"one ", "two"}, .npieces = 2, .close_delimited = true};
	struct tcall k = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/c", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_string_equal(k.body, "one two");
	down();
}

static void test_keepalive_reuse(void **state)
{
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1};
	struct tcall a = {0}, b = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &a, "/1", "{}");
	assert_true(tc_run_until(&T, &a.ndone, 1));
	tc_start(&T, &b, "/2", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_false(b.retried);
	assert_int_equal(srv.accepted, 1);
	assert_int_equal(srv.requests, 2);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connections_open{provider=\"up\",proto=\"h1\"}"), 1);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connects_total{provider=\"up\",result=\"ok\"}"), 1);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_requests_total{provider=\"up\",outcome=\"ok\"}"), 2);
	down();
}

static void test_stale_connection_retried_once(void **state)
{
	/* the 2nd request on a connection gets a close and no answer: the keep-alive race */
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .fail_nth_on_conn = 2};
	struct tcall a = {0}, b = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &a, "/1", "{}");
	assert_true(tc_run_until(&T, &a.ndone, 1));
	assert_false(a.retried);
	tc_start(&T, &b, "/2", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_true(b.retried);
	assert_int_equal(srv.accepted, 2);
	assert_int_equal(srv.requests, 3);
	down();
}

static void test_fresh_connection_not_retried(void **state)
{
	struct ts_script sc = {.action = TS_CLOSE};
	struct tcall k = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_RESET);
	assert_false(k.retried);
	assert_int_equal(srv.requests, 1);
	assert_non_null(strstr(k.detail, "before any response"));
	down();
}

static void test_idle_close_detected(void **state)
{
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .close_after = true};
	struct tcall a = {0}, b = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &a, "/1", "{}");
	assert_true(tc_run_until(&T, &a.ndone, 1));
	/* the client notices the server's close on the idle connection by itself */
	for (int i = 0; i < 200 && tc_metric(&T, "llmgw_upstream_connections_open{provider=\"up\",proto=\"h1\"}") != 0;
	     i++)
		tc_run_ms(&T, 10);
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connections_open{provider=\"up\",proto=\"h1\"}"), 0);
	tc_start(&T, &b, "/2", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_false(b.retried); /* a new connection, no failed attempt */
	assert_int_equal(srv.accepted, 2);
	assert_int_equal(srv.requests, 2);
	down();
}

static void test_first_byte_timeout(void **state)
{
	struct ts_script sc = {.action = TS_SILENT};
	struct tcall k = {0};
	(void)state;
	start(&sc, "first_byte_timeout: 100ms, timeout: 20s");
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_FIRST_BYTE_TIMEOUT);
	assert_true(upstream_outcome_is_timeout(k.outcome));
	assert_non_null(strstr(k.detail, "no response head"));
	assert_int_equal(tc_metric(&T, "llmgw_upstream_requests_total{provider=\"up\",outcome=\"first_byte_timeout\"}"),
			 1);
	down();
}

static void test_idle_timeout(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.action = TS_STALL, .pieces = {"data: 1\n\n"}, .npieces = 1};
	(void)state;
	start(&sc, "idle_timeout: 100ms, timeout: 20s");
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_IDLE_TIMEOUT);
	assert_string_equal(k.events, "HDE");
	down();
}

static void test_total_timeout(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {.pieces = {"a", "b", "c", "d", "e", "f", "g", "h"}, .npieces = 8, .piece_delay_ms = 100};
	(void)state;
	start(&sc, "timeout: 250ms, idle_timeout: 0");
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_TOTAL_TIMEOUT);
	assert_int_equal(k.nhead, 1);
	down();
}

static void test_connect_error(void **state)
{
	struct tcall k = {0};
	char u[64];
	(void)state;
	snprintf(u, sizeof(u), "http://127.0.0.1:%u", (unsigned)ts_dead_port());
	tc_base(&T);
	tc_pool(&T, u, NULL, NULL);
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_CONNECT_ERROR);
	assert_non_null(strstr(k.detail, "refused"));
	assert_int_equal(tc_metric(&T, "llmgw_upstream_connects_total{provider=\"up\",result=\"error\"}"), 1);
	tc_fini(&T);
}

static void test_host_name_resolved(void **state)
{
	/* a name, not an IP literal: asynchronous DNS (here /etc/hosts); every address is tried in turn */
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1};
	struct tcall k = {0};
	char u[64];
	(void)state;
	memset(&srv, 0, sizeof(srv));
	srv.sc = sc;
	tc_base(&T);
	evdns_base_load_hosts(T.dns, NULL);
	ts_server_start(&srv, T.base);
	T.srv = &srv;
	snprintf(u, sizeof(u), "http://localhost:%u", (unsigned)srv.port);
	tc_pool(&T, u, NULL, NULL);
	tc_start(&T, &k, "/l", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	down();
}

static void test_reset_mid_body(void **state)
{
	struct tcall k = {.stream = true};
	struct ts_script sc = {
	    .action = TS_RESET, .pieces = {"data: 1\n\n", "data: 2\n\n"}, .npieces = 2, .ack = &k.ndata};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/x", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_RESET);
	assert_false(k.retried);
	assert_int_equal(k.ndata, 2);
	assert_non_null(strstr(k.detail, "mid-body"));
	down();
}

static void cancel_case(int where)
{
	struct tcall k = {.stream = true, .cancel_in = where};
	struct tcall b = {0};
	struct ts_script sc = {.pieces = {"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}, .npieces = 3, .ack = &k.ndata};
	start(&sc, NULL);
	tc_start(&T, &k, "/x", "{}");
	int target = where == 1 ? 1 : 1;
	assert_true(tc_run_until(&T, where == 1 ? &k.nhead : where == 2 ? &k.ndata : &k.ndone, target));
	/* let anything that would (wrongly) follow arrive */
	for (int i = 0; i < 100 && srv.peer_closed == 0 && where != 3; i++)
		tc_run_ms(&T, 5);
	if (where == 1)
		assert_string_equal(k.events, "H");
	else if (where == 2)
		assert_string_equal(k.events, "HD");
	else
		assert_string_equal(k.events, "HDDDE");
	if (where != 3) {
		assert_int_equal(k.ndone, 0);
		assert_int_equal(srv.peer_closed, 1); /* the connection was closed at once, not pooled */
		assert_int_equal(tc_metric(&T, "llmgw_upstream_requests_total{provider=\"up\",outcome=\"cancelled\"}"),
				 1);
	}
	/* the pool is fine afterwards */
	sc.ack = NULL;
	srv.sc.ack = NULL;
	tc_start(&T, &b, "/after", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, where == 3 ? 1 : 2);
	down();
}

static void test_cancel_in_head(void **state)
{
	(void)state;
	cancel_case(1);
}

static void test_cancel_in_data(void **state)
{
	(void)state;
	cancel_case(2);
}

static void test_cancel_in_done(void **state)
{
	(void)state;
	cancel_case(3);
}

static void test_cancel_before_anything(void **state)
{
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1};
	struct tcall k = {0}, b = {0};
	(void)state;
	start(&sc, NULL);
	tc_start(&T, &k, "/x", "{}");
	upstream_call_cancel(k.h); /* still queued */
	tc_start(&T, &b, "/y", "{}");
	assert_true(tc_run_until(&T, &b.ndone, 1));
	assert_int_equal(k.nhead + k.ndone, 0);
	assert_int_equal(b.outcome, UPSTREAM_OK);
	assert_int_equal(srv.requests, 1);
	assert_string_equal(srv.log[0], "/y");
	down();
}

static void test_max_connections_fifo(void **state)
{
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .hold_until = 2};
	struct tcall k[5];
	char path[8][16];
	(void)state;
	memset(k, 0, sizeof(k));
	start(&sc, "max_connections: 2");
	for (int i = 0; i < 5; i++) {
		snprintf(path[i], sizeof(path[i]), "/%d", i + 1);
		tc_start(&T, &k[i], path[i], "{}");
	}
	assert_true(tc_run_until(&T, &T.done, 5));
	for (int i = 0; i < 5; i++)
		assert_int_equal(k[i].outcome, UPSTREAM_OK);
	assert_int_equal(srv.accepted, 2);
	assert_int_equal(srv.nlog, 5);
	/* first come, first served: two at a time (in any order across the two connections) */
	for (int i = 0; i < 5; i++) {
		int lo = i / 2 * 2, hi = lo + 1 < 5 ? lo + 1 : lo;
		assert_true(strcmp(srv.log[i], path[lo]) == 0 || strcmp(srv.log[i], path[hi]) == 0);
	}
	down();
}

static void test_queue_wait_counts_against_timeout(void **state)
{
	/* one connection; each answer takes 600 ms; the second call waited 600 ms first */
	struct ts_script sc = {.pieces = {"ok"}, .npieces = 1, .head_delay_ms = 600};
	struct tcall a = {0}, b = {0};
	(void)state;
	start(&sc, "max_connections: 1, timeout: 1s");
	tc_start(&T, &a, "/a", "{}");
	tc_start(&T, &b, "/b", "{}");
	assert_true(tc_run_until(&T, &T.done, 2));
	assert_int_equal(a.outcome, UPSTREAM_OK);
	assert_int_equal(b.outcome, UPSTREAM_TOTAL_TIMEOUT);
	down();
}

static void test_queued_call_times_out(void **state)
{
	/* the only connection never answers: a queued call's deadline passes while it waits */
	struct ts_script sc = {.action = TS_SILENT};
	struct tcall a = {0}, b = {0};
	(void)state;
	start(&sc, "max_connections: 1, timeout: 300ms, first_byte_timeout: 5s");
	tc_start(&T, &a, "/a", "{}");
	assert_true(tc_run_until(&T, &srv.requests, 1));
	tc_start(&T, &b, "/b", "{}");
	assert_true(tc_run_until(&T, &T.done, 2));
	assert_int_equal(a.outcome, UPSTREAM_TOTAL_TIMEOUT);
	assert_int_equal(b.outcome, UPSTREAM_TOTAL_TIMEOUT);
	down();
}

static void raw_case(const char *raw, enum upstream_outcome want, const char *body)
{
	struct ts_script sc = {.raw = raw};
	struct tcall k = {0};
	start(&sc, NULL);
	tc_start(&T, &k, "/r", "{}");
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, want);
	if (body != NULL)
		assert_string_equal(k.body, body);
	down();
}

static void test_protocol_errors(void **state)
{
	(void)state;
	raw_case("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello", UPSTREAM_PROTOCOL_ERROR,
		 NULL);
	raw_case("HTTP/1.1 200 OK\r\nx y: z\r\n\r\n", UPSTREAM_PROTOCOL_ERROR, NULL);
	raw_case("garbage\r\n\r\n", UPSTREAM_PROTOCOL_ERROR, NULL);
	raw_case("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", UPSTREAM_OK, "ok");
	raw_case("HTTP/1.1 204 No Content\r\n\r\n", UPSTREAM_OK, "");
}

static void test_head_too_large(void **state)
{
	size_t n = UPSTREAM_MAX_HEAD + 1024;
	char *raw = malloc(n + 64);
	(void)state;
	int l = snprintf(raw, 64, "HTTP/1.1 200 OK\r\nx-big: ");
	memset(raw + l, 'a', n);
	memcpy(raw + l + n, "\r\n\r\n", 5);
	raw_case(raw, UPSTREAM_TOO_LARGE, NULL);
	free(raw);
}

static void done_only(struct upstream_call *c, const struct upstream_result *r, void *arg)
{
	struct tcall *k = arg;
	(void)c;
	k->ndone++;
	k->outcome = r->outcome;
	snprintf(k->body, sizeof(k->body), "%.*s", (int)r->body_len, r->body != NULL ? r->body : "");
}

static void test_no_head_callback_and_bad_input(void **state)
{
	struct ts_script sc = {.pieces = {"plain"}, .npieces = 1};
	struct tcall k = {0};
	struct err err;
	(void)state;
	start(&sc, NULL);
	struct upstream_handlers h = {NULL, NULL, done_only};
	struct upstream_request rq = {"GET", "/g", NULL, 0, NULL, 0};
	k.h = upstream_call_start(T.pool, 0, &rq, &h, &k, &err);
	assert_non_null(k.h);
	assert_true(tc_run_until(&T, &k.ndone, 1));
	assert_int_equal(k.outcome, UPSTREAM_OK);
	assert_string_equal(k.body, "plain");
	assert_string_equal(srv.last_method, "GET");
	assert_null(ts_strcasestr(srv.last_hdrs, "content-length")); /* GET without a body */
	/* header injection is refused up front */
	struct http_hdr bad = {"x-a", "b\r\nx-evil: 1", 3, 13};
	struct upstream_request rq2 = {NULL, "/p", &bad, 1, NULL, 0};
	assert_null(upstream_call_start(T.pool, 0, &rq2, &h, &k, &err));
	assert_non_null(strstr(err.msg, "not sendable"));
	struct upstream_request rq3 = {NULL, "no-slash", NULL, 0, NULL, 0};
	assert_null(upstream_call_start(T.pool, 0, &rq3, &h, &k, &err));
	down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buffered_response),
	    cmocka_unit_test(test_streaming_lockstep),
	    cmocka_unit_test(test_close_delimited),
	    cmocka_unit_test(test_keepalive_reuse),
	    cmocka_unit_test(test_stale_connection_retried_once),
	    cmocka_unit_test(test_fresh_connection_not_retried),
	    cmocka_unit_test(test_idle_close_detected),
	    cmocka_unit_test(test_first_byte_timeout),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_total_timeout),
	    cmocka_unit_test(test_connect_error),
	    cmocka_unit_test(test_host_name_resolved),
	    cmocka_unit_test(test_reset_mid_body),
	    cmocka_unit_test(test_cancel_in_head),
	    cmocka_unit_test(test_cancel_in_data),
	    cmocka_unit_test(test_cancel_in_done),
	    cmocka_unit_test(test_cancel_before_anything),
	    cmocka_unit_test(test_max_connections_fifo),
	    cmocka_unit_test(test_queue_wait_counts_against_timeout),
	    cmocka_unit_test(test_queued_call_times_out),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_head_too_large),
	    cmocka_unit_test(test_no_head_callback_and_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
