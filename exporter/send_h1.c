/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 for the otlp_http sink (see send_int.h): the request written as
 * one head plus the payload, and an incremental response reader. The
 * reader (struct send_h1, send_h1_parse) knows nothing of sockets or
 * connections: it takes whatever bytes sit in an evbuffer, in any slicing,
 * and says "more", "done" or "bad"; the connection glue at the bottom of
 * the file turns that into completing the request, keeping or closing the
 * connection. That split is what lets tests/fuzz/fuzz_send_h1.c drive the
 * reader with no network at all.
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
	send_h1_start(&c->h1);
	rc = 0;
out:
	buf_fini(&h);
	return rc;
}

/* ---- response reader: helpers ------------------------------------------------------ */

/* What one state handler achieved (H1_STEP_ON: state changed, go on with the next one). */
enum h1_step {
	H1_STEP_MORE = 0,
	H1_STEP_ON,
	H1_STEP_DONE,
	H1_STEP_BAD,
};

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
		size_t have = evbuffer_get_length(in);
		/*
		 * A CR at the very end may be the first half of the line's CRLF: it
		 * does not count, or a line of exactly max bytes would fail or pass
		 * depending on where the network happened to split it.
		 */
		if (have == max + 1) {
			struct evbuffer_ptr last;
			char ch = 0;
			if (evbuffer_ptr_set(in, &last, have - 1, EVBUFFER_PTR_SET) == 0 &&
			    evbuffer_copyout_from(in, &last, &ch, 1) == 1 && ch == '\r')
				have--;
		}
		*bad = have > max;
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
static int h1_status_line(struct send_h1 *p, struct send_req *r, const char *l, size_t n)
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
	p->http10 = l[7] == '0';
	return 0;
}

/* "name: value" */
static int h1_field(struct send_h1 *p, struct send_req *r, const char *l, size_t n)
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
		if (!h1_digits(v, vl, &len) || (p->has_len && len != p->left))
			return -1;
		p->has_len = true;
		p->left = len;
	} else if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
		/* chunked must be the last coding; anything else is read until the close */
		const char *last = v + vl;
		while (last > v && last[-1] != ',')
			last--;
		while (last < v + vl && (*last == ' ' || *last == '\t'))
			last++;
		p->te = true;
		p->chunked = (size_t)(v + vl - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
	} else if (nl == 10 && strncasecmp(l, "connection", 10) == 0) {
		p->close |= h1_has_token(v, vl, "close");
		p->keepalive |= h1_has_token(v, vl, "keep-alive");
	} else {
		send_req_header(r, l, nl, v, vl);
	}
	return 0;
}

/* The response is complete: decide reuse while the state still says how it was framed, then go idle. */
static enum h1_step h1_done(struct send_h1 *p)
{
	p->reuse = !p->close && (!p->http10 || p->keepalive) && p->st != H1_BODY_EOF;
	p->st = H1_IDLE;
	return H1_STEP_DONE;
}

/* Over SEND_RESPONSE_MAX: the response ends here (a drop for the caller), the connection with it. */
static enum h1_step h1_too_large(struct send_h1 *p, struct send_req *r)
{
	r->too_large = true;
	p->close = true;
	return h1_done(p);
}

/* ---- response reader: states ------------------------------------------------------- */

/* The empty line after the fields: an interim head starts over, a final one picks the body framing. */
static enum h1_step h1_head_end(struct send_h1 *p, struct send_req *r, const char **detail)
{
	if (r->status < 200) {
		if (r->status == 101) {
			*detail = "unexpected 101 Switching Protocols";
			return H1_STEP_BAD;
		}
		r->status = 0; /* 100 Continue and friends: the real head follows */
		r->has_ctype = r->has_retry_after = false;
		p->has_len = p->chunked = p->te = false;
		return H1_STEP_ON;
	}
	if (r->status == 204 || r->status == 304 || (!p->chunked && !p->te && p->has_len && p->left == 0))
		return h1_done(p);
	if (p->chunked) {
		p->st = H1_CHUNK_SIZE;
		p->close |= p->has_len; /* both framings: RFC 9112 says read chunked, then close */
	} else if (p->te || !p->has_len) {
		p->st = H1_BODY_EOF; /* no framing: the body ends when the server closes */
		p->close = true;
	} else {
		if (p->left > SEND_RESPONSE_MAX)
			return h1_too_large(p, r);
		p->st = H1_BODY_LEN;
	}
	return H1_STEP_ON;
}

static enum h1_step h1_head(struct send_h1 *p, struct send_req *r, struct evbuffer *in, const char **detail)
{
	size_t n;
	bool bad;
	size_t room = p->head_bytes < SEND_HEAD_MAX ? SEND_HEAD_MAX - p->head_bytes : 0;
	char *l = h1_line(in, room, &n, &bad);
	if (l == NULL) {
		if (!bad)
			return H1_STEP_MORE;
		*detail = p->st == H1_TRAILERS ? "trailers too large" : "response head too large";
		return H1_STEP_BAD;
	}
	p->head_bytes += n + 2;
	enum h1_step rc = H1_STEP_ON;
	if (p->st == H1_TRAILERS) {
		if (n == 0)
			rc = h1_done(p);
	} else if (r->status == 0) {
		if (h1_status_line(p, r, l, n) != 0) {
			*detail = "malformed status line";
			rc = H1_STEP_BAD;
		}
	} else if (n == 0) {
		rc = h1_head_end(p, r, detail);
	} else if (h1_field(p, r, l, n) != 0) {
		*detail = "malformed header field";
		rc = H1_STEP_BAD;
	}
	free(l);
	return rc;
}

static enum h1_step h1_chunk_size(struct send_h1 *p, struct send_req *r, struct evbuffer *in, const char **detail)
{
	size_t n, i = 0;
	bool bad;
	uint64_t v = 0;
	char *l = h1_line(in, SEND_H1_LINE_MAX, &n, &bad);
	if (l == NULL) {
		if (!bad)
			return H1_STEP_MORE;
		*detail = "chunk size line too long";
		return H1_STEP_BAD;
	}
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
	if (!ok) {
		*detail = "malformed chunk size";
		return H1_STEP_BAD;
	}
	if (v == 0) {
		p->st = H1_TRAILERS;
		return H1_STEP_ON;
	}
	if (v > SEND_RESPONSE_MAX || r->body.len + v > SEND_RESPONSE_MAX)
		return h1_too_large(p, r);
	p->left = v;
	p->st = H1_CHUNK_DATA;
	return H1_STEP_ON;
}

/* Moves up to left (or, close-delimited, all) available bytes into the body. */
static enum h1_step h1_body(struct send_h1 *p, struct send_req *r, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = p->st == H1_BODY_EOF || avail < p->left ? avail : (size_t)p->left;
	if (n > 0) {
		if (buf_reserve(&r->body, n) != 0) {
			p->st = H1_BODY_LEN; /* not EOF: complete now */
			return h1_too_large(p, r);
		}
		evbuffer_remove(in, r->body.data + r->body.len, n);
		r->body.len += n;
		r->body.data[r->body.len] = '\0';
	}
	if (p->st == H1_BODY_EOF)
		return H1_STEP_MORE; /* until the close */
	p->left -= n;
	if (p->left > 0)
		return H1_STEP_MORE;
	if (p->st == H1_CHUNK_DATA) {
		p->st = H1_CHUNK_END;
		return H1_STEP_ON;
	}
	return h1_done(p);
}

static enum h1_step h1_chunk_end(struct send_h1 *p, struct evbuffer *in, const char **detail)
{
	size_t n;
	bool bad;
	char *l = h1_line(in, 2, &n, &bad);
	if (l == NULL) {
		if (!bad)
			return H1_STEP_MORE;
		*detail = "missing CRLF after chunk data";
		return H1_STEP_BAD;
	}
	free(l);
	if (n != 0) {
		*detail = "missing CRLF after chunk data";
		return H1_STEP_BAD;
	}
	p->st = H1_CHUNK_SIZE;
	return H1_STEP_ON;
}

/* ---- response reader: entry points --------------------------------------------------- */

void send_h1_start(struct send_h1 *p)
{
	memset(p, 0, sizeof(*p));
	p->st = H1_HEAD;
}

enum send_h1_rc send_h1_parse(struct send_h1 *p, struct send_req *r, struct evbuffer *in, const char **detail)
{
	*detail = NULL;
	for (;;) {
		enum h1_step rc;
		if (evbuffer_get_length(in) == 0)
			return SEND_H1_MORE;
		switch (p->st) {
		case H1_IDLE:
			*detail = "bytes from the server with no request outstanding";
			return SEND_H1_BAD;
		case H1_HEAD:
		case H1_TRAILERS:
			rc = h1_head(p, r, in, detail);
			break;
		case H1_CHUNK_SIZE:
			rc = h1_chunk_size(p, r, in, detail);
			break;
		case H1_CHUNK_END:
			rc = h1_chunk_end(p, in, detail);
			break;
		case H1_BODY_LEN:
		case H1_CHUNK_DATA:
		case H1_BODY_EOF:
		default:
			rc = h1_body(p, r, in);
			break;
		}
		if (rc == H1_STEP_MORE)
			return SEND_H1_MORE;
		if (rc == H1_STEP_DONE)
			return SEND_H1_DONE;
		if (rc == H1_STEP_BAD)
			return SEND_H1_BAD;
	}
}

bool send_h1_parse_eof(struct send_h1 *p)
{
	if (p->st != H1_BODY_EOF)
		return false;
	h1_done(p); /* close-delimited: never reused */
	return true;
}

/* ---- the connection glue ---------------------------------------------------------------- */

/* The connection cannot continue (malformed response): the request is retried elsewhere. */
static void h1_bad(struct send_conn *c, const char *detail)
{
	send_conn_close(c, "invalid_response", detail, false);
}

/*
 * r's response is complete (the reader is idle): finish the request, keep
 * the connection only when the response allows it, our whole request went
 * out and nothing more arrived behind the response.
 */
static void h1_complete(struct send_conn *c, struct send_req *r)
{
	bool keep = c->h1.reuse && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
	c->served++;
	send_req_unbind(r);
	send_req_response(r);
	if (!keep)
		send_conn_close(c, NULL, NULL, false);
	else
		send_kick(c->s); /* a free connection for a waiting request */
}

void send_h1_input(struct send_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (c->state == SCONN_READY && evbuffer_get_length(in) > 0) {
		struct send_req *r = TAILQ_FIRST(&c->reqs);
		const char *detail;
		if (r == NULL || c->h1.st == H1_IDLE) {
			h1_bad(c, "bytes from the server with no request outstanding");
			return;
		}
		r->got_byte = true;
		switch (send_h1_parse(&c->h1, r, in, &detail)) {
		case SEND_H1_MORE:
			return;
		case SEND_H1_BAD:
			h1_bad(c, detail);
			return;
		case SEND_H1_DONE:
		default:
			h1_complete(c, r);
			break;
		}
	}
}

void send_h1_eof(struct send_conn *c)
{
	struct send_req *r;
	send_h1_input(c); /* whatever arrived with the close */
	if (c->state != SCONN_READY)
		return;
	r = TAILQ_FIRST(&c->reqs);
	if (r != NULL && send_h1_parse_eof(&c->h1)) {
		h1_complete(c, r); /* closes the connection too */
		return;
	}
	send_conn_close(c, "connection_closed", r != NULL && r->got_byte ? "closed mid-response" : NULL, true);
}
