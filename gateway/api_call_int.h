/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the OpenAI call shared by its two files, by role:
 *   api_call.c    the attempt: parse, route, encode and send (or answer
 *                 in-process), retries and fallbacks, whole answers, the
 *                 client going away
 *   api_stream.c  the stream relay: the 200 SSE head, each upstream piece
 *                 through the provider's translator and the relay on to
 *                 the client, and how a stream ends (done, broken, denied)
 * Not a public interface: only these two files include it. The small
 * helpers every attempt and every stream end use are static inline here,
 * so the split costs the hot path no calls.
 */
#ifndef LLMGW_GATEWAY_API_CALL_INT_H
#define LLMGW_GATEWAY_API_CALL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "gateway/gw.h"
#include "gateway/gw_gen.h"
#include "gateway/gw_metrics.h"
#include "gateway/http_srv.h"
#include "gateway/oai_err.h"
#include "gateway/span_batch.h"
#include "gateway/span_emit.h"
#include "gateway/upstream.h"

#define CALL_MAX_ENCODED ((size_t)64 << 20)

/* This worker's round-robin state in the request's config generation. */
#define REQ_ROUTE(r) ((r)->gen->route[(r)->w->id])

static inline const struct gw_provider *req_provider(const struct gw_req *r)
{
	return &r->w->gw->conf->providers[r->provider];
}

/* Emits the CLIENT span once (a later call is a no-op: end_ns is set). */
static inline void emit_client_span(struct gw_req *r)
{
	if (r->att.end_ns != 0)
		return;
	r->att.end_ns = clock_wall_ns();
	span_emit_build_client(span_batch_slot(&r->w->spans), &r->span, &r->att);
	span_batch_commit(&r->w->spans);
}

static inline uint64_t attempt_latency_ns(const struct gw_req *r)
{
	uint64_t now = clock_mono_ns();
	return now > r->att_start_mono_ns ? now - r->att_start_mono_ns : 0;
}

/* ---- api_call.c: the attempt ---------------------------------------------------------------- */

/* One row of the transport failure table (api_call.c says what each field means). */
struct upstream_failure {
	enum gw_upstream_outcome metric;
	enum gw_error error;
	bool span_outcome;
	const char *before, *after;
};

/* How transport outcome o is counted and answered; an unknown o is a protocol error. */
const struct upstream_failure *api_call_failure_of(enum upstream_outcome o);
/* Ends the attempt with an error: counts, logs (rate-limited), emits its span. */
void api_call_attempt_failed(struct gw_req *r, enum gw_upstream_outcome mo, const char *span_type, const char *detail);
/* The client went away (or the server is draining): cancels the upstream call, finishes r (abandon). */
void api_call_client_gone(struct gw_req *r);

/* ---- api_stream.c: the stream relay --------------------------------------------------------- */

/* Creates the relay and sends the 200 SSE head. -1 after finishing r. */
int api_stream_begin(struct gw_req *r);
/* One upstream piece through the translator (if any) and the relay to the client. -1 after finishing r. */
int api_stream_feed(struct gw_req *r, const char *data, size_t len);
/* The upstream side of a stream ended (res): flushes and ends the client's stream; always finishes r. */
void api_stream_done(struct gw_req *r, const struct upstream_result *res);
/* The relay's facts so far (model, id, usage, TTFT) onto both spans; r->relay must be set. */
void api_stream_facts(struct gw_req *r);

#endif
