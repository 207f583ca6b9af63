/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/chat/completions (non-streaming): validate, resolve the model to
 * its target, call the provider (in-process or over upstream.c), and relay
 * the answer. The flow is  parse -> route -> encode -> send -> decode ->
 * reply, with one CLIENT span per attempt emitted as soon as the attempt
 * ends. Outcome mapping to the client:
 *   upstream 2xx JSON          -> relayed as is (200)
 *   upstream 4xx/5xx           -> status and body relayed when the body is an
 *                                 OpenAI error, else wrapped in one
 *   refused / DNS / TLS        -> 502 upstream_connect_error / tls_error
 *   closed or reset            -> 502 upstream_connect_error (span: reset)
 *   any of the four timeouts   -> 504 timeout (span: connect_timeout,
 *                                 first_byte_timeout, idle_timeout, total_timeout)
 *   unusable upstream response -> 502 upstream_invalid_response
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/api.h"
#include "gateway/http_srv.h"
#include "gateway/provider.h"
#include "gateway/req_hdr.h"
#include "gateway/upstream.h"

#define CHAT_MAX_ENCODED ((size_t)64 << 20)

static const struct gw_provider *req_provider(const struct gw_req *r)
{
	return &r->w->gw->conf->providers[r->provider];
}

static void emit_client_span(struct gw_req *r)
{
	struct spanrec rec;
	r->att.end_ns = clock_wall_ns();
	span_emit_build_client(&rec, &r->span, &r->att);
	span_emit_send(&r->w->gw->span_out, &rec);
}

static void attempt_begin(struct gw_req *r)
{
	const struct gw_provider *p = req_provider(r);
	struct span_attempt *a = &r->att;
	memset(a, 0, sizeof(*a));
	ids_rng_fill(&r->w->rng, a->span_id, sizeof(a->span_id));
	a->start_ns = clock_wall_ns();
	a->attempt = 1;
	a->provider_model = r->target->model;
	a->provider = p->genai_name;
	a->target = r->target->label;
	if (!r->ops->in_process) {
		a->server_address = p->url.host;
		a->server_port = p->url.port;
	}
	r->span.provider = p->genai_name;
	r->span.target = r->target->label;
}

/* Ends the attempt with an error: counts, logs (rate-limited), emits its span. */
static void attempt_failed(struct gw_req *r, enum gw_upstream_outcome mo, const char *span_type, const char *detail)
{
	struct gw_worker *w = r->w;
	uint64_t suppressed = 0;
	char qd[200];
	/* an upstream 4xx is usually the client's request; the rest is the provider's or ours */
	enum log_level lvl = r->att.http_status >= 400 && r->att.http_status < 500 ? LOG_LVL_INFO : LOG_LVL_WARN;
	snprintf(r->att.error_type, sizeof(r->att.error_type), "%s", span_type);
	gw_metrics_upstream(&w->gw->metrics, r->provider, mo);
	emit_client_span(r);
	if (log_enabled(lvl) && log_ratelimit_ok(&w->warn_rl, clock_mono_ns(), &suppressed))
		log_msg(lvl, "upstream_failed",
			"provider=%s outcome=%s detail=%s request_id=%s status=%u suppressed=%llu",
			req_provider(r)->name, span_type, log_quote(detail != NULL ? detail : "", qd, sizeof(qd)),
			r->span.request_id, (unsigned)r->att.http_status, (unsigned long long)suppressed);
}

/* Upstream response headers worth passing to the client (rate limits, timing). */
static void relay_headers(struct gw_req *r, const struct http_hdr *up, size_t n)
{
	char name[64], value[512];
	for (size_t i = 0; i < n; i++) {
		const struct http_hdr *h = &up[i];
		if (h->name_len >= sizeof(name) || h->value_len >= sizeof(value))
			continue; /* none of the ones we relay is that long */
		memcpy(name, h->name, h->name_len);
		name[h->name_len] = '\0';
		memcpy(value, h->value, h->value_len);
		value[h->value_len] = '\0';
		if (strcasecmp(name, "retry-after") == 0 || strcasecmp(name, "retry-after-ms") == 0 ||
		    strncasecmp(name, "x-ratelimit-", 12) == 0 || strcasecmp(name, "openai-processing-ms") == 0)
			http_srv_add_header(r, name, value);
		else if (strcasecmp(name, "x-request-id") == 0)
			http_srv_add_header(r, "x-upstream-request-id", value);
	}
}

static void on_success(struct gw_req *r, const struct upstream_result *res)
{
	const struct gw_provider *p = req_provider(r);
	size_t len = res->body_len;
	const char *body = len > 0 ? res->body : NULL;
	struct buf translated;
	bool relay = true;
	struct err err;

	buf_init(&translated, CHAT_MAX_ENCODED);
	if (r->ops->chat_decode(p, body, len, &r->att_resp, &translated, &relay, &err) < 0) {
		attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_UPSTREAM_INVALID)->span_type, err.msg);
		http_srv_reply_error(r, GWE_UPSTREAM_INVALID, NULL, "provider '%s' returned an invalid response",
				     p->name);
		buf_fini(&translated);
		return;
	}
	r->att.resp = &r->att_resp;
	r->span.resp = r->att_resp;
	gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
	emit_client_span(r);
	relay_headers(r, res->headers, res->nheaders);
	if (relay) {
		http_srv_reply_body(r, res->status, "application/json", res->body, res->body_len);
	} else {
		http_srv_reply_json(r, res->status, translated.data != NULL ? translated.data : "", translated.len);
	}
	buf_fini(&translated);
}

static void on_error_status(struct gw_req *r, const struct upstream_result *res)
{
	const struct gw_provider *p = req_provider(r);
	size_t len = res->body_len;
	const char *body = len > 0 ? res->body : NULL;
	char code[8], detail[64];

	snprintf(code, sizeof(code), "%d", res->status);
	snprintf(detail, sizeof(detail), "HTTP %d", res->status);
	attempt_failed(r, GW_UP_ERROR, code, detail);
	metric_inc(r->w->gw->metrics.upstream_relayed_errors);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", code);
	relay_headers(r, res->headers, res->nheaders);
	if (oai_err_is_openai_error(body, len)) {
		http_srv_reply_body(r, res->status, "application/json", res->body, res->body_len);
		return;
	}
	/* not an OpenAI error body: wrap it, without echoing provider bytes */
	struct buf out;
	char msg[160];
	buf_init(&out, 4096);
	snprintf(msg, sizeof(msg), "provider '%s' returned HTTP %d", p->name, res->status);
	if (oai_err_format(&out, msg, oai_err_type_for_status(res->status), NULL, "upstream_error") < 0)
		buf_reset(&out);
	http_srv_reply_json(r, res->status, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

static void on_upstream_done(struct upstream_call *call, const struct upstream_result *res, void *arg)
{
	struct gw_req *r = arg;
	const char *pname = req_provider(r)->name;
	(void)call;
	r->call = NULL; /* the pool frees the handle after this callback */
	switch (res->outcome) {
	case UPSTREAM_OK:
		r->att.http_status = (uint16_t)res->status;
		if (res->status >= 200 && res->status < 300)
			on_success(r, res);
		else if (res->status >= 400 && res->status < 600)
			on_error_status(r, res);
		else {
			attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_UPSTREAM_INVALID)->span_type,
				       "unexpected status");
			http_srv_reply_error(r, GWE_UPSTREAM_INVALID, NULL, "provider '%s' returned unexpected HTTP %d",
					     pname, res->status);
		}
		return;
	case UPSTREAM_CONNECT_ERROR:
		attempt_failed(r, GW_UP_CONNECT_ERROR, oai_err_def(GWE_UPSTREAM_CONNECT)->span_type, res->detail);
		http_srv_reply_error(r, GWE_UPSTREAM_CONNECT, NULL, "could not reach provider '%s': %s", pname,
				     res->detail);
		return;
	case UPSTREAM_TLS_ERROR:
		attempt_failed(r, GW_UP_CONNECT_ERROR, oai_err_def(GWE_UPSTREAM_TLS)->span_type, res->detail);
		http_srv_reply_error(r, GWE_UPSTREAM_TLS, NULL, "TLS with provider '%s' failed: %s", pname,
				     res->detail);
		return;
	case UPSTREAM_CONNECT_TIMEOUT:
	case UPSTREAM_FIRST_BYTE_TIMEOUT:
	case UPSTREAM_IDLE_TIMEOUT:
	case UPSTREAM_TOTAL_TIMEOUT:
		/* span error.type names which deadline: connect_timeout, first_byte_timeout, ... */
		attempt_failed(r, GW_UP_TIMEOUT, upstream_outcome_name(res->outcome), res->detail);
		http_srv_reply_error(r, GWE_UPSTREAM_TIMEOUT, NULL, "provider '%s' timed out: %s", pname, res->detail);
		return;
	case UPSTREAM_RESET:
		attempt_failed(r, GW_UP_CONNECT_ERROR, upstream_outcome_name(res->outcome), res->detail);
		http_srv_reply_error(r, GWE_UPSTREAM_CONNECT, NULL, "provider '%s' closed the connection: %s", pname,
				     res->detail);
		return;
	case UPSTREAM_PROTOCOL_ERROR:
	case UPSTREAM_TOO_LARGE:
	case UPSTREAM__COUNT:
		attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_UPSTREAM_INVALID)->span_type, res->detail);
		http_srv_reply_error(r, GWE_UPSTREAM_INVALID, NULL, "provider '%s' sent an invalid response: %s", pname,
				     res->detail);
		return;
	}
}

/*
 * The client hung up while the provider works: cancel the upstream call at
 * once (its connection is closed, the provider sees the cancellation) and
 * finish the request as client_closed (499) on both spans.
 */
static void on_client_close(struct gw_req *r, void *arg)
{
	(void)arg;
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
		snprintf(r->att.error_type, sizeof(r->att.error_type), "%s", oai_err_def(GWE_CLIENT_CLOSED)->span_type);
		emit_client_span(r);
	}
	http_srv_abandon(r);
}

/* Client headers that travel upstream, plus trace context and request id. */
static void build_headers(struct gw_req *r, struct evkeyvalq *h)
{
	size_t nin;
	const struct http_hdr *in = http_srv_headers(r, &nin);
	const char *conn = http_srv_header(r, "Connection");
	char tp[TRACEPARENT_LEN + 1];
	for (size_t i = 0; i < nin; i++) {
		/* the server NUL-terminates request header slices in place */
		if (!req_hdr_forwardable(in[i].name, conn))
			continue;
		/* W3C: tracestate without a valid traceparent is discarded */
		if (!r->span.trace.parent_remote && strcasecmp(in[i].name, "tracestate") == 0)
			continue;
		evhttp_add_header(h, in[i].name, in[i].value);
	}
	evhttp_add_header(h, "Content-Type", "application/json");
	ids_traceparent_format(r->span.trace.trace_id, r->att.span_id, r->span.trace.flags, tp);
	evhttp_add_header(h, "traceparent", tp);
	evhttp_add_header(h, "x-request-id", r->span.request_id);
	if (r->ops->auth_headers != NULL)
		r->ops->auth_headers(req_provider(r), h);
}

/* Drops our copy of the headers, scrubbing the provider key from the heap first. */
static void clear_headers(struct evkeyvalq *h)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
	{
		if (strcasecmp(kv->key, "Authorization") == 0) {
			volatile char *v = kv->value;
			while (*v != '\0')
				*v++ = '\0';
		}
	}
	evhttp_clear_headers(h);
}

static void send_upstream(struct gw_req *r, const char *body, size_t len)
{
	struct provider_chat_in in = {&r->chat, body, len, r->target->model, r->span.request_id};
	struct provider_http ph;
	struct evkeyvalq hdrs;
	struct http_hdr *slices = NULL;
	struct err err;

	memset(&ph, 0, sizeof(ph));
	buf_init(&ph.body, CHAT_MAX_ENCODED);
	TAILQ_INIT(&hdrs);
	if (r->ops->chat_encode(req_provider(r), &in, &ph, &err) < 0) {
		log_msg(LOG_LVL_ERROR, "encode_failed", "provider=%s request_id=%s", req_provider(r)->name,
			r->span.request_id);
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "could not encode the request for the provider");
		goto out;
	}
	build_headers(r, &hdrs);
	/* the upstream client takes slices (and copies them) */
	const struct evkeyval *kv;
	size_t n = 0;
	TAILQ_FOREACH(kv, &hdrs, next)
	n++;
	if ((slices = calloc(n > 0 ? n : 1, sizeof(*slices))) == NULL) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		goto out;
	}
	n = 0;
	TAILQ_FOREACH(kv, &hdrs, next)
	{
		slices[n] = (struct http_hdr){kv->key, kv->value, strlen(kv->key), strlen(kv->value)};
		n++;
	}
	struct upstream_request rq = {
	    .path = ph.path,
	    .headers = slices,
	    .nheaders = n,
	    .body = ph.use_client_body ? body : ph.body.data,
	    .body_len = ph.use_client_body ? len : ph.body.len,
	};
	static const struct upstream_handlers handlers = {NULL, NULL, on_upstream_done}; /* buffered */
	r->call = upstream_call_start(r->w->pool, r->provider, &rq, &handlers, r, &err);
	if (r->call != NULL)
		http_srv_on_client_close(r, on_client_close, NULL);
	if (r->call == NULL) {
		attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_INTERNAL)->span_type, err.msg);
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "could not start the upstream request");
	}
out:
	free(slices);
	clear_headers(&hdrs);
	buf_fini(&ph.body);
}

static void answer_in_process(struct gw_req *r, const char *body, size_t len)
{
	struct provider_chat_in in = {&r->chat, body, len, r->target->model, r->span.request_id};
	struct buf out;
	struct err err;
	buf_init(&out, CHAT_MAX_ENCODED);
	if (r->ops->chat_answer(req_provider(r), &in, &out, &r->att_resp, &err) < 0) {
		attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_INTERNAL)->span_type, err.msg);
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "the built-in provider failed");
		buf_fini(&out);
		return;
	}
	r->att.resp = &r->att_resp;
	r->span.resp = r->att_resp;
	gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
	emit_client_span(r);
	http_srv_reply_json(r, 200, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

void api_chat_handle(struct gw_req *r)
{
	const struct gw_conf *c = r->w->gw->conf;
	size_t len;
	const char *body = http_srv_body(r, &len);
	struct chat_parse_err pe;

	enum chat_perr rc = chat_request_parse(body, len, &r->chat, &pe);
	if (rc != CHAT_OK) {
		r->span.stream = rc == CHAT_STREAM_UNSUPPORTED;
		snprintf(r->span.request_model, sizeof(r->span.request_model), "%s", pe.model);
		http_srv_reply_error(r, rc == CHAT_STREAM_UNSUPPORTED ? GWE_STREAM_UNSUPPORTED : GWE_INVALID_REQUEST,
				     pe.param, "%s", pe.msg);
		return;
	}
	snprintf(r->span.request_model, sizeof(r->span.request_model), "%s", r->chat.model);
	const struct gw_model *m = gw_conf_find_model(c, r->chat.model);
	if (m == NULL) {
		http_srv_reply_error(r, GWE_MODEL_NOT_FOUND, "model",
				     "the model '%.128s' does not exist or is not served by this gateway",
				     r->chat.model);
		return;
	}
	/* routing strategies and fallbacks come later: the first target serves */
	r->target = &m->targets[0];
	r->provider = r->target->provider;
	r->ops = provider_ops_for(c->providers[r->provider].type);
	attempt_begin(r);
	if (r->ops->in_process)
		answer_in_process(r, body, len);
	else
		send_upstream(r, body, len);
}
