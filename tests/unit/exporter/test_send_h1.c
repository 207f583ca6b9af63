/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The otlp_http sink's HTTP/1.1 response reader (exporter/send_h1.c)
 * against a raw scripted server on 127.0.0.1 in the test's own loop: each
 * request gets the next canned response as exact bytes, so framing the
 * evhttp server never produces can be checked: 1xx interim heads, chunked
 * bodies with extensions and trailers, close-delimited bodies, HTTP/1.0,
 * Connection: close, malformed heads and chunks, oversized heads and
 * bodies, a close mid-response, and a keep-alive connection the server
 * closes just as the next request arrives (sent again once, transparently).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/sink.h"
#include "tests/unit/exporter/ex_fixtures.h"

enum raw_act {
	RAW_KEEP = 0,	     /* answer, keep the connection */
	RAW_CLOSE_AFTER,     /* answer, then close once it is written */
	RAW_CLOSE_NO_ANSWER, /* close at once, no byte */
};

struct raw_step {
	const char *resp;
	size_t len; /* 0 = strlen(resp) */
	enum raw_act act;
};

#define RAW_MAX_STEPS 8

struct fx {
	struct event_base *evb;
	struct evconnlistener *lis;
	uint16_t port;
	struct raw_step steps[RAW_MAX_STEPS];
	int nsteps, next;
	int accepted, requests;
	struct bufferevent *open_bevs[32]; /* server side, freed at teardown if still open */
	struct ex_conf *conf;
	struct sink *sink;
	int done;
	struct sink_result res;
};

/* ---- the raw server --------------------------------------------------------------- */

static void raw_close(struct fx *f, struct bufferevent *bev)
{
	for (size_t i = 0; i < sizeof(f->open_bevs) / sizeof(f->open_bevs[0]); i++)
		if (f->open_bevs[i] == bev)
			f->open_bevs[i] = NULL;
	bufferevent_free(bev);
}

static void raw_write_done(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		raw_close(arg, bev);
}

/* A whole request arrived (head + Content-Length body)? Drains it and says yes. */
static bool raw_take_request(struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return false;
	size_t head = (size_t)end.pos + 4;
	char *h = malloc(head + 1);
	evbuffer_copyout(in, h, head);
	h[head] = '\0';
	size_t body = 0;
	for (char *p = h; (p = strchr(p, '\n')) != NULL; p++)
		if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
			body = strtoul(p + 16, NULL, 10);
	free(h);
	if (len < head + body)
		return false;
	evbuffer_drain(in, head + body);
	return true;
}

static void raw_read(struct bufferevent *bev, void *arg)
{
	struct fx *f = arg;
	while (raw_take_request(bufferevent_get_input(bev))) {
		const struct raw_step *st = &f->steps[f->next < f->nsteps ? f->next : f->nsteps - 1];
		f->next++;
		f->requests++;
		if (st->act == RAW_CLOSE_NO_ANSWER) {
			raw_close(f, bev);
			return;
		}
		bufferevent_write(bev, st->resp, st->len ? st->len : strlen(st->resp));
		if (st->act == RAW_CLOSE_AFTER) {
			bufferevent_disable(bev, EV_READ);
			bufferevent_setcb(bev, NULL, raw_write_done, NULL, f);
			return;
		}
	}
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		raw_close(arg, bev);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct fx *f = arg;
	(void)l;
	(void)sa;
	(void)salen;
	struct bufferevent *bev = bufferevent_socket_new(f->evb, fd, BEV_OPT_CLOSE_ON_FREE);
	f->accepted++;
	for (size_t i = 0; i < sizeof(f->open_bevs) / sizeof(f->open_bevs[0]); i++)
		if (f->open_bevs[i] == NULL) {
			f->open_bevs[i] = bev;
			break;
		}
	bufferevent_setcb(bev, raw_read, NULL, raw_event, f);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- fixture ------------------------------------------------------------------------ */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	struct err err;
	char url[64];
	f->evb = event_base_new();
	f->lis = evconnlistener_new_bind(f->evb, raw_accept, f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(f->lis);
	getsockname(evconnlistener_get_fd(f->lis), (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	struct fx_env fe = {NULL}; /* no OTEL_* from the real environment */
	f->conf = ex_conf_load(NULL, fx_getenv, &fe, &err);
	assert_non_null(f->conf);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", f->port);
	assert_int_equal(ex_conf_endpoint_parse(&f->conf->endpoint, url, &err), 0);
	f->conf->timeout_ms = 5000;
	f->conf->concurrency = 1;
	f->sink = sink_create(f->evb, f->conf, &err);
	assert_non_null(f->sink);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sink_destroy(f->sink);
	ex_conf_free(f->conf);
	evconnlistener_free(f->lis);
	for (size_t i = 0; i < sizeof(f->open_bevs) / sizeof(f->open_bevs[0]); i++)
		if (f->open_bevs[i] != NULL)
			bufferevent_free(f->open_bevs[i]);
	event_base_free(f->evb);
	free(f);
	return 0;
}

static void script(struct fx *f, const struct raw_step *steps, int n)
{
	memcpy(f->steps, steps, (size_t)n * sizeof(*steps));
	f->nsteps = n;
	f->next = 0;
}

static void on_done(void *arg, const struct sink_result *res)
{
	struct fx *f = arg;
	f->done++;
	f->res = *res;
}

static void run_one(struct fx *f)
{
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "PAYLOAD");
	struct payload *p = payload_new(&b, 3, 0, 1);
	int before = f->done;
	assert_int_equal(sink_submit(f->sink, p, on_done, f), 0);
	for (int i = 0; i < 2000 && f->done == before; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->done, before + 1);
	payload_free(p);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_interim_chunked_trailers_keepalive(void **state)
{
	struct fx *f = *state;
	static const char body[] = "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"too old\"}}";
	char resp[512];
	/* the body in two chunks, one with an extension, then a trailer */
	snprintf(resp, sizeof(resp),
		 "HTTP/1.1 100 Continue\r\n\r\n"
		 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
		 "%x;ext=1\r\n%.10s\r\n%zx\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n",
		 10, body, strlen(body) - 10, body + 10);
	struct raw_step st[] = {{resp, 0, RAW_KEEP}, {"HTTP/1.1 204 No Content\r\n\r\n", 0, RAW_KEEP}};
	script(f, st, 2);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.status, 200);
	assert_int_equal(f->res.rejected_spans, 3);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.status, 204);
	assert_int_equal(f->accepted, 1); /* kept alive through both */
}

static void test_close_delimited(void **state)
{
	struct fx *f = *state;
	struct raw_step st[] = {
	    {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Type: text/plain\r\n\r\nbusy, come back", 0,
	     RAW_CLOSE_AFTER},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP}};
	script(f, st, 2);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 503);
	assert_int_equal(f->res.retry_after_ms, 3000);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->accepted, 2);
}

/* Who decides reuse: HTTP/1.0 only with keep-alive, HTTP/1.1 unless Connection: close. */
static void test_keepalive_rules(void **state)
{
	struct fx *f = *state;
	struct raw_step st[] = {
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP},			     /* not reusable */
	    {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP}, /* reusable */
	    {"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 2\r\n\r\n{}", 0, RAW_KEEP}, /* not */
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP}};
	script(f, st, 4);
	run_one(f);
	run_one(f);
	assert_int_equal(f->accepted, 2);
	run_one(f);
	assert_int_equal(f->accepted, 2);
	run_one(f);
	assert_int_equal(f->accepted, 3);
	assert_int_equal(f->res.outcome, SEND_OK);
}

static void test_malformed_responses(void **state)
{
	struct fx *f = *state;
	static char big[70 * 1024];
	static const char *const bad[] = {
	    "HTTP/2 200\r\n\r\n",
	    "HTTP/1.1 2x0 OK\r\n\r\n",
	    "HTTP/1.1 099 Low\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
	    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
	    big,
	};
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + strlen(big), 'a', sizeof(big) - strlen(big) - 1); /* never ends: over the 64 KiB head cap */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct raw_step st[] = {{bad[i], 0, RAW_KEEP}};
		script(f, st, 1);
		run_one(f);
		if (f->res.outcome != SEND_RETRY || f->res.status != 0)
			fail_msg("response %zu: outcome %d status %d", i, f->res.outcome, f->res.status);
	}
	assert_int_equal(f->accepted, (int)(sizeof(bad) / sizeof(bad[0]))); /* each one cost its connection */
}

static void test_too_large_is_a_drop(void **state)
{
	struct fx *f = *state;
	struct raw_step st[] = {{"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n", 0, RAW_KEEP},
				{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n500000\r\n", 0, RAW_KEEP},
				{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP}};
	script(f, st, 3);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_DROP);
	assert_int_equal(f->res.drop_status, -1);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_DROP);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->accepted, 3);
}

static void test_close_mid_response(void **state)
{
	struct fx *f = *state;
	struct raw_step st[] = {{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, RAW_CLOSE_AFTER}};
	script(f, st, 1);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
}

/* The server closes a kept-alive connection just as our next request reaches it: sent again, once. */
static void test_stale_keepalive_sent_again(void **state)
{
	struct fx *f = *state;
	struct raw_step st[] = {{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP},
				{"", 0, RAW_CLOSE_NO_ANSWER},
				{"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 0, RAW_KEEP}};
	script(f, st, 3);
	run_one(f);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.status, 202);
	assert_int_equal(f->done, 2);
	assert_int_equal(f->requests, 3);
	assert_int_equal(f->accepted, 2);
	/* but only once: a fresh connection that closes without a byte is a retry for the caller */
	struct raw_step st2[] = {{"", 0, RAW_CLOSE_NO_ANSWER}};
	script(f, st2, 1);
	run_one(f);
	assert_int_equal(f->res.outcome, SEND_RETRY);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a peer that closed is an error return, not a death */
	log_init("test_send_h1", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_interim_chunked_trailers_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_delimited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_responses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_large_is_a_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_mid_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_keepalive_sent_again, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
