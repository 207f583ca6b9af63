/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits and budgets shared across gateway replicas through Redis: one
 * asynchronous hiredis connection per worker, attached to the worker's
 * libevent loop with hiredis' libevent adapter, so no call ever blocks the
 * loop. The GCRA and budget formulas of gov_math.h run as two Lua scripts
 * (EVALSHA, re-sent as EVAL after NOSCRIPT), each atomic in Redis:
 *
 *   admit:  every bucket and budget of a gov_ask is checked against the
 *           server's clock (TIME); if all pass, all are charged, else
 *           nothing is; the reply fills a gov_verdict.
 *   settle: TAT deltas (token usage vs. estimate) and budget costs
 *           (INCRBY + EXPIRE) of a finished call; fire and forget.
 *
 * Availability: the connection is (re)opened with backoff (100 ms doubling
 * to 5 s) after connect failures, errors and disconnects; a command whose
 * reply does not arrive within redis.timeout counts as a failure for that
 * request (its late reply is ignored). gov_redis_admit reports a failure
 * through its callback (rc -1) and the caller falls back per
 * redis.on_failure. Every transition up/down is logged once (log_msg,
 * event=redis_up / redis_down with the reason) and exported in /metrics.
 */
#ifndef LLMGW_GATEWAY_GOV_REDIS_H
#define LLMGW_GATEWAY_GOV_REDIS_H

#include <stdbool.h>

#include "common/err.h"
#include "gateway/gov.h"

struct event_base;
struct gw_redis;
struct metrics;
struct gov_redis;
struct gov_redis_metrics;

/*
 * Process-wide series, registered once (before the workers start):
 *   llmgw_redis_up                    gauge: workers whose connection is up
 *   llmgw_redis_commands_total{result="ok|error|timeout"}   counter
 *   llmgw_redis_fallbacks_total       counter: requests decided without Redis
 *   llmgw_redis_reconnects_total      counter
 */
struct gov_redis_metrics *gov_redis_metrics_new(struct metrics *reg, struct err *err);
void gov_redis_metrics_free(struct gov_redis_metrics *m);
/* Counts one request decided without Redis (called by the request path). */
void gov_redis_count_fallback(struct gov_redis_metrics *m);

/*
 * One worker's client on base (borrowed: rc and m outlive it). Starts
 * connecting at once; never fails because Redis is down (-> NULL only on
 * ENOMEM or a bad config, with err).
 */
struct gov_redis *gov_redis_new(struct event_base *base, const struct gw_redis *rc, struct gov_redis_metrics *m,
				unsigned worker_id, struct err *err);
/* Closes the connection; pending admits get their callback with rc -1 first. */
void gov_redis_free(struct gov_redis *rd);

/* True while the connection is up (and authenticated, db selected, scripts usable). */
bool gov_redis_up(const struct gov_redis *rd);

/*
 * rc 0: v is Redis' verdict. rc -1: Redis did not answer (down, timeout,
 * error reply); v is NULL. Called exactly once per admit that returned 0,
 * from the event loop (never from inside gov_redis_admit), unless the
 * ticket was cancelled first.
 */
typedef void (*gov_redis_cb)(void *arg, int rc, const struct gov_verdict *v);

struct gov_redis_ticket;

/*
 * Sends the admit script for ask (copied). Returns 0 and sets *ticket, or
 * -1 when Redis is not up right now (no callback; the caller falls back at
 * once).
 */
int gov_redis_admit(struct gov_redis *rd, const struct gov_ask *ask, gov_redis_cb cb, void *arg,
		    struct gov_redis_ticket **ticket);
/* The request went away: the callback will not be called. */
void gov_redis_cancel(struct gov_redis_ticket *ticket);

/* Sends a settlement; dropped (and counted as an error) when Redis is down. Returns -1 when not sent. */
int gov_redis_settle(struct gov_redis *rd, const struct gov_settle *s);

/*
 * Any other command on the same connection (the response cache's GET and
 * SET, gateway/cache_redis.h), under the same deadline (redis.timeout) and
 * counted in llmgw_redis_commands_total. reply is hiredis' reply, valid
 * during the call only; NULL when Redis did not answer in time, answered
 * an error, or the connection went away. Called once, from the event loop,
 * unless cancelled with gov_redis_cancel. cb may be NULL (fire and forget;
 * ticket may then be NULL). -1 when Redis is not up right now (no call).
 */
struct redisReply;
typedef void (*gov_redis_reply_cb)(void *arg, const struct redisReply *reply);
int gov_redis_command(struct gov_redis *rd, int argc, const char **argv, const size_t *argvlen, gov_redis_reply_cb cb,
		      void *arg, struct gov_redis_ticket **ticket);

#endif
