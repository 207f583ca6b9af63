/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gemini answers in OpenAI's words. A GenerateContentResponse has
 * candidates (choices) whose content is a list of parts: text, thoughts
 * (summaries of the model's reasoning, which OpenAI's chat shape has no
 * place for and which are therefore dropped), and function calls whose
 * arguments are an object rather than a JSON string. Function calls may
 * carry no id (the Gemini API does not always send one), so ids are made
 * up from the choice and call position; the request side maps a tool
 * result back by that id to the function name, which is all Gemini needs.
 *
 * Errors use Google's RPC shape; their message is kept and the status
 * (INVALID_ARGUMENT...) becomes the OpenAI code, lower-cased.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gemini_resp.h"
#include "gateway/oai_err.h"

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *gemini_resp_finish(const char *reason, bool tool_calls)
{
	static const char *const filtered[] = {
	    "SAFETY",
	    "RECITATION",
	    "BLOCKLIST",
	    "PROHIBITED_CONTENT",
	    "SPII",
	    "IMAGE_SAFETY",
	    "IMAGE_PROHIBITED_CONTENT",
	    "IMAGE_RECITATION",
	};
	if (reason != NULL && strcmp(reason, "MAX_TOKENS") == 0)
		return "length";
	for (size_t i = 0; reason != NULL && i < sizeof(filtered) / sizeof(filtered[0]); i++)
		if (strcmp(reason, filtered[i]) == 0)
			return "content_filter";
	/* STOP, unspecified, OTHER, MALFORMED_FUNCTION_CALL...: the candidate ended normally as far as OpenAI can say
	 */
	return tool_calls ? "tool_calls" : "stop";
}

/* One functionCall -> an OpenAI tool call; NULL when it has no name or on ENOMEM. */
static json_t *tool_call(const json_t *fc, unsigned choice, unsigned k, bool with_index)
{
	const char *name = jstr(fc, "name"), *gid = jstr(fc, "id");
	const json_t *args = json_object_get(fc, "args");
	char id[48];
	json_t *call;
	if (name == NULL)
		return NULL;
	char *a = args == NULL || json_is_null(args) ? NULL : json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
	if (gid == NULL || gid[0] == '\0') {
		snprintf(id, sizeof(id), "call_%u_%u", choice, k);
		gid = id;
	}
	if (with_index)
		call = json_pack("{s:I,s:s,s:s,s:{s:s,s:s}}", "index", (json_int_t)k, "id", gid, "type", "function",
				 "function", "name", name, "arguments", a != NULL ? a : "{}");
	else
		call = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", gid, "type", "function", "function", "name", name,
				 "arguments", a != NULL ? a : "{}");
	free(a);
	return call;
}

int gemini_resp_parts(const json_t *cand, unsigned choice, unsigned *k, bool with_index, struct buf *text,
		      bool *has_text, json_t *calls)
{
	const json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
	size_t i;
	json_t *p;
	json_array_foreach(parts, i, p)
	{
		const json_t *t = json_object_get(p, "text");
		const json_t *fc = json_object_get(p, "functionCall");
		if (json_is_true(json_object_get(p, "thought")))
			continue;
		if (json_is_string(t)) {
			*has_text = true;
			if (buf_append(text, json_string_value(t), json_string_length(t)) < 0)
				return -1;
		}
		if (json_is_object(fc) && json_is_string(json_object_get(fc, "name"))) {
			json_t *call = tool_call(fc, choice, *k, with_index);
			if (call == NULL || json_array_append_new(calls, call) < 0)
				return -1;
			(*k)++;
		}
	}
	return 0;
}

/* A token count: a non-negative integer, clamped to what the span keeps; 0 otherwise. */
static json_int_t count(const json_t *um, const char *key, bool *seen)
{
	const json_t *v = json_object_get(um, key);
	json_int_t n = json_integer_value(v);
	if (!json_is_integer(v) || n < 0)
		return 0;
	*seen = true;
	return n > (json_int_t)UINT32_MAX ? (json_int_t)UINT32_MAX : n;
}

json_t *gemini_resp_usage(const json_t *um)
{
	bool seen = false;
	json_int_t p = count(um, "promptTokenCount", &seen), c = count(um, "candidatesTokenCount", &seen);
	json_int_t t = count(um, "thoughtsTokenCount", &seen), cached = count(um, "cachedContentTokenCount", &seen);
	if (!seen)
		return NULL;
	return json_pack("{s:I,s:I,s:I,s:{s:I},s:{s:I}}", "prompt_tokens", p, "completion_tokens", c + t,
			 "total_tokens", p + c + t, "prompt_tokens_details", "cached_tokens", cached,
			 "completion_tokens_details", "reasoning_tokens", t);
}

/* One candidate -> one OpenAI choice. */
static json_t *choice(const json_t *cand, size_t pos, struct err *err)
{
	const json_t *ix = json_object_get(cand, "index");
	unsigned index = json_is_integer(ix) && json_integer_value(ix) >= 0 && json_integer_value(ix) < 65536
			     ? (unsigned)json_integer_value(ix)
			     : (unsigned)pos;
	json_t *calls = json_array(), *msg = NULL, *ch = NULL;
	struct buf text;
	bool has_text = false;
	unsigned k = 0;

	buf_init(&text, 0);
	if (calls == NULL || gemini_resp_parts(cand, index, &k, false, &text, &has_text, calls) < 0)
		goto oom;
	/* content null when the candidate said nothing (only calls, or filtered) */
	msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
			has_text ? json_stringn(text.data != NULL ? text.data : "", text.len) : json_null(), "refusal");
	if (msg == NULL || (k > 0 && json_object_set(msg, "tool_calls", calls) < 0))
		goto oom;
	ch = json_pack("{s:I,s:O,s:n,s:s}", "index", (json_int_t)index, "message", msg, "logprobs", "finish_reason",
		       gemini_resp_finish(jstr(cand, "finishReason"), k > 0));
	if (ch == NULL)
		goto oom;
	goto out;
oom:
	err_set(err, ENOMEM, "out of memory translating the Gemini response");
out:
	json_decref(calls);
	json_decref(msg);
	buf_fini(&text);
	return ch;
}

/* candidates -> choices; a prompt blocked before any candidate -> one content_filter choice. */
static json_t *choices(const json_t *root, struct err *err)
{
	const json_t *cands = json_object_get(root, "candidates");
	json_t *out = json_array(), *c;
	size_t i;
	if (out == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (cands != NULL && !json_is_array(cands))
		goto bad;
	json_array_foreach(cands, i, c)
	{
		json_t *ch = json_is_object(c) ? choice(c, i, err) : NULL;
		if (!json_is_object(c))
			goto bad;
		if (ch == NULL || json_array_append_new(out, ch) < 0)
			goto fail;
	}
	if (json_array_size(out) > 0)
		return out;
	if (jstr(json_object_get(root, "promptFeedback"), "blockReason") == NULL)
		goto bad;
	if (json_array_append_new(out,
				  json_pack("{s:i,s:{s:s,s:n,s:n},s:n,s:s}", "index", 0, "message", "role", "assistant",
					    "content", "refusal", "logprobs", "finish_reason", "content_filter")) == 0)
		return out;
	err_set(err, ENOMEM, "out of memory");
	goto fail;
bad:
	err_set(err, EPROTO, "the Gemini response has no usable candidates");
fail:
	json_decref(out);
	return NULL;
}

int gemini_resp_decode(const char *body, size_t len, const char *model, int64_t created, struct buf *out,
		       struct chat_response_info *info, struct err *err)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL, *resp = NULL, *ch;
	const char *id = jstr(root, "responseId"), *mv = jstr(root, "modelVersion");
	char *s = NULL;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	if (!json_is_object(root)) {
		err_set(err, EPROTO, "the Gemini response is not a JSON object");
		goto out;
	}
	if ((ch = choices(root, err)) == NULL)
		goto out;
	resp = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", id != NULL && id[0] != '\0' ? id : GEMINI_DEFAULT_ID, "object",
			 "chat.completion", "created", (json_int_t)created, "model",
			 mv != NULL && mv[0] != '\0' ? mv : model, "choices", ch);
	json_t *usage = gemini_resp_usage(json_object_get(root, "usageMetadata"));
	if (resp == NULL || (usage != NULL && json_object_set_new(resp, "usage", usage) < 0)) {
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	chat_response_extract_json(resp, info);
	if ((s = json_dumps(resp, JSON_COMPACT)) == NULL || buf_puts(out, s) < 0) {
		err_set(err, s == NULL ? ENOMEM : EMSGSIZE, "the translated response is too large");
		goto out;
	}
	rc = 0;
out:
	free(s);
	json_decref(resp);
	json_decref(root);
	return rc;
}

int gemini_resp_error_json(const json_t *v, int status, struct buf *out)
{
	if (json_is_array(v) && json_array_size(v) == 1)
		v = json_array_get(v, 0);
	const json_t *e = json_object_get(v, "error");
	const char *msg = jstr(e, "message"), *st = jstr(e, "status");
	char code[64];
	size_t n = 0, saved = out->len;
	if (msg == NULL)
		return -1;
	for (; st != NULL && st[n] != '\0' && n + 1 < sizeof(code); n++) {
		char c = st[n];
		code[n] = c >= 'A' && c <= 'Z'				     ? (char)(c - 'A' + 'a')
			  : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c
									     : '_';
	}
	code[n] = '\0';
	if (status <= 0) {
		json_int_t c = json_integer_value(json_object_get(e, "code"));
		status = c >= 400 && c < 600 ? (int)c : 500;
	}
	if (oai_err_format(out, msg, oai_err_type_for_status(status), NULL, n > 0 ? code : NULL) < 0) {
		out->len = saved;
		if (out->data != NULL)
			out->data[saved] = '\0';
		return -1;
	}
	return 0;
}

int gemini_resp_error(int status, const char *body, size_t len, struct buf *out)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	int rc = gemini_resp_error_json(root, status, out);
	json_decref(root);
	return rc;
}
