/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI chat request -> Anthropic Messages request. OpenAI keeps system
 * prompts, tool results and tool calls as messages of their own roles;
 * Anthropic has a top-level `system`, only user/assistant turns that must
 * alternate, and tool calls/results as content blocks inside those turns.
 * So system and developer messages are lifted out, tool messages become
 * tool_result blocks of a user turn, assistant tool_calls become tool_use
 * blocks, and consecutive turns of the same role are merged.
 *
 * What Anthropic cannot express (n > 1) and malformed messages are
 * refused here with EINVAL rather than sent: the client then gets a 400
 * naming the field, instead of a provider error that names Anthropic's
 * field. Every message is client-facing and quotes at most short,
 * client-supplied values (roles, part types), never a header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/provider_anthropic.h"

#define BAD(err, ...) err_set((err), EINVAL, __VA_ARGS__)

static int oom(struct err *err)
{
	return err_set(err, ENOMEM, "out of memory");
}

/* Appends v (stolen) to array a; -1 on ENOMEM (v released). */
static int push(json_t *a, json_t *v, struct err *err)
{
	if (v == NULL || json_array_append_new(a, v) != 0)
		return oom(err);
	return 0;
}

static json_t *text_block(const char *s)
{
	return json_pack("{s:s, s:s}", "type", "text", "text", s);
}

/*
 * An OpenAI image_url -> an Anthropic image block: a data: URL becomes a
 * base64 source (media type from the URL), an http(s) URL a url source.
 */
static json_t *image_block(const char *url, size_t mi, size_t pi, struct err *err)
{
	json_t *src = NULL;
	if (strncmp(url, "data:", 5) == 0) {
		const char *mt = url + 5, *semi = strchr(mt, ';');
		if (semi == NULL || semi == mt || strncmp(semi, ";base64,", 8) != 0) {
			BAD(err, "messages[%zu].content[%zu]: image data URLs must be data:<media type>;base64,<data>",
			    mi, pi);
			return NULL;
		}
		src = json_pack("{s:s, s:s%, s:s}", "type", "base64", "media_type", mt, (size_t)(semi - mt), "data",
				semi + 8);
	} else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
		src = json_pack("{s:s, s:s}", "type", "url", "url", url);
	} else {
		BAD(err, "messages[%zu].content[%zu]: image_url.url must be an http(s) or data: URL", mi, pi);
		return NULL;
	}
	json_t *b = src != NULL ? json_pack("{s:s, s:o}", "type", "image", "source", src) : NULL;
	if (b == NULL)
		oom(err);
	return b;
}

/* One content part of a user/assistant/tool message -> a block appended to blocks. */
static int part_to_block(const json_t *part, size_t mi, size_t pi, json_t *blocks, struct err *err)
{
	const char *type = json_string_value(json_object_get(part, "type"));
	if (!json_is_object(part) || type == NULL)
		return BAD(err, "messages[%zu].content[%zu] must be an object with a string type", mi, pi);
	if (strcmp(type, "text") == 0 || strcmp(type, "refusal") == 0) {
		const char *t = json_string_value(json_object_get(part, type));
		if (t == NULL)
			return BAD(err, "messages[%zu].content[%zu].%s must be a string", mi, pi, type);
		/* Anthropic rejects empty text blocks; an empty part says nothing anyway */
		return t[0] == '\0' ? 0 : push(blocks, text_block(t), err);
	}
	if (strcmp(type, "image_url") == 0) {
		const json_t *iu = json_object_get(part, "image_url");
		const char *url =
		    json_is_string(iu) ? json_string_value(iu) : json_string_value(json_object_get(iu, "url"));
		if (url == NULL)
			return BAD(err, "messages[%zu].content[%zu].image_url.url must be a string", mi, pi);
		json_t *b = image_block(url, mi, pi, err);
		return b == NULL ? -1 : push(blocks, b, err);
	}
	return BAD(err, "messages[%zu].content[%zu]: content part type \"%.32s\" is not supported by this provider", mi,
		   pi, type);
}

/* A message's content (string, parts array, or null when allowed) -> blocks. */
static int content_to_blocks(const json_t *content, size_t mi, bool null_ok, json_t *blocks, struct err *err)
{
	if (json_is_string(content)) {
		const char *s = json_string_value(content);
		return s[0] == '\0' ? 0 : push(blocks, text_block(s), err);
	}
	if (json_is_array(content)) {
		size_t pi;
		const json_t *part;
		json_array_foreach(content, pi, part)
		{
			if (part_to_block(part, mi, pi, blocks, err) < 0)
				return -1;
		}
		return 0;
	}
	if ((content == NULL || json_is_null(content)) && null_ok)
		return 0;
	return BAD(err, "messages[%zu].content must be a string or an array of content parts", mi);
}

/* system/developer content (string or text parts) appended to sys, turns separated by a blank line. */
static int system_append(struct buf *sys, const json_t *content, size_t mi, struct err *err)
{
	size_t pi;
	const json_t *part;
	if (json_is_string(content)) {
		const char *s = json_string_value(content);
		if (s[0] != '\0' && ((sys->len > 0 && buf_puts(sys, "\n\n") < 0) || buf_puts(sys, s) < 0))
			return oom(err);
		return 0;
	}
	if (!json_is_array(content))
		return BAD(err, "messages[%zu].content must be a string or an array of text parts", mi);
	json_array_foreach(content, pi, part)
	{
		const char *type = json_string_value(json_object_get(part, "type"));
		const char *t = json_string_value(json_object_get(part, "text"));
		if (type == NULL || strcmp(type, "text") != 0 || t == NULL)
			return BAD(err, "messages[%zu].content[%zu]: system messages take text parts only", mi, pi);
		if (t[0] != '\0' && ((sys->len > 0 && buf_puts(sys, "\n\n") < 0) || buf_puts(sys, t) < 0))
			return oom(err);
	}
	return 0;
}

/* assistant tool_calls -> tool_use blocks; arguments must be a JSON object ("" is {}). */
static int tool_calls_to_blocks(const json_t *calls, size_t mi, json_t *blocks, struct err *err)
{
	size_t ci;
	const json_t *c;
	if (calls == NULL || json_is_null(calls))
		return 0;
	if (!json_is_array(calls))
		return BAD(err, "messages[%zu].tool_calls must be an array", mi);
	json_array_foreach(calls, ci, c)
	{
		const json_t *fn = json_object_get(c, "function");
		const char *id = json_string_value(json_object_get(c, "id"));
		const char *name = json_string_value(json_object_get(fn, "name"));
		const char *args = json_string_value(json_object_get(fn, "arguments"));
		if (id == NULL || name == NULL || args == NULL)
			return BAD(
			    err,
			    "messages[%zu].tool_calls[%zu] needs a string id, function.name and function.arguments", mi,
			    ci);
		json_t *input = args[0] == '\0' ? json_object() : json_loads(args, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(input)) {
			json_decref(input);
			return BAD(err, "messages[%zu].tool_calls[%zu].function.arguments must be a JSON object", mi,
				   ci);
		}
		if (push(blocks,
			 json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id, "name", name, "input", input),
			 err) < 0)
			return -1;
	}
	return 0;
}

/* role tool -> a tool_result block (string content kept, text parts as text blocks). */
static int tool_result_block(const json_t *m, size_t mi, json_t *blocks, struct err *err)
{
	const char *id = json_string_value(json_object_get(m, "tool_call_id"));
	const json_t *content = json_object_get(m, "content");
	if (id == NULL)
		return BAD(err, "messages[%zu].tool_call_id must be a string", mi);
	json_t *c;
	if (json_is_string(content)) {
		c = json_copy((json_t *)content);
	} else {
		c = json_array();
		if (c == NULL)
			return oom(err);
		if (!json_is_array(content) || content_to_blocks(content, mi, false, c, err) < 0) {
			json_decref(c);
			return json_is_array(content)
				   ? -1
				   : BAD(err, "messages[%zu].content must be a string or an array of text parts", mi);
		}
	}
	return push(blocks, json_pack("{s:s, s:s, s:o}", "type", "tool_result", "tool_use_id", id, "content", c), err);
}

/* Appends blocks (stolen) as a turn of role, merged into the previous turn when it has the same role. */
static int turn_append(json_t *messages, const char *role, json_t *blocks, struct err *err)
{
	size_t n = json_array_size(messages);
	json_t *last = n > 0 ? json_array_get(messages, n - 1) : NULL;
	if (json_array_size(blocks) == 0) {
		json_decref(blocks); /* nothing to say: Anthropic rejects empty turns */
		return 0;
	}
	if (last != NULL && strcmp(json_string_value(json_object_get(last, "role")), role) == 0) {
		int rc = json_array_extend(json_object_get(last, "content"), blocks);
		json_decref(blocks);
		return rc == 0 ? 0 : oom(err);
	}
	return push(messages, json_pack("{s:s, s:o}", "role", role, "content", blocks), err);
}

/* One OpenAI message -> system text or blocks of a user/assistant turn. */
static int message_translate(const json_t *m, size_t mi, struct buf *sys, json_t *messages, struct err *err)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	const json_t *content = json_object_get(m, "content");
	if (!json_is_object(m) || role == NULL)
		return BAD(err, "messages[%zu] must be an object with a string role", mi);
	if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
		return system_append(sys, content, mi, err);
	json_t *blocks = json_array();
	if (blocks == NULL)
		return oom(err);
	int rc;
	const char *to = "user";
	if (strcmp(role, "user") == 0) {
		rc = content_to_blocks(content, mi, false, blocks, err);
	} else if (strcmp(role, "assistant") == 0) {
		to = "assistant";
		rc = content_to_blocks(content, mi, true, blocks, err);
		if (rc == 0)
			rc = tool_calls_to_blocks(json_object_get(m, "tool_calls"), mi, blocks, err);
	} else if (strcmp(role, "tool") == 0) {
		rc = tool_result_block(m, mi, blocks, err);
	} else {
		rc = BAD(err, "messages[%zu]: role \"%.32s\" is not supported by this provider", mi, role);
	}
	if (rc < 0) {
		json_decref(blocks);
		return -1;
	}
	return turn_append(messages, to, blocks, err);
}

static int messages_translate(const json_t *req, json_t *out, struct err *err)
{
	const json_t *msgs = json_object_get(req, "messages"), *m;
	size_t mi;
	struct buf sys;
	json_t *turns = json_array();
	if (turns == NULL)
		return oom(err);
	if (!json_is_array(msgs)) {
		json_decref(turns);
		return BAD(err, "messages must be an array");
	}
	buf_init(&sys, 0);
	json_array_foreach(msgs, mi, m)
	{
		if (message_translate(m, mi, &sys, turns, err) < 0)
			goto fail;
	}
	if (sys.len > 0 && json_object_set_new(out, "system", json_stringn(sys.data, sys.len)) != 0)
		goto nomem;
	buf_fini(&sys);
	return json_object_set_new(out, "messages", turns) == 0 ? 0 : oom(err);
nomem:
	oom(err);
fail:
	buf_fini(&sys);
	json_decref(turns);
	return -1;
}

/* tools [{type:function,function:{name,description,parameters}}] -> [{name,description,input_schema}]. */
static int tools_translate(const json_t *tools, json_t *out, struct err *err)
{
	size_t i;
	const json_t *t;
	if (tools == NULL || json_is_null(tools))
		return 0;
	if (!json_is_array(tools))
		return BAD(err, "tools must be an array");
	json_t *a = json_array();
	if (a == NULL || json_object_set_new(out, "tools", a) != 0)
		return oom(err);
	json_array_foreach(tools, i, t)
	{
		const json_t *fn = json_object_get(t, "function");
		const char *type = json_string_value(json_object_get(t, "type"));
		const char *name = json_string_value(json_object_get(fn, "name"));
		const json_t *desc = json_object_get(fn, "description"), *params = json_object_get(fn, "parameters");
		if (type == NULL || strcmp(type, "function") != 0 || name == NULL)
			return BAD(err, "tools[%zu] must be {\"type\":\"function\",\"function\":{\"name\":...}}", i);
		json_t *d = json_pack("{s:s}", "name", name);
		if (d == NULL || json_array_append_new(a, d) != 0)
			return oom(err);
		if (json_is_string(desc) && json_object_set(d, "description", (json_t *)desc) != 0)
			return oom(err);
		/* Anthropic requires a schema; OpenAI allows none for a function without parameters */
		json_t *schema = json_is_object(params) ? json_incref((json_t *)params)
							: json_pack("{s:s, s:{}}", "type", "object", "properties");
		if (json_object_set_new(d, "input_schema", schema) != 0)
			return oom(err);
	}
	return 0;
}

/* tool_choice and parallel_tool_calls -> tool_choice (only with tools: Anthropic refuses it alone). */
static int tool_choice_translate(const json_t *req, json_t *out, struct err *err)
{
	const json_t *tc = json_object_get(req, "tool_choice");
	bool serial = json_is_false(json_object_get(req, "parallel_tool_calls"));
	const char *s = json_string_value(tc), *type = "auto", *name = NULL;
	if (json_array_size(json_object_get(out, "tools")) == 0 || ((tc == NULL || json_is_null(tc)) && !serial))
		return 0;
	if (s != NULL) {
		if (strcmp(s, "required") == 0)
			type = "any";
		else if (strcmp(s, "none") == 0)
			type = "none";
		else if (strcmp(s, "auto") != 0)
			return BAD(err, "tool_choice must be \"auto\", \"required\", \"none\" or a function");
	} else if (json_is_object(tc)) {
		name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
		if (name == NULL)
			return BAD(err, "tool_choice must be {\"type\":\"function\",\"function\":{\"name\":...}}");
		type = "tool";
	} else if (tc != NULL && !json_is_null(tc)) {
		return BAD(err, "tool_choice must be a string or an object");
	}
	json_t *c = json_pack("{s:s}", "type", type);
	if (c == NULL || json_object_set_new(out, "tool_choice", c) != 0)
		return oom(err);
	if (name != NULL && json_object_set_new(c, "name", json_string(name)) != 0)
		return oom(err);
	if (serial && strcmp(type, "none") != 0 &&
	    json_object_set_new(c, "disable_parallel_tool_use", json_true()) != 0)
		return oom(err);
	return 0;
}

/* max_tokens, stop, temperature, top_p, stream, user. */
static int options_translate(const json_t *req, uint32_t def_max, json_t *out, struct err *err)
{
	const json_t *mt = json_object_get(req, "max_completion_tokens"), *stop = json_object_get(req, "stop"), *v;
	if (mt == NULL || json_is_null(mt))
		mt = json_object_get(req, "max_tokens");
	json_int_t max = def_max != 0 ? def_max : ANTHROPIC_MAX_TOKENS_DEFAULT;
	if (mt != NULL && !json_is_null(mt)) {
		if (!json_is_integer(mt) || json_integer_value(mt) < 1)
			return BAD(err, "max_completion_tokens / max_tokens must be a positive integer");
		max = json_integer_value(mt);
	}
	if (json_object_set_new(out, "max_tokens", json_integer(max)) != 0)
		return oom(err);
	if (json_is_string(stop)) {
		if (json_object_set_new(out, "stop_sequences", json_pack("[O]", stop)) != 0)
			return oom(err);
	} else if (json_is_array(stop)) {
		size_t i;
		json_array_foreach(stop, i, v)
		{
			if (!json_is_string(v))
				return BAD(err, "stop must be a string or an array of strings");
		}
		if (json_array_size(stop) > 0 &&
		    json_object_set_new(out, "stop_sequences", json_copy((json_t *)stop)) != 0)
			return oom(err);
	} else if (stop != NULL && !json_is_null(stop)) {
		return BAD(err, "stop must be a string or an array of strings");
	}
	static const char *const nums[] = {"temperature", "top_p"};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		v = json_object_get(req, nums[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_number(v))
			return BAD(err, "%s must be a number", nums[i]);
		if (json_object_set(out, nums[i], (json_t *)v) != 0)
			return oom(err);
	}
	if (json_is_true(json_object_get(req, "stream")) && json_object_set_new(out, "stream", json_true()) != 0)
		return oom(err);
	const char *user = json_string_value(json_object_get(req, "user"));
	if (user != NULL && json_object_set_new(out, "metadata", json_pack("{s:s}", "user_id", user)) != 0)
		return oom(err);
	return 0;
}

int anthropic_request_from_openai(const json_t *req, const char *model, uint32_t default_max_tokens, json_t **out,
				  struct err *err)
{
	const json_t *n = json_object_get(req, "n");
	*out = NULL;
	if (!json_is_object(req))
		return BAD(err, "the request must be a JSON object");
	if (json_is_integer(n) && json_integer_value(n) > 1)
		return BAD(err, "n > 1 is not supported by this provider: Anthropic returns one choice per request");
	json_t *o = json_pack("{s:s}", "model", model);
	if (o == NULL)
		return oom(err);
	if (messages_translate(req, o, err) < 0 || options_translate(req, default_max_tokens, o, err) < 0 ||
	    tools_translate(json_object_get(req, "tools"), o, err) < 0 || tool_choice_translate(req, o, err) < 0) {
		json_decref(o);
		return -1;
	}
	*out = o;
	return 0;
}
