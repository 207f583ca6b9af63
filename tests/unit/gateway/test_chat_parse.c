/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/chat_parse: the request validation table (what is
 * a 400 and with which param), and response fact extraction with missing,
 * oddly typed and oversized fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/chat_parse.h"

struct req_case {
	const char *body;
	enum chat_perr want;
	const char *param;
};

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const struct req_case req_cases[] = {
    {"{\"model\":\"gpt-4o\"," MSGS "}", CHAT_OK, NULL},
    {"{\"model\":\"gpt-4o\"," MSGS ",\"stream\":false,\"temperature\":0.2}", CHAT_OK, NULL},
    {"{\"model\":\"gpt-4o\"," MSGS ",\"stream\":null}", CHAT_OK, NULL},
    {"", CHAT_EMPTY_BODY, NULL},
    {"{", CHAT_BAD_JSON, NULL},
    {"{\"model\":\"x\"," MSGS "} garbage", CHAT_BAD_JSON, NULL},
    {"{\"model\":\"a\\u0000b\"," MSGS "}", CHAT_BAD_JSON, NULL},
    {"{\"model\":\"\xff\"," MSGS "}", CHAT_BAD_JSON, NULL},
    {"[1,2]", CHAT_NOT_OBJECT, NULL},
    {"\"model\"", CHAT_BAD_JSON, NULL}, /* jansson wants an array or object on top */
    {"{" MSGS "}", CHAT_MODEL_MISSING, "model"},
    {"{\"model\":null," MSGS "}", CHAT_MODEL_MISSING, "model"},
    {"{\"model\":42," MSGS "}", CHAT_MODEL_NOT_STRING, "model"},
    {"{\"model\":[\"a\"]," MSGS "}", CHAT_MODEL_NOT_STRING, "model"},
    {"{\"model\":\"\"," MSGS "}", CHAT_MODEL_BAD, "model"},
    {"{\"model\":\"m\"}", CHAT_MESSAGES_MISSING, "messages"},
    {"{\"model\":\"m\",\"messages\":{}}", CHAT_MESSAGES_NOT_ARRAY, "messages"},
    {"{\"model\":\"m\",\"messages\":\"hi\"}", CHAT_MESSAGES_NOT_ARRAY, "messages"},
    {"{\"model\":\"m\",\"messages\":[]}", CHAT_MESSAGES_EMPTY, "messages"},
    {"{\"model\":\"m\"," MSGS ",\"stream\":\"yes\"}", CHAT_STREAM_NOT_BOOL, "stream"},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true}", CHAT_STREAM_UNSUPPORTED, "stream"},
};

static void test_request_table(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		struct chat_request req;
		struct chat_parse_err e;
		enum chat_perr got = chat_request_parse(c->body, strlen(c->body), &req, &e);
		bool ok = got == c->want &&
			  (c->param == NULL ? e.param == NULL : (e.param != NULL && strcmp(e.param, c->param) == 0));
		if (got != CHAT_OK && (e.msg[0] == '\0' || req.root != NULL))
			ok = false; /* every rejection explains itself and owns nothing */
		if (!ok) {
			print_error("case %zu (%s): got %d param %s msg \"%s\"\n", i, c->body, got,
				    e.param != NULL ? e.param : "-", e.msg);
			failures++;
		}
		chat_request_fini(&req);
	}
	assert_int_equal(failures, 0);
}

static void test_request_fields(void **state)
{
	(void)state;
	const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":"
			    "\"assistant\",\"content\":\"yo\"}]}";
	struct chat_request req;
	struct chat_parse_err e;
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_OK);
	assert_string_equal(req.model, "gpt-4o-mini");
	assert_int_equal(json_array_size(req.messages), 2);
	assert_false(req.stream);
	chat_request_fini(&req);
	chat_request_fini(&req); /* idempotent */
	assert_null(req.root);

	/* the model is reported for spans even when a later check fails */
	const char s[] = "{\"model\":\"m-1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true}";
	assert_int_equal(chat_request_parse(s, strlen(s), &req, &e), CHAT_STREAM_UNSUPPORTED);
	assert_string_equal(e.model, "m-1");
	assert_non_null(strstr(e.msg, "streaming is not supported yet"));
}

static void test_request_model_too_long(void **state)
{
	(void)state;
	char body[CHAT_MODEL_MAX + 128];
	char model[CHAT_MODEL_MAX + 2];
	struct chat_request req;
	struct chat_parse_err e;
	memset(model, 'm', CHAT_MODEL_MAX + 1);
	model[CHAT_MODEL_MAX + 1] = '\0';
	snprintf(body, sizeof(body), "{\"model\":\"%s\"," MSGS "}", model);
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_MODEL_BAD);
	model[CHAT_MODEL_MAX] = '\0';
	snprintf(body, sizeof(body), "{\"model\":\"%s\"," MSGS "}", model);
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_OK);
	chat_request_fini(&req);
}

static void test_response_full(void **state)
{
	(void)state;
	const char body[] =
	    "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\","
	    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
	    "\"finish_reason\":\"stop\"},{\"index\":1,\"finish_reason\":\"length\"}],"
	    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":8}}}";
	struct chat_response_info info;
	assert_int_equal(chat_response_extract(body, strlen(body), &info), 0);
	assert_string_equal(info.id, "chatcmpl-123");
	assert_string_equal(info.model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(info.finish_reason, "stop");
	assert_true(info.has_usage);
	assert_int_equal(info.prompt_tokens, 12);
	assert_int_equal(info.completion_tokens, 34);
	assert_int_equal(info.cached_tokens, 8);
}

static void test_response_odd(void **state)
{
	(void)state;
	struct chat_response_info info;
	const char *b;

	b = "{}";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), 0);
	assert_string_equal(info.model, "");
	assert_false(info.has_usage);

	b = "{\"model\":5,\"id\":null,\"choices\":\"x\",\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1.5}}";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), 0);
	assert_string_equal(info.model, "");
	assert_string_equal(info.id, "");
	assert_false(info.has_usage);

	b = "{\"choices\":[],\"usage\":{\"completion_tokens\":7}}";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), 0);
	assert_string_equal(info.finish_reason, "");
	assert_true(info.has_usage);
	assert_int_equal(info.prompt_tokens, 0);
	assert_int_equal(info.completion_tokens, 7);

	b = "{\"choices\":[{\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":99999999999,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":\"5\"}}}";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), 0);
	assert_int_equal(info.prompt_tokens, UINT32_MAX);
	assert_int_equal(info.cached_tokens, 0);

	b = "[]";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), -1);
	b = "not json";
	assert_int_equal(chat_response_extract(b, strlen(b), &info), -1);
	assert_int_equal(chat_response_extract(NULL, 0, &info), -1);
}

static void test_response_long_strings_cut_on_utf8(void **state)
{
	(void)state;
	/* 126 ASCII bytes then a 3-byte character: it cannot fit in model[128] */
	char body[512], model[200];
	memset(model, 'a', 126);
	memcpy(model + 126, "\xe2\x82\xac", 3);
	model[129] = '\0';
	snprintf(body, sizeof(body), "{\"model\":\"%s\"}", model);
	struct chat_response_info info;
	assert_int_equal(chat_response_extract(body, strlen(body), &info), 0);
	assert_int_equal(strlen(info.model), 126);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_table),	   cmocka_unit_test(test_request_fields),
	    cmocka_unit_test(test_request_model_too_long), cmocka_unit_test(test_response_full),
	    cmocka_unit_test(test_response_odd),	   cmocka_unit_test(test_response_long_strings_cut_on_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
