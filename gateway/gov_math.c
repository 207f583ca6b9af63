/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance arithmetic (see gov_math.h). Every multiplication is split so
 * that no intermediate exceeds 64 bits for the bounds the config enforces
 * (limits <= GOV_LIMIT_MAX, prices <= $1,000,000 per million tokens).
 *
 * GCRA spans are rounded down to the microsecond: rounding up would make
 * the last request of a full burst miss by a few microseconds (7 requests
 * per minute: 7 * ceil(60e6 / 7) > 60e6). Rounding down admits at most one
 * extra unit per window/limit microseconds of accumulated remainder, i.e.
 * about limit^2 / 6e7 extra units per minute: none below 7,700 requests per
 * minute, 0.17% at 100,000.
 */
#include "gateway/gov_math.h"

#include <stdio.h>
#include <string.h>

#define MILLION UINT64_C(1000000)

int64_t gcra_span_us(uint64_t cost, uint64_t limit, int64_t window_us)
{
	uint64_t w = (uint64_t)window_us, q = cost / limit, r = cost % limit;
	/*
	 * Absurd cost: far beyond any window, capped so it stays safe to add to
	 * a time. The bound is on the whole result (q * w plus up to w - 1), not
	 * on q * w alone, which left room to wrap past INT64_MAX.
	 */
	if (q >= (uint64_t)(INT64_MAX / 2) / w)
		return INT64_MAX / 2;
	/* r < limit <= GOV_LIMIT_MAX and w = 6e7: r * w < 6e18 */
	return (int64_t)(q * w + r * w / limit);
}

static void gcra_state(int64_t tat, int64_t now, uint64_t limit, int64_t window_us, struct gcra_out *out)
{
	int64_t ahead = tat > now ? tat - now : 0; /* how far the bucket is from full */
	int64_t free_us = ahead >= window_us ? 0 : window_us - ahead;
	out->remaining = (uint64_t)free_us * limit / (uint64_t)window_us;
	out->reset_us = ahead;
}

void gcra_peek(int64_t tat, int64_t now, uint64_t limit, int64_t window_us, struct gcra_out *out)
{
	memset(out, 0, sizeof(*out));
	out->ok = true;
	out->tat = tat;
	gcra_state(tat, now, limit, window_us, out);
}

void gcra_take(int64_t tat, int64_t now, uint64_t limit, int64_t window_us, uint64_t cost, struct gcra_out *out)
{
	memset(out, 0, sizeof(*out));
	out->tat = tat;
	if (cost > limit) {
		out->never = true;
		gcra_state(tat, now, limit, window_us, out);
		return;
	}
	int64_t base = tat > now ? tat : now;
	int64_t next = base + gcra_span_us(cost, limit, window_us);
	if (next - now <= window_us) {
		out->ok = true;
		out->tat = next;
	} else {
		out->retry_us = next - now - window_us;
	}
	gcra_state(out->tat, now, limit, window_us, out);
}

int64_t gcra_settle_delta(uint64_t charged, uint64_t used, uint64_t limit, int64_t window_us)
{
	return gcra_span_us(used, limit, window_us) - gcra_span_us(charged, limit, window_us);
}

/* ---- money ---------------------------------------------------------------------------- */

/*
 * tokens * price / 1e6 as whole micro-USD plus a remainder in millionths.
 * Within the config's bounds nothing overflows (lo * price < 1e18); past
 * them (a provider reporting absurd usage) whole sticks at UINT64_MAX
 * instead of wrapping to a small cost.
 */
static void mul_price(uint64_t tokens, uint64_t price, uint64_t *whole, uint64_t *frac)
{
	uint64_t hi = tokens / MILLION, lo = tokens % MILLION, lp, hp, add;
	if (__builtin_mul_overflow(lo, price, &lp) || __builtin_mul_overflow(hi, price, &hp) ||
	    __builtin_add_overflow(hp, lp / MILLION, &add) || __builtin_add_overflow(*whole, add, whole)) {
		*whole = UINT64_MAX;
		return;
	}
	*frac += lp % MILLION;
}

int64_t gov_cost_micro_usd(uint64_t input, uint64_t cached, uint64_t output, uint64_t in_price, uint64_t cached_price,
			   uint64_t out_price)
{
	uint64_t whole = 0, frac = 0;
	if (cached > input)
		cached = input;
	mul_price(input - cached, in_price, &whole, &frac);
	mul_price(cached, cached_price, &whole, &frac);
	mul_price(output, out_price, &whole, &frac);
	if (__builtin_add_overflow(whole, (frac + MILLION / 2) / MILLION, &whole))
		whole = UINT64_MAX;
	return whole > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)whole;
}

int gov_parse_usd(const char *s, int64_t max_micro, int64_t *out)
{
	uint64_t v = 0;
	int digits = 0, decimals = -1;
	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (decimals >= 0 || digits == 0)
				return -1;
			decimals = 0;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		if (decimals >= 0 && ++decimals > 6)
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		digits++;
	}
	if (decimals == 0) /* "1." */
		return -1;
	for (int i = decimals < 0 ? 0 : decimals; i < 6; i++) {
		if (v > UINT64_MAX / 10)
			return -1;
		v *= 10;
	}
	if (v > (uint64_t)max_micro)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int gov_format_usd(int64_t micro, char *out, unsigned cap)
{
	const char *sign = micro < 0 ? "-" : "";
	uint64_t m = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
	return snprintf(out, cap, "%s%llu.%06llu", sign, (unsigned long long)(m / MILLION),
			(unsigned long long)(m % MILLION));
}

/* ---- periods (proleptic Gregorian, H. Hinnant's civil-from-days) ------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t gov_day_of(int64_t t)
{
	return floor_div(t, 86400);
}

int64_t gov_month_of(int64_t t)
{
	int64_t y;
	unsigned m, d;
	civil_from_days(gov_day_of(t), &y, &m, &d);
	return (y - 1970) * 12 + (int64_t)m - 1;
}

int64_t gov_day_left(int64_t t)
{
	return (gov_day_of(t) + 1) * 86400 - t;
}

int64_t gov_month_left(int64_t t)
{
	int64_t y;
	unsigned m, d;
	civil_from_days(gov_day_of(t), &y, &m, &d);
	if (++m > 12) {
		m = 1;
		y++;
	}
	return days_from_civil(y, m, 1) * 86400 - t;
}

void gov_day_label(int64_t t, char out[9])
{
	int64_t y;
	unsigned m, d;
	civil_from_days(gov_day_of(t), &y, &m, &d);
	snprintf(out, 9, "%04u%02u%02u", (unsigned)(y % 10000), m, d);
}

void gov_month_label(int64_t t, char out[7])
{
	int64_t y;
	unsigned m, d;
	civil_from_days(gov_day_of(t), &y, &m, &d);
	snprintf(out, 7, "%04u%02u", (unsigned)(y % 10000), m);
}

/* n decimal digits at s into *v; -1 unless all are digits. */
static int digits(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 0;
}

int gov_parse_time(const char *s, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, oh, om;
	int64_t off = 0;
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (s == NULL || strlen(s) < 10 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
	    s[7] != '-' || digits(s + 8, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	s += 10;
	if (*s != '\0') {
		if ((*s != 'T' && *s != 't' && *s != ' ') || strlen(s) < 9 || digits(s + 1, 2, &h) < 0 || s[3] != ':' ||
		    digits(s + 4, 2, &mi) < 0 || s[6] != ':' || digits(s + 7, 2, &sec) < 0)
			return -1;
		if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second, counted as the next one */
			return -1;
		s += 9;
		if (*s == '.') {
			if (s[1] < '0' || s[1] > '9')
				return -1;
			for (s++; *s >= '0' && *s <= '9'; s++)
				;
		}
		if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
			off = 0;
		} else if ((*s == '+' || *s == '-') && strlen(s) == 6 && digits(s + 1, 2, &oh) == 0 && s[3] == ':' &&
			   digits(s + 4, 2, &om) == 0 && oh <= 23 && om <= 59) {
			off = (int64_t)(oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
		} else {
			return -1;
		}
	}
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + sec) - off;
	return 0;
}

/* ---- globs ------------------------------------------------------------------------------ */

bool gov_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;
	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			/* let the last '*' swallow one more byte and retry: linear in practice, O(n*m) worst case */
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
