/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 on one upstream connection, one call at a time (no pipelining:
 * an LLM call can take a minute, and a second request queued behind it on
 * the same connection would wait for all of it).
 *
 * The request head is formatted by hand (memcpy, no printf) into a scratch
 * buffer the connection keeps, and goes out with the body in one writev.
 * The response is parsed in place by gateway/http_parse.h from the
 * connection's input buffer: header slices and body pieces are handed to
 * the call without copying (the call copies headers only in buffered
 * mode). A connection goes back to the idle list only when the response
 * was complete, keep-alive, and nothing followed it.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/upstream_int.h"

static const struct http_limits h1_limits = {
    .max_line = HTTP_PARSE_MAX_LINE_DEFAULT,
    .max_head = UPSTREAM_MAX_HEAD,
    .max_headers = UPSTREAM_MAX_RESP_HEADERS,
    .max_body = HTTP_PARSE_BODY_UNLIMITED, /* the call bounds buffered bodies; streams are bounded by time */
};

static int put(struct buf *b, const char *s, size_t n)
{
	return buf_append(b, s, n);
}

static int put_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return put(b, tmp + i, sizeof(tmp) - i);
}

/* "METHOD path HTTP/1.1", Host, the caller's headers, Content-Length. */
static int format_head(struct buf *b, const struct upstream_call *c, const struct gw_provider *pr)
{
	int rc = 0;
	buf_reset(b);
	rc |= put(b, c->method, strlen(c->method));
	rc |= put(b, " ", 1);
	rc |= put(b, c->path, strlen(c->path));
	rc |= put(b, " HTTP/1.1\r\nhost: ", 17);
	rc |= put(b, pr->url.authority, strlen(pr->url.authority));
	rc |= put(b, "\r\n", 2);
	for (size_t i = 0; i < c->nqhdrs; i++) {
		rc |= put(b, c->qhdrs[i].name, c->qhdrs[i].name_len);
		rc |= put(b, ": ", 2);
		rc |= put(b, c->qhdrs[i].value, c->qhdrs[i].value_len);
		rc |= put(b, "\r\n", 2);
	}
	/* a body always has a length; so does a POST without one (servers may insist on it) */
	if (c->body_len > 0 || strcmp(c->method, "GET") != 0) {
		rc |= put(b, "content-length: ", 16);
		rc |= put_u64(b, c->body_len);
		rc |= put(b, "\r\n", 2);
	}
	rc |= put(b, "\r\n", 2);
	return rc < 0 ? -1 : 0;
}

void up_h1_dispatch(struct up_conn *conn, struct upstream_call *c)
{
	struct iovec iov[2];
	if (format_head(&conn->head, c, conn->t->prov) < 0) {
		/* only out of memory gets here; the connection stays fine */
		conn->call = NULL;
		c->conn = NULL;
		TAILQ_INSERT_HEAD(&conn->t->idle, conn, link);
		conn->in_idle = true;
		up_call_finish(c, UPSTREAM_PROTOCOL_ERROR, "out of memory formatting the request");
		return;
	}
	http_parse_init_response(&conn->hp, &h1_limits, conn->hdrs, UPSTREAM_MAX_RESP_HEADERS,
				 strcmp(c->method, "HEAD") == 0);
	iov[0].iov_base = conn->head.data;
	iov[0].iov_len = conn->head.len;
	iov[1].iov_base = (void *)c->body;
	iov[1].iov_len = c->body_len;
	up_conn_send(conn, iov, c->body_len > 0 ? 2 : 1);
}

/* Detaches the call from conn and closes conn (it cannot carry another request). */
static void detach_close(struct up_conn *conn, struct upstream_call *c)
{
	conn->call = NULL;
	c->conn = NULL;
	up_conn_close(conn);
}

void up_h1_abort(struct up_conn *conn)
{
	if (conn->call != NULL)
		detach_close(conn, conn->call);
}

void up_h1_conn_lost(struct up_conn *conn, enum upstream_outcome o, const char *detail, bool eof_or_reset)
{
	struct upstream_call *c = conn->call;
	char d[160];
	if (c == NULL)
		return;
	detach_close(conn, c);
	/* the keep-alive race: the server closed the idle connection as we reused it */
	if (eof_or_reset && !c->got_byte && c->on_idle_conn && !c->res.retried) {
		up_call_retry(c);
		return;
	}
	if (o == UPSTREAM_RESET) {
		snprintf(d, sizeof(d), "%s %s", detail,
			 c->res.status != 0 ? "mid-body"
			 : c->got_byte	    ? "mid-head"
					    : "before any response");
		detail = d;
	}
	up_call_finish(c, o, detail);
}

static void h1_done(struct up_conn *conn, struct upstream_call *c)
{
	bool reuse = conn->hp.msg.keep_alive && conn->in.off == conn->in.len && conn->state == UPC_READY;
	conn->call = NULL;
	c->conn = NULL;
	conn->served++;
	if (reuse) {
		conn->in.off = conn->in.len = 0;
		TAILQ_INSERT_HEAD(&conn->t->idle, conn, link);
		conn->in_idle = true;
		up_conn_idle(conn);
		up_pool_kick(conn->t->pool); /* a waiting call may take it */
	} else {
		up_conn_close(conn);
	}
	up_call_finish(c, UPSTREAM_OK, NULL);
}

static void h1_parse_error(struct up_conn *conn, struct upstream_call *c)
{
	const struct http_parser *hp = &conn->hp;
	char d[160];
	bool big = hp->err == HTTP_PERR_HEAD_TOO_LARGE || hp->err == HTTP_PERR_TOO_MANY_HEADERS ||
		   hp->err == HTTP_PERR_LINE_TOO_LONG;
	snprintf(d, sizeof(d), "invalid HTTP/1.1 response: %s", hp->err_msg != NULL ? hp->err_msg : "parse error");
	detach_close(conn, c);
	up_call_finish(c, big ? UPSTREAM_TOO_LARGE : UPSTREAM_PROTOCOL_ERROR, d);
}

void up_h1_input(struct up_conn *conn)
{
	struct upstream_call *c = conn->call;
	if (c == NULL) {
		/* nothing was asked: bytes on an idle connection are a broken server */
		up_conn_close(conn);
		return;
	}
	c->got_byte = true;
	for (;;) {
		size_t used = 0;
		struct http_slice data = {NULL, 0};
		enum http_parse_status st =
		    http_parse_feed(&conn->hp, conn->in.data + conn->in.off, conn->in.len - conn->in.off, &used, &data);
		conn->in.off += used;
		switch (st) {
		case HTTP_PARSE_AGAIN:
			return;
		case HTTP_PARSE_HEAD:
			if (up_call_head(c, conn->hp.msg.status, conn->hp.msg.hdrs, conn->hp.msg.nhdrs,
					 UPSTREAM_PROTO_H1,
					 conn->hp.msg.body == HTTP_BODY_LENGTH ? conn->hp.msg.content_length : 0) < 0)
				return;
			break;
		case HTTP_PARSE_DATA:
			if (data.n > 0 && up_call_data(c, data.p, data.n) < 0)
				return;
			break;
		case HTTP_PARSE_DONE:
			h1_done(conn, c);
			return;
		case HTTP_PARSE_ERROR:
			h1_parse_error(conn, c);
			return;
		}
	}
}

void up_h1_eof(struct up_conn *conn)
{
	struct upstream_call *c = conn->call;
	enum http_parse_status st = http_parse_eof(&conn->hp);
	if (st == HTTP_PARSE_DONE) {
		h1_done(conn, c); /* a body delimited by the close */
		return;
	}
	up_h1_conn_lost(conn, UPSTREAM_RESET, "connection closed by the provider", true);
}
