/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance steps of an API call (api_call.c calls them in this order):
 * api_gov_allowed before routing, api_gov_admit before the first attempt,
 * api_gov_cost when the answering attempt's usage is known, and
 * api_gov_settle / api_gov_account when the request ends.
 */
#ifndef LLMGW_GATEWAY_API_GOV_H
#define LLMGW_GATEWAY_API_GOV_H

#include <stdbool.h>
#include <stddef.h>

struct gw_req;
struct gw_price;

/* False (r answered 403 model_not_allowed) when r's key may not use model. */
bool api_gov_allowed(struct gw_req *r, const char *model);

/*
 * Checks and charges r's key and tenant limits and budgets (a body of
 * body_len bytes, for the token estimate). Calls cont(r) once admitted —
 * now, or later from the Redis reply — or answers r itself: 429 (limits,
 * budgets) or 503 (Redis down with on_failure: reject). Adds the
 * x-ratelimit-* headers either way.
 */
void api_gov_admit(struct gw_req *r, size_t body_len, void (*cont)(struct gw_req *r));
/* Drops a Redis admission still waiting (r is finishing). */
void api_gov_cancel(struct gw_req *r);

/* Cost of the answering attempt from its usage and price (NULL: none); header: add x-llmgw-cost-usd. */
void api_gov_cost(struct gw_req *r, const struct gw_price *price, bool header);

/* r is finishing: settle its charge (usage vs. estimate, cost into budgets). */
void api_gov_settle(struct gw_req *r);
/* r is finishing with status: usage metrics by model and tenant. */
void api_gov_account(struct gw_req *r, int status);

#endif
