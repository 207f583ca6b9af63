/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch -> payload. Encoding and compression run on the event loop: they
 * are CPU work on data already in memory (a 512-span batch is ~1 ms of
 * protobuf and gzip), not blocking I/O, and doing them here keeps the
 * exporter single-threaded and lock-free.
 *
 * A batch that fails to encode is dropped and counted right here (the only
 * place that knows how many spans it held): too_large when the request
 * would pass the 64 MiB OTLP limit, queue_full when memory ran out.
 */
#include "exporter/ex_pipe.h"

#include <errno.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "exporter/batch.h"
#include "exporter/compress.h"
#include "exporter/encode_json.h"
#include "exporter/encode_otlp.h"
#include "exporter/queue.h"

struct ex_pipe {
	const struct ex_conf *conf;
	const struct enrich *enrich;
	struct retry *retry;
	struct ex_metrics *m;
	struct batch *batch;
	struct event *timer;
};

static void ex_pipe_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ex_pipe_flush(arg);
}

struct ex_pipe *ex_pipe_new(struct event_base *evb, const struct ex_conf *c, const struct enrich *e, struct retry *rt,
			    struct ex_metrics *m, struct err *err)
{
	struct ex_pipe *p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->conf = c;
	p->enrich = e;
	p->retry = rt;
	p->m = m;
	p->batch = batch_new(c->batch_max_spans, c->batch_max_bytes);
	p->timer = evtimer_new(evb, ex_pipe_timeout, p);
	if (p->batch == NULL || p->timer == NULL)
		goto nomem;
	return p;
nomem:
	ex_pipe_free(p);
	err_set(err, ENOMEM, "out of memory for the batch (%u spans)", c->batch_max_spans);
	return NULL;
}

void ex_pipe_free(struct ex_pipe *p)
{
	if (p == NULL)
		return;
	if (p->timer != NULL)
		event_free(p->timer);
	batch_free(p->batch);
	free(p);
}

int ex_pipe_encode(const struct ex_conf *c, const struct enrich *e, const struct spanrec *recs, size_t n,
		   struct buf *out, unsigned *flags, struct err *err)
{
	struct buf raw;
	int rc = -1;
	buf_init(&raw, EX_MAX_REQUEST_BYTES);
	*flags = c->protocol == EX_PROTO_JSON ? PAYLOAD_F_JSON : 0;
	if (c->protocol == EX_PROTO_JSON ? encode_json(e, recs, n, &raw, err) : encode_otlp(e, recs, n, &raw, err))
		goto out;
	if (c->compression == EX_COMP_GZIP) {
		if (compress_gzip(raw.data, raw.len, out, err) != 0)
			goto out;
		*flags |= PAYLOAD_F_GZIP;
	} else {
		/* Hand the encoded storage over instead of copying it. */
		buf_fini(out);
		*out = raw;
		buf_init(&raw, EX_MAX_REQUEST_BYTES);
	}
	rc = 0;
out:
	buf_fini(&raw);
	return rc;
}

void ex_pipe_flush(struct ex_pipe *p)
{
	size_t n = batch_len(p->batch);
	struct buf body;
	unsigned flags;
	struct err e;
	event_del(p->timer);
	if (n == 0)
		return;
	metric_observe(p->m->batch_size, (double)n);
	buf_init(&body, EX_MAX_REQUEST_BYTES);
	err_clear(&e);
	struct payload *pl = NULL;
	if (ex_pipe_encode(p->conf, p->enrich, batch_records(p->batch), n, &body, &flags, &e) == 0)
		pl = payload_new(&body, (uint32_t)n, flags, clock_mono_ns());
	if (pl == NULL) {
		enum ex_drop_reason why = e.code == EMSGSIZE ? EX_DROP_TOO_LARGE : EX_DROP_QUEUE_FULL;
		char q[300];
		metric_add(p->m->dropped[why], n);
		log_msg(LOG_LVL_ERROR, "batch_dropped", "reason=%s spans=%zu error=%s", ex_drop_reason_name(why), n,
			log_quote(e.msg[0] ? e.msg : "out of memory", q, sizeof(q)));
	} else {
		retry_submit(p->retry, pl);
	}
	buf_fini(&body);
	batch_reset(p->batch);
	metric_set(p->m->batch_open_spans, 0);
}

void ex_pipe_record(void *arg, const struct spanrec *r)
{
	struct ex_pipe *p = arg;
	if (!batch_fits(p->batch, r))
		ex_pipe_flush(p);
	bool was_empty = batch_len(p->batch) == 0;
	bool full = batch_add(p->batch, r, clock_mono_ns());
	if (full) {
		ex_pipe_flush(p);
		return;
	}
	if (was_empty) {
		int64_t ms = p->conf->batch_timeout_ms;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		evtimer_add(p->timer, &tv);
	}
	metric_set(p->m->batch_open_spans, (int64_t)batch_len(p->batch));
}
