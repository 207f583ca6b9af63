/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The otlp_http sink: POSTs encoded batches to an OTLP/HTTP endpoint with
 * up to export.concurrency requests in flight, over our own small HTTP
 * client on bufferevents (send_conn.c, send_h1.c, send_h2.c; internals in
 * send_int.h). This file holds the requests, the pool policy (which
 * connection takes the next request, when to dial another), the
 * completion path and the sink ops.
 *
 * Connections. https with export.http2: auto offers ALPN "h2,http/1.1"
 * and each connection speaks what the server picked; http:// and
 * http2: off speak HTTP/1.1. HTTP/1.1 uses a pool of keep-alive
 * connections, one request per connection at a time, at most concurrency
 * of them. HTTP/2 uses one connection and multiplexes streams on it up to
 * the server's SETTINGS_MAX_CONCURRENT_STREAMS; a second one is opened only
 * once the first has received GOAWAY. While the first TLS connection is
 * still negotiating, later requests wait for it rather than each dialling
 * their own (they most likely share it). A connection is replaced, never
 * reused, after any failure, after the server closes it, and when it has
 * been idle for SEND_IDLE_MAX: load balancers drop idle connections
 * silently after ~60 s and the next request on such a socket fails.
 *
 * TLS (common/tls): verification of the peer chain (system trust store or
 * ca_file), host name or IP verification, SNI for names, TLS 1.2 minimum,
 * and a client certificate when export.client_cert/client_key are set.
 *
 * Time limit: export.timeout bounds each attempt from submit (waiting for
 * a connection or a stream slot, connect, TLS, sending, the response),
 * with one timer per request; connecting has its own timer of the same
 * length so a black-holed address is given up even with nobody waiting.
 *
 * Secrets: configured header values go on the wire only. Logs carry the
 * status, the server's message (cut, UTF-8-repaired) and header names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "exporter/send_int.h"

static void send_pump(struct send *s);

void send_kick(struct send *s)
{
	event_active(s->reap_ev, EV_TIMEOUT, 0);
}

/* ---- requests --------------------------------------------------------------- */

static void send_req_free(struct send_req *r)
{
	if (r == NULL)
		return;
	if (r->deadline != NULL)
		event_free(r->deadline);
	buf_fini(&r->body);
	free(r);
}

void send_req_unbind(struct send_req *r)
{
	struct send_conn *c = r->conn;
	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->reqs, r, link);
	c->nreqs--;
	r->conn = NULL;
	if (c->nreqs == 0)
		c->idle_since_ns = clock_mono_ns();
}

void send_req_requeue(struct send_req *r)
{
	send_req_unbind(r);
	r->status = 0;
	r->has_ctype = r->has_retry_after = r->too_large = r->got_byte = r->h2_unsent = r->h2_final = false;
	buf_reset(&r->body);
	TAILQ_INSERT_HEAD(&r->s->waiting, r, link);
	send_kick(r->s);
}

/* Parks the (unbound) request with its result for the reap event. */
static void send_req_finish(struct send_req *r, const struct sink_result *res)
{
	event_del(r->deadline);
	r->res = *res;
	TAILQ_INSERT_TAIL(&r->s->completed, r, link);
	send_kick(r->s);
}

void send_req_failed(struct send_req *r, const char *why, const char *detail)
{
	struct sink_result res = {SEND_RETRY, 0, -1, 0, 0};
	char q[240];
	log_msg(LOG_LVL_WARN, "export_failed", "endpoint=%s error=%s%s%s outcome=%s",
		r->s->conf->endpoint.http.authority, why, detail != NULL ? " detail=" : "",
		detail != NULL ? log_quote(detail, q, sizeof(q)) : "", send_outcome_name(res.outcome));
	send_req_finish(r, &res);
}

void send_req_header(struct send_req *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char *dst;
	size_t cap;
	if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
		dst = r->ctype;
		cap = sizeof(r->ctype);
		r->has_ctype = true;
	} else if (nlen == 11 && strncasecmp(name, "retry-after", 11) == 0) {
		dst = r->retry_after;
		cap = sizeof(r->retry_after);
		r->has_retry_after = true;
	} else {
		return;
	}
	/* a value that does not fit is cut: a Retry-After that long is malformed anyway */
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, value, vlen);
	dst[vlen] = '\0';
}

bool send_req_body(struct send_req *r, const void *data, size_t len)
{
	if (r->too_large)
		return false;
	if (buf_append(&r->body, data, len) != 0) {
		r->too_large = true;
		return false;
	}
	return true;
}

static void send_log_response(struct send_req *r, enum send_outcome o, const struct send_response *sr,
			      int64_t retry_after_ms)
{
	char q[300];
	const char *ep = r->s->conf->endpoint.http.authority, *msg = log_quote(sr->message, q, sizeof(q));
	if (o == SEND_OK && sr->partial)
		log_msg(LOG_LVL_WARN, "export_partial_success", "endpoint=%s status=%d rejected_spans=%lld message=%s",
			ep, r->status, (long long)sr->rejected_spans, msg);
	else if (o == SEND_RETRY)
		log_msg(LOG_LVL_WARN, "export_retry", "endpoint=%s status=%d retry_after_ms=%lld message=%s", ep,
			r->status, (long long)retry_after_ms, msg);
	else if (o == SEND_DROP)
		log_msg(LOG_LVL_ERROR, "export_rejected", "endpoint=%s status=%d message=%s", ep, r->status, msg);
	else
		log_msg(LOG_LVL_DEBUG, "export_ok", "endpoint=%s status=%d", ep, r->status);
}

void send_req_response(struct send_req *r)
{
	struct sink_result res = {send_outcome_classify(r->status), r->status, -1, 0, r->status};
	struct send_response sr;
	if (r->too_large) {
		/* OTLP: a response over the 4 MiB parsing limit is a non-retryable error */
		res.outcome = SEND_DROP;
		res.drop_status = -1;
		log_msg(LOG_LVL_WARN, "export_failed", "endpoint=%s status=%d error=response_too_large outcome=drop",
			r->s->conf->endpoint.http.authority, r->status);
		send_req_finish(r, &res);
		return;
	}
	enum send_body_kind kind = send_outcome_body_kind(r->has_ctype ? r->ctype : NULL);
	if (send_outcome_decode(r->status, r->body.data, r->body.len, kind, &sr) != 0)
		snprintf(sr.message, sizeof(sr.message), "(undecodable %zu-byte response body)", r->body.len);
	if (res.outcome == SEND_OK && sr.partial)
		res.rejected_spans = sr.rejected_spans;
	if (res.outcome == SEND_RETRY &&
	    (!r->has_retry_after || send_outcome_retry_after(r->retry_after, time(NULL), &res.retry_after_ms) != 0))
		res.retry_after_ms = -1;
	send_log_response(r, res.outcome, &sr, res.retry_after_ms);
	send_req_finish(r, &res);
}

/* The attempt's time is up, wherever it is. */
static void send_req_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct send_req *r = arg;
	struct send_conn *c = r->conn;
	(void)fd;
	(void)what;
	if (c == NULL) {
		TAILQ_REMOVE(&r->s->waiting, r, link);
	} else if (c->state != SCONN_READY) {
		send_req_unbind(r); /* the connection goes on: the next request may use it */
	} else if (c->proto == SEND_PROTO_H2 && c->last_read_ns > r->dispatched_ns) {
		send_h2_abort(c, r); /* the session is alive, only this stream is slow */
		send_h2_flush(c);
	} else {
		/* HTTP/1.1 mid-response, or an HTTP/2 session silent since the request: unusable */
		send_conn_close(c, "timeout", NULL, false);
		return;
	}
	send_req_failed(r, "timeout", NULL);
}

/* ---- the pump: waiting requests onto connections -------------------------------- */

/* A connection that can take one more request now (or once connected), closing stale idle ones on the way. */
static struct send_conn *send_conn_pick(struct send *s)
{
	struct send_conn *c, *next;
	uint64_t now = clock_mono_ns();
	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state == SCONN_CONNECTING) {
			/* likely HTTP/2: everyone waits for this one; HTTP/1.1: one request per connection */
			if ((c->offer_h2 && s->hint != SEND_PROTO_H1) || c->nreqs == 0)
				return c;
			continue;
		}
		if (c->nreqs == 0 && now - c->idle_since_ns > SEND_IDLE_MAX_NS) {
			send_conn_close(c, NULL, NULL, false);
			continue;
		}
		if (c->proto == SEND_PROTO_H2 ? send_h2_has_room(c) : c->nreqs == 0 && c->reusable)
			return c;
	}
	return NULL;
}

/* No connection can take a request: may another one be opened? */
static bool send_may_open(const struct send *s)
{
	const struct send_conn *c;
	if (s->nconns >= s->max_inflight)
		return false;
	TAILQ_FOREACH(c, &s->conns, link)
	{
		if (c->state == SCONN_READY && c->proto == SEND_PROTO_H2 && !c->goaway)
			return false; /* one HTTP/2 connection: wait for a stream slot on it */
	}
	return true;
}

static void send_pump(struct send *s)
{
	struct send_req *r;
	struct send_conn *c;
	while ((r = TAILQ_FIRST(&s->waiting)) != NULL) {
		c = send_conn_pick(s);
		bool opened = c == NULL && send_may_open(s);
		if (opened)
			c = send_conn_open(s);
		if (c == NULL && !opened)
			break; /* all busy: a finishing request kicks the pump again */
		TAILQ_REMOVE(&s->waiting, r, link);
		if (c == NULL)
			send_req_failed(r, "cannot_start_request", "cannot create a connection");
		else
			send_conn_bind(c, r);
	}
	TAILQ_FOREACH(c, &s->conns, link)
	{
		if (c->state == SCONN_READY && c->proto == SEND_PROTO_H2)
			send_h2_flush(c);
	}
}

/* Frees dead connections, calls done for finished requests, then fills free slots. */
static void send_reap(evutil_socket_t fd, short what, void *arg)
{
	struct send *s = arg;
	struct send_conn *c;
	struct send_req *r;
	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&s->graveyard)) != NULL) {
		TAILQ_REMOVE(&s->graveyard, c, link);
		send_conn_free(c);
	}
	/*
	 * Only those finished before this round: a request that fails at once
	 * when done submits it again is reported on the next round, so the
	 * loop always gets back to libevent.
	 */
	unsigned batch = 0;
	TAILQ_FOREACH(r, &s->completed, link)
	batch++;
	while (batch-- > 0 && (r = TAILQ_FIRST(&s->completed)) != NULL) {
		/* r is gone before done runs: done may submit (reusing the slot) or cancel */
		struct sink_result res = r->res;
		sink_done_cb done = r->done;
		void *darg = r->arg;
		TAILQ_REMOVE(&s->completed, r, link);
		s->inflight--;
		send_req_free(r);
		done(darg, &res);
	}
	send_pump(s);
}

/* ---- sink ops ------------------------------------------------------------------- */

static int send_submit(struct sink *base, const struct payload *p, sink_done_cb done, void *arg)
{
	struct send *s = (struct send *)base;
	if (s->inflight >= s->max_inflight)
		return -1;
	struct send_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->s = s;
	r->p = p;
	r->done = done;
	r->arg = arg;
	buf_init(&r->body, SEND_RESPONSE_MAX);
	if ((r->deadline = evtimer_new(s->evb, send_req_deadline, r)) == NULL) {
		send_req_free(r);
		return -1;
	}
	if (s->conf->timeout_ms > 0) {
		struct timeval tv = {s->conf->timeout_ms / 1000, (s->conf->timeout_ms % 1000) * 1000};
		evtimer_add(r->deadline, &tv);
	}
	s->inflight++;
	TAILQ_INSERT_TAIL(&s->waiting, r, link);
	send_pump(s); /* never calls done: finished requests wait for the reap event */
	return 0;
}

static void send_cancel(struct sink *base)
{
	struct send *s = (struct send *)base;
	struct send_conn *c, *next;
	struct send_req *r;
	while ((r = TAILQ_FIRST(&s->waiting)) != NULL) {
		TAILQ_REMOVE(&s->waiting, r, link);
		send_req_free(r);
	}
	while ((r = TAILQ_FIRST(&s->completed)) != NULL) {
		TAILQ_REMOVE(&s->completed, r, link);
		send_req_free(r);
	}
	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		bool h2 = c->state == SCONN_READY && c->proto == SEND_PROTO_H2;
		bool busy = c->state == SCONN_READY && c->nreqs > 0;
		while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
			if (h2)
				send_h2_abort(c, r); /* RST_STREAM; the session stays */
			else
				send_req_unbind(r);
			send_req_free(r);
		}
		if (busy && !h2)
			send_conn_close(c, NULL, NULL, false); /* a response half read */
		else if (h2)
			send_h2_flush(c);
	}
	s->inflight = 0;
}

static void send_destroy(struct sink *base)
{
	struct send *s = (struct send *)base;
	struct send_conn *c;
	if (s == NULL)
		return;
	send_cancel(base);
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		send_conn_close(c, NULL, NULL, false);
	while ((c = TAILQ_FIRST(&s->graveyard)) != NULL) {
		TAILQ_REMOVE(&s->graveyard, c, link);
		send_conn_free(c);
	}
	if (s->reap_ev != NULL)
		event_free(s->reap_ev);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	SSL_CTX_free(s->ssl_ctx);
	if (s->h2_names != NULL) {
		for (size_t i = 0; i < s->nh2_names; i++)
			free(s->h2_names[i]);
		free(s->h2_names);
	}
	free(s);
}

/* Configured header names in lower case, as HTTP/2 requires on the wire. */
static int send_h2_names(struct send *s)
{
	const struct kvlist *h = &s->conf->headers;
	if (h->n == 0)
		return 0;
	if ((s->h2_names = calloc(h->n, sizeof(*s->h2_names))) == NULL)
		return -1;
	s->nh2_names = h->n;
	for (size_t i = 0; i < h->n; i++) {
		if ((s->h2_names[i] = strdup(h->items[i].key)) == NULL)
			return -1;
		for (char *p = s->h2_names[i]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	return 0;
}

static int send_tls_setup(struct send *s, struct err *err)
{
	const struct ex_conf *c = s->conf;
	struct err e;
	if ((s->ssl_ctx = tls_client_ctx_new(c->ca_file, NULL, 0, &e)) == NULL)
		return err_set(err, e.code, "TLS: %s", e.msg);
	if (c->insecure_skip_verify) /* export.insecure_skip_verify: explicit, logged and counted by main */
		tls_client_ctx_skip_verify(s->ssl_ctx);
	if (c->client_cert != NULL && tls_client_ctx_set_cert(s->ssl_ctx, c->client_cert, c->client_key, &e) != 0)
		return err_set(err, e.code, "TLS client certificate: %s", e.msg);
	return 0;
}

static struct sink *send_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	struct send *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	s->base.ops = &sink_otlp_http_ops;
	s->conf = c;
	s->evb = evb;
	s->max_inflight = c->concurrency > 0 ? c->concurrency : 1;
	TAILQ_INIT(&s->waiting);
	TAILQ_INIT(&s->completed);
	TAILQ_INIT(&s->conns);
	TAILQ_INIT(&s->graveyard);
	snprintf(s->user_agent, sizeof(s->user_agent), "llmgw-exporter/%s", LLMGW_VERSION);
	s->reap_ev = event_new(evb, -1, 0, send_reap, s);
	/* Async DNS: a resolver stall must never block the loop. Falls back to no nameservers (IPs only). */
	s->dns = evdns_base_new(evb, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->dns == NULL)
		s->dns = evdns_base_new(evb, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->reap_ev == NULL || s->dns == NULL || send_h2_names(s) != 0) {
		err_set(err, ENOMEM, "cannot set up the HTTP client");
		goto fail;
	}
	if (c->endpoint.http.tls && send_tls_setup(s, err) != 0)
		goto fail;
	return &s->base;
fail:
	send_destroy(&s->base);
	return NULL;
}

const struct sink_ops sink_otlp_http_ops = {
    .name = "otlp_http",
    .create = send_create,
    .submit = send_submit,
    .cancel = send_cancel,
    .destroy = send_destroy,
};
