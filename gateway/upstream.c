/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream pool: per provider ("target") a FIFO of calls, a list of
 * connections, and the pump that matches the two; plus the call lifecycle
 * (start, head, body, finish, cancel, retry), its one timer, and metrics.
 *
 * The pump runs from the pool's own deferred event (never inside
 * upstream_call_start) and from the moment a connection becomes ready. It
 * gives the first waiting call, in order: an h2 session with a free stream
 * slot, else the most recently used idle h1 connection, else a connection
 * still connecting that can take it (one call for h1; up to the initial
 * stream budget for h2 or while ALPN has not answered yet), else a new
 * connection if max_connections allows; otherwise the FIFO waits.
 *
 * Timer: one per call, re-armed lazily. The deadlines are the total one
 * (from start), first byte (from sending, until the head) and idle (from the
 * last body byte); body pieces only record their time, and the timer,
 * when it fires early, re-arms itself for what is left.
 */
#include "gateway/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/upstream_int.h"

#define UP_REQ_HEAD_MAX ((size_t)256 << 10) /* request line + headers we accept to send */

static const char *const outcome_names[UPSTREAM__COUNT] = {
    [UPSTREAM_OK] = "ok",
    [UPSTREAM_CONNECT_ERROR] = "connect_error",
    [UPSTREAM_TLS_ERROR] = "tls_error",
    [UPSTREAM_CONNECT_TIMEOUT] = "connect_timeout",
    [UPSTREAM_FIRST_BYTE_TIMEOUT] = "first_byte_timeout",
    [UPSTREAM_IDLE_TIMEOUT] = "idle_timeout",
    [UPSTREAM_TOTAL_TIMEOUT] = "total_timeout",
    [UPSTREAM_RESET] = "reset",
    [UPSTREAM_PROTOCOL_ERROR] = "protocol_error",
    [UPSTREAM_TOO_LARGE] = "too_large",
};

const char *upstream_outcome_name(enum upstream_outcome o)
{
	return (unsigned)o < UPSTREAM__COUNT ? outcome_names[o] : "unknown";
}

bool upstream_outcome_is_timeout(enum upstream_outcome o)
{
	return o == UPSTREAM_CONNECT_TIMEOUT || o == UPSTREAM_FIRST_BYTE_TIMEOUT || o == UPSTREAM_IDLE_TIMEOUT ||
	       o == UPSTREAM_TOTAL_TIMEOUT;
}

/* ---- metrics ------------------------------------------------------------- */

#define UP_REQ_CANCELLED UPSTREAM__COUNT /* extra outcome label */

struct upstream_metrics {
	size_t nprov;
	struct metric **open;	  /* [p * 2 + (h2)] */
	struct metric **connects; /* [p * UP_CONNECT__COUNT + r] */
	struct metric **requests; /* [p * (UPSTREAM__COUNT + 1) + o] */
};

static const char *const connect_names[UP_CONNECT__COUNT] = {
    [UP_CONNECT_OK] = "ok",
    [UP_CONNECT_ERROR] = "error",
    [UP_CONNECT_TIMEOUT] = "timeout",
    [UP_CONNECT_TLS_ERROR] = "tls_error",
};

static int metrics_register_provider(struct upstream_metrics *m, struct metrics *reg, size_t i, const char *name)
{
	char l[160];
	for (int h = 0; h < 2; h++) {
		snprintf(l, sizeof(l), "provider=\"%s\",proto=\"%s\"", name, h ? "h2" : "h1");
		m->open[i * 2 + (size_t)h] = metrics_gauge(reg, "llmgw_upstream_connections_open",
							   "Open upstream connections (h2: sessions)", l);
		if (m->open[i * 2 + (size_t)h] == NULL)
			return -1;
	}
	for (int r = 0; r < UP_CONNECT__COUNT; r++) {
		snprintf(l, sizeof(l), "provider=\"%s\",result=\"%s\"", name, connect_names[r]);
		m->connects[i * UP_CONNECT__COUNT + (size_t)r] =
		    metrics_counter(reg, "llmgw_upstream_connects_total", "New upstream connections by result", l);
		if (m->connects[i * UP_CONNECT__COUNT + (size_t)r] == NULL)
			return -1;
	}
	for (int o = 0; o <= UPSTREAM__COUNT; o++) {
		snprintf(l, sizeof(l), "provider=\"%s\",outcome=\"%s\"", name,
			 o == UP_REQ_CANCELLED ? "cancelled" : outcome_names[o]);
		m->requests[i * (UPSTREAM__COUNT + 1) + (size_t)o] = metrics_counter(
		    reg, "llmgw_upstream_requests_total", "Upstream requests by provider and transport outcome", l);
		if (m->requests[i * (UPSTREAM__COUNT + 1) + (size_t)o] == NULL)
			return -1;
	}
	return 0;
}

struct upstream_metrics *upstream_metrics_new(struct metrics *reg, const struct gw_conf *conf, struct err *err)
{
	struct upstream_metrics *m = calloc(1, sizeof(*m));
	size_t n = conf->nproviders > 0 ? conf->nproviders : 1;
	if (m == NULL)
		goto nomem;
	m->nprov = conf->nproviders;
	m->open = calloc(n * 2, sizeof(*m->open));
	m->connects = calloc(n * UP_CONNECT__COUNT, sizeof(*m->connects));
	m->requests = calloc(n * (UPSTREAM__COUNT + 1), sizeof(*m->requests));
	if (m->open == NULL || m->connects == NULL || m->requests == NULL)
		goto nomem;
	/* in-process providers never touch the network: no rows for them */
	for (size_t i = 0; i < conf->nproviders; i++)
		if (conf->providers[i].type != GW_PROVIDER_MOCK &&
		    metrics_register_provider(m, reg, i, conf->providers[i].name) < 0) {
			upstream_metrics_free(m);
			err_set(err, ENOMEM, "cannot register the upstream metrics");
			return NULL;
		}
	return m;
nomem:
	upstream_metrics_free(m);
	err_set(err, ENOMEM, "out of memory");
	return NULL;
}

void upstream_metrics_free(struct upstream_metrics *m)
{
	if (m == NULL)
		return;
	free(m->open);
	free(m->connects);
	free(m->requests);
	free(m);
}

void upstream_pool_set_metrics(struct upstream_pool *p, const struct upstream_metrics *m)
{
	p->m = m;
}

void up_metric_conn_open(const struct up_target *t, enum up_proto_known proto, int delta)
{
	const struct upstream_metrics *m = t->pool->m;
	if (m != NULL && t->index < m->nprov)
		metric_gauge_add(m->open[t->index * 2 + (proto == UP_PROTO_H2)], delta);
}

void up_metric_connect(const struct up_target *t, enum up_connect_result r)
{
	const struct upstream_metrics *m = t->pool->m;
	if (m != NULL && t->index < m->nprov)
		metric_inc(m->connects[t->index * UP_CONNECT__COUNT + (size_t)r]);
}

static void metric_request(const struct up_target *t, unsigned o)
{
	const struct upstream_metrics *m = t->pool->m;
	if (m != NULL && t->index < m->nprov)
		metric_inc(m->requests[t->index * (UPSTREAM__COUNT + 1) + o]);
}

/* ---- calls: timer and lifecycle ------------------------------------------ */

void up_pool_kick(struct upstream_pool *p)
{
	if (p->maint_pending)
		return;
	p->maint_pending = true;
	event_active(p->maint, EV_TIMEOUT, 1);
}

static uint64_t ms_ns(int64_t ms)
{
	return (uint64_t)ms * 1000000u;
}

/* The earliest deadline that applies to c now. */
static uint64_t call_next_deadline(const struct upstream_call *c)
{
	const struct gw_provider *pr = c->t->prov;
	uint64_t d = c->deadline_ns;
	if (c->state != CALL_ACTIVE)
		return d;
	if (c->res.status == 0) {
		uint64_t fb = c->sent_ns + ms_ns(pr->first_byte_timeout_ms);
		return fb < d ? fb : d;
	}
	if (pr->idle_timeout_ms > 0) {
		uint64_t idle = c->last_rx_ns + ms_ns(pr->idle_timeout_ms);
		return idle < d ? idle : d;
	}
	return d;
}

void up_call_rearm(struct upstream_call *c)
{
	uint64_t now = clock_mono_ns(), d = call_next_deadline(c);
	uint64_t left = d > now ? d - now : 0;
	struct timeval tv = {(time_t)(left / 1000000000u), (suseconds_t)((left % 1000000000u) / 1000)};
	evtimer_add(&c->timer, &tv);
}

/* Takes c off whatever holds it (FIFO, pending list, connection). */
static void call_detach(struct upstream_call *c)
{
	struct up_conn *conn = c->conn;
	switch (c->state) {
	case CALL_QUEUED:
		TAILQ_REMOVE(&c->t->waiting, c, link);
		break;
	case CALL_PENDING:
		TAILQ_REMOVE(&conn->pending, c, link);
		conn->npending--;
		c->conn = NULL;
		break;
	case CALL_ACTIVE:
		if (conn == NULL)
			break;
		if (conn->proto == UP_PROTO_H2)
			up_h2_abort(conn, c);
		else
			up_h1_abort(conn);
		c->conn = NULL;
		break;
	case CALL_DONE:
	case CALL_CANCELLED:
		break;
	}
}

static void call_to_dead(struct upstream_call *c)
{
	evtimer_del(&c->timer);
	TAILQ_REMOVE(&c->pool->calls, c, all);
	TAILQ_INSERT_TAIL(&c->pool->dead, c, link);
	up_pool_kick(c->pool);
}

void up_call_finish(struct upstream_call *c, enum upstream_outcome o, const char *detail)
{
	struct upstream_result *r = &c->res;
	if (c->state == CALL_DONE || c->state == CALL_CANCELLED)
		return;
	c->state = CALL_DONE;
	c->conn = NULL;
	r->outcome = o;
	if (detail != NULL)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
	if (!c->stream_mode && r->status != 0) {
		r->headers = c->rhdrs;
		r->nheaders = c->nrhdrs;
		if (o == UPSTREAM_OK) {
			r->body = c->rbody.data != NULL ? c->rbody.data : "";
			r->body_len = c->rbody.len;
		}
	}
	metric_request(c->t, (unsigned)o);
	call_to_dead(c);
	c->in_done = true;
	c->h.on_done(c, r, c->arg);
}

static void call_timeout(struct upstream_call *c, enum upstream_outcome o)
{
	const struct gw_provider *pr = c->t->prov;
	char d[160];
	if (o == UPSTREAM_TOTAL_TIMEOUT && c->state == CALL_QUEUED)
		snprintf(d, sizeof(d), "no free connection within %lld ms (max_connections %u)",
			 (long long)pr->timeout_ms, pr->max_connections);
	else if (o == UPSTREAM_TOTAL_TIMEOUT && c->state == CALL_PENDING)
		snprintf(d, sizeof(d), "still connecting when the %lld ms timeout passed", (long long)pr->timeout_ms);
	else if (o == UPSTREAM_TOTAL_TIMEOUT)
		snprintf(d, sizeof(d), "no complete response within %lld ms", (long long)pr->timeout_ms);
	else if (o == UPSTREAM_FIRST_BYTE_TIMEOUT)
		snprintf(d, sizeof(d), "no response head within %lld ms of sending the request",
			 (long long)pr->first_byte_timeout_ms);
	else
		snprintf(d, sizeof(d), "no body bytes for %lld ms", (long long)pr->idle_timeout_ms);
	call_detach(c);
	up_call_finish(c, o, d);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_call *c = arg;
	const struct gw_provider *pr = c->t->prov;
	uint64_t now = clock_mono_ns();
	(void)fd;
	(void)what;
	if (c->state == CALL_DONE || c->state == CALL_CANCELLED)
		return;
	if (now >= c->deadline_ns)
		call_timeout(c, UPSTREAM_TOTAL_TIMEOUT);
	else if (c->state == CALL_ACTIVE && c->res.status == 0 && now >= c->sent_ns + ms_ns(pr->first_byte_timeout_ms))
		call_timeout(c, UPSTREAM_FIRST_BYTE_TIMEOUT);
	else if (c->state == CALL_ACTIVE && c->res.status != 0 && pr->idle_timeout_ms > 0 &&
		 now >= c->last_rx_ns + ms_ns(pr->idle_timeout_ms))
		call_timeout(c, UPSTREAM_IDLE_TIMEOUT);
	else
		up_call_rearm(c);
}

/* Copies a head's headers into c's own storage (buffered mode outlives the read buffer). */
static int call_keep_headers(struct upstream_call *c, const struct http_hdr *h, size_t n)
{
	size_t bytes = 0;
	if (h == c->rhdrs)
		return 0; /* h2 heads are already ours */
	for (size_t i = 0; i < n; i++)
		bytes += h[i].name_len + h[i].value_len;
	buf_reset(&c->rhead);
	free(c->rhdrs);
	c->rhdrs = calloc(n > 0 ? n : 1, sizeof(*c->rhdrs));
	if (c->rhdrs == NULL || buf_reserve(&c->rhead, bytes + 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t at = c->rhead.len;
		buf_append(&c->rhead, h[i].name, h[i].name_len);
		buf_append(&c->rhead, h[i].value, h[i].value_len);
		c->rhdrs[i].name = c->rhead.data + at;
		c->rhdrs[i].name_len = h[i].name_len;
		c->rhdrs[i].value = c->rhead.data + at + h[i].name_len;
		c->rhdrs[i].value_len = h[i].value_len;
	}
	c->nrhdrs = n;
	return 0;
}

int up_call_head(struct upstream_call *c, int status, const struct http_hdr *h, size_t n, enum upstream_proto proto,
		 uint64_t len_hint)
{
	enum upstream_body_mode mode = UPSTREAM_BODY_BUFFER;
	c->res.status = status;
	c->res.proto = proto;
	c->last_rx_ns = clock_mono_ns();
	if (c->h.on_head != NULL) {
		struct upstream_head hd = {status, h, n, proto};
		mode = c->h.on_head(c, &hd, c->arg);
		if (c->state != CALL_ACTIVE)
			return -1;
	}
	c->stream_mode = mode == UPSTREAM_BODY_STREAM && c->h.on_data != NULL;
	if (!c->stream_mode && len_hint > 0 && len_hint <= UPSTREAM_MAX_RESPONSE)
		buf_reserve(&c->rbody, (size_t)len_hint + 1); /* one allocation for the whole body */
	if (!c->stream_mode && call_keep_headers(c, h, n) < 0) {
		call_detach(c);
		up_call_finish(c, UPSTREAM_TOO_LARGE, "out of memory keeping the response headers");
		return -1;
	}
	up_call_rearm(c);
	return 0;
}

int up_call_data(struct upstream_call *c, const char *p, size_t n)
{
	c->last_rx_ns = clock_mono_ns();
	if (c->stream_mode) {
		c->h.on_data(c, p, n, c->arg);
		return c->state == CALL_ACTIVE ? 0 : -1;
	}
	if (buf_append(&c->rbody, p, n) < 0) {
		char d[160];
		snprintf(d, sizeof(d), "response body larger than %zu bytes", (size_t)UPSTREAM_MAX_RESPONSE);
		call_detach(c);
		up_call_finish(c, UPSTREAM_TOO_LARGE, d);
		return -1;
	}
	return 0;
}

void up_call_retry(struct upstream_call *c)
{
	c->conn = NULL;
	c->res.retried = true;
	c->res.status = 0;
	c->got_byte = false;
	c->on_idle_conn = false;
	c->stream_mode = false;
	c->stream_id = 0;
	c->body_sent = 0;
	c->h2_status = 0;
	c->h2_fail = 0;
	c->h2_unsent = false;
	c->nrhdrs = 0;
	buf_reset(&c->rbody);
	buf_reset(&c->rhead);
	c->state = CALL_QUEUED;
	TAILQ_INSERT_HEAD(&c->t->waiting, c, link);
	up_pool_kick(c->pool);
}

void up_call_conn_failed(struct upstream_call *c, enum upstream_outcome o, const char *detail)
{
	c->conn = NULL;
	up_call_finish(c, o, detail);
}

void upstream_call_cancel(struct upstream_call *c)
{
	if (c == NULL || c->state == CALL_DONE || c->state == CALL_CANCELLED)
		return;
	call_detach(c);
	c->state = CALL_CANCELLED;
	metric_request(c->t, UP_REQ_CANCELLED);
	call_to_dead(c);
}

static void call_free(struct upstream_call *c)
{
	buf_fini(&c->rbody);
	buf_fini(&c->rhead);
	free(c->rhdrs);
	free(c->rhdr_off);
	free(c);
}

/* ---- targets: the pump ---------------------------------------------------- */

/*
 * A ready connection that can take one more call now, or NULL. A retry
 * after a stale h1 connection avoids the other reused idle ones (they are
 * likely stale too: the server restarted or shed its idle connections)
 * while the limit allows a new one.
 */
static struct up_conn *target_ready_conn(struct up_target *t, const struct upstream_call *call)
{
	struct up_conn *c;
	if (t->proto != UP_PROTO_H1)
		TAILQ_FOREACH(c, &t->conns, all)
		{
			if (c->proto == UP_PROTO_H2 && up_h2_has_room(c))
				return c;
		}
	if (!call->res.retried || t->nconns >= t->prov->max_connections)
		return TAILQ_FIRST(&t->idle);
	TAILQ_FOREACH(c, &t->idle, link)
	{
		if (c->served == 0)
			return c;
	}
	return NULL;
}

/* A connection still connecting that may take c once ready. */
static struct up_conn *target_connecting_conn(struct up_target *t)
{
	struct up_conn *c;
	if (t->proto == UP_PROTO_H1)
		return NULL; /* each connecting h1 connection is for the call that opened it */
	TAILQ_FOREACH(c, &t->conns, all)
	{
		if (c->state < UPC_READY && c->npending < t->h2_limit)
			return c;
	}
	return NULL;
}

static void dispatch(struct up_conn *conn, struct upstream_call *c)
{
	c->state = CALL_ACTIVE;
	c->conn = conn;
	c->sent_ns = clock_mono_ns();
	if (conn->proto == UP_PROTO_H2) {
		c->on_idle_conn = conn->served > 0 && conn->nstreams == 0;
		if (up_h2_dispatch(conn, c) < 0) {
			/* the session is full or finished: never pick it again, try elsewhere */
			conn->goaway = true;
			c->state = CALL_QUEUED;
			c->conn = NULL;
			TAILQ_INSERT_HEAD(&c->t->waiting, c, link);
			return;
		}
	} else {
		TAILQ_REMOVE(&conn->t->idle, conn, link);
		conn->in_idle = false;
		c->on_idle_conn = conn->served > 0;
		conn->call = c;
		up_h1_dispatch(conn, c);
	}
	up_call_rearm(c);
}

static void target_pump(struct up_target *t)
{
	struct upstream_call *c;
	struct up_conn *conn, *next;
	while ((c = TAILQ_FIRST(&t->waiting)) != NULL) {
		conn = target_ready_conn(t, c);
		if (conn != NULL) {
			TAILQ_REMOVE(&t->waiting, c, link);
			dispatch(conn, c);
			continue;
		}
		if ((conn = target_connecting_conn(t)) == NULL) {
			if (t->nconns >= t->prov->max_connections || (conn = up_conn_new(t)) == NULL)
				break; /* wait for a connection (or the total timeout) */
		}
		TAILQ_REMOVE(&t->waiting, c, link);
		c->state = CALL_PENDING;
		c->conn = conn;
		TAILQ_INSERT_TAIL(&conn->pending, c, link);
		conn->npending++;
	}
	if (t->proto == UP_PROTO_H1)
		return;
	/* every stream placed above goes out in one write per session (a flush may close one) */
	for (conn = TAILQ_FIRST(&t->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, all);
		if (conn->proto == UP_PROTO_H2 && conn->state == UPC_READY)
			up_h2_flush(conn);
	}
}

void up_target_conn_ready(struct up_target *t, struct up_conn *conn)
{
	struct upstream_call *c;
	/* its pending calls go first, in their order; the pump then places them */
	while ((c = TAILQ_LAST(&conn->pending, up_call_list)) != NULL) {
		TAILQ_REMOVE(&conn->pending, c, link);
		conn->npending--;
		c->conn = NULL;
		c->state = CALL_QUEUED;
		TAILQ_INSERT_HEAD(&t->waiting, c, link);
	}
	if (conn->proto == UP_PROTO_H1) {
		TAILQ_INSERT_HEAD(&t->idle, conn, link);
		conn->in_idle = true;
	}
	up_conn_idle(conn);
	target_pump(t);
}

static void maint_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_pool *p = arg;
	struct upstream_call *c;
	struct up_conn *conn;
	(void)fd;
	(void)what;
	p->maint_pending = false;
	for (size_t i = 0; i < p->ntargets; i++)
		target_pump(&p->targets[i]);
	while ((c = TAILQ_FIRST(&p->dead)) != NULL) {
		TAILQ_REMOVE(&p->dead, c, link);
		call_free(c);
	}
	while ((conn = TAILQ_FIRST(&p->graveyard)) != NULL) {
		TAILQ_REMOVE(&p->graveyard, conn, link);
		up_conn_free(conn);
	}
}

/* ---- public: calls --------------------------------------------------------- */

static bool hop_by_hop(const struct http_hdr *h)
{
	static const char *const drop[] = {"host", "content-length",	"connection", "keep-alive", "proxy-connection",
					   "te",   "transfer-encoding", "upgrade"};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (h->name_len == strlen(drop[i]) && strncasecmp(h->name, drop[i], h->name_len) == 0)
			return true;
	return false;
}

static bool bytes_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return false;
	return true;
}

/* Bytes the request needs after the struct; -1 with err for unsendable input. */
static int request_size(const struct upstream_request *rq, size_t *nkeep, size_t *bytes, struct err *err)
{
	const char *method = rq->method != NULL ? rq->method : "POST";
	size_t head = strlen(method) + strlen(rq->path) + 2;
	if (rq->path[0] != '/' || !bytes_clean(rq->path, strlen(rq->path)) || strpbrk(rq->path, " \t") != NULL ||
	    method[0] == '\0' || !bytes_clean(method, strlen(method)) || strpbrk(method, " \t") != NULL)
		return err_set(err, EINVAL, "request method or path is not sendable");
	*nkeep = 0;
	for (size_t i = 0; i < rq->nheaders; i++) {
		const struct http_hdr *h = &rq->headers[i];
		if (h->name_len == 0 || !bytes_clean(h->name, h->name_len) || !bytes_clean(h->value, h->value_len) ||
		    memchr(h->name, ':', h->name_len) != NULL || memchr(h->name, ' ', h->name_len) != NULL)
			return err_set(err, EINVAL, "request header %zu is not sendable (CR, LF, NUL or bad name)", i);
		if (hop_by_hop(h))
			continue;
		(*nkeep)++;
		head += h->name_len + h->value_len + 4;
	}
	if (head > UP_REQ_HEAD_MAX)
		return err_set(err, EINVAL, "request head over %zu bytes", UP_REQ_HEAD_MAX);
	*bytes = *nkeep * sizeof(struct http_hdr) + head + rq->body_len;
	return 0;
}

/* Lays the request out after the struct: header array, strings, body. */
static void request_copy(struct upstream_call *c, const struct upstream_request *rq, size_t nkeep)
{
	char *p = (char *)(c + 1);
	const char *method = rq->method != NULL ? rq->method : "POST";
	c->qhdrs = (struct http_hdr *)p;
	c->nqhdrs = 0;
	p += nkeep * sizeof(struct http_hdr);
	for (size_t i = 0; i < rq->nheaders; i++) {
		const struct http_hdr *h = &rq->headers[i];
		struct http_hdr *d = &c->qhdrs[c->nqhdrs];
		if (hop_by_hop(h))
			continue;
		/* lower case once: HTTP/2 requires it and HTTP/1.1 does not care */
		for (size_t k = 0; k < h->name_len; k++)
			p[k] = (char)tolower((unsigned char)h->name[k]);
		d->name = p;
		d->name_len = h->name_len;
		p += h->name_len;
		memcpy(p, h->value, h->value_len);
		d->value = p;
		d->value_len = h->value_len;
		p += h->value_len;
		c->nqhdrs++;
	}
	memcpy(p, method, strlen(method) + 1);
	c->method = p;
	p += strlen(method) + 1;
	memcpy(p, rq->path, strlen(rq->path) + 1);
	c->path = p;
	p += strlen(rq->path) + 1;
	if (rq->body_len > 0)
		memcpy(p, rq->body, rq->body_len);
	c->body = p;
	c->body_len = rq->body_len;
}

struct upstream_call *upstream_call_start(struct upstream_pool *p, size_t provider, const struct upstream_request *rq,
					  const struct upstream_handlers *h, void *arg, struct err *err)
{
	size_t nkeep = 0, bytes = 0;
	if (provider >= p->ntargets || p->targets[provider].prov->type == GW_PROVIDER_MOCK) {
		err_set(err, EINVAL, "provider %zu is not a network provider", provider);
		return NULL;
	}
	if (h == NULL || h->on_done == NULL || rq->path == NULL) {
		err_set(err, EINVAL, "upstream_call_start needs a path and an on_done callback");
		return NULL;
	}
	if (request_size(rq, &nkeep, &bytes, err) < 0)
		return NULL;
	struct upstream_call *c = calloc(1, sizeof(*c) + bytes);
	if (c == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	struct up_target *t = &p->targets[provider];
	c->pool = p;
	c->t = t;
	c->h = *h;
	c->arg = arg;
	request_copy(c, rq, nkeep);
	buf_init(&c->rbody, UPSTREAM_MAX_RESPONSE);
	buf_init(&c->rhead, UPSTREAM_MAX_HEAD + 1024);
	evtimer_assign(&c->timer, p->base, call_timer_cb, c);
	c->start_ns = clock_mono_ns();
	c->deadline_ns = c->start_ns + ms_ns(t->prov->timeout_ms);
	c->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&p->calls, c, all);
	TAILQ_INSERT_TAIL(&t->waiting, c, link);
	up_call_rearm(c);
	up_pool_kick(p);
	return c;
}

/* ---- public: pool ------------------------------------------------------------ */

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
	TAILQ_INIT(&p->dead);
	p->ntargets = conf->nproviders;
	p->targets = calloc(p->ntargets > 0 ? p->ntargets : 1, sizeof(*p->targets));
	p->maint = event_new(base, -1, 0, maint_cb, p);
	if (p->targets == NULL || p->maint == NULL)
		goto nomem;
	for (size_t i = 0; i < p->ntargets; i++) {
		struct up_target *t = &p->targets[i];
		const struct gw_provider *pr = &conf->providers[i];
		t->pool = p;
		t->index = i;
		t->prov = pr;
		t->tls = tls != NULL ? tls[i] : NULL;
		if (pr->http2 == GW_HTTP2_PRIOR_KNOWLEDGE && !pr->url.tls)
			t->proto = UP_PROTO_H2;
		else if (t->tls != NULL && pr->http2 == GW_HTTP2_AUTO)
			t->proto = UP_PROTO_UNKNOWN;
		else
			t->proto = UP_PROTO_H1;
		t->h2_limit = UP_H2_INITIAL_STREAMS;
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
	struct upstream_call *c;
	struct up_conn *conn;
	if (p == NULL)
		return;
	/* calls first, silently: connections must not call back into freed calls */
	for (size_t i = 0; i < p->ntargets; i++)
		TAILQ_FOREACH(conn, &p->targets[i].conns, all)
		{
			TAILQ_INIT(&conn->pending);
			TAILQ_INIT(&conn->streams);
			conn->npending = 0;
			conn->call = NULL;
		}
	while ((c = TAILQ_FIRST(&p->calls)) != NULL) {
		TAILQ_REMOVE(&p->calls, c, all);
		evtimer_del(&c->timer);
		call_free(c);
	}
	while ((c = TAILQ_FIRST(&p->dead)) != NULL) {
		TAILQ_REMOVE(&p->dead, c, link);
		call_free(c);
	}
	for (size_t i = 0; i < p->ntargets; i++)
		while ((conn = TAILQ_FIRST(&p->targets[i].conns)) != NULL)
			up_conn_close(conn);
	while ((conn = TAILQ_FIRST(&p->graveyard)) != NULL) {
		TAILQ_REMOVE(&p->graveyard, conn, link);
		up_conn_free(conn);
	}
	if (p->maint != NULL)
		event_free(p->maint);
	free(p->targets);
	free(p);
}
