/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/gov_math, the arithmetic every governance decision
 * rests on: GCRA admission (bursts, refill, retry and reset values, settle
 * deltas, rounding of awkward limits), cost in micro-USD (half-up rounding,
 * cached-input clamp, no overflow at the config's bounds, saturation past
 * them), USD parsing and formatting, UTC day/month periods around month
 * and year ends and leap years, RFC 3339 parsing, and model globs
 * (including a pattern that is exponential for naive backtracking). Time
 * is always passed in: nothing here reads a clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gov_math.h"

#define W GOV_WINDOW_US
#define NOW INT64_C(1700000000000000) /* 2023-11-14T22:13:20Z in microseconds */

/* Takes cost-1 requests at `now` until one is refused; returns how many were admitted. */
static uint64_t burst(int64_t *tat, int64_t now, uint64_t limit, uint64_t max, struct gcra_out *last)
{
	uint64_t n = 0;
	for (;;) {
		gcra_take(*tat, now, limit, W, 1, last);
		if (!last->ok)
			return n;
		*tat = last->tat;
		if (++n > max)
			return n;
	}
}

static void test_gcra_burst_then_refuse(void **state)
{
	(void)state;
	struct gcra_out o;
	int64_t tat = 0;
	assert_int_equal(burst(&tat, NOW, 10, 100, &o), 10);
	assert_false(o.ok);
	assert_false(o.never);
	assert_int_equal(o.tat, tat); /* a refusal changes nothing */
	assert_int_equal(o.remaining, 0);
	/* the next unit frees up after W/limit */
	assert_true(o.retry_us > 0);
	assert_int_equal(o.retry_us, W / 10);
	assert_int_equal(o.reset_us, W); /* the bucket is full again after one window */

	/* one microsecond early: still refused; at retry_us: admitted */
	struct gcra_out o2;
	gcra_take(tat, NOW + o.retry_us - 1, 10, W, 1, &o2);
	assert_false(o2.ok);
	assert_int_equal(o2.retry_us, 1);
	gcra_take(tat, NOW + o.retry_us, 10, W, 1, &o2);
	assert_true(o2.ok);
	assert_int_equal(o2.remaining, 0);
}

static void test_gcra_fresh_and_remaining(void **state)
{
	(void)state;
	struct gcra_out o;
	gcra_peek(0, NOW, 60, W, &o);
	assert_true(o.ok);
	assert_int_equal(o.remaining, 60);
	assert_int_equal(o.reset_us, 0);
	assert_int_equal(o.tat, 0);

	/* remaining counts down one per request; reset grows W/limit per request */
	int64_t tat = 0;
	for (uint64_t i = 1; i <= 60; i++) {
		gcra_take(tat, NOW, 60, W, 1, &o);
		assert_true(o.ok);
		assert_int_equal(o.remaining, 60 - i);
		assert_int_equal(o.reset_us, (int64_t)i * (W / 60));
		tat = o.tat;
	}
	gcra_peek(tat, NOW, 60, W, &o);
	assert_int_equal(o.remaining, 0);
	assert_int_equal(o.tat, tat);
	/* half a window later, half the bucket is back */
	gcra_peek(tat, NOW + W / 2, 60, W, &o);
	assert_int_equal(o.remaining, 30);
	assert_int_equal(o.reset_us, W / 2);
	/* a stale TAT far in the past is a full bucket, not extra credit */
	gcra_peek(NOW - 10 * W, NOW, 60, W, &o);
	assert_int_equal(o.remaining, 60);
	assert_int_equal(o.reset_us, 0);
	assert_int_equal(burst(&(int64_t){NOW - 10 * W}, NOW, 60, 1000, &o), 60);
}

static void test_gcra_refill(void **state)
{
	(void)state;
	struct gcra_out o;
	int64_t tat = 0;
	assert_int_equal(burst(&tat, NOW, 5, 100, &o), 5);
	/* a full window later the whole burst is available again */
	assert_int_equal(burst(&tat, NOW + W, 5, 100, &o), 5);
	/* steady traffic at exactly the rate is always admitted */
	int64_t t = NOW + 2 * W;
	tat = 0;
	for (int i = 0; i < 1000; i++, t += W / 5) {
		gcra_take(tat, t, 5, W, 1, &o);
		assert_true(o.ok);
		tat = o.tat;
	}
	/* a burst of 5 at once after that steady stream: only what refilled */
	t -= W / 5;
	assert_int_equal(burst(&tat, t, 5, 100, &o), 4);
}

static void test_gcra_cost_and_never(void **state)
{
	(void)state;
	struct gcra_out o;
	/* tokens per minute: cost = tokens */
	gcra_take(0, NOW, 1000, W, 1000, &o);
	assert_true(o.ok);
	assert_int_equal(o.remaining, 0);
	assert_int_equal(o.tat, NOW + W);
	gcra_take(o.tat, NOW, 1000, W, 1, &o);
	assert_false(o.ok);
	assert_int_equal(o.retry_us, W / 1000);

	gcra_take(0, NOW, 1000, W, 400, &o);
	assert_true(o.ok);
	assert_int_equal(o.remaining, 600);
	gcra_take(o.tat, NOW, 1000, W, 601, &o);
	assert_false(o.ok);
	assert_false(o.never);
	assert_int_equal(o.retry_us, W / 1000); /* one unit short */
	assert_int_equal(o.remaining, 600);

	/* more than the whole limit can never fit */
	gcra_take(0, NOW, 1000, W, 1001, &o);
	assert_false(o.ok);
	assert_true(o.never);
	assert_int_equal(o.tat, 0);
	assert_int_equal(o.remaining, 1000);
	gcra_take(0, NOW, 1, W, UINT64_MAX, &o);
	assert_true(o.never);
}

/* Awkward limits: floor-rounded spans must still admit exactly `limit` in a burst. */
static void test_gcra_rounding(void **state)
{
	(void)state;
	static const uint64_t limits[] = {1, 2, 3, 7, 9, 11, 13, 17, 59, 61, 97, 101, 333, 1000, 6999, 7001, 7700};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		struct gcra_out o;
		int64_t tat = 0;
		uint64_t n = burst(&tat, NOW, limits[i], 2 * limits[i], &o);
		if (n != limits[i])
			fail_msg("limit %llu per minute admitted %llu", (unsigned long long)limits[i],
				 (unsigned long long)n);
		assert_true(o.retry_us > 0);
		assert_true(o.retry_us <= W / (int64_t)limits[i] + 1);
		assert_int_equal(o.remaining, 0);
	}
	/* past ~7,700/min the floor may admit a few extra, never more than 0.2% */
	static const uint64_t big[] = {10007, 99991, 100000};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		struct gcra_out o;
		int64_t tat = 0;
		uint64_t n = burst(&tat, NOW, big[i], 2 * big[i], &o);
		assert_true(n >= big[i]);
		assert_true(n <= big[i] + big[i] / 500);
	}
	/* spans: exact, floored, and the one-window case */
	assert_int_equal(gcra_span_us(1, 7, W), 8571428);
	assert_int_equal(gcra_span_us(7, 7, W), W);
	assert_int_equal(gcra_span_us(3, 7, W), 25714285);
	assert_int_equal(gcra_span_us(0, 7, W), 0);
	assert_int_equal(gcra_span_us(15, 7, W), 2 * W + 8571428);
	/* the largest limit the config allows */
	assert_int_equal(gcra_span_us(GOV_LIMIT_MAX, GOV_LIMIT_MAX, W), W);
	assert_int_equal(gcra_span_us(GOV_LIMIT_MAX - 1, GOV_LIMIT_MAX, W), W - 1);
}

static void test_gcra_span_huge(void **state)
{
	(void)state;
	/* absurd costs stay positive and safe to add to a time, never wrap */
	static const uint64_t limits[] = {1, 2, 3, 7, 1000, 100000000};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		uint64_t l = limits[i];
		uint64_t q0 = (uint64_t)INT64_MAX / (uint64_t)W;
		const uint64_t costs[] = {UINT64_MAX, q0 * l, q0 * l + l - 1, (q0 - 1) * l + l - 1, q0 * l / 2};
		for (size_t j = 0; j < sizeof(costs) / sizeof(costs[0]); j++) {
			int64_t s = gcra_span_us(costs[j], l, W);
			if (s <= 0 || s > INT64_MAX / 2)
				fail_msg("limit %llu cost %llu: span %lld", (unsigned long long)l,
					 (unsigned long long)costs[j], (long long)s);
			assert_true(NOW + s > NOW);
		}
	}
}

static void test_gcra_settle(void **state)
{
	(void)state;
	struct gcra_out o;
	/* estimate 1000 tokens up front against 1000/min: bucket empty */
	gcra_take(0, NOW, 1000, W, 1000, &o);
	assert_true(o.ok);
	int64_t tat = o.tat;
	gcra_take(tat, NOW, 1000, W, 1, &o);
	assert_false(o.ok);
	/* the call used 400: the refund makes room for exactly 600 more */
	int64_t d = gcra_settle_delta(1000, 400, 1000, W);
	assert_int_equal(d, -(W * 600 / 1000));
	tat += d;
	gcra_take(tat, NOW, 1000, W, 601, &o);
	assert_false(o.ok);
	gcra_take(tat, NOW, 1000, W, 600, &o);
	assert_true(o.ok);

	/* charged 100, used 300: the extra 200 take room */
	gcra_take(0, NOW, 1000, W, 100, &o);
	tat = o.tat;
	d = gcra_settle_delta(100, 300, 1000, W);
	assert_int_equal(d, W * 200 / 1000);
	tat += d;
	gcra_peek(tat, NOW, 1000, W, &o);
	assert_int_equal(o.remaining, 700);
	gcra_take(tat, NOW, 1000, W, 701, &o);
	assert_false(o.ok);
	gcra_take(tat, NOW, 1000, W, 700, &o);
	assert_true(o.ok);

	/* exact guess: no change; with awkward limits the delta is the difference of the rounded spans */
	assert_int_equal(gcra_settle_delta(123, 123, 1000, W), 0);
	assert_int_equal(gcra_settle_delta(3, 1, 7, W), gcra_span_us(1, 7, W) - gcra_span_us(3, 7, W));
	/* charge more than the whole limit afterwards: the bucket goes past full, later requests wait */
	gcra_take(0, NOW, 10, W, 10, &o);
	tat = o.tat + gcra_settle_delta(10, 30, 10, W);
	gcra_take(tat, NOW + W, 10, W, 1, &o);
	assert_false(o.ok);
	assert_int_equal(o.retry_us, 2 * W + W / 10 - W);
	assert_int_equal(o.reset_us, 2 * W);
	assert_int_equal(o.remaining, 0);
}

/* ---- money ---------------------------------------------------------------------------- */

static void test_cost_rounding(void **state)
{
	(void)state;
	/* $0.15/M input: 1 token is 0.15 micro-USD -> 0; 4 tokens 0.6 -> 1 */
	assert_int_equal(gov_cost_micro_usd(1, 0, 0, 150000, 150000, 600000), 0);
	assert_int_equal(gov_cost_micro_usd(3, 0, 0, 150000, 150000, 600000), 0);  /* 0.45 */
	assert_int_equal(gov_cost_micro_usd(4, 0, 0, 150000, 150000, 600000), 1);  /* 0.6 */
	assert_int_equal(gov_cost_micro_usd(10, 0, 0, 150000, 150000, 600000), 2); /* 1.5: half up */
	assert_int_equal(gov_cost_micro_usd(5, 0, 0, 100000, 0, 0), 1);		   /* 0.5: half up */
	assert_int_equal(gov_cost_micro_usd(0, 0, 0, 150000, 150000, 600000), 0);
	/* output at $0.60/M: 1 token 0.6 -> 1 */
	assert_int_equal(gov_cost_micro_usd(0, 0, 1, 150000, 150000, 600000), 1);
	/* fractions add up before rounding: 0.45 + 0.45 -> 1, not 0 + 0 */
	assert_int_equal(gov_cost_micro_usd(3, 0, 1, 150000, 150000, 450000), 1);
	/* a typical call: 1,234 in / 567 out at $2.50 / $10 per M = 3085 + 5670 */
	assert_int_equal(gov_cost_micro_usd(1234, 0, 567, 2500000, 2500000, 10000000), 8755);
	/* millions of tokens: exact */
	assert_int_equal(gov_cost_micro_usd(1000000, 0, 2000000, 150000, 150000, 600000), 150000 + 1200000);
	assert_int_equal(gov_cost_micro_usd(1500001, 0, 0, 1000000, 0, 0), 1500001);
}

static void test_cost_cached(void **state)
{
	(void)state;
	/* 1000 in of which 400 cached at half price: 600 * 2.5 + 400 * 1.25 = 1500 + 500 */
	assert_int_equal(gov_cost_micro_usd(1000, 400, 0, 2500000, 1250000, 10000000), 2000);
	/* all cached */
	assert_int_equal(gov_cost_micro_usd(1000, 1000, 0, 2500000, 1250000, 10000000), 1250);
	/* cached above input is clamped to input (a provider's odd report cannot make cost negative) */
	assert_int_equal(gov_cost_micro_usd(1000, 5000, 0, 2500000, 1250000, 10000000), 1250);
	assert_int_equal(gov_cost_micro_usd(0, 5000, 10, 2500000, 1250000, 10000000), 100);
	/* cached at the full price (no cached_input configured) equals uncached */
	assert_int_equal(gov_cost_micro_usd(1000, 400, 0, 2500000, 2500000, 0),
			 gov_cost_micro_usd(1000, 0, 0, 2500000, 2500000, 0));
}

static void test_cost_big(void **state)
{
	(void)state;
	/* 4e9 tokens at $1e6/M (GOV_PRICE_MAX) each way: 4e15 + 4e15 micro-USD, exact */
	assert_int_equal(gov_cost_micro_usd(UINT64_C(4000000000), 0, UINT64_C(4000000000), (uint64_t)GOV_PRICE_MAX,
					    (uint64_t)GOV_PRICE_MAX, (uint64_t)GOV_PRICE_MAX),
			 INT64_C(8000000000000000));
	/* uint32 token counts at every maximum */
	assert_int_equal(gov_cost_micro_usd(UINT32_MAX, UINT32_MAX / 2, UINT32_MAX, (uint64_t)GOV_PRICE_MAX,
					    (uint64_t)GOV_PRICE_MAX, (uint64_t)GOV_PRICE_MAX),
			 (int64_t)(2 * (uint64_t)UINT32_MAX * (uint64_t)(GOV_PRICE_MAX / 1000000)));
	/* an odd, large count keeps its fraction */
	assert_int_equal(gov_cost_micro_usd(UINT64_C(4000000001), 0, 0, 1, 1, 1), 4000);
	/* past anything real: saturates, never wraps */
	assert_int_equal(gov_cost_micro_usd(UINT64_MAX, 0, 0, (uint64_t)GOV_PRICE_MAX, 0, 0), INT64_MAX);
	assert_int_equal(gov_cost_micro_usd(UINT64_C(100000000000000), 0, 0, (uint64_t)GOV_PRICE_MAX, 0, 0), INT64_MAX);
	/* 18446744073709.551615 micro-USD rounds up */
	assert_int_equal(gov_cost_micro_usd(0, 0, UINT64_MAX, 0, 0, 1), (int64_t)(UINT64_MAX / 1000000 + 1));
	assert_int_equal(gov_cost_micro_usd(UINT64_MAX, 0, UINT64_MAX, 1000000, 0, 1000000), INT64_MAX);
	assert_int_equal(
	    gov_cost_micro_usd(UINT64_C(9000000000000000000), 0, UINT64_C(9000000000000000000), 1000000, 0, 1000000),
	    INT64_MAX);
}

static void test_parse_usd(void **state)
{
	(void)state;
	const int64_t max = GOV_PRICE_MAX;
	int64_t v;
	static const struct {
		const char *s;
		int64_t micro;
	} good[] = {
	    {"0.15", 150000},
	    {"12", 12000000},
	    {"0.000075", 75},
	    {"0", 0},
	    {"0.0", 0},
	    {"10.5", 10500000},
	    {"007", 7000000},
	    {"1.000001", 1000001},
	    {"1000000", 1000000000000},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		if (gov_parse_usd(good[i].s, max, &v) != 0 || v != good[i].micro)
			fail_msg("'%s' -> %lld", good[i].s, (long long)v);
	}
	static const char *const bad[] = {
	    "",	       ".5",
	    "1.",      "1.2.3",
	    "-1",      "+1",
	    "1e3",     "0.0000001",
	    " 1",      "1 ",
	    "1,5",     "$1",
	    "abc",     "1000000.000001",
	    "1000001", "99999999999999999999999",
	    "0x10",    "１",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		if (gov_parse_usd(bad[i], max, &v) != -1)
			fail_msg("'%s' accepted as %lld", bad[i], (long long)v);
		assert_int_equal(v, 42); /* untouched on error */
	}
	assert_int_equal(gov_parse_usd(NULL, max, &v), -1);
	/* the bound is inclusive */
	assert_int_equal(gov_parse_usd("5", 5000000, &v), 0);
	assert_int_equal(gov_parse_usd("5.000001", 5000000, &v), -1);
	/* near 64 bits: refused, not wrapped */
	assert_int_equal(gov_parse_usd("18446744073709.551615", INT64_MAX, &v), -1);
	assert_int_equal(gov_parse_usd("9223372036854.775807", INT64_MAX, &v), 0);
	assert_int_equal(v, INT64_MAX);
}

static void test_format_usd(void **state)
{
	(void)state;
	char b[32];
	assert_int_equal(gov_format_usd(150, b, sizeof(b)), 8);
	assert_string_equal(b, "0.000150");
	gov_format_usd(0, b, sizeof(b));
	assert_string_equal(b, "0.000000");
	gov_format_usd(12500000, b, sizeof(b));
	assert_string_equal(b, "12.500000");
	gov_format_usd(-1, b, sizeof(b));
	assert_string_equal(b, "-0.000001");
	gov_format_usd(INT64_MAX, b, sizeof(b));
	assert_string_equal(b, "9223372036854.775807");
	gov_format_usd(INT64_MIN, b, sizeof(b));
	assert_string_equal(b, "-9223372036854.775808");
	/* a short buffer is cut, the full length is still returned */
	char s[5];
	assert_int_equal(gov_format_usd(12500000, s, sizeof(s)), 9);
	assert_string_equal(s, "12.5");
	/* format and parse round-trip */
	int64_t v;
	gov_format_usd(1234567, b, sizeof(b));
	assert_int_equal(gov_parse_usd(b, INT64_MAX, &v), 0);
	assert_int_equal(v, 1234567);
}

/* ---- periods -------------------------------------------------------------------------- */

static void test_periods(void **state)
{
	(void)state;
	char d[9], m[7];
	/* 2023-11-14T22:13:20Z */
	int64_t t = 1700000000;
	assert_int_equal(gov_day_of(t), 19675);
	assert_int_equal(gov_month_of(t), (2023 - 1970) * 12 + 10);
	assert_int_equal(gov_day_left(t), 86400 - (22 * 3600 + 13 * 60 + 20));
	gov_day_label(t, d);
	assert_string_equal(d, "20231114");
	gov_month_label(t, m);
	assert_string_equal(m, "202311");
	/* 16 days + the rest of the 14th to 2023-12-01 */
	assert_int_equal(gov_month_left(t), 16 * 86400 + gov_day_left(t));

	/* the epoch and the second before it */
	assert_int_equal(gov_day_of(0), 0);
	assert_int_equal(gov_month_of(0), 0);
	assert_int_equal(gov_day_left(0), 86400);
	assert_int_equal(gov_month_left(0), 31 * 86400);
	assert_int_equal(gov_day_of(-1), -1);
	assert_int_equal(gov_month_of(-1), -1);
	assert_int_equal(gov_day_left(-1), 1);
	assert_int_equal(gov_month_left(-1), 1);
	gov_day_label(-1, d);
	assert_string_equal(d, "19691231");
}

static void test_period_edges(void **state)
{
	(void)state;
	char d[9], m[7];
	int64_t t;
	/* Dec 31 23:59:59 -> Jan 1: one second left of the day and the month; the month id steps by one */
	assert_int_equal(gov_parse_time("2025-12-31T23:59:59Z", &t), 0);
	assert_int_equal(gov_day_left(t), 1);
	assert_int_equal(gov_month_left(t), 1);
	gov_month_label(t, m);
	assert_string_equal(m, "202512");
	assert_int_equal(gov_month_of(t + 1), gov_month_of(t) + 1);
	gov_month_label(t + 1, m);
	assert_string_equal(m, "202601");
	gov_day_label(t + 1, d);
	assert_string_equal(d, "20260101");
	assert_int_equal(gov_month_left(t + 1), 31 * 86400);

	/* February: 29 days in a leap year, 28 otherwise; centuries only when divisible by 400 */
	static const struct {
		const char *first;
		int days;
	} feb[] = {{"2024-02-01", 29}, {"2025-02-01", 28}, {"2000-02-01", 29}, {"2100-02-01", 28}, {"1900-02-01", 28}};
	for (size_t i = 0; i < sizeof(feb) / sizeof(feb[0]); i++) {
		assert_int_equal(gov_parse_time(feb[i].first, &t), 0);
		if (gov_month_left(t) != feb[i].days * 86400)
			fail_msg("%s: %lld s left", feb[i].first, (long long)gov_month_left(t));
		/* last second of February */
		int64_t last = t + feb[i].days * 86400 - 1;
		assert_int_equal(gov_month_left(last), 1);
		assert_int_equal(gov_month_of(last), gov_month_of(t));
		assert_int_equal(gov_month_of(last + 1), gov_month_of(t) + 1);
	}
	assert_int_equal(gov_parse_time("2024-02-29T12:00:00Z", &t), 0);
	gov_day_label(t, d);
	assert_string_equal(d, "20240229");
	assert_int_equal(gov_month_left(t), 12 * 3600);

	/* 30- and 31-day months, at their last second */
	assert_int_equal(gov_parse_time("2025-04-30T23:59:59Z", &t), 0);
	assert_int_equal(gov_month_left(t), 1);
	assert_int_equal(gov_parse_time("2025-01-31T00:00:00Z", &t), 0);
	assert_int_equal(gov_month_left(t), 86400);

	/* every day of four years: labels step by one and months by their length */
	assert_int_equal(gov_parse_time("2023-01-01", &t), 0);
	int64_t months = 0, prev = gov_month_of(t);
	for (int i = 0; i < 4 * 366; i++, t += 86400) {
		assert_int_equal(gov_day_left(t), 86400);
		assert_int_equal(gov_day_of(t + 86399), gov_day_of(t));
		if (gov_month_of(t) != prev) {
			assert_int_equal(gov_month_of(t), prev + 1);
			prev = gov_month_of(t);
			months++;
			gov_day_label(t, d);
			assert_string_equal(d + 6, "01");
		}
	}
	assert_int_equal(months, 48);
}

static void test_parse_time(void **state)
{
	(void)state;
	int64_t t;
	static const struct {
		const char *s;
		int64_t unix;
	} good[] = {
	    {"1970-01-01T00:00:00Z", 0},
	    {"2027-01-01T00:00:00Z", 1798761600},
	    {"2027-01-01", 1798761600},
	    {"2027-01-01t00:00:00z", 1798761600},
	    {"2027-01-01 00:00:00Z", 1798761600},
	    {"2027-01-01T02:00:00+02:00", 1798761600},
	    {"2026-12-31T19:30:00-04:30", 1798761600},
	    {"2027-01-01T00:00:00-00:00", 1798761600},
	    {"2027-01-01T00:00:00.5Z", 1798761600},
	    {"2027-01-01T00:00:00.123456789+00:00", 1798761600},
	    {"2024-02-29", 1709164800},
	    {"2000-02-29T00:00:00Z", 951782400},
	    {"2023-11-14T22:13:20Z", 1700000000},
	    {"2016-12-31T23:59:60Z", 1483228800}, /* a leap second counts as the next one */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = -42;
		if (gov_parse_time(good[i].s, &t) != 0 || t != good[i].unix)
			fail_msg("'%s' -> %lld, want %lld", good[i].s, (long long)t, (long long)good[i].unix);
	}
	static const char *const bad[] = {
	    "",
	    "2027",
	    "2027-01",
	    "2027-1-01",
	    "2027/01/01",
	    "27-01-01",
	    "2027-00-01",
	    "2027-13-01",
	    "2027-01-00",
	    "2027-01-32",
	    "2025-02-29",
	    "1900-02-29",
	    "2100-02-29",
	    "2025-04-31",
	    "2025-06-31",
	    "2027-01-01T00:00:00", /* no zone */
	    "2027-01-01T00:00Z",   /* no seconds */
	    "2027-01-01T24:00:00Z",
	    "2027-01-01T00:60:00Z",
	    "2027-01-01T00:00:61Z",
	    "2027-01-01T00:00:00.Z",
	    "2027-01-01T00:00:00+2:00",
	    "2027-01-01T00:00:00+0200",
	    "2027-01-01T00:00:00+24:00",
	    "2027-01-01T00:00:00+02:60",
	    "2027-01-01T00:00:00Zjunk",
	    "2027-01-01X00:00:00Z",
	    "2027-01-01junk",
	    " 2027-01-01",
	    "2027-01-01 ",
	    "tomorrow",
	    "1798761600",
	    "2027-01-01T0a:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gov_parse_time(bad[i], &t) != -1)
			fail_msg("'%s' accepted as %lld", bad[i], (long long)t);
	assert_int_equal(gov_parse_time(NULL, &t), -1);
}

/* ---- globs ------------------------------------------------------------------------------ */

static void test_glob(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *name;
		bool match;
	} cases[] = {
	    {"*", "gpt-4o", true},
	    {"*", "", true},
	    {"**", "x", true},
	    {"gpt-4o*", "gpt-4o", true},
	    {"gpt-4o*", "gpt-4o-mini", true},
	    {"gpt-4o*", "gpt-4", false},
	    {"gpt-4o*", "xgpt-4o", false},
	    {"*mini", "gpt-4o-mini", true},
	    {"*mini", "gpt-4o-mini-2024", false},
	    {"*mini", "mini", true},
	    {"a*b*c", "abc", true},
	    {"a*b*c", "aXbYc", true},
	    {"a*b*c", "abcbc", true},
	    {"a*b*c", "acb", false},
	    {"a*b*c", "abcb", false},
	    {"?", "a", true},
	    {"?", "", false},
	    {"?", "ab", false},
	    {"gpt-?o", "gpt-4o", true},
	    {"gpt-?o", "gpt-40", false},
	    {"claude-*-sonnet-*", "claude-3-5-sonnet-20241022", true},
	    {"", "", true},
	    {"", "a", false},
	    {"a", "", false},
	    {"exact", "exact", true},
	    {"exact", "Exact", false}, /* case matters: model names are case-sensitive */
	    {"a*", "a", true},
	    {"*a", "a", true},
	    {"*?", "", false},
	    {"*?*", "x", true},
	    {"a.b", "aXb", false}, /* '.' is literal */
	    {"[ab]", "a", false},  /* no character classes */
	    {"[ab]", "[ab]", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (gov_glob_match(cases[i].pattern, cases[i].name) != cases[i].match)
			fail_msg("'%s' vs '%s': want %s", cases[i].pattern, cases[i].name,
				 cases[i].match ? "match" : "no match");
}

/* Exponential for naive recursion; bounded here (the unit test timeout is the only clock). */
static void test_glob_pathological(void **state)
{
	(void)state;
	size_t n = 100000;
	char *s = malloc(n + 2);
	assert_non_null(s);
	memset(s, 'a', n);
	s[n] = '\0';
	assert_false(gov_glob_match("a*a*a*a*b", s));
	assert_false(gov_glob_match("*a*a*a*a*a*a*a*a*a*a*b", s));
	assert_true(gov_glob_match("a*a*a*a*a", s));
	assert_false(gov_glob_match("*?*?*?*?*?b", s));
	s[n] = 'b';
	s[n + 1] = '\0';
	assert_true(gov_glob_match("a*a*a*a*b", s));
	assert_true(gov_glob_match("*a*a*a*a*a*a*a*a*a*a*b", s));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gcra_burst_then_refuse),
	    cmocka_unit_test(test_gcra_fresh_and_remaining),
	    cmocka_unit_test(test_gcra_refill),
	    cmocka_unit_test(test_gcra_cost_and_never),
	    cmocka_unit_test(test_gcra_rounding),
	    cmocka_unit_test(test_gcra_span_huge),
	    cmocka_unit_test(test_gcra_settle),
	    cmocka_unit_test(test_cost_rounding),
	    cmocka_unit_test(test_cost_cached),
	    cmocka_unit_test(test_cost_big),
	    cmocka_unit_test(test_parse_usd),
	    cmocka_unit_test(test_format_usd),
	    cmocka_unit_test(test_periods),
	    cmocka_unit_test(test_period_edges),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_glob_pathological),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
