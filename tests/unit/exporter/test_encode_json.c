/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encode_json: parse the output back with jansson and check the OTLP/JSON
 * rules: lowerCamelCase keys, hex ids, enums as integers, 64-bit integers
 * as decimal strings, and the same grouping as the protobuf encoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "exporter/encode_json.h"
#include "exporter/encode_otlp.h"
#include "tests/unit/exporter/ex_fixtures.h"

static json_t *encode_parse(const struct spanrec *recs, size_t n)
{
	struct enrich *e = enrich_new(NULL, "svc", NULL, NULL, NULL);
	struct buf out;
	struct err err;
	json_error_t je;
	buf_init(&out, 1u << 20);
	assert_int_equal(encode_json(e, recs, n, &out, &err), 0);
	assert_null(memchr(out.data, '\n', out.len)); /* one line per batch */
	json_t *root = json_loadb(out.data, out.len, 0, &je);
	if (root == NULL)
		fail_msg("invalid JSON: %s", je.text);
	buf_fini(&out);
	enrich_free(e);
	return root;
}

static json_t *attr_value(json_t *attrs, const char *key)
{
	size_t i;
	json_t *kv;
	json_array_foreach(attrs, i, kv)
	{
		if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
			return json_object_get(kv, "value");
	}
	return NULL;
}

static void test_span_fields(void **state)
{
	(void)state;
	struct spanrec r;
	fx_record(&r, SPANREC_KIND_CLIENT, 0xe0, "acme", "search");
	r.flags |= SPANREC_F_HAS_COST | SPANREC_F_STREAM;
	r.cost_micro_usd = 1500;
	SPANREC_SET(&r, finish_reason, "length");
	json_t *root = encode_parse(&r, 1);
	json_t *rs = json_array_get(json_object_get(root, "resourceSpans"), 0);
	assert_non_null(rs);
	json_t *res_attrs = json_object_get(json_object_get(rs, "resource"), "attributes");
	assert_string_equal(json_string_value(json_object_get(attr_value(res_attrs, "service.name"), "stringValue")),
			    "svc");
	assert_string_equal(json_string_value(json_object_get(attr_value(res_attrs, "tenant_id"), "stringValue")),
			    "acme");
	json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
	json_t *scope = json_object_get(ss, "scope");
	assert_string_equal(json_string_value(json_object_get(scope, "name")), "llmgw");
	json_t *span = json_array_get(json_object_get(ss, "spans"), 0);

	assert_string_equal(json_string_value(json_object_get(span, "traceId")), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_string_equal(json_string_value(json_object_get(span, "spanId")), "e1e2e3e4e5e6e7e8");
	assert_string_equal(json_string_value(json_object_get(span, "parentSpanId")), "1011121314151617");
	assert_true(json_is_integer(json_object_get(span, "kind")));
	assert_int_equal(json_integer_value(json_object_get(span, "kind")), 3);
	assert_int_equal(json_integer_value(json_object_get(span, "flags")), 0x101);
	assert_true(json_is_string(json_object_get(span, "startTimeUnixNano")));
	assert_string_equal(json_string_value(json_object_get(span, "startTimeUnixNano")), "1763000000000000224");
	assert_string_equal(json_string_value(json_object_get(span, "endTimeUnixNano")), "1763000000250000224");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(span, "status"), "code")), 1);
	assert_null(json_object_get(span, "trace_id")); /* never snake_case */

	json_t *attrs = json_object_get(span, "attributes");
	json_t *in = attr_value(attrs, "gen_ai.usage.input_tokens");
	assert_true(json_is_string(json_object_get(in, "intValue")));
	assert_string_equal(json_string_value(json_object_get(in, "intValue")), "12");
	json_t *cost = attr_value(attrs, "llmgw.cost_usd");
	assert_true(json_is_real(json_object_get(cost, "doubleValue")));
	assert_true(json_is_true(json_object_get(attr_value(attrs, "gen_ai.request.stream"), "boolValue")));
	json_t *fr = json_object_get(json_object_get(attr_value(attrs, "gen_ai.response.finish_reasons"), "arrayValue"),
				     "values");
	assert_int_equal(json_array_size(fr), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(fr, 0), "stringValue")), "length");
	json_decref(root);
}

static void test_error_and_root(void **state)
{
	(void)state;
	struct spanrec r;
	fx_record(&r, SPANREC_KIND_SERVER, 0x01, NULL, NULL);
	memset(r.parent_span_id, 0, sizeof(r.parent_span_id));
	r.status = SPANREC_STATUS_ERROR;
	SPANREC_SET(&r, error_type, "timeout");
	json_t *root = encode_parse(&r, 1);
	json_t *span = json_array_get(
	    json_object_get(
		json_array_get(json_object_get(json_array_get(json_object_get(root, "resourceSpans"), 0), "scopeSpans"),
			       0),
		"spans"),
	    0);
	assert_null(json_object_get(span, "parentSpanId"));
	json_t *st = json_object_get(span, "status");
	assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
	assert_string_equal(json_string_value(json_object_get(st, "message")), "timeout");
	json_decref(root);
}

static void test_grouping_and_empty(void **state)
{
	(void)state;
	struct spanrec recs[3];
	fx_record(&recs[0], SPANREC_KIND_SERVER, 0x00, "a", NULL);
	fx_record(&recs[1], SPANREC_KIND_SERVER, 0x10, "b", NULL);
	fx_record(&recs[2], SPANREC_KIND_CLIENT, 0x20, "a", NULL);
	json_t *root = encode_parse(recs, 3);
	assert_int_equal(json_array_size(json_object_get(root, "resourceSpans")), 2);
	json_decref(root);
	root = encode_parse(NULL, 0);
	assert_int_equal(json_array_size(json_object_get(root, "resourceSpans")), 0);
	json_decref(root);
}

int main(void)
{
	log_init("test_encode_json", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_span_fields),
	    cmocka_unit_test(test_error_and_root),
	    cmocka_unit_test(test_grouping_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
