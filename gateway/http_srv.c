/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evhttp server plumbing. All requests enter through one generic callback
 * that looks the path up in a static route table, so 404 and 405 are
 * decided here, uniformly, with OpenAI-shaped bodies and an Allow header.
 * Every request we answer goes out through http_srv_reply(), the single
 * place that adds x-request-id, counts, traces, logs and frees.
 *
 * Body limit: evhttp rejects a body itself (a bare 413 without our
 * headers) once it passes the limit we give it, before any callback runs.
 * So evhttp is given twice server.max_body as a memory cap, and this file
 * enforces server.max_body with a proper OpenAI error, request id and span.
 */
#include "gateway/http_srv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/httpx.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/spanrec.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/req_hdr.h"
#include "gateway/upstream.h"

typedef void (*http_handler_cb)(struct gw_req *r);

struct http_route {
	const char *path;
	unsigned methods; /* EVHTTP_REQ_* mask */
	const char *allow;
	enum spanrec_op op;
	bool api; /* counted, traced, needs the key check */
	http_handler_cb handler;
};

static void h_healthz(struct gw_req *r);
static void h_readyz(struct gw_req *r);
static void h_metrics(struct gw_req *r);

static const struct http_route routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, "POST", SPANREC_OP_CHAT, true, api_chat_handle},
    {"/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", SPANREC_OP_MODELS, true, api_models_handle},
    {"/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", SPANREC_OP_NONE, false, h_healthz},
    {"/readyz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", SPANREC_OP_NONE, false, h_readyz},
    {"/metrics", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", SPANREC_OP_NONE, false, h_metrics},
};

const char *http_srv_header(const struct gw_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

/* ---- finishing a request --------------------------------------------------- */

/* libevent 2.1's table stops at 417/505; relayed upstream statuses need the rest. */
static const char *reason_phrase(int status)
{
	switch (status) {
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 424:
		return "Failed Dependency";
	case 429:
		return "Too Many Requests";
	case 499:
		return "Client Closed Request";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 529:
		return "Site Overloaded";
	default:
		return NULL; /* libevent's own phrase */
	}
}

static void access_log(const struct gw_req *r, const char *path, double secs)
{
	char qpath[160], qmodel[160];
	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	log_msg(LOG_LVL_DEBUG, "request", "request_id=%s method=%s path=%s status=%u duration_ms=%.2f model=%s key=%s",
		r->span.request_id, r->span.method, log_quote(path, qpath, sizeof(qpath)),
		(unsigned)r->span.http_status, secs * 1e3, log_quote(r->span.request_model, qmodel, sizeof(qmodel)),
		r->span.ident != NULL ? r->span.ident->key_name : "-");
}

static void req_finish(struct gw_req *r, int status)
{
	struct gw_worker *w = r->w;
	struct gw *g = w->gw;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->ev));
	double secs = (double)(clock_mono_ns() - r->start_mono_ns) / 1e9;

	r->span.http_status = (uint16_t)status;
	r->span.end_ns = clock_wall_ns();
	access_log(r, path != NULL ? path : "", secs);
	if (r->api) {
		struct spanrec rec;
		gw_metrics_request(&g->metrics, status, secs);
		metric_gauge_add(g->metrics.in_flight, -1);
		span_emit_build_server(&rec, &r->span);
		span_emit_send(&g->span_out, &rec);
	}
	if (r->call != NULL)
		upstream_call_cancel(r->call);
	chat_request_fini(&r->chat);
	TAILQ_REMOVE(&w->reqs, r, link);
	w->nreqs--;
	free(r);
	gw_worker_request_done(w);
}

void http_srv_reply(struct gw_req *r, int status, const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(r->ev);
	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "x-request-id", r->span.request_id);
	if (r->w->draining)
		evhttp_add_header(oh, "Connection", "close");
	/*
	 * HEAD: libevent 2.1 would write the body anyway and no length; send
	 * the length GET would have and no body, keeping the connection sane.
	 */
	if (evhttp_request_get_command(r->ev) == EVHTTP_REQ_HEAD) {
		char len[24];
		snprintf(len, sizeof(len), "%zu", body != NULL ? evbuffer_get_length(body) : (size_t)0);
		evhttp_add_header(oh, "Content-Length", len);
		body = NULL;
	}
	/* account first: send_reply may free ev at once when the client is gone */
	struct evhttp_request *ev = r->ev;
	req_finish(r, status);
	evhttp_send_reply(ev, status, reason_phrase(status), body);
}

void http_srv_reply_json(struct gw_req *r, int status, const char *json, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (b != NULL)
		evbuffer_add(b, json, len);
	http_srv_reply(r, status, "application/json", b);
	if (b != NULL)
		evbuffer_free(b);
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
	http_srv_reply_json(r, d->status, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

/* ---- built-in endpoints ---------------------------------------------------- */

static void reply_text(struct gw_req *r, int status, const char *ctype, const char *text, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (b != NULL)
		evbuffer_add(b, text, len);
	http_srv_reply(r, status, ctype, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void h_healthz(struct gw_req *r)
{
	reply_text(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void h_readyz(struct gw_req *r)
{
	if (r->w->ready && !r->w->draining)
		reply_text(r, 200, "text/plain; charset=utf-8", "ready\n", 6);
	else
		reply_text(r, 503, "text/plain; charset=utf-8", "not ready\n", 10);
}

static void h_metrics(struct gw_req *r)
{
	struct buf out;
	buf_init(&out, (size_t)16 << 20);
	if (metrics_render(r->w->gw->metrics.reg, &out) < 0) {
		buf_fini(&out);
		reply_text(r, 500, "text/plain; charset=utf-8", "metrics too large\n", 18);
		return;
	}
	reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

/* ---- request intake --------------------------------------------------------- */

static const struct http_route *route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

/* x-request-id, trace context and caller metadata: everything a span needs up front. */
static void req_identify(struct gw_req *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
	const char *rid = evhttp_find_header(in, "x-request-id");
	if (req_hdr_request_id_ok(rid)) {
		snprintf(r->span.request_id, sizeof(r->span.request_id), "%s", rid);
	} else {
		uint8_t raw[16];
		ids_rng_fill(&r->w->rng, raw, sizeof(raw));
		ids_hex(raw, sizeof(raw), r->span.request_id);
	}
	if (!r->api)
		return;
	span_trace_init(&r->span.trace, &r->w->rng, evhttp_find_header(in, "traceparent"));
	const struct evkeyval *h;
	char key[SPAN_META_KEY_MAX];
	TAILQ_FOREACH(h, in, next)
	{
		if (req_hdr_meta_key(h->key, key, sizeof(key)) == 1 && req_hdr_meta_value_ok(h->value))
			span_req_add_meta(&r->span, key, h->value);
	}
}

/* Virtual key check; answers 401 itself and returns -1 when the request must stop. */
static int req_authenticate(struct gw_req *r)
{
	const struct auth_identity *id = NULL;
	const char *hdr = http_srv_header(r, "Authorization");
	switch (auth_check(r->w->gw->auth, hdr, &id)) {
	case AUTH_OK:
		r->span.ident = id;
		return 0;
	case AUTH_NONE:
		if (!r->w->gw->conf->auth_required)
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

static struct gw_req *req_new(struct gw_worker *w, struct evhttp_request *ev, const struct http_route *rt)
{
	struct gw_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->w = w;
	r->ev = ev;
	r->route = rt;
	r->api = rt == NULL || rt->api;
	r->start_mono_ns = clock_mono_ns();
	r->span.start_ns = clock_wall_ns();
	r->span.op = rt != NULL ? rt->op : SPANREC_OP_NONE;
	r->span.method = httpx_method_name(evhttp_request_get_command(ev));
	TAILQ_INSERT_TAIL(&w->reqs, r, link);
	w->nreqs++;
	if (r->api)
		metric_gauge_add(w->gw->metrics.in_flight, 1);
	return r;
}

static void gen_cb(struct evhttp_request *ev, void *arg)
{
	struct gw_worker *w = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(ev));
	const struct http_route *rt = route_find(path != NULL ? path : "");
	enum evhttp_cmd_type m = evhttp_request_get_command(ev);
	struct gw_req *r = req_new(w, ev, rt);

	if (r == NULL) {
		evhttp_send_error(ev, 500, "out of memory");
		return;
	}
	req_identify(r);
	if (rt == NULL) {
		char shown[128];
		snprintf(shown, sizeof(shown), "%s", path != NULL ? path : "");
		http_srv_reply_error(r, GWE_NOT_FOUND, NULL, "unknown path %s %s", r->span.method, shown);
		return;
	}
	if ((rt->methods & (unsigned)m) == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(ev), "Allow", rt->allow);
		http_srv_reply_error(r, GWE_METHOD_NOT_ALLOWED, NULL, "method %s is not allowed on %s; use %s",
				     r->span.method, rt->path, rt->allow);
		return;
	}
	if (rt->api && req_authenticate(r) < 0)
		return;
	size_t blen = evbuffer_get_length(evhttp_request_get_input_buffer(ev));
	if (blen > w->gw->conf->max_body) {
		http_srv_reply_error(r, GWE_BODY_TOO_LARGE, NULL, "request body of %zu bytes exceeds the limit of %llu",
				     blen, (unsigned long long)w->gw->conf->max_body);
		return;
	}
	rt->handler(r);
}

int http_srv_start(struct gw_worker *w, struct err *err)
{
	const struct gw_conf *c = w->gw->conf;
	uint64_t cap = c->max_body * 2 > c->max_body + 65536 ? c->max_body * 2 : c->max_body + 65536;
	w->http = evhttp_new(w->base);
	if (w->http == NULL)
		return err_set(err, ENOMEM, "evhttp_new failed");
	/* see the top of this file: evhttp's limit is only the memory cap */
	evhttp_set_max_body_size(w->http, (ev_ssize_t)cap);
	evhttp_set_max_headers_size(w->http, 64 * 1024);
	/*
	 * Idle keep-alive and slow-client timeout. It must outlast the longest
	 * upstream call: a read timeout while a handler waits would drop the client.
	 */
	int64_t tmo_ms = 120000;
	for (size_t i = 0; i < c->nproviders; i++)
		if (c->providers[i].timeout_ms + 5000 > tmo_ms)
			tmo_ms = c->providers[i].timeout_ms + 5000;
	evhttp_set_timeout(w->http, (int)(tmo_ms / 1000));
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(w->http, "application/json");
	evhttp_set_gencb(w->http, gen_cb, w);
	w->listener = evhttp_bind_socket_with_handle(w->http, c->listen_host, c->listen_port);
	if (w->listener == NULL)
		return err_set(err, errno != 0 ? errno : EADDRINUSE, "cannot listen on %s:%u: %s", c->listen_host,
			       (unsigned)c->listen_port, strerror(errno != 0 ? errno : EADDRINUSE));
	return 0;
}

void http_srv_stop_accepting(struct gw_worker *w)
{
	if (w->http != NULL && w->listener != NULL) {
		evhttp_del_accept_socket(w->http, w->listener);
		w->listener = NULL;
	}
}

void http_srv_abort_all(struct gw_worker *w)
{
	struct gw_req *r;
	while ((r = TAILQ_FIRST(&w->reqs)) != NULL)
		http_srv_reply_error(r, GWE_UNAVAILABLE, NULL, "the gateway is shutting down");
}
