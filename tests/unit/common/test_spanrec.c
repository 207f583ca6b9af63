/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/spanrec: the on-wire layout, safe string setting
 * (UTF-8-aware truncation, trunc_mask and flags), metadata slots, and
 * spanrec_validate() against every way a buffer can be bad — each case
 * starts from a good record and breaks exactly one thing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/spanrec.h"

static void test_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct spanrec), 1280);
	assert_int_equal(offsetof(struct spanrec, magic), 0);
	assert_int_equal(offsetof(struct spanrec, version), 4);
	assert_int_equal(offsetof(struct spanrec, size), 6);
	assert_int_equal(offsetof(struct spanrec, flags), 8);
	assert_int_equal(offsetof(struct spanrec, kind), 12);
	assert_int_equal(offsetof(struct spanrec, trace_id), 16);
	assert_int_equal(offsetof(struct spanrec, span_id), 32);
	assert_int_equal(offsetof(struct spanrec, parent_span_id), 40);
	assert_int_equal(offsetof(struct spanrec, start_ns), 48);
	assert_int_equal(offsetof(struct spanrec, end_ns), 56);
	assert_int_equal(offsetof(struct spanrec, ttft_ns), 64);
	assert_int_equal(offsetof(struct spanrec, cost_micro_usd), 72);
	assert_int_equal(offsetof(struct spanrec, trunc_mask), 100);
	assert_int_equal(offsetof(struct spanrec, name), 104);
	assert_int_equal(offsetof(struct spanrec, tenant_id), 440);
	assert_int_equal(offsetof(struct spanrec, response_id), 744);
	assert_int_equal(offsetof(struct spanrec, meta), 800);
	assert_int_equal(offsetof(struct spanrec, guardrails), 1024); /* version 2 appends */
	assert_int_equal(offsetof(struct spanrec, jsonrpc_error_code), 1272);
	const uint8_t magic_bytes[4] = {'L', 'W', 'G', 'S'};
	uint32_t m;
	memcpy(&m, magic_bytes, 4);
	assert_int_equal(m, SPANREC_MAGIC); /* this suite assumes little-endian hosts */
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(spanrec_str_field_name(0), "name");
	assert_string_equal(spanrec_str_field_name(1), "request_model");
	assert_string_equal(spanrec_str_field_name(8), "team");
	assert_string_equal(spanrec_str_field_name(14), "response_id");
	assert_string_equal(spanrec_str_field_name(15), "meta[0].key");
	assert_string_equal(spanrec_str_field_name(22), "meta[3].value");
	assert_string_equal(spanrec_str_field_name(23), "guardrails");
	assert_string_equal(spanrec_str_field_name(27), "jsonrpc_id");
	assert_null(spanrec_str_field_name(28));
	assert_null(spanrec_str_field_name(1000));
	assert_string_equal(spanrec_verdict_name(SPANREC_OK), "ok");
	assert_string_equal(spanrec_verdict_name(SPANREC_BAD_SIZE), "bad_size");
	assert_string_equal(spanrec_verdict_name(SPANREC_BAD_MAGIC), "bad_magic");
	assert_string_equal(spanrec_verdict_name(SPANREC_BAD_VERSION), "bad_version");
	assert_string_equal(spanrec_verdict_name(SPANREC_BAD_STRING), "bad_string");
	assert_string_equal(spanrec_verdict_name(SPANREC_BAD_FIELD), "bad_field");
	assert_string_equal(spanrec_verdict_name(SPANREC_VERDICT__COUNT), "unknown");
	assert_null(spanrec_op_name(SPANREC_OP_NONE));
	assert_string_equal(spanrec_op_name(SPANREC_OP_CHAT), "chat");
	assert_string_equal(spanrec_op_name(SPANREC_OP_TEXT_COMPLETION), "text_completion");
	assert_string_equal(spanrec_op_name(SPANREC_OP_EMBEDDINGS), "embeddings");
	assert_string_equal(spanrec_op_name(SPANREC_OP_EXECUTE_TOOL), "execute_tool");
	assert_string_equal(spanrec_op_name(SPANREC_OP_MODELS), "models");
	assert_null(spanrec_op_name(SPANREC_OP__COUNT));
}

static void good_record(struct spanrec *r)
{
	spanrec_init(r, SPANREC_KIND_SERVER);
	r->status = SPANREC_STATUS_OK;
	r->op = SPANREC_OP_CHAT;
	r->flags = SPANREC_F_HAS_USAGE | SPANREC_F_STREAM;
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 8; i++)
		r->span_id[i] = (uint8_t)(0xa0 + i);
	r->start_ns = 1700000000000000000ull;
	r->end_ns = r->start_ns + 12345678;
	r->input_tokens = 12;
	r->output_tokens = 34;
	r->http_status = 200;
	SPANREC_SET(r, name, "chat gpt-4o");
	SPANREC_SET(r, request_model, "gpt-4o");
	SPANREC_SET(r, provider, "openai");
	SPANREC_SET(r, team, "search");
	spanrec_add_meta(r, "feature", "autocomplete");
}

static void test_init(void **state)
{
	(void)state;
	struct spanrec r;
	memset(&r, 0xee, sizeof(r));
	spanrec_init(&r, SPANREC_KIND_CLIENT);
	assert_int_equal(r.magic, SPANREC_MAGIC);
	assert_int_equal(r.version, SPANREC_VERSION);
	assert_int_equal(r.size, SPANREC_SIZE);
	assert_int_equal(r.kind, SPANREC_KIND_CLIENT);
	assert_int_equal(r.flags, 0);
	assert_string_equal(r.name, "");
	assert_string_equal(r.meta[3].value, "");
}

static void test_set_str(void **state)
{
	(void)state;
	struct spanrec r;
	spanrec_init(&r, SPANREC_KIND_SERVER);
	SPANREC_SET(&r, provider, "anthropic");
	assert_string_equal(r.provider, "anthropic");
	assert_int_equal(r.trunc_mask, 0);
	assert_int_equal(r.flags & SPANREC_F_TRUNCATED, 0);

	SPANREC_SETN(&r, team, "platform-team-xyz", 8);
	assert_string_equal(r.team, "platform");
	SPANREC_SETN(&r, team, "ab\0cd", 5); /* stops at an embedded NUL */
	assert_string_equal(r.team, "ab");
	assert_int_equal(r.trunc_mask, 0);
	SPANREC_SET(&r, team, NULL);
	assert_string_equal(r.team, "");

	/* Exactly cap - 1 bytes fits. */
	char fit[24];
	memset(fit, 'p', 23);
	fit[23] = '\0';
	SPANREC_SET(&r, provider, fit);
	assert_string_equal(r.provider, fit);
	assert_int_equal(r.trunc_mask, 0);
}

static void test_set_str_truncates_at_utf8_boundary(void **state)
{
	(void)state;
	struct spanrec r;
	spanrec_init(&r, SPANREC_KIND_SERVER);
	/* provider is 24 bytes: 22 ASCII + "é" (2 bytes) needs 25 with the NUL. */
	char s[64] = "aaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zz";
	SPANREC_SET(&r, provider, s);
	assert_int_equal(strlen(r.provider), 22);
	assert_memory_equal(r.provider, s, 22);
	assert_int_equal(r.trunc_mask, 1u << 3); /* provider is string field 3 */
	assert_true(r.flags & SPANREC_F_TRUNCATED);

	/* A 4-byte character straddling the end is dropped whole. */
	memcpy(s, "aaaaaaaaaaaaaaaaaaaaa\xf0\x9f\x98\x80", 26);
	SPANREC_SET(&r, provider, s);
	assert_int_equal(strlen(r.provider), 21);

	/* A 3-byte character that ends exactly at cap - 1 is kept. */
	memcpy(s,
	       "aaaaaaaaaaaaaaaaaaaa\xe2\x82\xac"
	       "b",
	       25);
	SPANREC_SET(&r, provider, s);
	assert_int_equal(strlen(r.provider), 23);
	assert_memory_equal(r.provider + 20, "\xe2\x82\xac", 3);

	/* Invalid UTF-8 (only continuation bytes) is cut at the field, not emptied. */
	memset(s, 0x80, 40);
	s[40] = '\0';
	SPANREC_SET(&r, provider, s);
	assert_int_equal(strlen(r.provider), 23);

	/* Another field's truncation adds its bit; a fitting re-set clears it. */
	char longname[200];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	SPANREC_SET(&r, name, longname);
	assert_int_equal(strlen(r.name), 63);
	assert_int_equal(r.trunc_mask, (1u << 0) | (1u << 3));
	SPANREC_SET(&r, provider, "openai");
	assert_int_equal(r.trunc_mask, 1u << 0);
	assert_true(r.flags & SPANREC_F_TRUNCATED);
	SPANREC_SET(&r, name, "short");
	assert_int_equal(r.trunc_mask, 0);
	assert_false(r.flags & SPANREC_F_TRUNCATED);
	/* The tail is zeroed: no stale bytes after the NUL. */
	for (size_t i = strlen(r.name); i < sizeof(r.name); i++)
		assert_int_equal(r.name[i], 0);
}

static void test_meta(void **state)
{
	(void)state;
	struct spanrec r;
	spanrec_init(&r, SPANREC_KIND_SERVER);
	assert_int_equal(spanrec_add_meta(&r, "", "x"), -1);
	assert_int_equal(spanrec_add_meta(&r, NULL, "x"), -1);
	assert_false(r.flags & SPANREC_F_META_FULL);
	assert_int_equal(spanrec_add_meta(&r, "a", "1"), 0);
	assert_int_equal(spanrec_add_meta(&r, "a-very-long-meta-key", "2"), 0);
	assert_int_equal(spanrec_add_meta(&r, "c", NULL), 0);
	char longval[100];
	memset(longval, 'v', 99);
	longval[99] = '\0';
	assert_int_equal(spanrec_add_meta(&r, "d", longval), 0);
	assert_string_equal(r.meta[0].key, "a");
	assert_string_equal(r.meta[0].value, "1");
	assert_string_equal(r.meta[1].key, "a-very-long-met");
	assert_string_equal(r.meta[2].value, "");
	assert_int_equal(strlen(r.meta[3].value), 39);
	assert_int_equal(r.trunc_mask, (1u << (15 + 2)) | (1u << (15 + 7)));
	assert_false(r.flags & SPANREC_F_META_FULL);
	assert_int_equal(spanrec_add_meta(&r, "e", "5"), -1);
	assert_true(r.flags & SPANREC_F_META_FULL);
	assert_true(r.flags & SPANREC_F_TRUNCATED);
}

static void test_validate_good(void **state)
{
	(void)state;
	struct spanrec r, out;
	struct err err = {0};
	good_record(&r);
	/* Copy into an unaligned buffer: validate must not assume alignment. */
	uint8_t *raw = malloc(sizeof(r) + 1);
	assert_non_null(raw);
	memcpy(raw + 1, &r, sizeof(r));
	assert_int_equal(spanrec_validate(raw + 1, sizeof(r), &out, &err), SPANREC_OK);
	assert_memory_equal(&out, &r, sizeof(r));
	assert_string_equal(out.meta[0].value, "autocomplete");
	free(raw);

	/* Every enum value at its upper edge and every known flag are fine. */
	r.kind = SPANREC_KIND_CLIENT;
	r.status = SPANREC_STATUS_ERROR;
	r.op = SPANREC_OP__COUNT - 1;
	r.flags = SPANREC_F__ALL;
	assert_int_equal(spanrec_validate(&r, sizeof(r), &out, &err), SPANREC_OK);
	/* A root span has an all-zero parent: valid. */
	assert_true(out.parent_span_id[0] == 0);
}

/* A version 1 record (the previous version) is accepted and upgraded: v2 fields zero. */
static void test_validate_v1(void **state)
{
	(void)state;
	struct spanrec r, out;
	struct err err = {0};
	good_record(&r);
	SPANREC_SET(&r, guardrails, "pii-email");
	uint8_t v1[SPANREC_V1_SIZE];
	memcpy(v1, &r, sizeof(v1));
	uint16_t version = 1, size = SPANREC_V1_SIZE;
	memcpy(v1 + 4, &version, 2);
	memcpy(v1 + 6, &size, 2);
	assert_int_equal(spanrec_frame_len(v1, sizeof(v1)), SPANREC_V1_SIZE);
	assert_int_equal(spanrec_validate(v1, sizeof(v1), &out, &err), SPANREC_OK);
	assert_memory_equal(&out.trace_id, &r.trace_id, sizeof(r.trace_id));
	assert_string_equal(out.name, r.name);
	assert_string_equal(out.meta[0].value, "autocomplete");
	assert_string_equal(out.guardrails, ""); /* not in version 1 */
	assert_int_equal(out.version, SPANREC_VERSION);
	/* a v1 record with the v2 size, or a v2 record cut to v1's size, is bad_size */
	assert_int_equal(spanrec_validate(v1, sizeof(v1) - 1, &out, &err), SPANREC_BAD_SIZE);
	good_record(&r);
	assert_int_equal(spanrec_validate(&r, SPANREC_V1_SIZE, &out, &err), SPANREC_BAD_SIZE);
	/* a message mixing versions frames each by its own header */
	uint8_t *msg = malloc(SPANREC_V1_SIZE + sizeof(r));
	assert_non_null(msg);
	memcpy(msg, v1, SPANREC_V1_SIZE);
	memcpy(msg + SPANREC_V1_SIZE, &r, sizeof(r));
	assert_int_equal(spanrec_frame_len(msg, SPANREC_V1_SIZE + sizeof(r)), SPANREC_V1_SIZE);
	assert_int_equal(spanrec_frame_len(msg + SPANREC_V1_SIZE, sizeof(r)), sizeof(r));
	free(msg);
}

struct bad_case {
	const char *why;
	size_t len; /* 0 = sizeof(struct spanrec) unless len0 */
	int len0;
	void (*mutate)(struct spanrec *r);
	enum spanrec_verdict want;
	const char *msg_has;
};

static void m_none(struct spanrec *r)
{
	(void)r;
}
static void m_magic(struct spanrec *r)
{
	r->magic = 0x12345678;
}
static void m_ver0(struct spanrec *r)
{
	r->version = 0;
}
static void m_ver2(struct spanrec *r)
{
	r->version = SPANREC_VERSION + 1;
}
static void m_verffff(struct spanrec *r)
{
	r->version = 0xffff;
}
static void m_size(struct spanrec *r)
{
	r->size = 1023;
}
static void m_size0(struct spanrec *r)
{
	r->size = 0;
}
static void m_name(struct spanrec *r)
{
	memset(r->name, 'x', sizeof(r->name));
}
static void m_team(struct spanrec *r)
{
	memset(r->team, 'x', sizeof(r->team));
}
static void m_response_id(struct spanrec *r)
{
	memset(r->response_id, 'x', sizeof(r->response_id));
}
static void m_tenant(struct spanrec *r)
{
	memset(r->tenant_id, 'x', sizeof(r->tenant_id));
}
static void m_meta_key(struct spanrec *r)
{
	memset(r->meta[2].key, 'k', sizeof(r->meta[2].key));
}
static void m_meta_value(struct spanrec *r)
{
	memset(r->meta[3].value, 'v', sizeof(r->meta[3].value));
}
static void m_kind(struct spanrec *r)
{
	r->kind = 4;
}
static void m_status(struct spanrec *r)
{
	r->status = 3;
}
static void m_op(struct spanrec *r)
{
	r->op = SPANREC_OP__COUNT;
}
static void m_flags(struct spanrec *r)
{
	r->flags |= SPANREC_F__ALL + 1; /* the first bit past the known ones */
}
static void m_flags_high(struct spanrec *r)
{
	r->flags = 0x80000000u;
}
static void m_trunc_mask(struct spanrec *r)
{
	r->trunc_mask = 1u << 31;
}
static void m_trace(struct spanrec *r)
{
	memset(r->trace_id, 0, sizeof(r->trace_id));
}
static void m_span(struct spanrec *r)
{
	memset(r->span_id, 0, sizeof(r->span_id));
}

static const struct bad_case bad_cases[] = {
    {"len 0", 0, 1, m_none, SPANREC_BAD_SIZE, "too short"},
    {"len 7", 7, 0, m_none, SPANREC_BAD_SIZE, "too short"},
    {"len 8 (header only)", 8, 0, m_none, SPANREC_BAD_SIZE, "8 bytes"},
    {"len 1023", 1023, 0, m_none, SPANREC_BAD_SIZE, "1023 bytes"},
    {"len 1025", 1025, 0, m_none, SPANREC_BAD_SIZE, "1025 bytes"},
    {"bad magic", 0, 0, m_magic, SPANREC_BAD_MAGIC, "magic"},
    {"version 0", 0, 0, m_ver0, SPANREC_BAD_VERSION, "version 0"},
    {"next version", 0, 0, m_ver2, SPANREC_BAD_VERSION, "version 3"},
    {"version 0xffff", 0, 0, m_verffff, SPANREC_BAD_VERSION, "version 65535"},
    {"size field 1023", 0, 0, m_size, SPANREC_BAD_SIZE, "field size is 1023"},
    {"size field 0", 0, 0, m_size0, SPANREC_BAD_SIZE, "field size is 0"},
    {"name unterminated", 0, 0, m_name, SPANREC_BAD_STRING, "field name has no NUL terminator"},
    {"team unterminated", 0, 0, m_team, SPANREC_BAD_STRING, "field team has no NUL terminator"},
    {"tenant unterminated", 0, 0, m_tenant, SPANREC_BAD_STRING, "field tenant_id has no NUL"},
    {"response_id unterminated", 0, 0, m_response_id, SPANREC_BAD_STRING, "field response_id has no NUL"},
    {"meta key unterminated", 0, 0, m_meta_key, SPANREC_BAD_STRING, "field meta[2].key has no NUL"},
    {"meta value unterminated", 0, 0, m_meta_value, SPANREC_BAD_STRING, "field meta[3].value has no NUL"},
    {"kind 4", 0, 0, m_kind, SPANREC_BAD_FIELD, "field kind"},
    {"status 3", 0, 0, m_status, SPANREC_BAD_FIELD, "field status"},
    {"op out of range", 0, 0, m_op, SPANREC_BAD_FIELD, "field op"},
    {"unknown flag bit", 0, 0, m_flags, SPANREC_BAD_FIELD, "field flags"},
    {"high flag bit", 0, 0, m_flags_high, SPANREC_BAD_FIELD, "field flags"},
    {"unknown trunc_mask bit", 0, 0, m_trunc_mask, SPANREC_BAD_FIELD, "field trunc_mask"},
    {"zero trace id", 0, 0, m_trace, SPANREC_BAD_FIELD, "field trace_id"},
    {"zero span id", 0, 0, m_span, SPANREC_BAD_FIELD, "field span_id"},
};

static void test_validate_bad(void **state)
{
	(void)state;
	/* Room for len 1025 with a good record at the front. */
	uint8_t *raw = calloc(1, sizeof(struct spanrec) + 8);
	assert_non_null(raw);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct spanrec r, out;
		struct err err = {0};
		good_record(&r);
		c->mutate(&r);
		memcpy(raw, &r, sizeof(r));
		size_t len = c->len0 ? 0 : c->len != 0 ? c->len : sizeof(r);
		enum spanrec_verdict v = spanrec_validate(raw, len, &out, &err);
		if (v != c->want)
			fail_msg("case %s: verdict %s, want %s (%s)", c->why, spanrec_verdict_name(v),
				 spanrec_verdict_name(c->want), err.msg);
		if (strstr(err.msg, c->msg_has) == NULL)
			fail_msg("case %s: message \"%s\" lacks \"%s\"", c->why, err.msg, c->msg_has);
		assert_int_not_equal(err.code, 0);
	}
	free(raw);
	struct err err = {0};
	struct spanrec out;
	assert_int_equal(spanrec_validate(NULL, 1024, &out, &err), SPANREC_BAD_SIZE);
}

/* Framing of a message carrying several records: a length only for a whole, known record. */
static void test_frame_len(void **state)
{
	(void)state;
	const size_t rs = sizeof(struct spanrec);
	uint8_t *msg = calloc(3, rs);
	assert_non_null(msg);
	struct spanrec r;
	good_record(&r);
	memcpy(msg, &r, rs);
	memcpy(msg + rs, &r, rs);
	assert_int_equal(spanrec_frame_len(msg, 2 * rs), rs);
	assert_int_equal(spanrec_frame_len(msg, rs), rs);
	assert_int_equal(spanrec_frame_len(msg + rs, rs), rs);
	assert_int_equal(spanrec_frame_len(msg, rs - 1), 0); /* short tail */
	assert_int_equal(spanrec_frame_len(msg, 7), 0);	     /* not even a header */
	assert_int_equal(spanrec_frame_len(NULL, 2 * rs), 0);
	assert_int_equal(spanrec_frame_len(msg + 2 * rs, rs), 0); /* zeroes: bad magic */
	r.size = (uint16_t)(rs / 2);
	memcpy(msg, &r, rs);
	assert_int_equal(spanrec_frame_len(msg, 2 * rs), 0); /* declared size is not the version's */
	good_record(&r);
	r.version = SPANREC_VERSION + 1;
	memcpy(msg, &r, rs);
	assert_int_equal(spanrec_frame_len(msg, 2 * rs), 0); /* unknown version */
	/* A framed record whose fields are bad still frames: validation judges it alone. */
	good_record(&r);
	memset(r.trace_id, 0, sizeof(r.trace_id));
	memcpy(msg, &r, rs);
	assert_int_equal(spanrec_frame_len(msg, 2 * rs), rs);
	free(msg);
}

static void test_garbage_never_crashes(void **state)
{
	(void)state;
	struct spanrec out;
	struct err err;
	uint8_t junk[SPANREC_SIZE + 76]; /* room for a whole record and a tail */
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[i] = (uint8_t)x;
		}
		if (round % 2 == 0) { /* plausible header so deeper checks run */
			struct spanrec r;
			good_record(&r);
			memcpy(junk, &r, 8);
		}
		size_t len = round % 3 == 0 ? sizeof(struct spanrec) : (size_t)(x % sizeof(junk));
		enum spanrec_verdict v = spanrec_validate(junk, len, &out, &err);
		assert_true(v >= SPANREC_OK && v < SPANREC_VERDICT__COUNT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_set_str),
	    cmocka_unit_test(test_set_str_truncates_at_utf8_boundary),
	    cmocka_unit_test(test_meta),
	    cmocka_unit_test(test_validate_good),
	    cmocka_unit_test(test_validate_bad),
	    cmocka_unit_test(test_validate_v1),
	    cmocka_unit_test(test_frame_len),
	    cmocka_unit_test(test_garbage_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
