/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's end of the span pipeline: a nanomsg PUSH socket connected to
 * the exporter's PULL socket (ipc:// in a pod, tcp:// to a standalone
 * exporter). Sending never waits: when the exporter is absent or slow and
 * the socket buffer is full, the record is dropped and the caller counts it.
 * nanomsg reconnects by itself, so a restarted exporter is picked up again.
 * nanomsg sockets are thread-safe: worker threads may share one spanpipe.
 */
#ifndef LLMGW_COMMON_SPANPIPE_H
#define LLMGW_COMMON_SPANPIPE_H

#include <stddef.h>

#include "common/err.h"
#include "common/spanrec-t.h"

struct spanpipe;

/*
 * Creates the PUSH socket and starts connecting to url (asynchronous: an
 * exporter that is not up yet is not an error). sndbuf_bytes sets
 * NN_SNDBUF (0 = nanomsg default 128 KiB). Returns NULL with err on a bad
 * url or a socket failure.
 */
struct spanpipe *spanpipe_open(const char *url, size_t sndbuf_bytes, struct err *err);
/* Closes the socket without lingering; NULL is a no-op. */
void spanpipe_close(struct spanpipe *p);

enum spanpipe_result {
	SPANPIPE_SENT = 0,
	SPANPIPE_FULL,	/* no peer or buffer full: dropped */
	SPANPIPE_ERROR, /* socket error: dropped */
};
/* Queues one record with NN_DONTWAIT. Never blocks. */
enum spanpipe_result spanpipe_send(struct spanpipe *p, const struct spanrec *r);

/*
 * The most records one message may carry. The exporter reads messages of
 * up to 64 KiB (one record, or several back to back: spanrec_frame_len);
 * 32 records of today's 1280 bytes (40 KiB) leave room for a larger
 * future version.
 */
#define SPANPIPE_BATCH_MAX 32

/*
 * Queues recs[0..n) as one message (1 <= n <= SPANPIPE_BATCH_MAX): one
 * nanomsg send and one wakeup of its I/O thread for the lot, which is most
 * of what a send costs. All or none: a full pipe drops the whole batch.
 */
enum spanpipe_result spanpipe_send_batch(struct spanpipe *p, const struct spanrec *recs, size_t n);

#endif
