/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/httpx: method names for every libevent method and
 * the header recorder's lower-casing and joining of repeated headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>

#include "common/httpx.h"

static void test_method_name(void **state)
{
	(void)state;
	assert_string_equal(httpx_method_name(EVHTTP_REQ_GET), "GET");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_POST), "POST");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_HEAD), "HEAD");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_PUT), "PUT");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_DELETE), "DELETE");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_OPTIONS), "OPTIONS");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_TRACE), "TRACE");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_CONNECT), "CONNECT");
	assert_string_equal(httpx_method_name(EVHTTP_REQ_PATCH), "PATCH");
	assert_string_equal(httpx_method_name((enum evhttp_cmd_type)0), "OTHER");
}

static void test_headers_to_json(void **state)
{
	(void)state;
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	assert_int_equal(evhttp_add_header(&h, "Content-Type", "application/json"), 0);
	assert_int_equal(evhttp_add_header(&h, "X-Multi", "a"), 0);
	assert_int_equal(evhttp_add_header(&h, "x-multi", "b"), 0);
	assert_int_equal(evhttp_add_header(&h, "X-MULTI", ""), 0);
	json_t *j = httpx_headers_to_json(&h);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(j, "content-type")), "application/json");
	assert_string_equal(json_string_value(json_object_get(j, "x-multi")), "a, b, ");
	json_decref(j);
	evhttp_clear_headers(&h);
	j = httpx_headers_to_json(&h);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_method_name),
	    cmocka_unit_test(test_headers_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
