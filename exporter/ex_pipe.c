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

#define EX_PIPE_SCRATCH_KEEP (4u * 1024 * 1024) /* largest scratch buffer kept between batches */

/*
 * Scratch buffers of ex_pipe_encode, kept across batches so they are not
 * regrown (and their pages faulted in) for every batch.
 */
struct ex_pipe_scratch {
	struct buf raw; /* the encoded, uncompressed body */
	struct buf gz;	/* its gzip: sized by deflateBound (the raw size), so copied out at its real size */
};

struct ex_pipe {
	const struct ex_conf *conf;
	const struct enrich *enrich;
	struct retry *retry;
	struct ex_metrics *m;
	struct batch *batch;
	struct event *timer;
	struct ex_pipe_scratch scratch;
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
	buf_init(&p->scratch.raw, EX_MAX_REQUEST_BYTES);
	buf_init(&p->scratch.gz, EX_MAX_REQUEST_BYTES);
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
	buf_fini(&p->scratch.raw);
	buf_fini(&p->scratch.gz);
	free(p);
}

/* Empties a scratch buffer, giving the memory back after an unusually large batch. */
static void ex_pipe_scratch_done(struct buf *b)
{
	buf_reset(b);
	if (b->cap > EX_PIPE_SCRATCH_KEEP)
		buf_fini(b);
}

/*
 * ex_pipe_encode with the caller's scratch. A gzip'd body is copied out of
 * s->gz at its real size: the payload keeps its buffer while it waits in
 * the queue, and deflateBound's reservation is the size of the
 * uncompressed body (14x the gzip'd one for spans), which a queue of 64
 * batches would otherwise hold on to.
 */
static int ex_pipe_encode_with(const struct ex_conf *c, const struct enrich *e, const struct spanrec *recs, size_t n,
			       struct ex_pipe_scratch *s, struct buf *out, unsigned *flags, struct err *err)
{
	int rc = -1;
	buf_reset(&s->raw);
	*flags = c->protocol == EX_PROTO_JSON ? PAYLOAD_F_JSON : 0;
	if (c->protocol == EX_PROTO_JSON ? encode_json(e, recs, n, &s->raw, err)
					 : encode_otlp(e, recs, n, &s->raw, err))
		goto out;
	if (c->compression == EX_COMP_GZIP) {
		buf_reset(&s->gz);
		if (compress_gzip(s->raw.data, s->raw.len, c->compression_level, &s->gz, err) != 0)
			goto out;
		if (buf_append(out, s->gz.data, s->gz.len) != 0) {
			err_set(err, ENOMEM, "out of memory for the request body");
			goto out;
		}
		*flags |= PAYLOAD_F_GZIP;
	} else {
		/* Hand the encoded storage over instead of copying it. */
		buf_fini(out);
		*out = s->raw;
		buf_init(&s->raw, EX_MAX_REQUEST_BYTES);
	}
	rc = 0;
out:
	ex_pipe_scratch_done(&s->raw);
	ex_pipe_scratch_done(&s->gz);
	return rc;
}

int ex_pipe_encode(const struct ex_conf *c, const struct enrich *e, const struct spanrec *recs, size_t n,
		   struct buf *out, unsigned *flags, struct err *err)
{
	struct ex_pipe_scratch s;
	buf_init(&s.raw, EX_MAX_REQUEST_BYTES);
	buf_init(&s.gz, EX_MAX_REQUEST_BYTES);
	int rc = ex_pipe_encode_with(c, e, recs, n, &s, out, flags, err);
	buf_fini(&s.raw);
	buf_fini(&s.gz);
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
	if (ex_pipe_encode_with(p->conf, p->enrich, batch_records(p->batch), n, &p->scratch, &body, &flags, &e) == 0)
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
	size_t est = batch_estimate(r); /* ~20 strlen: once per record */
	if (!batch_fits(p->batch, est))
		ex_pipe_flush(p);
	bool was_empty = batch_len(p->batch) == 0;
	/* only the first record's arrival time is kept: no clock read for the others */
	bool full = batch_add(p->batch, r, est, was_empty ? clock_mono_ns() : 0);
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
