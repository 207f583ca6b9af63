/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/ids: the generator never yields an all-zero id,
 * hex round-trips, and traceparent parsing follows W3C Trace Context to the
 * letter (a table of valid and invalid headers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"

static void test_rng_nonzero_and_distinct(void **state)
{
	(void)state;
	struct ids_rng rng;
	struct err err = {0};
	assert_int_equal(ids_rng_init(&rng, &err), 0);
	uint8_t prev[16] = {0};
	for (int i = 0; i < 10000; i++) {
		uint8_t id[16];
		ids_rng_fill(&rng, id, sizeof(id));
		assert_false(ids_is_zero(id, sizeof(id)));
		assert_memory_not_equal(id, prev, sizeof(id));
		memcpy(prev, id, sizeof(id));
	}
	/* Odd lengths and single bytes: a 1-byte id is zero 1/256 of the time, so this exercises the retry. */
	for (int i = 0; i < 5000; i++) {
		uint8_t one;
		ids_rng_fill(&rng, &one, 1);
		assert_int_not_equal(one, 0);
		uint8_t odd[13];
		memset(odd, 0xaa, sizeof(odd));
		ids_rng_fill(&rng, odd, sizeof(odd));
		assert_false(ids_is_zero(odd, sizeof(odd)));
	}
	uint8_t untouched = 7;
	ids_rng_fill(&rng, &untouched, 0);
	assert_int_equal(untouched, 7);

	struct ids_rng other;
	assert_int_equal(ids_rng_init(&other, NULL), 0);
	assert_memory_not_equal(rng.s, other.s, sizeof(rng.s)); /* independently seeded */
}

static void test_hex_round_trip(void **state)
{
	(void)state;
	const uint8_t in[8] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
	char hex[17];
	ids_hex(in, sizeof(in), hex);
	assert_string_equal(hex, "00017f80abcdefff");
	uint8_t out[8];
	assert_int_equal(ids_unhex(hex, sizeof(out), out), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(ids_unhex("00017F80ABCDEFFF", sizeof(out), out), 0); /* either case */
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(ids_unhex("0g", 1, out), -1);
	assert_int_equal(ids_unhex("0 ", 1, out), -1);
	assert_int_equal(ids_unhex("0", 1, out), -1); /* NUL is not a digit */
	char empty[1];
	ids_hex(in, 0, empty);
	assert_string_equal(empty, "");
	assert_true(ids_is_zero((const uint8_t *)"\0\0\0", 3));
	assert_false(ids_is_zero((const uint8_t *)"\0\1\0", 3));
	assert_true(ids_is_zero(in, 0));
}

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

struct tp_case {
	const char *in;
	int ok;
	const char *why;
};

static const struct tp_case tp_cases[] = {
    {"00-" TID "-" PID "-01", 1, "spec example, sampled"},
    {"00-" TID "-" PID "-00", 1, "not sampled"},
    {"00-" TID "-" PID "-ff", 1, "all flag bits (unknown bits are carried)"},
    {"01-" TID "-" PID "-01", 1, "future version, exact length"},
    {"cc-" TID "-" PID "-01-what-the-future-holds", 1, "future version with extra fields"},
    {"fe-" TID "-" PID "-09-x", 1, "highest valid version"},
    {"ff-" TID "-" PID "-01", 0, "version ff is invalid"},
    {"00-" TID "-" PID "-01-", 0, "version 00 must be exactly 55 chars"},
    {"00-" TID "-" PID "-01x", 0, "version 00 with trailing data"},
    {"01-" TID "-" PID "-01x", 0, "future version: data after flags needs '-'"},
    {"00-" TID "-" PID "-0", 0, "too short"},
    {"", 0, "empty"},
    {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", 0, "upper-case trace id"},
    {"00-" TID "-00F067AA0BA902B7-01", 0, "upper-case parent id"},
    {"00-" TID "-" PID "-0A", 0, "upper-case flags"},
    {"0A-" TID "-" PID "-01", 0, "upper-case version"},
    {"00-00000000000000000000000000000000-" PID "-01", 0, "zero trace id"},
    {"00-" TID "-0000000000000000-01", 0, "zero parent id"},
    {"00_" TID "-" PID "-01", 0, "bad first separator"},
    {"00-" TID "_" PID "-01", 0, "bad second separator"},
    {"00-" TID "-" PID "_01", 0, "bad third separator"},
    {"00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01", 0, "non-hex trace id"},
    {"00-" TID "-00f067aa0ba902bz-01", 0, "non-hex parent id"},
    {"00-" TID "-" PID "-0g", 0, "non-hex flags"},
    {"0x-" TID "-" PID "-01", 0, "non-hex version"},
    {"00-" TID "-" PID "-01 ", 0, "trailing space (callers trim OWS)"},
    {" 00-" TID "-" PID "-01", 0, "leading space"},
    {"00-4bf92f3577b34da6a3ce929d0e0e47-" PID "-0100", 0, "short trace id, right total length"},
};

static void test_traceparent_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tp_cases) / sizeof(tp_cases[0]); i++) {
		const struct tp_case *c = &tp_cases[i];
		struct traceparent tp;
		memset(&tp, 0x5a, sizeof(tp));
		int rc = ids_traceparent_parse(c->in, strlen(c->in), &tp);
		if ((rc == 0) != c->ok)
			fail_msg("case %zu (%s): \"%s\" gave %d", i, c->why, c->in, rc);
	}
	assert_int_equal(ids_traceparent_parse(NULL, 0, NULL), -1);
}

static void test_traceparent_fields_and_format(void **state)
{
	(void)state;
	const char *s = "00-" TID "-" PID "-01";
	struct traceparent tp;
	assert_int_equal(ids_traceparent_parse(s, strlen(s), &tp), 0);
	char hex[33];
	ids_hex(tp.trace_id, 16, hex);
	assert_string_equal(hex, TID);
	ids_hex(tp.parent_id, 8, hex);
	assert_string_equal(hex, PID);
	assert_int_equal(tp.flags, 1);

	/* len is honoured: a longer buffer cut to 55 parses. */
	const char *longer = "00-" TID "-" PID "-01trailing";
	assert_int_equal(ids_traceparent_parse(longer, TRACEPARENT_LEN, &tp), 0);

	/* A failed parse leaves tp untouched. */
	struct traceparent before = tp;
	assert_int_equal(ids_traceparent_parse("ff-" TID "-" PID "-01", TRACEPARENT_LEN, &tp), -1);
	assert_memory_equal(&before, &tp, sizeof(tp));

	char out[TRACEPARENT_LEN + 1];
	ids_traceparent_format(tp.trace_id, tp.parent_id, 0x03, out);
	assert_string_equal(out, "00-" TID "-" PID "-03");
	assert_int_equal(strlen(out), TRACEPARENT_LEN);

	struct ids_rng rng;
	assert_int_equal(ids_rng_init(&rng, NULL), 0);
	uint8_t t[16], sp[8];
	ids_rng_fill(&rng, t, sizeof(t));
	ids_rng_fill(&rng, sp, sizeof(sp));
	ids_traceparent_format(t, sp, 1, out);
	assert_int_equal(ids_traceparent_parse(out, strlen(out), &tp), 0);
	assert_memory_equal(tp.trace_id, t, 16);
	assert_memory_equal(tp.parent_id, sp, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rng_nonzero_and_distinct),
	    cmocka_unit_test(test_hex_round_trip),
	    cmocka_unit_test(test_traceparent_table),
	    cmocka_unit_test(test_traceparent_fields_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
