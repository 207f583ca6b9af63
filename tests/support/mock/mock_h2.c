/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 for llmgw-mock: an nghttp2 server session over a bufferevent,
 * driven with mem_recv / mem_send (our own I/O, no nghttp2 sockets).
 *
 * Each stream carries one struct mock_req, dispatched to the router when
 * the request's END_STREAM arrives. Answers are queued per stream in an
 * evbuffer that nghttp2 pulls through a data provider; a stream waiting for
 * its next SSE event returns NGHTTP2_ERR_DEFERRED and is resumed when the
 * handler writes again. nghttp2 must not be re-entered from its own
 * callbacks, so while it runs (in_ng) answers only queue and the caller
 * flushes afterwards. A stream closed before its answer was complete
 * (RST_STREAM from the client, or the connection dropping) is reported to
 * the request as the client leaving.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "tests/support/mock/mock_conn.h"
#include "tests/support/mock/mock_h2.h"
#include "tests/support/mock/mock_req.h"

#define H2_OUT_HIGH (256 * 1024) /* stop producing frames while this much is unsent */
#define H2_MAX_STREAMS 256
#define H2_MAX_HEADERS 64 /* response headers a handler may add */

struct h2s {
	struct h2s *next;
	struct h2s **pprev;
	struct h2 *c;
	int32_t id;
	struct mock_req *req; /* NULL once detached */
	struct evbuffer *out; /* answer bytes nghttp2 has not pulled yet */
	bool eof;	      /* the answer is complete once out is empty */
	bool deferred;	      /* the data provider is parked (NGHTTP2_ERR_DEFERRED) */
	bool dispatched;
	bool too_big;
	bool rst; /* reset once out is drained (what was written still reaches the client) */
};

struct h2 {
	struct mock_conn base;
	struct mock *m;
	struct bufferevent *bev;
	nghttp2_session *ng;
	struct h2s *streams;
	bool tls;
	bool dead;
	bool in_ng; /* inside nghttp2 (its callbacks may not re-enter it) */
};

static void h2_flush(struct h2 *c);

static void stream_unlink_free(struct h2s *s)
{
	*s->pprev = s->next;
	if (s->next != NULL)
		s->next->pprev = s->pprev;
	evbuffer_free(s->out);
	free(s);
}

static void h2_free(struct mock_reap *self)
{
	struct h2 *c = (struct h2 *)self;
	/* nghttp2_session_del calls no stream callbacks: our stream records are freed here. */
	nghttp2_session_del(c->ng);
	while (c->streams != NULL)
		stream_unlink_free(c->streams);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

static void h2_close(struct h2 *c, bool client_left)
{
	if (c->dead)
		return;
	c->dead = true;
	for (struct h2s *s = c->streams; s != NULL; s = s->next) {
		if (s->req != NULL)
			mock_req_detach(s->req, client_left);
		s->req = NULL;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	mock_conn_defer_free(c->m, &c->base);
}

static void h2_shutdown(struct mock_conn *self)
{
	h2_close((struct h2 *)self, true);
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct h2s *s = src->ptr;
	(void)ng;
	(void)id;
	(void)ud;
	int n = evbuffer_remove(s->out, buf, len);
	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (n == 0 && s->rst)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nghttp2 answers with RST_STREAM(INTERNAL_ERROR) */
	if (n == 0 && !s->eof) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (s->eof && evbuffer_get_length(s->out) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

static bool hop_by_hop(const char *name)
{
	static const char *const hop[] = {"connection", "transfer-encoding", "keep-alive", "upgrade",
					  "proxy-connection"};
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcmp(name, hop[i]) == 0)
			return true;
	return false;
}

static int h2_head(struct mock_req *r, int status, long len)
{
	struct h2s *s = r->conn;
	struct h2 *c = s->c;
	nghttp2_nv nva[H2_MAX_HEADERS + 2];
	char names[H2_MAX_HEADERS][64], st[8], cl[24];
	size_t n = 0;
	struct evkeyval *kv;
	snprintf(st, sizeof(st), "%d", status);
	nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE};
	for (kv = r->out_headers.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		size_t nl = strlen(kv->key);
		if (n > H2_MAX_HEADERS || nl >= sizeof(names[0]))
			continue;
		char *lc = names[n - 1];
		for (size_t i = 0; i <= nl; i++)
			lc[i] = (char)tolower((unsigned char)kv->key[i]);
		if (hop_by_hop(lc))
			continue;
		nva[n++] =
		    (nghttp2_nv){(uint8_t *)lc, (uint8_t *)kv->value, nl, strlen(kv->value), NGHTTP2_NV_FLAG_NONE};
	}
	if (len >= 0) {
		snprintf(cl, sizeof(cl), "%ld", len);
		nva[n++] =
		    (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)cl, 14, strlen(cl), NGHTTP2_NV_FLAG_NONE};
	}
	nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = data_read};
	bool nobody = strcmp(r->method, "HEAD") == 0;
	if (nobody)
		s->eof = true;
	if (nghttp2_submit_response(c->ng, s->id, nva, n, nobody ? NULL : &prd) != 0)
		return -1;
	h2_flush(c);
	return 0;
}

/* Wakes the stream's data provider if it is parked, then sends. Touches nothing of s afterwards. */
static void stream_kick(struct h2s *s)
{
	struct h2 *c = s->c;
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(c->ng, s->id);
	}
	h2_flush(c);
}

static int h2_body(struct mock_req *r, const void *p, size_t n)
{
	struct h2s *s = r->conn;
	if (s->eof || evbuffer_add(s->out, p, n) != 0)
		return -1;
	stream_kick(s);
	return 0;
}

static void h2_end(struct mock_req *r)
{
	struct h2s *s = r->conn;
	s->eof = true;
	stream_kick(s);
}

/*
 * RST_STREAM(INTERNAL_ERROR) after the data already queued: a RST submitted
 * directly would overtake queued DATA frames, so the data provider reports
 * the failure once it has handed out everything (nghttp2 then resets the
 * stream itself). Without a response head there is no data: reset at once.
 */
static void h2_reset(struct mock_req *r)
{
	struct h2s *s = r->conn;
	struct h2 *c = s->c;
	if (!r->head_sent) {
		nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
		h2_flush(c);
		return;
	}
	s->rst = true;
	stream_kick(s);
}

static size_t h2_pending(struct mock_req *r)
{
	struct h2s *s = r->conn;
	return evbuffer_get_length(s->out);
}

/* No raw bytes or half-close on HTTP/2: x-mock-fault modes that need them are refused before. */
static const struct mock_req_ops h2_ops = {
    .head = h2_head,
    .body = h2_body,
    .end = h2_end,
    .reset = h2_reset,
    .pending = h2_pending,
};

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2 *c = ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2s *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->out = evbuffer_new();
	s->req = s->out != NULL ? mock_req_new(c->m, &h2_ops, s) : NULL;
	if (s->req == NULL) {
		if (s->out != NULL)
			evbuffer_free(s->out);
		free(s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	s->c = c;
	s->id = frame->hd.stream_id;
	s->req->http_version = "2";
	s->req->tls = c->tls;
	s->next = c->streams;
	s->pprev = &c->streams;
	if (c->streams != NULL)
		c->streams->pprev = &s->next;
	c->streams = s;
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	(void)flags;
	(void)ud;
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (s == NULL || s->req == NULL || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct mock_req *r = s->req;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		if (valuelen >= sizeof(r->method))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		memcpy(r->method, value, valuelen);
		r->method[valuelen] = '\0';
		return 0;
	}
	if (namelen == 5 && memcmp(name, ":path", 5) == 0)
		return mock_req_set_target(r, (const char *)value, valuelen) == 0
			   ? 0
			   : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (namelen > 0 && name[0] == ':' && !(namelen == 10 && memcmp(name, ":authority", 10) == 0))
		return 0; /* :scheme */
	/* :authority is HTTP/1.1's Host: record it under that name so tests read one field. */
	char *n = name[0] == ':' ? strdup("host") : strndup((const char *)name, namelen);
	char *v = strndup((const char *)value, valuelen);
	int rc = n != NULL && v != NULL ? evhttp_add_header(&r->in_headers, n, v) : -1;
	free(n);
	free(v);
	return rc == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	(void)flags;
	(void)ud;
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, id);
	if (s == NULL || s->req == NULL || s->too_big)
		return 0;
	if (evbuffer_get_length(s->req->body) + len > MOCK_MAX_BODY)
		s->too_big = true; /* answered 413 at END_STREAM */
	else if (evbuffer_add(s->req->body, data, len) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2 *c = ud;
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (s == NULL || s->req == NULL || s->dispatched)
		return 0;
	s->dispatched = true;
	if (s->req->path == NULL || s->req->method[0] == '\0') {
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	if (s->too_big) {
		c->m->stats.bad_requests++;
		struct evbuffer *b = evbuffer_new();
		if (b != NULL) {
			evbuffer_add_printf(b, "{\"error\":{\"message\":\"request body too large\",\"type\":"
					       "\"invalid_request_error\",\"code\":null,\"param\":null}}\n");
			mock_req_respond(s->req, 413, "application/json", b);
		}
		return 0;
	}
	c->m->handle(c->m, s->req);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
	(void)error_code;
	(void)ud;
	struct h2s *s = nghttp2_session_get_stream_user_data(ng, id);
	if (s == NULL)
		return 0;
	if (s->req != NULL)
		mock_req_detach(s->req, !s->req->done);
	s->req = NULL;
	stream_unlink_free(s);
	return 0;
}

static void h2_flush(struct h2 *c)
{
	if (c->dead || c->in_ng)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	c->in_ng = true;
	while (evbuffer_get_length(out) < H2_OUT_HIGH) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(c->ng, &d);
		if (n < 0) {
			c->in_ng = false;
			log_msg(LOG_LVL_WARN, "h2_send_failed", "err=\"%s\"", nghttp2_strerror((int)n));
			h2_close(c, true);
			return;
		}
		if (n == 0)
			break;
		evbuffer_add(out, d, (size_t)n);
	}
	c->in_ng = false;
	if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) && evbuffer_get_length(out) == 0)
		h2_close(c, false);
}

static void h2_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2 *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	if (c->dead || len == 0)
		return;
	const uint8_t *p = evbuffer_pullup(in, -1);
	c->in_ng = true;
	ssize_t n = nghttp2_session_mem_recv(c->ng, p, len);
	c->in_ng = false;
	if (n < 0) {
		log_msg(LOG_LVL_INFO, "h2_protocol_error", "err=\"%s\"", nghttp2_strerror((int)n));
		h2_close(c, true);
		return;
	}
	evbuffer_drain(in, (size_t)n);
	h2_flush(c);
}

static void h2_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h2_flush(arg);
}

static void h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	h2_close(arg, true);
}

static nghttp2_session *session_new(struct h2 *c)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *ng = NULL;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	int rc = nghttp2_session_server_new(&ng, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0)
		return NULL;
	nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS}};
	if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 1) != 0) {
		nghttp2_session_del(ng);
		return NULL;
	}
	return ng;
}

int mock_h2_start(struct mock *m, struct bufferevent *bev, bool tls)
{
	struct h2 *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->ng = session_new(c);
	if (c->ng == NULL) {
		free(c);
		return -1;
	}
	c->base.reap.free = h2_free;
	c->base.close = h2_shutdown;
	c->m = m;
	c->bev = bev;
	c->tls = tls;
	mock_conn_register(m, &c->base);
	bufferevent_setcb(bev, h2_read_cb, h2_write_cb, h2_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		h2_read_cb(bev, c);
	else
		h2_flush(c);
	return 0;
}
