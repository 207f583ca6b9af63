/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's HTTP server on top of gateway/http_conn: the listening
 * socket and the connection limit, the static route table (404 and 405
 * decided here, uniformly, with OpenAI-shaped bodies and an Allow header),
 * the request object handlers work with, and the single place every
 * request ends (req_account): x-request-id, metrics, SERVER span, access
 * log. Protocol errors found before routing (400/408/413/414/417/431/
 * 501/505) go through the same path, so they are counted too and, when
 * the request head could be read, traced.
 *
 * Header and body accessors are zero-copy: http_conn NUL-terminates the
 * slices in place in its read buffer, which stays put until r finishes.
 */
#include "gateway/http_srv.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/spanrec.h"
#include "gateway/api.h"
#include "gateway/api_call.h"
#include "gateway/api_gov.h"
#include "gateway/auth.h"
#include "gateway/gw_gen.h"
#include "gateway/gw_usage.h"
#include "gateway/chat_stream.h"
#include "gateway/mcp.h"
#include "gateway/req_hdr.h"
#include "gateway/upstream.h"

typedef void (*http_handler_cb)(struct gw_req *r);

#define M(x) (1u << (x))

struct http_route {
	const char *path;
	unsigned methods; /* M(HTTP_METHOD_*) mask */
	const char *allow;
	enum spanrec_op op;
	bool api; /* counted, traced, needs the key check */
	http_handler_cb handler;
};

static void h_healthz(struct gw_req *r);
static void h_readyz(struct gw_req *r);
static void h_metrics(struct gw_req *r);

static const struct http_route routes[] = {
    {"/v1/chat/completions", M(HTTP_METHOD_POST), "POST", SPANREC_OP_CHAT, true, api_chat_handle},
    {"/v1/completions", M(HTTP_METHOD_POST), "POST", SPANREC_OP_TEXT_COMPLETION, true, api_completions_handle},
    {"/v1/embeddings", M(HTTP_METHOD_POST), "POST", SPANREC_OP_EMBEDDINGS, true, api_embed_handle},
    {"/v1/models", M(HTTP_METHOD_GET) | M(HTTP_METHOD_HEAD), "GET, HEAD", SPANREC_OP_MODELS, true, api_models_handle},
    {"/healthz", M(HTTP_METHOD_GET) | M(HTTP_METHOD_HEAD), "GET, HEAD", SPANREC_OP_NONE, false, h_healthz},
    {"/readyz", M(HTTP_METHOD_GET) | M(HTTP_METHOD_HEAD), "GET, HEAD", SPANREC_OP_NONE, false, h_readyz},
    {"/metrics", M(HTTP_METHOD_GET) | M(HTTP_METHOD_HEAD), "GET, HEAD", SPANREC_OP_NONE, false, h_metrics},
};

/* /mcp/{server}: the one prefix route (gateway/mcp.h) */
static const struct http_route mcp_route = {"/mcp/{server}",
					    M(HTTP_METHOD_POST) | M(HTTP_METHOD_GET) | M(HTTP_METHOD_DELETE),
					    "GET, POST, DELETE",
					    SPANREC_OP_MCP,
					    true,
					    mcp_handle};

/* ---- accessors ------------------------------------------------------------------------- */

const char *http_srv_header(const struct gw_req *r, const char *name)
{
	const struct http_hdr *h = r->msg != NULL ? http_parse_header(r->msg, name) : NULL;
	return h != NULL ? h->value : NULL;
}

void http_srv_headers_each(const struct gw_req *r, http_srv_header_cb cb, void *arg)
{
	if (r->msg == NULL)
		return;
	for (size_t i = 0; i < r->msg->nhdrs; i++)
		cb(r->msg->hdrs[i].name, r->msg->hdrs[i].value, arg);
}

const struct http_hdr *http_srv_headers(const struct gw_req *r, size_t *n)
{
	*n = r->msg != NULL ? r->msg->nhdrs : 0;
	return r->msg != NULL ? r->msg->hdrs : NULL;
}

const char *http_srv_body(const struct gw_req *r, size_t *len)
{
	*len = 0;
	if (r->conn == NULL || r->msg == NULL)
		return NULL;
	return http_conn_body(r->conn, len);
}

const char *http_srv_path(const struct gw_req *r)
{
	return r->path != NULL ? r->path : "";
}

const char *http_srv_query(const struct gw_req *r)
{
	return r->query;
}

enum http_method http_srv_method(const struct gw_req *r)
{
	return r->msg != NULL ? r->msg->method : HTTP_METHOD_OTHER;
}

bool http_srv_client_gone(const struct gw_req *r)
{
	return r->gone || r->conn == NULL || http_conn_gone(r->conn);
}

void http_srv_on_client_close(struct gw_req *r, http_srv_close_cb cb, void *arg)
{
	r->on_close = cb;
	r->on_close_arg = arg;
}

/* ---- finishing a request ------------------------------------------------------------------- */

static void access_log(const struct gw_req *r, double secs)
{
	char qpath[160], qmodel[160];
	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	log_msg(LOG_LVL_DEBUG, "request",
		"request_id=%s method=%s path=%s status=%u duration_ms=%.2f model=%s key=%s worker=%u",
		r->span.request_id, r->span.method, log_quote(http_srv_path(r), qpath, sizeof(qpath)),
		(unsigned)r->span.http_status, secs * 1e3, log_quote(r->span.request_model, qmodel, sizeof(qmodel)),
		r->span.ident != NULL ? r->span.ident->key_name : "-", r->w->id);
}

/* Everything a finished request owes: status on the span, metrics, span, log; unlinks r. */
static void req_account(struct gw_req *r, int status)
{
	struct gw_worker *w = r->w;
	struct gw *g = w->gw;
	double secs = (double)(clock_mono_ns() - r->start_mono_ns) / 1e9;

	if (status == 499) {
		snprintf(r->span.error_type, sizeof(r->span.error_type), "%s",
			 oai_err_def(GWE_CLIENT_CLOSED)->span_type);
		metric_inc(g->metrics.errors[GWE_CLIENT_CLOSED]);
	}
	r->span.http_status = (uint16_t)status;
	r->span.end_ns = clock_wall_ns();
	access_log(r, secs);
	if (r->api) {
		gw_metrics_request(&g->metrics, status, secs);
		api_gov_account(r, status);
		metric_gauge_add(g->metrics.in_flight, -1);
		if (!r->no_span) {
			span_emit_build_server(span_batch_slot(&w->spans), &r->span);
			span_batch_commit(&w->spans);
		}
	}
	mcp_req_end(r, status); /* MCP requests: their own span and metrics */
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	api_call_fini(r);
	TAILQ_REMOVE(&w->reqs, r, link);
	w->nreqs--;
}

static void req_free(struct gw_req *r)
{
	struct gw_worker *w = r->w;
	gw_gen_leave(w, r->gen);
	free(r);
	gw_worker_request_done(w);
}

/* The connection is unusable for r: let it go; r is answered to nobody. */
static void req_detach(struct gw_req *r)
{
	if (r->conn != NULL)
		http_conn_release(r->conn);
	r->conn = NULL;
	r->gone = true;
}

static size_t put_hdr(char *out, size_t at, size_t cap, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	if (at + nl + vl + 4 > cap)
		return at;
	memcpy(out + at, name, nl);
	at += nl;
	out[at++] = ':';
	out[at++] = ' ';
	memcpy(out + at, value, vl);
	at += vl;
	out[at++] = '\r';
	out[at++] = '\n';
	return at;
}

/* Content-Type, x-request-id and the handler's headers, as header lines. */
static size_t build_headers(const struct gw_req *r, const char *ctype, char *out, size_t cap)
{
	size_t n = put_hdr(out, 0, cap, "Content-Type", ctype);
	n = put_hdr(out, n, cap, "x-request-id", r->span.request_id);
	if (n + r->out_hdrs_len <= cap) {
		memcpy(out + n, r->out_hdrs, r->out_hdrs_len);
		n += r->out_hdrs_len;
	}
	return n;
}

void http_srv_reply_body(struct gw_req *r, int status, const char *ctype, const void *body, size_t len)
{
	char hdrs[HTTP_SRV_OUT_HDRS_MAX + 256];
	size_t hl = build_headers(r, ctype, hdrs, sizeof(hdrs));
	struct http_conn *c = r->conn;
	bool gone = http_srv_client_gone(r) || r->streaming;

	/* account first: r->path and the span fields point into the connection's buffer */
	req_account(r, gone ? (r->aborting ? 503 : 499) : status);
	if (gone)
		req_detach(r);
	else
		http_conn_respond(c, status, hdrs, hl, body, len, false);
	req_free(r);
}

void http_srv_reply(struct gw_req *r, int status, const char *ctype, struct evbuffer *body)
{
	size_t len = body != NULL ? evbuffer_get_length(body) : 0;
	const void *p = len > 0 ? evbuffer_pullup(body, -1) : NULL;
	http_srv_reply_body(r, status, ctype, p, p != NULL ? len : 0);
}

void http_srv_reply_json(struct gw_req *r, int status, const char *json, size_t len)
{
	http_srv_reply_body(r, status, "application/json", json, len);
}

void http_srv_reply_error(struct gw_req *r, enum gw_error e, const char *param, const char *fmt, ...)
{
	const struct oai_err_def *d = oai_err_def(e);
	char msg[512];
	struct buf out;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", d->span_type);
	metric_inc(r->w->gw->metrics.errors[e]);
	buf_init(&out, 64 * 1024);
	if (oai_err_format(&out, msg, d->type, param, d->code) < 0)
		buf_reset(&out);
	/* the connection takes (writes or copies) the body before this returns */
	http_srv_reply_json(r, d->status, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

int http_srv_add_header(struct gw_req *r, const char *name, const char *value)
{
	static const char *const reserved[] = {
	    "content-length", "transfer-encoding", "connection", "content-type", "x-request-id", "date", "keep-alive"};
	size_t nl = strlen(name), vl = strlen(value);
	if (nl == 0 || r->streaming)
		return -1;
	for (size_t i = 0; i < nl; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL)
			return -1;
	}
	for (size_t i = 0; i < vl; i++)
		if (value[i] == '\r' || value[i] == '\n')
			return -1;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -1;
	size_t at = put_hdr(r->out_hdrs, r->out_hdrs_len, sizeof(r->out_hdrs), name, value);
	if (at == r->out_hdrs_len)
		return -1;
	r->out_hdrs_len = at;
	return 0;
}

/* ---- streaming ------------------------------------------------------------------------------ */

int http_srv_stream_start(struct gw_req *r, int status, const char *ctype)
{
	char hdrs[HTTP_SRV_OUT_HDRS_MAX + 256];
	if (r->streaming || http_srv_client_gone(r))
		return -1;
	size_t hl = build_headers(r, ctype, hdrs, sizeof(hdrs));
	r->streaming = true;
	r->stream_status = status;
	if (http_conn_stream_head(r->conn, status, hdrs, hl) < 0) {
		req_detach(r);
		return -1;
	}
	return 0;
}

int http_srv_stream_write(struct gw_req *r, const void *p, size_t n)
{
	if (!r->streaming || http_srv_client_gone(r))
		return -1;
	if (http_conn_stream_data(r->conn, p, n) < 0) {
		req_detach(r);
		return -1;
	}
	return 0;
}

void http_srv_stream_end(struct gw_req *r)
{
	if (!r->streaming || http_srv_client_gone(r)) {
		http_srv_abandon(r);
		return;
	}
	struct http_conn *c = r->conn;
	req_account(r, r->stream_status);
	http_conn_stream_end(c);
	req_free(r);
}

void http_srv_abandon(struct gw_req *r)
{
	if (r->aborting) {
		snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", oai_err_def(GWE_UNAVAILABLE)->span_type);
		metric_inc(r->w->gw->metrics.errors[GWE_UNAVAILABLE]);
	}
	req_account(r, r->aborting ? 503 : 499);
	req_detach(r);
	req_free(r);
}

/* ---- built-in endpoints ------------------------------------------------------------------------- */

static void reply_text(struct gw_req *r, int status, const char *text)
{
	http_srv_reply_body(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void h_healthz(struct gw_req *r)
{
	reply_text(r, 200, "ok\n");
}

static void h_readyz(struct gw_req *r)
{
	if (r->w->ready && !r->w->draining)
		reply_text(r, 200, "ready\n");
	else
		reply_text(r, 503, "not ready\n");
}

static void h_metrics(struct gw_req *r)
{
	struct buf out;
	buf_init(&out, (size_t)16 << 20);
	if (metrics_render(r->w->gw->metrics.reg, &out) < 0) {
		buf_fini(&out);
		reply_text(r, 500, "metrics too large\n");
		return;
	}
	/* r is freed by the reply; the body is copied into the connection first */
	http_srv_reply_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data != NULL ? out.data : "",
			    out.len);
	buf_fini(&out);
}

/* ---- request intake ---------------------------------------------------------------------------------- */

static const struct http_route *route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	if (strncmp(path, "/mcp/", 5) == 0)
		return &mcp_route;
	return NULL;
}

/* x-request-id, trace context and caller metadata: everything a span needs up front. */
static void req_identify(struct gw_req *r)
{
	const char *rid = http_srv_header(r, "x-request-id");
	if (req_hdr_request_id_ok(rid)) {
		snprintf(r->span.request_id, sizeof(r->span.request_id), "%s", rid);
	} else {
		uint8_t raw[16];
		ids_rng_fill(&r->w->rng, raw, sizeof(raw));
		ids_hex(raw, sizeof(raw), r->span.request_id);
	}
	if (!r->api || r->no_span)
		return;
	span_trace_init(&r->span.trace, &r->w->rng, http_srv_header(r, "traceparent"));
	char key[SPAN_META_KEY_MAX];
	for (size_t i = 0; r->msg != NULL && i < r->msg->nhdrs; i++) {
		const struct http_hdr *h = &r->msg->hdrs[i];
		if (h->name_len > 13 && req_hdr_meta_key(h->name, key, sizeof(key)) == 1 &&
		    req_hdr_meta_value_ok(h->value))
			span_req_add_meta(&r->span, key, h->value);
	}
}

/* Virtual key check; answers 401 itself and returns -1 when the request must stop. */
static int req_authenticate(struct gw_req *r)
{
	const struct gw_conf *conf = r->gen->conf;
	const struct auth_identity *id = NULL;
	const char *hdr = http_srv_header(r, "Authorization");
	if (!conf->auth_enabled)
		return 0; /* explicitly off: the header is not judged (and never forwarded) */
	switch (auth_check(r->gen->auth, hdr, &id)) {
	case AUTH_OK:
		if (id->key->expires_at != 0 && (int64_t)(clock_wall_ns() / 1000000000u) >= id->key->expires_at) {
			http_srv_reply_error(r, GWE_UNAUTHORIZED, NULL, "API key '%s' has expired", id->key_name);
			return -1;
		}
		r->span.ident = id;
		return 0;
	case AUTH_NONE:
		if (conf->allow_anonymous)
			return 0;
		http_srv_reply_error(r, GWE_UNAUTHORIZED, NULL,
				     "missing API key: send 'Authorization: Bearer <virtual key>'");
		return -1;
	case AUTH_MALFORMED:
		http_srv_reply_error(r, GWE_UNAUTHORIZED, NULL,
				     "malformed Authorization header: expected 'Bearer <virtual key>'");
		return -1;
	case AUTH_UNKNOWN:
		http_srv_reply_error(r, GWE_UNAUTHORIZED, NULL, "invalid API key");
		return -1;
	}
	return -1;
}

/* x-llmgw-metadata: caller pairs onto the SERVER span; a malformed header is a 400. */
static int req_metadata(struct gw_req *r)
{
	const char *hdr = http_srv_header(r, "x-llmgw-metadata");
	struct req_meta m;
	char why[160];
	if (hdr == NULL)
		return 0;
	if (req_hdr_metadata_parse(hdr, &m, why, sizeof(why)) < 0) {
		http_srv_reply_error(r, GWE_INVALID_REQUEST, NULL, "%s", why); /* why names the header */
		return -1;
	}
	for (unsigned i = 0; i < m.n; i++)
		span_req_add_meta(&r->span, m.pair[i].key, m.pair[i].value);
	return 0;
}

/* Splits the (NUL-terminated, in place) request-target into path and query. */
static void req_target(struct gw_req *r)
{
	char *t = (char *)(uintptr_t)r->msg->target.p;
	/* absolute form (RFC 9112 3.2.2: "http://host/v1/models", which a server must accept): its path */
	if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
		t = strstr(t, "://") + 3;
		t += strcspn(t, "/?");
		if (*t != '/') { /* no path: "/" (and the query, if any) */
			r->path = "/";
			r->query = *t == '?' ? t + 1 : NULL;
			return;
		}
	}
	char *q = strchr(t, '?'); /* the target is NUL-terminated in place */
	if (q != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	r->path = t;
}

static struct gw_req *req_new(struct gw_worker *w, struct http_conn *c, const struct http_msg *m)
{
	struct gw_req *r = malloc(sizeof(*r));
	if (r == NULL)
		return NULL;
	/* everything but the header scratch area, which is written before it is read */
	memset(r, 0, offsetof(struct gw_req, out_hdrs));
	r->w = w;
	r->gen = gw_gen_enter(w);
	r->model_index = SIZE_MAX; /* not an API call (yet) */
	r->conn = c;
	r->msg = m;
	if (m != NULL) {
		req_target(r);
		r->route = route_find(r->path);
		/* admin.listen set: /healthz, /readyz, /metrics live there only (gateway/admin.h) */
		if (r->route != NULL && !r->route->api && w->gw->conf->admin_host != NULL)
			r->route = NULL;
	}
	r->api = r->route == NULL || r->route->api;
	r->start_mono_ns = clock_mono_ns();
	r->span.start_ns = clock_wall_ns();
	r->span.op = r->route != NULL ? r->route->op : SPANREC_OP_NONE;
	r->span.method = m != NULL ? http_parse_method_name(m->method) : "OTHER";
	TAILQ_INSERT_TAIL(&w->reqs, r, link);
	w->nreqs++;
	if (r->api)
		metric_gauge_add(w->gw->metrics.in_flight, 1);
	http_conn_set_ctx(c, r);
	return r;
}

static void on_request(struct http_conn *c, void *arg)
{
	struct gw_worker *w = arg;
	const struct http_msg *m = http_conn_msg(c);
	struct gw_req *r = req_new(w, c, m);
	if (r == NULL) {
		http_conn_respond(c, 500, "", 0, NULL, 0, true);
		return;
	}
	const struct http_route *rt = r->route;
	req_identify(r);
	if (rt == NULL) {
		char shown[128];
		snprintf(shown, sizeof(shown), "%s", r->path);
		http_srv_reply_error(r, GWE_NOT_FOUND, NULL, "unknown path %s %s", r->span.method, shown);
		return;
	}
	if ((rt->methods & M(m->method)) == 0 || m->method == HTTP_METHOD_OTHER) {
		http_srv_add_header(r, "Allow", rt->allow);
		/* the method as sent (a token, so printable) rather than the span's "OTHER" */
		http_srv_reply_error(r, GWE_METHOD_NOT_ALLOWED, NULL, "method %.*s is not allowed on %s; use %s",
				     m->method_str.n > 32 ? 32 : (int)m->method_str.n, m->method_str.p, rt->path,
				     rt->allow);
		return;
	}
	if (rt->api && (req_authenticate(r) < 0 || req_metadata(r) < 0))
		return;
	rt->handler(r);
}

/* A request that cannot be read: answered with the proper status, counted, traced when possible. */
static void on_reject(struct http_conn *c, int status, const char *why, bool head_done, void *arg)
{
	struct gw_worker *w = arg;
	const struct http_msg *m = http_conn_msg(c);
	struct gw_req *r = req_new(w, c, head_done ? m : NULL);
	if (r == NULL)
		return; /* the connection closes */
	r->api = true;	/* every response we produce is counted */
	r->no_span = !head_done || (r->route != NULL && !r->route->api);
	req_identify(r);
	if (status == 413 && head_done && m->body == HTTP_BODY_LENGTH)
		http_srv_reply_error(r, GWE_BODY_TOO_LARGE, NULL,
				     "request body of %llu bytes exceeds the limit of %llu",
				     (unsigned long long)m->content_length, (unsigned long long)w->gw->conf->max_body);
	else if (status == 413)
		http_srv_reply_error(r, GWE_BODY_TOO_LARGE, NULL, "request body exceeds the limit of %llu bytes",
				     (unsigned long long)w->gw->conf->max_body);
	else
		http_srv_reply_error(r, oai_err_for_reject(status), NULL, "%s", why);
}

/* The client went away while r was in flight: tell the handler (once), or let its reply fall through. */
static void on_gone(struct http_conn *c, void *arg)
{
	struct gw_req *r = http_conn_ctx(c);
	(void)arg;
	if (r == NULL) {
		http_conn_release(c);
		return;
	}
	req_detach(r);
	if (r->on_close != NULL && !r->gone_notified) {
		r->gone_notified = true;
		r->on_close(r, r->on_close_arg);
	}
}

static void on_closed(void *arg)
{
	struct gw_worker *w = arg;
	metric_gauge_add(w->gw->conns_open, -1);
	gw_worker_request_done(w);
}

static const struct http_conn_ops conn_ops = {
    .request = on_request,
    .reject = on_reject,
    .gone = on_gone,
    .closed = on_closed,
};

/* ---- listening --------------------------------------------------------------------------------------- */

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_worker *w = arg;
	(void)fd;
	(void)what;
	if (w->accept_ev != NULL && w->listen_fd >= 0)
		event_add(w->accept_ev, NULL);
}

/* Out of file descriptors: stop accepting for a moment instead of spinning on a ready listener. */
static void accept_pause(struct gw_worker *w, int e)
{
	const struct timeval tv = {0, 100 * 1000};
	uint64_t suppressed = 0;
	event_del(w->accept_ev);
	evtimer_add(w->accept_pause, &tv);
	if (log_ratelimit_ok(&w->warn_rl, clock_mono_ns(), &suppressed))
		log_msg(LOG_LVL_WARN, "accept_failed", "worker=%u reason=\"%s\" suppressed=%llu", w->id, strerror(e),
			(unsigned long long)suppressed);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct gw_worker *w = arg;
	struct gw *g = w->gw;
	const int one = 1;
	(void)what;
	/* bounded per wake-up so one busy listener cannot starve the connections */
	for (int i = 0; i < 64; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(w, errno);
			return;
		}
		if (w->conns.nconns >= w->max_conns || w->draining) {
			close(fd); /* over server.max_connections: the client sees a close at once */
			metric_inc(g->conns_rejected);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		/* streamed chunks must leave at once, not wait for an ACK (Nagle) */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (http_conn_new(&w->conns, fd) == NULL) {
			metric_inc(g->conns_rejected);
			continue;
		}
		metric_inc(g->conns_accepted);
		metric_gauge_add(g->conns_open, 1);
	}
}

int http_srv_listen(const char *host, uint16_t port, int backlog, struct err *err)
{
	struct addrinfo hints, *ai = NULL;
	char ps[8];
	const int one = 1;
	int fd = -1, rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	if ((rc = getaddrinfo(host, ps, &hints, &ai)) != 0)
		return err_set(err, EINVAL, "cannot resolve %s: %s", host, gai_strerror(rc));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		goto fail;
	/* every worker binds the same address; the kernel spreads new connections over them */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0)
		goto fail;
	freeaddrinfo(ai);
	return fd;
fail:
	rc = errno;
	err_set(err, rc, "cannot listen on %s:%u: %s", host, (unsigned)port, strerror(rc));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* llmgw_connection_timeouts_total: every worker registers the same series and shares the handles. */
static int timeout_metrics(struct gw_worker *w, struct err *err)
{
	static const char *const labels[HTTP_CONN_TIMEOUT__COUNT] = {
	    [HTTP_CONN_TIMEOUT_REQUEST] = "timeout=\"request\"",
	    [HTTP_CONN_TIMEOUT_IDLE] = "timeout=\"idle\"",
	    [HTTP_CONN_TIMEOUT_WRITE] = "timeout=\"write\"",
	};
	static const char help[] =
	    "Client connections ended by a server timeout: request (408), idle (closed silently), write (not read)";
	for (int t = 0; t < HTTP_CONN_TIMEOUT__COUNT; t++) {
		struct metric *m =
		    metrics_counter(w->gw->metrics.reg, "llmgw_connection_timeouts_total", help, labels[t]);
		if ((w->conns.timeouts[t] = m) == NULL)
			return err_set(err, ENOMEM, "cannot register connection timeout metrics");
	}
	return 0;
}

int http_srv_start(struct gw_worker *w, struct err *err)
{
	const struct gw_conf *c = w->gw->conf;
	const struct http_limits lim = {HTTP_PARSE_MAX_LINE_DEFAULT, (size_t)c->max_header_bytes, c->max_headers,
					c->max_body};
	unsigned n = w->gw->conf->workers > 0 ? w->gw->conf->workers : 1;
	w->max_conns = (size_t)((c->max_connections + n - 1) / n);
	if (http_conn_env_init(&w->conns, w->base, &conn_ops, w, &lim, c->request_timeout_ms, c->idle_timeout_ms,
			       c->write_timeout_ms, (size_t)c->max_pending_write) < 0)
		return err_set(err, ENOMEM, "cannot set up connection timeouts");
	w->conns_ready = true;
	if (timeout_metrics(w, err) < 0)
		return -1;
	if ((w->listen_fd = http_srv_listen(c->listen_host, c->listen_port, 1024, err)) < 0)
		return -1;
	w->accept_ev = event_new(w->base, w->listen_fd, EV_READ | EV_PERSIST, accept_cb, w);
	w->accept_pause = evtimer_new(w->base, accept_resume_cb, w);
	if (w->accept_ev == NULL || w->accept_pause == NULL || event_add(w->accept_ev, NULL) < 0)
		return err_set(err, ENOMEM, "cannot watch the listening socket");
	return 0;
}

void http_srv_stop_accepting(struct gw_worker *w)
{
	if (w->accept_ev != NULL) {
		event_free(w->accept_ev);
		w->accept_ev = NULL;
	}
	if (w->accept_pause != NULL) {
		event_free(w->accept_pause);
		w->accept_pause = NULL;
	}
	if (w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
	if (w->conns_ready) {
		w->conns.draining = true;
		http_conn_env_close_idle(&w->conns);
	}
}

void http_srv_abort_all(struct gw_worker *w)
{
	struct gw_req *r;
	if (w->conns_ready)
		w->conns.draining = true;
	while ((r = TAILQ_FIRST(&w->reqs)) != NULL) {
		r->aborting = true;
		if (r->streaming && r->on_close != NULL && !r->gone_notified) {
			/* the handler owns upstream work: it cancels and abandons (recorded as 503) */
			r->gone_notified = true;
			r->on_close(r, r->on_close_arg);
		} else if (r->streaming) {
			http_srv_stream_end(r);
		} else {
			http_srv_reply_error(r, GWE_UNAVAILABLE, NULL, "the gateway is shutting down");
		}
		if (TAILQ_FIRST(&w->reqs) == r) /* a handler that did not let go: do it for it */
			http_srv_abandon(r);
	}
}

void http_srv_free(struct gw_worker *w)
{
	http_srv_stop_accepting(w);
	if (w->conns_ready) {
		http_conn_env_fini(&w->conns);
		w->conns_ready = false;
	}
}
