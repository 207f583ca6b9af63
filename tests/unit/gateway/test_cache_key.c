/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/cache_key: the canonical text itself, what the
 * normalisation makes equal (key order, spacing, escapes, 1 vs 1.0, 0.7 vs
 * 0.70, members that never change the answer), what must stay apart
 * (tenants, keys and anonymous callers, endpoints, stream shapes,
 * guardrail sets, any parameter that changes the output), the determinism
 * rule and which answers may be stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/cache_key.h"

static const struct cache_key_in base = {.tenant = "acme", .endpoint = "/v1/chat/completions"};

static void key_for(const struct cache_key_in *in, const char *body, uint8_t out[CACHE_KEY_LEN])
{
	assert_int_equal(cache_key_compute(in, body, strlen(body), out), 0);
}

static bool same(const struct cache_key_in *a, const char *x, const struct cache_key_in *b, const char *y)
{
	uint8_t k1[CACHE_KEY_LEN], k2[CACHE_KEY_LEN];
	key_for(a, x, k1);
	key_for(b, y, k2);
	return memcmp(k1, k2, CACHE_KEY_LEN) == 0;
}

static void test_canonical_text(void **state)
{
	(void)state;
	static const uint8_t fps[1][8] = {{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}};
	struct cache_key_in in = base;
	in.fps = fps;
	in.nfps = 1;
	in.stream = true;
	const char *body = "{ \"temperature\": 0.0, \"model\": \"m\", \"user\": \"u\", \"stream\": true,"
			   "\"messages\": [{\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"q\\\"\\n\\u0001\"}],"
			   "\"logit_bias\": {\"50\": -100.0, \"12\": 1.5, \"50\": -99}, \"max_tokens\": 1e2 }";
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(cache_key_canonical(&in, body, strlen(body), &out), 0);
	assert_string_equal(out.data,
			    "[\"llmgw-cache/1\",{\"tenant\":\"acme\"},\"/v1/chat/completions\","
			    "[\"deadbeef00010203\"],true,false,"
			    "{\"logit_bias\":{\"12\":1.5,\"50\":-99},\"max_tokens\":100,"
			    "\"messages\":[{\"content\":\"caf\xc3\xa9 \\\"q\\\"\\n\\u0001\",\"role\":\"user\"}],"
			    "\"model\":\"m\",\"temperature\":0}]");
	/* jansson's sorted compact dump of the same request (numbers aside) is the same text */
	json_t *root = json_loads(body, 0, NULL);
	char *dump = json_dumps(json_object_get(root, "messages"), JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(strstr(out.data, dump));
	free(dump);
	json_decref(root);
	buf_fini(&out);
	assert_int_equal(cache_key_canonical(&in, "{", 1, &out), -1); /* not JSON */
}

static void test_normalisation(void **state)
{
	(void)state;
	const char *a =
	    "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}],"
	    "\"top_p\":0.7}";
	const char *b = "{ \"messages\" : [ {\"content\":\"h\xc3\xa9\", \"role\":\"user\"} ], \"top_p\": 0.70, "
			"\"temperature\": 0.0, \"model\": \"m\", \"user\": \"bob\", \"metadata\": {\"a\":\"b\"}, "
			"\"store\": true, \"stream\": false, \"stream_options\": null, \"prompt_cache_key\": \"k\", "
			"\"safety_identifier\": \"s\"}";
	assert_true(same(&base, a, &base, b));
	/* escaped keys, duplicates (the last wins), nesting */
	assert_true(same(&base,
			 "{\"a\":{\"\\u0062\":1,\"c\":{\"\\u0064\":2,\"\\u0064\":3,\"e\":[{\"\\u0066\":1}]}},"
			 "\"\\u0067\":{\"x\":1},\"\\u0075ser\":\"dropped\"}",
			 &base, "{\"g\":{\"x\":1},\"a\":{\"c\":{\"e\":[{\"f\":1}],\"d\":3},\"b\":1}}"));
	assert_false(same(&base, "{\"a\":{\"d\":2,\"d\":3}}", &base, "{\"a\":{\"d\":2}}"));
	/* what changes the answer changes the key */
	assert_false(same(&base, a, &base,
			  "{\"model\":\"m2\",\"temperature\":0,\"messages\":[{\"role\":\"user\","
			  "\"content\":\"h\\u00e9\"}],\"top_p\":0.7}"));
	assert_false(same(&base, a, &base,
			  "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\","
			  "\"content\":\"h\\u00e8\"}],\"top_p\":0.7}"));
	const char *params[] = {"\"seed\":1",
				"\"max_tokens\":5",
				"\"stop\":[\"x\"]",
				"\"tools\":[]",
				"\"n\":1",
				"\"logprobs\":true",
				"\"response_format\":{\"type\":\"json_object\"}",
				"\"unknown\":0",
				"\"tool_choice\":\"none\""};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char with[512];
		snprintf(with, sizeof(with), "{%s,%s", params[i], a + 1);
		assert_false(same(&base, a, &base, with));
	}
}

static void test_scopes_and_shapes(void **state)
{
	(void)state;
	const char *b = "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	struct cache_key_in other = base, keyscope = base, anon = base, ep = base, st = base, su = base, rules = base;
	other.tenant = "globex";
	keyscope.tenant = NULL;
	keyscope.key_name = "acme";
	anon.tenant = NULL;
	ep.endpoint = "/v1/completions";
	st.stream = true;
	su.stream = true;
	su.include_usage = true;
	static const uint8_t fps[1][8] = {{1}};
	rules.fps = fps;
	rules.nfps = 1;
	const struct cache_key_in *all[] = {&base, &other, &keyscope, &anon, &ep, &st, &su, &rules};
	for (size_t i = 0; i < 8; i++)
		for (size_t j = 0; j < 8; j++)
			assert_int_equal(same(all[i], b, all[j], b), i == j);
	/* an empty tenant is no tenant */
	struct cache_key_in empty = keyscope;
	empty.tenant = "";
	assert_true(same(&empty, b, &keyscope, b));
}

static void test_deterministic(void **state)
{
	(void)state;
#define DET(s) cache_key_deterministic(s, strlen(s))
	assert_true(DET("{\"temperature\":0}"));
	assert_true(DET("{\"temperature\":0.0,\"n\":1}"));
	assert_true(DET("{\"temperature\":0,\"n\":null}"));
	assert_false(DET("{}"));
	assert_false(DET("{\"temperature\":0.2}"));
	assert_false(DET("{\"temperature\":\"0\"}"));
	assert_false(DET("{\"temperature\":0,\"n\":2}"));
	assert_false(DET("[0]"));
#undef DET
}

static void test_answer_ok(void **state)
{
	(void)state;
#define OK(s, e) cache_key_answer_ok(s, strlen(s), e)
	assert_true(OK("{\"choices\":[{\"finish_reason\":\"stop\"}]}", false));
	assert_true(OK("{\"choices\":[{\"finish_reason\":\"length\"},{\"finish_reason\":\"stop\"}]}", false));
	assert_false(OK("{\"choices\":[{\"finish_reason\":\"tool_calls\"}]}", false));
	assert_false(OK("{\"choices\":[{\"finish_reason\":\"content_filter\"}]}", false));
	assert_false(OK("{\"choices\":[{\"finish_reason\":null}]}", false));
	assert_false(OK("{\"choices\":[{\"finish_reason\":\"stop\"},{}]}", false));
	assert_false(OK("{\"choices\":[]}", false));
	assert_false(OK("{\"error\":{}}", false));
	assert_true(OK("{\"data\":[{\"embedding\":[0.1]}]}", true));
	assert_false(OK("{\"data\":{}}", true));
	assert_true(cache_key_finish_ok("stop"));
	assert_false(cache_key_finish_ok("error"));
	assert_false(cache_key_finish_ok(NULL));
#undef OK
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canonical_text),    cmocka_unit_test(test_normalisation),
	    cmocka_unit_test(test_scopes_and_shapes), cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_answer_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
