/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pbw: varints and tags against known encodings, fixed-width fields in
 * little-endian order whatever the host, and back-patched envelopes at
 * every length boundary (the reserved width too large, exact, too small),
 * including a buffer maximum that cannot take the extra length byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/pbw.h"

static void test_varint(void **state)
{
	(void)state;
	static const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[10];
	} cases[] = {
	    {0, 1, {0x00}},
	    {1, 1, {0x01}},
	    {127, 1, {0x7f}},
	    {128, 2, {0x80, 0x01}},
	    {300, 2, {0xac, 0x02}},
	    {16383, 2, {0xff, 0x7f}},
	    {16384, 3, {0x80, 0x80, 0x01}},
	    {2097151, 3, {0xff, 0xff, 0x7f}},
	    {2097152, 4, {0x80, 0x80, 0x80, 0x01}},
	    {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[16];
		assert_int_equal(pbw_varint_size(cases[i].v), cases[i].n);
		assert_int_equal(pbw_put_varint(out, cases[i].v) - out, cases[i].n);
		assert_memory_equal(out, cases[i].bytes, cases[i].n);
	}
	/* -1 as an int64 field value: ten bytes, two's complement */
	assert_int_equal(pbw_varint_size((uint64_t)(int64_t)-1), 10);
}

static void test_tags_and_fixed(void **state)
{
	(void)state;
	uint8_t out[32], *p = out;
	p = pbw_put_tag(p, 1, PBW_LEN);		       /* 0x0a */
	p = pbw_put_tag(p, 15, PBW_LEN);	       /* 0x7a */
	p = pbw_put_tag(p, 16, PBW_I32);	       /* 0x85 0x01 */
	p = pbw_put_fixed32(p, 0x01020304u);	       /* 04 03 02 01 */
	p = pbw_put_fixed64(p, 0x0102030405060708ull); /* 08 .. 01 */
	static const uint8_t want[] = {0x0a, 0x7a, 0x85, 0x01, 0x04, 0x03, 0x02, 0x01,
				       0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	assert_int_equal(p - out, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(pbw_tag_size(15), 1);
	assert_int_equal(pbw_tag_size(16), 2);
	assert_int_equal(pbw_len_size(2, 200), 1 + 2 + 200);

	p = pbw_put_double(out, 1.0); /* 0x3ff0000000000000 little-endian */
	static const uint8_t one[] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
	assert_int_equal(p - out, 8);
	assert_memory_equal(out, one, 8);

	p = pbw_put_bytes(out, 5, "chat", 4);
	assert_int_equal(p - out, 6);
	assert_memory_equal(out,
			    "\x2a\x04"
			    "chat",
			    6);
}

/* An envelope of body n bytes inside a prefix: the header is canonical and the body intact. */
static void envelope(size_t n)
{
	struct buf b;
	size_t mark;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "pre", 3), 0);
	assert_int_equal(pbw_open(&b, 2, &mark), 0);
	char *body = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	assert_int_equal(buf_append(&b, body, n), 0);
	assert_int_equal(pbw_close(&b, mark), 0);

	uint8_t want[16], *p = pbw_put_len(want, 2, n);
	size_t hdr = (size_t)(p - want);
	assert_int_equal(b.len, 3 + hdr + n);
	assert_memory_equal(b.data, "pre", 3);
	assert_memory_equal(b.data + 3, want, hdr);
	if (n > 0)
		assert_memory_equal(b.data + 3 + hdr, body, n);
	assert_int_equal(b.data[b.len], '\0');
	free(body);
	buf_fini(&b);
}

static void test_envelopes(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 3000000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		envelope(sizes[i]);
	/* nested, as ResourceSpans > ScopeSpans */
	struct buf b;
	size_t outer, inner;
	buf_init(&b, 0);
	assert_int_equal(pbw_open(&b, 1, &outer), 0);
	assert_int_equal(pbw_open(&b, 2, &inner), 0);
	assert_int_equal(buf_append(&b, "xy", 2), 0);
	assert_int_equal(pbw_close(&b, inner), 0);
	assert_int_equal(pbw_close(&b, outer), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "\x0a\x04\x12\x02xy", 6);
	buf_fini(&b);
}

static void test_limits(void **state)
{
	(void)state;
	struct buf b;
	size_t mark;
	/* no room for the tag and the reserved length (1 + 3 bytes) */
	buf_init(&b, 3);
	assert_int_equal(pbw_open(&b, 1, &mark), -1);
	assert_int_equal(errno, EMSGSIZE);
	buf_fini(&b);
	/* a body whose length needs one byte more than reserved, at a maximum that has no room for it */
	size_t n = 2097152;
	buf_init(&b, 1 + PBW_LEN_GUESS + n);
	assert_int_equal(pbw_open(&b, 1, &mark), 0);
	char *body = calloc(1, n);
	assert_int_equal(buf_append(&b, body, n), 0);
	b.max = b.len; /* now full */
	assert_int_equal(pbw_close(&b, mark), -1);
	assert_int_equal(errno, EMSGSIZE);
	free(body);
	buf_fini(&b);
	/* the checked field append */
	buf_init(&b, 5);
	assert_int_equal(pbw_append_bytes(&b, 1, "abc", 3), 0);
	assert_memory_equal(b.data,
			    "\x0a\x03"
			    "abc",
			    5);
	assert_int_equal(pbw_append_bytes(&b, 1, "", 0), -1);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varint),
	    cmocka_unit_test(test_tags_and_fixed),
	    cmocka_unit_test(test_envelopes),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
