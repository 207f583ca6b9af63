/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compress: gzip output inflates back (zlib, gzip wrapper) to the input,
 * carries the gzip magic, and respects the output buffer's maximum; the
 * member is byte for byte what zlib's own gzip wrapper writes at every
 * level, and the folded CRC-32 equals zlib's crc32 at every length and
 * alignment around its block sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "exporter/compress.h"

static void roundtrip(const unsigned char *in, size_t len)
{
	struct buf out;
	struct err err;
	buf_init(&out, 0);
	assert_int_equal(compress_gzip(in, len, COMPRESS_LEVEL_DEFAULT, &out, &err), 0);
	assert_true(out.len >= 18); /* 10-byte header + 8-byte trailer */
	assert_int_equal((unsigned char)out.data[0], 0x1f);
	assert_int_equal((unsigned char)out.data[1], 0x8b);

	unsigned char *back = malloc(len + 1);
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)out.data;
	z.avail_in = (uInt)out.len;
	z.next_out = back;
	z.avail_out = (uInt)len + 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, len);
	assert_int_equal(z.avail_in, 0);
	inflateEnd(&z);
	if (len > 0)
		assert_memory_equal(back, in, len);
	free(back);
	buf_fini(&out);
}

static void test_roundtrip(void **state)
{
	(void)state;
	roundtrip((const unsigned char *)"", 0);
	roundtrip((const unsigned char *)"hello, otlp", 11);
	/* Repetitive, span-like data shrinks a lot; random data must still round-trip. */
	size_t n = 1u << 20;
	unsigned char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = "gen_ai.request.model=gpt-4o-mini;"[i % 33];
	roundtrip(big, n);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		big[i] = (unsigned char)x;
	}
	roundtrip(big, n);
	free(big);
}

static void test_ratio_and_limit(void **state)
{
	(void)state;
	char in[64 * 1024];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = "llmgw.tenant.id=acme "[i % 21];
	struct buf out;
	struct err err;
	buf_init(&out, 0);
	assert_int_equal(compress_gzip(in, sizeof(in), COMPRESS_LEVEL_DEFAULT, &out, &err), 0);
	assert_true(out.len < sizeof(in) / 20);
	buf_fini(&out);
	/* deflateBound of 64 KiB does not fit a 1 KiB buffer: a clear EMSGSIZE, buffer left empty. */
	buf_init(&out, 1024);
	assert_int_equal(compress_gzip(in, sizeof(in), COMPRESS_LEVEL_DEFAULT, &out, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
}

/* zlib's own gzip member (windowBits 31) of in at level. */
static size_t zlib_gzip(const unsigned char *in, size_t len, int level, unsigned char *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static void test_same_as_zlib_wrapper(void **state)
{
	(void)state;
	size_t n = 300000, cap = n + 1024;
	unsigned char *in = malloc(n), *ref = malloc(cap);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		/* span-like: mostly repeated text, some random bytes (ids) */
		in[i] = (i % 97) < 12 ? (unsigned char)x : (unsigned char)"gen_ai.usage.output_tokens"[i % 26];
	}
	static const size_t lens[] = {0, 1, 63, 64, 65, 1000, 300000};
	for (int level = COMPRESS_LEVEL_MIN; level <= COMPRESS_LEVEL_MAX; level++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			struct buf out;
			struct err err;
			buf_init(&out, 0);
			assert_int_equal(compress_gzip(in, lens[i], level, &out, &err), 0);
			size_t rn = zlib_gzip(in, lens[i], level, ref, cap);
			assert_int_equal(out.len, rn);
			assert_memory_equal(out.data, ref, rn);
			buf_fini(&out);
		}
	}
	free(in);
	free(ref);
}

static void test_crc32(void **state)
{
	(void)state;
	unsigned char buf[4096 + 16];
	uint32_t x = 88172645u;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(x >> 24);
	}
	assert_int_equal(compress_crc32("", 0), 0);
	assert_int_equal(compress_crc32("123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len <= 4096; len += len < 300 ? 1 : 61)
			assert_int_equal(compress_crc32(buf + off, len), (uint32_t)crc32(0, buf + off, (uInt)len));
	}
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(compress_crc32(buf, 4096), (uint32_t)crc32(0, buf, 4096));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(compress_crc32(buf, 4096), (uint32_t)crc32(0, buf, 4096));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_ratio_and_limit),
	    cmocka_unit_test(test_same_as_zlib_wrapper),
	    cmocka_unit_test(test_crc32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
