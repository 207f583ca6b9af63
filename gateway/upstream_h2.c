/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 on one upstream connection with nghttp2's callbacks API and our
 * own I/O: bytes read by the transport go to nghttp2_session_mem_recv,
 * frames nghttp2 wants to send are batched with nghttp2_session_mem_send
 * into the connection's output buffer and written once.
 *
 * Each call is one stream; the call is the stream's user data, and it is
 * detached (user data NULL) the moment it finishes, is cancelled or times
 * out, so a late frame for it finds nothing and is dropped. Nothing here
 * frees anything or writes to the socket while nghttp2 is calling us
 * (in_io): writes are flushed after mem_recv returns.
 *
 * Flow control: a 16 MiB connection window and 4 MiB per stream with
 * nghttp2's automatic WINDOW_UPDATEs, so a fast SSE stream is never
 * throttled by the defaults (64 KiB). GOAWAY: streams above the last id
 * come back from nghttp2 as REFUSED_STREAM (not processed) and are retried
 * once on a new session; the session takes no new streams and closes when
 * its last one ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/clock.h"
#include "gateway/upstream_int.h"

struct up_h2 {
	nghttp2_session *s;
	bool in_io;	 /* inside nghttp2_session_mem_recv */
	bool want_flush; /* frames queued while in_io (or by dispatch) */
	nghttp2_nv *nv;	 /* request header scratch */
	size_t nv_cap;
};

/* ---- helpers ------------------------------------------------------------------ */

static struct upstream_call *stream_call(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

/* Takes c off the session: no frame reaches it any more. */
static void h2_detach(struct up_conn *conn, struct upstream_call *c)
{
	nghttp2_session_set_stream_user_data(conn->h2->s, c->stream_id, NULL);
	TAILQ_REMOVE(&conn->streams, c, link);
	conn->nstreams--;
	c->conn = NULL;
	if (conn->nstreams == 0)
		up_conn_idle(conn);
	up_pool_kick(conn->t->pool); /* a stream slot is free */
}

static void h2_close_if_done(struct up_conn *conn)
{
	if (conn->state != UPC_READY || conn->h2 == NULL || conn->h2->in_io)
		return;
	if ((conn->goaway && conn->nstreams == 0) ||
	    (!nghttp2_session_want_read(conn->h2->s) && !nghttp2_session_want_write(conn->h2->s)))
		up_conn_close(conn);
}

void up_h2_flush(struct up_conn *conn)
{
	struct up_h2 *h = conn->h2;
	if (h == NULL || conn->state != UPC_READY)
		return;
	if (h->in_io) {
		h->want_flush = true;
		return;
	}
	h->want_flush = false;
	for (;;) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->s, &d);
		if (n < 0) {
			up_conn_defer_error(conn, EPROTO);
			return;
		}
		if (n == 0)
			break;
		up_conn_queue(conn, d, (size_t)n);
	}
	up_conn_flush(conn);
	h2_close_if_done(conn);
}

/* ---- nghttp2 callbacks -------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct upstream_call *c;
	(void)ud;
	if (f->hd.type != NGHTTP2_HEADERS || (c = stream_call(s, f->hd.stream_id)) == NULL)
		return 0;
	if (c->res.status == 0) {
		/* a new head (the first, or the final one after a 1xx) */
		c->nrhdrs = 0;
		c->h2_status = 0;
		buf_reset(&c->rhead);
	}
	return 0;
}

static int parse_status(const uint8_t *v, size_t n)
{
	if (n != 3)
		return -1;
	int s = 0;
	for (size_t i = 0; i < 3; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		s = s * 10 + (v[i] - '0');
	}
	return s >= 100 ? s : -1;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct upstream_call *c;
	(void)flags;
	(void)ud;
	if (f->hd.type != NGHTTP2_HEADERS || (c = stream_call(s, f->hd.stream_id)) == NULL)
		return 0;
	if (c->res.status != 0)
		return 0; /* trailers: nothing we use */
	if (namelen > 0 && name[0] == ':') {
		if (namelen == 7 && memcmp(name, ":status", 7) == 0)
			c->h2_status = parse_status(value, valuelen);
		return 0;
	}
	if (c->nrhdrs == c->rhdr_cap) {
		size_t cap = c->rhdr_cap > 0 ? c->rhdr_cap * 2 : 16;
		size_t *o = cap <= UPSTREAM_MAX_RESP_HEADERS ? realloc(c->rhdr_off, cap * 4 * sizeof(*o)) : NULL;
		if (o == NULL) {
			c->h2_fail = UPSTREAM_TOO_LARGE; /* too many header fields */
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		c->rhdr_off = o;
		c->rhdr_cap = cap;
	}
	size_t at = c->rhead.len;
	if (buf_append(&c->rhead, name, namelen) < 0 || buf_append(&c->rhead, value, valuelen) < 0) {
		c->h2_fail = UPSTREAM_TOO_LARGE;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	size_t *o = &c->rhdr_off[c->nrhdrs * 4];
	o[0] = at;
	o[1] = namelen;
	o[2] = at + namelen;
	o[3] = valuelen;
	c->nrhdrs++;
	return 0;
}

/* Builds the slice array for the head collected in c->rhead. */
static int head_slices(struct upstream_call *c)
{
	free(c->rhdrs);
	c->rhdrs = calloc(c->nrhdrs > 0 ? c->nrhdrs : 1, sizeof(*c->rhdrs));
	if (c->rhdrs == NULL)
		return -1;
	for (size_t i = 0; i < c->nrhdrs; i++) {
		const size_t *o = &c->rhdr_off[i * 4];
		c->rhdrs[i].name = c->rhead.data + o[0];
		c->rhdrs[i].name_len = o[1];
		c->rhdrs[i].value = c->rhead.data + o[2];
		c->rhdrs[i].value_len = o[3];
	}
	return 0;
}

static void stream_complete(struct up_conn *conn, struct upstream_call *c)
{
	if (c->body_sent < c->body_len) /* answered before our body was all sent: stop sending it */
		nghttp2_submit_rst_stream(conn->h2->s, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
	conn->served++;
	h2_detach(conn, c);
	up_call_finish(c, UPSTREAM_OK, NULL);
}

/* Ends a stream with an error of ours (bad head): RST and finish. */
static void stream_fail(struct up_conn *conn, struct upstream_call *c, enum upstream_outcome o, const char *detail)
{
	nghttp2_submit_rst_stream(conn->h2->s, NGHTTP2_FLAG_NONE, c->stream_id,
				  o == UPSTREAM_PROTOCOL_ERROR ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_CANCEL);
	h2_detach(conn, c);
	up_call_finish(c, o, detail);
}

static void on_headers_frame(struct up_conn *conn, struct upstream_call *c, const nghttp2_frame *f)
{
	if (c->res.status == 0) {
		if (c->h2_status >= 100 && c->h2_status < 200)
			return; /* interim response: the final head follows */
		if (c->h2_status < 200) {
			stream_fail(conn, c, UPSTREAM_PROTOCOL_ERROR, "HTTP/2 response without a valid :status");
			return;
		}
		if (head_slices(c) < 0) {
			stream_fail(conn, c, UPSTREAM_TOO_LARGE, "out of memory keeping the response headers");
			return;
		}
		if (up_call_head(c, c->h2_status, c->rhdrs, c->nrhdrs, UPSTREAM_PROTO_H2, 0) < 0)
			return;
	}
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		stream_complete(conn, c);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct up_conn *conn = ud;
	struct upstream_call *c;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if ((c = stream_call(s, f->hd.stream_id)) != NULL) {
			c->got_byte = true;
			on_headers_frame(conn, c, f);
		}
		break;
	case NGHTTP2_DATA:
		if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (c = stream_call(s, f->hd.stream_id)) != NULL) {
			if (c->res.status == 0)
				stream_fail(conn, c, UPSTREAM_PROTOCOL_ERROR, "HTTP/2 DATA before the response head");
			else
				stream_complete(conn, c);
		}
		break;
	case NGHTTP2_GOAWAY:
		conn->goaway = true;
		up_pool_kick(conn->t->pool); /* new calls go to a new session */
		break;
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
			/* new sessions to this provider start from what it says now */
			uint32_t m = nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
			conn->t->h2_limit = m < 1 ? 1 : m > UP_H2_MAX_STREAMS ? UP_H2_MAX_STREAMS : m;
		}
		up_pool_kick(conn->t->pool); /* the stream limit may have grown */
		break;
	default:
		break;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct upstream_call *c = stream_call(s, id);
	(void)flags;
	(void)ud;
	if (c == NULL || len == 0)
		return 0;
	c->got_byte = true;
	if (c->res.status == 0) {
		c->h2_fail = UPSTREAM_PROTOCOL_ERROR;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* closes the stream; reported at close */
	}
	up_call_data(c, (const char *)data, len);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct up_conn *conn = ud;
	struct upstream_call *c = stream_call(s, id);
	char d[160];
	if (c == NULL)
		return 0;
	h2_detach(conn, c);
	if (c->h2_fail != 0) {
		up_call_finish(c, (enum upstream_outcome)c->h2_fail,
			       c->h2_fail == UPSTREAM_TOO_LARGE ? "HTTP/2 response head too large"
								: "HTTP/2 DATA before the response head");
		return 0;
	}
	/* REFUSED_STREAM (also what a GOAWAY makes of streams above its last id): never processed */
	if ((code == NGHTTP2_REFUSED_STREAM || c->h2_unsent) && !c->res.retried && c->res.status == 0) {
		up_call_retry(c);
		return 0;
	}
	const char *when = c->res.status != 0 ? "mid-body" : "before the response head";
	if (code == NGHTTP2_NO_ERROR)
		snprintf(d, sizeof(d), "HTTP/2 stream closed %s", when);
	else
		snprintf(d, sizeof(d), "HTTP/2 stream reset (%s) %s", nghttp2_http2_strerror(code), when);
	up_call_finish(c, code == NGHTTP2_PROTOCOL_ERROR ? UPSTREAM_PROTOCOL_ERROR : UPSTREAM_RESET, d);
	return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud)
{
	struct upstream_call *c;
	(void)lib_error;
	(void)ud;
	/* our HEADERS never left (GOAWAY arrived first): the request was not seen, retry is safe */
	if (f->hd.type == NGHTTP2_HEADERS && (c = stream_call(s, f->hd.stream_id)) != NULL)
		c->h2_unsent = true;
	return 0;
}

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct upstream_call *c = stream_call(s, id);
	(void)src;
	(void)ud;
	if (c == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = c->body_len - c->body_sent;
	if (n > length)
		n = length;
	memcpy(buf, c->body + c->body_sent, n);
	c->body_sent += n;
	if (c->body_sent == c->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- session ------------------------------------------------------------------ */

int up_h2_start(struct up_conn *conn)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	struct up_h2 *h = calloc(1, sizeof(*h));
	int rc = -1;
	if (h == NULL || nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
		goto out;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	/*
	 * Until this session's SETTINGS arrive assume what the provider said
	 * last (first time: 100, what RFC 9113 recommends as a minimum).
	 */
	nghttp2_option_set_peer_max_concurrent_streams(opt, conn->t->h2_limit);
	if (nghttp2_session_client_new2(&h->s, cbs, conn, opt) != 0)
		goto out;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)UP_H2_STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, UP_H2_MAX_HEADER_LIST},
	};
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, UP_H2_CONN_WINDOW) != 0)
		goto out;
	conn->h2 = h;
	h = NULL;
	rc = 0;
	up_h2_flush(conn); /* preface, SETTINGS, WINDOW_UPDATE */
out:
	if (h != NULL) {
		nghttp2_session_del(h->s);
		free(h);
	}
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rc;
}

void up_h2_free(struct up_conn *conn)
{
	if (conn->h2 == NULL)
		return;
	nghttp2_session_del(conn->h2->s);
	free(conn->h2->nv);
	free(conn->h2);
	conn->h2 = NULL;
}

bool up_h2_has_room(const struct up_conn *conn)
{
	if (conn->state != UPC_READY || conn->goaway || conn->h2 == NULL)
		return false;
	uint32_t max = nghttp2_session_get_remote_settings(conn->h2->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	if (max > UP_H2_MAX_STREAMS)
		max = UP_H2_MAX_STREAMS;
	return conn->nstreams < max;
}

static void nv_set(nghttp2_nv *nv, const char *n, size_t nl, const char *v, size_t vl)
{
	nv->name = (uint8_t *)n;
	nv->namelen = nl;
	nv->value = (uint8_t *)v;
	nv->valuelen = vl;
	nv->flags = NGHTTP2_NV_FLAG_NONE;
}

int up_h2_dispatch(struct up_conn *conn, struct upstream_call *c)
{
	struct up_h2 *h = conn->h2;
	const struct gw_provider *pr = conn->t->prov;
	size_t n = 0, need = c->nqhdrs + 5;
	char clen[24];
	if (h->nv_cap < need) {
		nghttp2_nv *nv = realloc(h->nv, need * sizeof(*nv));
		if (nv == NULL)
			return -1;
		h->nv = nv;
		h->nv_cap = need;
	}
	const char *scheme = pr->url.tls ? "https" : "http";
	nv_set(&h->nv[n++], ":method", 7, c->method, strlen(c->method));
	nv_set(&h->nv[n++], ":scheme", 7, scheme, strlen(scheme));
	nv_set(&h->nv[n++], ":authority", 10, pr->url.authority, strlen(pr->url.authority));
	nv_set(&h->nv[n++], ":path", 5, c->path, strlen(c->path));
	for (size_t i = 0; i < c->nqhdrs; i++) /* already lower case, hop-by-hop removed */
		nv_set(&h->nv[n++], c->qhdrs[i].name, c->qhdrs[i].name_len, c->qhdrs[i].value, c->qhdrs[i].value_len);
	if (c->body_len > 0 || strcmp(c->method, "GET") != 0) {
		int l = snprintf(clen, sizeof(clen), "%zu", c->body_len);
		nv_set(&h->nv[n++], "content-length", 14, clen, (size_t)l);
	}
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = body_read};
	c->body_sent = 0;
	int32_t id = nghttp2_submit_request(h->s, NULL, h->nv, n, c->body_len > 0 ? &prd : NULL, c);
	if (id < 0)
		return -1;
	c->stream_id = id;
	c->conn = conn;
	TAILQ_INSERT_TAIL(&conn->streams, c, link);
	conn->nstreams++;
	h->want_flush = true; /* the pump flushes once after placing every call */
	return 0;
}

void up_h2_input(struct up_conn *conn)
{
	struct up_h2 *h = conn->h2;
	char d[160];
	h->in_io = true;
	ssize_t r =
	    nghttp2_session_mem_recv(h->s, (const uint8_t *)conn->in.data + conn->in.off, conn->in.len - conn->in.off);
	h->in_io = false;
	conn->in.off = conn->in.len = 0;
	if (conn->state != UPC_READY)
		return;
	if (r < 0) {
		snprintf(d, sizeof(d), "HTTP/2 session error: %s", nghttp2_strerror((int)r));
		up_conn_fail(conn, UPSTREAM_PROTOCOL_ERROR, d, false);
		return;
	}
	up_h2_flush(conn);
}

void up_h2_abort(struct up_conn *conn, struct upstream_call *c)
{
	nghttp2_submit_rst_stream(conn->h2->s, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
	h2_detach(conn, c);
	up_h2_flush(conn);
}

void up_h2_shutdown(struct up_conn *conn)
{
	if (conn->h2 == NULL)
		return;
	nghttp2_session_terminate_session(conn->h2->s, NGHTTP2_NO_ERROR);
	conn->goaway = true;
	up_h2_flush(conn);
}

void up_h2_conn_lost(struct up_conn *conn, enum upstream_outcome o, const char *detail, bool eof_or_reset)
{
	struct upstream_call *c;
	char d[160];
	while ((c = TAILQ_FIRST(&conn->streams)) != NULL) {
		TAILQ_REMOVE(&conn->streams, c, link);
		conn->nstreams--;
		c->conn = NULL;
		if (conn->h2 != NULL)
			nghttp2_session_set_stream_user_data(conn->h2->s, c->stream_id, NULL);
		if (eof_or_reset && !c->got_byte && c->on_idle_conn && !c->res.retried) {
			up_call_retry(c);
			continue;
		}
		if (o == UPSTREAM_RESET)
			snprintf(d, sizeof(d), "%s %s", detail,
				 c->res.status != 0 ? "mid-body" : "before the response head");
		else
			snprintf(d, sizeof(d), "%s", detail);
		up_call_finish(c, o, d);
	}
}
