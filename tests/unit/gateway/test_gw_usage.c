/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/gw_usage: counts land on the right
 * (model, tenant) series in the rendered /metrics page, the status class
 * mapping, the pair cap with its (model, "_other") fallback and overflow
 * counter, a full registry, label escaping and truncation, and several
 * threads creating and bumping pairs while another renders.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "gateway/gw_usage.h"

/* The whole page; the caller frees it. */
static char *render(struct metrics *reg)
{
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(reg, &out), 0);
	size_t len;
	char *page = buf_take(&out, &len);
	assert_non_null(page);
	return page;
}

/* The value text of the line `series ` (name{labels}) in page, or NULL. Points into page. */
static const char *value_of(const char *page, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return p + n + 1;
	}
	return NULL;
}

static long long count_of(const char *page, const char *series)
{
	const char *v = value_of(page, series);
	return v != NULL ? strtoll(v, NULL, 10) : -1;
}

static void test_counts(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct err err = {0};
	struct gw_usage *u = gw_usage_new(reg, 10, &err);
	assert_non_null(u);
	struct gw_usage_series *s = gw_usage_series(u, "gpt-4o", "acme");
	assert_non_null(s);
	assert_ptr_equal(gw_usage_series(u, "gpt-4o", "acme"), s);
	assert_ptr_not_equal(gw_usage_series(u, "gpt-4o", "beta"), s);

	gw_usage_request(s, 200, 1, 10, 20, 1, 1234567);
	gw_usage_request(s, 201, 1, 1, 2, 1, 1000);
	gw_usage_request(s, 404, 0, 99, 99, 0, 99); /* no usage, no cost: only the request counts */
	gw_usage_request(s, 499, 0, 0, 0, 0, 0);    /* client closed: 4xx */
	gw_usage_request(s, 0, 0, 0, 0, 0, 0);	    /* never sent: 4xx */
	gw_usage_request(s, 503, 1, 5, 0, 1, -7);   /* a negative cost is ignored */
	gw_usage_reject(s, GW_REJECT_RPM);
	gw_usage_reject(s, GW_REJECT_MODEL);
	gw_usage_reject(s, GW_REJECT_MODEL);
	gw_usage_reject(s, GW_REJECT__COUNT); /* out of range: no-op */
	gw_usage_reject(NULL, GW_REJECT_RPM);
	gw_usage_request(NULL, 200, 1, 1, 1, 1, 1);

	/* unknown model and anonymous caller */
	struct gw_usage_series *anon = gw_usage_series(u, "", NULL);
	assert_ptr_equal(gw_usage_series(u, NULL, ""), anon);
	gw_usage_request(anon, 401, 0, 0, 0, 0, 0);

	char *page = render(reg);
	const char *base = "{model=\"gpt-4o\",tenant=\"acme\"";
	char series[256];
	snprintf(series, sizeof(series), "llmgw_usage_requests_total%s,code_class=\"2xx\"}", base);
	assert_int_equal(count_of(page, series), 2);
	snprintf(series, sizeof(series), "llmgw_usage_requests_total%s,code_class=\"4xx\"}", base);
	assert_int_equal(count_of(page, series), 3);
	snprintf(series, sizeof(series), "llmgw_usage_requests_total%s,code_class=\"5xx\"}", base);
	assert_int_equal(count_of(page, series), 1);
	snprintf(series, sizeof(series), "llmgw_usage_input_tokens_total%s}", base);
	assert_int_equal(count_of(page, series), 16);
	snprintf(series, sizeof(series), "llmgw_usage_output_tokens_total%s}", base);
	assert_int_equal(count_of(page, series), 22);
	snprintf(series, sizeof(series), "llmgw_usage_cost_usd_total%s}", base);
	assert_non_null(value_of(page, series));
	assert_int_equal(strncmp(value_of(page, series), "1.235567\n", 9), 0);
	snprintf(series, sizeof(series), "llmgw_usage_rejections_total%s,reason=\"requests\"}", base);
	assert_int_equal(count_of(page, series), 1);
	snprintf(series, sizeof(series), "llmgw_usage_rejections_total%s,reason=\"model_not_allowed\"}", base);
	assert_int_equal(count_of(page, series), 2);
	snprintf(series, sizeof(series), "llmgw_usage_rejections_total%s,reason=\"redis_unavailable\"}", base);
	assert_int_equal(count_of(page, series), 0);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"gpt-4o\",tenant=\"beta\",code_class=\"2xx\"}"), 0);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"_unknown\",tenant=\"\",code_class=\"4xx\"}"), 1);
	assert_int_equal(count_of(page, "llmgw_usage_series_overflow_total"), 0);
	assert_non_null(strstr(page, "# TYPE llmgw_usage_cost_usd_total counter\n"));
	free(page);

	gw_usage_free(u);
	gw_usage_free(NULL);
	metrics_free(reg);
}

static void test_new_errors(void **state)
{
	(void)state;
	struct err err = {0};
	assert_null(gw_usage_new(NULL, 10, &err));
	assert_non_null(strstr(err.msg, "registry"));
	struct metrics *reg = metrics_new();
	err_clear(&err);
	assert_null(gw_usage_new(reg, 0, &err));
	assert_non_null(strstr(err.msg, "max_series"));
	assert_null(gw_usage_series(NULL, "m", "t"));
	gw_usage_set_max_series(NULL, 3);
	metrics_free(reg);
}

static void test_cap(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct gw_usage *u = gw_usage_new(reg, 2, NULL);
	assert_non_null(u);
	struct gw_usage_series *a = gw_usage_series(u, "m1", "a");
	struct gw_usage_series *b = gw_usage_series(u, "m1", "b");
	struct gw_usage_series *c = gw_usage_series(u, "m1", "c"); /* third pair: (m1, _other) */
	struct gw_usage_series *d = gw_usage_series(u, "m2", "d"); /* (m2, _other), not counted */
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	assert_ptr_not_equal(c, a);
	assert_ptr_not_equal(c, d);
	assert_ptr_equal(gw_usage_series(u, "m1", "e"), c);
	assert_ptr_equal(gw_usage_series(u, "m1", "a"), a); /* existing pairs are still found */
	gw_usage_request(c, 200, 1, 3, 4, 0, 0);
	gw_usage_request(d, 500, 0, 0, 0, 0, 0);

	char *page = render(reg);
	assert_int_equal(count_of(page, "llmgw_usage_series_overflow_total"), 3);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"m1\",tenant=\"_other\",code_class=\"2xx\"}"), 1);
	assert_int_equal(count_of(page, "llmgw_usage_input_tokens_total{model=\"m1\",tenant=\"_other\"}"), 3);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"m2\",tenant=\"_other\",code_class=\"5xx\"}"), 1);
	assert_null(strstr(page, "tenant=\"c\""));
	assert_null(strstr(page, "tenant=\"d\""));
	free(page);

	/* a reload raising the cap lets new pairs in; the _other pairs stay */
	gw_usage_set_max_series(u, 3);
	struct gw_usage_series *c2 = gw_usage_series(u, "m1", "c");
	assert_ptr_not_equal(c2, c);
	assert_ptr_equal(gw_usage_series(u, "m1", "e"), c);
	page = render(reg);
	assert_int_equal(count_of(page, "llmgw_usage_series_overflow_total"), 4);
	assert_int_equal(count_of(page, "llmgw_usage_requests_total{model=\"m1\",tenant=\"c\",code_class=\"2xx\"}"), 0);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"m1\",tenant=\"_other\",code_class=\"2xx\"}"), 1);
	free(page);

	/* a second gw_usage on the same registry (a reload) finds the same series again */
	struct gw_usage *u2 = gw_usage_new(reg, 10, NULL);
	assert_non_null(u2);
	gw_usage_request(gw_usage_series(u2, "m1", "a"), 200, 0, 0, 0, 0, 0);
	gw_usage_request(a, 200, 0, 0, 0, 0, 0);
	page = render(reg);
	assert_int_equal(count_of(page, "llmgw_usage_requests_total{model=\"m1\",tenant=\"a\",code_class=\"2xx\"}"), 2);
	free(page);
	gw_usage_free(u2);
	gw_usage_free(u);
	metrics_free(reg);
}

/* The registry's own cap: a refused pair falls back to (model, _other), or NULL when that is refused too. */
static void test_registry_full(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct gw_usage *u = gw_usage_new(reg, 1, NULL);
	assert_non_null(u);
	assert_non_null(gw_usage_series(u, "m", "a"));
	struct gw_usage_series *other = gw_usage_series(u, "m", "b");
	assert_non_null(other);
	/* 1 overflow counter + 2 pairs x 12 series registered: leave room for 5 more */
	char labels[32];
	for (int i = 0; i < METRICS_MAX_SERIES - 25 - 5; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		assert_non_null(metrics_counter(reg, "filler_total", "F", labels));
	}
	gw_usage_set_max_series(u, 100);
	assert_ptr_equal(gw_usage_series(u, "m", "c"), other); /* refused midway: the model's _other */
	assert_null(gw_usage_series(u, "n", "x"));	       /* no room for (n, _other) either */
	char *page = render(reg);
	assert_int_equal(count_of(page, "llmgw_usage_series_overflow_total"), 3);
	free(page);
	gw_usage_free(u);
	metrics_free(reg);
}

static void test_escaping(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct gw_usage *u = gw_usage_new(reg, 10, NULL);
	gw_usage_request(gw_usage_series(u, "org/we\"ird\\model:v1\nx", "t-1.a_b"), 200, 0, 0, 0, 0, 0);

	/* a long name is cut at 200 bytes, never inside a UTF-8 sequence */
	char longname[400];
	memset(longname, 'a', 199);
	memcpy(longname + 199, "\xc3\xa9tail", 7);
	gw_usage_request(gw_usage_series(u, longname, "t"), 200, 0, 0, 0, 0, 0);
	/* nor inside an escape: 199 bytes then a quote that would need two */
	memset(longname, 'b', 199);
	memcpy(longname + 199, "\"zz", 4);
	gw_usage_request(gw_usage_series(u, longname, "t"), 200, 0, 0, 0, 0, 0);

	char *page = render(reg);
	assert_int_equal(
	    count_of(page, "llmgw_usage_requests_total{model=\"org/we\\\"ird\\\\model:v1\\nx\",tenant=\"t-1.a_b\","
			   "code_class=\"2xx\"}"),
	    1);
	char want[512];
	snprintf(
	    want, sizeof(want), "llmgw_usage_requests_total{model=\"%.199s\",tenant=\"t\",code_class=\"2xx\"}",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(count_of(page, want), 1);
	memset(longname, 'b', 199);
	longname[199] = '\0';
	snprintf(want, sizeof(want), "llmgw_usage_requests_total{model=\"%s\",tenant=\"t\",code_class=\"2xx\"}",
		 longname);
	assert_int_equal(count_of(page, want), 1);
	/* no raw newline inside a series line: every line is a comment or starts with a name */
	for (const char *p = page; *p != '\0'; p = strchr(p, '\n') + 1)
		assert_true(*p == '#' || strncmp(p, "llmgw_", 6) == 0);
	free(page);
	gw_usage_free(u);
	metrics_free(reg);
}

/* ---- threads ------------------------------------------------------------------ */

#define T_THREADS 4
#define T_ITER 400

struct worker {
	struct gw_usage *u;
	struct metrics *reg;
	int id;
	int failed;
};

static void *bump(void *arg)
{
	struct worker *w = arg;
	char model[16], tenant[16];
	for (int i = 0; i < T_ITER; i++) {
		snprintf(model, sizeof(model), "m%d", i % 20);
		snprintf(tenant, sizeof(tenant), "t%d", (i / 20 + w->id) % 10);
		struct gw_usage_series *s = gw_usage_series(w->u, model, tenant);
		if (s == NULL)
			w->failed = 1;
		gw_usage_request(s, 200, 1, 1, 2, 1, 1);
		if (i % 50 == 0)
			gw_usage_set_max_series(w->u, 100);
	}
	return NULL;
}

static void *render_loop(void *arg)
{
	struct worker *w = arg;
	struct buf out;
	buf_init(&out, 0);
	for (int i = 0; i < 40; i++) {
		buf_reset(&out);
		if (metrics_render(w->reg, &out) < 0)
			w->failed = 1;
	}
	buf_fini(&out);
	return NULL;
}

/* Sums every line of family name (the value after the last space). */
static long long family_sum(const char *page, const char *name, const char *must)
{
	long long sum = 0;
	size_t n = strlen(name);
	for (const char *p = page; *p != '\0'; p = strchr(p, '\n') + 1) {
		const char *eol = strchr(p, '\n');
		if (strncmp(p, name, n) == 0 && p[n] == '{' && (must == NULL || strstr(p, must) < eol)) {
			const char *sp = eol;
			while (sp > p && sp[-1] != ' ')
				sp--;
			sum += strtoll(sp, NULL, 10);
		}
	}
	return sum;
}

static void test_threads(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct gw_usage *u = gw_usage_new(reg, 100, NULL); /* 200 distinct pairs asked for: half overflow */
	pthread_t th[T_THREADS + 1];
	struct worker w[T_THREADS + 1];
	for (int i = 0; i <= T_THREADS; i++) {
		w[i] = (struct worker){.u = u, .reg = reg, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, i < T_THREADS ? bump : render_loop, &w[i]), 0);
	}
	for (int i = 0; i <= T_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failed, 0);
	}
	char *page = render(reg);
	assert_int_equal(family_sum(page, "llmgw_usage_requests_total", "code_class=\"2xx\""), T_THREADS * T_ITER);
	assert_int_equal(family_sum(page, "llmgw_usage_output_tokens_total", NULL), 2 * T_THREADS * T_ITER);
	/* exactly max_series real pairs, plus at most one _other per model */
	int pairs = 0, others = 0;
	for (const char *p = page; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, "llmgw_usage_input_tokens_total{", 31) != 0)
			continue;
		const char *o = strstr(p, "tenant=\"_other\"");
		if (o != NULL && o < strchr(p, '\n'))
			others++;
		else
			pairs++;
	}
	assert_int_equal(pairs, 100);
	assert_true(others >= 1 && others <= 20);
	assert_true(count_of(page, "llmgw_usage_series_overflow_total") > 0);
	free(page);
	gw_usage_free(u);
	metrics_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),	  cmocka_unit_test(test_new_errors), cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_registry_full), cmocka_unit_test(test_escaping),   cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
