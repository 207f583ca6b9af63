/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/chat_parse: the request validation tables (what is
 * a 400 and with which param) for chat and legacy completions, stream
 * options, usage injection (byte-preserving splice and the jansson path),
 * text input shapes, and response fact extraction with missing, oddly
 * typed and oversized fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/buf.h"
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
    {"{\"model\":\"m\"," MSGS ",\"stream\":true}", CHAT_OK, NULL},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":null}", CHAT_OK, NULL},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{}}", CHAT_OK, NULL},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{\"include_usage\":null}}", CHAT_OK, NULL},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":true}", CHAT_STREAM_OPTIONS_BAD, "stream_options"},
    {"{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", CHAT_STREAM_OPTIONS_BAD,
     "stream_options"},
    {"{\"model\":\"m\",\"stream\":true}", CHAT_MESSAGES_MISSING, "messages"},
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

/* The facts scanned without a tree: output cap, n, duplicates (last wins), escaped keys. */
static void test_request_scanned_facts(void **state)
{
	(void)state;
	static const struct {
		const char *extra;
		uint32_t max_tokens;
		unsigned n;
	} cases[] = {
	    {"\"max_tokens\":64", 64, 1},
	    {"\"max_completion_tokens\":32,\"max_tokens\":64", 32, 1},
	    {"\"max_completion_tokens\":\"x\",\"max_tokens\":64", 64, 1}, /* not an integer: max_tokens */
	    {"\"max_completion_tokens\":null,\"max_tokens\":64", 64, 1},
	    {"\"max_tokens\":0", 0, 1},
	    {"\"max_tokens\":-5", 0, 1},
	    {"\"max_tokens\":4294967296", 0, 1}, /* 2^32: no estimate from it */
	    {"\"max_tokens\":4294967295", 4294967295u, 1},
	    {"\"max_tokens\":1.5", 0, 1},
	    {"\"n\":3", 0, 3},
	    {"\"n\":99999999", 0, 65535},
	    {"\"n\":0", 0, 1},
	    {"\"m\\u0061x_tokens\":7", 7, 1}, /* an escaped key is the same key */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256];
		struct chat_request req;
		struct chat_parse_err e;
		snprintf(body, sizeof(body), "{\"model\":\"m\"," MSGS ",%s}", cases[i].extra);
		assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_OK);
		if (req.max_tokens != cases[i].max_tokens || req.n_choices != cases[i].n)
			fail_msg("%s: max_tokens %u n %u", cases[i].extra, req.max_tokens, req.n_choices);
		chat_request_fini(&req);
	}
	/*
	 * A member the gateway decides on, given twice, is refused: a provider
	 * could read the other one (first-wins parsers exist). Escaped
	 * spellings are the same key; members the gateway does not read may
	 * repeat (the provider's business), and so may nested ones.
	 */
	static const struct {
		const char *body;
		const char *param;
	} dups[] = {
	    {"{\"model\":\"a\",\"model\":\"b\"," MSGS "}", "model"},
	    {"{\"model\":\"a\"," MSGS ",\"messages\":[]}", "messages"},
	    {"{\"model\":\"a\"," MSGS ",\"stream\":false,\"stream\":true}", "stream"},
	    {"{\"model\":\"a\"," MSGS ",\"max_tokens\":8,\"max_tokens\":9}", "max_tokens"},
	    {"{\"model\":\"a\"," MSGS ",\"n\":2,\"n\":5}", "n"},
	    {"{\"model\":\"a\",\"mod\\u0065l\":\"b\"," MSGS "}", "model"},
	};
	struct chat_request req;
	struct chat_parse_err e;
	for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		assert_int_equal(chat_request_parse(dups[i].body, strlen(dups[i].body), &req, &e), CHAT_DUPLICATE_KEY);
		assert_string_equal(e.param, dups[i].param);
		assert_non_null(strstr(e.msg, "more than once"));
		assert_null(req.root);
	}
	const char legacy[] = "{\"model\":\"a\",\"prompt\":\"x\",\"prompt\":\"y\"}";
	assert_int_equal(chat_legacy_request_parse(legacy, strlen(legacy), &req, &e), CHAT_DUPLICATE_KEY);
	assert_string_equal(e.param, "prompt");
	const char fine[] = "{\"model\":\"a\"," MSGS ",\"user\":\"u\",\"user\":\"v\",\"x\":{\"n\":1,\"n\":2}}";
	assert_int_equal(chat_request_parse(fine, strlen(fine), &req, &e), CHAT_OK);
	chat_request_fini(&req);
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
	assert_null(req.root); /* scanned only: no tree until someone needs one */
	assert_false(req.stream);
	assert_false(req.include_usage);
	assert_int_equal(req.n_choices, 1);
	assert_int_equal(req.max_tokens, 0);
	assert_non_null(chat_request_tree(&req));
	assert_ptr_equal(chat_request_tree(&req), req.root); /* built once */
	assert_int_equal(json_array_size(req.messages), 2);
	assert_null(req.prompt);
	chat_request_fini(&req);
	chat_request_fini(&req); /* idempotent */
	assert_null(req.root);

	/* the model is reported for spans even when a later check fails */
	const char s[] = "{\"model\":\"m-1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}";
	assert_int_equal(chat_request_parse(s, strlen(s), &req, &e), CHAT_STREAM_NOT_BOOL);
	assert_string_equal(e.model, "m-1");
	assert_null(req.root);
}

struct stream_case {
	const char *extra; /* appended after messages */
	bool stream, include_usage;
	unsigned n;
};

static const struct stream_case stream_cases[] = {
    {"", false, false, 1},
    {",\"stream\":true", true, false, 1},
    {",\"stream\":true,\"stream_options\":{\"include_usage\":true}", true, true, 1},
    {",\"stream\":true,\"stream_options\":{\"include_usage\":false}", true, false, 1},
    {",\"stream\":true,\"stream_options\":{}", true, false, 1},
    {",\"stream\":false,\"stream_options\":{\"include_usage\":true}", false, false, 1},
    {",\"stream\":true,\"n\":3", true, false, 3},
    {",\"n\":0", false, false, 1},
    {",\"n\":2.5", false, false, 1},
    {",\"n\":1000000", false, false, 65535},
};

static void test_stream_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]); i++) {
		char body[512];
		struct chat_request req;
		struct chat_parse_err e;
		snprintf(body, sizeof(body), "{\"model\":\"m\"," MSGS "%s}", stream_cases[i].extra);
		assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_OK);
		if (req.stream != stream_cases[i].stream || req.include_usage != stream_cases[i].include_usage ||
		    req.n_choices != stream_cases[i].n)
			fail_msg("case %zu: stream %d include_usage %d n %u", i, req.stream, req.include_usage,
				 req.n_choices);
		chat_request_fini(&req);
	}
}

static const struct req_case legacy_cases[] = {
    {"{\"model\":\"m\",\"prompt\":\"Say hi\"}", CHAT_OK, NULL},
    {"{\"model\":\"m\",\"prompt\":\"\"}", CHAT_OK, NULL},
    {"{\"model\":\"m\",\"prompt\":[\"a\",\"\"]}", CHAT_OK, NULL},
    {"{\"model\":\"m\",\"prompt\":[1,2,3],\"stream\":true}", CHAT_OK, NULL},
    {"{\"model\":\"m\",\"prompt\":[[1,2],[3]]}", CHAT_OK, NULL},
    {"{\"model\":\"m\"}", CHAT_PROMPT_MISSING, "prompt"},
    {"{\"model\":\"m\",\"prompt\":null}", CHAT_PROMPT_MISSING, "prompt"},
    {"{\"model\":\"m\",\"prompt\":[]}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"model\":\"m\",\"prompt\":[[1],[]]}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"model\":\"m\",\"prompt\":[\"a\",1]}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"model\":\"m\",\"prompt\":[-1]}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"model\":\"m\",\"prompt\":{}}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"model\":\"m\",\"prompt\":5}", CHAT_PROMPT_BAD, "prompt"},
    {"{\"prompt\":\"x\"}", CHAT_MODEL_MISSING, "model"},
    {"{\"model\":\"m\",\"prompt\":\"x\",\"stream\":\"y\"}", CHAT_STREAM_NOT_BOOL, "stream"},
    {"{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":[]}", CHAT_STREAM_OPTIONS_BAD, "stream_options"},
    {"[]", CHAT_NOT_OBJECT, NULL},
    {"", CHAT_EMPTY_BODY, NULL},
};

static void test_legacy_table(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(legacy_cases) / sizeof(legacy_cases[0]); i++) {
		const struct req_case *c = &legacy_cases[i];
		struct chat_request req;
		struct chat_parse_err e;
		enum chat_perr got = chat_legacy_request_parse(c->body, strlen(c->body), &req, &e);
		bool ok = got == c->want &&
			  (c->param == NULL ? e.param == NULL : (e.param != NULL && strcmp(e.param, c->param) == 0));
		if (got == CHAT_OK && (req.prompt == NULL || req.messages != NULL || strcmp(req.model, "m") != 0))
			ok = false;
		if (got != CHAT_OK && (e.msg[0] == '\0' || req.root != NULL))
			ok = false;
		if (!ok) {
			print_error("case %zu (%s): got %d param %s msg \"%s\"\n", i, c->body, got,
				    e.param != NULL ? e.param : "-", e.msg);
			failures++;
		}
		chat_request_fini(&req);
	}
	assert_int_equal(failures, 0);
}

struct shape_case {
	const char *json;
	enum chat_input_kind kind;
	size_t count;
	bool empty_string, empty_tokens;
};

static const struct shape_case shape_cases[] = {
    {"\"x\"", CHAT_INPUT_STRING, 1, false, false},
    {"\"\"", CHAT_INPUT_STRING, 1, true, false},
    {"[\"a\",\"b\"]", CHAT_INPUT_STRINGS, 2, false, false},
    {"[\"a\",\"\"]", CHAT_INPUT_STRINGS, 2, true, false},
    {"[1,2,3]", CHAT_INPUT_TOKENS, 1, false, false},
    {"[0]", CHAT_INPUT_TOKENS, 1, false, false},
    {"[[1],[2,3]]", CHAT_INPUT_TOKEN_ARRAYS, 2, false, false},
    {"[[1],[]]", CHAT_INPUT_TOKEN_ARRAYS, 2, false, true},
    {"[]", CHAT_INPUT_EMPTY_ARRAY, 0, false, false},
    {"[\"a\",1]", CHAT_INPUT_NONE, 0, false, false},
    {"[1,\"a\"]", CHAT_INPUT_NONE, 0, false, false},
    {"[1.5]", CHAT_INPUT_NONE, 0, false, false},
    {"[-1]", CHAT_INPUT_NONE, 0, false, false},
    {"[[1],[\"a\"]]", CHAT_INPUT_NONE, 0, false, false},
    {"[[1],2]", CHAT_INPUT_NONE, 0, false, false},
    {"[[[1]]]", CHAT_INPUT_NONE, 0, false, false},
    {"[null]", CHAT_INPUT_NONE, 0, false, false},
    {"{}", CHAT_INPUT_NONE, 0, false, false},
    {"[{}]", CHAT_INPUT_NONE, 0, false, false},
    {"7", CHAT_INPUT_NONE, 0, false, false},
    {"null", CHAT_INPUT_NONE, 0, false, false},
};

static void test_input_shapes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]); i++) {
		const struct shape_case *c = &shape_cases[i];
		json_error_t jerr;
		json_t *v = json_loads(c->json, JSON_DECODE_ANY, &jerr);
		struct chat_input_shape sh;
		assert_non_null(v);
		chat_input_classify(v, &sh);
		if (sh.kind != c->kind || sh.count != c->count || sh.empty_string != c->empty_string ||
		    sh.empty_tokens != c->empty_tokens)
			fail_msg("case %zu (%s): kind %d count %zu empty %d/%d", i, c->json, sh.kind, sh.count,
				 sh.empty_string, sh.empty_tokens);
		json_decref(v);
	}
	struct chat_input_shape sh;
	chat_input_classify(NULL, &sh);
	assert_int_equal(sh.kind, CHAT_INPUT_NONE);
}

/* Parses body (chat or legacy), injects, and returns the upstream body (caller frees) or NULL when not needed. */
static char *inject(const char *body, bool legacy, int *rc_out)
{
	struct chat_request req;
	struct chat_parse_err e;
	struct buf out;
	struct err err;
	enum chat_perr prc = legacy ? chat_legacy_request_parse(body, strlen(body), &req, &e)
				    : chat_request_parse(body, strlen(body), &req, &e);
	assert_int_equal(prc, CHAT_OK);
	buf_init(&out, 1 << 20);
	int rc = chat_request_inject_usage(&req, body, strlen(body), &out, &err);
	*rc_out = rc;
	chat_request_fini(&req);
	if (rc != 1) {
		assert_int_equal(out.len, 0);
		buf_fini(&out);
		return NULL;
	}
	size_t n;
	return buf_take(&out, &n);
}

static void test_inject_usage(void **state)
{
	(void)state;
	int rc;
	char *got;

	/* no stream_options: spliced in, every other byte untouched (0.7 stays 0.7) */
	const char b1[] = " \n{\"model\":\"gpt-4o\", \"temperature\":0.7,\"messages\":[{\"role\":\"user\","
			  "\"content\":\"caf\\u00e9\"}],\"stream\":true}";
	got = inject(b1, false, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(got, " \n{\"stream_options\":{\"include_usage\":true},\"model\":\"gpt-4o\", "
				 "\"temperature\":0.7,\"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9\"}],"
				 "\"stream\":true}");
	free(got);

	/* the client asked: nothing to do; not a stream: nothing to do */
	got = inject("{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", false,
		     &rc);
	assert_int_equal(rc, 0);
	assert_null(got);
	got = inject("{\"model\":\"m\"," MSGS "}", false, &rc);
	assert_int_equal(rc, 0);
	assert_null(got);

	/* stream_options present: jansson path, same values, other options kept */
	static const char *const present[] = {
	    "{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{\"include_usage\":false,\"x\":1}}",
	    "{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":{\"x\":1}}",
	    "{\"model\":\"m\"," MSGS ",\"stream\":true,\"stream_options\":null}",
	};
	for (size_t i = 0; i < 3; i++) {
		got = inject(present[i], false, &rc);
		assert_int_equal(rc, 1);
		struct chat_request req;
		struct chat_parse_err e;
		assert_int_equal(chat_request_parse(got, strlen(got), &req, &e), CHAT_OK);
		assert_true(req.include_usage);
		assert_string_equal(req.model, "m");
		if (i < 2)
			assert_int_equal(json_integer_value(json_object_get(
					     json_object_get(chat_request_tree(&req), "stream_options"), "x")),
					 1);
		chat_request_fini(&req);
		free(got);
	}

	/* legacy completions the same way */
	got = inject("{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true}", true, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(got, "{\"stream_options\":{\"include_usage\":true},\"model\":\"m\",\"prompt\":\"x\","
				 "\"stream\":true}");
	free(got);

	/* the result always parses with include_usage true and the same model and messages */
	const char b2[] = "{\"model\":\"m\"," MSGS ",\"stream\":true}";
	got = inject(b2, false, &rc);
	struct chat_request req;
	struct chat_parse_err e;
	assert_int_equal(chat_request_parse(got, strlen(got), &req, &e), CHAT_OK);
	assert_true(req.include_usage && req.stream);
	assert_non_null(chat_request_tree(&req));
	assert_int_equal(json_array_size(req.messages), 1);
	chat_request_fini(&req);
	free(got);
}

static void test_inject_limits(void **state)
{
	(void)state;
	const char body[] = "{\"model\":\"m\"," MSGS ",\"stream\":true}";
	struct chat_request req;
	struct chat_parse_err e;
	struct buf out;
	struct err err;
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &e), CHAT_OK);
	buf_init(&out, strlen(body) + 10); /* too small for the extra member */
	assert_int_equal(chat_request_inject_usage(&req, body, strlen(body), &out, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_int_equal(out.len, 0);
	buf_fini(&out);

	/* set_include_usage edits the tree for providers that re-encode anyway */
	assert_int_equal(chat_request_set_include_usage(&req), 1);
	assert_true(json_is_true(json_object_get(json_object_get(req.root, "stream_options"), "include_usage")));
	assert_false(req.include_usage); /* still what the client asked */
	chat_request_fini(&req);

	const char ns[] = "{\"model\":\"m\"," MSGS "}";
	assert_int_equal(chat_request_parse(ns, strlen(ns), &req, &e), CHAT_OK);
	assert_int_equal(chat_request_set_include_usage(&req), 0);
	assert_null(json_object_get(chat_request_tree(&req), "stream_options"));
	chat_request_fini(&req);
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
	    cmocka_unit_test(test_request_table),	   cmocka_unit_test(test_request_scanned_facts),
	    cmocka_unit_test(test_request_fields),	   cmocka_unit_test(test_stream_fields),
	    cmocka_unit_test(test_legacy_table),	   cmocka_unit_test(test_input_shapes),
	    cmocka_unit_test(test_inject_usage),	   cmocka_unit_test(test_inject_limits),
	    cmocka_unit_test(test_request_model_too_long), cmocka_unit_test(test_response_full),
	    cmocka_unit_test(test_response_odd),	   cmocka_unit_test(test_response_long_strings_cut_on_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
