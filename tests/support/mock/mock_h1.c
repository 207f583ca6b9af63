/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 for llmgw-mock, on a bufferevent (plain socket or OpenSSL).
 *
 * One request at a time per connection: the head is parsed once
 * "\r\n\r\n" is in, then the body (Content-Length or chunked), then the
 * request goes to the router and the connection waits for the answer with
 * reading still enabled, so a client that hangs up is noticed at once
 * (that is what the gateway's cancellation tests look for). Pipelined
 * requests wait in the input buffer until the answer before them is
 * complete. This is a test tool: it is strict where clients are uniform
 * (CRLF line ends) and answers anything odd with 400 and a close. For
 * x-mock-fault it can also write raw bytes and half-close (FIN while it
 * keeps reading).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "tests/support/mock/mock_conn.h"
#include "tests/support/mock/mock_h1.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"

#define H1_MAX_HEAD (64 * 1024)	     /* request line + headers: 431 past it */
#define H1_MAX_WAITING (1024 * 1024) /* pipelined input held while answering */
#define H1_IDLE_TIMEOUT_S 120	     /* keep-alive connection with nothing to read */

enum h1_state {
	H1_HEAD = 0, /* reading a request head */
	H1_BODY,     /* reading its body */
	H1_WAIT,     /* the router has it; waiting for the answer */
	H1_DRAIN,    /* last answer written; close (or RST) once it is flushed */
	H1_HALF,     /* x-mock-fault half-close: FIN once flushed, then read (and drop) until the client closes */
	H1_DEAD,
};

enum h1_chunk {
	CHUNK_SIZE = 0,
	CHUNK_DATA,
	CHUNK_DATA_END, /* the CRLF after a chunk's data */
	CHUNK_TRAILER,
};

struct h1 {
	struct mock_conn base;
	struct mock *m;
	struct bufferevent *bev;
	struct mock_req *req; /* being read or answered */
	enum h1_state state;
	enum h1_chunk chunk;
	size_t body_left; /* Content-Length or current chunk bytes still to read */
	bool tls;
	bool chunked_req;
	bool keep_alive;
	bool resp_chunked;
	bool resp_nobody; /* HEAD: the head says what a GET would get, no body */
	bool rst;	  /* DRAIN ends with a TCP RST */
	bool shut_wr;	  /* HALF: the FIN went out */
	bool processing;
	bool again;
};

static void h1_process(struct h1 *c);

static void h1_free(struct mock_reap *self)
{
	struct h1 *c = (struct h1 *)self;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

static void h1_close(struct h1 *c, bool client_left)
{
	if (c->state == H1_DEAD)
		return;
	c->state = H1_DEAD;
	if (c->req != NULL)
		mock_req_detach(c->req, client_left);
	c->req = NULL;
	if (c->rst)
		mock_conn_linger_rst(bufferevent_getfd(c->bev));
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	mock_conn_defer_free(c->m, &c->base);
}

static void h1_shutdown(struct mock_conn *self)
{
	h1_close((struct h1 *)self, true);
}

/* Closes once everything written has left (now if nothing is pending). */
static void h1_drain(struct h1 *c)
{
	c->state = H1_DRAIN;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		h1_close(c, false);
}

/* An error the connection answers itself (bad framing): OpenAI-shaped body, then close. */
static void h1_fail(struct h1 *c, int status, const char *msg)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char body[384];
	int n = snprintf(
	    body, sizeof(body),
	    "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"code\":null,\"param\":null}}\n", msg);
	if (c->req != NULL)
		mock_req_detach(c->req, false);
	c->req = NULL;
	c->m->stats.bad_requests++;
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
			    "Connection: close\r\n\r\n%s",
			    status, mock_reply_reason(status), n, body);
	h1_drain(c);
}

static int h1_head(struct mock_req *r, int status, long len)
{
	struct h1 *c = r->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evkeyval *kv;
	c->resp_chunked = len < 0 && strcmp(r->http_version, "1.1") == 0;
	if (len < 0 && !c->resp_chunked)
		c->keep_alive = false; /* HTTP/1.0 stream: the close ends it */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, mock_reply_reason(status));
	/* keyvalq_struct.h gives the list fields but not always <sys/queue.h>'s macros. */
	for (kv = r->out_headers.tqh_first; kv != NULL; kv = kv->next.tqe_next)
		evbuffer_add_printf(out, "%s: %s\r\n", kv->key, kv->value);
	if (len >= 0)
		evbuffer_add_printf(out, "Content-Length: %ld\r\n", len);
	else if (c->resp_chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (!c->keep_alive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (strcmp(r->http_version, "1.0") == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	return evbuffer_add(out, "\r\n", 2);
}

static int h1_body(struct mock_req *r, const void *p, size_t n)
{
	struct h1 *c = r->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (c->resp_nobody || n == 0)
		return 0;
	if (c->resp_chunked)
		evbuffer_add_printf(out, "%zx\r\n", n);
	if (evbuffer_add(out, p, n) != 0)
		return -1;
	return c->resp_chunked ? evbuffer_add(out, "\r\n", 2) : 0;
}

static void h1_end(struct mock_req *r)
{
	struct h1 *c = r->conn;
	if (c->resp_chunked && !c->resp_nobody)
		evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
	mock_req_detach(r, false);
	c->req = NULL;
	if (!c->keep_alive) {
		h1_drain(c);
		return;
	}
	c->state = H1_HEAD;
	struct timeval idle = {.tv_sec = H1_IDLE_TIMEOUT_S, .tv_usec = 0};
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ);
	h1_process(c); /* a pipelined request may be waiting */
}

static void h1_reset(struct mock_req *r)
{
	struct h1 *c = r->conn;
	mock_req_detach(r, false);
	c->req = NULL;
	/* Let what was written reach the client first, then RST instead of FIN. */
	c->rst = true;
	h1_drain(c);
}

static size_t h1_pending(struct mock_req *r)
{
	struct h1 *c = r->conn;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static int h1_raw(struct mock_req *r, const void *p, size_t n)
{
	struct h1 *c = r->conn;
	c->resp_chunked = false; /* what follows (end) adds no framing either */
	return evbuffer_add(bufferevent_get_output(c->bev), p, n);
}

/* The FIN, once everything written is sent (shutdown now would cut what is still queued). */
static void h1_shut_wr(struct h1 *c)
{
	if (c->shut_wr)
		return;
	c->shut_wr = true;
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
}

static void h1_half_close(struct mock_req *r)
{
	struct h1 *c = r->conn;
	mock_req_detach(r, false);
	c->req = NULL;
	c->keep_alive = false;
	c->state = H1_HALF;
	/* Keep reading so the client's own close is seen, but not forever. */
	struct timeval idle = {.tv_sec = H1_IDLE_TIMEOUT_S, .tv_usec = 0};
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		h1_shut_wr(c);
}

static const struct mock_req_ops h1_ops = {
    .head = h1_head,
    .body = h1_body,
    .end = h1_end,
    .reset = h1_reset,
    .pending = h1_pending,
    .raw = h1_raw,
    .half_close = h1_half_close,
};

/* true if the comma-separated header value v has token tok (case-insensitive). */
static bool has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (v != NULL && *v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t n = strcspn(v, ",");
		size_t e = n;
		while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == tl && strncasecmp(v, tok, tl) == 0)
			return true;
		v += n;
	}
	return false;
}

/* Request line "METHOD SP target SP HTTP/1.x"; -1 if malformed. */
static int parse_request_line(struct mock_req *r, const char *line, size_t len)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method))
		return -1;
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', len - (size_t)(t - line));
	if (sp2 == NULL || sp2 == t)
		return -1;
	size_t vlen = len - (size_t)(sp2 + 1 - line);
	if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
		r->http_version = "1.1";
	else if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
		r->http_version = "1.0";
	else
		return -1;
	for (const char *p = line; p < sp1; p++)
		if (!isupper((unsigned char)*p))
			return -1;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	return mock_req_set_target(r, t, (size_t)(sp2 - t));
}

/* "name: value" lines up to the end of head; -1 on obs-fold, a missing colon or a bad name. */
static int parse_headers(struct mock_req *r, char *p, const char *end)
{
	while (p < end) {
		char *eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL)
			eol = (char *)end;
		*eol = '\0';
		char *colon = strchr(p, ':');
		if (colon == NULL || colon == p || *p == ' ' || *p == '\t' || colon[-1] == ' ' || colon[-1] == '\t')
			return -1;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = '\0';
		if (evhttp_add_header(&r->in_headers, p, v) != 0)
			return -1;
		p = eol + 2;
	}
	return 0;
}

/* Works out keep-alive and the body framing; -1 (answered) on a conflict. */
static int h1_framing(struct h1 *c)
{
	struct mock_req *r = c->req;
	const char *conn = mock_req_header(r, "connection");
	const char *te = mock_req_header(r, "transfer-encoding");
	const char *cl = mock_req_header(r, "content-length");
	if (strcmp(r->http_version, "1.1") == 0)
		c->keep_alive = !has_token(conn, "close");
	else
		c->keep_alive = has_token(conn, "keep-alive");
	c->resp_nobody = strcmp(r->method, "HEAD") == 0;
	c->chunked_req = false;
	c->body_left = 0;
	if (te != NULL && cl != NULL) {
		h1_fail(c, 400, "Transfer-Encoding and Content-Length together");
		return -1;
	}
	if (te != NULL) {
		if (strcasecmp(te, "chunked") != 0) {
			h1_fail(c, 400, "only Transfer-Encoding: chunked is supported");
			return -1;
		}
		c->chunked_req = true;
		c->chunk = CHUNK_SIZE;
	} else if (cl != NULL) {
		char *e;
		unsigned long long n = strtoull(cl, &e, 10);
		if (e == cl || *e != '\0' || !isdigit((unsigned char)cl[0])) {
			h1_fail(c, 400, "bad Content-Length");
			return -1;
		}
		if (n > MOCK_MAX_BODY) {
			h1_fail(c, 413, "request body too large");
			return -1;
		}
		c->body_left = (size_t)n;
	}
	const char *expect = mock_req_header(r, "expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && (c->chunked_req || c->body_left > 0))
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	return 0;
}

/* 1: a head was parsed; 0: need more bytes; -1: the connection failed or closed. */
static int read_head(struct h1 *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	/* RFC 9112 2.2: ignore empty lines before a request line. */
	for (;;) {
		const unsigned char *p = evbuffer_pullup(in, 2);
		if (p == NULL || p[0] != '\r' || p[1] != '\n')
			break;
		evbuffer_drain(in, 2);
	}
	struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (pos.pos < 0) {
		if (evbuffer_get_length(in) > H1_MAX_HEAD) {
			h1_fail(c, 431, "request header fields too large");
			return -1;
		}
		return 0;
	}
	size_t hlen = (size_t)pos.pos + 4;
	if (hlen > H1_MAX_HEAD) {
		h1_fail(c, 431, "request header fields too large");
		return -1;
	}
	char *head = malloc(hlen + 1);
	c->req = head != NULL ? mock_req_new(c->m, &h1_ops, c) : NULL;
	if (c->req == NULL) {
		free(head);
		h1_fail(c, 500, "mock out of memory");
		return -1;
	}
	c->req->tls = c->tls;
	evbuffer_remove(in, head, hlen);
	head[hlen] = '\0';
	char *eol = strstr(head, "\r\n");
	int rc = parse_request_line(c->req, head, (size_t)(eol - head));
	if (rc == 0)
		rc = parse_headers(c->req, eol + 2, head + hlen - 4);
	free(head);
	if (rc != 0) {
		h1_fail(c, 400, "malformed request head");
		return -1;
	}
	if (h1_framing(c) != 0)
		return -1;
	c->state = H1_BODY;
	return 1;
}

static void h1_dispatch(struct h1 *c)
{
	c->state = H1_WAIT;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->m->handle(c->m, c->req);
}

/* Moves up to body_left bytes of input into the body; 1 when that part is complete. */
static int take_bytes(struct h1 *c, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);
	if (n > c->body_left)
		n = c->body_left;
	if (n > 0 && evbuffer_remove_buffer(in, c->req->body, n) != (int)n)
		return -1;
	c->body_left -= n;
	return c->body_left == 0 ? 1 : 0;
}

/* Chunked request body (RFC 9112 7.1); 1: complete, 0: need bytes, -1: failed. */
static int read_chunked(struct h1 *c, struct evbuffer *in)
{
	for (;;) {
		if (c->chunk == CHUNK_DATA) {
			int rc = take_bytes(c, in);
			if (rc <= 0)
				return rc;
			c->chunk = CHUNK_DATA_END;
			continue;
		}
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
		if (line == NULL)
			return evbuffer_get_length(in) > 4096 ? -1 : 0;
		int bad = 0;
		if (c->chunk == CHUNK_SIZE) {
			char *e;
			unsigned long long sz = strtoull(line, &e, 16);
			bad = e == line || (*e != '\0' && *e != ';');
			if (!bad && (sz > MOCK_MAX_BODY || sz + evbuffer_get_length(c->req->body) > MOCK_MAX_BODY)) {
				free(line);
				h1_fail(c, 413, "request body too large");
				return -2;
			}
			c->body_left = (size_t)sz;
			c->chunk = sz == 0 ? CHUNK_TRAILER : CHUNK_DATA;
		} else if (c->chunk == CHUNK_DATA_END) {
			bad = n != 0;
			c->chunk = CHUNK_SIZE;
		} else if (n == 0) { /* the empty line after the trailers */
			free(line);
			return 1;
		}
		free(line);
		if (bad)
			return -1;
	}
}

/* 1: the request went to the router; 0: need more bytes; -1: failed. */
static int read_body(struct h1 *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int rc = c->chunked_req ? read_chunked(c, in) : (c->body_left == 0 ? 1 : take_bytes(c, in));
	if (rc == -1)
		h1_fail(c, 400, "malformed request body");
	if (rc != 1)
		return rc < 0 ? -1 : 0;
	h1_dispatch(c);
	return 1;
}

static void h1_process(struct h1 *c)
{
	if (c->processing) {
		c->again = true;
		return;
	}
	c->processing = true;
	do {
		c->again = false;
		while (c->state == H1_HEAD || c->state == H1_BODY) {
			int rc = c->state == H1_HEAD ? read_head(c) : read_body(c);
			if (rc <= 0)
				break;
		}
	} while (c->again && (c->state == H1_HEAD || c->state == H1_BODY));
	c->processing = false;
	/* While answering, keep reading (to see a hang-up) but hold at most this much pipelined input. */
	if (c->state == H1_WAIT && evbuffer_get_length(bufferevent_get_input(c->bev)) > H1_MAX_WAITING)
		bufferevent_disable(c->bev, EV_READ);
}

static void h1_read_cb(struct bufferevent *bev, void *arg)
{
	struct h1 *c = arg;
	if (c->state == H1_HALF) {
		/* After our FIN nothing the client sends can be answered. */
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	h1_process(c);
}

static void h1_write_cb(struct bufferevent *bev, void *arg)
{
	struct h1 *c = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->state == H1_DRAIN)
		h1_close(c, false);
	else if (c->state == H1_HALF)
		h1_shut_wr(c);
}

static void h1_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	/* EOF, error or idle timeout: a request still in flight lost its client. */
	h1_close(arg, true);
}

int mock_h1_start(struct mock *m, struct bufferevent *bev, bool tls)
{
	struct h1 *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->base.reap.free = h1_free;
	c->base.close = h1_shutdown;
	c->m = m;
	c->bev = bev;
	c->tls = tls;
	c->state = H1_HEAD;
	mock_conn_register(m, &c->base);
	struct timeval idle = {.tv_sec = H1_IDLE_TIMEOUT_S, .tv_usec = 0};
	bufferevent_set_timeouts(bev, &idle, NULL);
	bufferevent_setcb(bev, h1_read_cb, h1_write_cb, h1_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		h1_process(c);
	return 0;
}
