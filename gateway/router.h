/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing policy: which target serves an attempt, whether a failed attempt
 * is retried (same target, after a backoff) or falls back (another target
 * of the model, then the model's fallback models), and which targets are
 * cooling down. Pure policy: no I/O, the clock and the random source are
 * passed in, so unit tests drive every decision.
 *
 * State lives at two levels:
 *  - struct router, process-wide and shared by the workers without locks
 *    on the hot path: per distinct provider/model, the circuit breaker
 *    (failures in a window -> out for `duration` -> one probe) and the
 *    latency EWMA, in atomics; a mutex is taken only to count a failure;
 *  - struct router_local, one per worker: the smooth weighted round-robin
 *    state (nginx's algorithm: every pick adds each candidate's weight to
 *    its current value, takes the largest, subtracts the total from it),
 *    exact per worker, so over N requests each target's share is within
 *    one request per worker of its weight.
 *
 * Strategies pick among the candidates of one model: its targets whose
 * provider serves the endpoint, not yet tried by this request, and not
 * cooling down. weighted: the round robin above (weight 0 only when no
 * weighted target is left); priority: the first in config order;
 * least-latency: the lowest EWMA, targets without a sample first, and a
 * share `explore` of picks sent to another candidate so a target that
 * recovered is noticed. When every remaining target is cooling down the
 * router uses them anyway (a request that has nowhere else to go is better
 * tried than refused; Envoy calls this panic routing).
 */
#ifndef LLMGW_GATEWAY_ROUTER_H
#define LLMGW_GATEWAY_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ids.h"
#include "gateway/gw_conf.h"

struct metrics;

/* How an attempt failed, as the retry policy and the breaker see it. */
enum route_fail {
	ROUTE_FAIL_429 = 0,
	ROUTE_FAIL_5XX,	    /* 5xx, or an unusable 2xx body */
	ROUTE_FAIL_TIMEOUT, /* connect, first-byte, idle or total timeout */
	ROUTE_FAIL_CONNECT, /* DNS, refused, TLS, reset before a response */
	ROUTE_FAIL_OTHER,   /* the request's own fault (4xx): never retried, not a health signal */
	ROUTE_FAIL__COUNT
};

/* "429", "5xx", "timeout", "connect_error", "other": span fallback_reason and metric labels. */
const char *route_fail_name(enum route_fail f);

struct router;
struct router_local;

/*
 * Process-wide state for conf (borrowed; must outlive the router).
 * endpoints[i] is the PROVIDER_EP mask of provider i (copied). Registers
 * llmgw_route_* series in reg (may be NULL: no metrics). NULL with err.
 */
struct router *router_new(const struct gw_conf *conf, const unsigned *endpoints, struct metrics *reg, struct err *err);
void router_free(struct router *rt);

/* One worker's state; NULL on ENOMEM. */
struct router_local *router_local_new(struct router *rt);
void router_local_free(struct router_local *rl);

#define ROUTE_MAX_ATTEMPTS 20 /* retry.max_attempts upper bound */

/* One request's routing: what was tried and where it stands. */
struct route_plan {
	const struct gw_model *model; /* the model the client asked for */
	unsigned op_bit;	      /* PROVIDER_EP(op) of the endpoint */
	const struct gw_target *cur;  /* the current attempt's target */
	const struct gw_model *cur_model;
	uint32_t attempts;  /* attempts started */
	uint32_t cur_tries; /* attempts on cur */
	const struct gw_target *tried[ROUTE_MAX_ATTEMPTS];
	uint32_t ntried;
	bool probe; /* cur is a cooled-down target's probe */
};

/*
 * The first attempt's target for model m on the endpoint op_bit; NULL when
 * no target of m or its fallbacks serves it. *reason is "" or "cooldown"
 * (m's own targets were all cooling and a fallback model serves).
 */
const struct gw_target *route_first(struct router_local *rl, struct route_plan *p, const struct gw_model *m,
				    unsigned op_bit, struct ids_rng *rng, int64_t now_ns, const char **reason);

/* What to do after a failed attempt. */
struct route_next {
	const struct gw_target *target; /* NULL: stop, the client gets this failure */
	const struct gw_model *model;	/* the model target belongs to (a fallback model's, perhaps) */
	int64_t delay_ms;		/* wait before the attempt (same-target backoff) */
	const char *reason;		/* the next attempt's fallback_reason (route_fail_name) */
	bool same_target;
};

/*
 * Records a failed attempt (breaker, latency) without deciding anything:
 * for failures that cannot be retried, e.g. a stream that broke after its
 * first byte reached the client.
 */
void route_record_failure(struct router_local *rl, struct route_plan *p, enum route_fail f, uint64_t latency_ns,
			  int64_t now_ns);

/*
 * After a failed attempt: records it (as route_record_failure) and decides
 * the next one. retry_after_ms is the upstream's Retry-After (-1: none):
 * within retry.max_backoff it stretches the backoff, beyond it the request
 * moves on to another target at once.
 */
void route_next(struct router_local *rl, struct route_plan *p, enum route_fail f, int64_t retry_after_ms,
		uint64_t latency_ns, struct ids_rng *rng, int64_t now_ns, struct route_next *next);

/* Marks the next attempt as started on next->target (after any delay). */
void route_advance(struct route_plan *p, const struct route_next *next);

/* A successful attempt: closes the target's breaker, feeds the EWMA. */
void route_succeeded(struct router_local *rl, struct route_plan *p, uint64_t latency_ns);

/* Introspection for tests and /metrics: is target index i cooling at now_ns; its EWMA (0: no sample). */
bool router_cooling(const struct router *rt, size_t index, int64_t now_ns);
uint64_t router_ewma_ns(const struct router *rt, size_t index);

#endif
