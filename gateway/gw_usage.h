/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Usage by model and tenant in /metrics: requests (by status class),
 * tokens, cost and limit rejections, one series set per (model, tenant)
 * pair. Label values come from the config only (client-facing model names
 * that exist, tenant ids of keys), never from what a client sent: a
 * request for an unknown model counts under model="_unknown", an anonymous
 * one under tenant="". The number of pairs is capped by
 * metrics.max_series; pairs beyond the cap count under tenant="_other",
 * and llmgw_usage_series_overflow_total says how often that happened.
 *
 * Series, once created, live as long as the process (a config reload that
 * drops a tenant keeps its counters, as Prometheus counters must).
 * gw_usage_series() takes a mutex to find or create a pair; callers cache
 * the pointer (per config generation) so the request path stays lock-free.
 */
#ifndef LLMGW_GATEWAY_GW_USAGE_H
#define LLMGW_GATEWAY_GW_USAGE_H

#include <stdint.h>

#include "common/err.h"

struct metrics;
struct gw_usage;
struct gw_usage_series;

#define GW_USAGE_UNKNOWN_MODEL "_unknown"
#define GW_USAGE_OTHER_TENANT "_other"

enum gw_usage_reject {
	GW_REJECT_RPM = 0,	  /* reason="requests" */
	GW_REJECT_TPM,		  /* "tokens" */
	GW_REJECT_DAILY_BUDGET,	  /* "daily_budget" */
	GW_REJECT_MONTHLY_BUDGET, /* "monthly_budget" */
	GW_REJECT_MODEL,	  /* "model_not_allowed" */
	GW_REJECT_REDIS,	  /* "redis_unavailable" (on_failure: reject) */
	GW_REJECT__COUNT
};

/* Registers the families in reg (thread-safe registry); max_series >= 1. */
struct gw_usage *gw_usage_new(struct metrics *reg, unsigned max_series, struct err *err);
void gw_usage_free(struct gw_usage *u);
/* Changes the cap (config reload); pairs already created stay. */
void gw_usage_set_max_series(struct gw_usage *u, unsigned max_series);

/* Finds or creates the pair (model "" -> _unknown); never NULL unless out of memory. */
struct gw_usage_series *gw_usage_series(struct gw_usage *u, const char *model, const char *tenant);

/*
 * One finished request: status sent, tokens when known (has_usage), cost
 * in micro-USD when known (has_cost). Lock-free; s NULL is a no-op.
 */
void gw_usage_request(struct gw_usage_series *s, int status, int has_usage, uint64_t input_tokens,
		      uint64_t output_tokens, int has_cost, int64_t cost_micro);
void gw_usage_reject(struct gw_usage_series *s, enum gw_usage_reject why);

#endif
