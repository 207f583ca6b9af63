/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/oai_err: the error table is complete and
 * consistent, bodies are valid JSON in OpenAI's shape whatever the message
 * contains, and the upstream-error detector accepts only that shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/oai_err.h"

static json_t *parse(const struct buf *b)
{
	json_error_t jerr;
	json_t *j = json_loadb(b->data, b->len, 0, &jerr);
	if (j == NULL)
		print_error("not JSON: %s (%s)\n", b->data, jerr.text);
	return j;
}

static void test_format_shape(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(oai_err_format(&b, "bad \"model\"\n\\", "invalid_request_error", "model", "model_not_found"),
			 0);
	json_t *j = parse(&b);
	assert_non_null(j);
	json_t *e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "message")), "bad \"model\"\n\\");
	assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
	assert_string_equal(json_string_value(json_object_get(e, "param")), "model");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "model_not_found");
	json_decref(j);

	buf_reset(&b);
	assert_int_equal(oai_err_format(&b, "x", "api_error", NULL, NULL), 0);
	assert_string_equal(b.data,
			    "{\"error\":{\"message\":\"x\",\"type\":\"api_error\",\"param\":null,\"code\":null}}");
	buf_fini(&b);
}

static void test_format_repairs_utf8(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	/* invalid UTF-8, an overlong '/', a control byte, and valid multi-byte text */
	const char msg[] = "a\xff\xc0\xaf\x01 caf\xc3\xa9 \xf0\x9f\x98\x80";
	assert_int_equal(oai_err_format(&b, msg, "api_error", NULL, "c"), 0);
	json_t *j = parse(&b);
	assert_non_null(j);
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	assert_string_equal(m, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
	json_decref(j);
	buf_fini(&b);
}

static void test_format_bounded(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 32);
	assert_int_equal(oai_err_format(&b, "a message that does not fit in 32 bytes", "api_error", NULL, NULL), -1);
	buf_fini(&b);
}

static void test_table(void **state)
{
	(void)state;
	for (int e = 0; e < GWE__COUNT; e++) {
		const struct oai_err_def *d = oai_err_def((enum gw_error)e);
		assert_true(d->status >= 400 && d->status < 600);
		assert_non_null(d->type);
		assert_non_null(d->code);
		assert_non_null(d->span_type);
		assert_true(strlen(d->span_type) < 32); /* fits spanrec.error_type */
	}
	assert_int_equal(oai_err_def(GWE_INVALID_REQUEST)->status, 400);
	assert_int_equal(oai_err_def(GWE_UNAUTHORIZED)->status, 401);
	assert_string_equal(oai_err_def(GWE_UNAUTHORIZED)->type, "authentication_error");
	assert_int_equal(oai_err_def(GWE_MODEL_NOT_FOUND)->status, 404);
	assert_string_equal(oai_err_def(GWE_MODEL_NOT_FOUND)->code, "model_not_found");
	assert_int_equal(oai_err_def(GWE_METHOD_NOT_ALLOWED)->status, 405);
	assert_int_equal(oai_err_def(GWE_BODY_TOO_LARGE)->status, 413);
	assert_int_equal(oai_err_def(GWE_UPSTREAM_CONNECT)->status, 502);
	assert_string_equal(oai_err_def(GWE_UPSTREAM_CONNECT)->span_type, "upstream_connect_error");
	assert_string_equal(oai_err_def(GWE_UPSTREAM_TLS)->span_type, "tls_error");
	assert_int_equal(oai_err_def(GWE_UPSTREAM_TIMEOUT)->status, 504);
	assert_string_equal(oai_err_def(GWE_UPSTREAM_TIMEOUT)->span_type, "timeout");
	assert_string_equal(oai_err_def(GWE_UPSTREAM_TIMEOUT)->type, "timeout_error");
	/* out of range falls back to the internal error row */
	assert_int_equal(oai_err_def((enum gw_error)999)->status, 500);
}

static void test_type_for_status(void **state)
{
	(void)state;
	assert_string_equal(oai_err_type_for_status(400), "invalid_request_error");
	assert_string_equal(oai_err_type_for_status(401), "authentication_error");
	assert_string_equal(oai_err_type_for_status(403), "permission_error");
	assert_string_equal(oai_err_type_for_status(404), "not_found_error");
	assert_string_equal(oai_err_type_for_status(429), "rate_limit_error");
	assert_string_equal(oai_err_type_for_status(500), "api_error");
	assert_string_equal(oai_err_type_for_status(503), "api_error");
	assert_string_equal(oai_err_type_for_status(504), "timeout_error");
	assert_string_equal(oai_err_type_for_status(418), "invalid_request_error");
}

static void test_is_openai_error(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		bool want;
	} cases[] = {
	    {"{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit_error\"}}", true},
	    {"{\"error\":{\"message\":\"\"}}", true},
	    {"{\"error\":{\"type\":\"x\"}}", false},
	    {"{\"error\":\"string\"}", false},
	    {"{\"error\":{\"message\":5}}", false},
	    {"[{\"error\":{\"message\":\"x\"}}]", false},
	    {"<html>502 Bad Gateway</html>", false},
	    {"{\"error\":{\"message\":\"x\"}} trailing", false},
	    {"", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(oai_err_is_openai_error(cases[i].body, strlen(cases[i].body)), cases[i].want);
	assert_false(oai_err_is_openai_error(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_shape),    cmocka_unit_test(test_format_repairs_utf8),
	    cmocka_unit_test(test_format_bounded),  cmocka_unit_test(test_table),
	    cmocka_unit_test(test_type_for_status), cmocka_unit_test(test_is_openai_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
