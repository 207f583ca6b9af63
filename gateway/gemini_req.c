/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI chat request -> Gemini GenerateContentRequest
 * (https://ai.google.dev/api/generate-content). The shapes differ in ways
 * that need state, which is why this is more than a field rename:
 *  - system and developer messages leave the conversation and become
 *    systemInstruction, wherever they appear;
 *  - roles are user/model only and Gemini wants turns to alternate, so
 *    consecutive contents of the same role are merged (tool results, which
 *    are "user" turns, merge into one turn with every functionResponse, as
 *    Gemini expects for parallel calls);
 *  - a tool result names the function, not the call: the name is looked up
 *    in the earlier assistant tool_call with the same id;
 *  - tool-call arguments are a JSON string in OpenAI and an object in
 *    Gemini, so they are parsed here (bad JSON is the client's error).
 * Unknown OpenAI fields are ignored; known fields of the wrong type and
 * content Gemini cannot take are rejected (EINVAL, client-facing message),
 * never silently dropped.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "gateway/gemini_req.h"

#define GEMINI_MODEL_NAME_MAX 255

/* One request's conversion state. */
struct req_enc {
	json_t *messages;  /* borrowed: the client's messages array */
	json_t *contents;  /* owned: Content[] being built */
	json_t *sys_parts; /* owned: systemInstruction.parts */
	size_t at;	   /* index of the message being converted, for error messages */
	struct err *err;
};

static int oom(struct err *err)
{
	return err_set(err, ENOMEM, "out of memory");
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool absent(const json_t *v)
{
	return v == NULL || json_is_null(v);
}

/* Appends the part {key: value} to parts; value is stolen (NULL: out of memory). */
static int add_part(json_t *parts, const char *key, json_t *value, struct err *err)
{
	json_t *p = json_pack("{s:o}", key, value);
	if (p == NULL || json_array_append_new(parts, p) < 0)
		return oom(err);
	return 0;
}

/*
 * Adds a turn (parts stolen). Gemini rejects two turns of one role in a
 * row, so a turn with the same role as the previous one is appended to it.
 */
static int add_content(struct req_enc *e, const char *role, json_t *parts)
{
	size_t n = json_array_size(e->contents);
	json_t *last = n > 0 ? json_array_get(e->contents, n - 1) : NULL;
	const char *lr = jstr(last, "role");

	if (json_array_size(parts) == 0) { /* e.g. an assistant message with null content and no calls */
		json_decref(parts);
		return 0;
	}
	if (lr != NULL && strcmp(lr, role) == 0) {
		int rc = json_array_extend(json_object_get(last, "parts"), parts);
		json_decref(parts);
		return rc < 0 ? oom(e->err) : 0;
	}
	json_t *c = json_pack("{s:s,s:o}", "role", role, "parts", parts);
	if (c == NULL || json_array_append_new(e->contents, c) < 0)
		return oom(e->err);
	return 0;
}

/* A MIME type from a URL's file extension; Gemini needs one for fileData. */
static const char *mime_guess(const char *url)
{
	static const struct {
		const char *ext, *mime;
	} types[] = {
	    {"png", "image/png"},   {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
	    {"webp", "image/webp"}, {"heic", "image/heic"}, {"heif", "image/heif"}, {"pdf", "application/pdf"},
	    {"wav", "audio/wav"},   {"mp3", "audio/mp3"},   {"mp4", "video/mp4"},
	};
	size_t end = strcspn(url, "?#");
	const char *dot = NULL;
	for (size_t i = 0; i < end; i++) {
		if (url[i] == '/')
			dot = NULL;
		else if (url[i] == '.')
			dot = url + i;
	}
	if (dot != NULL) {
		size_t elen = (size_t)(url + end - dot - 1);
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].ext) == elen && strncasecmp(dot + 1, types[i].ext, elen) == 0)
				return types[i].mime;
	}
	return "image/jpeg";
}

/* data:<mime>[;param]*;base64,<data> -> {inlineData:{mimeType,data}}. */
static int inline_data(struct req_enc *e, const char *url, size_t i, json_t *parts)
{
	const char *meta = url + 5, *comma = strchr(meta, ',');
	size_t tlen = strcspn(meta, ";,");
	if (comma == NULL || comma[1] == '\0' || (size_t)(comma - meta) < 7 || memcmp(comma - 7, ";base64", 7) != 0)
		return err_set(e->err, EINVAL, "messages[%zu].content[%zu]: a data: URL must be base64 data", e->at, i);
	if (tlen == 0)
		return err_set(e->err, EINVAL, "messages[%zu].content[%zu]: a data: URL needs a media type", e->at, i);
	return add_part(parts, "inlineData", json_pack("{s:s%,s:s}", "mimeType", meta, tlen, "data", comma + 1),
			e->err);
}

/* {type:image_url, image_url:{url}} -> inlineData (data: URL) or fileData (any other URL). */
static int image_part(struct req_enc *e, const json_t *part, size_t i, json_t *parts)
{
	const json_t *iu = json_object_get(part, "image_url");
	const char *url = json_is_string(iu) ? json_string_value(iu) : jstr(iu, "url");
	if (url == NULL)
		return err_set(e->err, EINVAL, "messages[%zu].content[%zu].image_url.url must be a string", e->at, i);
	if (strncmp(url, "data:", 5) == 0)
		return inline_data(e, url, i, parts);
	return add_part(parts, "fileData", json_pack("{s:s,s:s}", "mimeType", mime_guess(url), "fileUri", url), e->err);
}

/* {type:input_audio, input_audio:{data, format}} -> inlineData audio/<format>. */
static int audio_part(struct req_enc *e, const json_t *part, size_t i, json_t *parts)
{
	const json_t *ia = json_object_get(part, "input_audio");
	const char *data = jstr(ia, "data"), *fmt = jstr(ia, "format");
	char mime[48];
	if (data == NULL || fmt == NULL || strlen(fmt) > 24)
		return err_set(e->err, EINVAL, "messages[%zu].content[%zu].input_audio needs data and format", e->at,
			       i);
	snprintf(mime, sizeof(mime), "audio/%s", fmt);
	return add_part(parts, "inlineData", json_pack("{s:s,s:s}", "mimeType", mime, "data", data), e->err);
}

/* One element of an OpenAI content array; media parts only where allowed (user turns). */
static int one_part(struct req_enc *e, const json_t *part, size_t i, json_t *parts, bool media)
{
	const char *type = jstr(part, "type");
	if (type == NULL)
		return err_set(e->err, EINVAL, "messages[%zu].content[%zu].type must be a string", e->at, i);
	if (strcmp(type, "text") == 0 || strcmp(type, "refusal") == 0) {
		const json_t *t = json_object_get(part, type);
		if (!json_is_string(t))
			return err_set(e->err, EINVAL, "messages[%zu].content[%zu].%s must be a string", e->at, i,
				       type);
		return add_part(parts, "text", json_stringn(json_string_value(t), json_string_length(t)), e->err);
	}
	if (media && strcmp(type, "image_url") == 0)
		return image_part(e, part, i, parts);
	if (media && strcmp(type, "input_audio") == 0)
		return audio_part(e, part, i, parts);
	return err_set(e->err, EINVAL, "messages[%zu].content[%zu]: content type '%.32s' is not supported here", e->at,
		       i, type);
}

/* OpenAI message content (string, parts array or null) appended to parts. */
static int content_parts(struct req_enc *e, const json_t *content, json_t *parts, bool media)
{
	size_t i;
	json_t *part;
	if (absent(content))
		return 0;
	if (json_is_string(content))
		return add_part(parts, "text", json_stringn(json_string_value(content), json_string_length(content)),
				e->err);
	if (!json_is_array(content))
		return err_set(e->err, EINVAL, "messages[%zu].content must be a string or an array", e->at);
	json_array_foreach(content, i, part)
	{
		if (one_part(e, part, i, parts, media) < 0)
			return -1;
	}
	return 0;
}

/* A tool call's arguments (a JSON string, "" meaning none) as the object Gemini wants. */
static json_t *call_args(struct req_enc *e, const json_t *a, size_t i)
{
	json_t *v = NULL;
	if (absent(a) || (json_is_string(a) && json_string_length(a) == 0))
		v = json_object();
	else if (json_is_object(a))
		v = json_incref((json_t *)a);
	else if (json_is_string(a))
		v = json_loadb(json_string_value(a), json_string_length(a), 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		err_set(e->err, EINVAL, "messages[%zu].tool_calls[%zu].function.arguments is not a JSON object", e->at,
			i);
		return NULL;
	}
	return v;
}

/* assistant tool_calls -> functionCall parts. */
static int call_parts(struct req_enc *e, const json_t *calls, json_t *parts)
{
	size_t i;
	json_t *c;
	if (absent(calls))
		return 0;
	if (!json_is_array(calls))
		return err_set(e->err, EINVAL, "messages[%zu].tool_calls must be an array", e->at);
	json_array_foreach(calls, i, c)
	{
		const json_t *fn = json_object_get(c, "function");
		const char *name = jstr(fn, "name");
		if (name == NULL || name[0] == '\0')
			return err_set(e->err, EINVAL, "messages[%zu].tool_calls[%zu].function.name must be a string",
				       e->at, i);
		json_t *args = call_args(e, json_object_get(fn, "arguments"), i);
		if (args == NULL)
			return -1;
		if (add_part(parts, "functionCall", json_pack("{s:s,s:o}", "name", name, "args", args), e->err) < 0)
			return -1;
	}
	return 0;
}

/* The function name of the latest earlier assistant tool call with this id; NULL if none. */
static const char *call_name(const struct req_enc *e, const char *id)
{
	for (size_t m = e->at; m-- > 0;) {
		const json_t *msg = json_array_get(e->messages, m);
		const json_t *calls = json_object_get(msg, "tool_calls");
		const char *role = jstr(msg, "role");
		size_t i;
		json_t *c;
		if (role == NULL || strcmp(role, "assistant") != 0 || !json_is_array(calls))
			continue;
		json_array_foreach(calls, i, c)
		{
			const char *cid = jstr(c, "id");
			if (cid != NULL && strcmp(cid, id) == 0)
				return jstr(json_object_get(c, "function"), "name");
		}
	}
	return NULL;
}

/* The text of a tool result: a string, or the text parts joined. -1 (EINVAL) otherwise. */
static int content_text(struct req_enc *e, const json_t *content, struct buf *b)
{
	size_t i;
	json_t *p;
	if (json_is_string(content))
		return buf_append(b, json_string_value(content), json_string_length(content)) < 0 ? oom(e->err) : 0;
	if (!json_is_array(content))
		return err_set(e->err, EINVAL, "messages[%zu].content must be a string or an array of text parts",
			       e->at);
	json_array_foreach(content, i, p)
	{
		const json_t *t = json_object_get(p, "text");
		const char *type = jstr(p, "type");
		if (type == NULL || strcmp(type, "text") != 0 || !json_is_string(t))
			return err_set(e->err, EINVAL, "messages[%zu].content[%zu] must be a text part", e->at, i);
		if (buf_append(b, json_string_value(t), json_string_length(t)) < 0)
			return oom(e->err);
	}
	return 0;
}

/*
 * A tool (or legacy function) result -> a user turn with functionResponse.
 * Gemini's response is an object: a result that is a JSON object goes as
 * is, anything else is wrapped as {"content": <text>}.
 */
static int function_response(struct req_enc *e, const char *name, const json_t *content)
{
	struct buf b;
	json_t *resp, *parts = json_array();
	int rc = -1;

	buf_init(&b, 0);
	if (parts == NULL || content_text(e, content, &b) < 0)
		goto out;
	resp = json_loadb(b.data != NULL ? b.data : "", b.len, 0, NULL);
	if (!json_is_object(resp)) {
		json_decref(resp);
		resp = json_pack("{s:s%}", "content", b.data != NULL ? b.data : "", b.len);
	}
	if (add_part(parts, "functionResponse", json_pack("{s:s,s:o}", "name", name, "response", resp), e->err) < 0)
		goto out;
	rc = add_content(e, "user", parts);
	parts = NULL;
out:
	json_decref(parts);
	buf_fini(&b);
	return rc;
}

static int conv_tool(struct req_enc *e, const json_t *m)
{
	const char *id = jstr(m, "tool_call_id");
	if (id == NULL)
		return err_set(e->err, EINVAL, "messages[%zu].tool_call_id must be a string", e->at);
	const char *name = call_name(e, id);
	if (name == NULL)
		return err_set(e->err, EINVAL,
			       "messages[%zu].tool_call_id does not match a tool call of an earlier assistant message",
			       e->at);
	return function_response(e, name, json_object_get(m, "content"));
}

/* user (media allowed) and assistant (text and tool calls) turns. */
static int conv_turn(struct req_enc *e, const json_t *m, bool user)
{
	json_t *parts = json_array();
	if (parts == NULL)
		return oom(e->err);
	if (content_parts(e, json_object_get(m, "content"), parts, user) < 0 ||
	    (!user && call_parts(e, json_object_get(m, "tool_calls"), parts) < 0)) {
		json_decref(parts);
		return -1;
	}
	return add_content(e, user ? "user" : "model", parts);
}

static int conv_message(struct req_enc *e, const json_t *m)
{
	const char *role = jstr(m, "role");
	if (role == NULL)
		return err_set(e->err, EINVAL, "messages[%zu].role must be a string", e->at);
	if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
		return content_parts(e, json_object_get(m, "content"), e->sys_parts, false);
	if (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0)
		return conv_turn(e, m, role[0] == 'u');
	if (strcmp(role, "tool") == 0)
		return conv_tool(e, m);
	if (strcmp(role, "function") == 0) { /* deprecated OpenAI shape: the result names the function */
		const char *name = jstr(m, "name");
		if (name == NULL)
			return err_set(e->err, EINVAL, "messages[%zu].name must be a string", e->at);
		return function_response(e, name, json_object_get(m, "content"));
	}
	return err_set(e->err, EINVAL, "messages[%zu].role '%.32s' is not supported", e->at, role);
}

static int conv_messages(struct req_enc *e)
{
	size_t i;
	json_t *m;
	if (!json_is_array(e->messages) || json_array_size(e->messages) == 0)
		return err_set(e->err, EINVAL, "messages must be a non-empty array");
	json_array_foreach(e->messages, i, m)
	{
		e->at = i;
		if (!json_is_object(m))
			return err_set(e->err, EINVAL, "messages[%zu] must be an object", i);
		if (conv_message(e, m) < 0)
			return -1;
	}
	if (json_array_size(e->contents) == 0)
		return err_set(e->err, EINVAL, "messages must contain a user or assistant message");
	return 0;
}

/* ---- generationConfig, tools, toolConfig ---------------------------------------------------- */

static int copy_number(json_t *root, const char *oai, json_t *gc, const char *gem, bool integer, struct err *err)
{
	json_t *v = json_object_get(root, oai);
	if (absent(v))
		return 0;
	if (integer ? !json_is_integer(v) : !json_is_number(v))
		return err_set(err, EINVAL, "%s must be %s", oai, integer ? "an integer" : "a number");
	return json_object_set(gc, gem, v) < 0 ? oom(err) : 0;
}

static int conv_stop(json_t *root, json_t *gc, struct err *err)
{
	json_t *v = json_object_get(root, "stop"), *s;
	size_t i;
	if (absent(v))
		return 0;
	if (json_is_string(v))
		return json_object_set_new(gc, "stopSequences", json_pack("[O]", v)) < 0 ? oom(err) : 0;
	if (!json_is_array(v))
		return err_set(err, EINVAL, "stop must be a string or an array of strings");
	json_array_foreach(v, i, s)
	{
		if (!json_is_string(s))
			return err_set(err, EINVAL, "stop must be a string or an array of strings");
	}
	return json_object_set(gc, "stopSequences", v) < 0 ? oom(err) : 0;
}

/* response_format: json_object -> JSON mode; json_schema -> JSON mode with the schema (full JSON Schema). */
static int conv_response_format(json_t *root, json_t *gc, struct err *err)
{
	json_t *rf = json_object_get(root, "response_format");
	const char *type = jstr(rf, "type");
	if (absent(rf))
		return 0;
	if (type == NULL)
		return err_set(err, EINVAL, "response_format.type must be a string");
	if (strcmp(type, "text") == 0)
		return 0;
	if (strcmp(type, "json_object") != 0 && strcmp(type, "json_schema") != 0)
		return err_set(err, EINVAL, "response_format.type '%.32s' is not supported", type);
	if (json_object_set_new(gc, "responseMimeType", json_string("application/json")) < 0)
		return oom(err);
	if (type[5] == 'o')
		return 0;
	json_t *js = json_object_get(rf, "json_schema");
	json_t *schema = json_object_get(js, "schema");
	if (!json_is_object(js))
		return err_set(err, EINVAL, "response_format.json_schema must be an object");
	if (absent(schema))
		return 0;
	if (!json_is_object(schema))
		return err_set(err, EINVAL, "response_format.json_schema.schema must be an object");
	return json_object_set(gc, "responseJsonSchema", schema) < 0 ? oom(err) : 0;
}

static int conv_gen_config(json_t *root, json_t *out, struct err *err)
{
	json_t *gc = json_object();
	const char *max =
	    absent(json_object_get(root, "max_completion_tokens")) ? "max_tokens" : "max_completion_tokens";
	int rc = -1;
	if (gc == NULL)
		return oom(err);
	if (copy_number(root, "temperature", gc, "temperature", false, err) < 0 ||
	    copy_number(root, "top_p", gc, "topP", false, err) < 0 ||
	    copy_number(root, max, gc, "maxOutputTokens", true, err) < 0 ||
	    copy_number(root, "n", gc, "candidateCount", true, err) < 0 ||
	    copy_number(root, "presence_penalty", gc, "presencePenalty", false, err) < 0 ||
	    copy_number(root, "frequency_penalty", gc, "frequencyPenalty", false, err) < 0 ||
	    copy_number(root, "seed", gc, "seed", true, err) < 0 || conv_stop(root, gc, err) < 0 ||
	    conv_response_format(root, gc, err) < 0)
		goto out;
	rc = 0;
	if (json_object_size(gc) > 0 && json_object_set(out, "generationConfig", gc) < 0)
		rc = oom(err);
out:
	json_decref(gc);
	return rc;
}

static json_t *declaration(const json_t *t, size_t i, struct err *err)
{
	const char *type = jstr(t, "type");
	const json_t *fn = json_object_get(t, "function");
	const char *name = jstr(fn, "name"), *desc = jstr(fn, "description");
	json_t *params = json_object_get(fn, "parameters");
	if (type != NULL && strcmp(type, "function") != 0) {
		err_set(err, EINVAL, "tools[%zu].type '%.32s' is not supported (function tools only)", i, type);
		return NULL;
	}
	if (name == NULL || name[0] == '\0') {
		err_set(err, EINVAL, "tools[%zu].function.name must be a string", i);
		return NULL;
	}
	if (!absent(params) && !json_is_object(params)) {
		err_set(err, EINVAL, "tools[%zu].function.parameters must be an object", i);
		return NULL;
	}
	json_t *d = json_pack("{s:s,s:s*,s:O*}", "name", name, "description", desc, "parameters",
			      json_is_object(params) ? params : NULL);
	if (d == NULL)
		oom(err);
	return d;
}

static int conv_tools(json_t *root, json_t *out, struct err *err)
{
	json_t *tools = json_object_get(root, "tools"), *t, *decls;
	size_t i;
	if (absent(tools))
		return 0;
	if (!json_is_array(tools))
		return err_set(err, EINVAL, "tools must be an array");
	if (json_array_size(tools) == 0)
		return 0;
	if ((decls = json_array()) == NULL)
		return oom(err);
	json_array_foreach(tools, i, t)
	{
		json_t *d = declaration(t, i, err);
		if (d == NULL || json_array_append_new(decls, d) < 0) {
			json_decref(decls);
			return d == NULL ? -1 : oom(err);
		}
	}
	if (json_object_set_new(out, "tools", json_pack("[{s:o}]", "functionDeclarations", decls)) < 0)
		return oom(err);
	return 0;
}

/* tool_choice auto/none/required/{function} -> functionCallingConfig AUTO/NONE/ANY/ANY+allowedFunctionNames. */
static int conv_tool_choice(json_t *root, json_t *out, struct err *err)
{
	json_t *tc = json_object_get(root, "tool_choice");
	const char *s = json_string_value(tc), *mode = NULL, *only = NULL;
	if (absent(tc))
		return 0;
	if (s != NULL && strcmp(s, "auto") == 0)
		mode = "AUTO";
	else if (s != NULL && strcmp(s, "none") == 0)
		mode = "NONE";
	else if (s != NULL && strcmp(s, "required") == 0)
		mode = "ANY";
	else if (json_is_object(tc) && (only = jstr(json_object_get(tc, "function"), "name")) != NULL)
		mode = "ANY";
	if (mode == NULL)
		return err_set(err, EINVAL, "tool_choice must be \"auto\", \"none\", \"required\" or a function");
	json_t *fcc = only != NULL ? json_pack("{s:s,s:[s]}", "mode", mode, "allowedFunctionNames", only)
				   : json_pack("{s:s}", "mode", mode);
	if (json_object_set_new(out, "toolConfig", json_pack("{s:o}", "functionCallingConfig", fcc)) < 0)
		return oom(err);
	return 0;
}

/* ---- public ----------------------------------------------------------------------------------- */

int gemini_req_path(const char *base, const char *model, bool stream, char *out, size_t outsz, struct err *err)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	size_t n = strlen(model);
	if (n == 0 || n > GEMINI_MODEL_NAME_MAX || strspn(model, ok) != n)
		return err_set(err, EINVAL, "the provider model name is not a valid Gemini model name");
	int w = snprintf(out, outsz, "%s/models/%s:%s", base, model,
			 stream ? "streamGenerateContent?alt=sse" : "generateContent");
	if (w < 0 || (size_t)w >= outsz)
		return err_set(err, ENAMETOOLONG, "the Gemini request path is too long");
	return 0;
}

json_t *gemini_req_encode(json_t *root, struct err *err)
{
	struct req_enc e = {.messages = json_object_get(root, "messages"), .err = err};
	json_t *out = json_object();

	e.contents = json_array();
	e.sys_parts = json_array();
	if (out == NULL || e.contents == NULL || e.sys_parts == NULL) {
		oom(err);
		goto fail;
	}
	if (!json_is_object(root)) {
		err_set(err, EINVAL, "the request body must be a JSON object");
		goto fail;
	}
	if (conv_messages(&e) < 0)
		goto fail;
	if (json_object_set(out, "contents", e.contents) < 0 ||
	    (json_array_size(e.sys_parts) > 0 &&
	     json_object_set_new(out, "systemInstruction", json_pack("{s:O}", "parts", e.sys_parts)) < 0)) {
		oom(err);
		goto fail;
	}
	if (conv_tools(root, out, err) < 0 || conv_tool_choice(root, out, err) < 0 ||
	    conv_gen_config(root, out, err) < 0)
		goto fail;
	json_decref(e.contents);
	json_decref(e.sys_parts);
	return out;
fail:
	json_decref(e.contents);
	json_decref(e.sys_parts);
	json_decref(out);
	return NULL;
}
