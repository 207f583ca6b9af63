/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance on the request path: which models a key may use (403), its
 * and its tenant's limits and budgets before the first attempt (429 with
 * Retry-After and OpenAI's x-ratelimit-* headers), the cost of the call
 * once usage is known (span llmgw.cost_usd, header x-llmgw-cost-usd) and
 * the settlement when the request ends (token estimate replaced by the
 * real usage, cost added to budgets).
 *
 * With Redis configured the admission is asynchronous: r waits for the
 * script's answer and continues from the Redis callback. Redis not
 * answering (down, slow, error) is decided by redis.on_failure: the
 * in-process state (local) or 503 (reject).
 */
#include "gateway/api_gov.h"

#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/api_cache.h"
#include "gateway/auth.h"
#include "gateway/gov_math.h"
#include "gateway/gov_redis.h"
#include "gateway/gw_gen.h"
#include "gateway/gw_usage.h"
#include "gateway/http_srv.h"

static int64_t now_unix(void)
{
	return (int64_t)(clock_wall_ns() / 1000000000u);
}

static int64_t now_us(void)
{
	return (int64_t)(clock_mono_ns() / 1000u);
}

static const struct gw_key *req_key(const struct gw_req *r)
{
	return r->span.ident != NULL ? r->span.ident->key : NULL;
}

static struct gw_usage_series *req_usage(struct gw_req *r)
{
	const struct gw_key *k = req_key(r);
	return gw_gen_usage(r->w->gw, r->gen, r->model_index, k != NULL ? k->tenant : GW_TENANT_NONE);
}

bool api_gov_allowed(struct gw_req *r, const char *model)
{
	const struct gw_key *k = req_key(r);
	if (k == NULL || gw_key_allows(k, model))
		return true;
	gw_usage_reject(req_usage(r), GW_REJECT_MODEL);
	http_srv_reply_error(r, GWE_MODEL_NOT_ALLOWED, "model", "the API key '%s' may not use the model '%.128s'",
			     k->name, model);
	return false;
}

/* ---- x-ratelimit-* -------------------------------------------------------------------------------- */

/* Go-style duration like OpenAI's reset headers: "20ms", "1s", "1.5s", "6m0s". */
static void fmt_reset(int64_t us, char *out, size_t cap)
{
	int64_t ms = (us + 999) / 1000;
	if (ms < 1000) {
		snprintf(out, cap, "%lldms", (long long)ms);
		return;
	}
	int64_t m = ms / 60000, rest = ms % 60000;
	char sec[32];
	if (rest % 1000 == 0)
		snprintf(sec, sizeof(sec), "%llds", (long long)(rest / 1000));
	else {
		int n = snprintf(sec, sizeof(sec), "%lld.%03lld", (long long)(rest / 1000), (long long)(rest % 1000));
		while (n > 0 && sec[n - 1] == '0')
			sec[--n] = '\0';
		snprintf(sec + n, sizeof(sec) - (size_t)n, "s");
	}
	if (m > 0)
		snprintf(out, cap, "%lldm%s", (long long)m, sec);
	else
		snprintf(out, cap, "%s", sec);
}

/* The tightest bucket of a kind (least remaining), or -1. */
static int tightest(const struct gov_call *c, enum gov_bucket_kind kind)
{
	int best = -1;
	for (size_t i = 0; i < c->ask.nbuckets; i++)
		if (c->ask.b[i].kind == kind && (best < 0 || c->v.remaining[i] < c->v.remaining[best]))
			best = (int)i;
	return best;
}

static void ratelimit_headers(struct gw_req *r)
{
	static const char *const what[2] = {"requests", "tokens"};
	char name[48], val[48];
	for (int k = GOV_RPM; k <= GOV_TPM; k++) {
		int i = tightest(&r->gov, (enum gov_bucket_kind)k);
		if (i < 0)
			continue;
		snprintf(name, sizeof(name), "x-ratelimit-limit-%s", what[k]);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)r->gov.ask.b[i].limit);
		http_srv_add_header(r, name, val);
		snprintf(name, sizeof(name), "x-ratelimit-remaining-%s", what[k]);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)r->gov.v.remaining[i]);
		http_srv_add_header(r, name, val);
		snprintf(name, sizeof(name), "x-ratelimit-reset-%s", what[k]);
		fmt_reset(r->gov.v.reset_us[i], val, sizeof(val));
		http_srv_add_header(r, name, val);
	}
}

/* ---- admission ---------------------------------------------------------------------------------------- */

static void refuse(struct gw_req *r)
{
	const struct gov_call *c = &r->gov;
	char ra[32];
	int64_t secs = (c->v.retry_us + 999999) / 1000000;
	const char *who = "";
	if (c->v.refused_bucket >= 0)
		who = c->ask.b[c->v.refused_bucket].scope == GOV_SCOPE_KEY ? "API key" : "tenant";
	else if (c->v.refused_budget >= 0)
		who = c->ask.g[c->v.refused_budget].scope == GOV_SCOPE_KEY ? "API key" : "tenant";
	if (!c->v.never) {
		snprintf(ra, sizeof(ra), "%lld", (long long)(secs > 0 ? secs : 1));
		http_srv_add_header(r, "Retry-After", ra);
	}
	if (c->v.refused_budget >= 0) {
		const struct gov_budget_ask *g = &c->ask.g[c->v.refused_budget];
		char lim[32];
		gov_format_usd(g->limit_micro, lim, sizeof(lim));
		gw_usage_reject(req_usage(r), g->kind == GOV_DAILY ? GW_REJECT_DAILY_BUDGET : GW_REJECT_MONTHLY_BUDGET);
		http_srv_reply_error(r, GWE_QUOTA_EXCEEDED, NULL,
				     "the %s's %s budget of $%s is spent; it renews at the start of the next UTC %s",
				     who, g->kind == GOV_DAILY ? "daily" : "monthly", lim,
				     g->kind == GOV_DAILY ? "day" : "month");
		return;
	}
	const struct gov_bucket_ask *b = &c->ask.b[c->v.refused_bucket];
	bool tokens = b->kind == GOV_TPM;
	gw_usage_reject(req_usage(r), tokens ? GW_REJECT_TPM : GW_REJECT_RPM);
	if (c->v.never)
		http_srv_reply_error(
		    r, GWE_RATE_LIMIT_TOKENS, NULL,
		    "request too large for the %s's tokens per minute: limit %llu, requested about %llu", who,
		    (unsigned long long)b->limit, (unsigned long long)b->cost);
	else
		http_srv_reply_error(r, tokens ? GWE_RATE_LIMIT_TOKENS : GWE_RATE_LIMIT_REQUESTS, NULL,
				     "rate limit reached for the %s's %s per minute: limit %llu; try again in %llds",
				     who, tokens ? "tokens" : "requests", (unsigned long long)b->limit,
				     (long long)(secs > 0 ? secs : 1));
}

/* The verdict is in (any path): headers, then go on or refuse. */
static void decided(struct gw_req *r)
{
	ratelimit_headers(r);
	if (!r->gov.v.ok) {
		refuse(r);
		return;
	}
	r->gov_cont(r);
}

/* Redis did not decide: on_failure picks local state or 503. */
static void fallback(struct gw_req *r)
{
	const struct gw_redis *rc = r->w->gw->conf->redis;
	gov_redis_count_fallback(r->w->gw->redis_metrics);
	if (rc->fail_closed) {
		gw_usage_reject(req_usage(r), GW_REJECT_REDIS);
		http_srv_add_header(r, "Retry-After", "1");
		http_srv_reply_error(
		    r, GWE_LIMITS_UNAVAILABLE, NULL,
		    "rate limits cannot be checked right now (limit store unavailable); retry shortly");
		return;
	}
	gov_admit_local(r->gen->gov, &r->gov, now_us(), now_unix());
	decided(r);
}

static void on_redis(void *arg, int rc, const struct gov_verdict *v)
{
	struct gw_req *r = arg;
	r->gov_ticket = NULL;
	if (rc < 0) {
		fallback(r);
		return;
	}
	r->gov.v = *v;
	r->gov.admitted = v->ok;
	r->gov.remote = true;
	decided(r);
}

/* A rough token count before the call: a quarter of the body's bytes plus the output cap asked for. */
static uint64_t estimate_tokens(const struct gw_req *r, size_t body_len)
{
	if (api_cache_hit(r))
		return 0; /* answered from the cache: no tokens (gov_prepare charges its minimum, settled back) */
	uint64_t est = (uint64_t)body_len / 4 + 1;
	/* chat and completions: the output cap asked for (0 when none, and for embeddings) */
	est += (uint64_t)r->chat.max_tokens * (r->chat.n_choices > 0 ? r->chat.n_choices : 1);
	return est;
}

void api_gov_admit(struct gw_req *r, size_t body_len, void (*cont)(struct gw_req *r))
{
	struct gw_worker *w = r->w;
	const struct gw_redis *rc = w->gw->conf->redis;
	const struct auth_identity *id = r->span.ident;
	r->gov_cont = cont;
	if (!gov_prepare(r->gen->conf, id != NULL ? id->key : NULL, id != NULL ? id->index : 0,
			 estimate_tokens(r, body_len), rc != NULL ? rc->prefix : NULL, now_unix(), &r->gov)) {
		cont(r);
		return;
	}
	if (w->redis != NULL) {
		if (gov_redis_admit(w->redis, &r->gov.ask, on_redis, r, &r->gov_ticket) == 0)
			return; /* continues in on_redis */
		fallback(r);
		return;
	}
	gov_admit_local(r->gen->gov, &r->gov, now_us(), now_unix());
	decided(r);
}

void api_gov_cancel(struct gw_req *r)
{
	if (r->gov_ticket != NULL) {
		gov_redis_cancel(r->gov_ticket);
		r->gov_ticket = NULL;
	}
}

/* ---- cost and settlement ------------------------------------------------------------------------------ */

void api_gov_cost(struct gw_req *r, const struct gw_price *price, bool header)
{
	const struct chat_response_info *u = &r->att_resp;
	if (price == NULL || !u->has_usage)
		return;
	int64_t cost = gov_cost_micro_usd(u->prompt_tokens, u->cached_tokens, u->completion_tokens, price->input,
					  price->cached_input, price->output);
	r->att.has_cost = r->span.has_cost = true;
	r->att.cost_micro = r->span.cost_micro = cost;
	if (header) {
		char v[32];
		gov_format_usd(cost, v, sizeof(v));
		http_srv_add_header(r, "x-llmgw-cost-usd", v);
	}
}

void api_gov_settle(struct gw_req *r)
{
	struct gov_call *c = &r->gov;
	struct gov_settle s;
	uint64_t used;
	if (!c->admitted || c->settled)
		return;
	c->settled = true;
	if (r->span.resp.has_usage)
		used = (uint64_t)r->span.resp.prompt_tokens + r->span.resp.completion_tokens;
	else if (r->span.http_status >= 400 || r->span.attempts == 0)
		used = 0; /* refused or failed before any output: nothing was generated */
	else
		used = c->est_tokens; /* a stream that broke off, an unknown: keep the estimate */
	gov_settle_prepare(c, used, r->span.has_cost ? r->span.cost_micro : 0, &s);
	if (c->remote) {
		/* dropped when Redis is down: the local state was never charged for it */
		if (r->w->redis != NULL)
			gov_redis_settle(r->w->redis, &s);
		return;
	}
	gov_settle_local(r->gen->gov, c, &s, now_unix());
}

void api_gov_account(struct gw_req *r, int status)
{
	if (r->model_index == SIZE_MAX)
		return; /* never reached a model */
	const struct chat_response_info *u = &r->span.resp;
	gw_usage_request(req_usage(r), status, u->has_usage, u->prompt_tokens, u->completion_tokens, r->span.has_cost,
			 r->span.cost_micro);
}
