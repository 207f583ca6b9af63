/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Anthropic Messages answers -> OpenAI's shapes: a whole response becomes
 * a chat.completion, an error body an OpenAI error object. Both keep what
 * the client needs and the span reads (id, model, text, tool calls, finish
 * reason, usage with cache tokens) and drop what OpenAI has no place for
 * (thinking blocks, server tool results, stop_sequence).
 *
 * Usage: Anthropic's input_tokens excludes the cached part of the prompt
 * (cache_read_input_tokens, cache_creation_input_tokens are separate),
 * while OpenAI's prompt_tokens includes it and reports the cache hits in
 * prompt_tokens_details.cached_tokens, so the three are summed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/oai_err.h"
#include "gateway/provider_anthropic.h"

const char *anthropic_finish_reason(const char *stop_reason)
{
	if (stop_reason == NULL)
		return NULL;
	if (strcmp(stop_reason, "max_tokens") == 0 || strcmp(stop_reason, "model_context_window_exceeded") == 0)
		return "length";
	if (strcmp(stop_reason, "tool_use") == 0)
		return "tool_calls";
	if (strcmp(stop_reason, "refusal") == 0)
		return "content_filter";
	/* end_turn, stop_sequence, pause_turn and whatever Anthropic adds next */
	return "stop";
}

const char *anthropic_error_type(const char *type, int status)
{
	static const char *const same[] = {"invalid_request_error", "authentication_error", "permission_error",
					   "not_found_error", "rate_limit_error"};
	if (type != NULL) {
		for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
			if (strcmp(type, same[i]) == 0)
				return same[i];
		if (strcmp(type, "api_error") == 0 || strcmp(type, "overloaded_error") == 0)
			return "api_error";
		if (strcmp(type, "request_too_large") == 0)
			return "invalid_request_error";
	}
	return status > 0 ? oai_err_type_for_status(status) : "api_error";
}

int anthropic_error_to_openai(int status, const char *body, size_t len, struct buf *out)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const json_t *e = json_object_get(root, "error");
	const char *rt = json_string_value(json_object_get(root, "type"));
	const char *t = json_string_value(json_object_get(e, "type"));
	const char *m = json_string_value(json_object_get(e, "message"));
	int rc = -1;
	if (rt != NULL && strcmp(rt, "error") == 0 && t != NULL && m != NULL)
		rc = oai_err_format(out, m, anthropic_error_type(t, status), NULL, t);
	json_decref(root);
	return rc;
}

/* A token count from usage: absent, negative or absurd values clamp into 0..2^40 so sums cannot overflow. */
static json_int_t count_get(const json_t *u, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(u, key));
	const json_int_t cap = (json_int_t)1 << 40;
	return v < 0 ? 0 : v > cap ? cap : v;
}

json_t *anthropic_usage_to_openai(const json_t *u)
{
	json_int_t cr = count_get(u, "cache_read_input_tokens");
	json_int_t prompt = count_get(u, "input_tokens") + cr + count_get(u, "cache_creation_input_tokens");
	json_int_t out = count_get(u, "output_tokens");
	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", prompt, "completion_tokens", out, "total_tokens",
			 prompt + out, "prompt_tokens_details", "cached_tokens", cr);
}

/* content blocks -> message.content (concatenated text or null) and message.tool_calls. */
static int content_translate(const json_t *content, json_t *msg)
{
	struct buf text;
	json_t *calls = json_array();
	size_t i;
	const json_t *b;
	int rc = -1;
	buf_init(&text, 0);
	if (calls == NULL)
		goto out;
	json_array_foreach(content, i, b)
	{
		const char *type = json_string_value(json_object_get(b, "type"));
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0) {
			const char *t = json_string_value(json_object_get(b, "text"));
			if (t != NULL && buf_puts(&text, t) < 0)
				goto out;
		} else if (strcmp(type, "tool_use") == 0) {
			const char *id = json_string_value(json_object_get(b, "id"));
			const char *name = json_string_value(json_object_get(b, "name"));
			const json_t *input = json_object_get(b, "input");
			char *args = input != NULL ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			json_t *c = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id != NULL ? id : "", "type",
					      "function", "function", "name", name != NULL ? name : "", "arguments",
					      args != NULL ? args : "{}");
			free(args);
			if (c == NULL || json_array_append_new(calls, c) != 0)
				goto out;
		}
		/* thinking, redacted_thinking, server tool blocks: OpenAI has no place for them */
	}
	if (json_object_set_new(msg, "content", text.len > 0 ? json_stringn(text.data, text.len) : json_null()) != 0)
		goto out;
	if (json_array_size(calls) > 0 && json_object_set(msg, "tool_calls", calls) != 0)
		goto out;
	rc = 0;
out:
	json_decref(calls);
	buf_fini(&text);
	return rc;
}

/* The chat.completion for a parsed Messages response; NULL on ENOMEM. */
static json_t *completion_build(const json_t *r, int64_t created)
{
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *model = json_string_value(json_object_get(r, "model"));
	const char *fr = anthropic_finish_reason(json_string_value(json_object_get(r, "stop_reason")));
	const json_t *u = json_object_get(r, "usage");
	json_t *msg = json_pack("{s:s}", "role", "assistant");
	if (msg == NULL || content_translate(json_object_get(r, "content"), msg) < 0) {
		json_decref(msg);
		return NULL;
	}
	json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s?}]}", "id", id != NULL ? id : "", "object",
			      "chat.completion", "created", (json_int_t)created, "model", model != NULL ? model : "",
			      "choices", "index", 0, "message", msg, "logprobs", "finish_reason", fr);
	if (c != NULL && json_is_object(u) && json_object_set_new(c, "usage", anthropic_usage_to_openai(u)) != 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

int anthropic_response_to_openai(const char *body, size_t len, int64_t created, struct buf *out,
				 struct chat_response_info *info, struct err *err)
{
	json_t *r = json_loadb(body, len, 0, NULL);
	const json_t *type = json_object_get(r, "type");
	memset(info, 0, sizeof(*info));
	if (!json_is_object(r) || !json_is_array(json_object_get(r, "content")) ||
	    (type != NULL && (!json_is_string(type) || strcmp(json_string_value(type), "message") != 0))) {
		json_decref(r);
		return err_set(err, EINVAL, "the provider's answer is not an Anthropic Messages response");
	}
	json_t *c = completion_build(r, created);
	json_decref(r);
	if (c == NULL)
		return err_set(err, ENOMEM, "out of memory");
	chat_response_extract_json(c, info);
	char *s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	int rc = s != NULL && buf_puts(out, s) == 0 ? 0 : -1;
	free(s);
	return rc == 0 ? 0 : err_set(err, ENOSPC, "translated response too large");
}
