/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/embed_parse: the request validation table (which
 * 400, which param, OpenAI's message for empty input), the parsed fields,
 * and response fact extraction with odd and oversized values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/embed_parse.h"

struct req_case {
	const char *body;
	enum chat_perr want;
	const char *param;
	enum chat_input_kind kind; /* on CHAT_OK */
	size_t count;
};

#define M "\"model\":\"text-embedding-3-small\","

static const struct req_case cases[] = {
    {"{" M "\"input\":\"hello\"}", CHAT_OK, NULL, CHAT_INPUT_STRING, 1},
    {"{" M "\"input\":[\"a\",\"b\",\"c\"]}", CHAT_OK, NULL, CHAT_INPUT_STRINGS, 3},
    {"{" M "\"input\":[1,2,3]}", CHAT_OK, NULL, CHAT_INPUT_TOKENS, 1},
    {"{" M "\"input\":[[1,2],[3]]}", CHAT_OK, NULL, CHAT_INPUT_TOKEN_ARRAYS, 2},
    {"{" M "\"input\":\" \"}", CHAT_OK, NULL, CHAT_INPUT_STRING, 1}, /* whitespace is not empty */
    {"{" M "\"input\":\"x\",\"encoding_format\":\"base64\",\"dimensions\":256,\"user\":\"u\"}", CHAT_OK, NULL,
     CHAT_INPUT_STRING, 1},
    {"{" M "\"input\":\"x\",\"encoding_format\":null,\"dimensions\":null}", CHAT_OK, NULL, CHAT_INPUT_STRING, 1},
    {"{" M "\"input\":\"\"}", CHAT_INPUT_EMPTY, "input", 0, 0},
    {"{" M "\"input\":[]}", CHAT_INPUT_EMPTY, "input", 0, 0},
    {"{" M "\"input\":[\"a\",\"\"]}", CHAT_INPUT_EMPTY, "input", 0, 0},
    {"{" M "\"input\":[[1],[]]}", CHAT_INPUT_EMPTY, "input", 0, 0},
    {"{" M "\"input\":[\"a\",1]}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":[1.5]}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":[-3]}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":[[\"a\"]]}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":{\"text\":\"a\"}}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":42}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":true}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":[null]}", CHAT_INPUT_BAD, "input", 0, 0},
    {"{" M "\"input\":null}", CHAT_INPUT_MISSING, "input", 0, 0},
    {"{" M "\"inputs\":\"x\"}", CHAT_INPUT_MISSING, "input", 0, 0},
    {"{" M "\"input\":\"x\",\"encoding_format\":\"int8\"}", CHAT_ENCODING_BAD, "encoding_format", 0, 0},
    {"{" M "\"input\":\"x\",\"encoding_format\":1}", CHAT_ENCODING_BAD, "encoding_format", 0, 0},
    {"{" M "\"input\":\"x\",\"dimensions\":0}", CHAT_DIMENSIONS_BAD, "dimensions", 0, 0},
    {"{" M "\"input\":\"x\",\"dimensions\":-1}", CHAT_DIMENSIONS_BAD, "dimensions", 0, 0},
    {"{" M "\"input\":\"x\",\"dimensions\":1.5}", CHAT_DIMENSIONS_BAD, "dimensions", 0, 0},
    {"{" M "\"input\":\"x\",\"dimensions\":\"256\"}", CHAT_DIMENSIONS_BAD, "dimensions", 0, 0},
    {"{" M "\"input\":\"x\",\"dimensions\":4294967296}", CHAT_DIMENSIONS_BAD, "dimensions", 0, 0},
    {"{\"input\":\"x\"}", CHAT_MODEL_MISSING, "model", 0, 0},
    {"{\"model\":7,\"input\":\"x\"}", CHAT_MODEL_NOT_STRING, "model", 0, 0},
    {"{\"model\":\"\",\"input\":\"x\"}", CHAT_MODEL_BAD, "model", 0, 0},
    {"", CHAT_EMPTY_BODY, NULL, 0, 0},
    {"{\"model\":", CHAT_BAD_JSON, NULL, 0, 0},
    {"[\"x\"]", CHAT_NOT_OBJECT, NULL, 0, 0},
};

static void test_request_table(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct req_case *c = &cases[i];
		struct embed_request req;
		struct chat_parse_err e;
		enum chat_perr got = embed_request_parse(c->body, strlen(c->body), &req, &e);
		bool ok = got == c->want &&
			  (c->param == NULL ? e.param == NULL : (e.param != NULL && strcmp(e.param, c->param) == 0));
		if (got == CHAT_OK && (req.input_kind != c->kind || req.input_count != c->count || req.input == NULL))
			ok = false;
		if (got != CHAT_OK && (e.msg[0] == '\0' || req.root != NULL))
			ok = false;
		if (!ok) {
			print_error("case %zu (%s): got %d param %s msg \"%s\" kind %d count %zu\n", i, c->body, got,
				    e.param != NULL ? e.param : "-", e.msg, req.input_kind, req.input_count);
			failures++;
		}
		embed_request_fini(&req);
	}
	assert_int_equal(failures, 0);
}

static void test_request_fields(void **state)
{
	(void)state;
	struct embed_request req;
	struct chat_parse_err e;
	const char b[] = "{" M "\"input\":[\"a\"],\"encoding_format\":\"base64\",\"dimensions\":512}";
	assert_int_equal(embed_request_parse(b, strlen(b), &req, &e), CHAT_OK);
	assert_string_equal(req.model, "text-embedding-3-small");
	assert_true(req.base64);
	assert_int_equal(req.dimensions, 512);
	embed_request_fini(&req);
	embed_request_fini(&req);
	assert_null(req.root);

	const char f[] = "{" M "\"input\":\"a\"}";
	assert_int_equal(embed_request_parse(f, strlen(f), &req, &e), CHAT_OK);
	assert_false(req.base64);
	assert_int_equal(req.dimensions, 0);
	embed_request_fini(&req);

	/* OpenAI's message for empty input; the model is kept for the span */
	const char empty[] = "{\"model\":\"emb-1\",\"input\":\"\"}";
	assert_int_equal(embed_request_parse(empty, strlen(empty), &req, &e), CHAT_INPUT_EMPTY);
	assert_string_equal(e.msg, EMBED_EMPTY_INPUT_MSG);
	assert_string_equal(e.model, "emb-1");
	embed_request_fini(NULL);
}

static void test_response(void **state)
{
	(void)state;
	struct embed_response_info info;
	const char body[] =
	    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,-0.2]},"
	    "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"AAAA\"}],"
	    "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";
	assert_int_equal(embed_response_extract(body, strlen(body), &info), 0);
	assert_string_equal(info.resp.model, "text-embedding-3-small");
	assert_true(info.resp.has_usage);
	assert_int_equal(info.resp.prompt_tokens, 8);
	assert_int_equal(info.resp.completion_tokens, 0);
	assert_int_equal(info.total_tokens, 8);
	assert_int_equal(info.data_count, 2);
	assert_string_equal(info.resp.id, "");
	assert_string_equal(info.resp.finish_reason, "");

	const char *odd = "{\"data\":{},\"model\":null,\"usage\":{\"prompt_tokens\":-1,\"total_tokens\":1e3}}";
	assert_int_equal(embed_response_extract(odd, strlen(odd), &info), 0);
	assert_false(info.resp.has_usage);
	assert_int_equal(info.total_tokens, 0);
	assert_int_equal(info.data_count, 0);
	assert_string_equal(info.resp.model, "");

	odd = "{\"usage\":{\"prompt_tokens\":99999999999,\"total_tokens\":99999999999},\"data\":[]}";
	assert_int_equal(embed_response_extract(odd, strlen(odd), &info), 0);
	assert_int_equal(info.resp.prompt_tokens, UINT32_MAX);
	assert_int_equal(info.total_tokens, UINT32_MAX);

	/* a choices array in an embeddings response is ignored */
	odd = "{\"choices\":[{\"finish_reason\":\"stop\"}]}";
	assert_int_equal(embed_response_extract(odd, strlen(odd), &info), 0);
	assert_string_equal(info.resp.finish_reason, "");

	assert_int_equal(embed_response_extract("[1]", 3, &info), -1);
	assert_int_equal(embed_response_extract("nope", 4, &info), -1);
	assert_int_equal(embed_response_extract(NULL, 0, &info), -1);
	assert_int_equal(info.data_count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_table),
	    cmocka_unit_test(test_request_fields),
	    cmocka_unit_test(test_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
