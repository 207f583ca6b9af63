/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixtures for the upstream client tests: a tiny scriptable HTTP server on
 * 127.0.0.1 running in the test's own event loop (HTTP/1.1 over
 * bufferevents; HTTP/2 with an nghttp2 server session, as h2c prior
 * knowledge or negotiated by ALPN over TLS), a throwaway CA + server
 * certificate generated at run time with OpenSSL (nothing committed). The
 * client harness that drives the upstream client against it is
 * test_upstream_call.h.
 *
 * Everything is bounded: each wait runs the loop under a watchdog and
 * fails the test instead of hanging. Ordering is asserted by events, never
 * by durations: in lockstep mode the server sends body piece k+1 only after
 * the client has reported piece k, so a client that buffered would stall.
 *
 * Header-only (unused-tolerant statics): every test file is its own binary.
 */
#ifndef LLMGW_TESTS_TEST_UPSTREAM_SRV_H
#define LLMGW_TESTS_TEST_UPSTREAM_SRV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/metrics.h"
#include "common/tls.h"
#include "gateway/gw_conf.h"
#include "gateway/upstream.h"

#define TS_FN static __attribute__((unused))
#define TS_MAX_PIECES 8
#define TS_LOG 64

enum ts_action {
	TS_RESPOND = 0, /* head, pieces, end */
	TS_SILENT,	/* read the request, never answer */
	TS_STALL,	/* head and pieces, then nothing (stream/connection left open) */
	TS_RESET,	/* head and pieces, then RST (h1: SO_LINGER 0 close; h2: RST_STREAM) */
	TS_CLOSE,	/* read the request, close the connection without a byte */
};

struct ts_script {
	enum ts_action action;
	int status;		/* 0 = 200 */
	const char *extra_hdrs; /* h1 only: raw "name: value\r\n" lines */
	const char *pieces[TS_MAX_PIECES];
	int npieces;
	int head_delay_ms;	 /* before the head (first byte) */
	int piece_delay_ms;	 /* before each piece */
	const int *ack;		 /* lockstep: piece k+1 goes out once *ack > k (the client's on_data count) */
	bool length;		 /* h1: Content-Length instead of chunked */
	bool close_delimited;	 /* h1: no framing, the body ends at the close */
	bool close_after;	 /* h1: close the connection after answering, without saying so */
	int fail_nth_on_conn;	 /* h1: the nth request of a connection gets a close and no answer */
	int hold_until;		 /* answer only once this many requests are open at the same time */
	const char *raw;	 /* h1: send exactly these bytes as the response, then keep the connection */
	uint32_t h2_max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (0 = none sent) */
	int32_t goaway_last_id;	 /* h2: on the first request, GOAWAY(last id) and ignore streams above it */
};

struct ts_server;

struct ts_stream {
	struct ts_conn *conn;
	int32_t id;
	struct event *timer;
	int piece; /* next piece to queue */
	bool head_sent, finished, held, ignored, counted;
	struct evbuffer *out; /* queued DATA not yet read by nghttp2 */
	TAILQ_ENTRY(ts_stream) link;
};
TAILQ_HEAD(ts_stream_list, ts_stream);

struct ts_conn {
	struct ts_server *s;
	struct bufferevent *bev;
	struct event *timer;
	int nreq;
	int piece;
	bool busy, held, close_when_flushed, h2, proto_known, counted, sent_goaway;
	nghttp2_session *ng;
	int open_streams;
	struct ts_stream_list streams;
	TAILQ_ENTRY(ts_conn) link;
};
TAILQ_HEAD(ts_conn_list, ts_conn);

struct ts_server {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	SSL_CTX *tls;	/* NULL: plain */
	bool h2c;	/* plain: speak h2 prior knowledge */
	bool alpn_h2;	/* TLS: select h2 when offered */
	bool no_accept; /* accept TCP and then never read (TLS handshake hangs) */
	struct ts_script sc;
	struct ts_conn_list conns;
	/* what happened */
	int accepted, requests, open_reqs, max_open_on_session, rst_streams, peer_closed, goaways_sent;
	uint32_t rst_code;
	char log[TS_LOG][48]; /* request paths, in arrival order */
	int nlog;
	char last_method[16], last_authority[128], last_body[1024], last_hdrs[2048];
	int last_body_len;
	int pieces_sent;
	bool released;
	int32_t h2_conn_window;
	uint32_t h2_stream_window, h2_push;
};

/* strcasestr is a GNU extension; the build is strict POSIX. */
TS_FN const char *ts_strcasestr(const char *h, const char *n)
{
	size_t l = strlen(n);
	for (; *h != '\0'; h++)
		if (strncasecmp(h, n, l) == 0)
			return h;
	return NULL;
}

/* ---- certificates ------------------------------------------------------------ */

/* A self-signed CA:TRUE certificate for IP 127.0.0.1 (doubles as its own trust anchor). */
TS_FN void ts_cert_make(EVP_PKEY **key, X509 **crt, const char *cn)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	if (k == NULL || x == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(getpid() & 0xffff) + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	const char *exts[][2] = {{"basicConstraints", "critical,CA:TRUE"}, {"subjectAltName", "IP:127.0.0.1"}};
	for (size_t i = 0; i < 2; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
		if (e == NULL)
			abort();
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, k, EVP_sha256()) == 0)
		abort();
	*key = k;
	*crt = x;
}

/* Writes crt as PEM to a fresh temp file; path receives its name (unlink when done). */
TS_FN void ts_cert_file(X509 *crt, char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/llmgw-test-ca.XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || PEM_write_X509(f, crt) != 1)
		abort();
	fclose(f);
}

static int ts_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
			  unsigned inlen, void *arg)
{
	struct ts_server *s = arg;
	unsigned char *sel = NULL;
	(void)ssl;
	if (s->alpn_h2 && nghttp2_select_next_protocol(&sel, outlen, in, inlen) == 1) { /* 1 = h2 chosen */
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	for (unsigned i = 0; i < inlen; i += 1u + in[i])
		if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_NOACK;
}

TS_FN SSL_CTX *ts_server_ctx(struct ts_server *s, EVP_PKEY *key, X509 *crt)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate(ctx, crt) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		abort();
	SSL_CTX_set_alpn_select_cb(ctx, ts_alpn_select, s);
	return ctx;
}

/* ---- server: shared ------------------------------------------------------------ */

static void ts_conn_free(struct ts_conn *c);
static void ts_h1_next(struct ts_conn *c);
static void ts_h2_flush(struct ts_conn *c);
static void ts_h2_release(struct ts_stream *st);

static void ts_log_path(struct ts_server *s, const char *p, size_t n)
{
	if (s->nlog < TS_LOG) {
		snprintf(s->log[s->nlog], sizeof(s->log[0]), "%.*s", (int)n, p);
		s->nlog++;
	}
}

static void ts_timer_ms(struct event *ev, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static void ts_linger0(struct bufferevent *bev)
{
	struct linger lg = {1, 0};
	setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Releases every held request once enough are open at the same time. */
static void ts_maybe_release(struct ts_server *s)
{
	struct ts_conn *c;
	if (s->sc.hold_until > 0 && s->open_reqs < s->sc.hold_until && !s->released)
		return;
	s->released = true; /* only the first batch is held */
	TAILQ_FOREACH(c, &s->conns, link)
	{
		if (!c->h2 && c->held) {
			c->held = false;
			ts_timer_ms(c->timer, s->sc.head_delay_ms);
		}
		if (c->h2) {
			struct ts_stream *st;
			TAILQ_FOREACH(st, &c->streams, link)
			if (st->held)
				ts_h2_release(st);
		}
	}
}

/* ---- server: HTTP/1.1 -------------------------------------------------------------- */

static void ts_h1_write_cb(struct bufferevent *bev, void *arg)
{
	struct ts_conn *c = arg;
	if (c->close_when_flushed && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ts_conn_free(c);
}

static void ts_h1_piece(struct ts_conn *c, const char *p)
{
	struct ts_server *s = c->s;
	s->pieces_sent++;
	if (s->sc.length || s->sc.close_delimited)
		bufferevent_write(c->bev, p, strlen(p));
	else
		evbuffer_add_printf(bufferevent_get_output(c->bev), "%zx\r\n%s\r\n", strlen(p), p);
}

static void ts_h1_head(struct ts_conn *c)
{
	struct ts_server *s = c->s;
	struct evbuffer *o = bufferevent_get_output(c->bev);
	size_t total = 0;
	for (int i = 0; i < s->sc.npieces; i++)
		total += strlen(s->sc.pieces[i]);
	evbuffer_add_printf(o, "HTTP/1.1 %d X\r\ncontent-type: text/event-stream\r\n%s",
			    s->sc.status ? s->sc.status : 200, s->sc.extra_hdrs ? s->sc.extra_hdrs : "");
	if (s->sc.length)
		evbuffer_add_printf(o, "content-length: %zu\r\n\r\n", total);
	else if (s->sc.close_delimited)
		evbuffer_add_printf(o, "connection: close\r\n\r\n");
	else
		evbuffer_add_printf(o, "transfer-encoding: chunked\r\n\r\n");
}

/* One step of the response: head, then one piece per timer tick, then the end. */
static void ts_h1_step(evutil_socket_t fd, short what, void *arg)
{
	struct ts_conn *c = arg;
	struct ts_server *s = c->s;
	(void)fd;
	(void)what;
	if (c->piece == -1) {
		ts_h1_head(c);
		c->piece = 0;
	} else if (c->piece < s->sc.npieces) {
		if (s->sc.ack != NULL && *s->sc.ack < c->piece) {
			ts_timer_ms(c->timer, 2); /* lockstep: the client has not seen the last piece yet */
			return;
		}
		ts_h1_piece(c, s->sc.pieces[c->piece++]);
	}
	if (c->piece < s->sc.npieces) {
		ts_timer_ms(c->timer, s->sc.piece_delay_ms);
		return;
	}
	if (s->sc.action == TS_STALL)
		return;
	if (s->sc.action == TS_RESET) {
		/* let the pieces reach the socket first, then reset */
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
			ts_timer_ms(c->timer, 5);
			return;
		}
		ts_linger0(c->bev);
		ts_conn_free(c);
		return;
	}
	if (!s->sc.length && !s->sc.close_delimited)
		bufferevent_write(c->bev, "0\r\n\r\n", 5);
	c->busy = false;
	if (c->counted)
		s->open_reqs--;
	c->counted = false;
	if (s->sc.close_after || s->sc.close_delimited)
		c->close_when_flushed = true;
	else
		ts_h1_next(c); /* anything already waiting */
}

/* A complete request head + body in the input? Parses and consumes it. */
static bool ts_h1_take(struct ts_conn *c)
{
	struct ts_server *s = c->s;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (e.pos < 0)
		return false;
	size_t hl = (size_t)e.pos + 4;
	char *head = (char *)evbuffer_pullup(in, (ev_ssize_t)hl), tmp[4096];
	long clen = 0;
	snprintf(tmp, sizeof(tmp), "%.*s", (int)hl, head); /* the pulled-up bytes are not a C string */
	const char *cl = ts_strcasestr(tmp, "\r\ncontent-length:");
	if (cl != NULL)
		clen = strtol(cl + 17, NULL, 10);
	if (evbuffer_get_length(in) < hl + (size_t)clen)
		return false;
	head = (char *)evbuffer_pullup(in, (ev_ssize_t)(hl + (size_t)clen));
	const char *sp1 = memchr(head, ' ', hl),
		   *sp2 = sp1 ? memchr(sp1 + 1, ' ', hl - (size_t)(sp1 + 1 - head)) : NULL;
	if (sp1 && sp2) {
		snprintf(s->last_method, sizeof(s->last_method), "%.*s", (int)(sp1 - head), head);
		ts_log_path(s, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	}
	snprintf(s->last_hdrs, sizeof(s->last_hdrs), "%.*s", (int)hl, head);
	s->last_body_len = (int)clen;
	snprintf(s->last_body, sizeof(s->last_body), "%.*s", (int)clen, head + hl);
	evbuffer_drain(in, hl + (size_t)clen);
	return true;
}

static void ts_h1_next(struct ts_conn *c)
{
	struct ts_server *s = c->s;
	if (c->busy || !ts_h1_take(c))
		return;
	c->nreq++;
	s->requests++;
	if (s->sc.fail_nth_on_conn == c->nreq || s->sc.action == TS_CLOSE) {
		ts_conn_free(c);
		return;
	}
	c->busy = true;
	if (s->sc.action == TS_SILENT)
		return;
	if (s->sc.raw != NULL) {
		bufferevent_write(c->bev, s->sc.raw, strlen(s->sc.raw));
		return;
	}
	c->piece = -1;
	s->open_reqs++;
	c->counted = true;
	c->held = true;
	ts_maybe_release(s);
}

/* ---- server: HTTP/2 ----------------------------------------------------------------- */

static ssize_t ts_h2_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			  nghttp2_data_source *src, void *ud)
{
	struct ts_stream *st = src->ptr;
	(void)ng;
	(void)id;
	(void)ud;
	size_t n = evbuffer_get_length(st->out);
	if (n == 0) {
		if (st->finished) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	evbuffer_remove(st->out, buf, n);
	if (st->finished && evbuffer_get_length(st->out) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void ts_h2_step(evutil_socket_t fd, short what, void *arg)
{
	struct ts_stream *st = arg;
	struct ts_conn *c = st->conn;
	struct ts_server *s = c->s;
	(void)fd;
	(void)what;
	if (st->piece == s->sc.npieces && st->head_sent && s->sc.action == TS_RESET) {
		/* reset only once the pieces went out (and, in lockstep, arrived) */
		if (s->sc.ack != NULL && *s->sc.ack < st->piece) {
			ts_timer_ms(st->timer, 2);
			return;
		}
		nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		ts_h2_flush(c);
		return;
	}
	if (!st->head_sent) {
		char status[8];
		snprintf(status, sizeof(status), "%d", s->sc.status ? s->sc.status : 200);
		nghttp2_nv nv[] = {
		    {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0},
		    {(uint8_t *)"content-type", (uint8_t *)"text/event-stream", 12, 17, 0},
		    {(uint8_t *)"x-test", (uint8_t *)"h2", 6, 2, 0},
		};
		nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = ts_h2_read};
		nghttp2_submit_response(c->ng, st->id, nv, 3, &prd);
		st->head_sent = true;
	} else if (st->piece < s->sc.npieces) {
		if (s->sc.ack != NULL && *s->sc.ack < st->piece) {
			ts_timer_ms(st->timer, 2);
			return;
		}
		evbuffer_add(st->out, s->sc.pieces[st->piece], strlen(s->sc.pieces[st->piece]));
		st->piece++;
		s->pieces_sent++;
		nghttp2_session_resume_data(c->ng, st->id);
	}
	if (st->piece < s->sc.npieces) {
		ts_timer_ms(st->timer, s->sc.piece_delay_ms);
	} else if (s->sc.action == TS_RESET) {
		ts_timer_ms(st->timer, 2);
	} else if (s->sc.action != TS_STALL) {
		st->finished = true;
		nghttp2_session_resume_data(c->ng, st->id);
	}
	ts_h2_flush(c);
}

static void ts_h2_release(struct ts_stream *st)
{
	st->held = false;
	ts_timer_ms(st->timer, st->conn->s->sc.head_delay_ms);
}

static int ts_h2_begin(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct ts_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct ts_stream *st = calloc(1, sizeof(*st));
	st->conn = c;
	st->id = f->hd.stream_id;
	st->out = evbuffer_new();
	st->timer = evtimer_new(c->s->base, ts_h2_step, st);
	TAILQ_INSERT_TAIL(&c->streams, st, link);
	nghttp2_session_set_stream_user_data(ng, st->id, st);
	c->open_streams++;
	if (c->open_streams > c->s->max_open_on_session)
		c->s->max_open_on_session = c->open_streams;
	return 0;
}

static int ts_h2_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *n, size_t nl, const uint8_t *v,
			size_t vl, uint8_t flags, void *ud)
{
	struct ts_conn *c = ud;
	(void)ng;
	(void)f;
	(void)flags;
	if (nl == 5 && memcmp(n, ":path", 5) == 0)
		ts_log_path(c->s, (const char *)v, vl);
	else if (nl == 7 && memcmp(n, ":method", 7) == 0)
		snprintf(c->s->last_method, sizeof(c->s->last_method), "%.*s", (int)vl, v);
	else if (nl == 10 && memcmp(n, ":authority", 10) == 0)
		snprintf(c->s->last_authority, sizeof(c->s->last_authority), "%.*s", (int)vl, v);
	else {
		size_t l = strlen(c->s->last_hdrs);
		snprintf(c->s->last_hdrs + l, sizeof(c->s->last_hdrs) - l, "%.*s: %.*s\n", (int)nl, n, (int)vl, v);
	}
	return 0;
}

static int ts_h2_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *ud)
{
	struct ts_conn *c = ud;
	(void)ng;
	(void)flags;
	(void)id;
	size_t l = (size_t)c->s->last_body_len;
	if (l + len < sizeof(c->s->last_body)) {
		memcpy(c->s->last_body + l, d, len);
		c->s->last_body[l + len] = '\0';
		c->s->last_body_len += (int)len;
	}
	return 0;
}

static void ts_h2_request(struct ts_conn *c, struct ts_stream *st)
{
	struct ts_server *s = c->s;
	s->requests++;
	/* what the client asked for: its receive windows and no server push */
	s->h2_conn_window = nghttp2_session_get_remote_window_size(c->ng);
	s->h2_stream_window = nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
	s->h2_push = nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_ENABLE_PUSH);
	if (s->sc.goaway_last_id > 0 && s->goaways_sent == 0) {
		nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, s->sc.goaway_last_id, NGHTTP2_NO_ERROR, NULL, 0);
		s->goaways_sent++;
		c->sent_goaway = true;
	}
	if (c->sent_goaway && st->id > s->sc.goaway_last_id) {
		st->ignored = true; /* above the GOAWAY's last id: never processed */
		return;
	}
	if (s->sc.action == TS_SILENT)
		return;
	if (s->sc.action == TS_CLOSE) {
		c->close_when_flushed = true;
		return;
	}
	s->open_reqs++;
	st->counted = true;
	st->held = true;
	ts_maybe_release(s);
}

static int ts_h2_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct ts_conn *c = ud;
	struct ts_stream *st;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		c->s->rst_streams++;
		c->s->rst_code = f->rst_stream.error_code;
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id)) != NULL)
		ts_h2_request(c, st);
	return 0;
}

static int ts_h2_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct ts_conn *c = ud;
	struct ts_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	(void)code;
	if (st == NULL)
		return 0;
	if (st->counted)
		c->s->open_reqs--;
	c->open_streams--;
	TAILQ_REMOVE(&c->streams, st, link);
	event_free(st->timer);
	evbuffer_free(st->out);
	free(st);
	return 0;
}

static void ts_h2_flush(struct ts_conn *c)
{
	const uint8_t *d;
	ssize_t n;
	while ((n = nghttp2_session_mem_send(c->ng, &d)) > 0)
		bufferevent_write(c->bev, d, (size_t)n);
}

static void ts_h2_start(struct ts_conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, ts_h2_begin);
	nghttp2_session_callbacks_set_on_header_callback(cb, ts_h2_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, ts_h2_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, ts_h2_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, ts_h2_close);
	nghttp2_session_server_new(&c->ng, cb, c);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry iv[1] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->s->sc.h2_max_streams}};
	nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, c->s->sc.h2_max_streams > 0 ? 1 : 0);
	c->h2 = true;
	ts_h2_flush(c);
}

/* ---- server: connections -------------------------------------------------------------- */

static void ts_conn_free(struct ts_conn *c)
{
	struct ts_stream *st;
	if (c->counted)
		c->s->open_reqs--;
	while ((st = TAILQ_FIRST(&c->streams)) != NULL) {
		TAILQ_REMOVE(&c->streams, st, link);
		if (st->counted)
			c->s->open_reqs--;
		event_free(st->timer);
		evbuffer_free(st->out);
		free(st);
	}
	if (c->ng != NULL)
		nghttp2_session_del(c->ng);
	TAILQ_REMOVE(&c->s->conns, c, link);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
}

static void ts_read_cb(struct bufferevent *bev, void *arg)
{
	struct ts_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (!c->proto_known) {
		c->proto_known = true;
		const unsigned char *sel = NULL;
		unsigned len = 0;
		if (c->s->tls != NULL)
			SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &sel, &len);
		if (c->s->h2c || (len == 2 && memcmp(sel, "h2", 2) == 0))
			ts_h2_start(c);
	}
	if (!c->h2) {
		ts_h1_next(c);
		return;
	}
	size_t n = evbuffer_get_length(in);
	ssize_t r = nghttp2_session_mem_recv(c->ng, evbuffer_pullup(in, -1), n);
	evbuffer_drain(in, n);
	if (r < 0) {
		ts_conn_free(c);
		return;
	}
	ts_h2_flush(c);
	if (c->close_when_flushed)
		ts_conn_free(c);
}

static void ts_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ts_conn *c = arg;
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		c->s->peer_closed++;
		ts_conn_free(c);
	}
}

static void ts_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct ts_server *s = arg;
	(void)l;
	(void)sa;
	(void)salen;
	s->accepted++;
	if (s->no_accept) {
		/* keep the socket open and silent until the test ends: a handshake that never completes */
		struct ts_conn *c = calloc(1, sizeof(*c));
		c->s = s;
		TAILQ_INIT(&c->streams);
		c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->timer = evtimer_new(s->base, ts_h1_step, c);
		TAILQ_INSERT_TAIL(&s->conns, c, link);
		return;
	}
	struct ts_conn *c = calloc(1, sizeof(*c));
	c->s = s;
	TAILQ_INIT(&c->streams);
	if (s->tls != NULL)
		c->bev = bufferevent_openssl_socket_new(s->base, fd, SSL_new(s->tls), BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
	else
		c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(s->base, ts_h1_step, c);
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	bufferevent_setcb(c->bev, ts_read_cb, ts_h1_write_cb, ts_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Starts listening on 127.0.0.1 on a free port. */
TS_FN void ts_server_start(struct ts_server *s, struct event_base *base)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->base = base;
	TAILQ_INIT(&s->conns);
	s->lis = evconnlistener_new_bind(base, ts_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
					 (struct sockaddr *)&sin, sizeof(sin));
	if (s->lis == NULL)
		abort();
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &sl);
	s->port = ntohs(sin.sin_port);
}

TS_FN void ts_server_stop(struct ts_server *s)
{
	struct ts_conn *c;
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		ts_conn_free(c);
	if (s->lis != NULL)
		evconnlistener_free(s->lis);
	s->lis = NULL;
}

/* A 127.0.0.1 port nobody listens on (bound, then closed). */
TS_FN uint16_t ts_dead_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

#endif
