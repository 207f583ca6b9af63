/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attempt behind every OpenAI endpoint: route -> encode -> send (or
 * answer in-process) -> decode or relay -> reply, with one CLIENT span per
 * attempt emitted as soon as the attempt ends (api_call.h has the outcome
 * mapping).
 *
 * This file keeps the attempt itself: parsing and routing, retries and
 * fallbacks, encoding and sending, whole answers (2xx, relayed errors,
 * transport failures), in-process providers and the client going away.
 * The stream relay (the 200 SSE head, each upstream piece on to the
 * client, how a stream ends) is in api_stream.c; what the two share (the
 * CLIENT span, the failure table, the hand-offs between them) is declared
 * in api_call_int.h. A stream: true request whose client did not ask for
 * stream_options.include_usage gets it added upstream here (call_run),
 * and the decision to stream is taken here on the response head
 * (on_upstream_head): only a 2xx text/event-stream answer is streamed.
 *
 * Who finishes r: exactly one of reply/stream_end/abandon, called from
 * here or from api_stream.c; a client that goes away (noticed by the
 * server, or by a failed write) cancels the upstream call at once and
 * abandons r (499 client_closed). The relay and the parsed request live
 * in r and are freed by the server when r finishes, so nothing here
 * touches them after a finishing call.
 */
#include "gateway/api_call.h"
#include "gateway/api_call_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/api_cache.h"
#include "gateway/api_gov.h"
#include "gateway/api_guard.h"
#include "gateway/chat_stream.h"
#include "gateway/gw_gen.h"
#include "gateway/http_srv.h"
#include "gateway/req_hdr.h"
#include "gateway/router.h"
#include "gateway/upstream.h"

static const char *const op_paths[PROVIDER_OP__COUNT] = {
    [PROVIDER_OP_CHAT] = "/v1/chat/completions",
    [PROVIDER_OP_COMPLETIONS] = "/v1/completions",
    [PROVIDER_OP_EMBEDDINGS] = "/v1/embeddings",
};

static void attempt_begin(struct gw_req *r)
{
	const struct gw_provider *p = req_provider(r);
	struct span_attempt *a = &r->att;
	memset(a, 0, sizeof(*a));
	ids_rng_fill(&r->w->rng, a->span_id, sizeof(a->span_id));
	a->start_ns = clock_wall_ns();
	r->att_start_mono_ns = clock_mono_ns();
	a->attempt = (uint8_t)r->plan.attempts;
	a->fallback_reason = r->next.reason;
	a->provider_model = r->target->model;
	a->provider = p->genai_name;
	a->target = r->target->label;
	if (!r->ops->in_process) {
		a->server_address = p->url.host;
		a->server_port = p->url.port;
	}
	r->span.provider = p->genai_name;
	r->span.target = r->target->label;
	r->span.attempts = (uint8_t)r->plan.attempts;
}

static void attempt_start(struct gw_req *r);

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attempt_start(arg);
}

/*
 * After a failed attempt whose failure the client has not seen: asks the
 * router for another one (same target after a backoff, or a fallback at
 * once) and starts or schedules it. false: nothing left to try (or no
 * timer): answer this failure.
 */
static bool retry_scheduled(struct gw_req *r, enum route_fail f, int64_t retry_after_ms)
{
	struct gw_worker *w = r->w;
	route_next(REQ_ROUTE(r), &r->plan, f, retry_after_ms, attempt_latency_ns(r), &w->rng, (int64_t)clock_mono_ns(),
		   &r->next);
	if (r->next.target == NULL)
		return false;
	if (r->next.delay_ms <= 0) {
		attempt_start(r);
		return true;
	}
	if (r->retry_ev == NULL && (r->retry_ev = evtimer_new(w->base, on_retry_timer, r)) == NULL)
		return false;
	struct timeval tv = {(time_t)(r->next.delay_ms / 1000), (suseconds_t)(r->next.delay_ms % 1000) * 1000};
	return evtimer_add(r->retry_ev, &tv) == 0;
}

/* How the retry policy classes a transport outcome. */
static enum route_fail fail_of_outcome(enum upstream_outcome o)
{
	switch (o) {
	case UPSTREAM_CONNECT_ERROR:
	case UPSTREAM_TLS_ERROR:
	case UPSTREAM_RESET:
		return ROUTE_FAIL_CONNECT;
	case UPSTREAM_CONNECT_TIMEOUT:
	case UPSTREAM_FIRST_BYTE_TIMEOUT:
	case UPSTREAM_IDLE_TIMEOUT:
	case UPSTREAM_TOTAL_TIMEOUT:
		return ROUTE_FAIL_TIMEOUT;
	default:
		return ROUTE_FAIL_5XX;
	}
}

static enum route_fail fail_of_status(int status)
{
	if (status == 429)
		return ROUTE_FAIL_429;
	return status >= 500 ? ROUTE_FAIL_5XX : ROUTE_FAIL_OTHER;
}

/* Retry-After / retry-after-ms of a response, in ms; -1 when absent or an HTTP date. */
static int64_t retry_after_ms(const struct http_hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool ms = h[i].name_len == 14 && strncasecmp(h[i].name, "retry-after-ms", 14) == 0;
		if (!ms && !(h[i].name_len == 11 && strncasecmp(h[i].name, "retry-after", 11) == 0))
			continue;
		int64_t v = 0;
		size_t k = 0;
		while (k < h[i].value_len && k < 12 && h[i].value[k] >= '0' && h[i].value[k] <= '9')
			v = v * 10 + (h[i].value[k++] - '0');
		/* "1.5" seconds: the integer part; a date is not worth a parser here */
		if (k == 0 || (k < h[i].value_len && h[i].value[k] != '.'))
			continue;
		return ms ? v : v * 1000;
	}
	return -1;
}

/* Ends the attempt with an error: counts, logs (rate-limited), emits its span. */
void api_call_attempt_failed(struct gw_req *r, enum gw_upstream_outcome mo, const char *span_type, const char *detail)
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
		/* the gateway's own x-ratelimit-* (the key's limits) replace the provider's */
		bool ours = r->gov.ask.nbuckets > 0 && strncasecmp(name, "x-ratelimit-", 12) == 0;
		if (!ours &&
		    (strcasecmp(name, "retry-after") == 0 || strcasecmp(name, "retry-after-ms") == 0 ||
		     strncasecmp(name, "x-ratelimit-", 12) == 0 || strcasecmp(name, "openai-processing-ms") == 0))
			http_srv_add_header(r, name, value);
		else if (strcasecmp(name, "x-request-id") == 0)
			http_srv_add_header(r, "x-upstream-request-id", value);
	}
}

/*
 * The client went away (or the server is draining): stop the provider at
 * once (h1: its connection is closed; h2: RST_STREAM) and finish r as
 * client_closed (499; 503 unavailable while draining) on both spans.
 */
void api_call_client_gone(struct gw_req *r)
{
	bool closed = http_srv_client_gone(r);
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	if (r->relay != NULL)
		api_stream_facts(r); /* what the stream had delivered: model, id, TTFT */
	if (r->att.start_ns != 0 && r->att.end_ns == 0) {
		snprintf(r->att.error_type, sizeof(r->att.error_type), "%s",
			 oai_err_def(closed ? GWE_CLIENT_CLOSED : GWE_UNAVAILABLE)->span_type);
		emit_client_span(r);
	}
	http_srv_abandon(r);
}

static void on_client_close(struct gw_req *r, void *arg)
{
	(void)arg;
	api_call_client_gone(r);
}

/* ---- whole answers ------------------------------------------------------------------------ */

/*
 * A whole 2xx answer after the output guardrails (verdict from
 * api_guard_output): refused, or stored in the cache and sent. up: the
 * upstream's headers worth relaying (NULL for in-process answers).
 */
static void answer_whole(struct gw_req *r, int status, const char *body, size_t len, int verdict,
			 const struct http_hdr *up, size_t nup)
{
	if (verdict < 0) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "the guardrails could not process the answer");
		return;
	}
	if (verdict > 0) {
		api_guard_reply_denied(r);
		return;
	}
	if (up != NULL)
		relay_headers(r, up, nup);
	api_cache_store_whole(r, status, body, len);
	http_srv_reply_body(r, status, "application/json", body != NULL ? body : "", len);
}

static void on_success(struct gw_req *r, const struct upstream_result *res)
{
	const struct gw_provider *p = req_provider(r);
	size_t len = res->body_len;
	const char *body = len > 0 ? res->body : NULL;
	struct buf translated;
	bool relay = true;
	struct err err;

	buf_init(&translated, CALL_MAX_ENCODED);
	if (r->ops->decode(p, &r->in, body, len, &r->att_resp, &translated, &relay, &err) < 0) {
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_UPSTREAM_INVALID)->span_type, err.msg);
		if (!retry_scheduled(r, ROUTE_FAIL_5XX, -1))
			http_srv_reply_error(r, GWE_UPSTREAM_INVALID, NULL,
					     "provider '%s' returned an invalid response", p->name);
		buf_fini(&translated);
		return;
	}
	r->att.resp = &r->att_resp;
	r->span.resp = r->att_resp;
	route_succeeded(REQ_ROUTE(r), &r->plan, attempt_latency_ns(r));
	gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
	const char *out = relay ? res->body : translated.data;
	size_t olen = relay ? res->body_len : translated.len;
	struct buf redacted;
	buf_init(&redacted, CALL_MAX_ENCODED);
	int verdict = api_guard_output(r, &out, &olen, &redacted);
	api_gov_cost(r, r->target->price, verdict == 0); /* a refused answer still cost what it cost */
	emit_client_span(r);
	answer_whole(r, res->status, out, olen, verdict, res->headers, res->nheaders);
	buf_fini(&redacted);
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
	api_call_attempt_failed(r, GW_UP_ERROR, code, detail);
	if (retry_scheduled(r, fail_of_status(res->status), retry_after_ms(res->headers, res->nheaders)))
		return;
	metric_inc(r->w->gw->metrics.upstream_relayed_errors);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", code);
	relay_headers(r, res->headers, res->nheaders);
	struct buf out;
	buf_init(&out, 64 * 1024);
	/* a translating provider's own error shape: OpenAI's, with the provider's message */
	if (r->ops->decode_error != NULL) {
		if (r->ops->decode_error(p, res->status, body, len, &out) == 0) {
			http_srv_reply_json(r, res->status, out.data != NULL ? out.data : "", out.len);
			buf_fini(&out);
			return;
		}
		buf_reset(&out);
	} else if (oai_err_is_openai_error(body, len)) {
		http_srv_reply_body(r, res->status, "application/json", res->body, res->body_len);
		buf_fini(&out);
		return;
	}
	/* not an error body we know: wrap it, without echoing provider bytes */
	char msg[160];
	snprintf(msg, sizeof(msg), "provider '%s' returned HTTP %d", p->name, res->status);
	if (oai_err_format(&out, msg, oai_err_type_for_status(res->status), NULL, "upstream_error") < 0)
		buf_reset(&out);
	http_srv_reply_json(r, res->status, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

/*
 * How each transport failure is counted and answered: the metric outcome,
 * the gateway error (status, OpenAI type and code), whether the span's
 * error.type names the outcome itself (which deadline; reset) rather than
 * the gateway error, and the message around the provider's name.
 */
static const struct upstream_failure failures[UPSTREAM__COUNT] = {
    [UPSTREAM_OK] = {GW_UP_ERROR, GWE_UPSTREAM_INVALID, false, "", " sent an invalid response"},
    [UPSTREAM_CONNECT_ERROR] = {GW_UP_CONNECT_ERROR, GWE_UPSTREAM_CONNECT, false, "could not reach ", ""},
    [UPSTREAM_TLS_ERROR] = {GW_UP_CONNECT_ERROR, GWE_UPSTREAM_TLS, false, "TLS with ", " failed"},
    [UPSTREAM_CONNECT_TIMEOUT] = {GW_UP_TIMEOUT, GWE_UPSTREAM_TIMEOUT, true, "", " timed out"},
    [UPSTREAM_FIRST_BYTE_TIMEOUT] = {GW_UP_TIMEOUT, GWE_UPSTREAM_TIMEOUT, true, "", " timed out"},
    [UPSTREAM_IDLE_TIMEOUT] = {GW_UP_TIMEOUT, GWE_UPSTREAM_TIMEOUT, true, "", " timed out"},
    [UPSTREAM_TOTAL_TIMEOUT] = {GW_UP_TIMEOUT, GWE_UPSTREAM_TIMEOUT, true, "", " timed out"},
    [UPSTREAM_RESET] = {GW_UP_CONNECT_ERROR, GWE_UPSTREAM_CONNECT, true, "", " closed the connection"},
    [UPSTREAM_PROTOCOL_ERROR] = {GW_UP_ERROR, GWE_UPSTREAM_INVALID, false, "", " sent an invalid response"},
    [UPSTREAM_TOO_LARGE] = {GW_UP_ERROR, GWE_UPSTREAM_INVALID, false, "", " sent an invalid response"},
};

const struct upstream_failure *api_call_failure_of(enum upstream_outcome o)
{
	return &failures[(unsigned)o < UPSTREAM__COUNT ? o : UPSTREAM_PROTOCOL_ERROR];
}

/* A call that ended before any streaming started: the whole answer, or why there is none. */
static void whole_done(struct gw_req *r, const struct upstream_result *res)
{
	const struct upstream_failure *f = api_call_failure_of(res->outcome);
	if (res->outcome == UPSTREAM_OK) {
		r->att.http_status = (uint16_t)res->status;
		if (res->status >= 200 && res->status < 300) {
			on_success(r, res);
			return;
		}
		if (res->status >= 400 && res->status < 600) {
			on_error_status(r, res);
			return;
		}
		api_call_attempt_failed(r, f->metric, oai_err_def(f->error)->span_type, "unexpected status");
		if (!retry_scheduled(r, ROUTE_FAIL_5XX, -1))
			http_srv_reply_error(r, f->error, NULL, "provider '%s' returned unexpected HTTP %d",
					     req_provider(r)->name, res->status);
		return;
	}
	api_call_attempt_failed(
	    r, f->metric, f->span_outcome ? upstream_outcome_name(res->outcome) : oai_err_def(f->error)->span_type,
	    res->detail);
	if (!retry_scheduled(r, fail_of_outcome(res->outcome), -1))
		http_srv_reply_error(r, f->error, NULL, "%sprovider '%s'%s: %s", f->before, req_provider(r)->name,
				     f->after, res->detail);
}
/* ---- the upstream call -------------------------------------------------------------------- */

static bool is_event_stream(const struct upstream_head *h)
{
	static const char sse[] = "text/event-stream";
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_hdr *x = &h->headers[i];
		if (x->name_len == 12 && strncasecmp(x->name, "content-type", 12) == 0)
			return x->value_len >= sizeof(sse) - 1 && strncasecmp(x->value, sse, sizeof(sse) - 1) == 0;
	}
	return false;
}

static enum upstream_body_mode on_upstream_head(struct upstream_call *call, const struct upstream_head *head, void *arg)
{
	struct gw_req *r = arg;
	(void)call;
	/* errors and non-SSE answers are relayed whole, with their real status */
	if (!r->chat.stream || head->status < 200 || head->status > 299 || !is_event_stream(head))
		return UPSTREAM_BODY_BUFFER;
	r->att.http_status = (uint16_t)head->status;
	relay_headers(r, head->headers, head->nheaders);
	/* on failure r is finished and the call cancelled: what is returned no longer matters */
	return api_stream_begin(r) == 0 ? UPSTREAM_BODY_STREAM : UPSTREAM_BODY_BUFFER;
}

static void on_upstream_data(struct upstream_call *call, const char *data, size_t len, void *arg)
{
	(void)call;
	api_stream_feed(arg, data, len);
}

static void on_upstream_done(struct upstream_call *call, const struct upstream_result *res, void *arg)
{
	struct gw_req *r = arg;
	(void)call;
	r->call = NULL; /* the pool frees the handle after this callback */
	if (r->relay != NULL)
		api_stream_done(r, res);
	else
		whole_done(r, res);
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
		if (strcasecmp(kv->key, "Authorization") == 0 || strcasecmp(kv->key, "api-key") == 0 ||
		    strcasecmp(kv->key, "x-api-key") == 0 || strcasecmp(kv->key, "x-goog-api-key") == 0) {
			volatile char *v = kv->value;
			while (*v != '\0')
				*v++ = '\0';
		}
	}
	evhttp_clear_headers(h);
}

/* The headers as the slices the upstream client takes (it copies them); NULL on ENOMEM. */
static struct http_hdr *header_slices(const struct evkeyvalq *hdrs, size_t *n)
{
	const struct evkeyval *kv;
	struct http_hdr *slices;
	*n = 0;
	TAILQ_FOREACH(kv, hdrs, next)
	(*n)++;
	if ((slices = calloc(*n > 0 ? *n : 1, sizeof(*slices))) == NULL)
		return NULL;
	*n = 0;
	TAILQ_FOREACH(kv, hdrs, next)
	{
		slices[*n] = (struct http_hdr){kv->key, kv->value, strlen(kv->key), strlen(kv->value)};
		(*n)++;
	}
	return slices;
}

static void send_upstream(struct gw_req *r, struct provider_chat_in *in)
{
	static const struct upstream_handlers whole = {NULL, NULL, on_upstream_done};
	static const struct upstream_handlers stream = {on_upstream_head, on_upstream_data, on_upstream_done};
	struct provider_http ph;
	struct evkeyvalq hdrs;
	struct http_hdr *slices = NULL;
	size_t n;
	struct err err;

	memset(&ph, 0, sizeof(ph));
	buf_init(&ph.body, CALL_MAX_ENCODED);
	TAILQ_INIT(&hdrs);
	if (r->ops->encode(req_provider(r), in, &ph, &err) < 0) {
		/* EINVAL: the request asks for what this provider cannot take (the message is for the client) */
		enum gw_error e = err.code == EINVAL ? GWE_INVALID_REQUEST : GWE_INTERNAL;
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(e)->span_type, err.msg);
		if (e == GWE_INVALID_REQUEST)
			http_srv_reply_error(r, e, NULL, "%s", err.msg);
		else
			http_srv_reply_error(r, e, NULL, "could not encode the request for the provider");
		goto out;
	}
	build_headers(r, &hdrs);
	if ((slices = header_slices(&hdrs, &n)) == NULL) {
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_INTERNAL)->span_type, "out of memory");
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		goto out;
	}
	struct upstream_request rq = {
	    .path = ph.path,
	    .headers = slices,
	    .nheaders = n,
	    .body = ph.use_client_body ? in->body : ph.body.data,
	    .body_len = ph.use_client_body ? in->body_len : ph.body.len,
	};
	r->call = upstream_call_start(r->w->pool, r->provider, &rq, r->chat.stream ? &stream : &whole, r, &err);
	if (r->call == NULL) {
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_INTERNAL)->span_type, err.msg);
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "could not start the upstream request");
		goto out;
	}
	http_srv_on_client_close(r, on_client_close, NULL);
out:
	free(slices);
	clear_headers(&hdrs);
	buf_fini(&ph.body);
}

/* ---- in-process providers ----------------------------------------------------------------- */

/* The whole SSE body of an in-process answer through the same relay as a network stream. */
static void relay_in_process(struct gw_req *r, const struct buf *sse)
{
	const struct upstream_result ok = {.outcome = UPSTREAM_OK, .status = 200};
	r->att.http_status = 200;
	if (api_stream_begin(r) < 0 || api_stream_feed(r, sse->data != NULL ? sse->data : "", sse->len) < 0)
		return;
	api_stream_done(r, &ok);
}

static void answer_in_process(struct gw_req *r, const struct provider_chat_in *in)
{
	struct buf out;
	struct err err;
	buf_init(&out, CALL_MAX_ENCODED);
	if (r->ops->answer(req_provider(r), in, &out, &r->att_resp, &err) < 0) {
		/* EINVAL: the request asks for something this provider cannot make (the client's to fix) */
		enum gw_error e = err.code == EINVAL ? GWE_INVALID_REQUEST : GWE_INTERNAL;
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(e)->span_type, err.msg);
		if (e == GWE_INVALID_REQUEST)
			http_srv_reply_error(r, e, NULL, "%s", err.msg);
		else
			http_srv_reply_error(r, e, NULL, "the built-in provider failed");
		goto out;
	}
	if (r->chat.stream) {
		relay_in_process(r, &out);
		goto out;
	}
	r->att.http_status = 200;
	r->att.resp = &r->att_resp;
	r->span.resp = r->att_resp;
	route_succeeded(REQ_ROUTE(r), &r->plan, attempt_latency_ns(r));
	gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
	const char *body = out.data != NULL ? out.data : "";
	size_t blen = out.len;
	struct buf redacted;
	buf_init(&redacted, CALL_MAX_ENCODED);
	int verdict = api_guard_output(r, &body, &blen, &redacted);
	api_gov_cost(r, r->target->price, verdict == 0);
	emit_client_span(r);
	answer_whole(r, 200, body, blen, verdict, NULL, 0);
	buf_fini(&redacted);
out:
	buf_fini(&out);
}

/* ---- entry points ------------------------------------------------------------------------- */

/* Starts the attempt on the target the router chose (r->plan.cur). */
static void attempt_start(struct gw_req *r)
{
	const struct gw_conf *c = r->gen->conf;
	if (r->next.target != NULL) /* a retry or fallback (route_first set up the first one) */
		route_advance(&r->plan, &r->next);
	r->target = r->plan.cur;
	r->provider = r->target->provider;
	r->ops = provider_ops_for(c->providers[r->provider].type);
	r->in.provider_model = r->target->model;
	attempt_begin(r);
	if (r->ops->in_process)
		answer_in_process(r, &r->in);
	else
		send_upstream(r, &r->in);
}

/* The cache was asked (api_cache_begin): admit r for its answer from there, or for its first attempt. */
static void after_lookup(struct gw_req *r)
{
	api_gov_admit(r, r->in.body_len, api_cache_hit(r) ? api_cache_serve : attempt_start);
}

/* Routes the parsed request and starts its first attempt. */
static void call_run(struct gw_req *r, enum provider_op op, const char *model, const char *body, size_t len)
{
	struct gw_worker *w = r->w;
	const struct gw_conf *conf = r->gen->conf;
	const struct gw_model *m = gw_conf_find_model(conf, model);
	struct err err;

	snprintf(r->span.request_model, sizeof(r->span.request_model), "%s", model);
	r->span.stream = r->chat.stream;
	r->model_index = m != NULL ? (size_t)(m - conf->models) : conf->nmodels;
	if (m == NULL) {
		http_srv_reply_error(r, GWE_MODEL_NOT_FOUND, "model",
				     "the model '%.128s' does not exist or is not served by this gateway", model);
		return;
	}
	if (!api_gov_allowed(r, r->span.request_model))
		return;
	/* the prompt's guardrails before anything else reads it; a redaction parses r->chat / r->embed again */
	if (api_guard_input(r, op, &body, &len) < 0)
		return;
	model = r->span.request_model; /* the old parse may be gone */
	memset(&r->next, 0, sizeof(r->next));
	if (route_first(REQ_ROUTE(r), &r->plan, m, PROVIDER_EP(op), &w->rng, (int64_t)clock_mono_ns(),
			&r->next.reason) == NULL) {
		http_srv_reply_error(r, GWE_MODEL_NOT_FOUND, "model", "the model '%.128s' is not served on %s", model,
				     op_paths[op]);
		return;
	}
	r->in = (struct provider_chat_in){
	    .op = op,
	    .req = op != PROVIDER_OP_EMBEDDINGS ? &r->chat : NULL,
	    .embed = op == PROVIDER_OP_EMBEDDINGS ? &r->embed : NULL,
	    .body = body,
	    .body_len = len,
	    .client_model = r->span.request_model, /* a copy: an attempt may rename the model in root */
	    .request_id = r->span.request_id,
	    .created = (int64_t)(clock_wall_ns() / 1000000000u),
	};
	/* a stream without include_usage asks for usage anyway, for the span (the relay drops it); once for all
	 * attempts */
	buf_init(&r->up_body, CALL_MAX_ENCODED);
	int injected = r->in.req != NULL ? chat_request_inject_usage(r->in.req, body, len, &r->up_body, &err) : 0;
	if (injected < 0) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "could not prepare the streaming request");
		return;
	}
	if (injected == 1) {
		r->in.body = r->up_body.data;
		r->in.body_len = r->up_body.len;
	}
	/* a client leaving while the cache or the limits are asked (Redis) must not start an attempt */
	http_srv_on_client_close(r, on_client_close, NULL);
	api_cache_begin(r, m, op, body, len, after_lookup);
}

void api_call_fini(struct gw_req *r)
{
	api_gov_cancel(r);
	api_gov_settle(r);
	chat_request_fini(&r->chat);
	embed_request_fini(&r->embed);
	api_cache_fini_req(r);
	api_guard_fini_req(r); /* after the parsed request: it may borrow the redacted body */
	chat_stream_free(r->relay);
	r->relay = NULL;
	if (r->xlate != NULL) {
		r->ops->stream_free(r->xlate);
		r->xlate = NULL;
	}
	buf_fini(&r->xlate_out);
	buf_fini(&r->relay_out);
	buf_fini(&r->up_body);
	if (r->retry_ev != NULL) {
		event_free(r->retry_ev);
		r->retry_ev = NULL;
	}
}

void api_call_handle(struct gw_req *r, enum provider_op op)
{
	size_t len;
	const char *body = http_srv_body(r, &len);
	struct chat_parse_err pe;
	enum chat_perr rc;

	switch (op) {
	case PROVIDER_OP_CHAT:
		rc = chat_request_parse(body, len, &r->chat, &pe);
		break;
	case PROVIDER_OP_COMPLETIONS:
		rc = chat_legacy_request_parse(body, len, &r->chat, &pe);
		break;
	case PROVIDER_OP_EMBEDDINGS:
	default:
		rc = embed_request_parse(body, len, &r->embed, &pe);
		op = PROVIDER_OP_EMBEDDINGS;
		break;
	}
	if (rc != CHAT_OK) {
		snprintf(r->span.request_model, sizeof(r->span.request_model), "%s", pe.model);
		http_srv_reply_error(r, GWE_INVALID_REQUEST, pe.param, "%s", pe.msg);
		return;
	}
	call_run(r, op, op == PROVIDER_OP_EMBEDDINGS ? r->embed.model : r->chat.model, body, len);
}
