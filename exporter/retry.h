/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delivery loop: takes encoded batches (payloads), keeps them in the
 * delivery queue (exporter/dq.h: on disk with queue.dir, else in memory),
 * keeps up to export.concurrency of them in the sink's hands at once, and
 * acts on each outcome:
 *
 *   SEND_OK     spans exported (minus a partial success's rejected ones); acked
 *   SEND_DROP   spans dropped, reason rejected_by_backend or too_large (413); acked
 *   SEND_RETRY  released back to its place in the queue; the backend backs
 *               off (exponential with jitter, at least Retry-After); the
 *               batch is given up on (retry_exhausted) once the next
 *               attempt would start more than retry.max_elapsed after its
 *               first
 *
 * Backoff belongs to the backend, not to a batch: after a RETRY outcome no
 * new attempt starts until the delay expires, whichever batch is next.
 * Attempts already in flight finish; each RETRY among them lengthens the
 * streak (the exponent) and may push the deadline further out; an OK or a
 * DROP resets the streak but never cuts a running delay short (it may be a
 * server's Retry-After).
 *
 * Queue bounds are the queue's (dq.h): when a new batch would pass them,
 * the oldest batches not in flight are dropped (queue_full).
 */
#ifndef LLMGW_EXPORTER_RETRY_H
#define LLMGW_EXPORTER_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/ids.h"
#include "exporter/ex_conf.h"
#include "exporter/ex_metrics.h"
#include "exporter/queue.h"
#include "exporter/sink.h"

struct retry;

typedef void (*retry_idle_cb)(void *arg);

/* What retry_stop left behind. */
struct retry_left {
	uint64_t batches, spans; /* not delivered */
	bool persisted;		 /* true: they stay in the disk queue for the next run; false: dropped (shutdown) */
};

/*
 * Opens the queue the config asks for (queue.dir: disk, replaying what a
 * previous run left, counted in metrics and logged as event=queue_replayed;
 * else memory), and schedules delivery of anything replayed. Borrows every
 * argument (they must outlive the retry loop). NULL with err when the
 * queue directory cannot be used (locked by another exporter, not
 * writable) or on ENOMEM.
 */
struct retry *retry_new(struct event_base *evb, const struct ex_conf *c, struct sink *sink, struct ex_metrics *m,
			struct ids_rng *rng, struct err *err);
/*
 * Cancels the attempts in flight and closes the queue: a disk queue keeps
 * everything not acknowledged for the next run; a memory queue's contents
 * are freed uncounted (call retry_stop first to count them). NULL is a no-op.
 */
void retry_free(struct retry *r);

/* Takes ownership of p, queues it (dropping the oldest when full), starts delivery if a slot is free. */
void retry_submit(struct retry *r, struct payload *p);

/*
 * Shutdown mode: backoff delays are capped at retry.initial so pending
 * batches get attempts before the deadline, and idle (called from the
 * event loop) fires as soon as nothing is queued or in flight, or at once
 * if nothing is.
 */
void retry_drain(struct retry *r, retry_idle_cb idle, void *arg);
/*
 * Stops delivery for good (drain deadline, second signal): abandons the
 * attempts in flight; a disk queue keeps everything undelivered (persisted),
 * a memory queue drops it, counted as dropped{reason="shutdown"}. Logs
 * event=shutdown_left when anything is left. *left may be NULL.
 */
void retry_stop(struct retry *r, struct retry_left *left);

/* Batches not yet delivered (queued + in flight + waiting out a backoff). */
size_t retry_pending(const struct retry *r);
/* Attempts in the sink's hands now. */
unsigned retry_inflight(const struct retry *r);

/*
 * Readiness of delivery (/readyz): false, with a short reason in why
 * ("queue 85% full (limit 80%)", "exports failing for 75s"), while the
 * queue is fuller than admin.ready_queue_percent or every export attempt
 * that ended since the first failure after the last success has failed,
 * for longer than admin.ready_failing_for (0 = never).
 */
bool retry_ready(const struct retry *r, char *why, size_t whylen);

#endif
