/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send (the otlp_http sink) over plain HTTP/1.1 against an in-process
 * evhttp server on 127.0.0.1 (ephemeral port, same event loop): request
 * line and headers, body bytes, keep-alive reuse, the outcome of scripted
 * responses (partial success, 503 + Retry-After, 400 + google.rpc.Status,
 * 413, a chunked body, no answer within the timeout, connection refused),
 * several requests in flight at once on a pool of connections (the server
 * answers only once all of them have arrived), and cancel with several in
 * flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/socket.h>

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/sink.h"
#include "tests/unit/exporter/ex_fixtures.h"

enum script {
	SCRIPT_OK = 0,
	SCRIPT_PARTIAL,
	SCRIPT_503_RETRY_AFTER,
	SCRIPT_400_STATUS,
	SCRIPT_413,
	SCRIPT_HANG,
	SCRIPT_HOLD_N,	/* answer 200 only once hold_n requests are waiting, then all of them */
	SCRIPT_CHUNKED, /* 503 with a chunked text body and Retry-After as an HTTP-date */
};

#define FX_HELD_MAX 16

struct fx {
	struct event_base *evb;
	struct evhttp *srv;
	uint16_t port;
	enum script script;
	/* what the server saw */
	int requests;
	struct evhttp_connection *last_conn;
	int distinct_conns;
	char path[64], ctype[64], cenc[32], ua[64], auth[64];
	char body[64];
	size_t body_len;
	struct evhttp_request *held[FX_HELD_MAX];
	int nheld, hold_n, max_held;
	/* what the sink reported */
	int done;
	struct sink_result res;
	int ok_count;
	struct ex_conf *conf;
	struct sink *sink;
};

static void copy_hdr(struct evkeyvalq *h, const char *name, char *out, size_t outsz)
{
	const char *v = evhttp_find_header(h, name);
	snprintf(out, outsz, "%s", v ? v : "");
}

static void reply_pb(struct evhttp_request *req, int code, const uint8_t *b, size_t n)
{
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, b, n);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/x-protobuf");
	evhttp_send_reply(req, code, "x", out);
	evbuffer_free(out);
}

static void server_cb(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	f->requests++;
	if (evhttp_request_get_connection(req) != f->last_conn)
		f->distinct_conns++;
	f->last_conn = evhttp_request_get_connection(req);
	snprintf(f->path, sizeof(f->path), "%s", evhttp_request_get_uri(req));
	copy_hdr(h, "Content-Type", f->ctype, sizeof(f->ctype));
	copy_hdr(h, "Content-Encoding", f->cenc, sizeof(f->cenc));
	copy_hdr(h, "User-Agent", f->ua, sizeof(f->ua));
	copy_hdr(h, "Authorization", f->auth, sizeof(f->auth));
	f->body_len = evbuffer_get_length(in);
	evbuffer_copyout(in, f->body, sizeof(f->body));
	uint8_t buf[128];
	switch (f->script) {
	case SCRIPT_OK:
		reply_pb(req, 200, NULL, 0);
		break;
	case SCRIPT_PARTIAL: {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse r =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
		Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
		ps.rejected_spans = 2;
		ps.error_message = "two spans too old";
		r.partial_success = &ps;
		reply_pb(req, 200, buf,
			 opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&r, buf));
		break;
	}
	case SCRIPT_503_RETRY_AFTER:
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "7");
		reply_pb(req, 503, NULL, 0);
		break;
	case SCRIPT_400_STATUS: {
		Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
		st.message = "bad span";
		reply_pb(req, 400, buf, google__rpc__status__pack(&st, buf));
		break;
	}
	case SCRIPT_413:
		reply_pb(req, 413, NULL, 0);
		break;
	case SCRIPT_HANG:
		if (f->nheld < FX_HELD_MAX)
			f->held[f->nheld++] = req; /* never answered: the client's timeout must fire */
		break;
	case SCRIPT_HOLD_N:
		f->held[f->nheld++] = req;
		if (f->nheld > f->max_held)
			f->max_held = f->nheld;
		if (f->nheld == f->hold_n) {
			for (int i = 0; i < f->nheld; i++)
				reply_pb(f->held[i], 200, NULL, 0);
			f->nheld = 0;
		}
		break;
	case SCRIPT_CHUNKED: {
		struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
		struct evbuffer *out = evbuffer_new();
		evhttp_add_header(oh, "Content-Type", "text/plain");
		evhttp_add_header(oh, "Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT");
		evhttp_send_reply_start(req, 503, "busy");
		evbuffer_add_printf(out, "backend ");
		evhttp_send_reply_chunk(req, out);
		evbuffer_add_printf(out, "overloaded");
		evhttp_send_reply_chunk(req, out);
		evhttp_send_reply_end(req);
		evbuffer_free(out);
		break;
	}
	}
}

static void on_done(void *arg, const struct sink_result *res)
{
	struct fx *f = arg;
	f->done++;
	f->res = *res;
	f->ok_count += res->outcome == SEND_OK;
}

static uint16_t bound_port(struct evhttp_bound_socket *h)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sin, &sl);
	return ntohs(sin.sin_port);
}

static struct sink *make_sink_n(struct fx *f, uint16_t port, int64_t timeout_ms, uint32_t concurrency)
{
	char url[64];
	struct err err;
	const char *env[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic dGVzdA==", NULL};
	struct fx_env fe = {env};
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", port);
	sink_destroy(f->sink); /* before the configuration it points to */
	f->sink = NULL;
	ex_conf_free(f->conf);
	f->conf = ex_conf_load(NULL, fx_getenv, &fe, &err);
	assert_non_null(f->conf);
	assert_int_equal(ex_conf_endpoint_parse(&f->conf->endpoint, url, &err), 0);
	f->conf->timeout_ms = timeout_ms;
	f->conf->concurrency = concurrency;
	sink_destroy(f->sink);
	f->sink = sink_create(f->evb, f->conf, &err);
	assert_non_null(f->sink);
	return f->sink;
}

static struct sink *make_sink(struct fx *f, uint16_t port, int64_t timeout_ms)
{
	return make_sink_n(f, port, timeout_ms, 1);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->evb = event_base_new();
	f->srv = evhttp_new(f->evb);
	evhttp_set_gencb(f->srv, server_cb, f);
	struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(f->srv, "127.0.0.1", 0);
	assert_non_null(h);
	f->port = bound_port(h);
	make_sink(f, f->port, 5000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sink_destroy(f->sink);
	ex_conf_free(f->conf);
	evhttp_free(f->srv);
	event_base_free(f->evb);
	free(f);
	return 0;
}

/* Submits a small payload and runs the loop until the sink reports. */
static void run_one(struct fx *f, unsigned flags)
{
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "PAYLOAD");
	struct payload *p = payload_new(&b, 3, flags, 1);
	int before = f->done;
	assert_int_equal(sink_submit(f->sink, p, on_done, f), 0);
	assert_int_equal(f->done, before); /* never synchronous */
	for (int i = 0; i < 1000 && f->done == before; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->done, before + 1);
	payload_free(p);
}

static void test_request_and_keepalive(void **state)
{
	struct fx *f = *state;
	f->script = SCRIPT_OK;
	run_one(f, PAYLOAD_F_GZIP);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.status, 200);
	assert_string_equal(f->path, "/v1/traces");
	assert_string_equal(f->ctype, "application/x-protobuf");
	assert_string_equal(f->cenc, "gzip");
	assert_true(strncmp(f->ua, "llmgw-exporter/", 15) == 0);
	assert_string_equal(f->auth, "Basic dGVzdA==");
	assert_int_equal(f->body_len, 7);
	assert_memory_equal(f->body, "PAYLOAD", 7);
	run_one(f, PAYLOAD_F_JSON);
	assert_string_equal(f->ctype, "application/json");
	assert_string_equal(f->cenc, "");
	assert_int_equal(f->requests, 2);
	assert_int_equal(f->distinct_conns, 1); /* the connection was reused */
}

static void test_outcomes(void **state)
{
	struct fx *f = *state;
	f->script = SCRIPT_PARTIAL;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.rejected_spans, 2);
	f->script = SCRIPT_503_RETRY_AFTER;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 503);
	assert_int_equal(f->res.retry_after_ms, 7000);
	f->script = SCRIPT_400_STATUS;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_DROP);
	assert_int_equal(f->res.drop_status, 400);
	f->script = SCRIPT_413;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_DROP);
	assert_int_equal(f->res.drop_status, 413);
	f->script = SCRIPT_OK; /* the connection still works after all that */
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
}

static void test_chunked_retry_after_date(void **state)
{
	struct fx *f = *state;
	f->script = SCRIPT_CHUNKED;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 503);
	assert_int_equal(f->res.retry_after_ms, SEND_RETRY_AFTER_MAX_S * 1000ll); /* far future: clamped */
	f->script = SCRIPT_OK; /* the chunked response left the connection usable */
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->distinct_conns, 1);
}

/* N requests reach the server before it answers any: N connections, all in flight at once. */
static void test_several_in_flight(void **state)
{
	enum { N = 4 };
	struct fx *f = *state;
	struct payload *p[N + 1];
	make_sink_n(f, f->port, 5000, N);
	f->script = SCRIPT_HOLD_N;
	f->hold_n = N;
	for (int i = 0; i <= N; i++) {
		struct buf b;
		buf_init(&b, 0);
		buf_printf(&b, "P%d", i);
		p[i] = payload_new(&b, 1, 0, 1);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(sink_submit(f->sink, p[i], on_done, f), 0);
	assert_int_equal(sink_submit(f->sink, p[N], on_done, f), -1); /* over export.concurrency */
	for (int i = 0; i < 2000 && f->done < N; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->done, N);
	assert_int_equal(f->ok_count, N);
	assert_int_equal(f->max_held, N);
	assert_int_equal(f->distinct_conns, N);
	/* the pool is kept: the next round reuses the same connections */
	f->done = f->ok_count = 0;
	for (int i = 0; i < N; i++)
		assert_int_equal(sink_submit(f->sink, p[i], on_done, f), 0);
	for (int i = 0; i < 2000 && f->done < N; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->ok_count, N);
	assert_int_equal(f->requests, 2 * N);
	for (int i = 0; i <= N; i++)
		payload_free(p[i]);
}

static void on_done_forbidden(void *arg, const struct sink_result *res)
{
	(void)arg;
	(void)res;
	fail_msg("done called after cancel");
}

static void test_cancel_several(void **state)
{
	struct fx *f = *state;
	struct buf b;
	make_sink_n(f, f->port, 5000, 3);
	f->script = SCRIPT_HANG;
	buf_init(&b, 0);
	buf_puts(&b, "X");
	struct payload *p = payload_new(&b, 1, 0, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sink_submit(f->sink, p, on_done_forbidden, f), 0);
	for (int i = 0; i < 1000 && f->nheld < 3; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->nheld, 3);
	sink_cancel(f->sink);
	f->nheld = 0; /* the client closed those connections: evhttp frees the requests */
	event_base_loop(f->evb, EVLOOP_NONBLOCK);
	f->script = SCRIPT_OK; /* usable again, every slot free */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sink_submit(f->sink, p, on_done, f), 0);
	for (int i = 0; i < 2000 && f->done < 3; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->ok_count, 3);
	payload_free(p);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	make_sink(f, f->port, 100);
	f->script = SCRIPT_HANG;
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
	f->script = SCRIPT_OK; /* a fresh connection replaces the cancelled one */
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->distinct_conns, 2);
}

static void test_connection_refused(void **state)
{
	struct fx *f = *state;
	/* Bind and close a socket to get a port nobody listens on. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	bind(s, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(s, (struct sockaddr *)&sin, &sl);
	close(s);
	make_sink(f, ntohs(sin.sin_port), 2000);
	run_one(f, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a peer that closed is an error return, not a death */
	log_init("test_send", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request_and_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_retry_after_date, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_several_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_several, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
