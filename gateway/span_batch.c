/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batched span sends for one worker (see span_batch.h for why). The timer
 * is armed by the first record of a batch and disarmed by a flush, so an
 * idle worker has no timer pending and a busy one arms it once per batch.
 */
#include "gateway/span_batch.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "common/metrics.h"

static void span_batch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	span_batch_flush(arg);
}

int span_batch_init(struct span_batch *b, struct event_base *base, const struct span_out *out, struct err *err)
{
	b->out = out;
	b->n = 0;
	b->timer = evtimer_new(base, span_batch_timer_cb, b);
	if (b->timer == NULL)
		return err_set(err, ENOMEM, "span batch: evtimer_new failed");
	return 0;
}

void span_batch_fini(struct span_batch *b)
{
	if (b == NULL || b->timer == NULL)
		return;
	span_batch_flush(b);
	event_free(b->timer);
	b->timer = NULL;
}

struct spanrec *span_batch_slot(struct span_batch *b)
{
	return &b->recs[b->n];
}

void span_batch_commit(struct span_batch *b)
{
	if (b->out == NULL || b->out->pipe == NULL)
		return; /* spans off: the slot is simply reused */
	b->n++;
	if (b->n == SPANPIPE_BATCH_MAX) {
		span_batch_flush(b);
		return;
	}
	if (b->n == 1 && b->timer != NULL) {
		const struct timeval tv = {0, SPAN_BATCH_DELAY_US};
		evtimer_add(b->timer, &tv);
	}
}

void span_batch_flush(struct span_batch *b)
{
	unsigned n = b->n;
	if (n == 0)
		return;
	b->n = 0;
	if (b->timer != NULL)
		evtimer_del(b->timer);
	switch (spanpipe_send_batch(b->out->pipe, b->recs, n)) {
	case SPANPIPE_SENT:
		metric_add(b->out->sent, n);
		break;
	case SPANPIPE_FULL:
		metric_add(b->out->dropped_full, n);
		break;
	case SPANPIPE_ERROR:
		metric_add(b->out->dropped_error, n);
		break;
	}
}
