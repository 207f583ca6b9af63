/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny metrics registry rendered in Prometheus text format (0.0.4).
 * Series may be registered from any thread at any time (start-up, a config
 * reload, a lazily created per-tenant series): registration and render take
 * the registry's mutex. Updates (metric_inc and friends) never lock: they
 * are relaxed atomics on the handle, a few ns from any thread. A family is a
 * name with HELP/TYPE; each registration adds one series with a fixed label
 * set, e.g. metrics_counter(m, "llmgw_spans_dropped_total",
 * "Span records dropped", "reason=\"pipe_full\"").
 *
 * Series live until metrics_free (Prometheus counters must not vanish), so
 * code that registers series from data must cap how many it creates; the
 * registry itself refuses more than METRICS_MAX_SERIES.
 */
#ifndef LLMGW_COMMON_METRICS_H
#define LLMGW_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct metrics;
struct metric;

/* Series in one registry, all families together; registration past it returns NULL. */
#define METRICS_MAX_SERIES 65536

enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metrics *metrics_new(void);
/* Frees the registry and every metric handle it gave out; NULL is a no-op. */
void metrics_free(struct metrics *m);

/*
 * Register one series; thread-safe. name must match [a-zA-Z_:][a-zA-Z0-9_:]*
 * (at most 200 bytes); labels is NULL or a pre-rendered label list without
 * braces (`a="x",b="y"`, at most 512 bytes, values escaped: \\ \" \n). The
 * same name with another label set joins the existing family (help, type
 * and, for scaled counters, the scale must agree). The same name AND label
 * set returns the existing handle, so re-registering after a reload is
 * harmless. Returns a handle owned by m, or NULL on a bad name or labels, a
 * clash with the family, the series cap, or ENOMEM.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
/*
 * A counter that stores integers and renders value * scale, e.g. cost kept
 * in micro-USD with scale 1e-6 renders 1234567 as "1.234567" (exact decimal
 * for scales 1e-1 .. 1e-18; otherwise the shortest double that reads back).
 * scale must be finite and > 0. metric_add/metric_get use the raw integer.
 */
struct metric *metrics_counter_scaled(struct metrics *m, const char *name, const char *help, const char *labels,
				      double scale);
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
/* Current value of a counter or gauge, unscaled (tests, /readyz decisions); a histogram's count. */
int64_t metric_get(const struct metric *c);

/*
 * Appends the whole registry in Prometheus text format, holding the mutex
 * (registrations wait; updates do not). -1 if out is full (out then holds a
 * partial page).
 */
int metrics_render(const struct metrics *m, struct buf *out);

#endif
