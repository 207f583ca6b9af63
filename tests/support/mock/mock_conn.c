/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accepting connections for llmgw-mock and deciding what they speak.
 *
 * A plain connection is HTTP/1.1, unless --h2c is on and its first 24
 * bytes are the HTTP/2 client preface ("PRI * HTTP/2.0..."), which makes it
 * HTTP/2 with prior knowledge. A TLS connection (--tls-cert) is HTTP/2 when
 * ALPN picked "h2", else HTTP/1.1. Until that is known the connection is a
 * "hello": a bufferevent waiting for the handshake or the first bytes,
 * which then goes, input already read included, to mock_h1 or mock_h2.
 *
 * Frees are deferred to a reaper event so that nothing is freed inside its
 * own callback or under a caller still using it (a handler answering from a
 * timer may end a request whose connection then closes).
 */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "tests/support/mock/mock_conn.h"
#include "tests/support/mock/mock_h1.h"
#include "tests/support/mock/mock_h2.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define HELLO_TIMEOUT_S 30 /* a connection that never finishes its handshake or says nothing */

struct hello {
	struct mock_conn base;
	struct mock *m;
	struct bufferevent *bev; /* NULL once handed over */
	bool tls;
};

static void reaper_run(evutil_socket_t fd, short what, void *arg)
{
	struct mock *m = arg;
	(void)fd;
	(void)what;
	/* A free may queue more (a connection detaching its requests): loop until empty. */
	while (m->graveyard != NULL) {
		struct mock_reap *r = m->graveyard;
		m->graveyard = r->next;
		r->free(r);
	}
}

void mock_conn_reap_later(struct mock *m, struct mock_reap *r)
{
	r->next = m->graveyard;
	m->graveyard = r;
	if (m->reaper != NULL)
		event_active(m->reaper, EV_TIMEOUT, 0);
}

void mock_conn_register(struct mock *m, struct mock_conn *c)
{
	c->next = m->conns;
	c->pprev = &m->conns;
	if (m->conns != NULL)
		m->conns->pprev = &c->next;
	m->conns = c;
	m->stats.connections_open++;
}

void mock_conn_defer_free(struct mock *m, struct mock_conn *c)
{
	if (c->pprev != NULL) {
		*c->pprev = c->next;
		if (c->next != NULL)
			c->next->pprev = c->pprev;
		c->pprev = NULL;
		c->next = NULL;
		m->stats.connections_open--;
	}
	mock_conn_reap_later(m, &c->reap);
}

void mock_conn_linger_rst(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void hello_free(struct mock_reap *self)
{
	struct hello *h = (struct hello *)self;
	if (h->bev != NULL)
		bufferevent_free(h->bev);
	free(h);
}

static void hello_close(struct mock_conn *self)
{
	struct hello *h = (struct hello *)self;
	if (h->bev != NULL)
		bufferevent_disable(h->bev, EV_READ | EV_WRITE);
	mock_conn_defer_free(h->m, &h->base);
}

/* Gives the bufferevent (and what it already read) to the protocol's connection. */
static void hello_handover(struct hello *h, bool h2)
{
	struct bufferevent *bev = h->bev;
	h->bev = NULL;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	mock_conn_defer_free(h->m, &h->base);
	int rc = h2 ? mock_h2_start(h->m, bev, h->tls) : mock_h1_start(h->m, bev, h->tls);
	if (rc != 0) {
		log_msg(LOG_LVL_ERROR, "oom", "what=connection");
		bufferevent_free(bev);
	}
}

/* --h2c: HTTP/2 if the first bytes are the client preface, HTTP/1.1 at the first byte that differs. */
static void hello_read(struct bufferevent *bev, void *arg)
{
	struct hello *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	if (n > H2_PREFACE_LEN)
		n = H2_PREFACE_LEN;
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
	if (p == NULL || memcmp(p, H2_PREFACE, n) != 0)
		hello_handover(h, false);
	else if (n == H2_PREFACE_LEN)
		hello_handover(h, true);
}

static void hello_event(struct bufferevent *bev, short what, void *arg)
{
	struct hello *h = arg;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done: ALPN decides. */
		const unsigned char *proto = NULL;
		unsigned int len = 0;
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL)
			SSL_get0_alpn_selected(ssl, &proto, &len);
		hello_handover(h, len == 2 && memcmp(proto, "h2", 2) == 0);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			log_msg(LOG_LVL_INFO, "tls_handshake_failed", "reason=\"%s\"", buf);
		}
	}
	hello_close(&h->base);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct mock *m = arg;
	(void)l;
	(void)sa;
	(void)salen;
	int one = 1;
	/* Stream events must leave at once, not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct bufferevent *bev = NULL;
	if (m->tls != NULL) {
		SSL *ssl = SSL_new(m->tls);
		if (ssl != NULL)
			bev = bufferevent_openssl_socket_new(m->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							     BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL && ssl != NULL)
			SSL_free(ssl);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (m->tls == NULL && !m->opts.h2c) {
		if (mock_h1_start(m, bev, false) != 0)
			bufferevent_free(bev);
		return;
	}
	struct hello *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		bufferevent_free(bev);
		return;
	}
	h->base.reap.free = hello_free;
	h->base.close = hello_close;
	h->m = m;
	h->bev = bev;
	h->tls = m->tls != NULL;
	mock_conn_register(m, &h->base);
	struct timeval tv = {.tv_sec = HELLO_TIMEOUT_S, .tv_usec = 0};
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, h->tls ? NULL : hello_read, NULL, hello_event, h);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int mock_conn_listen(struct mock *m, struct err *err)
{
	char port[8];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	m->reaper = event_new(m->base, -1, 0, reaper_run, m);
	if (m->reaper == NULL)
		return err_set(err, 0, "out of memory");
	snprintf(port, sizeof(port), "%u", m->opts.listen_port);
	int rc = getaddrinfo(m->opts.listen_host, port, &hints, &ai);
	if (rc != 0)
		return err_set(err, rc, "%s: %s", m->opts.listen_host, gai_strerror(rc));
	m->listener = evconnlistener_new_bind(m->base, on_accept, m,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512,
					      ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (m->listener == NULL)
		return err_set(err, 0, "cannot listen on %s:%u", m->opts.listen_host, m->opts.listen_port);
	return 0;
}

void mock_conn_shutdown(struct mock *m)
{
	if (m->listener != NULL)
		evconnlistener_free(m->listener);
	m->listener = NULL;
	while (m->conns != NULL)
		m->conns->close(m->conns);
	if (m->reaper != NULL) {
		reaper_run(-1, 0, m);
		event_free(m->reaper);
		m->reaper = NULL;
	}
}
