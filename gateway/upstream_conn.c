/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport under HTTP/1.1 and HTTP/2: asynchronous DNS (evdns), a
 * non-blocking connect trying each resolved address in turn, the TLS
 * handshake with per-connection ALPN, and reads/writes on the raw socket
 * with OpenSSL driven directly (SSL_read/SSL_write on the fd) rather than
 * through bufferevents: one input buffer per connection that the HTTP/1.1
 * parser reads in place (zero-copy slices to on_data), requests written with
 * one writev, no per-read evbuffer chains.
 *
 * Events: the read event is added once the socket is connected and stays
 * added for the connection's life, so an idle pooled connection notices the
 * server's close at once and the common request path never touches epoll;
 * the write event is added only while output is stuck (EAGAIN, TLS
 * WANT_WRITE) or during connect. A write error is never handled where it is
 * found (that may be inside a caller's callback): it is parked in io_err and
 * handled from the write event.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "common/clock.h"
#include "common/tls.h"
#include "gateway/upstream_int.h"

#define UP_READ_ROUNDS 16 /* reads per event before yielding to other connections */

static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

/* ---- buffers ---------------------------------------------------------------- */

int up_iobuf_reserve(struct up_iobuf *b, size_t n, size_t max)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0 && b->cap - (b->len - b->off) >= n) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		return 0;
	}
	size_t want = b->len - b->off + n, cap = b->cap > 0 ? b->cap : UP_IN_CHUNK;
	while (cap < want)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (cap < want)
		return -1;
	char *d = malloc(cap);
	if (d == NULL)
		return -1;
	if (b->len > b->off)
		memcpy(d, b->data + b->off, b->len - b->off);
	free(b->data);
	b->data = d;
	b->len -= b->off;
	b->off = 0;
	b->cap = cap;
	return 0;
}

void up_iobuf_fini(struct up_iobuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- lifecycle --------------------------------------------------------------- */

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_try_next(struct up_conn *c, int last_err);

static void wev_add(struct up_conn *c)
{
	if (!c->wev_added) {
		event_add(&c->wev, NULL);
		c->wev_added = true;
	}
}

static void wev_del(struct up_conn *c)
{
	if (c->wev_added) {
		event_del(&c->wev);
		c->wev_added = false;
	}
}

static void timer_add_ms(struct up_conn *c, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(&c->tev, &tv);
}

/*
 * The connect timer: the overall deadline, or sooner while a TCP connect is
 * in flight and other addresses are left to try (sequential fallback).
 */
static void connect_timer_arm(struct up_conn *c)
{
	uint64_t now = clock_mono_ns();
	int64_t ms = c->connect_deadline_ns > now ? (int64_t)((c->connect_deadline_ns - now) / 1000000u) + 1 : 0;
	if (c->state == UPC_CONNECTING && c->ai_next != NULL && ms > UP_ATTEMPT_MS)
		ms = UP_ATTEMPT_MS;
	timer_add_ms(c, ms);
}

struct up_conn *up_conn_new(struct up_target *t)
{
	struct event_base *base = t->pool->base;
	struct up_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->t = t;
	c->fd = -1;
	c->state = UPC_START;
	TAILQ_INIT(&c->pending);
	TAILQ_INIT(&c->streams);
	buf_init(&c->head, (size_t)1 << 20);
	event_assign(&c->rev, base, -1, EV_READ | EV_PERSIST, conn_read_cb, c);
	event_assign(&c->wev, base, -1, EV_WRITE, conn_write_cb, c);
	evtimer_assign(&c->tev, base, conn_timer_cb, c);
	TAILQ_INSERT_TAIL(&t->conns, c, all);
	t->nconns++;
	t->nconnecting++;
	/* the deadline covers DNS, TCP and TLS; the work itself starts from the loop */
	c->connect_deadline_ns = clock_mono_ns() + (uint64_t)t->prov->connect_timeout_ms * 1000000u;
	timer_add_ms(c, t->prov->connect_timeout_ms);
	event_active(&c->wev, EV_WRITE, 1);
	return c;
}

void up_conn_close(struct up_conn *c)
{
	struct up_target *t = c->t;
	if (c->state == UPC_DEAD)
		return;
	if (c->dnsreq != NULL) {
		struct evdns_getaddrinfo_request *r = c->dnsreq;
		c->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r); /* calls back with EVUTIL_EAI_CANCEL, ignored */
	}
	event_del(&c->rev);
	event_del(&c->wev);
	c->wev_added = false;
	evtimer_del(&c->tev);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->counted_open)
		up_metric_conn_open(t, c->proto, -1);
	c->counted_open = false;
	if (c->state < UPC_READY)
		t->nconnecting--;
	if (c->in_idle)
		TAILQ_REMOVE(&t->idle, c, link);
	c->in_idle = false;
	TAILQ_REMOVE(&t->conns, c, all);
	t->nconns--;
	c->state = UPC_DEAD;
	TAILQ_INSERT_TAIL(&t->pool->graveyard, c, link);
	up_pool_kick(t->pool);
}

void up_conn_free(struct up_conn *c)
{
	if (c->ai != NULL)
		evutil_freeaddrinfo(c->ai);
	up_h2_free(c);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	up_iobuf_fini(&c->in);
	up_iobuf_fini(&c->out);
	buf_fini(&c->head);
	free(c);
}

void up_conn_fail(struct up_conn *c, enum upstream_outcome o, const char *detail, bool eof_or_reset)
{
	struct upstream_call *call;
	if (c->state == UPC_DEAD)
		return;
	bool ready = c->state == UPC_READY;
	if (!ready)
		up_metric_connect(c->t, o == UPSTREAM_TLS_ERROR		? UP_CONNECT_TLS_ERROR
					: o == UPSTREAM_CONNECT_TIMEOUT ? UP_CONNECT_TIMEOUT
									: UP_CONNECT_ERROR);
	up_conn_close(c);
	/* calls waiting for this connection to come up share its fate */
	while ((call = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, call, link);
		c->npending--;
		up_call_conn_failed(call, o, detail);
	}
	if (!ready)
		return;
	if (c->proto == UP_PROTO_H2)
		up_h2_conn_lost(c, o, detail, eof_or_reset);
	else
		up_h1_conn_lost(c, o, detail, eof_or_reset);
}

void up_conn_idle(struct up_conn *c)
{
	c->idle_since_ns = clock_mono_ns();
	if (!evtimer_pending(&c->tev, NULL))
		timer_add_ms(c, c->t->prov->pool_idle_timeout_ms);
}

static bool conn_is_idle(const struct up_conn *c)
{
	return c->proto == UP_PROTO_H2 ? c->nstreams == 0 : c->call == NULL;
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_conn *c = arg;
	char d[96];
	(void)fd;
	(void)what;
	if (c->state == UPC_CONNECTING && c->ai_next != NULL && clock_mono_ns() < c->connect_deadline_ns) {
		/* this address does not answer: give the next one the rest of the time */
		wev_del(c);
		close(c->fd);
		c->fd = -1;
		conn_try_next(c, ETIMEDOUT);
		return;
	}
	if (c->state < UPC_READY) {
		snprintf(d, sizeof(d), "not connected within %lld ms", (long long)c->t->prov->connect_timeout_ms);
		up_conn_fail(c, UPSTREAM_CONNECT_TIMEOUT, d, false);
		return;
	}
	if (c->state != UPC_READY || !conn_is_idle(c))
		return; /* busy: up_conn_idle() re-arms when it goes idle */
	uint64_t now = clock_mono_ns(), ttl = (uint64_t)c->t->prov->pool_idle_timeout_ms * 1000000u;
	if (now - c->idle_since_ns < ttl) {
		int64_t left = (int64_t)((ttl - (now - c->idle_since_ns)) / 1000000u) + 1;
		timer_add_ms(c, left);
		return;
	}
	if (c->proto == UP_PROTO_H2)
		up_h2_shutdown(c);
	up_conn_close(c);
}

/* ---- connect ------------------------------------------------------------------ */

static void conn_ready(struct up_conn *c, enum up_proto_known proto)
{
	struct up_target *t = c->t;
	evtimer_del(&c->tev);
	c->state = UPC_READY;
	c->proto = proto;
	t->nconnecting--;
	up_metric_connect(t, UP_CONNECT_OK);
	up_metric_conn_open(t, proto, 1);
	c->counted_open = true;
	if (t->prov->http2 == GW_HTTP2_AUTO && t->tls != NULL)
		t->proto = proto; /* what ALPN said last is what the next connection most likely gets */
	if (proto == UP_PROTO_H2 && up_h2_start(c) < 0) {
		up_conn_fail(c, UPSTREAM_PROTOCOL_ERROR, "cannot start an HTTP/2 session (out of memory)", false);
		return;
	}
	up_target_conn_ready(t, c);
}

static void conn_handshake(struct up_conn *c)
{
	char d[160];
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		const unsigned char *sel = NULL;
		unsigned len = 0;
		SSL_get0_alpn_selected(c->ssl, &sel, &len);
		wev_del(c);
		conn_ready(c, len == 2 && memcmp(sel, "h2", 2) == 0 ? UP_PROTO_H2 : UP_PROTO_H1);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		wev_del(c);
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		wev_add(c);
		return;
	}
	unsigned long oe = ERR_peek_last_error();
	int se = errno;
	if (!tls_describe_failure(c->ssl, oe, d, sizeof(d)))
		snprintf(d, sizeof(d), "TLS handshake failed: %s",
			 e == SSL_ERROR_SYSCALL && se != 0 ? strerror(se) : "connection closed by the provider");
	ERR_clear_error();
	up_conn_fail(c, UPSTREAM_TLS_ERROR, d, false);
}

static void conn_connected(struct up_conn *c)
{
	struct up_target *t = c->t;
	struct event_base *base = t->pool->base;
	struct err err;
	event_assign(&c->rev, base, c->fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	event_assign(&c->wev, base, c->fd, EV_WRITE, conn_write_cb, c);
	c->wev_added = false;
	event_add(&c->rev, NULL);
	c->state = UPC_HANDSHAKE; /* for the timer: TCP is done */
	connect_timer_arm(c);
	if (t->tls == NULL) {
		conn_ready(c, t->proto == UP_PROTO_H2 ? UP_PROTO_H2 : UP_PROTO_H1);
		return;
	}
	if ((c->ssl = tls_client_ssl_new(t->tls, t->prov->url.host, &err)) == NULL) {
		up_conn_fail(c, UPSTREAM_TLS_ERROR, err.msg, false);
		return;
	}
	/* the offer follows the provider's http2 setting, whatever the context says */
	if (t->prov->http2 == GW_HTTP2_AUTO)
		SSL_set_alpn_protos(c->ssl, alpn_h2, sizeof(alpn_h2) - 1);
	else
		SSL_set_alpn_protos(c->ssl, alpn_h1, sizeof(alpn_h1) - 1);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* many servers close without close_notify; the HTTP framing says whether data is missing */
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	c->state = UPC_HANDSHAKE;
	conn_handshake(c);
}

/* Tries the next resolved address; fails the connection when none is left. */
static void conn_try_next(struct up_conn *c, int last_err)
{
	char d[160];
	while (c->ai_next != NULL) {
		struct evutil_addrinfo *ai = c->ai_next;
		c->ai_next = ai->ai_next;
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) == 0) {
			c->fd = fd;
			conn_connected(c);
			return;
		}
		if (errno == EINPROGRESS) {
			c->fd = fd;
			c->state = UPC_CONNECTING;
			event_assign(&c->wev, c->t->pool->base, fd, EV_WRITE, conn_write_cb, c);
			c->wev_added = false;
			wev_add(c);
			connect_timer_arm(c);
			return;
		}
		last_err = errno;
		close(fd);
	}
	snprintf(d, sizeof(d), "connect to %s:%u failed: %s", c->t->prov->url.host, (unsigned)c->t->prov->url.port,
		 strerror(last_err != 0 ? last_err : ECONNREFUSED));
	up_conn_fail(c, UPSTREAM_CONNECT_ERROR, d, false);
}

static void conn_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct up_conn *c = arg;
	char d[160];
	c->dnsreq = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (result != 0 || res == NULL) {
		snprintf(d, sizeof(d), "DNS lookup of %s failed: %s", c->t->prov->url.host,
			 evutil_gai_strerror(result != 0 ? result : EVUTIL_EAI_NONAME));
		up_conn_fail(c, UPSTREAM_CONNECT_ERROR, d, false);
		return;
	}
	c->ai = res;
	c->ai_next = res;
	conn_try_next(c, 0);
}

static void conn_resolve(struct up_conn *c)
{
	struct evutil_addrinfo hints;
	char port[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* no AI_ADDRCONFIG: it ignores loopback and would hide 127.0.0.1 in a pod with no other IPv4 */
	snprintf(port, sizeof(port), "%u", (unsigned)c->t->prov->url.port);
	c->state = UPC_RESOLVING;
	/* numeric hosts and /etc/hosts answer before this returns (NULL) */
	struct evdns_getaddrinfo_request *r =
	    evdns_getaddrinfo(c->t->pool->dns, c->t->prov->url.host, port, &hints, conn_dns_cb, c);
	if (r != NULL && c->state == UPC_RESOLVING && c->ai == NULL)
		c->dnsreq = r;
}

/* ---- I/O ------------------------------------------------------------------------ */

void up_conn_defer_error(struct up_conn *c, int err)
{
	if (c->io_err == 0)
		c->io_err = err != 0 ? err : EPIPE;
	event_active(&c->wev, EV_WRITE, 1);
}

void up_conn_flush(struct up_conn *c)
{
	struct up_iobuf *o = &c->out;
	while (o->len > o->off && c->io_err == 0 && c->state == UPC_READY) {
		size_t n = o->len - o->off;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, o->data + o->off, n > INT_MAX ? INT_MAX : (int)n);
			if (r > 0) {
				o->off += (size_t)r;
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE) {
				wev_add(c);
				return;
			}
			if (e == SSL_ERROR_WANT_READ) {
				c->write_wants_read = true;
				return;
			}
			ERR_clear_error();
			up_conn_defer_error(c, errno != 0 ? errno : EPIPE);
			return;
		}
		ssize_t w = send(c->fd, o->data + o->off, n, MSG_NOSIGNAL);
		if (w >= 0) {
			o->off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			wev_add(c);
			return;
		}
		up_conn_defer_error(c, errno);
		return;
	}
	if (o->len == o->off) {
		o->off = o->len = 0;
		wev_del(c);
	}
}

void up_conn_queue(struct up_conn *c, const void *p, size_t n)
{
	if (c->io_err != 0 || c->state == UPC_DEAD || n == 0)
		return;
	if (up_iobuf_reserve(&c->out, n, SIZE_MAX / 2) < 0) {
		up_conn_defer_error(c, ENOMEM);
		return;
	}
	memcpy(c->out.data + c->out.len, p, n);
	c->out.len += n;
}

void up_conn_send(struct up_conn *c, const struct iovec *iov, int n)
{
	ssize_t w = 0;
	if (c->io_err != 0 || c->state != UPC_READY)
		return;
	if (c->ssl == NULL && c->out.len == c->out.off) {
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = (struct iovec *)iov;
		mh.msg_iovlen = (size_t)n;
		do
			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			up_conn_defer_error(c, errno);
			return;
		}
		if (w < 0)
			w = 0;
	}
	/* what the socket did not take (all of it for TLS: one SSL_write, one record) */
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;
		if ((size_t)w >= len) {
			w -= (ssize_t)len;
			continue;
		}
		up_conn_queue(c, (const char *)iov[i].iov_base + w, len - (size_t)w);
		w = 0;
	}
	up_conn_flush(c);
}

static void conn_eof(struct up_conn *c)
{
	if (c->proto == UP_PROTO_H2)
		up_conn_fail(c, UPSTREAM_RESET, "connection closed by the provider", true);
	else if (c->call != NULL)
		up_h1_eof(c);
	else
		up_conn_close(c); /* an idle keep-alive connection the server closed */
}

/* One read into c->in: >0 bytes, 0 EOF, -1 nothing now, -2 error (errno-ish in *e). */
static ssize_t conn_read_once(struct up_conn *c, size_t room, int *e)
{
	char *dst = c->in.data + c->in.len;
	if (c->ssl == NULL) {
		ssize_t n;
		do
			n = read(c->fd, dst, room);
		while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		*e = errno;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	}
	ERR_clear_error();
	int r = SSL_read(c->ssl, dst, room > INT_MAX ? INT_MAX : (int)room);
	if (r > 0)
		return r;
	int se = SSL_get_error(c->ssl, r), en = errno;
	if (se == SSL_ERROR_WANT_READ)
		return -1;
	if (se == SSL_ERROR_WANT_WRITE) {
		c->read_wants_write = true;
		wev_add(c);
		return -1;
	}
	/* clean close_notify, or a close without one (HTTP framing tells whether data is missing) */
	if (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && en == 0)) {
		ERR_clear_error();
		return 0;
	}
	*e = se == SSL_ERROR_SYSCALL && en != 0 ? en : EPROTO;
	ERR_clear_error();
	return -2;
}

static void conn_read(struct up_conn *c)
{
	for (int round = 0; round < UP_READ_ROUNDS && c->state == UPC_READY; round++) {
		int e = 0;
		if (up_iobuf_reserve(&c->in, UP_IN_CHUNK / 4, UP_IN_MAX) < 0) {
			up_conn_fail(c, UPSTREAM_TOO_LARGE, "response head too large", false);
			return;
		}
		size_t room = c->in.cap - c->in.len;
		ssize_t n = conn_read_once(c, room, &e);
		if (n == -1)
			return;
		if (n == 0) {
			conn_eof(c);
			return;
		}
		if (n < 0) {
			char d[96];
			snprintf(d, sizeof(d), "read failed: %s", strerror(e));
			up_conn_fail(c, UPSTREAM_RESET, d, e == ECONNRESET || e == EPIPE);
			return;
		}
		c->in.len += (size_t)n;
		if (c->proto == UP_PROTO_H2)
			up_h2_input(c);
		else
			up_h1_input(c);
		bool more = (size_t)n == room || (c->ssl != NULL && SSL_has_pending(c->ssl));
		if (!more)
			return;
	}
	/* bytes may wait inside OpenSSL where epoll cannot see them: come back */
	if (c->state == UPC_READY && c->ssl != NULL && SSL_has_pending(c->ssl))
		event_active(&c->rev, EV_READ, 1);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_conn *c = arg;
	(void)fd;
	(void)what;
	if (c->state == UPC_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (c->state != UPC_READY)
		return;
	if (c->write_wants_read) {
		c->write_wants_read = false;
		up_conn_flush(c);
	}
	conn_read(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_conn *c = arg;
	(void)fd;
	(void)what;
	c->wev_added = false; /* EV_WRITE is not persistent */
	switch (c->state) {
	case UPC_START:
		conn_resolve(c);
		return;
	case UPC_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0) {
			conn_connected(c);
			return;
		}
		close(c->fd);
		c->fd = -1;
		conn_try_next(c, err);
		return;
	}
	case UPC_HANDSHAKE:
		conn_handshake(c);
		return;
	case UPC_READY:
		break;
	case UPC_RESOLVING:
	case UPC_DEAD:
		return;
	}
	if (c->io_err != 0) {
		char d[96];
		snprintf(d, sizeof(d), "write failed: %s", strerror(c->io_err));
		up_conn_fail(c, UPSTREAM_RESET, d, c->io_err == EPIPE || c->io_err == ECONNRESET);
		return;
	}
	if (c->read_wants_write) {
		c->read_wants_write = false;
		conn_read(c);
	}
	up_conn_flush(c);
}
