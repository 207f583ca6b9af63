/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections of the otlp_http sink (see send_int.h): a bufferevent per
 * connection, plain or OpenSSL, dialled through evdns (a resolver stall
 * never blocks the loop; libevent connects to the first address found);
 * TLS with verification, SNI and the ALPN offer ("h2,http/1.1" with
 * export.http2: auto, else "http/1.1"); the connect deadline; and the
 * callbacks that route bytes to the HTTP/1.1 reader or the HTTP/2 session.
 *
 * A connection's failure is told once, to every request on it, with the
 * most precise reason available: the DNS error, the certificate
 * verification result or TLS alert, else the socket error.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "exporter/send_int.h"

static const unsigned char send_alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char send_alpn_h1[] = "\x08http/1.1";

static const char *send_proto_name(enum send_proto p)
{
	return p == SEND_PROTO_H2 ? "h2" : p == SEND_PROTO_H1 ? "http/1.1" : "-";
}

void send_conn_free(struct send_conn *c)
{
	send_h2_free(c);
	if (c->bev != NULL)
		bufferevent_free(c->bev); /* closes the socket and frees the SSL */
	if (c->connect_timer != NULL)
		event_free(c->connect_timer);
	free(c);
}

void send_conn_close(struct send_conn *c, const char *why, const char *detail, bool eof_or_reset)
{
	struct send *s = c->s;
	struct send_req *r;
	if (c->state == SCONN_DEAD)
		return;
	bool was_ready = c->state == SCONN_READY;
	c->state = SCONN_DEAD;
	event_del(c->connect_timer);
	if (c->bev != NULL) {
		/* the socket closes now; the struct (and an nghttp2 session up the stack) lives until the reap */
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	TAILQ_REMOVE(&s->conns, c, link);
	s->nconns--;
	TAILQ_INSERT_TAIL(&s->graveyard, c, link);
	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		send_req_unbind(r);
		if (eof_or_reset && was_ready && r->reused_conn && !r->got_byte && !r->requeued) {
			r->requeued = true;
			send_req_requeue(r);
		} else {
			send_req_failed(r, why != NULL ? why : "connection_closed", detail);
		}
	}
	send_kick(s);
}

/* Puts r on the wire on a ready connection. */
static void send_dispatch(struct send_conn *c, struct send_req *r)
{
	r->reused_conn = c->served > 0;
	r->dispatched_ns = clock_mono_ns();
	int rc = c->proto == SEND_PROTO_H2 ? send_h2_dispatch(c, r) : send_h1_dispatch(c, r);
	if (rc != 0) {
		send_req_unbind(r);
		send_req_failed(r, "cannot_start_request", NULL);
		if (c->proto != SEND_PROTO_H2)
			send_conn_close(c, NULL, NULL, false); /* maybe half a request on it */
	}
}

void send_conn_bind(struct send_conn *c, struct send_req *r)
{
	r->conn = c;
	TAILQ_INSERT_TAIL(&c->reqs, r, link);
	c->nreqs++;
	if (c->state == SCONN_READY)
		send_dispatch(c, r);
}

/* Connected (and negotiated): the requests that waited for it go out, or back to the queue. */
static void send_conn_ready(struct send_conn *c)
{
	struct send *s = c->s;
	struct send_req_list mine = TAILQ_HEAD_INITIALIZER(mine), rest = TAILQ_HEAD_INITIALIZER(rest);
	struct send_req *r;
	const unsigned char *sel = NULL;
	unsigned sel_len = 0;
	int one = 1;
	event_del(c->connect_timer);
	SSL *ssl = s->ssl_ctx != NULL ? bufferevent_openssl_get_ssl(c->bev) : NULL;
	if (ssl != NULL)
		SSL_get0_alpn_selected(ssl, &sel, &sel_len);
	c->proto = sel_len == 2 && memcmp(sel, "h2", 2) == 0 ? SEND_PROTO_H2 : SEND_PROTO_H1;
	c->state = SCONN_READY;
	c->reusable = true;
	c->idle_since_ns = c->last_read_ns = clock_mono_ns();
	if (c->offer_h2)
		s->hint = c->proto;
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	log_msg(LOG_LVL_DEBUG, "export_connected", "endpoint=%s proto=%s", s->conf->endpoint.http.authority,
		send_proto_name(c->proto));
	if (c->proto == SEND_PROTO_H2 && send_h2_start(c) != 0) {
		send_conn_close(c, "cannot_start_request", "cannot start an HTTP/2 session (out of memory)", false);
		return;
	}
	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		send_req_unbind(r);
		TAILQ_INSERT_TAIL(&mine, r, link);
	}
	while ((r = TAILQ_FIRST(&mine)) != NULL) {
		TAILQ_REMOVE(&mine, r, link);
		bool room = c->proto == SEND_PROTO_H2 ? send_h2_has_room(c) : c->nreqs == 0;
		if (room && c->state == SCONN_READY)
			send_conn_bind(c, r);
		else
			TAILQ_INSERT_TAIL(&rest, r, link);
	}
	/* the rest go back to the head of the queue, in their order */
	while ((r = TAILQ_LAST(&rest, send_req_list)) != NULL) {
		TAILQ_REMOVE(&rest, r, link);
		TAILQ_INSERT_HEAD(&s->waiting, r, link);
	}
	if (c->proto == SEND_PROTO_H2)
		send_h2_flush(c);
	send_kick(s);
}

/* Why a connection failed, for the log: DNS, TLS verification/alerts, or the socket error. */
static void send_conn_error(struct send_conn *c, char *detail, size_t cap, const char **why)
{
	int dns = bufferevent_socket_get_dns_error(c->bev);
	int e = EVUTIL_SOCKET_ERROR();
	unsigned long oe = 0, next;
	detail[0] = '\0';
	if (dns != 0) {
		*why = "dns_error";
		snprintf(detail, cap, "cannot resolve %s: %s", c->s->conf->endpoint.http.host,
			 evutil_gai_strerror(dns));
		return;
	}
	if (c->s->ssl_ctx != NULL) {
		while ((next = bufferevent_get_openssl_error(c->bev)) != 0)
			oe = oe != 0 ? oe : next; /* the first is the cause; drain the rest for the next connection */
		if (tls_describe_failure(bufferevent_openssl_get_ssl(c->bev), oe, detail, cap)) {
			*why = "tls_error";
			return;
		}
	}
	*why = c->state == SCONN_CONNECTING ? "connect_error" : "connection_reset";
	if (e != 0)
		snprintf(detail, cap, "%s", strerror(e));
}

static void send_conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct send_conn *c = arg;
	char detail[200];
	const char *why;
	(void)bev;
	if (c->state == SCONN_DEAD)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		send_conn_ready(c);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state == SCONN_READY && c->proto == SEND_PROTO_H1) {
		send_h1_eof(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		send_conn_close(c, c->state == SCONN_READY ? "connection_closed" : "connect_error",
				c->state == SCONN_READY ? NULL : "closed by the server during the handshake", true);
		return;
	}
	send_conn_error(c, detail, sizeof(detail), &why);
	send_conn_close(c, why, detail[0] != '\0' ? detail : NULL, true);
}

static void send_conn_read(struct bufferevent *bev, void *arg)
{
	struct send_conn *c = arg;
	(void)bev;
	if (c->state != SCONN_READY)
		return;
	c->last_read_ns = clock_mono_ns();
	if (c->proto == SEND_PROTO_H2)
		send_h2_input(c);
	else
		send_h1_input(c);
}

/* The output buffer drained: HTTP/2 produces the next frames (large bodies are fed in steps). */
static void send_conn_write(struct bufferevent *bev, void *arg)
{
	struct send_conn *c = arg;
	(void)bev;
	if (c->state == SCONN_READY && c->proto == SEND_PROTO_H2)
		send_h2_flush(c);
}

static void send_conn_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct send_conn *c = arg;
	char d[80];
	(void)fd;
	(void)what;
	if (c->state != SCONN_CONNECTING)
		return;
	snprintf(d, sizeof(d), "not connected within %lld ms", (long long)c->s->conf->timeout_ms);
	send_conn_close(c, "timeout", d, false);
}

/* A fresh bufferevent, TLS with ALPN when the endpoint is https. */
static struct bufferevent *send_conn_bev(struct send_conn *c)
{
	struct send *s = c->s;
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct err e;
	char q[300];
	if (s->ssl_ctx == NULL)
		return bufferevent_socket_new(s->evb, -1, opts);
	SSL *ssl = tls_client_ssl_new(s->ssl_ctx, s->conf->endpoint.http.host, &e);
	if (ssl == NULL) {
		log_msg(LOG_LVL_WARN, "export_tls_setup", "error=%s", log_quote(e.msg, q, sizeof(q)));
		return NULL;
	}
	/* SSL_set_alpn_protos returns 0 on success, unlike the rest of OpenSSL */
	if ((c->offer_h2 ? SSL_set_alpn_protos(ssl, send_alpn_h2, sizeof(send_alpn_h2) - 1)
			 : SSL_set_alpn_protos(ssl, send_alpn_h1, sizeof(send_alpn_h1) - 1)) != 0) {
		SSL_free(ssl);
		return NULL;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(s->evb, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Many servers and LBs close without close_notify; HTTP framing says whether data is missing. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Starts a new connection (DNS, TCP, TLS run from the loop). NULL when it cannot even start. */
struct send_conn *send_conn_open(struct send *s)
{
	const struct ex_endpoint *ep = &s->conf->endpoint;
	struct send_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->s = s;
	c->state = SCONN_CONNECTING;
	c->offer_h2 = s->ssl_ctx != NULL && s->conf->http2;
	c->proto = c->offer_h2 ? SEND_PROTO_UNKNOWN : SEND_PROTO_H1;
	TAILQ_INIT(&c->reqs);
	c->connect_timer = evtimer_new(s->evb, send_conn_connect_timeout, c);
	if (c->connect_timer == NULL || (c->bev = send_conn_bev(c)) == NULL)
		goto fail;
	bufferevent_setcb(c->bev, send_conn_read, send_conn_write, send_conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(c->bev, s->dns, AF_UNSPEC, ep->http.host, ep->http.port) != 0)
		goto fail;
	if (s->conf->timeout_ms > 0) {
		struct timeval tv = {s->conf->timeout_ms / 1000, (s->conf->timeout_ms % 1000) * 1000};
		evtimer_add(c->connect_timer, &tv);
	}
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	s->nconns++;
	return c;
fail:
	send_conn_free(c);
	return NULL;
}
