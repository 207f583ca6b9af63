/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance at run time: per key and per tenant rate limits (requests and
 * tokens per minute, GCRA, gov_math.h) and budgets (micro-USD per UTC day
 * and month), checked before a call is routed and settled when it ends.
 *
 * A request names up to GOV_BUCKETS_MAX buckets (key rpm, key tpm, tenant
 * rpm, tenant tpm) and GOV_BUDGETS_MAX budgets (key day, key month, tenant
 * day, tenant month). The check is all or nothing: a request refused by
 * one of them takes nothing from the others.
 *
 * Where the state lives:
 *  - in process (default): struct gov_state per key and tenant, shared by
 *    the workers (GCRA TATs are atomics updated by compare-and-swap;
 *    budgets take a per-state mutex only when a cost is added or a period
 *    rolls over). States are carried over by name when the config is
 *    reloaded, so a SIGHUP never resets anybody's limits.
 *  - in Redis (redis: in the config): the same formulas run as Lua scripts
 *    (gov_redis.h) so every replica shares one count. When Redis cannot
 *    answer in time, the in-process state decides (on_failure: local) or
 *    the request is refused with 503 (on_failure: reject).
 */
#ifndef LLMGW_GATEWAY_GOV_H
#define LLMGW_GATEWAY_GOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct gw_conf;
struct gw_key;
struct gw_tenant;

#define GOV_BUCKETS_MAX 4
#define GOV_BUDGETS_MAX 4
#define GOV_RKEY_MAX 160 /* a Redis key: prefix (<= 32) + kind + name (<= 64) + period */

enum gov_bucket_kind { GOV_RPM = 0, GOV_TPM };
enum gov_budget_kind { GOV_DAILY = 0, GOV_MONTHLY };
enum gov_scope { GOV_SCOPE_KEY = 0, GOV_SCOPE_TENANT };

/* ---- what a request asks for (shared with gov_redis.c) ------------------------------------------------ */

struct gov_bucket_ask {
	enum gov_scope scope;
	enum gov_bucket_kind kind;
	uint64_t limit;		 /* units per GOV_WINDOW_US */
	uint64_t cost;		 /* units this request takes (1 for rpm, the token estimate for tpm) */
	char rkey[GOV_RKEY_MAX]; /* Redis key of the TAT, e.g. "llmgw:rl:k:acme-search:tpm" */
};

struct gov_budget_ask {
	enum gov_scope scope;
	enum gov_budget_kind kind;
	int64_t limit_micro;	 /* budget of the current period */
	int64_t ttl_s;		 /* Redis key lifetime: the rest of the period plus a day */
	char rkey[GOV_RKEY_MAX]; /* e.g. "llmgw:bd:t:acme:d:20261123" */
};

struct gov_ask {
	size_t nbuckets, nbudgets;
	struct gov_bucket_ask b[GOV_BUCKETS_MAX];
	struct gov_budget_ask g[GOV_BUDGETS_MAX];
};

/* The answer: admitted or which limit refused, and each bucket's state for x-ratelimit-* headers. */
struct gov_verdict {
	bool ok;
	bool never;	    /* refused because the cost exceeds the bucket's whole limit */
	int refused_bucket; /* index into ask.b, -1 */
	int refused_budget; /* index into ask.g, -1 */
	int64_t retry_us;   /* refused: when to try again (budgets: until the period ends) */
	uint64_t remaining[GOV_BUCKETS_MAX];
	int64_t reset_us[GOV_BUCKETS_MAX];
	int64_t spent_micro[GOV_BUDGETS_MAX]; /* before this request */
};

/* What to apply when the call ended. */
struct gov_settle {
	size_t nbuckets, nbudgets;
	struct {
		char rkey[GOV_RKEY_MAX];
		uint64_t limit;
		int64_t delta_us; /* gcra_settle_delta: + charges more, - refunds */
	} b[GOV_BUCKETS_MAX];
	struct {
		char rkey[GOV_RKEY_MAX];
		int64_t cost_micro; /* > 0 */
		int64_t ttl_s;
	} g[GOV_BUDGETS_MAX];
};

/* ---- in-process state and the per-generation table ---------------------------------------------------- */

struct gov; /* one per config generation: the states of its keys and tenants */

/*
 * Builds the table for conf; states of keys and tenants that prev (the
 * running generation, may be NULL) also has are shared, not copied.
 * Borrowing: conf must outlive the result.
 */
struct gov *gov_new(const struct gw_conf *conf, const struct gov *prev, struct err *err);
void gov_free(struct gov *g);

/* Per-request bookkeeping, embedded in the request. */
struct gov_call {
	const struct gw_key *key;	/* NULL: anonymous */
	const struct gw_tenant *tenant; /* NULL: none */
	size_t key_index, tenant_index;
	uint64_t est_tokens; /* charged to tpm buckets up front */
	struct gov_ask ask;
	struct gov_verdict v;
	bool limited;  /* the request has buckets or budgets */
	bool admitted; /* it was charged: settle when it ends */
	bool remote;   /* charged in Redis (else in process) */
	bool settled;
};

/*
 * Fills c->ask for key k (NULL: anonymous) and a call estimated at
 * est_tokens, with Redis keys under prefix (NULL when there is no Redis).
 * now_unix picks the budget periods. Returns whether anything applies.
 */
bool gov_prepare(const struct gw_conf *conf, const struct gw_key *k, size_t key_index, uint64_t est_tokens,
		 const char *prefix, int64_t now_unix, struct gov_call *c);

/* Checks and charges c->ask in process, all or nothing; fills c->v. now_us on a monotonic clock. */
void gov_admit_local(struct gov *g, struct gov_call *c, int64_t now_us, int64_t now_unix);

/*
 * Builds the settlement of an admitted call that used `used_tokens` (the
 * actual usage; the estimate when unknown) and cost cost_micro (0: none).
 */
void gov_settle_prepare(const struct gov_call *c, uint64_t used_tokens, int64_t cost_micro, struct gov_settle *s);
/* Applies a settlement in process. */
void gov_settle_local(struct gov *g, const struct gov_call *c, const struct gov_settle *s, int64_t now_unix);

/*
 * The limit that refused c (after an admit with !c->v.ok): "requests", "tokens",
 * "daily_budget", "monthly_budget" — for messages and metrics.
 */
const char *gov_refusal_name(const struct gov_call *c);

#endif
