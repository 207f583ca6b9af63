/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream relay of an OpenAI call (the attempt itself is api_call.c;
 * what both share is api_call_int.h): the 200 SSE head, each upstream
 * piece through the provider's translator (when its stream is not
 * OpenAI's) and chat_stream_feed to the client, and how the stream ends:
 * done, broken off by the provider, cut by a guardrail, or left by the
 * client.
 *
 * Streams. A stream: true request whose client did not ask for
 * stream_options.include_usage gets it added upstream (spliced into the
 * client's bytes) so the span has token counts, and the relay drops the
 * usage chunk again. The decision to stream is taken on the response
 * head: only a 2xx text/event-stream answer is streamed (200 SSE head to
 * the client, then each upstream piece through chat_stream_feed, whose
 * complete events go out at once); anything else is buffered and answered
 * like a non-streaming call, so an error before the first byte is always
 * a JSON error with its real status. Time to first token is taken when
 * the relay sees the first content delta: from request arrival for the
 * SERVER span, from the attempt's start for the CLIENT span.
 *
 * Once the 200 head is out a failure is never retried (the client has
 * part of the answer): every path here ends with http_srv_stream_end, or
 * with api_call_client_gone when the client is the one that left.
 */
#include "gateway/api_call_int.h"

#include <errno.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/api_cache.h"
#include "gateway/api_gov.h"
#include "gateway/api_guard.h"
#include "gateway/chat_stream.h"
#include "gateway/http_srv.h"
#include "gateway/router.h"
#include "gateway/upstream.h"

static int relay_write(const char *p, size_t n, void *arg)
{
	return http_srv_stream_write(arg, p, n);
}

/*
 * While the relay works through one upstream piece, its events are
 * collected here and leave in one client write once the piece is done
 * (relay_send): a provider's read holds many events, and a write per
 * event cost a syscall and a wakeup of the client each. Nothing waits for
 * a later piece, so no event is delayed.
 */
static int relay_collect(const char *p, size_t n, void *arg)
{
	struct gw_req *r = arg;
	return buf_append(&r->relay_out, p, n);
}

/* Sends what relay_collect gathered; -1 when the client is gone. */
static int relay_send(struct gw_req *r)
{
	int rc = 0;
	if (r->relay_out.len > 0) {
		api_cache_capture(r, r->relay_out.data,
				  r->relay_out.len); /* what the client gets is what a hit replays */
		rc = http_srv_stream_write(r, r->relay_out.data, r->relay_out.len);
	}
	buf_reset(&r->relay_out);
	return rc;
}

/* chat_stream_feed through relay_collect, then one write; the feed's result (-1 with err, EPIPE: client gone). */
static int relay_feed(struct gw_req *r, const char *data, size_t len, struct err *err)
{
	int rc = chat_stream_feed(r->relay, data, len, clock_mono_ns(), relay_collect, r, err);
	if (relay_send(r) < 0) {
		err_set(err, EPIPE, "the client is gone");
		return -1;
	}
	return rc;
}

/* The relay's facts so far onto both spans (also for a stream cut short). */
void api_stream_facts(struct gw_req *r)
{
	const struct chat_stream_info *in = chat_stream_info(r->relay);
	r->att_resp = in->resp;
	r->att.resp = &r->att_resp;
	r->span.resp = in->resp;
	if (in->first_token && in->first_token_ns > r->att_start_mono_ns)
		r->att.ttft_ns = in->first_token_ns - r->att_start_mono_ns;
	if (in->first_token && in->first_token_ns > r->start_mono_ns)
		r->span.ttft_ns = in->first_token_ns - r->start_mono_ns;
}

/* Ends a stream that failed after its 200 head: error type `why` on both spans. */
static void stream_end_error(struct gw_req *r, enum gw_upstream_outcome mo, const char *why, const char *detail)
{
	/* never retried: the client has part of the answer; the target's health still hears of it */
	enum route_fail f = mo == GW_UP_TIMEOUT		? ROUTE_FAIL_TIMEOUT
			    : mo == GW_UP_CONNECT_ERROR ? ROUTE_FAIL_CONNECT
							: ROUTE_FAIL_5XX;
	route_record_failure(REQ_ROUTE(r), &r->plan, f, attempt_latency_ns(r), (int64_t)clock_mono_ns());
	api_stream_facts(r);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", why);
	api_call_attempt_failed(r, mo, why, detail);
	http_srv_stream_end(r);
}

/*
 * Creates the relay and sends the 200 SSE head (x-request-id and the
 * relayed headers with it). -1 after finishing r: out of memory (500) or
 * the client is gone; a call in flight is cancelled by the finishing call.
 */
int api_stream_begin(struct gw_req *r)
{
	struct chat_stream_opts o = {
	    .drop_usage_chunk = !r->chat.include_usage, /* the gateway asked for it: the client did not */
	    .n_choices = r->chat.n_choices,
	};
	int guarded = api_guard_stream_filter(r, &o); /* output guardrails rewrite the events on their way */
	buf_init(&r->relay_out, CALL_MAX_ENCODED);
	if (r->ops->stream_new != NULL && !r->ops->in_process) {
		buf_init(&r->xlate_out, CALL_MAX_ENCODED);
		r->xlate = r->ops->stream_new(req_provider(r), &r->in);
	}
	if (guarded < 0 || (r->relay = chat_stream_new(&o)) == NULL ||
	    (r->ops->stream_new != NULL && r->xlate == NULL)) {
		api_call_attempt_failed(r, GW_UP_ERROR, oai_err_def(GWE_INTERNAL)->span_type, "out of memory");
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		return -1;
	}
	http_srv_add_header(r, "Cache-Control", "no-cache");
	if (http_srv_stream_start(r, 200, "text/event-stream") < 0) {
		api_call_client_gone(r);
		return -1;
	}
	return 0;
}

/* The provider's stream is unusable from here: stop it, tell the client. */
static void stream_broken(struct gw_req *r, const char *client_msg, enum upstream_outcome why, const char *detail)
{
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	chat_stream_fail(r->relay, client_msg, relay_write, r);
	stream_end_error(r, GW_UP_ERROR, upstream_outcome_name(why), detail);
}

/*
 * An output guardrail matched in the stream: the provider is stopped, the
 * client gets the guardrail's error event instead of the text, the stream
 * ends. The provider did nothing wrong: its target's health is untouched
 * and the CLIENT span carries no error; the SERVER span says
 * guardrail_denied.
 */
static void stream_denied(struct gw_req *r)
{
	char msg[160];
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	api_stream_facts(r);
	api_guard_stream_message(r, msg, sizeof(msg));
	chat_stream_deny(r->relay, msg, relay_write, r);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", oai_err_def(GWE_GUARDRAIL_DENIED)->span_type);
	metric_inc(r->w->gw->metrics.errors[GWE_GUARDRAIL_DENIED]);
	gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
	emit_client_span(r);
	http_srv_stream_end(r);
}

/* A relay feed failed (err from relay_feed): finishes r the way the failure says. */
static void relay_failed(struct gw_req *r, const struct err *err)
{
	if (err->code == EPIPE)
		api_call_client_gone(r);
	else if (err->code == EACCES)
		stream_denied(r);
	else if (err->code == ENOMEM)
		stream_broken(r, "the gateway could not process the stream", UPSTREAM_PROTOCOL_ERROR, err->msg);
	else
		stream_broken(r, "the provider sent a stream event over the size limit", UPSTREAM_TOO_LARGE, err->msg);
}

/*
 * Feeds the relay, through the provider's translator when its stream is
 * not OpenAI's; -1 after finishing r (the client is gone, an event is over
 * the bound, the provider's stream cannot be read, or a guardrail stopped it).
 */
int api_stream_feed(struct gw_req *r, const char *data, size_t len)
{
	struct err err;
	if (r->xlate != NULL) {
		buf_reset(&r->xlate_out);
		if (r->ops->stream_feed(r->xlate, data, len, &r->xlate_out, &err) < 0) {
			bool big = err.code == EMSGSIZE;
			stream_broken(r,
				      big ? "the provider sent a stream event over the size limit"
					  : "the provider sent a stream the gateway cannot read",
				      big ? UPSTREAM_TOO_LARGE : UPSTREAM_PROTOCOL_ERROR, err.msg);
			return -1;
		}
		data = r->xlate_out.data != NULL ? r->xlate_out.data : "";
		len = r->xlate_out.len;
	}
	if (relay_feed(r, data, len, &err) == 0)
		return 0;
	relay_failed(r, &err);
	return -1;
}

/* The upstream body ended cleanly: what the translator still owes the client (usage, [DONE]). -1: r finished. */
static int stream_flush(struct gw_req *r)
{
	struct err err;
	if (r->xlate == NULL)
		return 0;
	buf_reset(&r->xlate_out);
	if (r->ops->stream_finish(r->xlate, &r->xlate_out, &err) < 0) {
		stream_broken(r, "the provider sent a stream the gateway cannot read", UPSTREAM_PROTOCOL_ERROR,
			      err.msg);
		return -1;
	}
	if (r->xlate_out.len == 0)
		return 0;
	if (relay_feed(r, r->xlate_out.data, r->xlate_out.len, &err) == 0)
		return 0;
	relay_failed(r, &err);
	return -1;
}

/* The upstream side of a stream ended: close the client's stream the way the relay decides. */
void api_stream_done(struct gw_req *r, const struct upstream_result *res)
{
	const struct chat_stream_info *in = chat_stream_info(r->relay);
	char msg[256];
	enum chat_stream_end end = CHAT_STREAM_END_DONE;

	if (res->outcome == UPSTREAM_OK) {
		if (stream_flush(r) < 0)
			return;
		end = chat_stream_finish(r->relay, NULL, relay_write, r);
	} else if (!in->done || in->upstream_error) {
		/* reset, idle or total timeout, protocol error mid-stream: the error event, then the end */
		snprintf(msg, sizeof(msg), "the stream from provider '%s' broke off: %s", req_provider(r)->name,
			 res->detail);
		chat_stream_fail(r->relay, msg, relay_write, r);
		stream_end_error(r, api_call_failure_of(res->outcome)->metric, upstream_outcome_name(res->outcome),
				 res->detail);
		return;
	} /* else [DONE] was relayed before the failure: the client has the whole stream */
	switch (end) {
	case CHAT_STREAM_END_DONE:
	case CHAT_STREAM_END_NO_DONE:
		api_stream_facts(r);
		api_gov_cost(r, r->target->price, false);
		/* least-latency compares streams by time to first token when there was one */
		route_succeeded(REQ_ROUTE(r), &r->plan, r->att.ttft_ns != 0 ? r->att.ttft_ns : attempt_latency_ns(r));
		gw_metrics_upstream(&r->w->gw->metrics, r->provider, GW_UP_OK);
		emit_client_span(r);
		api_cache_store_stream(r, chat_stream_info(r->relay));
		http_srv_stream_end(r);
		return;
	case CHAT_STREAM_END_UPSTREAM_ERROR:
		stream_end_error(r, GW_UP_ERROR, "upstream_stream_error", "the provider sent an error event");
		return;
	case CHAT_STREAM_END_TRUNCATED:
		stream_end_error(r, GW_UP_ERROR, "stream_truncated", "the stream ended before it was complete");
		return;
	}
}
