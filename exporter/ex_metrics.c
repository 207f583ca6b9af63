/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration of the exporter's metrics (names in ex_metrics.h). Names and
 * label values are an interface: dashboards and the integration tests read
 * them, so they live in one table-like place and change only on purpose.
 */
#include "exporter/ex_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exporter/encode_otlp.h"

static const char *const ex_drop_names[EX_DROP__COUNT] = {
    [EX_DROP_QUEUE_FULL] = "queue_full",   [EX_DROP_REJECTED] = "rejected_by_backend",
    [EX_DROP_PARTIAL] = "partial_success", [EX_DROP_TOO_LARGE] = "too_large",
    [EX_DROP_SHUTDOWN] = "shutdown",	   [EX_DROP_RETRY_EXHAUSTED] = "retry_exhausted",
};

/* Export attempts range from a local write (~µs) to a slow TLS backend at the timeout. */
static const double ex_duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

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

int ex_metrics_init(struct ex_metrics *m, struct metrics *reg, struct err *err)
{
	char lbl[128];
	memset(m, 0, sizeof(*m));
	if (ex_metrics_counters(m, reg) != 0)
		goto fail;
	m->pending_batches = metrics_gauge(reg, "llmgw_exporter_pending_batches",
					   "Encoded batches waiting for delivery or in flight", NULL);
	m->pending_bytes =
	    metrics_gauge(reg, "llmgw_exporter_pending_bytes", "Encoded bytes of the pending batches", NULL);
	m->batch_spans = metrics_gauge(reg, "llmgw_exporter_batch_spans", "Spans in the batch being collected", NULL);
	m->export_duration =
	    metrics_histogram(reg, "llmgw_exporter_export_duration_seconds", "Duration of one export attempt", NULL,
			      ex_duration_bounds, sizeof(ex_duration_bounds) / sizeof(ex_duration_bounds[0]));
	snprintf(lbl, sizeof(lbl), "version=\"%s\"", encode_scope_version());
	m->build_info = metrics_gauge(reg, "llmgw_exporter_build_info", "Exporter version (always 1)", lbl);
	if (m->pending_batches == NULL || m->pending_bytes == NULL || m->batch_spans == NULL ||
	    m->export_duration == NULL || m->build_info == NULL)
		goto fail;
	metric_set(m->build_info, 1);
	return 0;
fail:
	return err_set(err, ENOMEM, "cannot register metrics");
}
