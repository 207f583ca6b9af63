/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream calls on evhttp client connections.
 *
 * Why the pool is ours and not evhttp's queueing: an evhttp_connection
 * serialises requests, so queueing two LLM calls on one connection would
 * make the second wait for the first; and after a close evhttp reconnects
 * on the same bufferevent, which an OpenSSL bufferevent does not survive.
 * So a connection carries one call at a time, and once evhttp reports it
 * closed (close callback) or a call on it failed it is "dead": never used
 * again and freed from the pool's maintenance event, never from inside a
 * libevent callback that may still be using it.
 *
 * Timeouts: evhttp's own timeout is an inactivity timeout, so each call has
 * one timer of its own: first the connect deadline (fresh connections only;
 * "connected" = socket up and, for TLS, handshake finished), then the total
 * deadline counted from upstream_call_start(), queueing included.
 */
#include "gateway/upstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "common/clock.h"
#include "common/tls.h"
#include "gateway/gw_conf.h"

struct up_target;

struct up_conn {
	struct up_target *t;
	struct evhttp_connection *evcon;
	struct bufferevent *bev; /* owned by evcon */
	SSL *ssl;		 /* owned by bev; NULL for plain http */
	struct upstream_call *call;
	bool connected; /* a request completed on it: socket (and TLS) are up */
	bool dead;
	bool in_idle;
	bool buried;
	TAILQ_ENTRY(up_conn) link; /* idle list or graveyard */
	TAILQ_ENTRY(up_conn) all;
};
TAILQ_HEAD(up_conn_list, up_conn);

enum call_state {
	CALL_WAITING = 0,
	CALL_IN_FLIGHT,
	CALL_DONE, /* result set, delivery scheduled */
};

struct upstream_call {
	struct upstream_pool *pool;
	struct up_target *t;
	struct up_conn *conn;
	struct evhttp_request *req; /* built at start; evhttp owns it once made */
	char *path;
	enum call_state state;
	bool connect_phase;
	bool got_headers; /* response headers arrived */
	int ev_error;	  /* enum evhttp_request_error, -1 = none */
	int sock_errno;
	unsigned long tls_err;
	uint64_t deadline_ns; /* monotonic */
	upstream_done_cb cb;
	void *arg;
	struct event *timer;
	struct event *deliver;
	struct evkeyvalq resp_headers;
	struct upstream_result res;
	TAILQ_ENTRY(upstream_call) link; /* waiting list */
	TAILQ_ENTRY(upstream_call) all;
};
TAILQ_HEAD(up_call_list, upstream_call);

struct up_target {
	struct upstream_pool *pool;
	const struct gw_provider *prov;
	SSL_CTX *tls;
	struct up_conn_list idle; /* most recently used first */
	struct up_conn_list conns;
	struct up_call_list waiting;
	unsigned nconns; /* live (not buried) connections */
};

struct upstream_pool {
	struct event_base *base;
	struct evdns_base *dns;
	struct up_target *targets;
	size_t ntargets;
	struct up_conn_list graveyard;
	struct up_call_list calls;
	struct event *maint; /* frees dead connections, starts waiting calls */
};

static const char *const outcome_names[] = {
    [UPSTREAM_RESPONSE] = "response",	[UPSTREAM_CONNECT_ERROR] = "connect_error",
    [UPSTREAM_TLS_ERROR] = "tls_error", [UPSTREAM_CONNECT_TIMEOUT] = "connect_timeout",
    [UPSTREAM_TIMEOUT] = "timeout",	[UPSTREAM_PROTOCOL_ERROR] = "protocol_error",
};

const char *upstream_outcome_name(enum upstream_outcome o)
{
	return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o] : "unknown";
}

static void pool_kick(struct upstream_pool *p)
{
	event_active(p->maint, EV_TIMEOUT, 1);
}

/* ---- connections ----------------------------------------------------------- */

static void conn_bury(struct up_conn *c)
{
	if (c->buried)
		return;
	c->buried = true;
	c->dead = true;
	if (c->in_idle) {
		TAILQ_REMOVE(&c->t->idle, c, link);
		c->in_idle = false;
	}
	c->t->nconns--;
	TAILQ_INSERT_TAIL(&c->t->pool->graveyard, c, link);
	pool_kick(c->t->pool);
}

/* evhttp says the connection closed (idle close by the server, error, reset). */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct up_conn *c = arg;
	(void)evcon;
	c->dead = true;
	if (c->call == NULL)
		conn_bury(c);
}

static void conn_free(struct up_conn *c)
{
	evhttp_connection_set_closecb(c->evcon, NULL, NULL);
	evhttp_connection_free(c->evcon);
	TAILQ_REMOVE(&c->t->conns, c, all);
	free(c);
}

static struct bufferevent *conn_bev(struct up_target *t, SSL **ssl_out, struct err *err)
{
	struct event_base *base = t->pool->base;
	struct bufferevent *bev;
	*ssl_out = NULL;
	if (t->tls == NULL) {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			err_set(err, ENOMEM, "bufferevent_socket_new failed");
		return bev;
	}
	SSL *ssl = tls_client_ssl_new(t->tls, t->prov->url.host, err);
	if (ssl == NULL)
		return NULL;
	/* DEFER_CALLBACKS: the OpenSSL bufferevent may otherwise recurse into evhttp */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		err_set(err, ENOMEM, "bufferevent_openssl_socket_new failed");
		return NULL;
	}
	/* many servers close without close_notify; the HTTP framing tells us if data is missing */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	*ssl_out = ssl;
	return bev;
}

static struct up_conn *conn_new(struct up_target *t, struct err *err)
{
	const struct gw_provider *pr = t->prov;
	struct up_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->t = t;
	c->bev = conn_bev(t, &c->ssl, err);
	if (c->bev == NULL)
		goto fail;
	c->evcon =
	    evhttp_connection_base_bufferevent_new(t->pool->base, t->pool->dns, c->bev, pr->url.host, pr->url.port);
	if (c->evcon == NULL) {
		bufferevent_free(c->bev); /* evhttp did not take it */
		err_set(err, ENOMEM, "evhttp_connection_base_bufferevent_new failed");
		goto fail;
	}
	/* inactivity backstop and idle keep-alive lifetime; the call timer is the real deadline */
	struct timeval tv = {(time_t)(pr->timeout_ms / 1000) + 1, 0};
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	evhttp_connection_set_retries(c->evcon, 0);
	evhttp_connection_set_max_body_size(c->evcon, (ev_ssize_t)UPSTREAM_MAX_RESPONSE);
	evhttp_connection_set_max_headers_size(c->evcon, (ev_ssize_t)UPSTREAM_MAX_HEADERS);
	evhttp_connection_set_closecb(c->evcon, conn_closed_cb, c);
	TAILQ_INSERT_TAIL(&t->conns, c, all);
	t->nconns++;
	return c;
fail:
	free(c);
	return NULL;
}

/* Socket connected and, for TLS, handshake done: the connect phase is over. */
static bool conn_is_up(const struct up_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	return c->ssl == NULL || SSL_is_init_finished(c->ssl);
}

/* Detaches c from its call; a healthy connection goes back to the idle list. */
static void conn_release(struct up_conn *c)
{
	c->call = NULL;
	if (c->dead) {
		conn_bury(c);
		return;
	}
	TAILQ_INSERT_HEAD(&c->t->idle, c, link);
	c->in_idle = true;
	pool_kick(c->t->pool); /* a waiting call may use it */
}

/* ---- calls --------------------------------------------------------------- */

static void call_free(struct upstream_call *call)
{
	if (call->timer != NULL)
		event_free(call->timer);
	if (call->deliver != NULL)
		event_free(call->deliver);
	evhttp_clear_headers(&call->resp_headers);
	free(call->path);
	if (call->res.body != NULL)
		evbuffer_free(call->res.body);
	TAILQ_REMOVE(&call->pool->calls, call, all);
	free(call);
}

/* Ends the call with its result and schedules the callback. */
static void call_finish(struct upstream_call *call, enum upstream_outcome o)
{
	evtimer_del(call->timer);
	call->state = CALL_DONE;
	call->res.outcome = o;
	if (call->conn != NULL) {
		struct up_conn *c = call->conn;
		call->conn = NULL;
		if (o != UPSTREAM_RESPONSE)
			c->dead = true;
		conn_release(c);
	}
	event_active(call->deliver, EV_TIMEOUT, 1);
}

/* Cancels the evhttp request in flight; evhttp frees it and resets the connection. */
static void call_abort_request(struct upstream_call *call)
{
	struct evhttp_request *req = call->req;
	call->req = NULL;
	call->state = CALL_DONE; /* evhttp's error callback must see a finished call */
	if (call->conn != NULL)
		call->conn->dead = true;
	if (req != NULL)
		evhttp_cancel_request(req);
}

/*
 * errno values that really describe a failed connect. evhttp resets the
 * socket before telling us, so errno is often the reset's ENOTCONN instead.
 */
static bool connect_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ETIMEDOUT || e == ECONNRESET ||
	       e == EADDRNOTAVAIL || e == EPIPE;
}

static void describe_failure(struct upstream_call *call, enum upstream_outcome o)
{
	struct upstream_result *r = &call->res;
	struct up_conn *c = call->conn;
	int dns = c != NULL ? bufferevent_socket_get_dns_error(c->bev) : 0;
	if (o == UPSTREAM_TLS_ERROR) {
		if (!tls_describe_failure(c != NULL ? c->ssl : NULL, call->tls_err, r->detail, sizeof(r->detail)))
			snprintf(r->detail, sizeof(r->detail), "TLS handshake failed");
	} else if (dns != 0)
		snprintf(r->detail, sizeof(r->detail), "DNS lookup failed: %s", evutil_gai_strerror(dns));
	else if (call->ev_error == EVREQ_HTTP_DATA_TOO_LONG)
		snprintf(r->detail, sizeof(r->detail), "response larger than %zu bytes or malformed",
			 UPSTREAM_MAX_RESPONSE);
	else if (call->ev_error == EVREQ_HTTP_INVALID_HEADER)
		snprintf(r->detail, sizeof(r->detail), "malformed response headers");
	else if (connect_errno(call->sock_errno))
		snprintf(r->detail, sizeof(r->detail), "%s", strerror(call->sock_errno));
	else if (c != NULL && !c->connected && !call->got_headers)
		snprintf(r->detail, sizeof(r->detail), "connection refused or reset");
	else
		snprintf(r->detail, sizeof(r->detail), "connection closed before a complete response");
}

static enum upstream_outcome classify_failure(const struct upstream_call *call)
{
	const struct up_conn *c = call->conn;
	if (call->ev_error == EVREQ_HTTP_TIMEOUT)
		return UPSTREAM_TIMEOUT;
	if (call->ev_error == EVREQ_HTTP_DATA_TOO_LONG || call->ev_error == EVREQ_HTTP_INVALID_HEADER)
		return UPSTREAM_PROTOCOL_ERROR;
	if (c != NULL && c->ssl != NULL && !c->connected &&
	    (call->tls_err != 0 || SSL_get_verify_result(c->ssl) != X509_V_OK))
		return UPSTREAM_TLS_ERROR;
	return UPSTREAM_CONNECT_ERROR;
}

static void req_error_cb(enum evhttp_request_error e, void *arg)
{
	struct upstream_call *call = arg;
	call->sock_errno = errno;
	if (call->state != CALL_IN_FLIGHT)
		return;
	call->ev_error = (int)e;
	if (call->conn != NULL && call->conn->ssl != NULL) {
		unsigned long te = bufferevent_get_openssl_error(call->conn->bev);
		if (te != 0)
			call->tls_err = te;
	}
}

static int req_header_cb(struct evhttp_request *req, void *arg)
{
	struct upstream_call *call = arg;
	(void)req;
	call->got_headers = true;
	return 0;
}

static void copy_headers(struct evkeyvalq *dst, const struct evkeyvalq *src)
{
	const struct evkeyval *h;
	TAILQ_FOREACH(h, src, next)
	evhttp_add_header(dst, h->key, h->value);
}

/* evhttp's completion callback: req is NULL or has status 0 on failure. */
static void req_done_cb(struct evhttp_request *req, void *arg)
{
	struct upstream_call *call = arg;
	int saved_errno = errno;
	if (call->state != CALL_IN_FLIGHT)
		return;
	call->req = NULL; /* evhttp frees it after we return */
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		if (call->sock_errno == 0)
			call->sock_errno = saved_errno;
		enum upstream_outcome o = classify_failure(call);
		describe_failure(call, o);
		call_finish(call, o);
		return;
	}
	call->res.status = evhttp_request_get_response_code(req);
	evbuffer_add_buffer(call->res.body, evhttp_request_get_input_buffer(req));
	copy_headers(&call->resp_headers, evhttp_request_get_input_headers(req));
	if (call->conn != NULL)
		call->conn->connected = true;
	call_finish(call, UPSTREAM_RESPONSE);
}

static void arm_timer(struct upstream_call *call, uint64_t until_ns)
{
	uint64_t now = clock_mono_ns();
	uint64_t d = until_ns > now ? until_ns - now : 0;
	struct timeval tv = {(time_t)(d / 1000000000u), (suseconds_t)((d % 1000000000u) / 1000)};
	evtimer_add(call->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_call *call = arg;
	(void)fd;
	(void)what;
	if (call->state == CALL_WAITING) {
		TAILQ_REMOVE(&call->t->waiting, call, link);
		evhttp_request_free(call->req);
		call->req = NULL;
		snprintf(call->res.detail, sizeof(call->res.detail), "no free connection within the timeout");
		call_finish(call, UPSTREAM_TIMEOUT);
		return;
	}
	if (call->state != CALL_IN_FLIGHT)
		return;
	if (call->connect_phase && call->conn != NULL && conn_is_up(call->conn)) {
		call->connect_phase = false;
		call->conn->connected = true;
		arm_timer(call, call->deadline_ns);
		return;
	}
	bool connecting = call->connect_phase;
	call_abort_request(call);
	snprintf(call->res.detail, sizeof(call->res.detail), "%s after %lld ms",
		 connecting ? "not connected" : "no complete response",
		 (long long)(connecting ? call->t->prov->connect_timeout_ms : call->t->prov->timeout_ms));
	call_finish(call, connecting ? UPSTREAM_CONNECT_TIMEOUT : UPSTREAM_TIMEOUT);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_call *call = arg;
	(void)fd;
	(void)what;
	call->res.headers = &call->resp_headers;
	call->cb(&call->res, call->arg);
	call_free(call);
}

/* Puts a call on a connection; any failure is reported through the call. */
static void call_dispatch(struct upstream_call *call, struct up_conn *c)
{
	uint64_t now = clock_mono_ns();
	struct evhttp_request *req = call->req;
	call->conn = c;
	c->call = call;
	call->state = CALL_IN_FLIGHT;
	if (!c->connected) {
		uint64_t cdl = now + (uint64_t)call->t->prov->connect_timeout_ms * 1000000u;
		call->connect_phase = cdl < call->deadline_ns;
		if (call->connect_phase) {
			evtimer_del(call->timer);
			arm_timer(call, cdl);
		}
	}
	if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, call->path) != 0 && call->state == CALL_IN_FLIGHT) {
		/* only allocation failures get here; evhttp has freed or dropped req */
		call->req = NULL;
		snprintf(call->res.detail, sizeof(call->res.detail), "could not start the request");
		call_finish(call, UPSTREAM_CONNECT_ERROR);
	}
}

static void target_pump(struct up_target *t)
{
	struct upstream_call *call;
	struct err err;
	while ((call = TAILQ_FIRST(&t->waiting)) != NULL) {
		struct up_conn *c = TAILQ_FIRST(&t->idle);
		if (c != NULL) {
			TAILQ_REMOVE(&t->idle, c, link);
			c->in_idle = false;
		} else if (t->nconns >= UPSTREAM_CONNS_MAX || (c = conn_new(t, &err)) == NULL) {
			return;
		}
		TAILQ_REMOVE(&t->waiting, call, link);
		call_dispatch(call, c);
	}
}

static void maint_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_pool *p = arg;
	struct up_conn *c, *tmp;
	(void)fd;
	(void)what;
	/* glibc's sys/queue.h has no TAILQ_FOREACH_SAFE */
	for (c = TAILQ_FIRST(&p->graveyard); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, link);
		if (c->call != NULL)
			continue;
		TAILQ_REMOVE(&p->graveyard, c, link);
		conn_free(c);
	}
	for (size_t i = 0; i < p->ntargets; i++)
		target_pump(&p->targets[i]);
}

/* ---- public -------------------------------------------------------------- */

static struct evhttp_request *build_request(struct upstream_call *call, const struct upstream_request *rq)
{
	struct evhttp_request *req = evhttp_request_new(req_done_cb, call);
	if (req == NULL)
		return NULL;
	evhttp_request_set_error_cb(req, req_error_cb);
	evhttp_request_set_header_cb(req, req_header_cb);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	if (rq->headers != NULL)
		copy_headers(out, rq->headers);
	evhttp_add_header(out, "Host", call->t->prov->url.authority);
	if (rq->body_len > 0 && evbuffer_add(evhttp_request_get_output_buffer(req), rq->body, rq->body_len) != 0)
		goto fail;
	return req;
fail:
	evhttp_request_free(req);
	return NULL;
}

struct upstream_call *upstream_call_start(struct upstream_pool *p, size_t provider, const struct upstream_request *rq,
					  upstream_done_cb cb, void *arg, struct err *err)
{
	struct upstream_call *call;
	if (provider >= p->ntargets || p->targets[provider].prov->type == GW_PROVIDER_MOCK) {
		err_set(err, EINVAL, "provider %zu is not a network provider", provider);
		return NULL;
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	call->pool = p;
	call->t = &p->targets[provider];
	call->cb = cb;
	call->arg = arg;
	call->ev_error = -1;
	TAILQ_INIT(&call->resp_headers);
	TAILQ_INSERT_TAIL(&p->calls, call, all);
	call->timer = evtimer_new(p->base, timer_cb, call);
	call->deliver = event_new(p->base, -1, 0, deliver_cb, call);
	call->res.body = evbuffer_new();
	call->path = strdup(rq->path);
	if (call->timer == NULL || call->deliver == NULL || call->res.body == NULL || call->path == NULL ||
	    (call->req = build_request(call, rq)) == NULL) {
		call_free(call);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	call->deadline_ns = clock_mono_ns() + (uint64_t)call->t->prov->timeout_ms * 1000000u;
	arm_timer(call, call->deadline_ns);
	/* always through the queue, so even the first dispatch runs outside the caller */
	call->state = CALL_WAITING;
	TAILQ_INSERT_TAIL(&call->t->waiting, call, link);
	pool_kick(p);
	return call;
}

void upstream_call_cancel(struct upstream_call *call)
{
	if (call == NULL)
		return;
	switch (call->state) {
	case CALL_WAITING:
		TAILQ_REMOVE(&call->t->waiting, call, link);
		evhttp_request_free(call->req);
		call->req = NULL;
		break;
	case CALL_IN_FLIGHT:
		call_abort_request(call);
		if (call->conn != NULL) {
			struct up_conn *c = call->conn;
			call->conn = NULL;
			conn_release(c);
		}
		break;
	case CALL_DONE:
		break;
	}
	call_free(call);
}

struct upstream_pool *upstream_pool_new(struct event_base *base, struct evdns_base *dns, const struct gw_conf *conf,
					SSL_CTX *const *tls, struct err *err)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->base = base;
	p->dns = dns;
	TAILQ_INIT(&p->graveyard);
	TAILQ_INIT(&p->calls);
	p->ntargets = conf->nproviders;
	p->targets = calloc(p->ntargets > 0 ? p->ntargets : 1, sizeof(*p->targets));
	p->maint = event_new(base, -1, 0, maint_cb, p);
	if (p->targets == NULL || p->maint == NULL)
		goto nomem;
	for (size_t i = 0; i < p->ntargets; i++) {
		struct up_target *t = &p->targets[i];
		t->pool = p;
		t->prov = &conf->providers[i];
		t->tls = tls != NULL ? tls[i] : NULL;
		TAILQ_INIT(&t->idle);
		TAILQ_INIT(&t->conns);
		TAILQ_INIT(&t->waiting);
	}
	return p;
nomem:
	upstream_pool_free(p);
	err_set(err, ENOMEM, "out of memory creating the upstream pool");
	return NULL;
}

void upstream_pool_free(struct upstream_pool *p)
{
	struct upstream_call *call;
	if (p == NULL)
		return;
	/* Calls first: a waiting call still owns its unsent request. */
	while ((call = TAILQ_FIRST(&p->calls)) != NULL) {
		if (call->state == CALL_WAITING)
			evhttp_request_free(call->req);
		if (call->conn != NULL)
			call->conn->call = NULL; /* evhttp_connection_free drops the request */
		call_free(call);
	}
	for (size_t i = 0; i < p->ntargets; i++) {
		struct up_conn *c;
		while ((c = TAILQ_FIRST(&p->targets[i].conns)) != NULL)
			conn_free(c);
	}
	if (p->maint != NULL)
		event_free(p->maint);
	free(p->targets);
	free(p);
}
