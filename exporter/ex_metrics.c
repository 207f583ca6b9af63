/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration of the exporter's metrics (names in ex_metrics.h). Names and
 * label values are an interface: dashboards and the integration tests read
 * them, so they live in one table-like place and change only on purpose.
 */
#include "exporter/ex_metrics.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "exporter/encode_otlp.h"

static const char *const ex_drop_names[EX_DROP__COUNT] = {
    [EX_DROP_QUEUE_FULL] = "queue_full",   [EX_DROP_REJECTED] = "rejected_by_backend",
    [EX_DROP_PARTIAL] = "partial_success", [EX_DROP_TOO_LARGE] = "too_large",
    [EX_DROP_SHUTDOWN] = "shutdown",	   [EX_DROP_RETRY_EXHAUSTED] = "retry_exhausted",
    [EX_DROP_DISK_ERROR] = "disk_error",   [EX_DROP_CORRUPT_QUEUE] = "corrupt_queue",
};

/* Export attempts range from a local write (~µs) to a slow TLS backend at the timeout. */
static const double ex_duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
/* Spans per batch: from a lone span flushed by batch.timeout up to batch.max_spans (at most 16384). */
static const double ex_batch_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 512, 1024, 2048, 4096, 8192, 16384};

const char *ex_drop_reason_name(enum ex_drop_reason r)
{
	return (unsigned)r < EX_DROP__COUNT ? ex_drop_names[r] : "unknown";
}

enum ex_drop_reason ex_drop_reason_for_status(int status)
{
	return status == 413 ? EX_DROP_TOO_LARGE : EX_DROP_REJECTED;
}

static int ex_labelled(struct metrics *reg, struct metric **out, const char *name, const char *help, const char *label,
		       const char *value)
{
	char lbl[96];
	snprintf(lbl, sizeof(lbl), "%s=\"%s\"", label, value);
	*out = metrics_counter(reg, name, help, lbl);
	return *out ? 0 : -1;
}

static int ex_metrics_counters(struct ex_metrics *m, struct metrics *reg)
{
	if ((m->received = metrics_counter(reg, "llmgw_exporter_records_received_total",
					   "Valid span records read from the pipeline", NULL)) == NULL)
		return -1;
	for (int v = SPANREC_BAD_SIZE; v < SPANREC_VERDICT__COUNT; v++) {
		if (ex_labelled(reg, &m->rejected[v], "llmgw_exporter_records_rejected_total",
				"Span records rejected as malformed, by reason", "reason",
				spanrec_verdict_name((enum spanrec_verdict)v)) != 0)
			return -1;
	}
	if ((m->exported = metrics_counter(reg, "llmgw_exporter_spans_exported_total",
					   "Spans accepted by the backend or written to the local sink", NULL)) == NULL)
		return -1;
	for (int r = 0; r < EX_DROP__COUNT; r++) {
		if (ex_labelled(reg, &m->dropped[r], "llmgw_exporter_spans_dropped_total",
				"Spans given up on, by reason", "reason", ex_drop_names[r]) != 0)
			return -1;
	}
	for (int o = SEND_OK; o <= SEND_DROP; o++) {
		if (ex_labelled(reg, &m->requests[o], "llmgw_exporter_export_requests_total",
				"Export attempts, by outcome", "result", send_outcome_name((enum send_outcome)o)) != 0)
			return -1;
	}
	m->retries = metrics_counter(reg, "llmgw_exporter_retries_total", "Export attempts after the first", NULL);
	return m->retries ? 0 : -1;
}

static int ex_metrics_gauges(struct ex_metrics *m, struct metrics *reg)
{
	static const struct {
		size_t off;
		const char *name, *help;
	} g[] = {
	    {offsetof(struct ex_metrics, inflight), "llmgw_exporter_exports_in_flight", "Export attempts in flight"},
	    {offsetof(struct ex_metrics, pending_batches), "llmgw_exporter_pending_batches",
	     "Encoded batches waiting for delivery or in flight"},
	    {offsetof(struct ex_metrics, pending_bytes), "llmgw_exporter_pending_bytes",
	     "Encoded bytes of the pending batches"},
	    {offsetof(struct ex_metrics, queue_batches), "llmgw_exporter_queue_batches",
	     "Batches in the delivery queue, in flight included"},
	    {offsetof(struct ex_metrics, queue_bytes), "llmgw_exporter_queue_bytes",
	     "Bytes of the delivery queue (disk: entries with headers; memory: bodies)"},
	    {offsetof(struct ex_metrics, queue_durable), "llmgw_exporter_queue_durable",
	     "1 when the delivery queue is on disk (queue.dir), 0 in memory"},
	    {offsetof(struct ex_metrics, batch_open_spans), "llmgw_exporter_batch_open_spans",
	     "Spans in the batch being collected"},
	};
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct metric **out = (struct metric **)(void *)((char *)m + g[i].off);
		if ((*out = metrics_gauge(reg, g[i].name, g[i].help, NULL)) == NULL)
			return -1;
	}
	return 0;
}

int ex_metrics_init(struct ex_metrics *m, struct metrics *reg, struct err *err)
{
	char lbl[128];
	memset(m, 0, sizeof(*m));
	if (ex_metrics_counters(m, reg) != 0 || ex_metrics_gauges(m, reg) != 0)
		goto fail;
	m->replayed_spans = metrics_counter(reg, "llmgw_exporter_queue_replayed_spans_total",
					    "Spans found waiting in the disk queue at start-up", NULL);
	m->batch_size = metrics_histogram(reg, "llmgw_exporter_batch_spans", "Spans per flushed batch", NULL,
					  ex_batch_bounds, sizeof(ex_batch_bounds) / sizeof(ex_batch_bounds[0]));
	m->export_duration =
	    metrics_histogram(reg, "llmgw_exporter_export_duration_seconds", "Duration of one export attempt", NULL,
			      ex_duration_bounds, sizeof(ex_duration_bounds) / sizeof(ex_duration_bounds[0]));
	snprintf(lbl, sizeof(lbl), "version=\"%s\"", encode_scope_version());
	m->build_info = metrics_gauge(reg, "llmgw_exporter_build_info", "Exporter version (always 1)", lbl);
	if (m->replayed_spans == NULL || m->batch_size == NULL || m->export_duration == NULL || m->build_info == NULL)
		goto fail;
	metric_set(m->build_info, 1);
	return 0;
fail:
	return err_set(err, ENOMEM, "cannot register metrics");
}
