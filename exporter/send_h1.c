/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 for the otlp_http sink (see send_int.h): the request written as
 * one head plus the payload, and an incremental response reader working
 * straight on the connection's input evbuffer.
 *
 * The reader faces whatever the network (or a proxy) sends, so every part
 * is bounded: the head (status line, fields, trailers) by SEND_HEAD_MAX,
 * a chunk-size line by SEND_H1_LINE_MAX, the body by SEND_RESPONSE_MAX
 * (OTLP's limit on what a client parses; over it the response is a drop).
 * It understands what a server may send to a POST: 1xx interim heads
 * (skipped), Content-Length, chunked (extensions and trailers ignored),
 * and a body delimited by the close when neither is given. Anything else
 * malformed closes the connection and the request is retried. Only two
 * fields are kept (Content-Type and Retry-After); the rest is skipped.
 *
 * Keep-alive: the connection is reused only when the response said so
 * (HTTP/1.1 without "Connection: close", HTTP/1.0 with keep-alive), was
 * framed by a length or chunks, and our whole request had been written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exporter/send_int.h"

#define SEND_H1_LINE_MAX 1024u /* a chunk-size line (with extensions) */

/* ---- request ------------------------------------------------------------------ */

int send_h1_dispatch(struct send_conn *c, struct send_req *r)
{
	const struct ex_conf *conf = c->s->conf;
	const struct payload *p = r->p;
	struct buf h;
	int rc = -1, e = 0;
	buf_init(&h, 0);
	e |= buf_printf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\n", conf->endpoint.target, conf->endpoint.http.authority);
	/* a configured User-Agent replaces ours rather than doubling it */
	if (kvlist_get(&conf->headers, "User-Agent", true) == NULL)
		e |= buf_printf(&h, "User-Agent: %s\r\n", c->s->user_agent);
	e |= buf_printf(&h, "Content-Type: %s\r\n",
			(p->flags & PAYLOAD_F_JSON) ? "application/json" : "application/x-protobuf");
	if (p->flags & PAYLOAD_F_GZIP)
		e |= buf_puts(&h, "Content-Encoding: gzip\r\n");
	e |= buf_printf(&h, "Content-Length: %zu\r\n", p->len);
	for (size_t i = 0; i < conf->headers.n; i++) /* validated at load: tokens, no CR/LF */
		e |= buf_printf(&h, "%s: %s\r\n", conf->headers.items[i].key, conf->headers.items[i].value);
	e |= buf_puts(&h, "\r\n");
	if (e != 0 || bufferevent_write(c->bev, h.data, h.len) != 0 ||
	    (p->len > 0 && bufferevent_write(c->bev, p->data, p->len) != 0))
		goto out;
	c->h1 = H1_HEAD;
	c->h1_left = 0;
	c->h1_head_bytes = 0;
	c->h1_http10 = c->h1_close = c->h1_keepalive = c->h1_chunked = c->h1_te = c->h1_has_len = false;
	rc = 0;
out:
	buf_fini(&h);
	return rc;
}

/* ---- response: helpers ------------------------------------------------------------ */

/* The connection cannot continue (malformed response): the request is retried elsewhere. */
static int h1_bad(struct send_conn *c, const char *detail)
{
	send_conn_close(c, "invalid_response", detail, false);
	return -1;
}

/*
 * Takes the next line (without its CRLF or LF) into a malloc'd string; NULL
 * when it is not complete yet, or (with *bad set) when it is longer than max
 * or holds a NUL.
 */
static char *h1_line(struct evbuffer *in, size_t max, size_t *len, bool *bad)
{
	size_t eol_len = 0;
	*bad = false;
	struct evbuffer_ptr at = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (at.pos < 0) {
		*bad = evbuffer_get_length(in) > max;
		return NULL;
	}
	if ((size_t)at.pos > max) {
		*bad = true;
		return NULL;
	}
	char *line = evbuffer_readln(in, len, EVBUFFER_EOL_CRLF);
	if (line != NULL && strlen(line) != *len) {
		free(line);
		*bad = true;
		return NULL;
	}
	return line;
}

static bool h1_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Does the comma-separated list v (length n) hold token tok? */
static bool h1_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tl && strncasecmp(v + start, tok, tl) == 0)
			return true;
	}
	return false;
}

/* "HTTP/1.x SSS[ reason]" */
static int h1_status_line(struct send_conn *c, struct send_req *r, const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    (n > 12 && l[12] != ' '))
		return -1;
	int st = 0;
	for (int i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return -1;
		st = st * 10 + (l[i] - '0');
	}
	if (st < 100)
		return -1;
	r->status = st;
	c->h1_http10 = l[7] == '0';
	return 0;
}

/* "name: value" */
static int h1_field(struct send_conn *c, struct send_req *r, const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n);
	if (colon == NULL || colon == l || l[0] == ' ' || l[0] == '\t')
		return -1; /* no name, or obsolete line folding */
	size_t nl = (size_t)(colon - l);
	if (l[nl - 1] == ' ' || l[nl - 1] == '\t')
		return -1; /* RFC 9112: no whitespace between name and colon */
	const char *v = colon + 1, *end = l + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
	uint64_t len;
	if (nl == 14 && strncasecmp(l, "content-length", 14) == 0) {
		if (!h1_digits(v, vl, &len) || (c->h1_has_len && len != c->h1_left))
			return -1;
		c->h1_has_len = true;
		c->h1_left = len;
	} else if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
		/* chunked must be the last coding; anything else is read until the close */
		const char *last = v + vl;
		while (last > v && last[-1] != ',')
			last--;
		while (last < v + vl && (*last == ' ' || *last == '\t'))
			last++;
		c->h1_te = true;
		c->h1_chunked = (size_t)(v + vl - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
	} else if (nl == 10 && strncasecmp(l, "connection", 10) == 0) {
		c->h1_close |= h1_has_token(v, vl, "close");
		c->h1_keepalive |= h1_has_token(v, vl, "keep-alive");
	} else {
		send_req_header(r, l, nl, v, vl);
	}
	return 0;
}

/* The response is complete: finish the request, keep or close the connection. */
static void h1_complete(struct send_conn *c, struct send_req *r)
{
	bool keep = !c->h1_close && (!c->h1_http10 || c->h1_keepalive) && c->h1 != H1_BODY_EOF &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
	c->h1 = H1_IDLE;
	c->served++;
	send_req_unbind(r);
	send_req_response(r);
	if (!keep)
		send_conn_close(c, NULL, NULL, false);
	else
		send_kick(c->s); /* a free connection for a waiting request */
}

/* ---- response: states ----------------------------------------------------------- */

/* The empty line after the fields: an interim head starts over, a final one picks the body framing. */
static int h1_head_end(struct send_conn *c, struct send_req *r)
{
	if (r->status < 200) {
		if (r->status == 101)
			return h1_bad(c, "unexpected 101 Switching Protocols");
		r->status = 0; /* 100 Continue and friends: the real head follows */
		r->has_ctype = r->has_retry_after = false;
		c->h1_has_len = c->h1_chunked = c->h1_te = false;
		return 1;
	}
	if (r->status == 204 || r->status == 304 || (!c->h1_chunked && !c->h1_te && c->h1_has_len && c->h1_left == 0)) {
		h1_complete(c, r);
		return 1;
	}
	if (c->h1_chunked) {
		c->h1 = H1_CHUNK_SIZE;
		c->h1_close |= c->h1_has_len; /* both framings: RFC 9112 says read chunked, then close */
	} else if (c->h1_te || !c->h1_has_len) {
		c->h1 = H1_BODY_EOF; /* no framing: the body ends when the server closes */
		c->h1_close = true;
	} else {
		if (c->h1_left > SEND_RESPONSE_MAX) {
			r->too_large = true;
			c->h1_close = true;
			h1_complete(c, r);
			return 1;
		}
		c->h1 = H1_BODY_LEN;
	}
	return 1;
}

static int h1_head(struct send_conn *c, struct send_req *r, struct evbuffer *in)
{
	size_t n;
	bool bad;
	size_t room = c->h1_head_bytes < SEND_HEAD_MAX ? SEND_HEAD_MAX - c->h1_head_bytes : 0;
	char *l = h1_line(in, room, &n, &bad);
	if (l == NULL)
		return bad ? h1_bad(c, c->h1 == H1_TRAILERS ? "trailers too large" : "response head too large") : 0;
	c->h1_head_bytes += n + 2;
	int rc = 1;
	if (c->h1 == H1_TRAILERS) {
		if (n == 0)
			h1_complete(c, r);
	} else if (r->status == 0) {
		if (h1_status_line(c, r, l, n) != 0)
			rc = h1_bad(c, "malformed status line");
	} else if (n == 0) {
		rc = h1_head_end(c, r);
	} else if (h1_field(c, r, l, n) != 0) {
		rc = h1_bad(c, "malformed header field");
	}
	free(l);
	return rc;
}

static int h1_chunk_size(struct send_conn *c, struct send_req *r, struct evbuffer *in)
{
	size_t n, i = 0;
	bool bad;
	uint64_t v = 0;
	char *l = h1_line(in, SEND_H1_LINE_MAX, &n, &bad);
	if (l == NULL)
		return bad ? h1_bad(c, "chunk size line too long") : 0;
	for (; i < n && i < 16; i++) {
		char ch = l[i];
		int d = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
						 : -1;
		if (d < 0)
			break;
		v = v * 16 + (uint64_t)d;
	}
	bool ok = i > 0 && (i == n || l[i] == ';' || l[i] == ' ' || l[i] == '\t');
	free(l);
	if (!ok)
		return h1_bad(c, "malformed chunk size");
	if (v == 0) {
		c->h1 = H1_TRAILERS;
		return 1;
	}
	if (v > SEND_RESPONSE_MAX || r->body.len + v > SEND_RESPONSE_MAX) {
		r->too_large = true;
		c->h1_close = true;
		h1_complete(c, r);
		return 1;
	}
	c->h1_left = v;
	c->h1 = H1_CHUNK_DATA;
	return 1;
}

/* Moves up to h1_left (or, close-delimited, all) available bytes into the body. */
static int h1_body(struct send_conn *c, struct send_req *r, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = c->h1 == H1_BODY_EOF || avail < c->h1_left ? avail : (size_t)c->h1_left;
	if (n > 0) {
		if (buf_reserve(&r->body, n) != 0) {
			r->too_large = true;
			c->h1_close = true;
			c->h1 = H1_BODY_LEN; /* not EOF: complete now */
			h1_complete(c, r);
			return 1;
		}
		evbuffer_remove(in, r->body.data + r->body.len, n);
		r->body.len += n;
		r->body.data[r->body.len] = '\0';
	}
	if (c->h1 == H1_BODY_EOF)
		return 0; /* until the close */
	c->h1_left -= n;
	if (c->h1_left > 0)
		return 0;
	if (c->h1 == H1_CHUNK_DATA) {
		c->h1 = H1_CHUNK_END;
		return 1;
	}
	h1_complete(c, r);
	return 1;
}

static int h1_chunk_end(struct send_conn *c, struct evbuffer *in)
{
	size_t n;
	bool bad;
	char *l = h1_line(in, 2, &n, &bad);
	if (l == NULL)
		return bad ? h1_bad(c, "missing CRLF after chunk data") : 0;
	free(l);
	if (n != 0)
		return h1_bad(c, "missing CRLF after chunk data");
	c->h1 = H1_CHUNK_SIZE;
	return 1;
}

void send_h1_input(struct send_conn *c)
{
	while (c->state == SCONN_READY) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		struct send_req *r = TAILQ_FIRST(&c->reqs);
		int rc;
		if (evbuffer_get_length(in) == 0)
			return;
		if (r == NULL || c->h1 == H1_IDLE) {
			h1_bad(c, "bytes from the server with no request outstanding");
			return;
		}
		r->got_byte = true;
		switch (c->h1) {
		case H1_HEAD:
		case H1_TRAILERS:
			rc = h1_head(c, r, in);
			break;
		case H1_CHUNK_SIZE:
			rc = h1_chunk_size(c, r, in);
			break;
		case H1_CHUNK_END:
			rc = h1_chunk_end(c, in);
			break;
		case H1_BODY_LEN:
		case H1_CHUNK_DATA:
		case H1_BODY_EOF:
		default:
			rc = h1_body(c, r, in);
			break;
		}
		if (rc <= 0)
			return;
	}
}

void send_h1_eof(struct send_conn *c)
{
	struct send_req *r;
	send_h1_input(c); /* whatever arrived with the close */
	if (c->state != SCONN_READY)
		return;
	r = TAILQ_FIRST(&c->reqs);
	if (r != NULL && c->h1 == H1_BODY_EOF) {
		h1_complete(c, r); /* closes the connection too */
		return;
	}
	send_conn_close(c, "connection_closed", r != NULL && r->got_byte ? "closed mid-response" : NULL, true);
}
