/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compress: gzip output inflates back (zlib, gzip wrapper) to the input,
 * carries the gzip magic, and respects the output buffer's maximum.
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
	assert_int_equal(compress_gzip(in, len, &out, &err), 0);
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
	assert_int_equal(compress_gzip(in, sizeof(in), &out, &err), 0);
	assert_true(out.len < sizeof(in) / 20);
	buf_fini(&out);
	/* deflateBound of 64 KiB does not fit a 1 KiB buffer: a clear EMSGSIZE, buffer left empty. */
	buf_init(&out, 1024);
	assert_int_equal(compress_gzip(in, sizeof(in), &out, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_ratio_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
