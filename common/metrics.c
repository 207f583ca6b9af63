/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny Prometheus registry, rendered in text exposition format 0.0.4.
 *
 * Registration happens at start-up on one thread and builds two linked
 * lists: families in registration order, and each family's series in
 * registration order, so /metrics output is stable and diffable. After that
 * the structure never changes; updates touch only one series' atomics with
 * relaxed ordering (a counter needs atomicity, not ordering against other
 * memory), so any thread may bump a counter for a few ns without a lock, and
 * a render running concurrently sees each value whole.
 *
 * Counters and gauges are one _Atomic int64_t (C11 atomics wrap silently,
 * so a counter past 2^63 renders as the unsigned value it is). Histograms
 * keep a non-cumulative count per bucket plus +Inf; render accumulates them,
 * so _count always equals the +Inf bucket even mid-update. The sum is a
 * double stored as its IEEE-754 bits in an _Atomic uint64_t and updated with
 * a compare-and-swap loop, which keeps full precision (no fixed-point unit
 * to pick per metric). NaN observations are ignored: one would poison the sum
 * for the life of the process.
 *
 * Bounds: at most METRICS_MAX_SERIES series, names of at most 200 bytes,
 * label lists of at most 512 bytes — the registry is configured by code,
 * but a label value may come from config (a target name) and must not blow
 * up the page.
 */
#include "common/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_SERIES 512
#define METRICS_MAX_BOUNDS 32
#define METRICS_NAME_MAX 200
#define METRICS_LABELS_MAX 512

struct family {
	char *name;
	char *help;
	enum metric_type type;
	struct metric *first, *last;
	struct family *next;
};

struct metric {
	struct family *fam;
	char *labels; /* "" when none */
	struct metric *next;
	_Atomic int64_t value; /* counter, gauge */
	/* histogram */
	size_t nbounds;
	double *bounds;
	_Atomic uint64_t *buckets; /* nbounds + 1, the last is +Inf; not cumulative */
	_Atomic uint64_t sum_bits;
};

struct metrics {
	struct family *first, *last;
	size_t nseries;
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

static void metric_free(struct metric *s)
{
	free(s->labels);
	free(s->bounds);
	free((void *)s->buckets);
	free(s);
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	struct family *f = m->first;
	while (f != NULL) {
		struct family *fn = f->next;
		struct metric *s = f->first;
		while (s != NULL) {
			struct metric *sn = s->next;
			metric_free(s);
			s = sn;
		}
		free(f->name);
		free(f->help);
		free(f);
		f = fn;
	}
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (metric names); label names exclude ':'. */
static bool metrics_name_ok(const char *s, size_t n, bool colon)
{
	if (n == 0 || n > METRICS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
			  (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Checks a pre-rendered label list `a="x",b="y"`: valid label names, quoted
 * values with only \\ \" \n escapes and no raw newline, and (for
 * histograms) no "le", which render adds itself.
 */
static bool metrics_labels_ok(const char *l, bool histogram)
{
	if (strlen(l) > METRICS_LABELS_MAX)
		return false;
	const char *p = l;
	while (*p != '\0') {
		const char *eq = strchr(p, '=');
		if (eq == NULL || !metrics_name_ok(p, (size_t)(eq - p), false))
			return false;
		if (histogram && eq - p == 2 && strncmp(p, "le", 2) == 0)
			return false;
		p = eq + 1;
		if (*p++ != '"')
			return false;
		while (*p != '"') {
			if (*p == '\0' || *p == '\n')
				return false;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return false;
			}
			p++;
		}
		p++;
		if (*p == ',' && p[1] != '\0') /* a trailing comma would break the merge with le */
			p++;
		else if (*p != '\0')
			return false;
	}
	return true;
}

static struct family *metrics_family(struct metrics *m, const char *name)
{
	for (struct family *f = m->first; f != NULL; f = f->next) {
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

static bool metrics_bounds_equal(const struct metric *s, const double *bounds, size_t n)
{
	return s->nbounds == n && (n == 0 || memcmp(s->bounds, bounds, n * sizeof(*bounds)) == 0);
}

static bool metrics_bounds_ok(const double *bounds, size_t n)
{
	if (n > METRICS_MAX_BOUNDS || (n > 0 && bounds == NULL))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return false;
	}
	return true;
}

/* Appends a new family (the caller checked that none has this name). */
static struct family *metrics_family_new(struct metrics *m, const char *name, const char *help, enum metric_type type)
{
	struct family *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->name = strdup(name);
	f->help = strdup(help);
	if (f->name == NULL || f->help == NULL) {
		free(f->name);
		free(f->help);
		free(f);
		return NULL;
	}
	f->type = type;
	if (m->last != NULL)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	return f;
}

static int metric_hist_init(struct metric *s, const double *bounds, size_t n)
{
	s->nbounds = n;
	if (n > 0) {
		s->bounds = malloc(n * sizeof(*bounds));
		if (s->bounds == NULL)
			return -1;
		memcpy(s->bounds, bounds, n * sizeof(*bounds));
	}
	s->buckets = calloc(n + 1, sizeof(*s->buckets));
	if (s->buckets == NULL)
		return -1;
	for (size_t i = 0; i <= n; i++)
		atomic_init(&s->buckets[i], 0);
	double zero = 0.0;
	uint64_t bits;
	memcpy(&bits, &zero, sizeof(bits));
	atomic_init(&s->sum_bits, bits);
	return 0;
}

/*
 * Registering the same name and label set again returns the existing series
 * (so two modules may share a counter); a histogram must then have the same
 * bounds. A family whose first series fails to allocate stays, empty, and
 * renders HELP/TYPE only (harmless, and only on ENOMEM).
 */
static struct metric *metrics_register(struct metrics *m, const char *name, const char *help, const char *labels,
				       enum metric_type type, const double *bounds, size_t n)
{
	if (m == NULL || name == NULL || !metrics_name_ok(name, strlen(name), true))
		return NULL;
	if (help == NULL)
		help = "";
	if (labels == NULL)
		labels = "";
	if (!metrics_labels_ok(labels, type == METRIC_HISTOGRAM))
		return NULL;
	if (type == METRIC_HISTOGRAM && !metrics_bounds_ok(bounds, n))
		return NULL;

	struct family *f = metrics_family(m, name);
	if (f != NULL) {
		if (f->type != type || strcmp(f->help, help) != 0)
			return NULL;
		for (struct metric *s = f->first; s != NULL; s = s->next) {
			if (strcmp(s->labels, labels) == 0)
				return type != METRIC_HISTOGRAM || metrics_bounds_equal(s, bounds, n) ? s : NULL;
		}
	}
	if (m->nseries >= METRICS_MAX_SERIES)
		return NULL;
	if (f == NULL && (f = metrics_family_new(m, name, help, type)) == NULL)
		return NULL;

	struct metric *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fam = f;
	atomic_init(&s->value, 0);
	s->labels = strdup(labels);
	if (s->labels == NULL || (type == METRIC_HISTOGRAM && metric_hist_init(s, bounds, n) < 0)) {
		metric_free(s);
		return NULL;
	}
	if (f->last != NULL)
		f->last->next = s;
	else
		f->first = s;
	f->last = s;
	m->nseries++;
	return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metrics_register(m, name, help, labels, METRIC_COUNTER, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metrics_register(m, name, help, labels, METRIC_GAUGE, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
				 const double *bounds, size_t n)
{
	return metrics_register(m, name, help, labels, METRIC_HISTOGRAM, bounds, n);
}

/* ---- updates: counters/gauges take inc/add; gauges also set; histograms observe */

void metric_inc(struct metric *c)
{
	metric_add(c, 1);
}

void metric_add(struct metric *c, uint64_t n)
{
	if (c == NULL || c->fam->type == METRIC_HISTOGRAM)
		return;
	atomic_fetch_add_explicit(&c->value, (int64_t)n, memory_order_relaxed);
}

void metric_set(struct metric *g, int64_t v)
{
	if (g == NULL || g->fam->type != METRIC_GAUGE)
		return;
	atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void metric_gauge_add(struct metric *g, int64_t delta)
{
	if (g == NULL || g->fam->type != METRIC_GAUGE)
		return;
	atomic_fetch_add_explicit(&g->value, delta, memory_order_relaxed);
}

void metric_observe(struct metric *h, double v)
{
	if (h == NULL || h->fam->type != METRIC_HISTOGRAM || isnan(v))
		return;
	size_t i = 0;
	while (i < h->nbounds && v > h->bounds[i]) /* le: a value equal to a bound goes in it */
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);

	uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	uint64_t next;
	do {
		double d;
		memcpy(&d, &old, sizeof(d));
		d += v;
		memcpy(&next, &d, sizeof(next));
	} while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, next, memory_order_relaxed,
							memory_order_relaxed));
}

/* Counter or gauge value; for a histogram, its observation count. */
int64_t metric_get(const struct metric *c)
{
	if (c == NULL)
		return 0;
	if (c->fam->type != METRIC_HISTOGRAM)
		return atomic_load_explicit(&((struct metric *)c)->value, memory_order_relaxed);
	uint64_t total = 0;
	for (size_t i = 0; i <= c->nbounds; i++)
		total += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
	return (int64_t)total;
}

/* ---- rendering ------------------------------------------------------------ */

/* Shortest of %.15g/%.17g that reads back exactly: "0.1", not "0.10000000000000001". */
static void metrics_fmt_double(double v, char *out, size_t outsz)
{
	if (isinf(v)) {
		snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(out, outsz, "NaN");
		return;
	}
	snprintf(out, outsz, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, outsz, "%.17g", v);
}

/* HELP text escapes only backslash and newline (exposition format 0.0.4). */
static int metrics_put_help(struct buf *out, const struct family *f)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	if (buf_printf(out, "# HELP %s ", f->name) < 0)
		return -1;
	for (const char *p = f->help; *p != '\0'; p++) {
		int rc = *p == '\\' ? buf_puts(out, "\\\\") : *p == '\n' ? buf_puts(out, "\\n") : buf_append(out, p, 1);
		if (rc < 0)
			return -1;
	}
	return buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
}

static int metrics_put_hist(struct buf *out, const struct family *f, const struct metric *s)
{
	const char *sep = s->labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	char num[40];
	for (size_t i = 0; i <= s->nbounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < s->nbounds)
			metrics_fmt_double(s->bounds[i], num, sizeof(num));
		else
			snprintf(num, sizeof(num), "+Inf");
		if (buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep, num,
			       (unsigned long long)cum) < 0)
			return -1;
	}
	uint64_t bits = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	double sum;
	memcpy(&sum, &bits, sizeof(sum));
	metrics_fmt_double(sum, num, sizeof(num));
	const char *lo = s->labels[0] != '\0' ? "{" : "";
	const char *lc = s->labels[0] != '\0' ? "}" : "";
	if (buf_printf(out, "%s_sum%s%s%s %s\n", f->name, lo, s->labels, lc, num) < 0)
		return -1;
	return buf_printf(out, "%s_count%s%s%s %llu\n", f->name, lo, s->labels, lc, (unsigned long long)cum);
}

static int metrics_put_series(struct buf *out, const struct family *f, const struct metric *s)
{
	if (f->type == METRIC_HISTOGRAM)
		return metrics_put_hist(out, f, s);
	int64_t v = atomic_load_explicit(&((struct metric *)s)->value, memory_order_relaxed);
	const char *lo = s->labels[0] != '\0' ? "{" : "";
	const char *lc = s->labels[0] != '\0' ? "}" : "";
	if (f->type == METRIC_COUNTER)
		return buf_printf(out, "%s%s%s%s %llu\n", f->name, lo, s->labels, lc, (unsigned long long)v);
	return buf_printf(out, "%s%s%s%s %lld\n", f->name, lo, s->labels, lc, (long long)v);
}

/* On -1 (out reached its max) out holds a partial page; callers answer 500. */
int metrics_render(const struct metrics *m, struct buf *out)
{
	if (m == NULL)
		return 0;
	for (const struct family *f = m->first; f != NULL; f = f->next) {
		if (metrics_put_help(out, f) < 0)
			return -1;
		for (const struct metric *s = f->first; s != NULL; s = s->next) {
			if (metrics_put_series(out, f, s) < 0)
				return -1;
		}
	}
	return 0;
}
