/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny Prometheus registry, rendered in text exposition format 0.0.4.
 *
 * Registration builds two append-only linked lists: families in
 * registration order, and each family's series in registration order, so
 * /metrics output is stable and diffable. It may happen on any thread at any
 * time (a config reload, a lazily created per-tenant series), so the lists
 * and a hash index on (name, labels) are guarded by one mutex, which render
 * holds too. Nothing is ever removed before metrics_free, so a handle stays
 * valid for the registry's life and updates need no lock: they touch only
 * one series' atomics with relaxed ordering (a counter needs atomicity, not
 * ordering against other memory), a few ns from any thread, and a render
 * running concurrently sees each value whole. The hash index keeps
 * registration O(1) so a gateway re-registering thousands of per-tenant
 * series on a reload does not go quadratic.
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
 * A scaled counter (cost in micro-USD rendered as USD) stores integers like
 * any counter and multiplies only when rendering; for a decimal scale the
 * rendering is done in integers so 1234567 micro-USD is exactly "1.234567".
 *
 * Bounds: at most METRICS_MAX_SERIES series, names of at most 200 bytes,
 * label lists of at most 512 bytes — label values may come from config
 * (a target, model or tenant name) and must not blow up the page; code
 * that creates series from data caps its own count below the registry's.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_BOUNDS 32
#define METRICS_NAME_MAX 200
#define METRICS_LABELS_MAX 512

struct family {
	char *name;
	char *help;
	enum metric_type type;
	double scale; /* counters: 0 = plain integer, else rendered value * scale */
	struct metric *first, *last;
	struct family *next;
};

struct metric {
	struct family *fam;
	char *labels;  /* "" when none */
	uint64_t hash; /* of name and labels, for the index */
	struct metric *next;
	_Atomic int64_t value; /* counter, gauge */
	/* histogram */
	size_t nbounds;
	double *bounds;
	_Atomic uint64_t *buckets; /* nbounds + 1, the last is +Inf; not cumulative */
	_Atomic uint64_t sum_bits;
};

struct metrics {
	pthread_mutex_t mu; /* guards everything below; render holds it too */
	struct family *first, *last;
	size_t nseries;
	/* open addressing, linear probing; nslots a power of two, at most half full */
	struct metric **slots;
	size_t nslots;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
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
	free(m->slots);
	pthread_mutex_destroy(&m->mu);
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

/* ---- the (name, labels) index ------------------------------------------------- */

/* FNV-1a over name, a NUL, labels: the NUL keeps ("ab", "c") apart from ("a", "bc"). */
static uint64_t metrics_hash(const char *name, const char *labels)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = name;; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		if (*p == '\0')
			break;
	}
	for (const char *p = labels; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static struct metric *metrics_index_find(const struct metrics *m, uint64_t h, const char *name, const char *labels)
{
	if (m->nslots == 0)
		return NULL;
	for (size_t i = (size_t)h & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		struct metric *s = m->slots[i];
		if (s == NULL)
			return NULL;
		if (s->hash == h && strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
			return s;
	}
}

static void metrics_index_put(struct metric **slots, size_t nslots, struct metric *s)
{
	size_t i = (size_t)s->hash & (nslots - 1);
	while (slots[i] != NULL)
		i = (i + 1) & (nslots - 1);
	slots[i] = s;
}

/* Keeps the table at most half full for one more series; -1 on ENOMEM (nothing changed). */
static int metrics_index_reserve(struct metrics *m)
{
	if ((m->nseries + 1) * 2 <= m->nslots)
		return 0;
	size_t n = m->nslots != 0 ? m->nslots * 2 : 64;
	struct metric **slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->nslots; i++) {
		if (m->slots[i] != NULL)
			metrics_index_put(slots, n, m->slots[i]);
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return 0;
}

/* ---- registration ------------------------------------------------------------- */

/* What one registration asks for, validated before the lock is taken. */
struct metric_spec {
	const char *name, *help, *labels;
	enum metric_type type;
	double scale; /* counters only; 0 = plain */
	const double *bounds;
	size_t n;
};

static bool metrics_spec_ok(struct metric_spec *sp)
{
	if (sp->name == NULL || !metrics_name_ok(sp->name, strlen(sp->name), true))
		return false;
	if (sp->help == NULL)
		sp->help = "";
	if (sp->labels == NULL)
		sp->labels = "";
	if (!metrics_labels_ok(sp->labels, sp->type == METRIC_HISTOGRAM))
		return false;
	return sp->type != METRIC_HISTOGRAM || metrics_bounds_ok(sp->bounds, sp->n);
}

/*
 * Under m->mu. Registering the same name and label set again returns the
 * existing series (two modules may share a counter; a reload re-registers
 * what it had); a histogram must then have the same bounds. A family whose
 * first series fails to allocate stays, empty, and renders HELP/TYPE only
 * (harmless, and only on ENOMEM).
 */
static struct metric *metrics_register_locked(struct metrics *m, const struct metric_spec *sp, uint64_t h)
{
	struct family *f = metrics_family(m, sp->name);
	if (f != NULL) {
		if (f->type != sp->type || f->scale != sp->scale || strcmp(f->help, sp->help) != 0)
			return NULL;
		struct metric *s = metrics_index_find(m, h, sp->name, sp->labels);
		if (s != NULL)
			return sp->type != METRIC_HISTOGRAM || metrics_bounds_equal(s, sp->bounds, sp->n) ? s : NULL;
	}
	if (m->nseries >= METRICS_MAX_SERIES || metrics_index_reserve(m) < 0)
		return NULL;
	if (f == NULL) {
		if ((f = metrics_family_new(m, sp->name, sp->help, sp->type)) == NULL)
			return NULL;
		f->scale = sp->scale;
	}

	struct metric *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fam = f;
	s->hash = h;
	atomic_init(&s->value, 0);
	s->labels = strdup(sp->labels);
	if (s->labels == NULL || (sp->type == METRIC_HISTOGRAM && metric_hist_init(s, sp->bounds, sp->n) < 0)) {
		metric_free(s);
		return NULL;
	}
	if (f->last != NULL)
		f->last->next = s;
	else
		f->first = s;
	f->last = s;
	metrics_index_put(m->slots, m->nslots, s);
	m->nseries++;
	return s;
}

static struct metric *metrics_register(struct metrics *m, struct metric_spec *sp)
{
	if (m == NULL || !metrics_spec_ok(sp))
		return NULL;
	uint64_t h = metrics_hash(sp->name, sp->labels);
	pthread_mutex_lock(&m->mu);
	struct metric *s = metrics_register_locked(m, sp, h);
	pthread_mutex_unlock(&m->mu);
	return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	struct metric_spec sp = {.name = name, .help = help, .labels = labels, .type = METRIC_COUNTER};
	return metrics_register(m, &sp);
}

struct metric *metrics_counter_scaled(struct metrics *m, const char *name, const char *help, const char *labels,
				      double scale)
{
	/* !(scale > 0) also catches NaN */
	if (!(scale > 0) || !isfinite(scale))
		return NULL;
	struct metric_spec sp = {.name = name, .help = help, .labels = labels, .type = METRIC_COUNTER, .scale = scale};
	return metrics_register(m, &sp);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	struct metric_spec sp = {.name = name, .help = help, .labels = labels, .type = METRIC_GAUGE};
	return metrics_register(m, &sp);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
				 const double *bounds, size_t n)
{
	struct metric_spec sp = {
	    .name = name, .help = help, .labels = labels, .type = METRIC_HISTOGRAM, .bounds = bounds, .n = n};
	return metrics_register(m, &sp);
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

/*
 * v * scale. A scale of exactly 10^-k is done in integers ("1.234567", "0.5",
 * "3"): a double would print 0.1 + 0.2 style noise for a cost; any other
 * scale goes through a double.
 */
static void metrics_fmt_scaled(uint64_t v, double scale, char *out, size_t outsz)
{
	uint64_t p10 = 1;
	for (int k = 0; k <= 18; k++, p10 *= 10) {
		if (scale != 1.0 / (double)p10)
			continue;
		int n = snprintf(out, outsz, "%llu.%0*llu", (unsigned long long)(v / p10), k,
				 (unsigned long long)(v % p10));
		while (n > 0 && (size_t)n < outsz && out[n - 1] == '0')
			out[--n] = '\0';
		if (n > 0 && (size_t)n < outsz && out[n - 1] == '.')
			out[--n] = '\0';
		return;
	}
	metrics_fmt_double((double)v * scale, out, outsz);
}

static int metrics_put_series(struct buf *out, const struct family *f, const struct metric *s)
{
	if (f->type == METRIC_HISTOGRAM)
		return metrics_put_hist(out, f, s);
	int64_t v = atomic_load_explicit(&((struct metric *)s)->value, memory_order_relaxed);
	const char *lo = s->labels[0] != '\0' ? "{" : "";
	const char *lc = s->labels[0] != '\0' ? "}" : "";
	if (f->type == METRIC_COUNTER && f->scale != 0) {
		char num[48];
		metrics_fmt_scaled((uint64_t)v, f->scale, num, sizeof(num));
		return buf_printf(out, "%s%s%s%s %s\n", f->name, lo, s->labels, lc, num);
	}
	if (f->type == METRIC_COUNTER)
		return buf_printf(out, "%s%s%s%s %llu\n", f->name, lo, s->labels, lc, (unsigned long long)v);
	return buf_printf(out, "%s%s%s%s %lld\n", f->name, lo, s->labels, lc, (long long)v);
}

static int metrics_render_locked(const struct metrics *m, struct buf *out)
{
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

/*
 * On -1 (out reached its max) out holds a partial page; callers answer 500.
 * m is const to callers (render changes no metric) but the mutex is taken:
 * the registry is never itself a const object, so the cast is sound.
 */
int metrics_render(const struct metrics *m, struct buf *out)
{
	if (m == NULL)
		return 0;
	struct metrics *mm = (struct metrics *)m;
	pthread_mutex_lock(&mm->mu);
	int rc = metrics_render_locked(m, out);
	pthread_mutex_unlock(&mm->mu);
	return rc;
}
