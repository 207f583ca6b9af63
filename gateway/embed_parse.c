/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Embeddings request validation and response facts with jansson, on top of
 * chat_parse's shared body/model step and input shape classifier. Each
 * optional field is checked only for the shape the gateway or the span
 * relies on; everything else in the body goes to the provider untouched.
 */
#include "gateway/embed_parse.h"

#include <stdio.h>
#include <string.h>

static enum chat_perr fail(struct chat_parse_err *e, enum chat_perr code, const char *param, const char *msg)
{
	e->code = code;
	e->param = param;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return code;
}

static enum chat_perr check_input(json_t *root, struct embed_request *req, struct chat_parse_err *e)
{
	json_t *input = json_object_get(root, "input");
	struct chat_input_shape sh;
	if (input == NULL || json_is_null(input))
		return fail(e, CHAT_INPUT_MISSING, "input", "missing required parameter: 'input'");
	chat_input_classify(input, &sh);
	if (sh.kind == CHAT_INPUT_NONE)
		return fail(e, CHAT_INPUT_BAD, "input",
			    "'input' must be a string, an array of strings, an array of token ids or an array of token "
			    "id arrays");
	/* OpenAI rejects every empty form with the same message */
	if (sh.kind == CHAT_INPUT_EMPTY_ARRAY || sh.empty_string || sh.empty_tokens)
		return fail(e, CHAT_INPUT_EMPTY, "input", EMBED_EMPTY_INPUT_MSG);
	req->input = input;
	req->input_kind = sh.kind;
	req->input_count = sh.count;
	return CHAT_OK;
}

static enum chat_perr check_options(json_t *root, struct embed_request *req, struct chat_parse_err *e)
{
	json_t *fmt = json_object_get(root, "encoding_format");
	json_t *dim = json_object_get(root, "dimensions");
	if (fmt != NULL && !json_is_null(fmt)) {
		const char *f = json_string_value(fmt);
		if (f == NULL || (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0))
			return fail(e, CHAT_ENCODING_BAD, "encoding_format",
				    "'encoding_format' must be \"float\" or \"base64\"");
		req->base64 = strcmp(f, "base64") == 0;
	}
	if (dim != NULL && !json_is_null(dim)) {
		if (!json_is_integer(dim) || json_integer_value(dim) < 1 || json_integer_value(dim) > INT32_MAX)
			return fail(e, CHAT_DIMENSIONS_BAD, "dimensions", "'dimensions' must be a positive integer");
		req->dimensions = (uint32_t)json_integer_value(dim);
	}
	return CHAT_OK;
}

enum chat_perr embed_request_parse(const char *body, size_t len, struct embed_request *req, struct chat_parse_err *e)
{
	json_t *root;
	const char *model;
	memset(req, 0, sizeof(*req));
	static const char *const read_keys[] = {"model", "input", "encoding_format", "dimensions"};
	enum chat_perr rc = chat_body_parse(body, len, &root, &model, e);
	if (rc != CHAT_OK)
		return rc;
	const char *dup = chat_top_duplicate(body, len, read_keys, sizeof(read_keys) / sizeof(read_keys[0]));
	if (dup != NULL) {
		json_decref(root);
		memset(req, 0, sizeof(*req));
		return chat_fail_duplicate(e, dup);
	}
	rc = check_input(root, req, e);
	if (rc == CHAT_OK)
		rc = check_options(root, req, e);
	if (rc != CHAT_OK) {
		json_decref(root);
		memset(req, 0, sizeof(*req));
		return rc;
	}
	req->root = root;
	req->model = model;
	return CHAT_OK;
}

void embed_request_fini(struct embed_request *req)
{
	if (req == NULL)
		return;
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

static uint32_t count_of(const json_t *v)
{
	json_int_t n = json_integer_value(v);
	if (!json_is_integer(v) || n < 0)
		return 0;
	return n > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void embed_response_extract_json(const json_t *root, struct embed_response_info *info)
{
	const json_t *usage, *data;
	memset(info, 0, sizeof(*info));
	if (!json_is_object(root))
		return;
	/* model, id and usage.prompt_tokens read the same as in a chat response */
	chat_response_extract_json(root, &info->resp);
	info->resp.finish_reason[0] = '\0';
	usage = json_object_get(root, "usage");
	info->total_tokens = count_of(json_object_get(usage, "total_tokens"));
	data = json_object_get(root, "data");
	if (json_is_array(data))
		info->data_count = json_array_size(data) > UINT32_MAX ? UINT32_MAX : (uint32_t)json_array_size(data);
}

int embed_response_extract(const char *body, size_t len, struct embed_response_info *info)
{
	json_error_t jerr;
	json_t *root;
	int rc = -1;
	memset(info, 0, sizeof(*info));
	if (body == NULL || len == 0)
		return -1;
	root = json_loadb(body, len, 0, &jerr);
	if (json_is_object(root)) {
		embed_response_extract_json(root, info);
		rc = 0;
	}
	json_decref(root);
	return rc;
}
