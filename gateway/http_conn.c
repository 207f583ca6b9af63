/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection state machine (see http_conn.h):
 *
 *   READ  --complete request-->  BUSY  --respond-->  READ (keep-alive, output flushed)
 *     |                            |  \--stream_head--> STREAM --stream_end--> (as respond)
 *     |                            |                       output still queued: FLUSH -> READ
 *     |                            \--peer EOF/reset--> GONE (socket closed; owner notified, releases)
 *     \--parse error / 408--> reject --respond--> CLOSING --flushed--> LINGER --EOF/timeout--> freed
 *
 * Costs on the fast path (a request arriving in one segment, answered at
 * once): one read, one writev, no allocation (read buffers come from a
 * per-worker pool and go back when the connection is idle), no epoll_ctl
 * (the read event stays armed; the write event is only added when the
 * socket is full) and two O(1) timer updates (libevent common timeouts).
 *
 * After a close-delimited or error response the socket is shut down for
 * writing and read until EOF for a short while ("lingering close"), so a
 * client still sending a body it was refused gets the response instead of
 * a reset that would destroy it.
 *
 * Freeing: callbacks of this module hold the connection (c->hold); a close
 * decided while held frees it when the outermost callback returns, so no
 * object is freed inside its own callback.
 *
 * The response side (status line, Date, framing, keep-alive decision,
 * http_conn_respond and http_conn_stream_*, and http_conn_send, the
 * write-or-queue under them) is http_conn_out.c; the connection struct and
 * what both files call is http_conn_int.h.
 */
#include "gateway/http_conn.h"
#include "gateway/http_conn_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/metrics.h"

#define LINGER_MAX_BYTES ((size_t)1 << 20)
#define CHUNK_SLACK ((size_t)64 << 10)
#define POOL_MAX 256

static void process(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void cb_unhold(struct http_conn *c);

/* ---- small helpers ---------------------------------------------------------------- */

static void clear_timer(struct http_conn *c)
{
	event_del(c->tev);
	c->timer_req = false;
}

static void want_read(struct http_conn *c, bool on)
{
	if (on == c->reading || c->fd < 0)
		return;
	if (on)
		event_add(c->rev, NULL);
	else
		event_del(c->rev);
	c->reading = on;
}

/* ---- buffers -------------------------------------------------------------------------- */

static bool rbuf_get(struct http_conn *c)
{
	struct http_conn_env *env = c->env;
	if (c->rbuf != NULL)
		return true;
	c->rbuf = env->npool > 0 ? env->pool[--env->npool] : malloc(HTTP_CONN_RBUF);
	c->rcap = HTTP_CONN_RBUF;
	c->rlen = c->ppos = 0;
	return c->rbuf != NULL;
}

/* Gives the buffer back when nothing in it matters any more (idle between requests). */
static void rbuf_put(struct http_conn *c)
{
	struct http_conn_env *env = c->env;
	if (c->rbuf == NULL)
		return;
	if (c->rcap == HTTP_CONN_RBUF && env->npool < POOL_MAX && env->pool != NULL)
		env->pool[env->npool++] = c->rbuf;
	else
		free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = c->rlen = c->ppos = 0;
}

/* Moves the head slices from old to the new buffer (offsets are kept). */
static const char *rebase(const char *ptr, const char *old, char *nb)
{
	return ptr != NULL ? nb + (ptr - old) : NULL;
}

/* Grows the read buffer to at least need bytes, keeping parsed slices valid. */
static bool rbuf_grow(struct http_conn *c, size_t need)
{
	/* exact for a known Content-Length, doubling otherwise */
	size_t cap = need > c->rcap * 2 ? need : c->rcap * 2;
	char *nb = malloc(cap);
	if (nb == NULL)
		return false;
	memcpy(nb, c->rbuf, c->rlen);
	if (c->p.head_done) {
		struct http_msg *m = &c->p.msg;
		m->method_str.p = rebase(m->method_str.p, c->rbuf, nb);
		m->target.p = rebase(m->target.p, c->rbuf, nb);
		for (size_t i = 0; i < m->nhdrs; i++) {
			m->hdrs[i].name = rebase(m->hdrs[i].name, c->rbuf, nb);
			m->hdrs[i].value = rebase(m->hdrs[i].value, c->rbuf, nb);
		}
	}
	if (c->rcap == HTTP_CONN_RBUF && c->env->npool < POOL_MAX && c->env->pool != NULL)
		c->env->pool[c->env->npool++] = c->rbuf;
	else
		free(c->rbuf);
	c->rbuf = nb;
	c->rcap = cap;
	return true;
}

/* Room to read more of the current request; false when none can be made. */
static bool make_room(struct http_conn *c)
{
	const struct http_limits *lim = &c->env->lim;
	if (c->rlen < c->rcap)
		return true;
	if (!c->p.head_done)
		return c->rlen < c->ppos + lim->max_head + 2 && rbuf_grow(c, c->ppos + lim->max_head + 2);
	/* body: de-chunked bytes are compact at bstart; slide unparsed input down to them */
	size_t dst = c->bstart + c->blen;
	if (c->ppos > dst) {
		memmove(c->rbuf + dst, c->rbuf + c->ppos, c->rlen - c->ppos);
		c->rlen -= c->ppos - dst;
		c->ppos = dst;
		return true;
	}
	const struct http_msg *m = &c->p.msg;
	size_t need = m->body == HTTP_BODY_LENGTH			      ? c->bstart + (size_t)m->content_length
		      : c->rcap * 2 > c->bstart + lim->max_body + CHUNK_SLACK ? c->bstart + lim->max_body + CHUNK_SLACK
									      : c->rcap * 2;
	return need > c->rcap && rbuf_grow(c, need);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Peer unreachable for writing or reading: what happens depends on the request in flight. */
void http_conn_peer_gone(struct http_conn *c)
{
	if (c->st == CS_BUSY || c->st == CS_STREAM) {
		/* keep the struct for the owner, drop the socket now */
		event_del(c->rev);
		event_del(c->wev);
		clear_timer(c);
		close(c->fd);
		c->fd = -1;
		c->reading = c->writing = false;
		c->st = CS_GONE;
		c->notify_gone = true;
		event_active(c->tev, EV_TIMEOUT, 1);
		return;
	}
	if (c->st != CS_GONE)
		conn_close(c);
}

static void start_linger(struct http_conn *c)
{
	if (c->fd < 0) {
		conn_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->st = CS_LINGER;
	c->lingered = 0;
	rbuf_put(c);
	want_write(c, false);
	want_read(c, true);
	set_timer(c, c->env->linger_timeout);
}

/* The response is out of our hands (written or queued): continue with the connection. */
void http_conn_response_done(struct http_conn *c)
{
	bool flushed = c->wlen == c->wpos;
	c->ctx = NULL;
	c->head_only = false;
	c->chunked_out = false;
	if (!c->keep_alive || c->env->draining) {
		c->st = CS_CLOSING;
		if (flushed)
			start_linger(c);
		return;
	}
	http_parse_next(&c->p, false);
	c->bstart = c->blen = 0;
	if (!flushed) {
		c->st = CS_FLUSH;
		return;
	}
	c->st = CS_READ;
	set_timer(c, c->env->idle_timeout);
	want_read(c, true);
	c->resume = true; /* the epilogue of the caller decides how to go on */
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	c->hold++;
	ssize_t w = write(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		http_conn_peer_gone(c);
	} else if (w > 0) {
		c->wpos += (size_t)w;
		if (c->wpos == c->wlen) {
			want_write(c, false);
			free(c->wbuf);
			c->wbuf = NULL;
			c->wcap = c->wlen = c->wpos = 0;
			if (!c->timer_req)
				clear_timer(c);
			if (c->st == CS_FLUSH) {
				c->st = CS_BUSY; /* http_conn_response_done expects an answered request */
				c->keep_alive = true;
				http_conn_response_done(c);
			} else if (c->st == CS_CLOSING) {
				start_linger(c);
			}
		} else if (!c->timer_req) {
			set_timer(c, c->env->write_timeout); /* progress: the write timeout starts again */
		}
	}
	cb_unhold(c);
}

/* The corked output: one write; what the socket does not take waits for EV_WRITE as usual. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	c->corked = false;
	if (c->fd < 0 || c->wlen == c->wpos)
		return;
	c->hold++;
	on_write(c->fd, EV_WRITE, c);
	if (c->fd >= 0 && c->wlen > c->wpos) {
		want_write(c, true);
		if (!c->timer_req)
			set_timer(c, c->env->write_timeout);
	}
	cb_unhold(c);
}

void http_conn_release(struct http_conn *c)
{
	c->ctx = NULL;
	c->notify_gone = false;
	conn_close(c);
}

/* ---- reading ----------------------------------------------------------------------------- */

/* In-place NUL terminators after each slice of the head: C strings without copies. */
static void terminate_slices(struct http_conn *c)
{
	struct http_msg *m = &c->p.msg;
	char *base = c->rbuf;
	base[(m->method_str.p - base) + m->method_str.n] = '\0';
	base[(m->target.p - base) + m->target.n] = '\0';
	for (size_t i = 0; i < m->nhdrs; i++) {
		base[(m->hdrs[i].name - base) + m->hdrs[i].name_len] = '\0';
		base[(m->hdrs[i].value - base) + m->hdrs[i].value_len] = '\0';
	}
}

static void on_head(struct http_conn *c)
{
	const struct http_msg *m = &c->p.msg;
	terminate_slices(c);
	c->bstart = c->ppos;
	c->blen = 0;
	c->head_only = m->method == HTTP_METHOD_HEAD;
	/* 100-continue: only worth sending when the body has not started arriving */
	if (m->expect_continue && c->rlen == c->ppos &&
	    (m->body == HTTP_BODY_CHUNKED || (m->body == HTTP_BODY_LENGTH && m->content_length > 0))) {
		struct iovec iov[1] = {{(void *)(uintptr_t) "HTTP/1.1 100 Continue\r\n\r\n", 25}};
		http_conn_send(c, iov, 1, false, false);
	}
}

static void reject(struct http_conn *c, int status, const char *why)
{
	bool head_done = c->p.head_done;
	/* a head refused for its framing never went through on_head: the owner reads it as C strings too */
	if (head_done)
		terminate_slices(c);
	c->st = CS_BUSY;
	c->must_close = true;
	clear_timer(c);
	c->env->ops->reject(c, status, why, head_done, c->env->arg);
	if (c->st == CS_BUSY) /* not answered */
		conn_close(c);
}

static void dispatch(struct http_conn *c)
{
	c->st = CS_BUSY;
	clear_timer(c);
	c->env->ops->request(c, c->env->arg);
}

/* Parses what is buffered; dispatches complete requests in order. */
static void process(struct http_conn *c)
{
	c->resume = false;
	c->hold++;
	while (c->st == CS_READ) {
		size_t used = 0;
		struct http_slice d = {NULL, 0};
		if (c->ppos > 0 && !http_parse_in_message(&c->p)) {
			/* start of a message: earlier requests are answered, reclaim their bytes */
			memmove(c->rbuf, c->rbuf + c->ppos, c->rlen - c->ppos);
			c->rlen -= c->ppos;
			c->ppos = 0;
		}
		enum http_parse_status s = http_parse_feed(&c->p, c->rbuf + c->ppos, c->rlen - c->ppos, &used, &d);
		c->ppos += used;
		if (s == HTTP_PARSE_HEAD) {
			on_head(c);
		} else if (s == HTTP_PARSE_DATA) {
			char *dst = c->rbuf + c->bstart + c->blen;
			if (d.p != dst)
				memmove(dst, d.p, d.n); /* de-chunk in place: dst is always at or before d.p */
			c->blen += d.n;
		} else if (s == HTTP_PARSE_DONE) {
			dispatch(c);
		} else if (s == HTTP_PARSE_ERROR) {
			reject(c, c->p.err_status, c->p.err_msg);
		} else if (!http_parse_in_message(&c->p) && c->ppos == c->rlen) {
			rbuf_put(c); /* idle between requests: the buffer goes back to the pool */
			if (c->env->draining)
				conn_close(c);
			break;
		} else {
			if (!c->timer_req) {
				set_timer(c, c->env->request_timeout);
				c->timer_req = true;
			}
			if (!make_room(c))
				conn_close(c);
			break;
		}
	}
	c->hold--;
	if (c->st == CS_DEAD && c->hold == 0)
		conn_close(c);
}

/* Epilogue of callbacks of this module: free a closed connection, go on reading. */
static void cb_unhold(struct http_conn *c)
{
	if (--c->hold > 0)
		return;
	if (c->st == CS_DEAD)
		conn_close(c);
	else if (c->st == CS_READ && c->resume)
		process(c);
}

/*
 * Epilogue of calls made by the owner: never dispatch the next request
 * from inside the owner's own call; a pipelined one is picked up from a
 * fresh loop iteration instead.
 */
void http_conn_owner_unhold(struct http_conn *c)
{
	if (--c->hold > 0)
		return;
	if (c->st == CS_DEAD) {
		conn_close(c);
	} else if (c->st == CS_READ && c->resume) {
		c->resume = false;
		if (c->rlen > c->ppos) {
			c->resume = true;
			event_active(c->rev, EV_READ, 1);
		} else {
			rbuf_put(c);
		}
	}
}

/* Returns true when bytes were read. */
static bool read_some(struct http_conn *c)
{
	if (!rbuf_get(c)) {
		conn_close(c);
		return false;
	}
	if (c->rlen == c->rcap) {
		if (c->st != CS_READ) {
			/* a pipelining client filled the buffer while we answer: stop reading for now */
			want_read(c, false);
			return false;
		}
		if (!make_room(c)) {
			conn_close(c);
			return false;
		}
	}
	ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n > 0) {
		c->rlen += (size_t)n;
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return false;
	if (n == 0 && (c->st == CS_FLUSH || c->st == CS_CLOSING)) {
		/* half-close: the client may still read what we queued */
		want_read(c, false);
		c->keep_alive = false;
		if (c->st == CS_FLUSH)
			c->st = CS_CLOSING;
		return false;
	}
	http_conn_peer_gone(c);
	return false;
}

static void linger_read(struct http_conn *c)
{
	char scratch[4096];
	ssize_t n = read(c->fd, scratch, sizeof(scratch));
	if (n > 0) {
		c->lingered += (size_t)n;
		if (c->lingered > LINGER_MAX_BYTES)
			conn_close(c);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn_close(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	c->hold++;
	if (c->st == CS_LINGER)
		linger_read(c);
	else if (c->st != CS_GONE && c->st != CS_DEAD && c->fd >= 0 && read_some(c) && c->st == CS_READ)
		c->resume = true;
	cb_unhold(c);
}

static void count_timeout(struct http_conn *c, enum http_conn_timeout t)
{
	if (c->env->timeouts[t] != NULL)
		metric_inc(c->env->timeouts[t]);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	(void)fd;
	(void)what;
	c->hold++;
	switch (c->st) {
	case CS_GONE:
		if (c->notify_gone) {
			c->notify_gone = false;
			c->env->ops->gone(c, c->env->arg);
		}
		break;
	case CS_READ:
		if (c->timer_req) {
			count_timeout(c, HTTP_CONN_TIMEOUT_REQUEST);
			reject(c, 408, "the request was not received in time");
		} else {
			count_timeout(c, HTTP_CONN_TIMEOUT_IDLE);
			conn_close(c); /* idle keep-alive connection */
		}
		break;
	case CS_LINGER:
		conn_close(c);
		break;
	case CS_DEAD:
		break;
	default:
		if (c->wlen > c->wpos) {
			count_timeout(c, HTTP_CONN_TIMEOUT_WRITE);
			http_conn_peer_gone(c); /* no write progress within write_timeout */
		}
		break;
	}
	cb_unhold(c);
}

/* ---- life cycle --------------------------------------------------------------------------- */

static void conn_close(struct http_conn *c)
{
	struct http_conn_env *env = c->env;
	if (c->st != CS_DEAD) {
		if (c->fd >= 0) {
			event_del(c->rev);
			event_del(c->wev);
			close(c->fd);
			c->fd = -1;
		}
		event_del(c->tev);
		c->st = CS_DEAD;
	}
	if (c->hold > 0 || c->ctx != NULL)
		return; /* freed when the callback unwinds / the owner releases */
	TAILQ_REMOVE(&env->conns, c, link);
	env->nconns--;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	event_free(c->fev);
	rbuf_put(c);
	free(c->wbuf);
	free(c);
	env->ops->closed(env->arg);
}

struct http_conn *http_conn_new(struct http_conn_env *env, int fd)
{
	size_t nh = env->lim.max_headers;
	struct http_conn *c = calloc(1, sizeof(*c) + nh * sizeof(struct http_hdr));
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->env = env;
	c->fd = fd;
	c->rev = event_new(env->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(env->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->tev = evtimer_new(env->base, on_timer, c);
	c->fev = event_new(env->base, -1, 0, on_flush, c);
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL || c->fev == NULL) {
		event_free(c->rev);
		event_free(c->wev);
		event_free(c->tev);
		if (c->fev != NULL)
			event_free(c->fev);
		free(c);
		close(fd);
		return NULL;
	}
	http_parse_init_request(&c->p, &env->lim, c->hdrs, nh);
	TAILQ_INSERT_TAIL(&env->conns, c, link);
	env->nconns++;
	c->st = CS_READ;
	want_read(c, true);
	set_timer(c, env->idle_timeout);
	return c;
}

void http_conn_set_ctx(struct http_conn *c, void *ctx)
{
	c->ctx = ctx;
}

void *http_conn_ctx(const struct http_conn *c)
{
	return c->ctx;
}

const struct http_msg *http_conn_msg(const struct http_conn *c)
{
	return &c->p.msg;
}

const char *http_conn_body(const struct http_conn *c, size_t *len)
{
	*len = c->blen;
	return c->blen > 0 ? c->rbuf + c->bstart : NULL;
}

bool http_conn_gone(const struct http_conn *c)
{
	return c->st == CS_GONE || c->st == CS_DEAD || c->fd < 0;
}

void http_conn_env_close_idle(struct http_conn_env *env)
{
	struct http_conn *c, *next;
	for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->st == CS_READ && !http_parse_in_message(&c->p) && c->ppos == c->rlen && c->hold == 0)
			conn_close(c);
	}
}

int http_conn_env_init(struct http_conn_env *env, struct event_base *base, const struct http_conn_ops *ops, void *arg,
		       const struct http_limits *lim, int64_t request_ms, int64_t idle_ms, int64_t write_ms,
		       size_t max_pending_write)
{
	const struct timeval req = {(time_t)(request_ms / 1000), (suseconds_t)(request_ms % 1000) * 1000};
	const struct timeval idle = {(time_t)(idle_ms / 1000), (suseconds_t)(idle_ms % 1000) * 1000};
	const struct timeval wr = {(time_t)(write_ms / 1000), (suseconds_t)(write_ms % 1000) * 1000};
	const struct timeval linger = {2, 0};
	memset(env, 0, sizeof(*env));
	env->base = base;
	env->ops = ops;
	env->arg = arg;
	env->lim = *lim;
	env->max_pending_write = max_pending_write;
	TAILQ_INIT(&env->conns);
	env->pool = calloc(POOL_MAX, sizeof(*env->pool));
	env->request_timeout = event_base_init_common_timeout(base, &req);
	env->idle_timeout = event_base_init_common_timeout(base, &idle);
	env->write_timeout = event_base_init_common_timeout(base, &wr);
	env->linger_timeout = event_base_init_common_timeout(base, &linger);
	if (env->pool == NULL || env->request_timeout == NULL || env->idle_timeout == NULL ||
	    env->write_timeout == NULL || env->linger_timeout == NULL) {
		free(env->pool);
		env->pool = NULL;
		return -1;
	}
	return 0;
}

void http_conn_env_fini(struct http_conn_env *env)
{
	struct http_conn *c;
	while ((c = TAILQ_FIRST(&env->conns)) != NULL) {
		c->hold = 0;
		c->ctx = NULL;
		conn_close(c);
	}
	for (size_t i = 0; i < env->npool; i++)
		free(env->pool[i]);
	free(env->pool);
	env->pool = NULL;
	env->npool = 0;
}
