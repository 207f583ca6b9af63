/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exporter's metric handles, registered once at start-up in the
 * process registry (common/metrics.h) and served on the admin /metrics.
 * Every label value that can occur is registered up front, so a series
 * exists at 0 before its first event (alerts on rate() need that).
 *
 *   llmgw_exporter_records_received_total            valid records accepted
 *   llmgw_exporter_records_rejected_total{reason}     bad_size|bad_magic|bad_version|bad_string|bad_field
 *   llmgw_exporter_spans_exported_total               accepted by the backend (or written to stdout/file)
 *   llmgw_exporter_spans_dropped_total{reason}        queue_full|rejected_by_backend|partial_success|
 *                                                     too_large|shutdown|retry_exhausted|disk_error|
 *                                                     corrupt_queue
 *   llmgw_exporter_export_requests_total{result}      ok|retry|drop
 *   llmgw_exporter_retries_total                      attempts after the first, all batches
 *   llmgw_exporter_exports_in_flight                  attempts in the sink's hands (gauge)
 *   llmgw_exporter_pending_batches / _pending_bytes   waiting or in flight (gauges; = queue_*)
 *   llmgw_exporter_queue_batches / _queue_bytes       entries in the delivery queue, in flight included (gauges)
 *   llmgw_exporter_queue_durable                      1 with queue.dir, 0 in memory (gauge)
 *   llmgw_exporter_queue_replayed_spans_total         spans found in the disk queue at start
 *   llmgw_exporter_batch_open_spans                   spans in the batch being collected (gauge)
 *   llmgw_exporter_batch_spans                        spans per flushed batch (histogram)
 *   llmgw_exporter_export_duration_seconds            one export attempt, request to outcome (histogram)
 *   llmgw_exporter_build_info{version}                always 1
 */
#ifndef LLMGW_EXPORTER_EX_METRICS_H
#define LLMGW_EXPORTER_EX_METRICS_H

#include "common/err.h"
#include "common/metrics.h"
#include "common/spanrec.h"
#include "exporter/send_outcome.h"

enum ex_drop_reason {
	EX_DROP_QUEUE_FULL = 0,	 /* pending limit reached: the oldest batch goes */
	EX_DROP_REJECTED,	 /* backend answered with a non-retryable status */
	EX_DROP_PARTIAL,	 /* backend accepted the request but rejected these spans */
	EX_DROP_TOO_LARGE,	 /* request over the size limit (encoder or HTTP 413) */
	EX_DROP_SHUTDOWN,	 /* still pending at the drain deadline */
	EX_DROP_RETRY_EXHAUSTED, /* retry.max_elapsed passed without success */
	EX_DROP_DISK_ERROR,	 /* the disk queue could not store the batch */
	EX_DROP_CORRUPT_QUEUE,	 /* found unreadable in the disk queue (replay or read-back) */
	EX_DROP__COUNT
};

struct ex_metrics {
	struct metric *received;
	struct metric *rejected[SPANREC_VERDICT__COUNT]; /* [SPANREC_OK] unused */
	struct metric *exported;
	struct metric *dropped[EX_DROP__COUNT];
	struct metric *requests[SEND_DROP + 1]; /* by enum send_outcome */
	struct metric *retries;
	struct metric *inflight;
	struct metric *pending_batches;
	struct metric *pending_bytes;
	struct metric *queue_batches;
	struct metric *queue_bytes;
	struct metric *queue_durable;
	struct metric *replayed_spans;
	struct metric *batch_open_spans; /* gauge: the batch being collected */
	struct metric *batch_size;	 /* histogram: spans per flushed batch */
	struct metric *export_duration;
	struct metric *build_info;
};

/* Registers every series in reg. -1 with err if one fails (bad name, ENOMEM). */
int ex_metrics_init(struct ex_metrics *m, struct metrics *reg, struct err *err);

/* Label value of a drop reason ("queue_full", ...). */
const char *ex_drop_reason_name(enum ex_drop_reason r);
/* EX_DROP_TOO_LARGE or EX_DROP_REJECTED for a dropped HTTP status (413 = too large). */
enum ex_drop_reason ex_drop_reason_for_status(int status);

#endif
