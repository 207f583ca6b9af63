/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the anthropic provider (gateway/provider_anthropic.c and
 * the anthropic_req/resp/stream translators): OpenAI requests become
 * Messages requests (system lifted out, turns merged, images, tools,
 * tool_choice, tool calls and results, stop, max_tokens), Messages
 * responses, errors and streams become OpenAI's shapes. The response and
 * stream fixtures in tests/unit/gateway/fixtures/anthropic/ are written
 * from Anthropic's documented examples (the *.expected files hold the
 * OpenAI streams they must become, checked by hand against OpenAI's chunk
 * shape); the tests run from the repo root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/chat_stream.h"
#include "gateway/provider.h"
#include "gateway/provider_anthropic.h"

#define FIXTURES "tests/unit/gateway/fixtures/anthropic/"
#define CREATED 1700000000

static struct gw_provider prov = {.name = "claude",
				  .type = GW_PROVIDER_ANTHROPIC,
				  .url = {.path = "/v1"},
				  .api_key = "sk-ant-secret",
				  .api_version = "2023-06-01",
				  .max_tokens = 1000};

/* Whole fixture file, NUL-terminated; the caller frees. */
static char *fixture(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), FIXTURES "%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b;
	buf_init(&b, 0);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), 0);
	fclose(f);
	assert_int_equal(buf_append(&b, "", 0), 0);
	if (len != NULL)
		*len = b.len;
	return buf_take(&b, NULL);
}

/* Translates an OpenAI request (text) with default max_tokens def; returns the Messages JSON or NULL with err. */
static json_t *translate(const char *openai, uint32_t def, struct err *err)
{
	json_t *req = json_loads(openai, 0, NULL), *out = NULL;
	assert_non_null(req);
	int rc = anthropic_request_from_openai(req, "claude-3-7", def, &out, err);
	json_decref(req);
	assert_true(rc == 0 ? out != NULL : out == NULL);
	return out;
}

/* Asserts that v equals the JSON text want (structurally). */
static void json_eq(const json_t *v, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	assert_non_null(w);
	if (!json_equal((json_t *)v, w)) {
		char *s = json_dumps(v, JSON_COMPACT);
		fprintf(stderr, "got:  %s\nwant: %s\n", s, want);
		free(s);
		fail();
	}
	json_decref(w);
}

static void test_request_system_and_merge(void **state)
{
	(void)state;
	struct err err;
	json_t *o = translate("{\"model\":\"c\",\"messages\":["
			      "{\"role\":\"system\",\"content\":\"Be brief.\"},"
			      "{\"role\":\"user\",\"content\":\"Hi\"},"
			      "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No emoji.\"}]},"
			      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"there\"}]},"
			      "{\"role\":\"assistant\",\"content\":\"Hello\"},"
			      "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"again\"}]},"
			      "{\"role\":\"user\",\"content\":\"Bye\",\"name\":\"bob\"}],"
			      "\"frequency_penalty\":1,\"logprobs\":false}",
			      0, &err);
	json_eq(o,
		"{\"model\":\"claude-3-7\",\"system\":\"Be brief.\\n\\nNo emoji.\",\"max_tokens\":4096,\"messages\":["
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"text\",\"text\":"
		"\"there\"}]},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},"
		"{\"type\":\"text\",\"text\":\"again\"}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Bye\"}]}]}");
	json_decref(o);
}

static void test_request_images(void **state)
{
	(void)state;
	struct err err;
	json_t *o =
	    translate("{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":["
		      "{\"type\":\"text\",\"text\":\"What is in these images?\"},"
		      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/"
		      "4AAQSkZJRg==\",\"detail\":\"low\"}},"
		      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://upload.wikimedia.org/a.jpg\"}}]}]}",
		      0, &err);
	json_eq(json_object_get(o, "messages"),
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these images?\"},"
		"{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"/9j/"
		"4AAQSkZJRg==\"}},"
		"{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://upload.wikimedia.org/a.jpg\"}}]}]");
	json_decref(o);
}

static void test_request_tools_and_choice(void **state)
{
	(void)state;
	static const struct {
		const char *openai; /* tool_choice / parallel_tool_calls members */
		const char *want;   /* Anthropic tool_choice, NULL: absent */
	} cases[] = {
	    {"", NULL},
	    {",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}"},
	    {",\"tool_choice\":\"required\"", "{\"type\":\"any\"}"},
	    {",\"tool_choice\":\"none\"", "{\"type\":\"none\"}"},
	    {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}",
	     "{\"type\":\"tool\",\"name\":\"get_weather\"}"},
	    {",\"parallel_tool_calls\":false", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
	    {",\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
	     "{\"type\":\"any\",\"disable_parallel_tool_use\":true}"},
	    {",\"parallel_tool_calls\":true", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[1024];
		struct err err;
		snprintf(
		    body, sizeof(body),
		    "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}],\"tools\":["
		    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the weather\","
		    "\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}}}}},"
		    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]%s}",
		    cases[i].openai);
		json_t *o = translate(body, 0, &err);
		json_eq(json_object_get(o, "tools"),
			"[{\"name\":\"get_weather\",\"description\":\"Get the weather\",\"input_schema\":"
			"{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}}}},"
			"{\"name\":\"get_time\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]");
		if (cases[i].want == NULL)
			assert_null(json_object_get(o, "tool_choice"));
		else
			json_eq(json_object_get(o, "tool_choice"), cases[i].want);
		json_decref(o);
	}
	/* tool_choice without tools: Anthropic refuses it, so it is dropped */
	struct err err;
	json_t *o = translate(
	    "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"auto\"}", 0, &err);
	assert_null(json_object_get(o, "tool_choice"));
	assert_null(json_object_get(o, "tools"));
	json_decref(o);
}

static void test_request_tool_round_trip(void **state)
{
	(void)state;
	struct err err;
	char *body = fixture("request_full.json", NULL);
	json_t *o = translate(body, 0, &err);
	free(body);
	json_eq(
	    o,
	    "{\"model\":\"claude-3-7\",\"system\":\"You are a weather bot.\\n\\nAnswer briefly.\",\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What's the weather in San Francisco?\"}]},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
	    "\"name\":\"get_weather\",\"input\":{\"location\":\"San Francisco, CA\"}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_"
	    "01A09q90qw90lq917835lq9\","
	    "\"content\":\"15 degrees\"}]}],"
	    "\"max_tokens\":4096,\"temperature\":0.5,\"stream\":true,"
	    "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Get the current weather\",\"input_schema\":"
	    "{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}},\"required\":[\"location\"]}}],"
	    "\"tool_choice\":{\"type\":\"auto\"}}");
	json_decref(o);

	/* parallel calls answered by consecutive tool messages: one user turn, results first, text after */
	o = translate("{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"both\"},"
		      "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
		      "{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}},"
		      "{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"b\",\"arguments\":\"\"}}]},"
		      "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":[{\"type\":\"text\",\"text\":\"A\"}]},"
		      "{\"role\":\"tool\",\"tool_call_id\":\"t2\",\"content\":\"B\"},"
		      "{\"role\":\"user\",\"content\":\"thanks\"}]}",
		      0, &err);
	json_eq(json_object_get(o, "messages"),
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"both\"}]},"
		"{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"},"
		"{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"a\",\"input\":{}},"
		"{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"b\",\"input\":{}}]},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\","
		"\"content\":[{\"type\":\"text\",\"text\":\"A\"}]},"
		"{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"content\":\"B\"},"
		"{\"type\":\"text\",\"text\":\"thanks\"}]}]");
	json_decref(o);

	/* arguments that are not a JSON object cannot become `input` */
	static const char *const bad_args[] = {"{\\\"a\\\":", "[1]", "42"};
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		char body2[512];
		snprintf(body2, sizeof(body2),
			 "{\"model\":\"c\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\","
			 "\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"%s\"}}]}]}",
			 bad_args[i]);
		assert_null(translate(body2, 0, &err));
		assert_int_equal(err.code, EINVAL);
		assert_non_null(strstr(err.msg, "messages[0].tool_calls[0].function.arguments"));
	}
}

static void test_request_options(void **state)
{
	(void)state;
	struct err err;
	const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"model\":\"c\",%s,\"stop\":\"END\",\"temperature\":0.2,\"top_p\":0.9,\"max_tokens\":50,"
		 "\"user\":\"user-42\",\"stream\":false,\"n\":1,\"presence_penalty\":0.1}",
		 msgs);
	json_t *o = translate(body, 1000, &err);
	json_eq(o, "{\"model\":\"claude-3-7\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
		   "\"text\":\"x\"}]}],"
		   "\"max_tokens\":50,\"stop_sequences\":[\"END\"],\"temperature\":0.2,\"top_p\":0.9,"
		   "\"metadata\":{\"user_id\":\"user-42\"}}");
	json_decref(o);

	/* max_completion_tokens wins over max_tokens; stop arrays pass through */
	snprintf(body, sizeof(body),
		 "{\"model\":\"c\",%s,\"max_tokens\":50,\"max_completion_tokens\":70,\"stop\":[\"a\",\"b\"]}", msgs);
	o = translate(body, 1000, &err);
	assert_int_equal(json_integer_value(json_object_get(o, "max_tokens")), 70);
	json_eq(json_object_get(o, "stop_sequences"), "[\"a\",\"b\"]");
	json_decref(o);

	/* the provider's default, then the built-in one */
	snprintf(body, sizeof(body), "{\"model\":\"c\",%s,\"max_tokens\":null}", msgs);
	o = translate(body, 1000, &err);
	assert_int_equal(json_integer_value(json_object_get(o, "max_tokens")), 1000);
	json_decref(o);
	o = translate(body, 0, &err);
	assert_int_equal(json_integer_value(json_object_get(o, "max_tokens")), ANTHROPIC_MAX_TOKENS_DEFAULT);
	json_decref(o);
}

static void test_request_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *msg; /* substring of the client-facing message */
	} cases[] = {
	    {"{\"model\":\"c\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "n > 1"},
	    {"{\"model\":\"c\",\"messages\":[\"hi\"]}", "messages[0] must be an object"},
	    {"{\"model\":\"c\",\"messages\":[{\"content\":\"x\"}]}",
	     "messages[0] must be an object with a string role"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}", "role \"function\""},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":42}]}", "messages[0].content"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":null}]}", "messages[0].content"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
	     "\"input_audio\" is not supported"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[7]}]}", "messages[0].content[0]"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
	     "\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}",
	     "http(s) or data: URL"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
	     "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
	     "base64"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\"}]}]}",
	     "text parts only"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "tool_call_id"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", "stop"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
	     "temperature"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"custom\"}]}",
	     "tools[0]"},
	    {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
	     "\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"sometimes\"}",
	     "tool_choice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = {0};
		assert_null(translate(cases[i].body, 0, &err));
		assert_int_equal(err.code, EINVAL);
		if (strstr(err.msg, cases[i].msg) == NULL) {
			fprintf(stderr, "case %zu: %s\n", i, err.msg);
			fail();
		}
	}
}

/* encode + auth_headers through the ops table: path, body, headers, and the key nowhere else. */
static void test_ops_encode_and_headers(void **state)
{
	(void)state;
	const char *body =
	    "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true}";
	struct chat_request req;
	struct chat_parse_err pe;
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &pe), CHAT_OK);
	struct provider_chat_in in = {PROVIDER_OP_CHAT, &req,	      NULL,  body, strlen(body),
				      "claude",		"claude-3-7", "rid", 0};
	struct provider_http ph;
	struct err err;
	memset(&ph, 0, sizeof(ph));
	buf_init(&ph.body, 1 << 20);
	assert_int_equal(provider_anthropic.encode(&prov, &in, &ph, &err), 0);
	assert_string_equal(ph.path, "/v1/messages");
	assert_false(ph.use_client_body);
	assert_string_equal(ph.body.data,
			    "{\"model\":\"claude-3-7\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
			    "\"text\",\"text\":\"x\"}]}],\"max_tokens\":1000,\"stream\":true}");
	assert_null(strstr(ph.body.data, "sk-ant"));
	buf_fini(&ph.body);
	chat_request_fini(&req);
	assert_true(provider_anthropic.endpoints == PROVIDER_EP(PROVIDER_OP_CHAT));
	assert_string_equal(provider_anthropic.name, "anthropic");

	struct evkeyvalq h;
	TAILQ_INIT(&h);
	provider_anthropic.auth_headers(&prov, &h);
	assert_string_equal(evhttp_find_header(&h, "x-api-key"), "sk-ant-secret");
	assert_string_equal(evhttp_find_header(&h, "anthropic-version"), "2023-06-01");
	assert_null(evhttp_find_header(&h, "Authorization"));
	evhttp_clear_headers(&h);
	struct gw_provider nokey = prov;
	nokey.api_key = NULL;
	nokey.api_version = NULL;
	TAILQ_INIT(&h);
	provider_anthropic.auth_headers(&nokey, &h);
	assert_null(evhttp_find_header(&h, "x-api-key"));
	assert_string_equal(evhttp_find_header(&h, "anthropic-version"), ANTHROPIC_VERSION_DEFAULT);
	evhttp_clear_headers(&h);
}

/* decode through the ops table; returns the client body (caller frees). */
static char *decode(const char *body, size_t len, struct chat_response_info *info, int *rc)
{
	struct provider_chat_in in = {
	    .op = PROVIDER_OP_CHAT, .client_model = "claude", .provider_model = "claude-3-7", .created = CREATED};
	struct buf out;
	struct err err;
	bool relay = true;
	buf_init(&out, 1 << 20);
	*rc = provider_anthropic.decode(&prov, &in, body, len, info, &out, &relay, &err);
	assert_true(*rc == 0 ? !relay : true);
	return buf_take(&out, NULL);
}

static void test_response_text(void **state)
{
	(void)state;
	size_t len;
	char *body = fixture("resp_text.json", &len);
	struct chat_response_info info;
	int rc;
	char *out = decode(body, len, &info, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(
	    out, "{\"id\":\"msg_013Zva2CMHLNnXjNJJKqJ2EF\",\"object\":\"chat.completion\",\"created\":1700000000,"
		 "\"model\":\"claude-3-7-sonnet-20250219\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
		 "\"assistant\",\"content\":\"Hi! My name is Claude.\"},\"logprobs\":null,\"finish_reason\":"
		 "\"stop\"}],\"usage\":{\"prompt_tokens\":2095,\"completion_tokens\":503,\"total_tokens\":2598,"
		 "\"prompt_tokens_details\":{\"cached_tokens\":0}}}");
	assert_string_equal(info.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
	assert_string_equal(info.model, "claude-3-7-sonnet-20250219");
	assert_string_equal(info.finish_reason, "stop");
	assert_true(info.has_usage);
	assert_int_equal(info.prompt_tokens, 2095);
	assert_int_equal(info.completion_tokens, 503);
	free(out);
	free(body);
}

static void test_response_tool_use_and_cache(void **state)
{
	(void)state;
	size_t len;
	char *body = fixture("resp_tool_use.json", &len);
	struct chat_response_info info;
	int rc;
	char *out = decode(body, len, &info, &rc);
	assert_int_equal(rc, 0);
	json_t *o = json_loads(out, 0, NULL);
	json_eq(json_object_get(o, "choices"),
		"[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"I'll check the current weather in San "
		"Francisco for you.\",\"tool_calls\":[{\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"type\":\"function\","
		"\"function\":{\"name\":\"get_weather\",\"arguments\":"
		"\"{\\\"location\\\":\\\"San Francisco, CA\\\",\\\"unit\\\":\\\"celsius\\\"}\"}}]},"
		"\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]");
	/* input 50 + cache write 20 + cache read 1000 */
	json_eq(json_object_get(o, "usage"), "{\"prompt_tokens\":1070,\"completion_tokens\":30,\"total_tokens\":1100,"
					     "\"prompt_tokens_details\":{\"cached_tokens\":1000}}");
	assert_int_equal(info.prompt_tokens, 1070);
	assert_int_equal(info.cached_tokens, 1000);
	assert_string_equal(info.finish_reason, "tool_calls");
	json_decref(o);
	free(out);
	free(body);

	/* only tool calls: content is null */
	const char *only =
	    "{\"type\":\"message\",\"id\":\"m\",\"model\":\"c\",\"stop_reason\":\"tool_use\",\"content\":["
	    "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}],\"usage\":{\"input_tokens\":1,"
	    "\"output_tokens\":2}}";
	out = decode(only, strlen(only), &info, &rc);
	o = json_loads(out, 0, NULL);
	json_eq(json_object_get(json_array_get(json_object_get(o, "choices"), 0), "message"),
		"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\","
		"\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}");
	json_decref(o);
	free(out);
}

static void test_response_stop_reasons(void **state)
{
	(void)state;
	static const char *const map[][2] = {{"end_turn", "stop"},	    {"stop_sequence", "stop"},
					     {"max_tokens", "length"},	    {"tool_use", "tool_calls"},
					     {"refusal", "content_filter"}, {"pause_turn", "stop"}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		char body[256];
		struct chat_response_info info;
		int rc;
		snprintf(body, sizeof(body),
			 "{\"type\":\"message\",\"id\":\"m\",\"model\":\"c\",\"content\":[{\"type\":\"text\",\"text\":"
			 "\"t\"}],"
			 "\"stop_reason\":\"%s\"}",
			 map[i][0]);
		char *out = decode(body, strlen(body), &info, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(info.finish_reason, map[i][1]);
		assert_false(info.has_usage);
		free(out);
	}
	assert_null(anthropic_finish_reason(NULL));
}

static void test_response_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {"",
					  "not json",
					  "[]",
					  "{}",
					  "{\"type\":\"error\",\"content\":[]}",
					  "{\"type\":\"message\",\"content\":\"text\"}",
					  "{\"type\":7,\"content\":[]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct chat_response_info info;
		int rc;
		char *out = decode(bad[i], strlen(bad[i]), &info, &rc);
		assert_int_equal(rc, -1);
		free(out);
	}
}

static void test_error_translation(void **state)
{
	(void)state;
	static const struct {
		int status;
		const char *type, *want;
	} cases[] = {{400, "invalid_request_error", "invalid_request_error"},
		     {401, "authentication_error", "authentication_error"},
		     {403, "permission_error", "permission_error"},
		     {404, "not_found_error", "not_found_error"},
		     {413, "request_too_large", "invalid_request_error"},
		     {429, "rate_limit_error", "rate_limit_error"},
		     {500, "api_error", "api_error"},
		     {529, "overloaded_error", "api_error"},
		     {402, "billing_error", "invalid_request_error"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256], want[512];
		struct buf out;
		buf_init(&out, 4096);
		snprintf(body, sizeof(body),
			 "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"Bad \\\"thing\\\"\"}}",
			 cases[i].type);
		assert_int_equal(provider_anthropic.decode_error(&prov, cases[i].status, body, strlen(body), &out), 0);
		snprintf(
		    want, sizeof(want),
		    "{\"error\":{\"message\":\"Bad \\\"thing\\\"\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
		    cases[i].want, cases[i].type);
		assert_string_equal(out.data, want);
		buf_fini(&out);
	}
	size_t len;
	char *body = fixture("error_overloaded.json", &len);
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(provider_anthropic.decode_error(&prov, 529, body, len, &out), 0);
	assert_string_equal(out.data, "{\"error\":{\"message\":\"Overloaded\",\"type\":\"api_error\",\"param\":null,"
				      "\"code\":\"overloaded_error\"}}");
	free(body);
	buf_reset(&out);
	static const char *const bad[] = {"", "<html>502</html>", "{\"error\":{\"message\":\"openai shape\"}}",
					  "{\"type\":\"error\",\"error\":{\"type\":\"x\"}}",
					  "{\"type\":\"message\",\"error\":{\"type\":\"x\",\"message\":\"m\"}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(provider_anthropic.decode_error(&prov, 500, bad[i], strlen(bad[i]), &out), -1);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
}

/* Streams body through a fresh translator in pieces of the given boundaries (cuts[] ascending). */
static int stream_run(const char *body, size_t len, const size_t *cuts, size_t ncuts, struct buf *out, struct err *err)
{
	struct provider_chat_in in = {
	    .op = PROVIDER_OP_CHAT, .client_model = "claude", .provider_model = "claude-3-7", .created = CREATED};
	struct provider_stream *s = provider_anthropic.stream_new(&prov, &in);
	assert_non_null(s);
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		/* a private copy per piece: the translator must not keep pointers into it */
		char *piece = malloc(end - at + 1);
		memcpy(piece, body + at, end - at);
		rc = provider_anthropic.stream_feed(s, piece, end - at, out, err);
		free(piece);
		at = end;
	}
	if (rc == 0)
		rc = provider_anthropic.stream_finish(s, out, err);
	provider_anthropic.stream_free(s);
	return rc;
}

/* name.sse must become name.expected however it is cut: whole, at each byte, byte by byte, with CRLF. */
static void split_check(const char *name)
{
	char path[64];
	size_t len;
	snprintf(path, sizeof(path), "%s.sse", name);
	char *body = fixture(path, &len);
	snprintf(path, sizeof(path), "%s.expected", name);
	char *text_want = fixture(path, NULL);
	struct buf out;
	struct err err;
	buf_init(&out, 1 << 20);
	assert_int_equal(stream_run(body, len, NULL, 0, &out, &err), 0);
	assert_string_equal(out.data, text_want);
	/* every single cut point, then every byte on its own */
	for (size_t cut = 0; cut <= len; cut++) {
		buf_reset(&out);
		assert_int_equal(stream_run(body, len, &cut, 1, &out, &err), 0);
		assert_string_equal(out.data, text_want);
	}
	size_t *cuts = calloc(len, sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	buf_reset(&out);
	assert_int_equal(stream_run(body, len, cuts, len, &out, &err), 0);
	assert_string_equal(out.data, text_want);
	/* CRLF line endings are the same stream */
	struct buf crlf;
	buf_init(&crlf, 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(body[i] == '\n' ? buf_puts(&crlf, "\r\n") : buf_append(&crlf, body + i, 1), 0);
	buf_reset(&out);
	assert_int_equal(stream_run(crlf.data, crlf.len, cuts, len, &out, &err), 0);
	assert_string_equal(out.data, text_want);
	buf_fini(&crlf);
	free(cuts);
	buf_fini(&out);
	free(text_want);
	free(body);
}

static void test_stream_every_split(void **state)
{
	(void)state;
	split_check("stream_text");
	split_check("stream_tools");
	split_check("stream_error");
}

/* Feeds translated SSE to the OpenAI relay and returns how it ended; *info gets its span facts. */
static int relay_sink(const char *p, size_t n, void *arg)
{
	return buf_append(arg, p, n);
}

static enum chat_stream_end relay(const char *sse, size_t len, bool drop_usage, struct chat_stream_info *info,
				  struct buf *client)
{
	struct chat_stream_opts o = {.drop_usage_chunk = drop_usage, .n_choices = 1};
	struct chat_stream *cs = chat_stream_new(&o);
	struct err err;
	assert_non_null(cs);
	assert_int_equal(chat_stream_feed(cs, sse, len, 1, relay_sink, client, &err), 0);
	enum chat_stream_end end = chat_stream_finish(cs, NULL, relay_sink, client);
	*info = *chat_stream_info(cs);
	chat_stream_free(cs);
	return end;
}

static void test_stream_tools(void **state)
{
	(void)state;
	size_t len;
	char *body = fixture("stream_tools.sse", &len);
	struct buf out, client;
	struct err err;
	buf_init(&out, 1 << 20);
	buf_init(&client, 1 << 20);
	assert_int_equal(stream_run(body, len, NULL, 0, &out, &err), 0);
	char *want = fixture("stream_tools.expected", NULL);
	assert_string_equal(out.data, want);
	free(want);

	/* the relay reads the translated stream as an OpenAI one */
	struct chat_stream_info info;
	assert_int_equal(relay(out.data, out.len, true, &info, &client), CHAT_STREAM_END_DONE);
	assert_string_equal(info.resp.id, "msg_014p7gG3wDgGV9EUtLvnow3U");
	assert_string_equal(info.resp.model, "claude-opus-4-1-20250805");
	assert_string_equal(info.resp.finish_reason, "tool_calls");
	assert_true(info.resp.has_usage);
	assert_int_equal(info.resp.prompt_tokens, 572);
	assert_int_equal(info.resp.completion_tokens, 89);
	assert_int_equal(info.resp.cached_tokens, 100);
	assert_int_equal(info.usage_dropped, 1);
	assert_true(info.first_token);
	assert_null(strstr(client.data, "\"usage\""));
	buf_fini(&client);
	buf_fini(&out);
	free(body);
}

static void test_stream_error_mid_stream(void **state)
{
	(void)state;
	size_t len;
	char *body = fixture("stream_error.sse", &len);
	struct buf out, client;
	struct err err;
	buf_init(&out, 1 << 20);
	buf_init(&client, 1 << 20);
	assert_int_equal(stream_run(body, len, NULL, 0, &out, &err), 0);
	char *want = fixture("stream_error.expected", NULL);
	assert_string_equal(out.data, want);
	free(want);
	const char *tail = "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"api_error\",\"param\":null,"
			   "\"code\":\"overloaded_error\"}}\n\n";
	assert_true(out.len > strlen(tail));
	assert_string_equal(out.data + out.len - strlen(tail), tail); /* nothing after the error */
	assert_null(strstr(out.data, "\"lo\""));
	assert_null(strstr(out.data, "[DONE]"));
	struct chat_stream_info info;
	assert_int_equal(relay(out.data, out.len, false, &info, &client), CHAT_STREAM_END_UPSTREAM_ERROR);
	assert_true(info.upstream_error);
	assert_string_equal(info.upstream_error_code, "overloaded_error");
	buf_fini(&client);

	/* an error event that is not Anthropic's shape still ends the stream with an error event */
	const char *odd =
	    "event: error\ndata: {\"type\":\"error\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
	buf_reset(&out);
	assert_int_equal(stream_run(odd, strlen(odd), NULL, 0, &out, &err), 0);
	assert_non_null(strstr(out.data, "data: {\"error\":"));
	assert_null(strstr(out.data, "[DONE]"));
	buf_fini(&out);
	free(body);
}

static void test_stream_ping_unknown_and_truncation(void **state)
{
	(void)state;
	struct buf out, client;
	struct err err;
	buf_init(&out, 1 << 20);
	buf_init(&client, 1 << 20);
	/* ping alone; unknown events (named or not) and comments are ignored */
	const char *s = "event: ping\ndata: {\"type\": \"ping\"}\n\n: hi\n\nevent: future_thing\ndata: <<not json>>\n\n"
			"data: {\"type\":\"future_thing\"}\n\nevent: content_block_stop\ndata: "
			"{\"type\":\"content_block_stop\"}\n\n";
	assert_int_equal(stream_run(s, strlen(s), NULL, 0, &out, &err), 0);
	assert_string_equal(out.data, ": ping\n\n");

	/* cut short before message_stop: stream_finish adds nothing, the relay reports the truncation */
	size_t len;
	char *body = fixture("stream_text.sse", &len);
	const char *stop = strstr(body, "event: message_stop");
	buf_reset(&out);
	assert_int_equal(stream_run(body, (size_t)(stop - body), NULL, 0, &out, &err), 0);
	assert_null(strstr(out.data, "[DONE]"));
	assert_null(strstr(out.data, "\"usage\""));
	struct chat_stream_info info;
	assert_int_equal(relay(out.data, out.len, false, &info, &client), CHAT_STREAM_END_NO_DONE);
	free(body);
	/* ... and cut before any finish reason: truncated */
	body = fixture("stream_text.sse", &len);
	stop = strstr(body, "event: message_delta");
	buf_reset(&out);
	buf_reset(&client);
	assert_int_equal(stream_run(body, (size_t)(stop - body), NULL, 0, &out, &err), 0);
	assert_int_equal(relay(out.data, out.len, false, &info, &client), CHAT_STREAM_END_TRUNCATED);
	free(body);
	buf_fini(&client);
	buf_fini(&out);
}

static void test_stream_garbage(void **state)
{
	(void)state;
	struct buf out;
	struct err err;
	buf_init(&out, 1 << 20);
	static const char *const bad[] = {"event: message_start\ndata: not json\n\n", "data: [1,2]\n\n",
					  "event: content_block_delta\ndata: \"x\"\n\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&out);
		assert_int_equal(stream_run(bad[i], strlen(bad[i]), NULL, 0, &out, &err), -1);
		assert_int_equal(err.code, EPROTO);
	}
	/* an event over 1 MiB fails, never grows */
	size_t big = ((size_t)1 << 20) + 100;
	char *huge = malloc(big);
	memcpy(huge, "data: ", 6);
	memset(huge + 6, 'a', big - 6);
	buf_reset(&out);
	assert_int_equal(stream_run(huge, big, NULL, 0, &out, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	free(huge);
	/* fields of the wrong type are skipped, not trusted */
	const char *odd =
	    "event: message_start\ndata: {\"message\":{\"id\":7,\"model\":null,\"usage\":[]}}\n\n"
	    "event: content_block_start\ndata: {\"index\":\"x\",\"content_block\":{\"type\":\"tool_use\"}}\n\n"
	    "event: content_block_delta\ndata: "
	    "{\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n"
	    "event: message_delta\ndata: {\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":-5}}\n\n"
	    "event: message_stop\ndata: {}\n\n";
	buf_reset(&out);
	assert_int_equal(stream_run(odd, strlen(odd), NULL, 0, &out, &err), 0);
	assert_non_null(strstr(out.data, "\"model\":\"claude-3-7\"")); /* the fallback model */
	assert_non_null(strstr(out.data, "\"completion_tokens\":0"));
	assert_non_null(strstr(out.data, "data: [DONE]\n\n"));
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_system_and_merge),
	    cmocka_unit_test(test_request_images),
	    cmocka_unit_test(test_request_tools_and_choice),
	    cmocka_unit_test(test_request_tool_round_trip),
	    cmocka_unit_test(test_request_options),
	    cmocka_unit_test(test_request_rejects),
	    cmocka_unit_test(test_ops_encode_and_headers),
	    cmocka_unit_test(test_response_text),
	    cmocka_unit_test(test_response_tool_use_and_cache),
	    cmocka_unit_test(test_response_stop_reasons),
	    cmocka_unit_test(test_response_rejects),
	    cmocka_unit_test(test_error_translation),
	    cmocka_unit_test(test_stream_every_split),
	    cmocka_unit_test(test_stream_tools),
	    cmocka_unit_test(test_stream_error_mid_stream),
	    cmocka_unit_test(test_stream_ping_unknown_and_truncation),
	    cmocka_unit_test(test_stream_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
