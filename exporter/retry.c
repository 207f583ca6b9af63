/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delivery state machine (see retry.h). One event drives it: step()
 * runs when something changes (a batch arrived, an attempt finished) via
 * event_active, or when the backoff delay expires via the same event used
 * as a timer. step() fills free flight slots from the queue (dq_take) as
 * long as the backend is not backing off.
 *
 * A flight slot is the `arg` the sink hands back to done, so completions
 * may come in any order. Outcomes are handled in done itself (the sink
 * calls it from the event loop, never from inside submit) and only ack or
 * release the payload; new attempts always start from step().
 *
 * After a RETRY outcome, once the delay is over, one attempt at a time
 * probes the backend until one gets a definite answer (OK or DROP): a
 * backend that is still down costs one request per backoff period, not
 * export.concurrency of them, and the backoff exponent grows by one per
 * period instead of by the number of requests that were in flight.
 */
#include "exporter/retry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "exporter/dq.h"

#define NS_PER_MS 1000000ull

struct retry_flight {
	struct retry *r;
	struct payload *p; /* NULL: slot free */
	uint64_t sent_ns;  /* when this attempt started */
};

struct retry {
	struct event_base *evb;
	const struct ex_conf *conf;
	struct sink *sink;
	struct ex_metrics *m;
	struct ids_rng *rng;
	struct dq *q;
	struct event *step_ev;
	struct retry_flight *fl; /* conf->concurrency slots */
	unsigned nslots;
	unsigned inflight;
	bool sink_full;		   /* the sink refused a submit while others ran: wait for one to end */
	unsigned fail_streak;	   /* RETRY outcomes since the last definite answer: the backoff exponent */
	uint64_t next_try_ns;	   /* no attempt starts before this (monotonic); 0 = now */
	uint64_t failing_since_ns; /* first failed outcome after the last success; 0 = not failing */
	uint64_t queued_spans;	   /* spans in the queue, in flight included (dq counts only batches) */
	uint64_t lost_spans_seen;  /* dq_lost_spans already counted as dropped */
	bool draining;
	bool stopped;
	retry_idle_cb idle;
	void *idle_arg;
};

static void retry_step(evutil_socket_t fd, short what, void *arg);

/* ---- queue ------------------------------------------------------------------ */

static void retry_log_replay(const struct retry *r, const struct dq_replay *rp)
{
	bool bad = rp->corrupt_entries || rp->torn_tails || rp->lost_spans || rp->segments_skipped;
	char q[300];
	log_msg(bad ? LOG_LVL_WARN : LOG_LVL_INFO, "queue_replayed",
		"dir=%s batches=%llu spans=%llu bytes=%llu corrupt=%llu torn=%llu lost=%llu skipped_segments=%llu",
		log_quote(r->conf->queue_dir, q, sizeof(q)), (unsigned long long)rp->batches,
		(unsigned long long)rp->spans, (unsigned long long)rp->bytes, (unsigned long long)rp->corrupt_entries,
		(unsigned long long)rp->torn_tails, (unsigned long long)rp->lost_spans,
		(unsigned long long)rp->segments_skipped);
}

/* Opens the queue per the config; a disk queue's replay is counted and logged. */
static int retry_open_queue(struct retry *r, struct err *err)
{
	const struct ex_conf *c = r->conf;
	struct dq_opts o = {0};
	struct dq_replay rp = {0};
	if (c->queue_dir != NULL && c->queue_dir[0] != '\0') {
		o.dir = c->queue_dir;
		o.max_bytes = c->queue_max_bytes;
		o.segment_bytes = c->queue_segment_bytes;
		o.fsync = c->queue_fsync;
	} else {
		o.max_bytes = c->max_pending_bytes;
		o.max_batches = c->max_pending;
	}
	if ((r->q = dq_open(&o, &rp, err)) == NULL)
		return -1;
	metric_set(r->m->queue_durable, dq_durable(r->q) ? 1 : 0);
	if (dq_durable(r->q)) {
		metric_add(r->m->replayed_spans, rp.spans);
		metric_add(r->m->dropped[EX_DROP_CORRUPT_QUEUE], rp.lost_spans);
		r->queued_spans = rp.spans;
		retry_log_replay(r, &rp);
	}
	return 0;
}

static void retry_gauges(struct retry *r)
{
	int64_t n = (int64_t)dq_len(r->q), bytes = (int64_t)dq_bytes(r->q);
	metric_set(r->m->inflight, r->inflight);
	metric_set(r->m->queue_batches, n);
	metric_set(r->m->queue_bytes, bytes);
	metric_set(r->m->pending_batches, n);
	metric_set(r->m->pending_bytes, bytes);
}

static void retry_kick(struct retry *r)
{
	if (!r->stopped)
		event_active(r->step_ev, EV_TIMEOUT, 0);
}

/* Done with p for good: removed from the queue (and freed). */
static void retry_ack(struct retry *r, struct payload *p)
{
	r->queued_spans -= p->nspans < r->queued_spans ? p->nspans : r->queued_spans;
	dq_ack(r->q, p);
}

/*
 * Entries the disk queue could not read back while running (dq_take skips
 * them, logging each as event=queue_entry_lost): their spans are dropped,
 * reason corrupt_queue, like the ones lost at replay, and no longer
 * queued, so shutdown_left does not count them as persisted.
 */
static void retry_count_lost(struct retry *r)
{
	uint64_t lost = dq_lost_spans(r->q), n = lost - r->lost_spans_seen;
	if (n == 0)
		return;
	r->lost_spans_seen = lost;
	metric_add(r->m->dropped[EX_DROP_CORRUPT_QUEUE], n);
	r->queued_spans -= n < r->queued_spans ? n : r->queued_spans;
}

/* Counts p's spans as dropped for reason, logs it, and removes it. */
static void retry_drop(struct retry *r, struct payload *p, enum ex_drop_reason reason)
{
	metric_add(r->m->dropped[reason], p->nspans);
	log_msg(LOG_LVL_ERROR, "batch_dropped", "reason=%s spans=%u bytes=%zu attempts=%u", ex_drop_reason_name(reason),
		p->nspans, p->len, p->attempts);
	retry_ack(r, p);
}

/* ---- life cycle ------------------------------------------------------------- */

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
	r->nslots = c->concurrency > 0 ? c->concurrency : 1;
	r->fl = calloc(r->nslots, sizeof(*r->fl));
	r->step_ev = event_new(evb, -1, 0, retry_step, r);
	if (r->fl == NULL || r->step_ev == NULL)
		goto nomem;
	for (unsigned i = 0; i < r->nslots; i++)
		r->fl[i].r = r;
	if (retry_open_queue(r, err) != 0) {
		retry_free(r);
		return NULL;
	}
	retry_gauges(r);
	retry_kick(r); /* replayed batches go out as soon as the loop runs */
	return r;
nomem:
	retry_free(r);
	err_set(err, ENOMEM, "out of memory");
	return NULL;
}

/* Abandons every attempt in flight; their payloads go back to the queue. */
static void retry_cancel_all(struct retry *r)
{
	if (r->inflight == 0)
		return;
	sink_cancel(r->sink);
	for (unsigned i = 0; i < r->nslots; i++) {
		if (r->fl[i].p != NULL)
			dq_release(r->q, r->fl[i].p);
		r->fl[i].p = NULL;
	}
	r->inflight = 0;
	r->sink_full = false;
}

void retry_free(struct retry *r)
{
	if (r == NULL)
		return;
	if (r->q != NULL) {
		retry_cancel_all(r);
		dq_close(r->q);
	}
	if (r->step_ev != NULL)
		event_free(r->step_ev);
	free(r->fl);
	free(r);
}

size_t retry_pending(const struct retry *r)
{
	return dq_len(r->q);
}

unsigned retry_inflight(const struct retry *r)
{
	return r->inflight;
}

void retry_submit(struct retry *r, struct payload *p)
{
	uint32_t n = p->nspans;
	size_t len = p->len;
	struct dq_dropped d = {0, 0};
	struct err e;
	err_clear(&e);
	if (dq_push(r->q, p, &d, &e) != 0) {
		/* p is gone; d counts it along with any oldest batch dropped before the write failed. */
		char q[300];
		metric_add(r->m->dropped[EX_DROP_DISK_ERROR], n);
		log_msg(LOG_LVL_ERROR, "batch_dropped", "reason=disk_error spans=%u bytes=%zu error=%s", n, len,
			log_quote(e.msg, q, sizeof(q)));
		d.batches -= d.batches > 0 ? 1 : 0;
		d.spans -= d.spans >= n ? n : d.spans;
	} else {
		r->queued_spans += n;
	}
	if (d.batches > 0) {
		metric_add(r->m->dropped[EX_DROP_QUEUE_FULL], d.spans);
		r->queued_spans -= d.spans < r->queued_spans ? d.spans : r->queued_spans;
		log_msg(LOG_LVL_ERROR, "batch_dropped", "reason=queue_full batches=%llu spans=%llu queue_batches=%zu",
			(unsigned long long)d.batches, (unsigned long long)d.spans, dq_len(r->q));
	}
	retry_gauges(r);
	retry_kick(r);
}

/* ---- outcomes --------------------------------------------------------------- */

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

static void retry_on_retry(struct retry *r, struct payload *p, const struct sink_result *res, uint64_t now)
{
	r->fail_streak++;
	int64_t d = retry_delay_ms(r, res->retry_after_ms);
	uint64_t next = now + (uint64_t)d * NS_PER_MS;
	int64_t max_el = r->conf->retry_max_elapsed_ms;
	/* Like the Collector: give up when the next attempt would start past max_elapsed. */
	if (max_el > 0 && (next - p->first_try_ns) / NS_PER_MS > (uint64_t)max_el)
		retry_drop(r, p, EX_DROP_RETRY_EXHAUSTED);
	else
		dq_release(r->q, p);
	/* Each failure counts, but one never shortens a delay another (e.g. a Retry-After) set. */
	if (next > r->next_try_ns)
		r->next_try_ns = next;
	log_msg(LOG_LVL_INFO, "export_backoff", "delay_ms=%lld streak=%u pending=%zu in_flight=%u", (long long)d,
		r->fail_streak, dq_len(r->q), r->inflight);
}

/* Acts on one attempt's outcome; p leaves the caller's hands (acked or released). */
static void retry_outcome(struct retry *r, struct payload *p, const struct sink_result *res, uint64_t now)
{
	metric_inc(r->m->requests[res->outcome <= SEND_DROP ? res->outcome : SEND_DROP]);
	if (res->outcome != SEND_OK && r->failing_since_ns == 0)
		r->failing_since_ns = now;
	switch (res->outcome) {
	case SEND_OK: {
		uint64_t rej = res->rejected_spans > 0 ? (uint64_t)res->rejected_spans : 0;
		if (rej > p->nspans)
			rej = p->nspans;
		metric_add(r->m->exported, p->nspans - rej);
		metric_add(r->m->dropped[EX_DROP_PARTIAL], rej);
		retry_ack(r, p);
		r->fail_streak = 0;
		r->failing_since_ns = 0;
		break;
	}
	case SEND_RETRY:
		retry_on_retry(r, p, res, now);
		break;
	case SEND_DROP:
	default:
		/* A definite answer: the backend is up, so the streak resets (a running delay still runs out). */
		retry_drop(r, p, ex_drop_reason_for_status(res->drop_status));
		r->fail_streak = 0;
		break;
	}
}

static void retry_done(void *arg, const struct sink_result *res)
{
	struct retry_flight *f = arg;
	struct retry *r = f->r;
	struct payload *p = f->p;
	uint64_t now = clock_mono_ns();
	f->p = NULL;
	r->inflight--;
	r->sink_full = false;
	metric_observe(r->m->export_duration, (double)(now - f->sent_ns) / 1e9);
	retry_outcome(r, p, res, now);
	retry_gauges(r);
	retry_kick(r);
}

/* ---- attempts --------------------------------------------------------------- */

static struct retry_flight *retry_free_slot(struct retry *r)
{
	for (unsigned i = 0; i < r->nslots; i++) {
		if (r->fl[i].p == NULL)
			return &r->fl[i];
	}
	return NULL;
}

/* Hands p (just taken from the queue) to the sink in a free slot. */
static void retry_attempt(struct retry *r, struct payload *p, uint64_t now)
{
	struct retry_flight *f = retry_free_slot(r);
	uint64_t first = p->first_try_ns;
	/* Marked before submit: the sink may not see p change until done. */
	if (p->first_try_ns == 0)
		p->first_try_ns = now;
	p->attempts++;
	f->p = p;
	f->sent_ns = now;
	r->inflight++;
	if (sink_submit(r->sink, p, retry_done, f) == 0) {
		if (p->attempts > 1)
			metric_inc(r->m->retries);
		return;
	}
	f->p = NULL;
	r->inflight--;
	if (r->inflight > 0) {
		/* The sink holds fewer than export.concurrency: not a failure, wait for a slot there. */
		p->attempts--;
		p->first_try_ns = first;
		r->sink_full = true;
		dq_release(r->q, p);
		return;
	}
	/* Could not even start one (e.g. no memory for a connection): same as a network error. */
	struct sink_result res = {SEND_RETRY, 0, -1, 0, 0};
	log_msg(LOG_LVL_WARN, "export_failed", "error=cannot_start_request sink=%s", sink_name(r->sink));
	if (p->attempts > 1)
		metric_inc(r->m->retries);
	retry_outcome(r, p, &res, now);
}

static void retry_arm(struct retry *r, uint64_t now)
{
	uint64_t wait = r->next_try_ns - now;
	struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)((wait % 1000000000u) / 1000)};
	event_add(r->step_ev, &tv);
}

static void retry_step(evutil_socket_t fd, short what, void *arg)
{
	struct retry *r = arg;
	(void)fd;
	(void)what;
	if (r->stopped)
		return;
	for (;;) {
		uint64_t now = clock_mono_ns();
		/* After a failure, one probe at a time until the backend answers for sure. */
		unsigned limit = r->fail_streak > 0 ? 1 : r->nslots;
		if (r->inflight >= limit || r->sink_full)
			break;
		if (r->next_try_ns > now) {
			retry_arm(r, now);
			break;
		}
		struct payload *p = dq_take(r->q); /* skips (and logs) entries it cannot read back */
		retry_count_lost(r);
		if (p == NULL)
			break;
		retry_attempt(r, p, now);
	}
	retry_gauges(r);
	if (r->draining && r->idle != NULL && r->inflight == 0 && dq_len(r->q) == 0) {
		retry_idle_cb idle = r->idle;
		r->idle = NULL; /* once */
		idle(r->idle_arg);
	}
}

/* ---- shutdown and readiness ------------------------------------------------- */

void retry_drain(struct retry *r, retry_idle_cb idle, void *arg)
{
	r->draining = true;
	r->idle = idle;
	r->idle_arg = arg;
	/* Pull a long backoff in: during drain nothing waits longer than retry.initial. */
	uint64_t now = clock_mono_ns(), cap = now + (uint64_t)r->conf->retry_initial_ms * NS_PER_MS;
	if (r->next_try_ns > cap)
		r->next_try_ns = cap;
	event_del(r->step_ev); /* a timer armed for the old deadline */
	retry_kick(r);
}

void retry_stop(struct retry *r, struct retry_left *left)
{
	struct retry_left l = {0, 0, dq_durable(r->q)};
	struct payload *p;
	r->stopped = true;
	r->idle = NULL;
	event_del(r->step_ev);
	retry_cancel_all(r);
	l.batches = dq_len(r->q);
	if (l.persisted) {
		l.spans = r->queued_spans;
	} else {
		/* Memory: nothing survives the exit, so everything left is a counted loss. */
		while ((p = dq_take(r->q)) != NULL) {
			l.spans += p->nspans;
			metric_add(r->m->dropped[EX_DROP_SHUTDOWN], p->nspans);
			retry_ack(r, p);
		}
	}
	if (l.batches > 0)
		log_msg(LOG_LVL_WARN, "shutdown_left", "batches=%llu spans=%llu persisted=%s",
			(unsigned long long)l.batches, (unsigned long long)l.spans, l.persisted ? "true" : "false");
	retry_gauges(r);
	if (left != NULL)
		*left = l;
}

bool retry_ready(const struct retry *r, char *why, size_t whylen)
{
	double fill = dq_fill(r->q), lim = r->conf->ready_queue_ratio;
	if (fill > lim) {
		snprintf(why, whylen, "queue %.0f%% full (limit %.0f%%)", fill * 100, lim * 100);
		return false;
	}
	if (r->conf->ready_failing_ms > 0 && r->failing_since_ns != 0) {
		uint64_t ms = (clock_mono_ns() - r->failing_since_ns) / NS_PER_MS;
		if (ms > (uint64_t)r->conf->ready_failing_ms) {
			snprintf(why, whylen, "exports failing for %llus (limit %llus)",
				 (unsigned long long)(ms / 1000),
				 (unsigned long long)(r->conf->ready_failing_ms / 1000));
			return false;
		}
	}
	return true;
}
