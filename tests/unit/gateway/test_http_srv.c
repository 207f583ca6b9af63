/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/http_srv (included, h2o-style, to reach its
 * statics) on top of the real gateway/http_conn: the streaming reply API
 * (chunked for HTTP/1.1, close-delimited for 1.0, the max_pending_write
 * bound against a client that does not read), client-close notification
 * while a request is in flight (callback, abandon, 499 client_closed), a
 * late reply to a gone client, and the request/idle timeouts. The client
 * end is a socketpair driven from the test between loop iterations;
 * waits are bounded loops, never timing asserts.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/http_srv.c"

static struct gw g;
static struct gw_worker w;
static int cli = -1;	 /* the client's end */
static char rx[1 << 20]; /* what the client received */
static size_t rxlen;
static bool rx_eof;
static struct gw_req *held; /* a request the test handler kept */
static int close_calls;	    /* on_client_close callbacks seen */
static int flood_rc = 0;    /* last http_srv_stream_write result of /flood */
static int flood_writes;    /* successful writes before it */

/* One worker: the config generation holds one reference per configured worker (gw_gen.h). */
static const char conf_yaml[] = "server: { workers: 1 }\n"
				"providers:\n"
				"  - { name: builtin, type: mock }\n"
				"models:\n"
				"  - { name: m, targets: [ { provider: builtin, model: mock-1 } ] }\n"
				"auth: { enabled: false }\n";

static void on_hold_close(struct gw_req *r, void *arg)
{
	(void)arg;
	close_calls++;
	held = NULL;
	http_srv_abandon(r);
}

/* Test routes first, the real router for everything else. */
static void test_request(struct http_conn *c, void *arg)
{
	const char *target = http_conn_msg(c)->target.p;
	static const char chunk[16384];
	if (strcmp(target, "/stream") == 0) {
		struct gw_req *r = req_new(&w, c, http_conn_msg(c));
		req_identify(r);
		assert_int_equal(http_srv_stream_start(r, 200, "text/event-stream"), 0);
		assert_int_equal(http_srv_stream_write(r, "a", 1), 0);
		assert_int_equal(http_srv_stream_write(r, "", 0), 0);
		assert_int_equal(http_srv_stream_write(r, "bc", 2), 0);
		http_srv_stream_end(r);
	} else if (strcmp(target, "/flood") == 0) {
		struct gw_req *r = req_new(&w, c, http_conn_msg(c));
		req_identify(r);
		assert_int_equal(http_srv_stream_start(r, 200, "text/event-stream"), 0);
		for (flood_writes = 0; flood_writes < 10000; flood_writes++)
			if ((flood_rc = http_srv_stream_write(r, chunk, sizeof(chunk))) < 0)
				break;
		assert_true(http_srv_client_gone(r));
		http_srv_abandon(r);
	} else if (strcmp(target, "/hold") == 0 || strcmp(target, "/hold-stream") == 0 ||
		   strcmp(target, "/late") == 0) {
		held = req_new(&w, c, http_conn_msg(c));
		req_identify(held);
		if (strcmp(target, "/late") != 0)
			http_srv_on_client_close(held, on_hold_close, NULL);
		if (strcmp(target, "/hold-stream") == 0)
			assert_int_equal(http_srv_stream_start(held, 200, "text/plain"), 0);
	} else {
		on_request(c, arg);
	}
}

static const struct http_conn_ops test_ops = {test_request, on_reject, on_gone, on_closed};

/* A worker without listener or upstream: connections come from socketpairs. */
static void worker_up(int64_t request_ms, int64_t idle_ms, size_t max_pending)
{
	struct err err;
	struct gw_conf *conf = gw_conf_parse(conf_yaml, sizeof(conf_yaml) - 1, "t.yaml", &err);
	assert_non_null(conf);
	assert_int_equal(gw_init(&g, conf, &err), 0);
	memset(&w, 0, sizeof(w));
	w.gw = &g;
	w.listen_fd = -1;
	TAILQ_INIT(&w.reqs);
	log_ratelimit_init(&w.warn_rl, 10, 1000000000u);
	assert_int_equal(ids_rng_init(&w.rng, &err), 0);
	w.base = event_base_new();
	assert_non_null(w.base);
	const struct http_limits lim = {8192, 32768, 100, 1 << 20};
	assert_int_equal(
	    http_conn_env_init(&w.conns, w.base, &test_ops, &w, &lim, request_ms, idle_ms, 5000, max_pending), 0);
	w.conns_ready = true;
	w.ready = true;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	cli = sv[0];
	assert_non_null(http_conn_new(&w.conns, sv[1]));
	rxlen = 0;
	rx_eof = false;
	held = NULL;
	close_calls = 0;
}

static void worker_down(void)
{
	if (cli >= 0)
		close(cli);
	cli = -1;
	http_srv_abort_all(&w);
	http_srv_free(&w);
	event_base_free(w.base);
	gw_gen_adopt(&w, true); /* the worker's hold on the config generation, as a real worker drops it at exit */
	gw_fini(&g);
}

static void client_read(void)
{
	for (;;) {
		ssize_t n = read(cli, rx + rxlen, sizeof(rx) - 1 - rxlen);
		if (n > 0) {
			rxlen += (size_t)n;
			rx[rxlen] = '\0';
			continue;
		}
		if (n == 0)
			rx_eof = true;
		return;
	}
}

/* Runs the loop (and reads as the client unless reading is false) until cond() or ~5 s. */
static bool spin(bool (*cond)(void), bool reading)
{
	const struct timespec ms = {0, 1000 * 1000};
	for (int i = 0; i < 5000; i++) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		if (reading && cli >= 0)
			client_read();
		if (cond())
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

static void send_str(const char *s)
{
	assert_int_equal(write(cli, s, strlen(s)), (ssize_t)strlen(s));
}

static bool got_chunk_end(void)
{
	return strstr(rx, "0\r\n\r\n") != NULL;
}
static bool got_eof(void)
{
	return rx_eof;
}
static bool got_two(void)
{
	return strstr(rx, "ok\n") != NULL;
}
static bool have_held(void)
{
	return held != NULL;
}
static bool held_done(void)
{
	return w.nreqs == 0 && w.conns.nconns == 0;
}

static void test_stream_chunked_keepalive(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("GET /stream HTTP/1.1\r\nHost: a\r\nx-request-id: s-1\r\n\r\n");
	assert_true(spin(got_chunk_end, true));
	assert_non_null(strstr(rx, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(rx, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(rx, "x-request-id: s-1\r\n"));
	assert_non_null(strstr(rx, "Content-Type: text/event-stream\r\n"));
	assert_null(strstr(rx, "Content-Length"));
	assert_non_null(strstr(rx, "\r\n\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"));
	/* the connection is kept: a second request on it is answered */
	send_str("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(spin(got_two, true));
	assert_int_equal(metric_get(g.metrics.requests[0]), 1); /* /stream is unrouted: counted as an API request */
	worker_down();
}

static void test_stream_http10_close_delimited(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("GET /stream HTTP/1.0\r\n\r\n");
	assert_true(spin(got_eof, true));
	assert_null(strstr(rx, "Transfer-Encoding"));
	assert_non_null(strstr(rx, "Connection: close\r\n"));
	const char *body = strstr(rx, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "abc");
	worker_down();
}

static void test_stream_bounded_for_slow_reader(void **state)
{
	(void)state;
	worker_up(5000, 5000, 64 * 1024);
	send_str("GET /flood HTTP/1.1\r\nHost: a\r\n\r\n");
	/* the client never reads: the server must give up instead of buffering the stream */
	assert_true(spin(held_done, false));
	assert_int_equal(flood_rc, -1);
	assert_true(flood_writes < 10000);
	assert_int_equal(metric_get(g.metrics.errors[GWE_CLIENT_CLOSED]), 1);
	worker_down();
}

static void test_client_close_in_flight(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("POST /hold HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
	assert_true(spin(have_held, true));
	assert_int_equal(w.nreqs, 1);
	close(cli);
	cli = -1;
	/* noticed from the read side, at once, and reported through the callback */
	assert_true(spin(held_done, false));
	assert_int_equal(close_calls, 1);
	assert_int_equal(metric_get(g.metrics.errors[GWE_CLIENT_CLOSED]), 1);
	assert_int_equal(metric_get(g.metrics.in_flight), 0);
	worker_down();
}

static void test_client_close_mid_stream(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("GET /hold-stream HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(spin(have_held, true));
	struct gw_req *r = held;
	assert_int_equal(http_srv_stream_write(r, "x", 1), 0);
	close(cli);
	cli = -1;
	assert_true(spin(held_done, false));
	assert_int_equal(close_calls, 1);
	worker_down();
}

static bool conn_gone_seen(void)
{
	return held != NULL && held->conn == NULL;
}

static void test_late_reply_to_gone_client(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("GET /late HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(spin(have_held, true));
	close(cli);
	cli = -1;
	assert_true(spin(conn_gone_seen, false));
	assert_true(http_srv_client_gone(held));
	assert_int_equal(http_srv_stream_start(held, 200, "text/plain"), -1);
	http_srv_reply_json(held, 200, "{}", 2); /* discarded, recorded as 499 */
	held = NULL;
	assert_int_equal(w.nreqs, 0);
	assert_int_equal(w.conns.nconns, 0);
	assert_int_equal(metric_get(g.metrics.errors[GWE_CLIENT_CLOSED]), 1);
	assert_int_equal(metric_get(g.metrics.requests[1]), 1); /* 499 is a 4xx */
	worker_down();
}

static bool got_response_and_eof(void)
{
	return rx_eof && strstr(rx, "\r\n\r\n") != NULL;
}

static void test_request_timeout_and_idle(void **state)
{
	(void)state;
	worker_up(150, 150, 1 << 20);
	send_str("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n");
	assert_true(spin(got_response_and_eof, true));
	assert_non_null(strstr(rx, "HTTP/1.1 408 Request Timeout\r\n"));
	assert_non_null(strstr(rx, "Connection: close\r\n"));
	assert_non_null(strstr(rx, "x-request-id: "));
	assert_non_null(strstr(rx, "\"code\":\"request_timeout\""));
	assert_int_equal(metric_get(g.metrics.errors[GWE_REQUEST_TIMEOUT]), 1);
	worker_down();

	/* idle: answered, then closed without another byte */
	worker_up(150, 150, 1 << 20);
	send_str("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(spin(got_eof, true));
	assert_non_null(strstr(rx, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(rx, "\r\n\r\nok\n"));
	assert_int_equal(strlen(strstr(rx, "\r\n\r\nok\n")), 7);
	worker_down();
}

static void test_drain_closes_idle_and_marks_close(void **state)
{
	(void)state;
	worker_up(5000, 5000, 1 << 20);
	send_str("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(spin(have_held, true));
	http_srv_stop_accepting(&w); /* drain: the answer in flight carries Connection: close */
	struct gw_req *r = held;
	held = NULL;
	http_srv_reply_json(r, 200, "{}", 2);
	assert_true(spin(got_response_and_eof, true));
	assert_non_null(strstr(rx, "Connection: close\r\n"));
	worker_down();
}

int main(void)
{
	/* as gateway/main.c: a write to a client that left is an error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_chunked_keepalive),
	    cmocka_unit_test(test_stream_http10_close_delimited),
	    cmocka_unit_test(test_stream_bounded_for_slow_reader),
	    cmocka_unit_test(test_client_close_in_flight),
	    cmocka_unit_test(test_client_close_mid_stream),
	    cmocka_unit_test(test_late_reply_to_gone_client),
	    cmocka_unit_test(test_request_timeout_and_idle),
	    cmocka_unit_test(test_drain_closes_idle_and_marks_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
