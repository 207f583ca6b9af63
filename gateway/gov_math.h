/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arithmetic of governance, as pure functions with no state of their
 * own, so the in-process limiter, the Redis scripts (which implement the
 * same formulas in Lua) and the unit tests agree on every number:
 *
 *  - GCRA rate limiting ("generic cell rate algorithm", a token bucket kept
 *    as one number): a limit of L units per window W admits a burst of L
 *    and refills continuously at L/W. The state is the theoretical arrival
 *    time (TAT): the moment the bucket would be full again. A request of
 *    cost c advances it by c*W/L from max(TAT, now) and is admitted while
 *    that stays within W of now. Times are microseconds.
 *  - money: integer micro-USD everywhere; prices are micro-USD per million
 *    tokens, so "$0.15 / 1M tokens" is exactly 150000.
 *  - budget periods: UTC calendar days and months.
 *  - model globs: '*' and '?' over the whole name.
 */
#ifndef LLMGW_GATEWAY_GOV_MATH_H
#define LLMGW_GATEWAY_GOV_MATH_H

#include <stdbool.h>
#include <stdint.h>

#define GOV_WINDOW_US INT64_C(60000000)	     /* every limit is per minute */
#define GOV_LIMIT_MAX UINT64_C(100000000000) /* 10^11 units per window keeps limit * window in 64 bits */
#define GOV_PRICE_MAX INT64_C(1000000000000) /* $1,000,000 per million tokens, in micro-USD */

/* ---- GCRA ------------------------------------------------------------------------------ */

struct gcra_out {
	bool ok;	    /* admitted */
	bool never;	    /* cost > limit: no wait makes this request fit */
	int64_t tat;	    /* new TAT when ok, the unchanged one when not */
	int64_t retry_us;   /* not ok: how long until it would be admitted (>= 1) */
	uint64_t remaining; /* units still available now (after this request when ok) */
	int64_t reset_us;   /* until the bucket is full again */
};

/* Microseconds that cost units take from a limit of `limit` per window_us (rounded up). */
int64_t gcra_span_us(uint64_t cost, uint64_t limit, int64_t window_us);

/*
 * One request of `cost` units against a bucket whose TAT is tat (0 for a
 * fresh bucket) at time now. limit > 0. Pure: the caller stores out->tat.
 */
void gcra_take(int64_t tat, int64_t now, uint64_t limit, int64_t window_us, uint64_t cost, struct gcra_out *out);

/* State of a bucket without taking anything (remaining, reset). */
void gcra_peek(int64_t tat, int64_t now, uint64_t limit, int64_t window_us, struct gcra_out *out);

/*
 * The TAT change when a request that was charged `charged` units turns out
 * to have used `used`: positive charges more, negative refunds.
 */
int64_t gcra_settle_delta(uint64_t charged, uint64_t used, uint64_t limit, int64_t window_us);

/* ---- money ---------------------------------------------------------------------------- */

/*
 * Cost in micro-USD of a call, rounded half up from the exact value:
 * (input - cached) * in_price + cached * cached_price + output * out_price,
 * prices in micro-USD per million tokens. cached is clamped to input.
 * Saturates at INT64_MAX.
 */
int64_t gov_cost_micro_usd(uint64_t input, uint64_t cached, uint64_t output, uint64_t in_price, uint64_t cached_price,
			   uint64_t out_price);

/*
 * Parses a decimal USD amount ("0.15", "12", "0.000075", at most 6
 * decimals, no sign, no exponent) into micro-USD. -1 when malformed or
 * above max_micro.
 */
int gov_parse_usd(const char *s, int64_t max_micro, int64_t *out);

/* Formats micro-USD as a decimal with 6 places ("0.000150"); returns the length. */
int gov_format_usd(int64_t micro, char *out, unsigned cap);

/* ---- periods -------------------------------------------------------------------------- */

/* Days since 1970-01-01 UTC of unix time t (seconds). */
int64_t gov_day_of(int64_t t);
/* Months since 1970-01 UTC (year * 12 + month - 1 - 1970 * 12). */
int64_t gov_month_of(int64_t t);
/* Seconds from t until the next UTC midnight / first of the next month. */
int64_t gov_day_left(int64_t t);
int64_t gov_month_left(int64_t t);
/* "20261123" and "202611" for the day / month containing t (Redis key suffixes). */
void gov_day_label(int64_t t, char out[9]);
void gov_month_label(int64_t t, char out[7]);

/*
 * Parses an RFC 3339 timestamp ("2027-01-01T00:00:00Z", "...+02:00",
 * fractional seconds ignored) or a date ("2027-01-01", midnight UTC) into
 * unix seconds. -1 when malformed.
 */
int gov_parse_time(const char *s, int64_t *out);

/* ---- globs ------------------------------------------------------------------------------ */

/* True when name matches pattern ('*' any run, '?' one byte, everything else literal). */
bool gov_glob_match(const char *pattern, const char *name);

#endif
