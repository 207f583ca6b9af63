/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client harness of the upstream client tests: an event loop with the
 * gateway's upstream pool pointed at a test_upstream_srv.h server, calls
 * that record every callback (head, data, done: order, counts, bodies,
 * outcomes), and a watchdog that fails the test instead of hanging.
 *
 * Header-only (unused-tolerant statics): every test file is its own binary.
 */
#ifndef LLMGW_TESTS_TEST_UPSTREAM_CALL_H
#define LLMGW_TESTS_TEST_UPSTREAM_CALL_H

#include "test_upstream_srv.h"

/* ---- client harness ------------------------------------------------------------------------ */

struct tcall {
	struct tc *t;
	struct upstream_call *h;
	int id;
	bool stream;   /* on_head asks for streaming */
	int cancel_in; /* 1 on_head, 2 first on_data, 3 on_done */
	int nhead, ndata, ndone;
	int status;
	enum upstream_outcome outcome;
	bool retried;
	enum upstream_proto proto;
	char body[8192];
	size_t body_len;
	char detail[160];
	char events[64];	       /* 'H' head, 'D' data, 'E' end */
	int pieces_sent_at_first_data; /* server's counter when the first piece arrived */
	char hdr_x_test[32];
	size_t nheaders_done;
};

struct tc {
	struct event_base *base;
	struct evdns_base *dns;
	struct gw_conf *conf;
	SSL_CTX *tls[1];
	struct upstream_pool *pool;
	struct metrics *reg;
	struct upstream_metrics *um;
	struct ts_server *srv;
	int done; /* on_done count across calls */
	bool watchdog_fired;
	struct event *watchdog;
};

static void tc_ev(struct tcall *k, char e)
{
	size_t n = strlen(k->events);
	if (n + 1 < sizeof(k->events))
		k->events[n] = e;
}

static void tc_copy_hdr(struct tcall *k, const struct http_hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == 6 && strncasecmp(h[i].name, "x-test", 6) == 0)
			snprintf(k->hdr_x_test, sizeof(k->hdr_x_test), "%.*s", (int)h[i].value_len, h[i].value);
}

static enum upstream_body_mode tc_on_head(struct upstream_call *c, const struct upstream_head *h, void *arg)
{
	struct tcall *k = arg;
	(void)c;
	k->nhead++;
	k->status = h->status;
	k->proto = h->proto;
	tc_ev(k, 'H');
	tc_copy_hdr(k, h->headers, h->nheaders);
	if (k->cancel_in == 1)
		upstream_call_cancel(k->h);
	return k->stream ? UPSTREAM_BODY_STREAM : UPSTREAM_BODY_BUFFER;
}

static void tc_on_data(struct upstream_call *c, const char *p, size_t n, void *arg)
{
	struct tcall *k = arg;
	(void)c;
	if (k->ndata == 0 && k->t->srv != NULL)
		k->pieces_sent_at_first_data = k->t->srv->pieces_sent;
	k->ndata++;
	tc_ev(k, 'D');
	if (k->body_len + n < sizeof(k->body)) {
		memcpy(k->body + k->body_len, p, n);
		k->body_len += n;
	}
	if (k->cancel_in == 2)
		upstream_call_cancel(k->h);
}

static void tc_on_done(struct upstream_call *c, const struct upstream_result *r, void *arg)
{
	struct tcall *k = arg;
	(void)c;
	k->ndone++;
	k->t->done++;
	k->outcome = r->outcome;
	k->status = r->status;
	k->retried = r->retried;
	k->proto = r->proto;
	tc_ev(k, 'E');
	snprintf(k->detail, sizeof(k->detail), "%s", r->detail);
	if (r->body != NULL && r->body_len < sizeof(k->body)) {
		memcpy(k->body, r->body, r->body_len);
		k->body_len = r->body_len;
		k->body[k->body_len] = '\0';
	}
	k->nheaders_done = r->nheaders;
	if (!k->stream)
		tc_copy_hdr(k, r->headers, r->nheaders);
	if (k->cancel_in == 3)
		upstream_call_cancel(k->h); /* a no-op by contract */
}

static void tc_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct tc *t = arg;
	(void)fd;
	(void)what;
	t->watchdog_fired = true;
	event_base_loopbreak(t->base);
}

/* The loop (first, so the server can live on it too). */
TS_FN void tc_base(struct tc *t)
{
	memset(t, 0, sizeof(*t));
	signal(SIGPIPE, SIG_IGN);
	t->base = event_base_new();
	t->dns = evdns_base_new(t->base, 0);
	t->watchdog = evtimer_new(t->base, tc_watchdog, t);
}

/*
 * Builds a config for one provider at url with extra YAML provider keys
 * (e.g. "timeout: 500ms, http2: prior_knowledge"), and the pool. ca_file
 * (may be NULL) makes a TLS context with that trust store.
 */
TS_FN void tc_pool(struct tc *t, const char *url, const char *extra, const char *ca_file)
{
	char yaml[1024];
	struct err err;
	snprintf(yaml, sizeof(yaml),
		 "providers:\n  - { name: up, type: openai, base_url: \"%s\"%s%s }\n"
		 "models:\n  - { name: m, targets: [ { provider: up, model: m } ] }\n"
		 "auth: { enabled: false }\n",
		 url, extra != NULL ? ", " : "", extra != NULL ? extra : "");
	t->conf = gw_conf_parse(yaml, strlen(yaml), "test.yaml", &err);
	if (t->conf == NULL) {
		fprintf(stderr, "config: %s\n", err.msg);
		abort();
	}
	if (ca_file != NULL) {
		t->tls[0] =
		    tls_client_ctx_new(ca_file, (const unsigned char *)UPSTREAM_ALPN, sizeof(UPSTREAM_ALPN) - 1, &err);
		if (t->tls[0] == NULL)
			abort();
	}
	t->pool = upstream_pool_new(t->base, t->dns, t->conf, t->tls, &err);
	t->reg = metrics_new();
	t->um = upstream_metrics_new(t->reg, t->conf, &err);
	if (t->pool == NULL || t->um == NULL)
		abort();
	upstream_pool_set_metrics(t->pool, t->um);
}

/* Server srv (script sc, already configured for TLS/h2c) on a new loop, and a client for it. */
TS_FN void tc_start_pair(struct tc *t, struct ts_server *srv, const char *scheme, const char *extra, const char *ca)
{
	char u[64];
	tc_base(t);
	ts_server_start(srv, t->base);
	snprintf(u, sizeof(u), "%s://127.0.0.1:%u", scheme, (unsigned)srv->port);
	tc_pool(t, u, extra, ca);
	t->srv = srv;
}

TS_FN void tc_fini(struct tc *t)
{
	upstream_pool_free(t->pool);
	if (t->srv != NULL)
		ts_server_stop(t->srv);
	upstream_metrics_free(t->um);
	metrics_free(t->reg);
	SSL_CTX_free(t->tls[0]);
	gw_conf_free(t->conf);
	event_free(t->watchdog);
	evdns_base_free(t->dns, 0);
	event_base_free(t->base);
}

TS_FN void tc_start(struct tc *t, struct tcall *k, const char *path, const char *body)
{
	struct err err;
	struct http_hdr hdrs[3] = {
	    {"Content-Type", "application/json", 12, 16},
	    {"Connection", "close", 10, 5}, /* hop-by-hop: must be dropped */
	    {"x-trace", "abc", 7, 3},
	};
	struct upstream_request rq = {NULL, path, hdrs, 3, body, body != NULL ? strlen(body) : 0};
	struct upstream_handlers h = {tc_on_head, tc_on_data, tc_on_done};
	k->t = t;
	k->h = upstream_call_start(t->pool, 0, &rq, &h, k, &err);
	if (k->h == NULL) {
		fprintf(stderr, "start: %s\n", err.msg);
		abort();
	}
}

/* Runs the loop until *counter >= target (bounded: 20 s watchdog). Returns true if reached. */
TS_FN bool tc_run_until(struct tc *t, const int *counter, int target)
{
	struct timeval tv = {20, 0};
	t->watchdog_fired = false;
	evtimer_add(t->watchdog, &tv);
	while (*counter < target && !t->watchdog_fired)
		event_base_loop(t->base, EVLOOP_ONCE);
	evtimer_del(t->watchdog);
	return *counter >= target;
}

/* Runs the loop for ms milliseconds (lets closes and late frames arrive). */
TS_FN void tc_run_ms(struct tc *t, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

/* Value of one series in the test registry, by its rendered label text ("" = not found: -1). */
TS_FN long long tc_metric(struct tc *t, const char *name_and_labels)
{
	struct buf out;
	long long v = -1;
	buf_init(&out, 1 << 20);
	metrics_render(t->reg, &out);
	const char *p = out.data != NULL ? strstr(out.data, name_and_labels) : NULL;
	if (p != NULL)
		v = strtoll(p + strlen(name_and_labels) + 1, NULL, 10);
	buf_fini(&out);
	return v;
}

#endif
