/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker's outgoing span records, sent to the pipe in batches.
 *
 * A nanomsg send costs far more than building a record: the message is
 * queued for nanomsg's I/O thread, which is woken through an eventfd, and
 * that wakeup (a futex and a context switch) was the largest single item
 * of the gateway's profile at load. So records are built straight into a
 * per-worker array and leave as one message of up to SPANPIPE_BATCH_MAX
 * records: when the array is full, or SPAN_BATCH_DELAY_US after the first
 * record of the batch, or when the worker stops. The delay only postpones
 * telemetry, never a response; at low rates a batch is one request's
 * records.
 *
 * One per worker thread: not shared, no locks.
 */
#ifndef LLMGW_GATEWAY_SPAN_BATCH_H
#define LLMGW_GATEWAY_SPAN_BATCH_H

#include "common/err.h"
#include "common/spanpipe.h"
#include "common/spanrec-t.h"
#include "gateway/span_emit.h"

struct event_base;
struct event;

#define SPAN_BATCH_DELAY_US 1000

struct span_batch {
	const struct span_out *out; /* out->pipe NULL: spans off, records are discarded */
	struct event *timer;	    /* flushes a batch that did not fill up */
	unsigned n;		    /* records committed, waiting in recs */
	struct spanrec recs[SPANPIPE_BATCH_MAX];
};

/* out is borrowed and outlives b. -1 with err when the timer cannot be made. */
int span_batch_init(struct span_batch *b, struct event_base *base, const struct span_out *out, struct err *err);
/* Sends what is left and frees the timer; a zeroed b is a no-op. */
void span_batch_fini(struct span_batch *b);

/*
 * The slot for the next record: build into it, then span_batch_commit().
 * A slot that is not committed is reused by the next call.
 */
struct spanrec *span_batch_slot(struct span_batch *b);
/* Adds the record built in the slot; sends the batch when it is full. */
void span_batch_commit(struct span_batch *b);
/* Sends the committed records now (one message), counting the outcome per record. */
void span_batch_flush(struct span_batch *b);

#endif
