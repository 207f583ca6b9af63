/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request validation, stream usage injection and response fact extraction
 * with jansson. jansson bounds nesting depth itself and rejects invalid
 * UTF-8 and \u0000, so what reaches the rest of the gateway is well-formed
 * text. Each endpoint's parser is the shared body + model step, its own
 * field check (messages, prompt) and the shared stream check.
 */
#include "gateway/chat_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum chat_perr fail(struct chat_parse_err *e, enum chat_perr code, const char *param, const char *msg)
{
	e->code = code;
	e->param = param;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return code;
}

/* Every string check of the model, shared by all endpoints. */
static enum chat_perr check_model(json_t *root, const char **model, struct chat_parse_err *e)
{
	json_t *m = json_object_get(root, "model");
	if (m == NULL || json_is_null(m))
		return fail(e, CHAT_MODEL_MISSING, "model", "you must provide a model parameter");
	if (!json_is_string(m))
		return fail(e, CHAT_MODEL_NOT_STRING, "model", "'model' must be a string");
	size_t mlen = json_string_length(m);
	if (mlen == 0 || mlen > CHAT_MODEL_MAX)
		return fail(e, CHAT_MODEL_BAD, "model", "'model' must be 1-256 characters");
	memcpy(e->model, json_string_value(m), mlen);
	e->model[mlen] = '\0';
	*model = json_string_value(m);
	return CHAT_OK;
}

enum chat_perr chat_body_parse(const char *body, size_t len, json_t **root, const char **model,
			       struct chat_parse_err *e)
{
	json_error_t jerr;
	json_t *j;
	enum chat_perr rc;

	*root = NULL;
	*model = NULL;
	memset(e, 0, sizeof(*e));
	if (body == NULL || len == 0)
		return fail(e, CHAT_EMPTY_BODY, NULL, "the request body is empty; expected a JSON object");
	j = json_loadb(body, len, 0, &jerr);
	if (j == NULL) {
		e->code = CHAT_BAD_JSON;
		/* jansson names the position and at most a short token of the client's own input */
		if (snprintf(e->msg, sizeof(e->msg), "the request body is not valid JSON: %s (at byte %d)", jerr.text,
			     jerr.position) < 0)
			e->msg[0] = '\0';
		return CHAT_BAD_JSON;
	}
	if (!json_is_object(j))
		rc = fail(e, CHAT_NOT_OBJECT, NULL, "the request body must be a JSON object");
	else
		rc = check_model(j, model, e);
	if (rc != CHAT_OK) {
		json_decref(j);
		*model = NULL;
		return rc;
	}
	*root = j;
	return CHAT_OK;
}

/* stream, stream_options and n: the same for chat and legacy completions. */
static enum chat_perr check_stream(json_t *root, struct chat_request *req, struct chat_parse_err *e)
{
	json_t *stream = json_object_get(root, "stream");
	json_t *so = json_object_get(root, "stream_options");
	json_t *iu = NULL, *n = json_object_get(root, "n");

	if (stream != NULL && !json_is_null(stream) && !json_is_boolean(stream))
		return fail(e, CHAT_STREAM_NOT_BOOL, "stream", "'stream' must be a boolean");
	/* a non-object here would be clobbered by usage injection: reject rather than guess */
	if (so != NULL && !json_is_null(so)) {
		if (!json_is_object(so))
			return fail(e, CHAT_STREAM_OPTIONS_BAD, "stream_options", "'stream_options' must be an object");
		iu = json_object_get(so, "include_usage");
		if (iu != NULL && !json_is_null(iu) && !json_is_boolean(iu))
			return fail(e, CHAT_STREAM_OPTIONS_BAD, "stream_options",
				    "'stream_options.include_usage' must be a boolean");
	}
	req->stream = json_is_true(stream);
	req->include_usage = req->stream && json_is_true(iu);
	req->n_choices = 1;
	if (json_is_integer(n) && json_integer_value(n) > 0)
		req->n_choices = json_integer_value(n) > 65535 ? 65535u : (unsigned)json_integer_value(n);
	return CHAT_OK;
}

static enum chat_perr check_messages(json_t *root, struct chat_request *req, struct chat_parse_err *e)
{
	json_t *msgs = json_object_get(root, "messages");
	if (msgs == NULL || json_is_null(msgs))
		return fail(e, CHAT_MESSAGES_MISSING, "messages", "missing required parameter: 'messages'");
	if (!json_is_array(msgs))
		return fail(e, CHAT_MESSAGES_NOT_ARRAY, "messages", "'messages' must be an array");
	if (json_array_size(msgs) == 0)
		return fail(e, CHAT_MESSAGES_EMPTY, "messages", "'messages' must contain at least one message");
	req->messages = msgs;
	return CHAT_OK;
}

static enum chat_perr check_prompt(json_t *root, struct chat_request *req, struct chat_parse_err *e)
{
	json_t *prompt = json_object_get(root, "prompt");
	struct chat_input_shape sh;
	if (prompt == NULL || json_is_null(prompt))
		return fail(e, CHAT_PROMPT_MISSING, "prompt", "missing required parameter: 'prompt'");
	chat_input_classify(prompt, &sh);
	if (sh.kind == CHAT_INPUT_NONE || sh.kind == CHAT_INPUT_EMPTY_ARRAY || sh.empty_tokens)
		return fail(e, CHAT_PROMPT_BAD, "prompt",
			    "'prompt' must be a string, an array of strings, an array of token ids or an array of "
			    "non-empty token id arrays");
	req->prompt = prompt;
	return CHAT_OK;
}

/* check: the endpoint's own fields (messages or prompt) */
static enum chat_perr request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e,
				    enum chat_perr (*check)(json_t *, struct chat_request *, struct chat_parse_err *))
{
	json_t *root;
	const char *model;
	memset(req, 0, sizeof(*req));
	enum chat_perr rc = chat_body_parse(body, len, &root, &model, e);
	if (rc != CHAT_OK)
		return rc;
	rc = check(root, req, e);
	if (rc == CHAT_OK)
		rc = check_stream(root, req, e);
	if (rc != CHAT_OK) {
		json_decref(root);
		memset(req, 0, sizeof(*req));
		return rc;
	}
	req->root = root;
	req->model = model;
	return CHAT_OK;
}

enum chat_perr chat_request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e)
{
	return request_parse(body, len, req, e, check_messages);
}

enum chat_perr chat_legacy_request_parse(const char *body, size_t len, struct chat_request *req,
					 struct chat_parse_err *e)
{
	return request_parse(body, len, req, e, check_prompt);
}

void chat_request_fini(struct chat_request *req)
{
	if (req == NULL)
		return;
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

int chat_request_set_include_usage(struct chat_request *req)
{
	if (!req->stream || req->include_usage || req->root == NULL)
		return 0;
	json_t *so = json_object_get(req->root, "stream_options");
	if (!json_is_object(so)) {
		/* absent or null (anything else was rejected by the parser) */
		so = json_object();
		if (so == NULL || json_object_set_new(req->root, "stream_options", so) != 0)
			return -1;
	}
	if (json_object_set_new(so, "include_usage", json_true()) != 0)
		return -1;
	return 1;
}

/* Spliced after the opening brace: the object has a model, so a comma always follows. */
static const char usage_member[] = "\"stream_options\":{\"include_usage\":true},";

int chat_request_inject_usage(struct chat_request *req, const char *body, size_t len, struct buf *out, struct err *err)
{
	if (!req->stream || req->include_usage || req->root == NULL)
		return 0;
	if (json_object_get(req->root, "stream_options") == NULL) {
		size_t i = 0;
		while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
			i++;
		if (i == len || body[i] != '{')
			return err_set(err, EINVAL, "the request body is not the JSON object that was parsed");
		i++;
		if (buf_reserve(out, len + sizeof(usage_member) - 1) < 0 || buf_append(out, body, i) < 0 ||
		    buf_append(out, usage_member, sizeof(usage_member) - 1) < 0 ||
		    buf_append(out, body + i, len - i) < 0)
			return err_set(err, EMSGSIZE, "the request with stream usage does not fit");
		return 1;
	}
	if (chat_request_set_include_usage(req) < 0)
		return err_set(err, ENOMEM, "out of memory");
	char *s = json_dumps(req->root, JSON_COMPACT);
	if (s == NULL)
		return err_set(err, ENOMEM, "cannot encode the request");
	int rc = buf_puts(out, s);
	free(s);
	if (rc < 0)
		return err_set(err, EMSGSIZE, "the request with stream usage does not fit");
	return 1;
}

static bool is_token(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* The kind of a non-empty array, judged by its first element and checked on all. */
static enum chat_input_kind array_kind(const json_t *v, struct chat_input_shape *out)
{
	const json_t *first = json_array_get(v, 0), *x;
	size_t i;
	enum chat_input_kind k = json_is_string(first)	? CHAT_INPUT_STRINGS
				 : is_token(first)	? CHAT_INPUT_TOKENS
				 : json_is_array(first) ? CHAT_INPUT_TOKEN_ARRAYS
							: CHAT_INPUT_NONE;
	json_array_foreach(v, i, x)
	{
		if (k == CHAT_INPUT_STRINGS && json_is_string(x)) {
			out->empty_string |= json_string_length(x) == 0;
		} else if (k == CHAT_INPUT_TOKENS && is_token(x)) {
			continue;
		} else if (k == CHAT_INPUT_TOKEN_ARRAYS && json_is_array(x)) {
			const json_t *t;
			size_t j;
			out->empty_tokens |= json_array_size(x) == 0;
			json_array_foreach(x, j, t)
			{
				if (!is_token(t))
					return CHAT_INPUT_NONE;
			}
		} else {
			return CHAT_INPUT_NONE;
		}
	}
	return k;
}

void chat_input_classify(const json_t *v, struct chat_input_shape *out)
{
	memset(out, 0, sizeof(*out));
	if (json_is_string(v)) {
		out->kind = CHAT_INPUT_STRING;
		out->count = 1;
		out->empty_string = json_string_length(v) == 0;
	} else if (json_is_array(v) && json_array_size(v) == 0) {
		out->kind = CHAT_INPUT_EMPTY_ARRAY;
	} else if (json_is_array(v)) {
		out->kind = array_kind(v, out);
		out->count = out->kind == CHAT_INPUT_TOKENS ? 1 : json_array_size(v);
	}
	if (out->kind == CHAT_INPUT_NONE) {
		out->count = 0;
		out->empty_string = out->empty_tokens = false;
	}
}

static void copy_str(char *dst, size_t cap, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n;
	if (s == NULL)
		return;
	n = json_string_length(v);
	if (n >= cap)
		n = cap - 1;
	/* cut on a UTF-8 boundary: never leave half a character behind */
	while (n > 0 && n < json_string_length(v) && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	/* jansson rejects \u0000 by default, so s has no embedded NUL */
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Token counts are unsigned integers; anything else is ignored. */
static bool get_count(const json_t *obj, const char *key, uint32_t *out)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t n;
	if (!json_is_integer(v))
		return false;
	n = json_integer_value(v);
	if (n < 0)
		return false;
	*out = n > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return true;
}

void chat_response_extract_json(const json_t *root, struct chat_response_info *info)
{
	const json_t *choices, *c0, *usage, *details;
	memset(info, 0, sizeof(*info));
	if (!json_is_object(root))
		return;
	copy_str(info->model, sizeof(info->model), json_object_get(root, "model"));
	copy_str(info->id, sizeof(info->id), json_object_get(root, "id"));
	choices = json_object_get(root, "choices");
	c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
	if (json_is_object(c0))
		copy_str(info->finish_reason, sizeof(info->finish_reason), json_object_get(c0, "finish_reason"));
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		bool p = get_count(usage, "prompt_tokens", &info->prompt_tokens);
		bool c = get_count(usage, "completion_tokens", &info->completion_tokens);
		info->has_usage = p || c;
		details = json_object_get(usage, "prompt_tokens_details");
		if (json_is_object(details))
			get_count(details, "cached_tokens", &info->cached_tokens);
	}
}

int chat_response_extract(const char *body, size_t len, struct chat_response_info *info)
{
	json_error_t jerr;
	json_t *root;
	int rc = -1;
	memset(info, 0, sizeof(*info));
	if (body == NULL || len == 0)
		return -1;
	root = json_loadb(body, len, 0, &jerr);
	if (json_is_object(root)) {
		chat_response_extract_json(root, info);
		rc = 0;
	}
	json_decref(root);
	return rc;
}
