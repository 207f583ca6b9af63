/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gemini generateContent / streamGenerateContent of llmgw-mock.
 *
 * Google's JSON parser takes both lowerCamel and proto (snake_case) field
 * names and rejects any other field, so every lookup here tries both and
 * every object is checked against its known fields. The first failed check
 * is answered 400 INVALID_ARGUMENT (403 PERMISSION_DENIED without an API
 * key) in Google's error shape and counted in bad_requests. The answer is a
 * GenerateContentResponse: candidateCount identical candidates (role
 * "model"), finishReason STOP or MAX_TOKENS, usageMetadata in words,
 * modelVersion = the model of the path, responseId mock-<n>. A forced
 * function (mode ANY with one allowed name, or one declaration) is
 * answered with a functionCall part. Streams are prepared whole and played
 * by mock_sse: CRLF-framed `data:` events with ?alt=sse, else the pieces of
 * one JSON array.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/support/mock/mock_anthropic.h"
#include "tests/support/mock/mock_gemini.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"
#include "tests/support/mock/mock_sse.h"

#define TEXT_MAX (8u * 1024 * 1024) /* bound on any text the mock collects */
#define NAME_MAX_LEN 64

struct chk {
	char msg[512];
};

/* Everything an answer needs, whole or streamed. */
struct gem {
	char id[64];	 /* mock-<n> */
	char model[256]; /* from the path */
	struct buf echo; /* text of the last user content that had text */
	struct buf tools;
	struct buf out;
	bool tool_result_last;
	size_t in_words;
	const char *text; /* not owned */
	size_t len;
	const char *finish;
	const char *fn; /* forced function, else NULL */
	json_t *args;	/* owned */
	int candidates;
};

static const char *const top_keys[] = {
    "contents",		"tools",	 "toolConfig", "safetySettings", "systemInstruction",
    "generationConfig", "cachedContent", "model"};
static const char *const content_keys[] = {"role", "parts"};
static const char *const data_keys[] = {
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"};
static const char *const part_meta_keys[] = {"thought", "thoughtSignature", "videoMetadata", "partMetadata",
					     "mediaResolution"};
static const char *const gen_keys[] = {"stopSequences",
				       "responseMimeType",
				       "responseSchema",
				       "responseJsonSchema",
				       "responseModalities",
				       "candidateCount",
				       "maxOutputTokens",
				       "temperature",
				       "topP",
				       "topK",
				       "seed",
				       "presencePenalty",
				       "frequencyPenalty",
				       "responseLogprobs",
				       "logprobs",
				       "enableEnhancedCivicAnswers",
				       "speechConfig",
				       "thinkingConfig",
				       "mediaResolution"};
static const char *const tool_keys[] = {
    "functionDeclarations", "codeExecution", "googleSearch", "googleSearchRetrieval",
    "urlContext",	    "computerUse",   "fileSearch",   "googleMaps"};
static const char *const modes[] = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int bad(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct chk *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -1;
}

const char *mock_gemini_status(int code)
{
	switch (code) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "ABORTED";
	case 412:
		return "FAILED_PRECONDITION";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 499:
		return "CANCELLED";
	case 501:
		return "UNIMPLEMENTED";
	case 502:
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	default:
		return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
	}
}

void mock_gemini_error(struct mock *m, struct mock_req *r, int code, int latency_ms, const char *status,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *v = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "message", msg, "status",
			      status != NULL ? status : mock_gemini_status(code));
	mock_reply_json(m, r, code, v, latency_ms);
}

/* ---- field names: lowerCamel and snake_case --------------------------------- */

/* snake_case -> lowerCamel (names without '_' are unchanged). */
static void camel_of(const char *key, char *out, size_t cap)
{
	size_t o = 0;
	for (bool up = false; *key != '\0' && o + 1 < cap; key++) {
		if (*key == '_' && o > 0) {
			up = true;
			continue;
		}
		out[o++] = up ? (char)toupper((unsigned char)*key) : *key;
		up = false;
	}
	out[o] = '\0';
}

/* lowerCamel -> snake_case, for Google-style error paths. */
static void snake_of(const char *key, char *out, size_t cap)
{
	size_t o = 0;
	for (; *key != '\0' && o + 2 < cap; key++) {
		if (isupper((unsigned char)*key)) {
			out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*key);
		} else {
			out[o++] = *key;
		}
	}
	out[o] = '\0';
}

/* obj's member camel, under its lowerCamel or its snake_case name. */
static const json_t *gget(const json_t *obj, const char *camel)
{
	char snake[NAME_MAX_LEN];
	const json_t *v = json_object_get(obj, camel);
	if (v != NULL)
		return v;
	snake_of(camel, snake, sizeof(snake));
	return json_object_get(obj, snake);
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Every member of obj must be one of known (by either spelling). at: "" or " at 'x'". */
static int check_known(const json_t *obj, const char *const *known, size_t n, const char *at, struct chk *c)
{
	const char *key;
	const json_t *v;
	char camel[NAME_MAX_LEN];
	json_object_foreach((json_t *)obj, key, v)
	{
		camel_of(key, camel, sizeof(camel));
		if (!in_list(camel, known, n))
			return bad(c, "Invalid JSON payload received. Unknown name \"%s\"%s: Cannot find field.", key,
				   at);
	}
	return 0;
}

/* Google's type error: Invalid value at 'path' (TYPE), <value>. */
static int bad_type(struct chk *c, const char *path, const char *type, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	bad(c, "Invalid value at '%s' (%s), %s", path, type, text != NULL ? text : "?");
	free(text);
	return -1;
}

/* ---- request checks ------------------------------------------------------ */

static int check_part(const json_t *p, const char *where, size_t i, struct chk *c)
{
	char at[128];
	const char *set = NULL, *key;
	const json_t *v;
	char camel[NAME_MAX_LEN];
	snprintf(at, sizeof(at), "%s.parts[%zu]", where, i);
	if (!json_is_object(p))
		return bad_type(c, at, "TYPE_MESSAGE", p);
	json_object_foreach((json_t *)p, key, v)
	{
		char q[160];
		camel_of(key, camel, sizeof(camel));
		snprintf(q, sizeof(q), " at '%s'", at);
		if (!in_list(camel, data_keys, COUNT(data_keys)) &&
		    !in_list(camel, part_meta_keys, COUNT(part_meta_keys)))
			return bad(c, "Invalid JSON payload received. Unknown name \"%s\"%s: Cannot find field.", key,
				   q);
		if (!in_list(camel, data_keys, COUNT(data_keys)))
			continue;
		if (set != NULL)
			return bad(c,
				   "Invalid value at '%s' (oneof), oneof field 'data' is already set. Cannot overwrite "
				   "with '%s'",
				   at, key);
		set = key;
	}
	if (set == NULL)
		return bad(c,
			   "* GenerateContentRequest.%s.data: required oneof field 'data' must have one initialized "
			   "field",
			   at);
	if ((v = gget(p, "text")) != NULL && !json_is_string(v))
		return bad_type(c, at, "TYPE_STRING", v);
	if ((v = gget(p, "inlineData")) != NULL &&
	    (!json_is_string(gget(v, "mimeType")) || !json_is_string(gget(v, "data"))))
		return bad(c, "* GenerateContentRequest.%s.inline_data: mime_type and data (base64) are required", at);
	if ((v = gget(p, "fileData")) != NULL && !json_is_string(gget(v, "fileUri")))
		return bad(c, "* GenerateContentRequest.%s.file_data.file_uri: a file URI is required", at);
	if ((v = gget(p, "functionCall")) != NULL &&
	    (!json_is_string(gget(v, "name")) || (gget(v, "args") != NULL && !json_is_object(gget(v, "args")))))
		return bad(c, "* GenerateContentRequest.%s.function_call: name is required, args must be an object",
			   at);
	if ((v = gget(p, "functionResponse")) != NULL &&
	    (!json_is_string(gget(v, "name")) || !json_is_object(gget(v, "response"))))
		return bad(
		    c, "* GenerateContentRequest.%s.function_response: name and response (an object) are required", at);
	return 0;
}

/* One Content; where = "contents[i]" or "system_instruction". */
static int check_content(const json_t *ct, const char *where, bool system, struct chk *c)
{
	char at[96];
	const json_t *parts = gget(ct, "parts"), *p;
	const char *role = json_string_value(gget(ct, "role"));
	size_t i;
	snprintf(at, sizeof(at), " at '%s'", where);
	if (!json_is_object(ct))
		return bad_type(c, where, "TYPE_MESSAGE", ct);
	if (check_known(ct, content_keys, COUNT(content_keys), at, c) != 0)
		return -1;
	if (!system && gget(ct, "role") != NULL &&
	    (role == NULL || (role[0] != '\0' && strcmp(role, "user") != 0 && strcmp(role, "model") != 0 &&
			      strcmp(role, "function") != 0)))
		return bad(c, "Please use a valid role: user, model.");
	if (parts != NULL && !json_is_array(parts))
		return bad_type(c, where, "TYPE_MESSAGE", parts);
	if (json_array_size(parts) == 0)
		return bad(c, "* GenerateContentRequest.%s.parts: contents.parts must not be empty.", where);
	json_array_foreach(parts, i, p)
	{
		if (check_part(p, where, i, c) != 0)
			return -1;
	}
	return 0;
}

static int check_number(const json_t *gc, const char *name, bool integer, double lo, double hi, struct chk *c)
{
	const json_t *v = gget(gc, name);
	char path[96], snake[NAME_MAX_LEN];
	snake_of(name, snake, sizeof(snake));
	snprintf(path, sizeof(path), "generation_config.%s", snake);
	if (v == NULL)
		return 0;
	if (integer ? !json_is_integer(v) : !json_is_number(v))
		return bad_type(c, path, integer ? "TYPE_INT32" : "TYPE_FLOAT", v);
	double d = json_number_value(v);
	if (d < lo || d > hi)
		return bad(c, "* GenerateContentRequest.%s: must be in the range [%g, %g]", path, lo, hi);
	return 0;
}

static int check_generation(const json_t *gc, struct chk *c)
{
	const json_t *stops = gget(gc, "stopSequences"), *s;
	size_t i;
	if (gc == NULL)
		return 0;
	if (!json_is_object(gc))
		return bad_type(c, "generation_config", "TYPE_MESSAGE", gc);
	if (check_known(gc, gen_keys, COUNT(gen_keys), " at 'generation_config'", c) != 0 ||
	    check_number(gc, "temperature", false, 0, 2, c) != 0 || check_number(gc, "topP", false, 0, 1, c) != 0 ||
	    check_number(gc, "topK", true, 1, 1e9, c) != 0 || check_number(gc, "candidateCount", true, 1, 8, c) != 0 ||
	    check_number(gc, "maxOutputTokens", true, 1, 2147483647.0, c) != 0 ||
	    check_number(gc, "presencePenalty", false, -2, 2, c) != 0 ||
	    check_number(gc, "frequencyPenalty", false, -2, 2, c) != 0 ||
	    check_number(gc, "seed", true, -2147483648.0, 2147483647.0, c) != 0)
		return -1;
	if (stops != NULL && (!json_is_array(stops) || json_array_size(stops) > 5))
		return bad(c, "* GenerateContentRequest.generation_config.stop_sequences: at most 5 strings");
	json_array_foreach(stops, i, s)
	{
		if (!json_is_string(s))
			return bad_type(c, "generation_config.stop_sequences", "TYPE_STRING", s);
	}
	s = gget(gc, "responseMimeType");
	if (s != NULL && !json_is_string(s))
		return bad_type(c, "generation_config.response_mime_type", "TYPE_STRING", s);
	return 0;
}

/* tools[]: known tool kinds; function declarations need a valid name. Counts the declarations. */
static int check_tools(const json_t *tools, size_t *decls, struct chk *c)
{
	size_t i, k;
	const json_t *t, *d;
	*decls = 0;
	if (tools != NULL && !json_is_array(tools))
		return bad_type(c, "tools", "TYPE_MESSAGE", tools);
	json_array_foreach(tools, i, t)
	{
		char at[64];
		snprintf(at, sizeof(at), " at 'tools[%zu]'", i);
		if (!json_is_object(t) || check_known(t, tool_keys, COUNT(tool_keys), at, c) != 0)
			return json_is_object(t) ? -1 : bad_type(c, "tools", "TYPE_MESSAGE", t);
		json_array_foreach(gget(t, "functionDeclarations"), k, d)
		{
			const char *name = json_string_value(gget(d, "name"));
			if (name == NULL || name[0] == '\0')
				return bad(c,
					   "* GenerateContentRequest.tools[%zu].function_declarations[%zu].name: Name "
					   "cannot be empty.",
					   i, k);
			if (strlen(name) > 64 || (!isalpha((unsigned char)name[0]) && name[0] != '_') ||
			    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
				strlen(name))
				return bad(
				    c,
				    "* GenerateContentRequest.tools[%zu].function_declarations[%zu].name: Invalid "
				    "function name. Must start with a letter or an underscore. Must be a-z, A-Z, "
				    "0-9, or contain underscores, dots, colons and dashes, with a maximum length of "
				    "64.",
				    i, k);
			(*decls)++;
		}
	}
	return 0;
}

/* toolConfig.functionCallingConfig: mode and allowedFunctionNames. */
static int check_tool_config(const json_t *tc, size_t decls, struct chk *c)
{
	const json_t *fcc = gget(tc, "functionCallingConfig"), *names, *n;
	size_t i;
	if (tc == NULL)
		return 0;
	if (!json_is_object(tc))
		return bad_type(c, "tool_config", "TYPE_MESSAGE", tc);
	if (fcc == NULL)
		return 0;
	const json_t *mode = gget(fcc, "mode");
	const char *ms = json_string_value(mode);
	names = gget(fcc, "allowedFunctionNames");
	if (mode != NULL && !in_list(ms, modes, COUNT(modes)))
		return bad_type(c, "tool_config.function_calling_config.mode",
				"type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode",
				mode);
	if (names != NULL && !json_is_array(names))
		return bad_type(c, "tool_config.function_calling_config.allowed_function_names", "TYPE_STRING", names);
	if (json_array_size(names) > 0 && (ms == NULL || (strcmp(ms, "ANY") != 0 && strcmp(ms, "VALIDATED") != 0)))
		return bad(c, "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
			      "allowed_function_names can only be set when mode is ANY.");
	json_array_foreach(names, i, n)
	{
		if (!json_is_string(n))
			return bad_type(c, "tool_config.function_calling_config.allowed_function_names", "TYPE_STRING",
					n);
	}
	if (ms != NULL && strcmp(ms, "ANY") == 0 && decls == 0)
		return bad(c,
			   "* GenerateContentRequest.tool_config.function_calling_config.mode: function calling mode "
			   "ANY requires function declarations in tools.");
	return 0;
}

static int check_body(const json_t *root, struct chk *c)
{
	const json_t *contents = gget(root, "contents"), *ct;
	size_t i, decls = 0;
	if (check_known(root, top_keys, COUNT(top_keys), "", c) != 0)
		return -1;
	if (contents != NULL && !json_is_array(contents))
		return bad_type(c, "contents", "TYPE_MESSAGE", contents);
	if (json_array_size(contents) == 0)
		return bad(c, "* GenerateContentRequest.contents: contents is not specified");
	json_array_foreach(contents, i, ct)
	{
		char where[32];
		snprintf(where, sizeof(where), "contents[%zu]", i);
		if (check_content(ct, where, false, c) != 0)
			return -1;
	}
	ct = gget(root, "systemInstruction");
	if (ct != NULL && check_content(ct, "system_instruction", true, c) != 0)
		return -1;
	if (check_generation(gget(root, "generationConfig"), c) != 0 ||
	    check_tools(gget(root, "tools"), &decls, c) != 0)
		return -1;
	return check_tool_config(gget(root, "toolConfig"), decls, c);
}

/* ---- the answer ---------------------------------------------------------- */

static const char *buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static int join(struct buf *out, const char *s, size_t n)
{
	if (out->len > 0 && buf_append(out, " ", 1) != 0)
		return -1;
	return buf_append(out, s, n);
}

/* A function response as text: its only string member, else the response object as JSON. */
static int response_text(const json_t *resp, struct buf *out)
{
	const char *key;
	const json_t *v;
	if (json_object_size(resp) == 1) {
		json_object_foreach((json_t *)resp, key, v)
		{
			if (json_is_string(v))
				return join(out, json_string_value(v), json_string_length(v));
		}
	}
	char *text = json_dumps(resp, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = text != NULL ? join(out, text, strlen(text)) : -1;
	free(text);
	return rc;
}

/* Text parts of a Content into t (space-joined), function responses into fr; *texts = text parts seen. */
static int content_text(const json_t *ct, struct buf *t, struct buf *fr, int *texts)
{
	size_t i;
	const json_t *p, *v;
	*texts = 0;
	json_array_foreach(gget(ct, "parts"), i, p)
	{
		if ((v = gget(p, "text")) != NULL) {
			if (join(t, json_string_value(v), json_string_length(v)) != 0)
				return -1;
			(*texts)++;
		} else if ((v = gget(p, "functionResponse")) != NULL) {
			if (response_text(gget(v, "response"), fr) != 0)
				return -1;
		}
	}
	return 0;
}

/* Input words (system instruction + contents); the last user text; the last content's function responses. */
static int scan(struct gem *g, const json_t *root)
{
	const json_t *contents = gget(root, "contents"), *ct;
	size_t i, n = json_array_size(contents);
	struct buf t, fr;
	int texts, rc = -1;
	buf_init(&t, TEXT_MAX);
	buf_init(&fr, TEXT_MAX);
	if (content_text(gget(root, "systemInstruction"), &t, &fr, &texts) != 0)
		goto out;
	g->in_words = mock_openai_count_words(buf_str(&t), t.len);
	json_array_foreach(contents, i, ct)
	{
		const char *role = json_string_value(gget(ct, "role"));
		buf_reset(&t);
		buf_reset(&fr);
		if (content_text(ct, &t, &fr, &texts) != 0)
			goto out;
		g->in_words +=
		    mock_openai_count_words(buf_str(&t), t.len) + mock_openai_count_words(buf_str(&fr), fr.len);
		if ((role == NULL || role[0] == '\0' || strcmp(role, "user") == 0) && texts > 0) {
			buf_reset(&g->echo);
			if (buf_append(&g->echo, buf_str(&t), t.len) != 0)
				goto out;
		}
		g->tool_result_last = i + 1 == n && fr.len > 0;
		if (g->tool_result_last && buf_append(&g->tools, fr.data, fr.len) != 0)
			goto out;
	}
	rc = 0;
out:
	buf_fini(&t);
	buf_fini(&fr);
	return rc;
}

/* The function the request forces: mode ANY with one allowed name, or with a single declaration. */
static const char *forced_function(const json_t *root)
{
	const json_t *fcc = gget(gget(root, "toolConfig"), "functionCallingConfig");
	const json_t *names = gget(fcc, "allowedFunctionNames"), *t, *only = NULL;
	size_t i, n = 0;
	if (strcmp(json_string_value(gget(fcc, "mode")) != NULL ? json_string_value(gget(fcc, "mode")) : "", "ANY") !=
	    0)
		return NULL;
	if (json_array_size(names) == 1)
		return json_string_value(json_array_get(names, 0));
	if (json_array_size(names) > 1)
		return NULL;
	json_array_foreach(gget(root, "tools"), i, t)
	{
		const json_t *decls = gget(t, "functionDeclarations");
		n += json_array_size(decls);
		if (json_array_size(decls) > 0)
			only = json_array_get(decls, 0);
	}
	return n == 1 ? json_string_value(gget(only, "name")) : NULL;
}

static int compose(struct mock *m, struct gem *g, const json_t *root)
{
	const json_t *gc = gget(root, "generationConfig"), *mx = gget(gc, "maxOutputTokens"), *cc;
	const char *seq;
	snprintf(g->id, sizeof(g->id), "mock-%llu", (unsigned long long)++m->next_id);
	cc = gget(gc, "candidateCount");
	g->candidates = json_is_integer(cc) ? (int)json_integer_value(cc) : 1;
	if (scan(g, root) != 0)
		return -1;
	g->finish = "STOP";
	g->fn = forced_function(root);
	if (g->fn != NULL) {
		g->args = json_pack("{s:s%}", "echo", buf_str(&g->echo), g->echo.len);
		g->text = buf_str(&g->echo); /* output words: the echoed text */
		g->len = g->echo.len;
		return g->args != NULL ? 0 : -1;
	}
	if (m->opts.content != NULL) {
		g->text = m->opts.content;
		g->len = strlen(g->text);
	} else if (g->tool_result_last) {
		if (buf_puts(&g->out, "tool result: ") != 0 ||
		    buf_append(&g->out, buf_str(&g->tools), g->tools.len) != 0)
			return -1;
		g->text = g->out.data;
		g->len = g->out.len;
	} else {
		g->text = buf_str(&g->echo);
		g->len = g->echo.len;
	}
	if (mock_anthropic_cut(g->text, &g->len, gget(gc, "stopSequences"),
			       json_is_integer(mx) ? json_integer_value(mx) : -1, &seq) == MOCK_CUT_MAX)
		g->finish = "MAX_TOKENS";
	return 0;
}

/* candidates: g->candidates copies of one text (or functionCall) part; finish NULL = none yet. */
static json_t *candidates(const struct gem *g, const char *text, size_t len, const char *finish)
{
	json_t *arr = json_array();
	for (int i = 0; arr != NULL && i < g->candidates; i++) {
		json_t *part = g->fn != NULL
				   ? json_pack("{s:{s:s, s:O}}", "functionCall", "name", g->fn, "args", g->args)
				   : json_pack("{s:s%}", "text", text, len);
		json_t *c = json_pack("{s:{s:[o], s:s}, s:i}", "content", "parts", part, "role", "model", "index", i);
		if (c != NULL && finish != NULL)
			json_object_set_new(c, "finishReason", json_string(finish));
		json_array_append_new(arr, c);
	}
	return arr;
}

/* A GenerateContentResponse around cands; out_words per candidate. */
static json_t *response(const struct gem *g, json_t *cands, size_t out_words)
{
	json_int_t out = (json_int_t)out_words * g->candidates;
	return json_pack("{s:o, s:{s:I, s:I, s:I}, s:s, s:s}", "candidates", cands, "usageMetadata", "promptTokenCount",
			 (json_int_t)g->in_words, "candidatesTokenCount", out, "totalTokenCount",
			 (json_int_t)g->in_words + out, "modelVersion", g->model, "responseId", g->id);
}

static int add_chunk(struct mock_sse *s, bool sse, bool first, json_t *v)
{
	if (sse)
		return mock_sse_add_raw(s, "data: ", v, "\r\n\r\n");
	return mock_sse_add_raw(s, first ? "[" : ",\r\n", v, NULL);
}

/* Every chunk of the stream into s; *events = the content chunks. */
static int stream_events(struct mock_sse *s, const struct gem *g, const struct mock_fault *f, bool sse, size_t *events)
{
	size_t *cuts = calloc((size_t)f->chunks + 1, sizeof(*cuts));
	const char *fin = f->stream_error ? NULL : g->finish;
	int rc = cuts != NULL ? 0 : -1;
	size_t pieces = rc == 0 && g->fn == NULL ? mock_sse_split(g->text, g->len, (size_t)f->chunks, cuts) : 0;
	*events = pieces > 0 ? pieces : 1;
	if (rc == 0 && pieces == 0) /* a function call, or an empty answer: one chunk */
		rc = add_chunk(s, sse, true,
			       response(g, candidates(g, "", 0, fin), mock_openai_count_words(g->text, g->len)));
	for (size_t i = 0; rc == 0 && i < pieces; i++)
		rc = add_chunk(
		    s, sse, i == 0,
		    response(g, candidates(g, g->text + cuts[i], cuts[i + 1] - cuts[i], i + 1 == pieces ? fin : NULL),
			     mock_openai_count_words(g->text, cuts[i + 1])));
	if (rc == 0 && f->stream_error)
		rc = add_chunk(s, sse, false,
			       json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 503, "message",
					 "The model is overloaded. Please try again later.", "status", "UNAVAILABLE"));
	if (rc == 0 && !sse)
		rc = mock_sse_add_raw(s, "]", NULL, NULL);
	free(cuts);
	return rc;
}

static void answer_stream(struct mock *m, struct mock_req *r, const struct mock_fault *f, const struct gem *g)
{
	char alt[16] = "";
	struct mock_sse *s = mock_sse_new();
	size_t events = 0;
	const char *q = strchr(r->target, '?');
	/* alt=sse: SSE; anything else (alt=json, none): one JSON array, streamed. */
	bool sse = false;
	for (const char *p = q; p != NULL; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, "alt=", 4) == 0) {
			snprintf(alt, sizeof(alt), "%.*s", (int)strcspn(p + 5, "&"), p + 5);
			sse = strcmp(alt, "sse") == 0;
		}
	if (s == NULL || stream_events(s, g, f, sse, &events) != 0) {
		mock_sse_free(s);
		mock_gemini_error(m, r, 500, 0, NULL, "mock out of memory");
		return;
	}
	if (!sse)
		mock_sse_set_ctype(s, "application/json");
	int cut = -1;
	if (f->fail_after >= 0)
		cut = f->fail_after < (int)events ? f->fail_after : (int)events;
	if (f->stream_error && cut < 0) /* a cut always comes before the error event */
		m->stats.stream_errors++;
	mock_sse_play(m, r, s, f->latency_ms + f->first_byte_ms, f->chunk_delay_ms, cut);
}

/* The API key: x-goog-api-key or ?key= (non-empty). */
static bool has_key(struct mock_req *r)
{
	const char *h = mock_req_header(r, "x-goog-api-key");
	if (h != NULL && h[0] != '\0')
		return true;
	for (const char *p = strchr(r->target, '?'); p != NULL; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, "key=", 4) == 0 && p[5] != '\0' && p[5] != '&')
			return true;
	return false;
}

/* The body as a JSON object, checked; else answers itself and returns NULL. */
static json_t *parse(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	size_t len;
	const char *p = mock_req_body(r, &len);
	json_error_t je;
	struct chk c = {{0}};
	json_t *root = NULL;
	m->stats.bad_requests++; /* undone below when the request passes */
	if (!has_key(r)) {
		mock_gemini_error(m, r, 403, f->latency_ms, NULL,
				  "Method doesn't allow unregistered callers (callers without established identity). "
				  "Please use API Key or other form of API consumer identity to call this API.");
		return NULL;
	}
	root = json_loadb(p != NULL ? p : "", p != NULL ? len : 0, 0, &je);
	if (root == NULL) {
		mock_gemini_error(m, r, 400, f->latency_ms, NULL,
				  "Invalid JSON payload received. %s (line %d, column %d)", je.text, je.line,
				  je.column);
		return NULL;
	}
	if (!json_is_object(root) ? bad_type(&c, "", "TYPE_MESSAGE", root) != 0 : check_body(root, &c) != 0) {
		mock_gemini_error(m, r, 400, f->latency_ms, NULL, "%s", c.msg);
		json_decref(root);
		return NULL;
	}
	m->stats.bad_requests--;
	return root;
}

static void handle(struct mock *m, struct mock_req *r, const struct mock_fault *f, bool stream)
{
	struct gem g = {0};
	const char *at = strstr(r->path, "/models/"), *colon = strrchr(r->path, ':');
	json_t *root = parse(m, r, f);
	buf_init(&g.echo, TEXT_MAX);
	buf_init(&g.tools, TEXT_MAX);
	buf_init(&g.out, TEXT_MAX + 64);
	if (root == NULL)
		goto out;
	if (at != NULL && colon != NULL && colon > at + 8)
		snprintf(g.model, sizeof(g.model), "%.*s", (int)(colon - (at + 8)), at + 8);
	if (compose(m, &g, root) != 0) {
		mock_gemini_error(m, r, 400, f->latency_ms, NULL, "the mock keeps at most %u bytes of text", TEXT_MAX);
		goto out;
	}
	m->stats.gemini_generations++;
	if (stream)
		answer_stream(m, r, f, &g);
	else
		mock_reply_json(
		    m, r, 200,
		    response(&g, candidates(&g, g.text, g.len, g.finish), mock_openai_count_words(g.text, g.len)),
		    f->latency_ms + f->first_byte_ms);
out:
	json_decref(g.args);
	buf_fini(&g.echo);
	buf_fini(&g.tools);
	buf_fini(&g.out);
	json_decref(root);
}

void mock_gemini_generate(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	handle(m, r, f, false);
}

void mock_gemini_stream(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	handle(m, r, f, true);
}
