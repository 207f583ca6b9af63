/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/req_hdr: which headers are forwarded upstream,
 * which client request ids are kept, and caller metadata header parsing
 * (x-llmgw-meta-* and the x-llmgw-metadata JSON object, one case per
 * class of bad input, each checked for a reason that does not echo it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/req_hdr.h"

static void test_forwardable(void **state)
{
	(void)state;
	static const char *const blocked[] = {
	    "Authorization",
	    "authorization",
	    "Cookie",
	    "Host",
	    "Content-Length",
	    "Connection",
	    "Keep-Alive",
	    "Proxy-Authorization",
	    "Proxy-Connection",
	    "TE",
	    "Trailer",
	    "Transfer-Encoding",
	    "Upgrade",
	    "x-llmgw-meta-team",
	    "X-LLMGW-anything",
	    "traceparent",
	    "Accept-Encoding",
	    "x-api-key",
	    "api-key",
	    "x-request-id",
	    "Content-Type",
	    "Expect",
	    "",
	};
	static const char *const allowed[] = {
	    "User-Agent",     "Accept",		  "tracestate", "OpenAI-Organization",
	    "OpenAI-Project", "X-Stainless-Lang", "x-custom",	"Idempotency-Key",
	};
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (req_hdr_forwardable(blocked[i], NULL))
			fail_msg("%s must not be forwarded", blocked[i]);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (!req_hdr_forwardable(allowed[i], NULL))
			fail_msg("%s must be forwarded", allowed[i]);
	assert_false(req_hdr_forwardable(NULL, NULL));
	/* headers named in Connection are hop-by-hop */
	assert_false(req_hdr_forwardable("X-Hop", "keep-alive, x-hop"));
	assert_false(req_hdr_forwardable("x-hop", "X-HOP"));
	assert_true(req_hdr_forwardable("x-hopper", "keep-alive, x-hop"));
	assert_true(req_hdr_forwardable("x-custom", "close"));
}

static void test_request_id(void **state)
{
	(void)state;
	assert_true(req_hdr_request_id_ok("abc-123"));
	assert_true(req_hdr_request_id_ok("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_true(req_hdr_request_id_ok("req_1.2:3"));
	assert_false(req_hdr_request_id_ok(NULL));
	assert_false(req_hdr_request_id_ok(""));
	assert_false(req_hdr_request_id_ok("has space"));
	assert_false(req_hdr_request_id_ok("quote\""));
	assert_false(req_hdr_request_id_ok("new\nline"));
	assert_false(req_hdr_request_id_ok("caf\xc3\xa9"));
	char id[REQ_ID_MAX + 2];
	memset(id, 'a', REQ_ID_MAX);
	id[REQ_ID_MAX] = '\0';
	assert_true(req_hdr_request_id_ok(id));
	id[REQ_ID_MAX] = 'a';
	id[REQ_ID_MAX + 1] = '\0';
	assert_false(req_hdr_request_id_ok(id));
}

static void test_meta(void **state)
{
	(void)state;
	char key[16];
	assert_int_equal(req_hdr_meta_key("x-llmgw-meta-feature", key, sizeof(key)), 1);
	assert_string_equal(key, "feature");
	assert_int_equal(req_hdr_meta_key("X-LLMGW-Meta-Cost_Center.2", key, sizeof(key)), 1);
	assert_string_equal(key, "cost_center.2");
	assert_int_equal(req_hdr_meta_key("x-llmgw-meta-", key, sizeof(key)), -1);
	assert_int_equal(req_hdr_meta_key("x-llmgw-meta-a b", key, sizeof(key)), -1);
	assert_int_equal(req_hdr_meta_key("x-llmgw-meta-0123456789abcdef", key, sizeof(key)), -1); /* too long */
	assert_int_equal(req_hdr_meta_key("x-llmgw-metadata", key, sizeof(key)), 0);
	assert_int_equal(req_hdr_meta_key("x-other", key, sizeof(key)), 0);
	assert_int_equal(req_hdr_meta_key(NULL, key, sizeof(key)), 0);
	assert_true(req_hdr_meta_value_ok("search v2 (beta)"));
	assert_true(req_hdr_meta_value_ok(""));
	assert_false(req_hdr_meta_value_ok("tab\there"));
	assert_false(req_hdr_meta_value_ok("caf\xc3\xa9"));
	assert_false(req_hdr_meta_value_ok(NULL));
}

static void test_metadata_good(void **state)
{
	(void)state;
	struct req_meta m;
	char why[256];
	assert_int_equal(req_hdr_metadata_parse("{\"feature\":\"search\",\"run\":\"42\"}", &m, why, sizeof(why)), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.pair[0].key, "feature");
	assert_string_equal(m.pair[0].value, "search");
	assert_string_equal(m.pair[1].key, "run");
	assert_string_equal(m.pair[1].value, "42");

	/* numbers and booleans are kept as their JSON text, in header order */
	assert_int_equal(
	    req_hdr_metadata_parse(" { \"n\" : 42 , \"neg\":-7, \"r\":0.5, \"ok\":true } ", &m, why, sizeof(why)), 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.pair[0].key, "n");
	assert_string_equal(m.pair[0].value, "42");
	assert_string_equal(m.pair[1].value, "-7");
	assert_string_equal(m.pair[2].value, "0.5");
	assert_string_equal(m.pair[3].key, "ok");
	assert_string_equal(m.pair[3].value, "true");
	assert_int_equal(
	    req_hdr_metadata_parse("{\"f\":false,\"big\":9223372036854775807,\"e\":1e300}", &m, why, sizeof(why)), 0);
	assert_string_equal(m.pair[0].value, "false");
	assert_string_equal(m.pair[1].value, "9223372036854775807");
	assert_string_equal(m.pair[2].value, "1e+300");

	/* limits exactly: 15-character key, 39-byte value, empty value, empty object */
	assert_int_equal(req_hdr_metadata_parse("{\"abcdefghij.-_45\":\"123456789012345678901234567890123456789\"}", &m,
						why, sizeof(why)),
			 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.pair[0].key, "abcdefghij.-_45");
	assert_int_equal(strlen(m.pair[0].value), REQ_META_VALUE_MAX - 1);
	assert_int_equal(req_hdr_metadata_parse("{\"empty\":\"\"}", &m, why, sizeof(why)), 0);
	assert_string_equal(m.pair[0].value, "");
	assert_int_equal(req_hdr_metadata_parse("{}", &m, why, sizeof(why)), 0);
	assert_int_equal(m.n, 0);

	/* tenancy-looking keys are plain metadata (tenancy comes from the key only) */
	assert_int_equal(req_hdr_metadata_parse("{\"tenant_id\":\"x\",\"team\":\"y\",\"user\":\"z\",\"key\":\"k\"}", &m,
						why, sizeof(why)),
			 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.pair[0].key, "tenant_id");

	/* escapes that decode to printable ASCII are fine */
	assert_int_equal(req_hdr_metadata_parse("{\"q\":\"a\\\"b\\u0041\"}", &m, why, sizeof(why)), 0);
	assert_string_equal(m.pair[0].value, "a\"bA");

	/* exactly 1024 bytes (padding with JSON whitespace) */
	char big[REQ_META_HEADER_MAX + 2];
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"a\":\"b\"}", 9);
	big[REQ_META_HEADER_MAX] = '\0';
	assert_int_equal(req_hdr_metadata_parse(big, &m, why, sizeof(why)), 0);
	big[REQ_META_HEADER_MAX] = ' ';
	big[REQ_META_HEADER_MAX + 1] = '\0';
	assert_int_equal(req_hdr_metadata_parse(big, &m, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "1024"));
}

struct meta_bad {
	const char *value;
	const char *why; /* substring of the reason */
};

static void test_metadata_bad(void **state)
{
	(void)state;
	static const struct meta_bad cases[] = {
	    {"", "not valid JSON"},
	    {"feature=search", "not valid JSON"},
	    {"{\"a\":\"b\"", "not valid JSON"},
	    {"{\"a\":\"b\"} trailing", "not valid JSON"},
	    {"{'a':'b'}", "not valid JSON"},
	    {"[\"a\",\"b\"]", "must be a JSON object"},
	    {"[]", "must be a JSON object"},
	    {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}", "at most 4 keys"},
	    {"{\"Feature\":\"x\"}", "key 'Feature' must be 1-15 characters"},
	    {"{\"a b\":\"x\"}", "key 'a?b'"},
	    {"{\"\":\"x\"}", "key ''"},
	    {"{\"abcdefghijklmnop\":\"x\"}", "key 'abcdefghijklmno...'"},
	    {"{\"caf\xc3\xa9\":\"x\"}", "key 'caf\?\?'"},
	    {"{\"k\":\"1234567890123456789012345678901234567890\"}", "value of 'k' is longer than 39 bytes"},
	    {"{\"k\":{\"nested\":\"x\"}}", "value of 'k' must be a string, number or boolean"},
	    {"{\"k\":[\"x\"]}", "value of 'k' must be a string, number or boolean"},
	    {"{\"k\":null}", "value of 'k' must be a string, number or boolean"},
	    {"{\"k\":\"a\",\"k\":\"b\"}", "duplicate key"},
	    {"{\"k\":\"caf\xc3\"}", "invalid UTF-8"},
	    {"{\"k\":\"\xff\"}", "invalid UTF-8"},
	    {"{\"k\":\"a\\u0000b\"}", "\\u0000 is not allowed"},
	    {"{\"a\\u0000b\":\"x\"}", "\\u0000 is not allowed"},
	    {"{\"k\":\"tab\\there\"}", "value of 'k' must be printable ASCII"},
	    {"{\"k\":\"caf\xc3\xa9\"}", "value of 'k' must be printable ASCII"},
	    {"{\"k\":\"\\u00e9\"}", "value of 'k' must be printable ASCII"},
	    {"{\"k\":99999999999999999999999}", "number out of range"},
	    {"{\"k\":\"x\"}{\"l\":\"y\"}", "not valid JSON"},
	    {"\"just a string\"", "not valid JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req_meta m;
		char why[256];
		memset(&m, 0x5a, sizeof(m));
		if (req_hdr_metadata_parse(cases[i].value, &m, why, sizeof(why)) != -1)
			fail_msg("case %zu accepted: %s", i, cases[i].value);
		if (m.n != 0)
			fail_msg("case %zu: n = %u after a refusal", i, m.n);
		if (strncmp(why, "x-llmgw-metadata: ", 18) != 0 || strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu (%s): reason '%s' lacks '%s'", i, cases[i].value, why, cases[i].why);
		/* the reason never carries a value back */
		if (strstr(cases[i].value, "1234567890123456789") != NULL && strstr(why, "1234567890123456789") != NULL)
			fail_msg("case %zu: value echoed: %s", i, why);
		for (size_t j = 0; why[j] != '\0'; j++)
			if ((unsigned char)why[j] < 0x20 || (unsigned char)why[j] > 0x7e)
				fail_msg("case %zu: non-printable byte in reason", i);
	}
	/* a value is never echoed, even a short one */
	struct req_meta m;
	char why[256];
	assert_int_equal(req_hdr_metadata_parse("{\"k\":\"secret-ish\",\"k\":\"other\"}", &m, why, sizeof(why)), -1);
	assert_null(strstr(why, "secret-ish"));
	assert_int_equal(req_hdr_metadata_parse("{\"k\":{\"secret-ish\":1}}", &m, why, sizeof(why)), -1);
	assert_null(strstr(why, "secret-ish"));
	assert_int_equal(req_hdr_metadata_parse("{\"k\":\"secret-ish\",\"A\":1}", &m, why, sizeof(why)), -1);
	assert_null(strstr(why, "secret-ish"));
	/* too big: refused before parsing */
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	assert_int_equal(req_hdr_metadata_parse(big, &m, why, sizeof(why)), -1);
	assert_string_equal(why, "x-llmgw-metadata: longer than 1024 bytes");
	assert_int_equal(req_hdr_metadata_parse(NULL, &m, why, sizeof(why)), -1);
	/* a short or absent why buffer is fine */
	char tiny[8];
	assert_int_equal(req_hdr_metadata_parse("nope", &m, tiny, sizeof(tiny)), -1);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(req_hdr_metadata_parse("nope", &m, NULL, 0), -1);
	assert_int_equal(req_hdr_metadata_parse("{\"a\":1}", &m, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forwardable),	  cmocka_unit_test(test_request_id),   cmocka_unit_test(test_meta),
	    cmocka_unit_test(test_metadata_good), cmocka_unit_test(test_metadata_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
