/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delivery loop: takes encoded batches (payloads), keeps them in a bounded
 * queue, hands them to the sink one at a time, and acts on the outcome:
 *
 *   SEND_OK     spans exported (minus a partial success's rejected ones)
 *   SEND_DROP   spans dropped, reason rejected_by_backend or too_large (413)
 *   SEND_RETRY  wait (exponential backoff with jitter, at least Retry-After)
 *               and send the same bytes again; give up (retry_exhausted)
 *               once retry.max_elapsed has passed since the first attempt
 *
 * Backoff belongs to the backend, not to a batch: after a failure nothing
 * is sent until the delay expires, whichever batch is at the head. Limits:
 * export.max_pending batches / max_pending_bytes, counting the batch in
 * flight; when a new batch would pass them, the oldest batch not in flight
 * is dropped (queue_full).
 */
#ifndef LLMGW_EXPORTER_RETRY_H
#define LLMGW_EXPORTER_RETRY_H

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

/* Borrows every argument (they must outlive the retry loop). NULL with err on ENOMEM. */
struct retry *retry_new(struct event_base *evb, const struct ex_conf *c, struct sink *sink, struct ex_metrics *m,
			struct ids_rng *rng, struct err *err);
/* Cancels the attempt in flight and frees every pending payload (uncounted: call retry_abandon first). */
void retry_free(struct retry *r);

/* Takes ownership of p, enforces the limits, and starts delivery if idle. */
void retry_submit(struct retry *r, struct payload *p);

/*
 * Shutdown mode: backoff delays are capped at retry.initial so pending
 * batches get attempts before the deadline, and idle (called from the
 * event loop) fires as soon as nothing is pending, or at once if nothing
 * is.
 */
void retry_drain(struct retry *r, retry_idle_cb idle, void *arg);
/* Gives up on everything pending (in flight included): counted as dropped, reason shutdown. */
void retry_abandon(struct retry *r);

/* Batches pending (queued + the one in flight or in backoff). */
size_t retry_pending(const struct retry *r);

#endif
