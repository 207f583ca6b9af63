/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/req_hdr: which headers are forwarded upstream,
 * which client request ids are kept, and caller metadata header parsing.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forwardable),
	    cmocka_unit_test(test_request_id),
	    cmocka_unit_test(test_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
