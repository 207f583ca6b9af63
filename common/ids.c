/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace, span and request ids, and the W3C traceparent header.
 *
 * Ids are drawn from xoshiro256** (Blackman & Vigna): 256 bits of state, a
 * few ns per 64-bit output and statistically excellent, which is all ids
 * need — they must be unique, not unpredictable to an attacker. Each thread
 * owns one generator seeded from getrandom(2), so there is no lock and no
 * syscall per id. OTLP treats an all-zero id as invalid, so ids_rng_fill()
 * draws again in the (2^-64 and rarer) case it produces one.
 *
 * traceparent parsing follows W3C Trace Context level 1, section 3.2 and
 * 4.3 (versioning): lower-case hex only, version ff is invalid, version 00 is
 * exactly 55 characters, a later version may carry more data after the
 * flags as long as a '-' separates it, and all-zero trace or parent ids make
 * the header invalid (the caller then starts a new trace).
 */
#include "common/ids.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(struct ids_rng *rng)
{
	uint64_t *s = rng->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

int ids_rng_init(struct ids_rng *rng, struct err *err)
{
	uint8_t seed[sizeof(rng->s)];
	size_t got = 0;
	while (got < sizeof(seed)) {
		ssize_t n = getrandom(seed + got, sizeof(seed) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, errno, "getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	memcpy(rng->s, seed, sizeof(seed));
	/* xoshiro's one forbidden state; an all-zero 256-bit seed means the kernel is broken. */
	if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
		return err_set(err, EIO, "getrandom returned an all-zero seed");
	return 0;
}

void ids_rng_fill(struct ids_rng *rng, void *dst, size_t n)
{
	uint8_t *d = dst;
	if (n == 0)
		return;
	do {
		for (size_t off = 0; off < n; off += 8) {
			uint64_t v = xoshiro_next(rng);
			size_t k = n - off < 8 ? n - off : 8;
			memcpy(d + off, &v, k);
		}
	} while (ids_is_zero(d, n));
}

void ids_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ids_unhex(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]);
		if (hi < 0)
			return -1;
		int lo = hexval(in[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ids_is_zero(const uint8_t *id, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= id[i];
	return acc == 0;
}

/* Trace Context allows only lower-case hex (HEXDIGLC). */
static int lchex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	}
	return 0;
}

/*
 * Layout: vv-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
 *         0  3                 35                 52 53
 */
int ids_traceparent_parse(const char *s, size_t len, struct traceparent *tp)
{
	if (s == NULL || len < TRACEPARENT_LEN)
		return -1;
	if (lchex_run(s, 2) < 0 || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -1;
	if (s[0] == 'f' && s[1] == 'f')
		return -1;
	if (s[0] == '0' && s[1] == '0') {
		if (len != TRACEPARENT_LEN)
			return -1;
	} else if (len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-') {
		return -1;
	}
	if (lchex_run(s + 3, 32) < 0 || lchex_run(s + 36, 16) < 0 || lchex_run(s + 53, 2) < 0)
		return -1;

	struct traceparent t;
	uint8_t flags;
	ids_unhex(s + 3, 16, t.trace_id);
	ids_unhex(s + 36, 8, t.parent_id);
	ids_unhex(s + 53, 1, &flags);
	if (ids_is_zero(t.trace_id, sizeof(t.trace_id)) || ids_is_zero(t.parent_id, sizeof(t.parent_id)))
		return -1;
	t.flags = flags;
	*tp = t;
	return 0;
}

void ids_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out)
{
	out[0] = '0';
	out[1] = '0';
	out[2] = '-';
	ids_hex(trace_id, 16, out + 3);
	out[35] = '-';
	ids_hex(span_id, 8, out + 36);
	out[52] = '-';
	ids_hex(&flags, 1, out + 53);
}
