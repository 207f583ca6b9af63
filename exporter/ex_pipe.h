/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exporter pipeline between receive and retry: collects validated
 * records into the batch, and on flush (max_spans, max_bytes, batch.timeout,
 * or shutdown) encodes them (protobuf or JSON), gzips if configured, and
 * hands the payload to the delivery loop.
 */
#ifndef LLMGW_EXPORTER_EX_PIPE_H
#define LLMGW_EXPORTER_EX_PIPE_H

#include <event2/event.h>

#include "common/err.h"
#include "common/spanrec-t.h"
#include "exporter/enrich.h"
#include "exporter/ex_conf.h"
#include "exporter/ex_metrics.h"
#include "exporter/retry.h"

struct ex_pipe;

/* Borrows every argument. NULL with err on ENOMEM. */
struct ex_pipe *ex_pipe_new(struct event_base *evb, const struct ex_conf *c, const struct enrich *e, struct retry *rt,
			    struct ex_metrics *m, struct err *err);
void ex_pipe_free(struct ex_pipe *p);

/* receive_cb: adds one record, flushing before (would not fit) or after (full) as needed. */
void ex_pipe_record(void *arg, const struct spanrec *r);
/* Encodes and hands off the current batch now (no-op when empty). */
void ex_pipe_flush(struct ex_pipe *p);

/*
 * Encodes recs[0..n) as one request body per the config (protocol,
 * compression) into out (bounded at EX_MAX_REQUEST_BYTES); *flags receives the
 * PAYLOAD_F_* bits. -1 with err (EMSGSIZE: too large; ENOMEM).
 */
int ex_pipe_encode(const struct ex_conf *c, const struct enrich *e, const struct spanrec *recs, size_t n,
		   struct buf *out, unsigned *flags, struct err *err);

#endif
