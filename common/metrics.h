/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny metrics registry rendered in Prometheus text format (0.0.4).
 * Metrics are registered at start-up (not thread-safe) and updated from any
 * thread afterwards with relaxed atomics (lock-free, a few ns). A family is
 * a name with HELP/TYPE; each registration adds one series with a fixed
 * label set, e.g. metrics_counter(m, "llmgw_spans_dropped_total",
 * "Span records dropped", "reason=\"pipe_full\"").
 */
#ifndef LLMGW_COMMON_METRICS_H
#define LLMGW_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct metrics;
struct metric;

enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metrics *metrics_new(void);
/* Frees the registry and every metric handle it gave out; NULL is a no-op. */
void metrics_free(struct metrics *m);

/*
 * Register one series. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; labels is
 * NULL or a pre-rendered label list without braces (`a="x",b="y"`). The same
 * name with another label set joins the existing family (help/type must
 * agree). Returns a handle owned by m, or NULL on a bad name or ENOMEM.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds (seconds, bytes, ...), n <= 32; +Inf is implicit. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
				 const double *bounds, size_t n);

/* Updates; all accept NULL (a metric that failed to register) as a no-op. */
void metric_inc(struct metric *c);
void metric_add(struct metric *c, uint64_t n);
void metric_set(struct metric *g, int64_t v);
void metric_gauge_add(struct metric *g, int64_t delta);
void metric_observe(struct metric *h, double v);
/* Current value of a counter or gauge (tests, /readyz decisions). */
int64_t metric_get(const struct metric *c);

/* Appends the whole registry in Prometheus text format. -1 if out is full. */
int metrics_render(const struct metrics *m, struct buf *out);

#endif
