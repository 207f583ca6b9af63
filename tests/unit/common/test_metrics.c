/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/metrics: the rendered page is compared with golden
 * text (HELP/TYPE once per family, registration order, labels merged with
 * le, cumulative buckets, escaped HELP), plus name/label validation, the
 * family agreement rules and the series cap.
 */
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
	for (int i = 0; i < 600; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		if (metrics_counter(m, "many_total", "Many", labels) != NULL)
			ok++;
	}
	assert_int_equal(ok, 512);
	assert_null(metrics_gauge(m, "another", "A", NULL));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_golden),
	    cmocka_unit_test(test_names_and_labels),
	    cmocka_unit_test(test_family_rules),
	    cmocka_unit_test(test_series_cap_and_big_counter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
