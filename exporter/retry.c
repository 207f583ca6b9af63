/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delivery state machine (see retry.h). One event drives it: step()
 * runs when something changes (a batch arrived, an attempt finished) via
 * event_active, or when the backoff delay expires via the same event used
 * as a timer. Running every transition from that event, never from inside
 * a sink's callback, keeps sinks free to be replaced or freed in step().
 *
 * States: `cur` is the batch at the head of delivery (NULL = take the next
 * from the queue); `inflight` says the sink has it now. A batch waiting out
 * a backoff is `cur` with inflight false, and may be dropped by overflow.
 */
#include "exporter/retry.h"

#include <errno.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"

#define NS_PER_MS 1000000ull

struct retry {
	struct event_base *evb;
	const struct ex_conf *conf;
	struct sink *sink;
	struct ex_metrics *m;
	struct ids_rng *rng;
	struct queue *q;
	struct event *step_ev;
	struct payload *cur;
	bool inflight;
	uint64_t sent_ns;     /* when the attempt in flight started */
	unsigned fail_streak; /* consecutive RETRY outcomes, for the backoff exponent */
	uint64_t next_try_ns; /* no attempt before this (monotonic); 0 = now */
	bool draining;
	retry_idle_cb idle;
	void *idle_arg;
};

static void retry_step(evutil_socket_t fd, short what, void *arg);

struct retry *retry_new(struct event_base *evb, const struct ex_conf *c, struct sink *sink, struct ex_metrics *m,
			struct ids_rng *rng, struct err *err)
{
	struct retry *r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto nomem;
	r->evb = evb;
	r->conf = c;
	r->sink = sink;
	r->m = m;
	r->rng = rng;
	r->q = queue_new();
	r->step_ev = event_new(evb, -1, 0, retry_step, r);
	if (r->q == NULL || r->step_ev == NULL)
		goto nomem;
	return r;
nomem:
	retry_free(r);
	err_set(err, ENOMEM, "out of memory");
	return NULL;
}

void retry_free(struct retry *r)
{
	if (r == NULL)
		return;
	if (r->inflight)
		sink_cancel(r->sink);
	payload_free(r->cur);
	queue_free(r->q);
	if (r->step_ev != NULL)
		event_free(r->step_ev);
	free(r);
}

size_t retry_pending(const struct retry *r)
{
	return queue_len(r->q) + (r->cur != NULL);
}

static uint64_t retry_pending_bytes(const struct retry *r)
{
	return queue_bytes(r->q) + (r->cur ? r->cur->len : 0);
}

static void retry_gauges(struct retry *r)
{
	metric_set(r->m->pending_batches, (int64_t)retry_pending(r));
	metric_set(r->m->pending_bytes, (int64_t)retry_pending_bytes(r));
}

static void retry_kick(struct retry *r)
{
	event_active(r->step_ev, EV_TIMEOUT, 0);
}

/* Counts p's spans as dropped for reason and frees it. */
static void retry_drop(struct retry *r, struct payload *p, enum ex_drop_reason reason)
{
	metric_add(r->m->dropped[reason], p->nspans);
	log_msg(reason == EX_DROP_SHUTDOWN ? LOG_LVL_WARN : LOG_LVL_ERROR, "batch_dropped",
		"reason=%s spans=%u bytes=%zu attempts=%u", ex_drop_reason_name(reason), p->nspans, p->len,
		p->attempts);
	payload_free(p);
}

/* Drops the oldest batch that is not in the sink's hands. false if there is none. */
static bool retry_drop_oldest(struct retry *r)
{
	if (r->cur != NULL && !r->inflight) {
		retry_drop(r, r->cur, EX_DROP_QUEUE_FULL);
		r->cur = NULL;
		return true;
	}
	struct payload *p = queue_pop(r->q);
	if (p == NULL)
		return false;
	retry_drop(r, p, EX_DROP_QUEUE_FULL);
	return true;
}

void retry_submit(struct retry *r, struct payload *p)
{
	queue_push(r->q, p);
	while (retry_pending(r) > r->conf->max_pending || retry_pending_bytes(r) > r->conf->max_pending_bytes) {
		if (!retry_drop_oldest(r))
			break;
	}
	retry_gauges(r);
	retry_kick(r);
}

/* Delay before the next attempt after a RETRY outcome. */
static int64_t retry_delay_ms(struct retry *r, int64_t retry_after_ms)
{
	uint64_t rnd;
	ids_rng_fill(r->rng, &rnd, sizeof(rnd));
	int64_t d = send_outcome_backoff_ms(r->fail_streak, r->conf->retry_initial_ms, r->conf->retry_max_ms, rnd);
	if (retry_after_ms > d)
		d = retry_after_ms; /* the server knows its own recovery time better than our backoff */
	if (r->draining && d > r->conf->retry_initial_ms)
		d = r->conf->retry_initial_ms;
	return d;
}

static void retry_on_retry(struct retry *r, const struct sink_result *res, uint64_t now)
{
	struct payload *p = r->cur;
	r->fail_streak++;
	int64_t d = retry_delay_ms(r, res->retry_after_ms);
	int64_t max_el = r->conf->retry_max_elapsed_ms;
	/* Like the Collector: give up when the next attempt would start past max_elapsed. */
	if (max_el > 0 && (now + (uint64_t)d * NS_PER_MS - p->first_try_ns) / NS_PER_MS > (uint64_t)max_el) {
		retry_drop(r, p, EX_DROP_RETRY_EXHAUSTED);
		r->cur = NULL;
	}
	r->next_try_ns = now + (uint64_t)d * NS_PER_MS;
	log_msg(LOG_LVL_INFO, "export_backoff", "delay_ms=%lld streak=%u pending=%zu", (long long)d, r->fail_streak,
		retry_pending(r));
}

static void retry_done(void *arg, const struct sink_result *res)
{
	struct retry *r = arg;
	struct payload *p = r->cur;
	uint64_t now = clock_mono_ns();
	r->inflight = false;
	metric_observe(r->m->export_duration, (double)(now - r->sent_ns) / 1e9);
	metric_inc(r->m->requests[res->outcome <= SEND_DROP ? res->outcome : SEND_DROP]);
	switch (res->outcome) {
	case SEND_OK: {
		uint64_t rej = res->rejected_spans > 0 ? (uint64_t)res->rejected_spans : 0;
		if (rej > p->nspans)
			rej = p->nspans;
		metric_add(r->m->exported, p->nspans - rej);
		metric_add(r->m->dropped[EX_DROP_PARTIAL], rej);
		payload_free(p);
		r->cur = NULL;
		r->fail_streak = 0;
		r->next_try_ns = 0;
		break;
	}
	case SEND_RETRY:
		retry_on_retry(r, res, now);
		break;
	case SEND_DROP:
	default:
		/* A definite answer: the backend is up, so the backoff resets too. */
		retry_drop(r, p, ex_drop_reason_for_status(res->drop_status));
		r->cur = NULL;
		r->fail_streak = 0;
		r->next_try_ns = 0;
		break;
	}
	retry_gauges(r);
	retry_kick(r);
}

/* Starts an attempt for r->cur. */
static void retry_attempt(struct retry *r, uint64_t now)
{
	struct payload *p = r->cur;
	if (p->first_try_ns == 0)
		p->first_try_ns = now;
	if (p->attempts++ > 0)
		metric_inc(r->m->retries);
	r->inflight = true;
	r->sent_ns = now;
	if (sink_submit(r->sink, p, retry_done, r) != 0) {
		/* Could not even start (e.g. no memory for a connection): same as a network error. */
		struct sink_result res = {SEND_RETRY, 0, -1, 0, 0};
		log_msg(LOG_LVL_WARN, "export_failed", "error=cannot_start_request sink=%s", sink_name(r->sink));
		retry_done(r, &res);
	}
}

static void retry_step(evutil_socket_t fd, short what, void *arg)
{
	struct retry *r = arg;
	(void)fd;
	(void)what;
	if (r->inflight)
		return;
	if (r->cur == NULL)
		r->cur = queue_pop(r->q);
	if (r->cur == NULL) {
		retry_gauges(r);
		if (r->draining && r->idle != NULL)
			r->idle(r->idle_arg);
		return;
	}
	uint64_t now = clock_mono_ns();
	if (r->next_try_ns > now) {
		uint64_t wait = r->next_try_ns - now;
		struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)((wait % 1000000000u) / 1000)};
		event_add(r->step_ev, &tv);
		return;
	}
	retry_attempt(r, now);
}

void retry_drain(struct retry *r, retry_idle_cb idle, void *arg)
{
	r->draining = true;
	r->idle = idle;
	r->idle_arg = arg;
	/* Pull a long backoff in: during drain nothing waits longer than retry.initial. */
	uint64_t now = clock_mono_ns(), cap = now + (uint64_t)r->conf->retry_initial_ms * NS_PER_MS;
	if (r->next_try_ns > cap)
		r->next_try_ns = cap;
	retry_kick(r);
}

void retry_abandon(struct retry *r)
{
	if (r->inflight) {
		sink_cancel(r->sink);
		r->inflight = false;
	}
	if (r->cur != NULL) {
		retry_drop(r, r->cur, EX_DROP_SHUTDOWN);
		r->cur = NULL;
	}
	struct payload *p;
	while ((p = queue_pop(r->q)) != NULL)
		retry_drop(r, p, EX_DROP_SHUTDOWN);
	event_del(r->step_ev);
	retry_gauges(r);
}
