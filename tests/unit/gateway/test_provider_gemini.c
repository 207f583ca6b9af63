/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the gemini provider (gateway/provider_gemini.c,
 * gemini_req.c, gemini_resp.c): OpenAI requests become
 * GenerateContentRequests (system instruction, roles and merging, images,
 * tools and tool results, generationConfig), Gemini answers, errors and
 * SSE streams become OpenAI's shapes. The Gemini fixtures follow the
 * documented examples at https://ai.google.dev/api/generate-content and
 * https://ai.google.dev/gemini-api/docs/function-calling (bodies as the
 * API sends them, streams with the CRLF line endings Google uses). The
 * stream is fed whole and split at every byte, and the result is run
 * through the real relay (chat_stream) to check that it reads our chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/chat_stream.h"
#include "gateway/gemini_req.h"
#include "gateway/gemini_resp.h"
#include "gateway/provider.h"

static struct gw_provider prov = {.name = "g", .type = GW_PROVIDER_GEMINI, .url = {.path = "/v1beta"}};

/* ---- helpers ---------------------------------------------------------------------------------- */

/* Value at a dotted path ("contents.0.parts.1.text"); numbers index arrays. NULL if absent. */
static json_t *jp(json_t *v, const char *path)
{
	char key[64];
	while (v != NULL && *path != '\0') {
		size_t n = strcspn(path, ".");
		assert_true(n < sizeof(key));
		memcpy(key, path, n);
		key[n] = '\0';
		path += n + (path[n] == '.');
		v = json_is_array(v) ? json_array_get(v, strtoul(key, NULL, 10)) : json_object_get(v, key);
	}
	return v;
}

static const char *js(json_t *v, const char *path)
{
	return json_string_value(jp(v, path));
}

static json_int_t ji(json_t *v, const char *path)
{
	assert_true(json_is_integer(jp(v, path)));
	return json_integer_value(jp(v, path));
}

/* Encodes an OpenAI body for provider model pm. Returns the Gemini body parsed (NULL on failure, err set). */
static json_t *encode(const char *body, const char *pm, char *path, size_t pathsz, struct err *err)
{
	struct chat_request req;
	struct chat_parse_err pe;
	struct provider_http ph;
	json_t *out = NULL;
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &pe), CHAT_OK);
	struct provider_chat_in in = {PROVIDER_OP_CHAT, &req, NULL, body, strlen(body), req.model, pm, "rid", 7};
	memset(ph.path, 0, sizeof(ph.path));
	buf_init(&ph.body, 1 << 20);
	err_clear(err);
	if (provider_gemini.encode(&prov, &in, &ph, err) == 0) {
		assert_false(ph.use_client_body);
		out = json_loadb(ph.body.data, ph.body.len, 0, NULL);
		assert_non_null(out);
		if (path != NULL)
			snprintf(path, pathsz, "%s", ph.path);
	} else {
		assert_true(err->msg[0] != '\0');
	}
	chat_request_fini(&req);
	buf_fini(&ph.body);
	return out;
}

/* Expects encode to fail with EINVAL and a message containing what. */
static void encode_fails(const char *body, const char *what)
{
	struct err err;
	json_t *g = encode(body, "gemini-2.5-flash", NULL, 0, &err);
	assert_null(g);
	assert_int_equal(err.code, EINVAL);
	if (strstr(err.msg, what) == NULL)
		fail_msg("error '%s' does not mention '%s'", err.msg, what);
}

#define MSGS(x) "{\"model\":\"m\",\"messages\":[" x "]}"
#define U(t) "{\"role\":\"user\",\"content\":\"" t "\"}"

/* ---- request ---------------------------------------------------------------------------------- */

static void test_path_and_model(void **state)
{
	(void)state;
	char path[512], small[24];
	struct err err;
	json_t *g = encode(MSGS(U("hi")), "gemini-2.5-flash", path, sizeof(path), &err);
	assert_string_equal(path, "/v1beta/models/gemini-2.5-flash:generateContent");
	json_decref(g);
	g = encode("{\"model\":\"m\",\"stream\":true,\"messages\":[" U("hi") "]}", "models/gemini-2.0-flash-001", path,
		   sizeof(path), &err);
	assert_string_equal(path, "/v1beta/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse");
	/* Gemini always reports usage: nothing like stream_options goes out */
	assert_null(jp(g, "stream_options"));
	json_decref(g);
	const char *bad[] = {"", "models/", "a/b", "x?alt=json", "g:generateContent", "a b", "m%2f", "models/../x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(encode(MSGS(U("hi")), bad[i], NULL, 0, &err));
		assert_int_equal(err.code, EINVAL);
	}
	assert_int_equal(gemini_req_path("/v1beta", "gemini-2.5-flash", false, small, sizeof(small), &err), -1);
	assert_int_equal(err.code, ENAMETOOLONG);
}

static void test_system_roles_merge(void **state)
{
	(void)state;
	struct err err;
	json_t *g =
	    encode(MSGS("{\"role\":\"system\",\"content\":\"Be brief.\"}," U("a") "," U(
		       "b") ","
			    "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No emoji.\"}]},"
			    "{\"role\":\"assistant\",\"content\":\"c\",\"name\":\"bot\"},"
			    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"d\"}]}," U("e")),
		   "gemini-2.5-flash", NULL, 0, &err);
	assert_non_null(g);
	assert_string_equal(js(g, "systemInstruction.parts.0.text"), "Be brief.");
	assert_string_equal(js(g, "systemInstruction.parts.1.text"), "No emoji.");
	assert_int_equal(json_array_size(jp(g, "contents")), 3);
	assert_string_equal(js(g, "contents.0.role"), "user");
	assert_string_equal(js(g, "contents.0.parts.0.text"), "a");
	assert_string_equal(js(g, "contents.0.parts.1.text"), "b");
	assert_string_equal(js(g, "contents.1.role"), "model");
	assert_int_equal(json_array_size(jp(g, "contents.1.parts")), 2);
	assert_string_equal(js(g, "contents.1.parts.1.text"), "d");
	assert_string_equal(js(g, "contents.2.parts.0.text"), "e");
	assert_null(jp(g, "generationConfig"));
	assert_null(jp(g, "tools"));
	json_decref(g);
	/* no system message: no systemInstruction */
	g = encode(MSGS(U("x")), "gemini-2.5-flash", NULL, 0, &err);
	assert_null(jp(g, "systemInstruction"));
	json_decref(g);
}

static void test_images(void **state)
{
	(void)state;
	struct err err;
	json_t *g =
	    encode(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is this?\"},"
			"{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
			"png;base64,iVBORw0KGgo=\",\"detail\":\"low\"}},"
			"{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a/cat.WEBP?x=1.png#f\"}},"
			"{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/v1.2/photo\"}},"
			"{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklGRg==\",\"format\":\"wav\"}}]}"),
		   "gemini-2.5-flash", NULL, 0, &err);
	assert_non_null(g);
	assert_string_equal(js(g, "contents.0.parts.0.text"), "What is this?");
	assert_string_equal(js(g, "contents.0.parts.1.inlineData.mimeType"), "image/png");
	assert_string_equal(js(g, "contents.0.parts.1.inlineData.data"), "iVBORw0KGgo=");
	assert_string_equal(js(g, "contents.0.parts.2.fileData.mimeType"), "image/webp");
	assert_string_equal(js(g, "contents.0.parts.2.fileData.fileUri"), "https://example.com/a/cat.WEBP?x=1.png#f");
	assert_string_equal(js(g, "contents.0.parts.3.fileData.mimeType"), "image/jpeg");
	assert_string_equal(js(g, "contents.0.parts.4.inlineData.mimeType"), "audio/wav");
	json_decref(g);
	encode_fails(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
			  "png,abc\"}}]}"),
		     "base64");
	encode_fails(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:;"
			  "base64,abc\"}}]}"),
		     "media type");
	encode_fails(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}"),
		     "image_url.url");
	/* images are user content only */
	encode_fails(MSGS(U("x") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
				 "\"https://e/x.png\"}}]}"),
		     "messages[1].content[0]");
}

static const char tools_body[] = "{\"model\":\"m\",\"messages\":[" U(
    "weather?") "],\"tools\":[{\"type\":\"function\",\"function\":{"
		"\"name\":\"get_weather\",\"description\":\"Current weather\",\"parameters\":{\"type\":\"object\","
		"\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
		"{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";

static void test_tools_and_choice(void **state)
{
	(void)state;
	struct err err;
	char body[1024];
	static const struct {
		const char *choice, *mode, *only;
	} cases[] = {
	    {"", NULL, NULL},
	    {",\"tool_choice\":\"auto\"", "AUTO", NULL},
	    {",\"tool_choice\":\"none\"", "NONE", NULL},
	    {",\"tool_choice\":\"required\"", "ANY", NULL},
	    {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}}", "ANY", "now"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "%s%s}", tools_body, cases[i].choice);
		json_t *g = encode(body, "gemini-2.5-flash", NULL, 0, &err);
		assert_non_null(g);
		assert_int_equal(json_array_size(jp(g, "tools")), 1);
		assert_string_equal(js(g, "tools.0.functionDeclarations.0.name"), "get_weather");
		assert_string_equal(js(g, "tools.0.functionDeclarations.0.description"), "Current weather");
		assert_string_equal(js(g, "tools.0.functionDeclarations.0.parameters.required.0"), "city");
		assert_string_equal(js(g, "tools.0.functionDeclarations.1.name"), "now");
		assert_null(jp(g, "tools.0.functionDeclarations.1.parameters"));
		if (cases[i].mode == NULL)
			assert_null(jp(g, "toolConfig"));
		else
			assert_string_equal(js(g, "toolConfig.functionCallingConfig.mode"), cases[i].mode);
		if (cases[i].only != NULL)
			assert_string_equal(js(g, "toolConfig.functionCallingConfig.allowedFunctionNames.0"),
					    cases[i].only);
		else
			assert_null(jp(g, "toolConfig.functionCallingConfig.allowedFunctionNames"));
		json_decref(g);
	}
	snprintf(body, sizeof(body), "%s,\"tool_choice\":\"sometimes\"}", tools_body);
	encode_fails(body, "tool_choice");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"tools\":[{\"type\":\"custom\",\"custom\":{}}]}",
		     "tools[0].type");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"tools\":[{\"type\":\"function\",\"function\":{}}]}",
		     "tools[0].function.name");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"tools\":{}}", "tools");
}

/* The documented function-calling round trip: call, then its result, then the model's answer. */
static void test_tool_round_trip(void **state)
{
	(void)state;
	struct err err;
	json_t *g = encode(
	    MSGS(U("Weather in Paris and Rome?") ","
						 "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
						 "{\"id\":\"call_0_0\",\"type\":\"function\",\"function\":{\"name\":"
						 "\"get_weather\",\"arguments\":"
						 "\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
						 "{\"id\":\"call_0_1\",\"type\":\"function\",\"function\":{\"name\":"
						 "\"get_time\",\"arguments\":\"\"}}]},"
						 "{\"role\":\"tool\",\"tool_call_id\":\"call_0_0\",\"content\":\"{"
						 "\\\"temp\\\":21}\"},"
						 "{\"role\":\"tool\",\"tool_call_id\":\"call_0_1\",\"content\":[{"
						 "\"type\":\"text\",\"text\":\"noon\"}]},"
						 "{\"role\":\"assistant\",\"content\":\"21C at noon\"}," U("thanks")),
	    "gemini-2.5-flash", NULL, 0, &err);
	assert_non_null(g);
	assert_int_equal(json_array_size(jp(g, "contents")), 5);
	assert_string_equal(js(g, "contents.1.role"), "model");
	assert_string_equal(js(g, "contents.1.parts.0.functionCall.name"), "get_weather");
	assert_string_equal(js(g, "contents.1.parts.0.functionCall.args.city"), "Paris");
	assert_true(json_is_object(jp(g, "contents.1.parts.1.functionCall.args")));
	assert_int_equal(json_object_size(jp(g, "contents.1.parts.1.functionCall.args")), 0);
	/* both results in one user turn, named from the calls */
	assert_string_equal(js(g, "contents.2.role"), "user");
	assert_string_equal(js(g, "contents.2.parts.0.functionResponse.name"), "get_weather");
	assert_int_equal(ji(g, "contents.2.parts.0.functionResponse.response.temp"), 21);
	assert_string_equal(js(g, "contents.2.parts.1.functionResponse.name"), "get_time");
	assert_string_equal(js(g, "contents.2.parts.1.functionResponse.response.content"), "noon");
	assert_string_equal(js(g, "contents.3.parts.0.text"), "21C at noon");
	assert_string_equal(js(g, "contents.4.parts.0.text"), "thanks");
	json_decref(g);

	encode_fails(MSGS(U("x") ",{\"role\":\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"r\"}"),
		     "messages[1].tool_call_id");
	encode_fails(MSGS(U("x") ",{\"role\":\"tool\",\"content\":\"r\"}"), "tool_call_id");
	encode_fails(MSGS(U("x") ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
				 "\"function\":{\"name\":\"f\",\"arguments\":\"{bad\"}}]}"),
		     "messages[1].tool_calls[0].function.arguments");
	encode_fails(MSGS(U("x") ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
				 "\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}"),
		     "arguments");
	/* legacy function role names the function itself */
	g = encode(MSGS(U("x") ",{\"role\":\"function\",\"name\":\"f\",\"content\":\"42\"}"), "g", NULL, 0, &err);
	assert_string_equal(js(g, "contents.0.parts.1.functionResponse.name"), "f");
	assert_string_equal(js(g, "contents.0.parts.1.functionResponse.response.content"), "42");
	json_decref(g);
}

static void test_generation_config(void **state)
{
	(void)state;
	struct err err;
	json_t *g = encode("{\"model\":\"m\",\"messages\":[" U(
			       "x") "],\"temperature\":0.5,\"top_p\":0.9,"
				    "\"max_tokens\":50,\"max_completion_tokens\":100,\"stop\":\"END\",\"n\":2,"
				    "\"presence_penalty\":0.1,\"frequency_penalty\":-0.2,\"seed\":7,"
				    "\"response_format\":{\"type\":\"json_object\"},\"user\":\"u\",\"logit_bias\":{}}",
			   "g", NULL, 0, &err);
	assert_non_null(g);
	assert_true(json_number_value(jp(g, "generationConfig.temperature")) == 0.5);
	assert_true(json_number_value(jp(g, "generationConfig.topP")) == 0.9);
	assert_int_equal(ji(g, "generationConfig.maxOutputTokens"), 100);
	assert_string_equal(js(g, "generationConfig.stopSequences.0"), "END");
	assert_int_equal(ji(g, "generationConfig.candidateCount"), 2);
	assert_true(json_number_value(jp(g, "generationConfig.presencePenalty")) == 0.1);
	assert_true(json_number_value(jp(g, "generationConfig.frequencyPenalty")) == -0.2);
	assert_int_equal(ji(g, "generationConfig.seed"), 7);
	assert_string_equal(js(g, "generationConfig.responseMimeType"), "application/json");
	assert_null(jp(g, "generationConfig.responseJsonSchema"));
	assert_null(jp(g, "user"));
	json_decref(g);

	g = encode(
	    "{\"model\":\"m\",\"messages\":[" U(
		"x") "],\"max_tokens\":10,\"stop\":[\"a\",\"b\"],"
		     "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"r\",\"strict\":true,"
		     "\"schema\":{\"type\":\"object\",\"additionalProperties\":false}}}}",
	    "g", NULL, 0, &err);
	assert_int_equal(ji(g, "generationConfig.maxOutputTokens"), 10);
	assert_string_equal(js(g, "generationConfig.stopSequences.1"), "b");
	assert_string_equal(js(g, "generationConfig.responseMimeType"), "application/json");
	assert_string_equal(js(g, "generationConfig.responseJsonSchema.type"), "object");
	json_decref(g);

	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"temperature\":\"hot\"}", "temperature");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"max_tokens\":1.5}", "max_tokens");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"stop\":[1]}", "stop");
	encode_fails("{\"model\":\"m\",\"messages\":[" U("x") "],\"response_format\":{\"type\":\"yaml\"}}",
		     "response_format");
}

static void test_bad_messages(void **state)
{
	(void)state;
	encode_fails(MSGS("{\"content\":\"x\"}"), "messages[0].role");
	encode_fails(MSGS("{\"role\":\"wizard\",\"content\":\"x\"}"), "wizard");
	encode_fails(MSGS("{\"role\":\"user\",\"content\":5}"), "messages[0].content");
	encode_fails(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}"), "video");
	encode_fails(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}"), "content[0].text");
	encode_fails(MSGS("{\"role\":\"system\",\"content\":\"only system\"}"), "user or assistant");
	encode_fails(MSGS("1"), "messages[0]");
}

static void test_auth_header(void **state)
{
	(void)state;
	struct evkeyvalq h;
	struct gw_provider p = prov;
	char key[] = "AIza-secret";
	TAILQ_INIT(&h);
	provider_gemini.auth_headers(&p, &h);
	assert_null(evhttp_find_header(&h, "x-goog-api-key"));
	p.api_key = key;
	provider_gemini.auth_headers(&p, &h);
	assert_string_equal(evhttp_find_header(&h, "x-goog-api-key"), "AIza-secret");
	assert_null(evhttp_find_header(&h, "Authorization"));
	evhttp_clear_headers(&h);
	assert_string_equal(provider_gemini.name, "gemini");
	assert_false(provider_gemini.in_process);
	assert_int_equal(provider_gemini.endpoints, PROVIDER_EP(PROVIDER_OP_CHAT));
}

/* ---- response --------------------------------------------------------------------------------- */

/* Decodes a Gemini body; returns the OpenAI answer parsed, NULL when decode failed. */
static json_t *decode(const char *body, struct chat_response_info *info)
{
	struct provider_chat_in in = {
	    .op = PROVIDER_OP_CHAT, .client_model = "c", .provider_model = "gemini-x", .created = 1700000000};
	struct buf out;
	bool relay = true;
	struct err err;
	json_t *v = NULL;
	buf_init(&out, 1 << 20);
	if (provider_gemini.decode(&prov, &in, body, strlen(body), info, &out, &relay, &err) == 0) {
		assert_false(relay);
		v = json_loadb(out.data, out.len, 0, NULL);
		assert_non_null(v);
	}
	buf_fini(&out);
	return v;
}

static void test_decode_text(void **state)
{
	(void)state;
	struct chat_response_info info;
	json_t *r = decode("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Let me think.\",\"thought\":true},"
			   "{\"text\":\"Hello! \"},{\"text\":\"How can I help?\"}],\"role\":\"model\"},"
			   "\"finishReason\":\"STOP\",\"avgLogprobs\":-0.1}],"
			   "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":8,"
			   "\"totalTokenCount\":15,\"thoughtsTokenCount\":3,\"cachedContentTokenCount\":2,"
			   "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":4}]},"
			   "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"mJ9oaK3zB\"}",
			   &info);
	assert_non_null(r);
	assert_string_equal(js(r, "id"), "mJ9oaK3zB");
	assert_string_equal(js(r, "object"), "chat.completion");
	assert_int_equal(ji(r, "created"), 1700000000);
	assert_string_equal(js(r, "model"), "gemini-2.5-flash");
	assert_int_equal(ji(r, "choices.0.index"), 0);
	assert_string_equal(js(r, "choices.0.message.role"), "assistant");
	assert_string_equal(js(r, "choices.0.message.content"), "Hello! How can I help?");
	assert_null(jp(r, "choices.0.message.tool_calls"));
	assert_string_equal(js(r, "choices.0.finish_reason"), "stop");
	assert_int_equal(ji(r, "usage.prompt_tokens"), 4);
	assert_int_equal(ji(r, "usage.completion_tokens"), 11);
	assert_int_equal(ji(r, "usage.total_tokens"), 15);
	assert_int_equal(ji(r, "usage.prompt_tokens_details.cached_tokens"), 2);
	assert_int_equal(ji(r, "usage.completion_tokens_details.reasoning_tokens"), 3);
	assert_string_equal(info.id, "mJ9oaK3zB");
	assert_string_equal(info.model, "gemini-2.5-flash");
	assert_string_equal(info.finish_reason, "stop");
	assert_int_equal(info.prompt_tokens, 4);
	assert_int_equal(info.completion_tokens, 11);
	assert_int_equal(info.cached_tokens, 2);
	assert_true(info.has_usage);
	json_decref(r);
	/* no responseId / modelVersion / usage: defaults */
	r = decode("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}]}", &info);
	assert_string_equal(js(r, "id"), GEMINI_DEFAULT_ID);
	assert_string_equal(js(r, "model"), "gemini-x");
	assert_null(jp(r, "usage"));
	assert_false(info.has_usage);
	json_decref(r);
}

static void test_decode_function_call(void **state)
{
	(void)state;
	struct chat_response_info info;
	json_t *r = decode("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
			   "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\",\"days\":[1,2]}}},"
			   "{\"functionCall\":{\"id\":\"fc-7\",\"name\":\"get_time\"}}]},\"finishReason\":\"STOP\","
			   "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":70,\"candidatesTokenCount\":20}}",
			   &info);
	assert_non_null(r);
	assert_true(json_is_null(jp(r, "choices.0.message.content")));
	assert_string_equal(js(r, "choices.0.message.tool_calls.0.id"), "call_0_0");
	assert_string_equal(js(r, "choices.0.message.tool_calls.0.type"), "function");
	assert_string_equal(js(r, "choices.0.message.tool_calls.0.function.name"), "get_weather");
	assert_string_equal(js(r, "choices.0.message.tool_calls.0.function.arguments"),
			    "{\"city\":\"Paris\",\"days\":[1,2]}");
	assert_null(jp(r, "choices.0.message.tool_calls.0.index"));
	assert_string_equal(js(r, "choices.0.message.tool_calls.1.id"), "fc-7");
	assert_string_equal(js(r, "choices.0.message.tool_calls.1.function.arguments"), "{}");
	assert_string_equal(js(r, "choices.0.finish_reason"), "tool_calls");
	assert_string_equal(info.finish_reason, "tool_calls");
	json_decref(r);
}

static void test_finish_reasons(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"STOP", "stop"},
	    {"MAX_TOKENS", "length"},
	    {"SAFETY", "content_filter"},
	    {"RECITATION", "content_filter"},
	    {"BLOCKLIST", "content_filter"},
	    {"PROHIBITED_CONTENT", "content_filter"},
	    {"SPII", "content_filter"},
	    {"IMAGE_SAFETY", "content_filter"},
	    {"LANGUAGE", "stop"},
	    {"OTHER", "stop"},
	    {"MALFORMED_FUNCTION_CALL", "stop"},
	    {"FINISH_REASON_UNSPECIFIED", "stop"},
	};
	char body[256];
	struct chat_response_info info;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"%s\"}]}",
			 cases[i][0]);
		json_t *r = decode(body, &info);
		assert_string_equal(js(r, "choices.0.finish_reason"), cases[i][1]);
		json_decref(r);
	}
	/* a safety stop with no content: content null */
	json_t *r = decode("{\"candidates\":[{\"finishReason\":\"SAFETY\",\"safetyRatings\":[]}]}", &info);
	assert_true(json_is_null(jp(r, "choices.0.message.content")));
	assert_string_equal(js(r, "choices.0.finish_reason"), "content_filter");
	json_decref(r);
	assert_string_equal(gemini_resp_finish(NULL, false), "stop");
	assert_string_equal(gemini_resp_finish("MAX_TOKENS", true), "length");
}

static void test_blocked_and_n2(void **state)
{
	(void)state;
	struct chat_response_info info;
	json_t *r = decode("{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[]},"
			   "\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9}}",
			   &info);
	assert_non_null(r);
	assert_int_equal(json_array_size(jp(r, "choices")), 1);
	assert_true(json_is_null(jp(r, "choices.0.message.content")));
	assert_string_equal(js(r, "choices.0.finish_reason"), "content_filter");
	assert_int_equal(ji(r, "usage.prompt_tokens"), 9);
	assert_int_equal(ji(r, "usage.completion_tokens"), 0);
	assert_string_equal(info.finish_reason, "content_filter");
	json_decref(r);

	r = decode(
	    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one\"}]},\"finishReason\":\"STOP\",\"index\":0},"
	    "{\"content\":{\"parts\":[{\"text\":\"two\"}]},\"finishReason\":\"MAX_TOKENS\",\"index\":1}]}",
	    &info);
	assert_int_equal(json_array_size(jp(r, "choices")), 2);
	assert_int_equal(ji(r, "choices.1.index"), 1);
	assert_string_equal(js(r, "choices.0.message.content"), "one");
	assert_string_equal(js(r, "choices.1.message.content"), "two");
	assert_string_equal(js(r, "choices.1.finish_reason"), "length");
	json_decref(r);
}

static void test_decode_garbage(void **state)
{
	(void)state;
	struct chat_response_info info;
	const char *bad[] = {"",
			     "nope",
			     "[]",
			     "{}",
			     "{\"candidates\":{}}",
			     "{\"candidates\":[1]}",
			     "{\"candidates\":[]}",
			     "{\"candidates\":[{}]} x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(decode(bad[i], &info));
}

static void test_errors(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 4096);
	const char *obj = "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\","
			  "\"status\":\"INVALID_ARGUMENT\",\"details\":[]}}";
	assert_int_equal(provider_gemini.decode_error(&prov, 400, obj, strlen(obj), &out), 0);
	json_t *e = json_loadb(out.data, out.len, 0, NULL);
	assert_string_equal(js(e, "error.message"), "API key not valid. Please pass a valid API key.");
	assert_string_equal(js(e, "error.type"), "invalid_request_error");
	assert_true(json_is_null(jp(e, "error.param")));
	assert_string_equal(js(e, "error.code"), "invalid_argument");
	json_decref(e);

	const char *arr = "[{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\","
			  "\"status\":\"RESOURCE_EXHAUSTED\"}}]";
	buf_reset(&out);
	assert_int_equal(provider_gemini.decode_error(&prov, 429, arr, strlen(arr), &out), 0);
	e = json_loadb(out.data, out.len, 0, NULL);
	assert_string_equal(js(e, "error.type"), "rate_limit_error");
	assert_string_equal(js(e, "error.code"), "resource_exhausted");
	json_decref(e);

	const char *nostatus = "{\"error\":{\"code\":500,\"message\":\"Internal\"}}";
	buf_reset(&out);
	assert_int_equal(provider_gemini.decode_error(&prov, 503, nostatus, strlen(nostatus), &out), 0);
	e = json_loadb(out.data, out.len, 0, NULL);
	assert_string_equal(js(e, "error.type"), "api_error");
	assert_true(json_is_null(jp(e, "error.code")));
	json_decref(e);

	const char *bad[] = {"",
			     "<html>502</html>",
			     "{}",
			     "{\"error\":\"x\"}",
			     "{\"error\":{\"code\":1}}",
			     "[{\"error\":{\"message\":\"a\"}},{}]",
			     "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&out);
		assert_int_equal(provider_gemini.decode_error(&prov, 400, bad[i], strlen(bad[i]), &out), -1);
		assert_int_equal(out.len, 0);
	}
	buf_fini(&out);
}

/* ---- stream ----------------------------------------------------------------------------------- */

/* Runs a whole stream through the translator, fed in pieces of step bytes (0: whole); returns feed rc. */
static int translate(const char *s, size_t n, size_t step, struct buf *out, bool finish)
{
	struct provider_chat_in in = {.op = PROVIDER_OP_CHAT, .provider_model = "gemini-x", .created = 1700000001};
	struct provider_stream *ps = provider_gemini.stream_new(&prov, &in);
	struct err err;
	int rc = 0;
	assert_non_null(ps);
	for (size_t at = 0; at < n && rc == 0;) {
		size_t k = step == 0 || step > n - at ? n - at : step;
		rc = provider_gemini.stream_feed(ps, s + at, k, out, &err);
		at += k;
	}
	if (rc == 0 && finish)
		assert_int_equal(provider_gemini.stream_finish(ps, out, &err), 0);
	provider_gemini.stream_free(ps);
	return rc;
}

static const char text_stream[] =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}],"
    "\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5},\"modelVersion\": \"gemini-2.0-flash\","
    "\"responseId\": \"r-1\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" sky is blue. \\u00e9\"}],\"role\": \"model\"},"
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 3,\"totalTokenCount\": 8},"
    "\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"r-1\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},"
    "\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,"
    "\"candidatesTokenCount\": 6,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-2.0-flash\","
    "\"responseId\": \"r-1\"}\r\n\r\n";

static int sink(const char *p, size_t n, void *arg)
{
	return buf_append(arg, p, n);
}

static void test_stream_text_every_split(void **state)
{
	(void)state;
	size_t n = strlen(text_stream);
	struct buf whole, part;
	buf_init(&whole, 1 << 20);
	assert_int_equal(translate(text_stream, n, 0, &whole, true), 0);
	const char *expect =
	    "data: {\"id\":\"r-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,\"model\":\"gemini-2.0-"
	    "flash\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
	    "\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"r-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,\"model\":\"gemini-2.0-"
	    "flash\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"},\"logprobs\":null,\"finish_reason\":"
	    "null}"
	    "]}\n\n"
	    "data: {\"id\":\"r-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,\"model\":\"gemini-2.0-"
	    "flash\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" sky is blue. \xc3\xa9\"},\"logprobs\":null,"
	    "\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"r-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,\"model\":\"gemini-2.0-"
	    "flash\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
	    "data: {\"id\":\"r-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,\"model\":\"gemini-2.0-"
	    "flash\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}"
	    "\n\n"
	    "data: [DONE]\n\n";
	assert_string_equal(whole.data, expect);

	/* two pieces split at every byte, then one byte at a time: the same bytes out */
	for (size_t i = 0; i <= n; i++) {
		struct provider_chat_in in = {.provider_model = "gemini-x", .created = 1700000001};
		struct provider_stream *ps = provider_gemini.stream_new(&prov, &in);
		struct err err;
		buf_init(&part, 1 << 20);
		assert_int_equal(provider_gemini.stream_feed(ps, text_stream, i, &part, &err), 0);
		assert_int_equal(provider_gemini.stream_feed(ps, text_stream + i, n - i, &part, &err), 0);
		assert_int_equal(provider_gemini.stream_finish(ps, &part, &err), 0);
		provider_gemini.stream_free(ps);
		assert_int_equal(part.len, whole.len);
		assert_memory_equal(part.data, whole.data, whole.len);
		buf_fini(&part);
	}
	buf_init(&part, 1 << 20);
	assert_int_equal(translate(text_stream, n, 1, &part, true), 0);
	assert_string_equal(part.data, whole.data);
	buf_fini(&part);

	/* the relay reads it as a complete OpenAI stream and drops the usage chunk it was told to */
	struct chat_stream_opts o = {.drop_usage_chunk = true, .n_choices = 1};
	struct chat_stream *cs = chat_stream_new(&o);
	struct err err;
	buf_init(&part, 1 << 20);
	assert_int_equal(chat_stream_feed(cs, whole.data, whole.len, 1, sink, &part, &err), 0);
	assert_int_equal(chat_stream_finish(cs, NULL, sink, &part), CHAT_STREAM_END_DONE);
	const struct chat_stream_info *ci = chat_stream_info(cs);
	assert_string_equal(ci->resp.id, "r-1");
	assert_string_equal(ci->resp.model, "gemini-2.0-flash");
	assert_string_equal(ci->resp.finish_reason, "stop");
	assert_int_equal(ci->resp.prompt_tokens, 5);
	assert_int_equal(ci->resp.completion_tokens, 6);
	assert_true(ci->first_token);
	assert_int_equal(ci->usage_dropped, 1);
	assert_null(strstr(part.data, "\"usage\""));
	chat_stream_free(cs);
	buf_fini(&part);
	buf_fini(&whole);
}

static void test_stream_function_call(void **state)
{
	(void)state;
	const char *s =
	    "data: "
	    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"thinking\",\"thought\":true},"
	    "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
	    "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Rome\"}}}]},\"index\":0}]}\n\n"
	    "data: "
	    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"now\"}}]},"
	    "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":30,"
	    "\"candidatesTokenCount\":12,\"thoughtsTokenCount\":4}}\n\n";
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(translate(s, strlen(s), 0, &out, true), 0);
	assert_null(strstr(out.data, "thinking"));
	assert_non_null(strstr(out.data, "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_0_0\",\"type\":"
					 "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
					 "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"index\":1,\"id\":\"call_0_1\""));
	/* call indexes go on counting across events */
	assert_non_null(strstr(out.data, "{\"index\":2,\"id\":\"call_0_2\",\"type\":\"function\",\"function\":{"
					 "\"name\":\"now\",\"arguments\":\"{}\"}}"));
	assert_non_null(strstr(out.data, "\"finish_reason\":\"tool_calls\""));
	assert_non_null(strstr(out.data, "\"completion_tokens\":16"));
	assert_non_null(strstr(out.data, "data: [DONE]\n\n"));
	assert_string_equal(GEMINI_DEFAULT_ID, "chatcmpl-gemini");
	assert_non_null(strstr(out.data, "\"id\":\"chatcmpl-gemini\""));
	assert_non_null(strstr(out.data, "\"model\":\"gemini-x\""));
	buf_fini(&out);
}

static void test_stream_truncated_and_n2(void **state)
{
	(void)state;
	/* no finishReason: the stream was cut; finish adds nothing */
	size_t cut =
	    strstr(text_stream, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}]") - text_stream;
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(translate(text_stream, cut, 0, &out, false), 0);
	size_t before = out.len;
	buf_reset(&out);
	assert_int_equal(translate(text_stream, cut, 0, &out, true), 0);
	assert_int_equal(out.len, before);
	assert_null(strstr(out.data, "[DONE]"));
	assert_null(strstr(out.data, "\"usage\""));
	/* two candidates, only one finished: still cut */
	const char *two = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"index\":0,"
			  "\"finishReason\":\"STOP\"},{\"content\":{\"parts\":[{\"text\":\"b\"}]},\"index\":1}]}\n\n";
	buf_reset(&out);
	assert_int_equal(translate(two, strlen(two), 0, &out, true), 0);
	assert_non_null(strstr(out.data, "\"index\":1,\"delta\":{\"content\":\"b\"}"));
	assert_null(strstr(out.data, "[DONE]"));
	/* a stream with no events at all: nothing */
	buf_reset(&out);
	assert_int_equal(translate(": keep-alive\n\n", 14, 0, &out, true), 0);
	assert_int_equal(out.len, 0);
	/* a blocked prompt: one filtered choice, complete */
	const char *blocked = "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
			      "\"usageMetadata\":{\"promptTokenCount\":3}}\n\n";
	buf_reset(&out);
	assert_int_equal(translate(blocked, strlen(blocked), 0, &out, true), 0);
	assert_non_null(strstr(out.data, "\"finish_reason\":\"content_filter\""));
	assert_non_null(strstr(out.data, "[DONE]"));
	buf_fini(&out);
}

static void test_stream_error_and_garbage(void **state)
{
	(void)state;
	const char *s =
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"index\":0}]}\r\n\r\n"
	    "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":"
	    "\"UNAVAILABLE\"}}\r\n\r\n"
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"more\"}]},\"finishReason\":\"STOP\"}]}"
	    "\r\n\r\n";
	struct buf out;
	struct err err;
	buf_init(&out, 1 << 20);
	assert_int_equal(translate(s, strlen(s), 0, &out, true), 0);
	const char *tail = "data: {\"error\":{\"message\":\"The model is overloaded.\",\"type\":\"api_error\","
			   "\"param\":null,\"code\":\"unavailable\"}}\n\n";
	assert_true(out.len > strlen(tail));
	assert_string_equal(out.data + out.len - strlen(tail), tail);
	assert_null(strstr(out.data, "more"));
	/* the relay sees the provider's own error */
	struct chat_stream *cs = chat_stream_new(NULL);
	struct buf relayed;
	buf_init(&relayed, 1 << 20);
	assert_int_equal(chat_stream_feed(cs, out.data, out.len, 1, sink, &relayed, &err), 0);
	assert_int_equal(chat_stream_finish(cs, NULL, sink, &relayed), CHAT_STREAM_END_UPSTREAM_ERROR);
	chat_stream_free(cs);
	buf_fini(&relayed);

	/* not Gemini's format: EPROTO, and the translator stays failed */
	struct provider_chat_in in = {.provider_model = "m"};
	struct provider_stream *ps = provider_gemini.stream_new(&prov, &in);
	buf_reset(&out);
	assert_int_equal(provider_gemini.stream_feed(ps, "data: nope\n\n", 12, &out, &err), -1);
	assert_int_equal(err.code, EPROTO);
	assert_int_equal(provider_gemini.stream_feed(ps, "data: {}\n\n", 10, &out, &err), -1);
	assert_int_equal(provider_gemini.stream_finish(ps, &out, &err), 0);
	assert_int_equal(out.len, 0);
	provider_gemini.stream_free(ps);
	provider_gemini.stream_free(NULL);
	const char *bad[] = {"data: [1]\n\n", "data: {\"candidates\":5}\n\n",
			     "data: {\"candidates\":[{\"index\":9}]}\n\n", "data: {\"candidates\":[7]}\n\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&out);
		assert_int_equal(translate(bad[i], strlen(bad[i]), 0, &out, false), -1);
	}
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_and_model),
	    cmocka_unit_test(test_system_roles_merge),
	    cmocka_unit_test(test_images),
	    cmocka_unit_test(test_tools_and_choice),
	    cmocka_unit_test(test_tool_round_trip),
	    cmocka_unit_test(test_generation_config),
	    cmocka_unit_test(test_bad_messages),
	    cmocka_unit_test(test_auth_header),
	    cmocka_unit_test(test_decode_text),
	    cmocka_unit_test(test_decode_function_call),
	    cmocka_unit_test(test_finish_reasons),
	    cmocka_unit_test(test_blocked_and_n2),
	    cmocka_unit_test(test_decode_garbage),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_stream_text_every_split),
	    cmocka_unit_test(test_stream_function_call),
	    cmocka_unit_test(test_stream_truncated_and_n2),
	    cmocka_unit_test(test_stream_error_and_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
