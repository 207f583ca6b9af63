/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds SERVER and CLIENT span records from a request's facts and hands
 * them to the span pipe. Every string goes through spanrec_set_str, which
 * cuts at a UTF-8 boundary and flags the cut, so no input length can
 * overflow a record.
 */
#include "gateway/span_emit.h"

#include <stdio.h>
#include <string.h>

#include "common/metrics.h"
#include "common/spanrec.h"

void span_trace_init(struct span_trace *t, struct ids_rng *rng, const char *traceparent)
{
	struct traceparent tp;
	memset(t, 0, sizeof(*t));
	if (traceparent != NULL && ids_traceparent_parse(traceparent, strlen(traceparent), &tp) == 0) {
		memcpy(t->trace_id, tp.trace_id, sizeof(t->trace_id));
		memcpy(t->parent_id, tp.parent_id, sizeof(t->parent_id));
		t->flags = tp.flags;
		t->parent_remote = true;
	} else {
		ids_rng_fill(rng, t->trace_id, sizeof(t->trace_id));
		t->flags = 0x01; /* we record every request, so say so downstream */
	}
	ids_rng_fill(rng, t->span_id, sizeof(t->span_id));
}

int span_req_add_meta(struct span_req *q, const char *key, const char *value)
{
	if (q->nmeta >= SPANREC_META_MAX) {
		q->meta_overflow = true;
		return -1;
	}
	struct span_meta_kv *kv = &q->meta[q->nmeta++];
	snprintf(kv->key, sizeof(kv->key), "%s", key);
	snprintf(kv->value, sizeof(kv->value), "%s", value);
	return 0;
}

/* Fields both span kinds carry: who asked, for what, and what came back. */
static void fill_common(struct spanrec *r, const struct span_req *q, const struct chat_response_info *resp)
{
	r->op = (uint8_t)q->op;
	r->trace_flags = q->trace.flags;
	memcpy(r->trace_id, q->trace.trace_id, sizeof(r->trace_id));
	if (q->stream)
		r->flags |= SPANREC_F_STREAM;
	SPANREC_SET(r, request_model, q->request_model);
	SPANREC_SET(r, request_id, q->request_id);
	if (q->ident != NULL) {
		SPANREC_SET(r, tenant_id, q->ident->tenant_id);
		SPANREC_SET(r, team, q->ident->team);
		SPANREC_SET(r, user, q->ident->user);
		SPANREC_SET(r, key_name, q->ident->key_name);
	}
	if (resp != NULL) {
		SPANREC_SET(r, response_model, resp->model);
		SPANREC_SET(r, response_id, resp->id);
		SPANREC_SET(r, finish_reason, resp->finish_reason);
		if (resp->has_usage) {
			r->flags |= SPANREC_F_HAS_USAGE;
			r->input_tokens = resp->prompt_tokens;
			r->output_tokens = resp->completion_tokens;
			r->cache_read_tokens = resp->cached_tokens;
		}
	}
}

/* "chat gpt-4o", or the operation alone when the model is not known. */
static void set_name(struct spanrec *r, enum spanrec_op op, const char *model, const char *fallback)
{
	char name[sizeof(r->name) + 1 + CHAT_MODEL_MAX + 1];
	const char *opn = spanrec_op_name(op);
	if (opn == NULL)
		snprintf(name, sizeof(name), "%s", fallback != NULL ? fallback : "HTTP");
	else if (model != NULL && model[0] != '\0')
		snprintf(name, sizeof(name), "%s %s", opn, model);
	else
		snprintf(name, sizeof(name), "%s", opn);
	SPANREC_SET(r, name, name);
}

/* The response cache's and the guardrails' share of the SERVER span. */
static void server_cache_guard(struct spanrec *r, const struct span_req *q)
{
	if (q->cache_hit)
		r->flags |= SPANREC_F_CACHE_HIT | SPANREC_F_CACHE_LOOKUP;
	else if (q->cache_lookup)
		r->flags |= SPANREC_F_CACHE_LOOKUP;
	if (q->guard_denied)
		r->flags |= SPANREC_F_GUARD_DENIED;
	if (q->guard_redacted)
		r->flags |= SPANREC_F_GUARD_REDACTED;
	if (q->guardrails[0] != '\0')
		SPANREC_SET(r, guardrails, q->guardrails);
}

void span_emit_build_server(struct spanrec *r, const struct span_req *q)
{
	spanrec_init(r, SPANREC_KIND_SERVER);
	fill_common(r, q, &q->resp);
	memcpy(r->span_id, q->trace.span_id, sizeof(r->span_id));
	if (q->trace.parent_remote) {
		memcpy(r->parent_span_id, q->trace.parent_id, sizeof(r->parent_span_id));
		r->flags |= SPANREC_F_PARENT_REMOTE;
	}
	set_name(r, q->op, q->request_model, q->method);
	r->start_ns = q->start_ns;
	r->end_ns = q->end_ns >= q->start_ns ? q->end_ns : q->start_ns;
	r->http_status = q->http_status;
	r->ttft_ns = q->ttft_ns;
	r->attempt = q->attempts;
	if (q->has_cost) {
		r->flags |= SPANREC_F_HAS_COST;
		r->cost_micro_usd = q->cost_micro;
	}
	if (q->provider != NULL)
		SPANREC_SET(r, provider, q->provider);
	if (q->target != NULL)
		SPANREC_SET(r, target, q->target);
	/* a stream that broke after its 200 head is an error too: error_type says why */
	if (q->http_status >= 400 || q->error_type[0] != '\0') {
		char code[8];
		r->status = SPANREC_STATUS_ERROR;
		snprintf(code, sizeof(code), "%u", (unsigned)q->http_status);
		SPANREC_SET(r, error_type, q->error_type[0] != '\0' ? q->error_type : code);
	}
	for (unsigned i = 0; i < q->nmeta && i < SPANREC_META_MAX; i++)
		spanrec_add_meta(r, q->meta[i].key, q->meta[i].value);
	if (q->meta_overflow)
		r->flags |= SPANREC_F_META_FULL;
	server_cache_guard(r, q);
}

void span_emit_build_client(struct spanrec *r, const struct span_req *q, const struct span_attempt *a)
{
	spanrec_init(r, SPANREC_KIND_CLIENT);
	fill_common(r, q, a->resp);
	memcpy(r->span_id, a->span_id, sizeof(r->span_id));
	memcpy(r->parent_span_id, q->trace.span_id, sizeof(r->parent_span_id));
	set_name(r, q->op, a->provider_model, q->method);
	r->start_ns = a->start_ns;
	r->end_ns = a->end_ns >= a->start_ns ? a->end_ns : a->start_ns;
	r->attempt = a->attempt;
	if (a->fallback_reason != NULL && a->fallback_reason[0] != '\0')
		SPANREC_SET(r, fallback_reason, a->fallback_reason);
	r->http_status = a->http_status;
	r->ttft_ns = a->ttft_ns;
	if (a->has_cost) {
		r->flags |= SPANREC_F_HAS_COST;
		r->cost_micro_usd = a->cost_micro;
	}
	SPANREC_SET(r, provider, a->provider);
	SPANREC_SET(r, target, a->target);
	if (a->server_address != NULL) {
		SPANREC_SET(r, server_address, a->server_address);
		r->server_port = a->server_port;
	}
	if (a->error_type[0] != '\0' || a->http_status >= 400) {
		char code[8];
		r->status = SPANREC_STATUS_ERROR;
		snprintf(code, sizeof(code), "%u", (unsigned)a->http_status);
		SPANREC_SET(r, error_type, a->error_type[0] != '\0' ? a->error_type : code);
	}
}

enum spanpipe_result span_emit_send(const struct span_out *o, const struct spanrec *r)
{
	enum spanpipe_result res;
	if (o == NULL || o->pipe == NULL)
		return SPANPIPE_SENT; /* spans off: nothing to count */
	res = spanpipe_send(o->pipe, r);
	switch (res) {
	case SPANPIPE_SENT:
		metric_inc(o->sent);
		break;
	case SPANPIPE_FULL:
		metric_inc(o->dropped_full);
		break;
	case SPANPIPE_ERROR:
		metric_inc(o->dropped_error);
		break;
	}
	return res;
}
