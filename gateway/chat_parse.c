/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chat request validation and response fact extraction with jansson.
 * jansson bounds nesting depth itself and rejects invalid UTF-8 and \u0000,
 * so what reaches the rest of the gateway is well-formed text.
 */
#include "gateway/chat_parse.h"

#include <string.h>

static enum chat_perr fail(struct chat_parse_err *e, enum chat_perr code, const char *param, const char *msg)
{
	e->code = code;
	e->param = param;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return code;
}

static enum chat_perr check_fields(json_t *root, struct chat_request *req, struct chat_parse_err *e)
{
	json_t *model = json_object_get(root, "model");
	json_t *msgs = json_object_get(root, "messages");
	json_t *stream = json_object_get(root, "stream");

	if (model == NULL || json_is_null(model))
		return fail(e, CHAT_MODEL_MISSING, "model", "you must provide a model parameter");
	if (!json_is_string(model))
		return fail(e, CHAT_MODEL_NOT_STRING, "model", "'model' must be a string");
	size_t mlen = json_string_length(model);
	if (mlen == 0 || mlen > CHAT_MODEL_MAX)
		return fail(e, CHAT_MODEL_BAD, "model", "'model' must be 1-256 characters");
	memcpy(e->model, json_string_value(model), mlen);
	e->model[mlen] = '\0';
	if (msgs == NULL || json_is_null(msgs))
		return fail(e, CHAT_MESSAGES_MISSING, "messages", "missing required parameter: 'messages'");
	if (!json_is_array(msgs))
		return fail(e, CHAT_MESSAGES_NOT_ARRAY, "messages", "'messages' must be an array");
	if (json_array_size(msgs) == 0)
		return fail(e, CHAT_MESSAGES_EMPTY, "messages", "'messages' must contain at least one message");
	if (stream != NULL && !json_is_null(stream) && !json_is_boolean(stream))
		return fail(e, CHAT_STREAM_NOT_BOOL, "stream", "'stream' must be a boolean");
	if (json_is_true(stream))
		return fail(e, CHAT_STREAM_UNSUPPORTED, "stream",
			    "streaming is not supported yet by this gateway; send \"stream\": false");
	req->model = json_string_value(model);
	req->messages = msgs;
	req->stream = false;
	return CHAT_OK;
}

enum chat_perr chat_request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e)
{
	json_error_t jerr;
	json_t *root;
	enum chat_perr rc;

	memset(req, 0, sizeof(*req));
	memset(e, 0, sizeof(*e));
	if (body == NULL || len == 0)
		return fail(e, CHAT_EMPTY_BODY, NULL, "the request body is empty; expected a JSON object");
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL) {
		e->code = CHAT_BAD_JSON;
		/* jansson names the position and at most a short token of the client's own input */
		if (snprintf(e->msg, sizeof(e->msg), "the request body is not valid JSON: %s (at byte %d)", jerr.text,
			     jerr.position) < 0)
			e->msg[0] = '\0';
		return CHAT_BAD_JSON;
	}
	if (!json_is_object(root))
		rc = fail(e, CHAT_NOT_OBJECT, NULL, "the request body must be a JSON object");
	else
		rc = check_fields(root, req, e);
	if (rc != CHAT_OK) {
		json_decref(root);
		memset(req, 0, sizeof(*req));
		return rc;
	}
	req->root = root;
	return CHAT_OK;
}

void chat_request_fini(struct chat_request *req)
{
	if (req == NULL)
		return;
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
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
