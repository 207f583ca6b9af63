/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/metrics: the rendered page is compared with golden
 * text (HELP/TYPE once per family, registration order, labels merged with
 * le, cumulative buckets, escaped HELP), plus name/label validation, the
 * family agreement rules and the series cap, idempotent re-registration,
 * scaled counters, and registration racing render from several threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"

static void test_render_golden(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	assert_non_null(m);
	struct metric *drop_full =
	    metrics_counter(m, "llmgw_spans_dropped_total", "Span records dropped", "reason=\"pipe_full\"");
	struct metric *inflight = metrics_gauge(m, "llmgw_inflight", "Requests in flight\nnow \\ here", NULL);
	struct metric *drop_err =
	    metrics_counter(m, "llmgw_spans_dropped_total", "Span records dropped", "reason=\"pipe_error\"");
	static const double bounds[] = {0.1, 0.5, 2.5};
	struct metric *lat = metrics_histogram(m, "llmgw_request_seconds", "Request latency",
					       "route=\"/v1/chat\",code=\"200\"", bounds, 3);
	struct metric *bare = metrics_histogram(m, "llmgw_batch_bytes", "Batch size", NULL, bounds, 1);
	assert_non_null(drop_full);
	assert_non_null(inflight);
	assert_non_null(drop_err);
	assert_non_null(lat);
	assert_non_null(bare);

	metric_inc(drop_full);
	metric_add(drop_full, 41);
	metric_set(inflight, 7);
	metric_gauge_add(inflight, -10);
	metric_observe(lat, 0.05);
	metric_observe(lat, 0.1); /* on a bound: counts in le="0.1" */
	metric_observe(lat, 1.0);
	metric_observe(lat, 99.0);
	metric_observe(lat, 0.0 / 0.0); /* NaN is ignored */
	metric_observe(bare, 3);

	assert_int_equal(metric_get(drop_full), 42);
	assert_int_equal(metric_get(inflight), -3);
	assert_int_equal(metric_get(drop_err), 0);
	assert_int_equal(metric_get(lat), 4);

	struct buf out;
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(m, &out), 0);
	const char *want = "# HELP llmgw_spans_dropped_total Span records dropped\n"
			   "# TYPE llmgw_spans_dropped_total counter\n"
			   "llmgw_spans_dropped_total{reason=\"pipe_full\"} 42\n"
			   "llmgw_spans_dropped_total{reason=\"pipe_error\"} 0\n"
			   "# HELP llmgw_inflight Requests in flight\\nnow \\\\ here\n"
			   "# TYPE llmgw_inflight gauge\n"
			   "llmgw_inflight -3\n"
			   "# HELP llmgw_request_seconds Request latency\n"
			   "# TYPE llmgw_request_seconds histogram\n"
			   "llmgw_request_seconds_bucket{route=\"/v1/chat\",code=\"200\",le=\"0.1\"} 2\n"
			   "llmgw_request_seconds_bucket{route=\"/v1/chat\",code=\"200\",le=\"0.5\"} 2\n"
			   "llmgw_request_seconds_bucket{route=\"/v1/chat\",code=\"200\",le=\"2.5\"} 3\n"
			   "llmgw_request_seconds_bucket{route=\"/v1/chat\",code=\"200\",le=\"+Inf\"} 4\n"
			   "llmgw_request_seconds_sum{route=\"/v1/chat\",code=\"200\"} 100.15\n"
			   "llmgw_request_seconds_count{route=\"/v1/chat\",code=\"200\"} 4\n"
			   "# HELP llmgw_batch_bytes Batch size\n"
			   "# TYPE llmgw_batch_bytes histogram\n"
			   "llmgw_batch_bytes_bucket{le=\"0.1\"} 0\n"
			   "llmgw_batch_bytes_bucket{le=\"+Inf\"} 1\n"
			   "llmgw_batch_bytes_sum 3\n"
			   "llmgw_batch_bytes_count 1\n";
	assert_string_equal(out.data, want);

	/* A too-small output buffer is an error, not an overflow. */
	struct buf small;
	buf_init(&small, 100);
	assert_int_equal(metrics_render(m, &small), -1);
	assert_true(small.len <= 100);
	buf_fini(&small);
	buf_fini(&out);
	metrics_free(m);
	metrics_free(NULL);
}

static void test_names_and_labels(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	static const char *const bad_names[] = {"", "9lives", "has-dash", "has space", "é", "a{b}", NULL};
	for (size_t i = 0; bad_names[i] != NULL; i++)
		assert_null(metrics_counter(m, bad_names[i], "h", NULL));
	assert_null(metrics_counter(m, NULL, "h", NULL));
	assert_non_null(metrics_counter(m, "ok:colon_name_9", "h", NULL));
	assert_non_null(metrics_counter(m, "_leading", "h", NULL));

	static const char *const bad_labels[] = {
	    "reason",	      "reason=pipe_full",  "reason=\"x",      "reason=\"x\",", "1a=\"x\"",	   "a:b=\"x\"",
	    "a=\"x\"b=\"y\"", "a=\"bad\\escape\"", "a=\"new\nline\"", "=\"x\"",	       "a=\"x\"}{b=\"y\"", NULL,
	};
	for (size_t i = 0; bad_labels[i] != NULL; i++) {
		if (metrics_gauge(m, "g", "h", bad_labels[i]) != NULL)
			fail_msg("label list accepted: %s", bad_labels[i]);
	}
	assert_non_null(metrics_gauge(m, "g", "h", "a=\"x\",b=\"q\\\"uote\\\\ and \\n\""));
	assert_non_null(metrics_gauge(m, "g", "h", ""));

	/* Histograms: no user "le", ascending finite bounds, at most 32. */
	double b[40];
	for (int i = 0; i < 40; i++)
		b[i] = i + 1;
	assert_null(metrics_histogram(m, "h1", "h", "le=\"1\"", b, 3));
	assert_null(metrics_histogram(m, "h1", "h", NULL, b, 33));
	assert_non_null(metrics_histogram(m, "h1", "h", NULL, b, 32));
	double desc[] = {2, 1};
	assert_null(metrics_histogram(m, "h2", "h", NULL, desc, 2));
	double inf[] = {1, 1.0 / 0.0};
	assert_null(metrics_histogram(m, "h3", "h", NULL, inf, 2));
	assert_non_null(metrics_histogram(m, "h4", "h", NULL, NULL, 0)); /* +Inf only */
	metrics_free(m);
}

static void test_family_rules(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metric *a = metrics_counter(m, "x_total", "X", "k=\"1\"");
	assert_non_null(a);
	assert_ptr_equal(metrics_counter(m, "x_total", "X", "k=\"1\""), a);  /* same series */
	assert_null(metrics_gauge(m, "x_total", "X", "k=\"2\""));	     /* type clash */
	assert_null(metrics_counter(m, "x_total", "other help", "k=\"2\"")); /* help clash */
	double b1[] = {1, 2}, b2[] = {1, 3};
	struct metric *h = metrics_histogram(m, "y", "Y", NULL, b1, 2);
	assert_ptr_equal(metrics_histogram(m, "y", "Y", NULL, b1, 2), h);
	assert_null(metrics_histogram(m, "y", "Y", NULL, b2, 2));

	/* Wrong-type updates and NULL handles are no-ops. */
	metric_set(a, 5);
	metric_gauge_add(a, 5);
	metric_observe(a, 1);
	assert_int_equal(metric_get(a), 0);
	metric_inc(h);
	assert_int_equal(metric_get(h), 0);
	metric_inc(NULL);
	metric_add(NULL, 1);
	metric_set(NULL, 1);
	metric_gauge_add(NULL, 1);
	metric_observe(NULL, 1);
	assert_int_equal(metric_get(NULL), 0);
	metrics_free(m);
}

static void test_series_cap_and_big_counter(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	char labels[32];
	size_t ok = 0;
	for (int i = 0; i < METRICS_MAX_SERIES + 100; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		if (metrics_counter(m, "many_total", "Many", labels) != NULL)
			ok++;
	}
	assert_int_equal(ok, METRICS_MAX_SERIES);
	assert_null(metrics_gauge(m, "another", "A", NULL));
	/* at the cap, existing series are still found */
	snprintf(labels, sizeof(labels), "i=\"%d\"", METRICS_MAX_SERIES - 1);
	assert_non_null(metrics_counter(m, "many_total", "Many", labels));
	metrics_free(m);

	m = metrics_new();
	struct metric *c = metrics_counter(m, "big_total", "Big", NULL);
	metric_add(c, UINT64_MAX - 1); /* renders as the unsigned value */
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_non_null(strstr(out.data, "big_total 18446744073709551614\n"));
	buf_fini(&out);
	metrics_free(m);
}

/* A reload re-registers everything it had: same handles, no duplicate lines. */
static void test_idempotent(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metric *h[200];
	char labels[64];
	for (int i = 0; i < 200; i++) {
		snprintf(labels, sizeof(labels), "model=\"m%d\",tenant=\"t\"", i);
		h[i] = metrics_counter(m, "llmgw_x_total", "X", labels);
		assert_non_null(h[i]);
	}
	metric_add(h[7], 3);
	for (int i = 0; i < 200; i++) {
		snprintf(labels, sizeof(labels), "model=\"m%d\",tenant=\"t\"", i);
		assert_ptr_equal(metrics_counter(m, "llmgw_x_total", "X", labels), h[i]);
	}
	/* same labels in another family is another series; NULL and "" labels are one */
	assert_ptr_not_equal(metrics_counter(m, "llmgw_y_total", "Y", "model=\"m7\",tenant=\"t\""), h[7]);
	struct metric *bare = metrics_gauge(m, "llmgw_z", "Z", NULL);
	assert_ptr_equal(metrics_gauge(m, "llmgw_z", "Z", ""), bare);

	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(m, &out), 0);
	const char *p = strstr(out.data, "llmgw_x_total{model=\"m7\",tenant=\"t\"} 3\n");
	assert_non_null(p);
	assert_null(strstr(p + 1, "llmgw_x_total{model=\"m7\",tenant=\"t\"}"));
	size_t lines = 0;
	for (const char *q = out.data; *q != '\0'; q++)
		lines += *q == '\n';
	assert_int_equal(lines, 3 * 2 + 200 + 1 + 1); /* HELP/TYPE x3 families */
	buf_fini(&out);
	metrics_free(m);
}

static void test_scaled(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metric *usd = metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"a\"", 1e-6);
	struct metric *zero = metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"b\"", 1e-6);
	struct metric *whole = metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"c\"", 1e-6);
	struct metric *tiny = metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"d\"", 1e-6);
	struct metric *big = metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"e\"", 1e-6);
	struct metric *odd = metrics_counter_scaled(m, "odd_total", "Odd", NULL, 0.25);
	struct metric *tenth = metrics_counter_scaled(m, "tenth_total", "Tenth", NULL, 0.1);
	assert_non_null(usd);
	assert_non_null(zero);
	assert_non_null(whole);
	assert_non_null(tiny);
	assert_non_null(big);
	assert_non_null(odd);
	assert_non_null(tenth);
	metric_add(usd, 1234567);
	metric_add(usd, 1000);
	metric_add(whole, 3000000);
	metric_inc(tiny);
	metric_add(big, UINT64_MAX - 1);
	metric_add(odd, 3);
	metric_add(tenth, 3);
	assert_int_equal(metric_get(usd), 1235567); /* raw integer */

	/* scale must agree within a family and be finite and positive */
	assert_ptr_equal(metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"a\"", 1e-6), usd);
	assert_null(metrics_counter_scaled(m, "cost_usd_total", "Cost", "t=\"x\"", 1e-3));
	assert_null(metrics_counter(m, "cost_usd_total", "Cost", "t=\"x\""));
	assert_null(metrics_counter_scaled(m, "plain", "P", NULL, 0));
	assert_null(metrics_counter_scaled(m, "plain", "P", NULL, -1));
	assert_null(metrics_counter_scaled(m, "plain", "P", NULL, 0.0 / 0.0));
	assert_null(metrics_counter_scaled(m, "plain", "P", NULL, 1.0 / 0.0));

	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(m, &out), 0);
	const char *want = "# HELP cost_usd_total Cost\n"
			   "# TYPE cost_usd_total counter\n"
			   "cost_usd_total{t=\"a\"} 1.235567\n"
			   "cost_usd_total{t=\"b\"} 0\n"
			   "cost_usd_total{t=\"c\"} 3\n"
			   "cost_usd_total{t=\"d\"} 0.000001\n"
			   "cost_usd_total{t=\"e\"} 18446744073709.551614\n"
			   "# HELP odd_total Odd\n"
			   "# TYPE odd_total counter\n"
			   "odd_total 0.75\n"
			   "# HELP tenth_total Tenth\n"
			   "# TYPE tenth_total counter\n"
			   "tenth_total 0.3\n";
	assert_string_equal(out.data, want);
	(void)zero;
	buf_fini(&out);
	metrics_free(m);
}

/* ---- registration from threads while another renders -------------------------- */

#define RACE_THREADS 4
#define RACE_SERIES 300
#define RACE_RENDERS 50

struct race {
	struct metrics *m;
	int id;
	int failed;
};

/* Each thread registers its own series plus one shared series per i, and bumps both. */
static void *race_register(void *arg)
{
	struct race *r = arg;
	char labels[64];
	for (int i = 0; i < RACE_SERIES; i++) {
		snprintf(labels, sizeof(labels), "thread=\"%d\",i=\"%d\"", r->id, i);
		struct metric *own = metrics_counter(r->m, "race_own_total", "Own", labels);
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		struct metric *shared = metrics_counter(r->m, "race_shared_total", "Shared", labels);
		if (own == NULL || shared == NULL)
			r->failed = 1;
		metric_inc(own);
		metric_inc(shared);
	}
	return NULL;
}

static void *race_render(void *arg)
{
	struct race *r = arg;
	struct buf out;
	buf_init(&out, 0);
	for (int i = 0; i < RACE_RENDERS; i++) {
		buf_reset(&out);
		if (metrics_render(r->m, &out) < 0)
			r->failed = 1;
	}
	buf_fini(&out);
	return NULL;
}

static void test_concurrent_registration(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	pthread_t th[RACE_THREADS + 1];
	struct race r[RACE_THREADS + 1];
	for (int i = 0; i <= RACE_THREADS; i++) {
		r[i] = (struct race){.m = m, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, i < RACE_THREADS ? race_register : race_render, &r[i]),
				 0);
	}
	for (int i = 0; i <= RACE_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].failed, 0);
	}
	/* every shared series exists once, bumped by every thread */
	char labels[64];
	for (int i = 0; i < RACE_SERIES; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		assert_int_equal(metric_get(metrics_counter(m, "race_shared_total", "Shared", labels)), RACE_THREADS);
	}
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(m, &out), 0);
	size_t lines = 0;
	for (const char *q = out.data; *q != '\0'; q++)
		lines += *q == '\n';
	assert_int_equal(lines, 2 * 2 + RACE_THREADS * RACE_SERIES + RACE_SERIES);
	buf_fini(&out);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_golden),
	    cmocka_unit_test(test_names_and_labels),
	    cmocka_unit_test(test_family_rules),
	    cmocka_unit_test(test_series_cap_and_big_counter),
	    cmocka_unit_test(test_idempotent),
	    cmocka_unit_test(test_scaled),
	    cmocka_unit_test(test_concurrent_registration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
