/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardrails on the request path (see api_guard.h). A request whose model
 * and key name no rules costs one bit test; otherwise its state (scratch
 * space, the verdict so far, the redacted body or answer, a stream's
 * filter) is allocated on first use and freed with the request.
 */
#include "gateway/api_guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "gateway/auth.h"
#include "gateway/guard_json.h"
#include "gateway/gw.h"
#include "gateway/gw_gen.h"
#include "gateway/http_srv.h"

#define GUARD_BODY_MAX ((size_t)64 << 20)

enum { ST_INPUT = 0, ST_OUTPUT, ST__COUNT };
enum { AC_REDACT = 0, AC_DENY, AC__COUNT };

struct api_guard_metrics {
	struct metric *actions[ST__COUNT][AC__COUNT];
};

struct api_guard_req {
	struct guard_scratch s;
	struct guard_verdict v; /* input and output together */
	struct buf body;	/* the redacted request body: the parsed request borrows it */
	struct guard_sse *sse;	/* a stream's filter */
	bool counted[ST__COUNT][AC__COUNT];
};

int api_guard_init(struct gw *g, struct err *err)
{
	static const char *const st[ST__COUNT] = {"input", "output"}, *const ac[AC__COUNT] = {"redact", "deny"};
	struct api_guard_metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return err_set(err, ENOMEM, "out of memory");
	g->guard_metrics = m;
	for (int s = 0; s < ST__COUNT; s++)
		for (int a = 0; a < AC__COUNT; a++) {
			char labels[64];
			snprintf(labels, sizeof(labels), "stage=\"%s\",action=\"%s\"", st[s], ac[a]);
			m->actions[s][a] =
			    metrics_counter(g->metrics.reg, "llmgw_guardrail_actions_total",
					    "Requests a guardrail redacted or refused, by stage", labels);
			if (m->actions[s][a] == NULL)
				return err_set(err, ENOMEM, "cannot register llmgw_guardrail_actions_total");
		}
	return 0;
}

void api_guard_fini(struct gw *g)
{
	free(g->guard_metrics);
	g->guard_metrics = NULL;
}

static const struct gw_conf *req_conf(const struct gw_req *r)
{
	return r->gen->conf;
}

static struct guard_ctx ctx_for(const struct gw_req *r, unsigned stage)
{
	const struct gw_conf *c = req_conf(r);
	const struct gw_key *k = r->span.ident != NULL ? r->span.ident->key : NULL;
	guard_mask all =
	    (r->model_index < c->nmodels ? c->models[r->model_index].guards : 0) | (k != NULL ? k->guards : 0);
	return (struct guard_ctx){c->guards, c->nguards, guard_mask_stage(c->guards, c->nguards, all, stage), r->w->id};
}

static struct api_guard_req *state(struct gw_req *r)
{
	if (r->guard == NULL && (r->guard = calloc(1, sizeof(*r->guard))) != NULL) {
		guard_verdict_init(&r->guard->v);
		buf_init(&r->guard->body, GUARD_BODY_MAX);
	}
	return r->guard;
}

/* The rule names that fired so far, in config order, onto the SERVER span. */
static void span_names(struct gw_req *r, guard_mask fired)
{
	const struct gw_conf *c = req_conf(r);
	char *out = r->span.guardrails;
	size_t cap = sizeof(r->span.guardrails), at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < c->nguards && i < GUARD_RULES_MAX && at + 1 < cap; i++) {
		if (!(fired & ((guard_mask)1 << i)))
			continue;
		int n = snprintf(out + at, cap - at, "%s%s", at > 0 ? "," : "", c->guards[i].name);
		at = n > 0 && (size_t)n < cap - at ? at + (size_t)n : cap - 1;
	}
}

/* Merges one pass's verdict: span fields and the stage's counters (each once per request). */
static void note(struct gw_req *r, struct api_guard_req *g, int stage, const struct guard_verdict *v)
{
	struct api_guard_metrics *m = r->w->gw->guard_metrics;
	g->v.fired |= v->fired;
	g->v.redacted |= v->redacted;
	if (g->v.deny_rule < 0)
		g->v.deny_rule = v->deny_rule;
	if (v->fired == 0)
		return;
	span_names(r, g->v.fired);
	r->span.guard_denied = g->v.deny_rule >= 0;
	r->span.guard_redacted = g->v.redacted;
	for (int a = 0; a < AC__COUNT; a++) {
		bool now = a == AC_DENY ? v->deny_rule >= 0 : v->redacted;
		if (now && !g->counted[stage][a]) {
			g->counted[stage][a] = true;
			if (m != NULL)
				metric_inc(m->actions[stage][a]);
		}
	}
}

static const char *rule_name(const struct gw_req *r, int i)
{
	const struct gw_conf *c = req_conf(r);
	return i >= 0 && (size_t)i < c->nguards ? c->guards[i].name : "?";
}

/* The request again, from the redacted body (which r keeps). */
static int reparse(struct gw_req *r, enum provider_op op, const char *body, size_t len)
{
	struct chat_parse_err pe;
	switch (op) {
	case PROVIDER_OP_CHAT:
		chat_request_fini(&r->chat);
		return chat_request_parse(body, len, &r->chat, &pe) == CHAT_OK ? 0 : -1;
	case PROVIDER_OP_COMPLETIONS:
		chat_request_fini(&r->chat);
		return chat_legacy_request_parse(body, len, &r->chat, &pe) == CHAT_OK ? 0 : -1;
	case PROVIDER_OP_EMBEDDINGS:
	default:
		embed_request_fini(&r->embed);
		return embed_request_parse(body, len, &r->embed, &pe) == CHAT_OK ? 0 : -1;
	}
}

int api_guard_input(struct gw_req *r, enum provider_op op, const char **body, size_t *len)
{
	static const enum guard_json_op jop[PROVIDER_OP__COUNT] = {
	    [PROVIDER_OP_CHAT] = GUARD_JSON_CHAT,
	    [PROVIDER_OP_COMPLETIONS] = GUARD_JSON_COMPLETIONS,
	    [PROVIDER_OP_EMBEDDINGS] = GUARD_JSON_EMBEDDINGS,
	};
	struct guard_ctx ctx = ctx_for(r, GUARD_STAGE_INPUT);
	struct api_guard_req *g;
	struct guard_verdict v;
	if (ctx.mask == 0)
		return 0;
	if ((g = state(r)) == NULL) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		return -1;
	}
	guard_verdict_init(&v);
	int rc = guard_json_request(&ctx, &g->s, jop[op], *body, *len, &g->body, &v);
	note(r, g, ST_INPUT, &v);
	if (rc == GUARD_JSON_DENIED) {
		http_srv_reply_error(r, GWE_GUARDRAIL_DENIED, NULL, "the request was refused by guardrail '%s'",
				     rule_name(r, v.deny_rule));
		return -1;
	}
	if (rc == GUARD_JSON_REDACTED && reparse(r, op, g->body.data, g->body.len) < 0)
		rc = -1;
	if (rc < 0) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "the guardrails could not process the request");
		return -1;
	}
	if (rc == GUARD_JSON_REDACTED) {
		*body = g->body.data;
		*len = g->body.len;
	}
	return 0;
}

int api_guard_output(struct gw_req *r, const char **body, size_t *len, struct buf *redacted)
{
	struct guard_ctx ctx = ctx_for(r, GUARD_STAGE_OUTPUT);
	struct api_guard_req *g;
	struct guard_verdict v;
	if (ctx.mask == 0)
		return 0;
	if ((g = state(r)) == NULL)
		return -1;
	guard_verdict_init(&v);
	int rc = guard_json_response(&ctx, &g->s, *body != NULL ? *body : "", *len, redacted, &v);
	note(r, g, ST_OUTPUT, &v);
	if (rc < 0)
		return -1;
	if (rc == GUARD_JSON_DENIED)
		return 1;
	if (rc == GUARD_JSON_REDACTED) {
		*body = redacted->data;
		*len = redacted->len;
	}
	return 0;
}

void api_guard_reply_denied(struct gw_req *r)
{
	int rule = r->guard != NULL ? r->guard->v.deny_rule : -1;
	http_srv_reply_error(r, GWE_GUARDRAIL_DENIED, NULL, "the answer was withheld by guardrail '%s'",
			     rule_name(r, rule));
}

void api_guard_stream_message(const struct gw_req *r, char *out, size_t cap)
{
	int rule = r->guard != NULL ? r->guard->v.deny_rule : -1;
	snprintf(out, cap, "the answer was stopped by guardrail '%s'", rule_name(r, rule));
}

/* chat_stream's filter: one data event (or the flush before [DONE]) through the stream's rules. */
static int filter(void *arg, const char *data, size_t len, struct buf *out)
{
	struct gw_req *r = arg;
	struct api_guard_req *g = r->guard;
	struct guard_verdict v;
	guard_verdict_init(&v);
	int rc = data != NULL ? guard_sse_chunk(g->sse, data, len, out, &v) : guard_sse_flush(g->sse, out, &v);
	note(r, g, ST_OUTPUT, &v);
	if (rc < 0)
		return -1;
	return rc == GUARD_JSON_DENIED ? CHAT_STREAM_FILTER_DENY
	       : rc == GUARD_JSON_PASS ? CHAT_STREAM_FILTER_PASS
				       : CHAT_STREAM_FILTER_REPLACE;
}

int api_guard_stream_filter(struct gw_req *r, struct chat_stream_opts *o)
{
	struct guard_ctx ctx = ctx_for(r, GUARD_STAGE_OUTPUT);
	struct api_guard_req *g;
	if (ctx.mask == 0)
		return 0;
	if ((g = state(r)) == NULL || (g->sse == NULL && (g->sse = guard_sse_new(&ctx)) == NULL))
		return -1;
	o->filter = filter;
	o->filter_arg = r;
	return 1;
}

void api_guard_fini_req(struct gw_req *r)
{
	struct api_guard_req *g = r->guard;
	if (g == NULL)
		return;
	guard_scratch_fini(&g->s);
	buf_fini(&g->body);
	guard_sse_free(g->sse);
	free(g);
	r->guard = NULL;
}
