/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 for the otlp_http sink (see send_int.h) with nghttp2's callbacks
 * API over the connection's bufferevent: what arrives is fed to
 * nghttp2_session_mem_recv, what nghttp2 wants to send is pulled with
 * nghttp2_session_mem_send into the output buffer, but only while less
 * than SEND_H2_OUT_HIGH is waiting there, so several large payloads never
 * sit copied in memory all at once; the write callback pulls the rest.
 *
 * Each request is one stream with the request as the stream's user data;
 * it is detached (user data NULL) the moment it finishes, times out or is
 * cancelled, so a late frame for it finds nothing and is dropped. nghttp2
 * callbacks never close the connection or free anything: they finish
 * requests (parked for the reap event) and set flags.
 *
 * Streams the server never processed — REFUSED_STREAM, or ours above the
 * last id of a GOAWAY — go back to the waiting queue once and are sent on
 * a new connection. Response bodies are capped at SEND_RESPONSE_MAX: past
 * that the stream is reset and the request dropped (OTLP's rule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/clock.h"
#include "exporter/send_int.h"

struct send_h2 {
	nghttp2_session *ng;
	bool in_io; /* inside nghttp2_session_mem_recv */
};

static struct send_req *h2_req(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

/* Takes r off the session: no frame reaches it any more. */
static void h2_detach(struct send_conn *c, struct send_req *r)
{
	nghttp2_session_set_stream_user_data(c->h2->ng, r->stream_id, NULL);
	send_req_unbind(r);
	send_kick(c->s); /* a stream slot is free */
}

static void h2_complete(struct send_conn *c, struct send_req *r)
{
	if (r->body_sent < r->p->len) /* answered before our body was all sent: stop sending it */
		nghttp2_submit_rst_stream(c->h2->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
	c->served++;
	h2_detach(c, r);
	send_req_response(r);
}

static void h2_fail(struct send_conn *c, struct send_req *r, uint32_t code, const char *why, const char *detail)
{
	nghttp2_submit_rst_stream(c->h2->ng, NGHTTP2_FLAG_NONE, r->stream_id, code);
	h2_detach(c, r);
	send_req_failed(r, why, detail);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------ */

static int h2_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
			const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct send_req *r;
	(void)flags;
	(void)ud;
	if (f->hd.type != NGHTTP2_HEADERS || (r = h2_req(ng, f->hd.stream_id)) == NULL || r->h2_final)
		return 0; /* trailers (after the final head) carry nothing we use */
	r->got_byte = true;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		int st = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = value[i] >= '0' && value[i] <= '9' ? st * 10 + (value[i] - '0') : -1000;
		r->status = valuelen == 3 && st >= 100 ? st : -1;
		return 0;
	}
	send_req_header(r, (const char *)name, namelen, (const char *)value, valuelen);
	return 0;
}

static void h2_on_headers(struct send_conn *c, struct send_req *r, const nghttp2_frame *f)
{
	if (!r->h2_final) {
		if (r->status < 100) {
			h2_fail(c, r, NGHTTP2_PROTOCOL_ERROR, "invalid_response",
				"HTTP/2 response without a valid :status");
			return;
		}
		if (r->status < 200) { /* interim: the final head follows */
			r->status = 0;
			r->has_ctype = r->has_retry_after = false;
			return;
		}
		r->h2_final = true;
	}
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		h2_complete(c, r);
}

static int h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct send_conn *c = ud;
	struct send_req *r;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if ((r = h2_req(ng, f->hd.stream_id)) != NULL)
			h2_on_headers(c, r, f);
		break;
	case NGHTTP2_DATA:
		if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (r = h2_req(ng, f->hd.stream_id)) != NULL) {
			if (!r->h2_final)
				h2_fail(c, r, NGHTTP2_PROTOCOL_ERROR, "invalid_response",
					"HTTP/2 DATA before the response head");
			else
				h2_complete(c, r);
		}
		break;
	case NGHTTP2_GOAWAY:
		c->goaway = true; /* new requests go to a new connection */
		send_kick(c->s);
		break;
	case NGHTTP2_SETTINGS:
		send_kick(c->s); /* the stream limit may have grown */
		break;
	default:
		break;
	}
	return 0;
}

static int h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct send_conn *c = ud;
	struct send_req *r = h2_req(ng, id);
	(void)flags;
	if (r == NULL || len == 0)
		return 0;
	r->got_byte = true;
	if (!r->h2_final) {
		h2_fail(c, r, NGHTTP2_PROTOCOL_ERROR, "invalid_response", "HTTP/2 DATA before the response head");
		return 0;
	}
	if (!send_req_body(r, data, len)) {
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		h2_detach(c, r);
		send_req_response(r); /* too_large: a drop */
	}
	return 0;
}

static int h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct send_conn *c = ud;
	struct send_req *r = h2_req(ng, id);
	char d[96];
	if (r == NULL)
		return 0;
	h2_detach(c, r);
	/* REFUSED_STREAM (also what a GOAWAY makes of our streams above its last id): never processed */
	if ((code == NGHTTP2_REFUSED_STREAM || r->h2_unsent) && !r->requeued && !r->got_byte) {
		r->requeued = true;
		send_req_requeue(r);
		return 0;
	}
	snprintf(d, sizeof(d), "HTTP/2 stream closed (%s) %s", nghttp2_http2_strerror(code),
		 r->got_byte ? "mid-response" : "before the response");
	send_req_failed(r, "stream_reset", d);
	return 0;
}

static int h2_on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *f, int lib_error, void *ud)
{
	struct send_req *r;
	(void)lib_error;
	(void)ud;
	/* our HEADERS never left (GOAWAY arrived first): the server never saw the request */
	if (f->hd.type == NGHTTP2_HEADERS && (r = h2_req(ng, f->hd.stream_id)) != NULL)
		r->h2_unsent = true;
	return 0;
}

static ssize_t h2_body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			    nghttp2_data_source *src, void *ud)
{
	struct send_req *r = h2_req(ng, id);
	(void)src;
	(void)ud;
	if (r == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* detached: nghttp2 resets the stream */
	size_t n = r->p->len - r->body_sent;
	if (n > length)
		n = length;
	memcpy(buf, r->p->data + r->body_sent, n);
	r->body_sent += n;
	if (r->body_sent == r->p->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- session ------------------------------------------------------------------ */

int send_h2_start(struct send_conn *c)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	struct send_h2 *h = calloc(1, sizeof(*h));
	int rc = -1;
	if (h == NULL || nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
		goto out;
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, h2_on_frame_not_send);
	/* until the server's SETTINGS arrive, assume RFC 9113's recommended minimum */
	nghttp2_option_set_peer_max_concurrent_streams(opt, SEND_H2_ASSUMED_STREAMS);
	if (nghttp2_session_client_new2(&h->ng, cbs, c, opt) != 0)
		goto out;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)SEND_H2_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SEND_HEAD_MAX},
	};
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
		goto out;
	c->h2 = h;
	h = NULL;
	rc = 0;
out:
	if (h != NULL) {
		nghttp2_session_del(h->ng);
		free(h);
	}
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rc;
}

void send_h2_free(struct send_conn *c)
{
	if (c->h2 == NULL)
		return;
	nghttp2_session_del(c->h2->ng);
	free(c->h2);
	c->h2 = NULL;
}

bool send_h2_has_room(const struct send_conn *c)
{
	if (c->state != SCONN_READY || c->goaway || c->h2 == NULL)
		return false;
	uint32_t max = nghttp2_session_get_remote_settings(c->h2->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return c->nreqs < max;
}

static void h2_nv(nghttp2_nv *nv, const char *n, const char *v)
{
	nv->name = (uint8_t *)(uintptr_t)n;
	nv->namelen = strlen(n);
	nv->value = (uint8_t *)(uintptr_t)v;
	nv->valuelen = strlen(v);
	nv->flags = NGHTTP2_NV_FLAG_NONE;
}

int send_h2_dispatch(struct send_conn *c, struct send_req *r)
{
	const struct ex_conf *conf = c->s->conf;
	const struct payload *p = r->p;
	size_t n = 0, cap = conf->headers.n + 8;
	char clen[24];
	nghttp2_nv *nv = calloc(cap, sizeof(*nv)); /* nghttp2 copies the header block on submit */
	if (nv == NULL)
		return -1;
	snprintf(clen, sizeof(clen), "%zu", p->len);
	h2_nv(&nv[n++], ":method", "POST");
	h2_nv(&nv[n++], ":scheme", "https");
	h2_nv(&nv[n++], ":authority", conf->endpoint.http.authority);
	h2_nv(&nv[n++], ":path", conf->endpoint.target);
	h2_nv(&nv[n++], "content-type", (p->flags & PAYLOAD_F_JSON) ? "application/json" : "application/x-protobuf");
	if (p->flags & PAYLOAD_F_GZIP)
		h2_nv(&nv[n++], "content-encoding", "gzip");
	h2_nv(&nv[n++], "content-length", clen);
	if (kvlist_get(&conf->headers, "User-Agent", true) == NULL)
		h2_nv(&nv[n++], "user-agent", c->s->user_agent);
	for (size_t i = 0; i < conf->headers.n; i++) /* validated at load; names lower-cased at create */
		h2_nv(&nv[n++], c->s->h2_names[i], conf->headers.items[i].value);
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = h2_body_read};
	r->body_sent = 0;
	int32_t id = nghttp2_submit_request(c->h2->ng, NULL, nv, n, p->len > 0 ? &prd : NULL, r);
	free(nv);
	if (id < 0)
		return -1;
	r->stream_id = id;
	return 0;
}

void send_h2_flush(struct send_conn *c)
{
	struct send_h2 *h = c->h2;
	if (h == NULL || c->state != SCONN_READY || h->in_io)
		return; /* input handling flushes once nghttp2 returns */
	struct evbuffer *out = bufferevent_get_output(c->bev);
	while (evbuffer_get_length(out) < SEND_H2_OUT_HIGH) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->ng, &d);
		if (n < 0) {
			send_conn_close(c, "protocol_error", nghttp2_strerror((int)n), false);
			return;
		}
		if (n == 0)
			break;
		if (bufferevent_write(c->bev, d, (size_t)n) != 0) {
			send_conn_close(c, "connection_reset", "out of memory writing to the connection", false);
			return;
		}
	}
	/* after a GOAWAY with no stream left (or a fatal error), nghttp2 is done with the connection */
	if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng) && evbuffer_get_length(out) == 0)
		send_conn_close(c, "connection_closed", "HTTP/2 session ended", false);
}

void send_h2_input(struct send_conn *c)
{
	struct send_h2 *h = c->h2;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	char d[120];
	size_t n;
	while ((n = evbuffer_get_contiguous_space(in)) > 0) {
		const uint8_t *data = evbuffer_pullup(in, (ssize_t)n);
		h->in_io = true;
		ssize_t r = nghttp2_session_mem_recv(h->ng, data, n);
		h->in_io = false;
		if (r < 0) {
			snprintf(d, sizeof(d), "HTTP/2 session error: %s", nghttp2_strerror((int)r));
			send_conn_close(c, "protocol_error", d, false);
			return;
		}
		evbuffer_drain(in, n);
	}
	send_h2_flush(c);
}

void send_h2_abort(struct send_conn *c, struct send_req *r)
{
	nghttp2_submit_rst_stream(c->h2->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
	h2_detach(c, r);
}
