/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request validation, stream usage injection and response fact extraction.
 * Chat requests and every response are read by scanning (gateway/jscan.h):
 * one validating pass, then the few members needed, no tree and no
 * allocation; jscan accepts exactly what jansson does, so what reaches the
 * rest of the gateway is the same well-formed text (bounded depth, valid
 * UTF-8, no \u0000). The jansson tree is built only where one is needed:
 * provider translations and edits (chat_request_tree), the prompt shapes
 * of legacy completions, and embeddings (embed_parse), which share
 * chat_body_parse.
 */
#include "gateway/chat_parse.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/jscan.h"

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

/* The members of a chat or completions request the gateway reads; the last duplicate wins, as in jansson. */
struct req_fields {
	struct jscan_val model, messages, prompt, stream, stream_options, n, max_tokens, max_completion_tokens;
};

/*
 * Collects the members; returns the name of one the body gives twice, or
 * NULL. JSON leaves duplicates to the reader: jansson and Python keep the
 * last, some parsers the first. A provider reading the other "model" than
 * the gateway did would serve a model the key may not use, at another
 * price; so a body that says twice what the gateway decides on is refused.
 */
static const char *req_fields_scan(const struct jscan_val *root, struct req_fields *f)
{
	static const struct {
		const char *name;
		size_t off;
	} wanted[] = {
	    {"model", offsetof(struct req_fields, model)},
	    {"messages", offsetof(struct req_fields, messages)},
	    {"prompt", offsetof(struct req_fields, prompt)},
	    {"stream", offsetof(struct req_fields, stream)},
	    {"stream_options", offsetof(struct req_fields, stream_options)},
	    {"n", offsetof(struct req_fields, n)},
	    {"max_tokens", offsetof(struct req_fields, max_tokens)},
	    {"max_completion_tokens", offsetof(struct req_fields, max_completion_tokens)},
	};
	struct jscan_iter it;
	struct jscan_val k, v;
	unsigned seen = 0;
	memset(f, 0, sizeof(*f));
	jscan_iter_init(&it, root);
	while (jscan_next(&it, &k, &v)) {
		for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
			if (jscan_key_is(&k, wanted[i].name)) {
				if (seen & (1u << i))
					return wanted[i].name;
				seen |= 1u << i;
				*(struct jscan_val *)((char *)f + wanted[i].off) = v;
				break;
			}
		}
	}
	return NULL;
}

enum chat_perr chat_fail_duplicate(struct chat_parse_err *e, const char *key)
{
	e->code = CHAT_DUPLICATE_KEY;
	e->param = key;
	snprintf(e->msg, sizeof(e->msg), "'%s' appears more than once in the request body; send each parameter once",
		 key);
	return CHAT_DUPLICATE_KEY;
}

const char *chat_top_duplicate(const char *body, size_t len, const char *const *keys, size_t nkeys)
{
	struct jscan_val root, k, v;
	struct jscan_iter it;
	uint64_t seen = 0;
	if (jscan_parse(body, len, &root, NULL) != 0)
		return NULL;
	jscan_iter_init(&it, &root);
	while (jscan_next(&it, &k, &v)) {
		for (size_t i = 0; i < nkeys && i < 64; i++) {
			if (jscan_key_is(&k, keys[i])) {
				if (seen & ((uint64_t)1 << i))
					return keys[i];
				seen |= (uint64_t)1 << i;
				break;
			}
		}
	}
	return NULL;
}

static bool absent(const struct jscan_val *v)
{
	return v->type == JSCAN_NONE || v->type == JSCAN_NULL;
}

static bool is_bool(const struct jscan_val *v)
{
	return v->type == JSCAN_TRUE || v->type == JSCAN_FALSE;
}

/* The model checks of check_model(), on the scanned value. */
static enum chat_perr scan_model(const struct jscan_val *m, struct chat_request *req, struct chat_parse_err *e)
{
	if (absent(m))
		return fail(e, CHAT_MODEL_MISSING, "model", "you must provide a model parameter");
	if (m->type != JSCAN_STRING)
		return fail(e, CHAT_MODEL_NOT_STRING, "model", "'model' must be a string");
	size_t full = jscan_str(m, req->model_buf, sizeof(req->model_buf));
	if (full == 0 || full > CHAT_MODEL_MAX)
		return fail(e, CHAT_MODEL_BAD, "model", "'model' must be 1-256 characters");
	memcpy(e->model, req->model_buf, full + 1);
	req->model = req->model_buf;
	return CHAT_OK;
}

/* stream, stream_options, n and the output cap: the same for chat and legacy completions. */
static enum chat_perr scan_stream(const struct req_fields *f, struct chat_request *req, struct chat_parse_err *e)
{
	struct jscan_val iu = {0};
	int64_t n;
	if (!absent(&f->stream) && !is_bool(&f->stream))
		return fail(e, CHAT_STREAM_NOT_BOOL, "stream", "'stream' must be a boolean");
	/* a non-object here would be clobbered by usage injection: reject rather than guess */
	if (!absent(&f->stream_options)) {
		if (f->stream_options.type != JSCAN_OBJECT)
			return fail(e, CHAT_STREAM_OPTIONS_BAD, "stream_options", "'stream_options' must be an object");
		jscan_get(&f->stream_options, "include_usage", &iu);
		if (!absent(&iu) && !is_bool(&iu))
			return fail(e, CHAT_STREAM_OPTIONS_BAD, "stream_options",
				    "'stream_options.include_usage' must be a boolean");
	}
	req->has_stream_options = f->stream_options.type != JSCAN_NONE;
	req->stream = f->stream.type == JSCAN_TRUE;
	req->include_usage = req->stream && iu.type == JSCAN_TRUE;
	req->n_choices = 1;
	if (jscan_int(&f->n, &n) && n > 0)
		req->n_choices = n > 65535 ? 65535u : (unsigned)n;
	/* max_completion_tokens when it is an integer, else max_tokens (for the token-limit estimate) */
	const struct jscan_val *mt =
	    f->max_completion_tokens.type == JSCAN_INTEGER ? &f->max_completion_tokens : &f->max_tokens;
	if (jscan_int(mt, &n) && n > 0 && n < INT64_C(1) << 32)
		req->max_tokens = (uint32_t)n;
	return CHAT_OK;
}

static enum chat_perr scan_messages(const struct jscan_val *msgs, struct chat_parse_err *e)
{
	struct jscan_val first;
	if (absent(msgs))
		return fail(e, CHAT_MESSAGES_MISSING, "messages", "missing required parameter: 'messages'");
	if (msgs->type != JSCAN_ARRAY)
		return fail(e, CHAT_MESSAGES_NOT_ARRAY, "messages", "'messages' must be an array");
	if (!jscan_index(msgs, 0, &first))
		return fail(e, CHAT_MESSAGES_EMPTY, "messages", "'messages' must contain at least one message");
	return CHAT_OK;
}

static enum chat_perr check_prompt(struct chat_request *req, struct chat_parse_err *e)
{
	struct chat_input_shape sh;
	json_t *root = chat_request_tree(req), *prompt = json_object_get(root, "prompt");
	if (root == NULL)
		return fail(e, CHAT_BAD_JSON, NULL, "out of memory reading the request");
	if (prompt == NULL || json_is_null(prompt))
		return fail(e, CHAT_PROMPT_MISSING, "prompt", "missing required parameter: 'prompt'");
	chat_input_classify(prompt, &sh);
	if (sh.kind == CHAT_INPUT_NONE || sh.kind == CHAT_INPUT_EMPTY_ARRAY || sh.empty_tokens)
		return fail(e, CHAT_PROMPT_BAD, "prompt",
			    "'prompt' must be a string, an array of strings, an array of token ids or an array of "
			    "non-empty token id arrays");
	return CHAT_OK;
}

/* The body checks of chat_body_parse(), then the endpoint's own field, then stream: in that order. */
static enum chat_perr request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e,
				    bool legacy)
{
	struct jscan_val root;
	struct jscan_err je;
	struct req_fields f;
	enum chat_perr rc;
	memset(req, 0, sizeof(*req));
	memset(e, 0, sizeof(*e));
	if (body == NULL || len == 0)
		return fail(e, CHAT_EMPTY_BODY, NULL, "the request body is empty; expected a JSON object");
	if (jscan_parse(body, len, &root, &je) != 0) {
		e->code = CHAT_BAD_JSON;
		snprintf(e->msg, sizeof(e->msg), "the request body is not valid JSON: %s (at byte %zu)", je.text,
			 je.pos);
		return CHAT_BAD_JSON;
	}
	if (root.type != JSCAN_OBJECT)
		return fail(e, CHAT_NOT_OBJECT, NULL, "the request body must be a JSON object");
	req->body = body;
	req->body_len = len;
	req->legacy = legacy;
	const char *dup = req_fields_scan(&root, &f);
	if (dup != NULL)
		return chat_fail_duplicate(e, dup);
	rc = scan_model(&f.model, req, e);
	if (rc == CHAT_OK)
		rc = legacy ? check_prompt(req, e) : scan_messages(&f.messages, e);
	if (rc == CHAT_OK)
		rc = scan_stream(&f, req, e);
	if (rc != CHAT_OK) {
		chat_request_fini(req); /* e->model keeps the model once it was readable */
		return rc;
	}
	return CHAT_OK;
}

enum chat_perr chat_request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e)
{
	return request_parse(body, len, req, e, false);
}

enum chat_perr chat_legacy_request_parse(const char *body, size_t len, struct chat_request *req,
					 struct chat_parse_err *e)
{
	return request_parse(body, len, req, e, true);
}

json_t *chat_request_tree(struct chat_request *req)
{
	if (req->root != NULL || req->body == NULL)
		return req->root;
	/* validated by jscan already, which accepts only what jansson does: only ENOMEM can fail here */
	req->root = json_loadb(req->body, req->body_len, 0, NULL);
	if (req->root == NULL)
		return NULL;
	if (req->legacy)
		req->prompt = json_object_get(req->root, "prompt");
	else
		req->messages = json_object_get(req->root, "messages");
	return req->root;
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
	if (!req->stream || req->include_usage || req->body == NULL)
		return 0;
	json_t *root = chat_request_tree(req);
	if (root == NULL)
		return -1;
	json_t *so = json_object_get(root, "stream_options");
	if (!json_is_object(so)) {
		/* absent or null (anything else was rejected by the parser) */
		so = json_object();
		if (so == NULL || json_object_set_new(root, "stream_options", so) != 0)
			return -1;
	}
	if (json_object_set_new(so, "include_usage", json_true()) != 0)
		return -1;
	req->has_stream_options = true;
	return 1;
}

/* Spliced after the opening brace: the object has a model, so a comma always follows. */
static const char usage_member[] = "\"stream_options\":{\"include_usage\":true},";

int chat_request_inject_usage(struct chat_request *req, const char *body, size_t len, struct buf *out, struct err *err)
{
	if (!req->stream || req->include_usage || req->body == NULL)
		return 0;
	if (!req->has_stream_options) {
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
	char *s = json_dumps(chat_request_tree(req), JSON_COMPACT);
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

/* A scanned string into a fixed field (cut on a character boundary); non-strings leave it "". */
static void scan_copy(char *dst, size_t cap, const struct jscan_val *v)
{
	if (v->type == JSCAN_STRING)
		jscan_str(v, dst, cap);
}

/* get_count() on a scanned value. */
static bool scan_count(const struct jscan_val *obj, const char *key, uint32_t *out)
{
	struct jscan_val v;
	int64_t n;
	if (!jscan_get(obj, key, &v) || !jscan_int(&v, &n) || n < 0)
		return false;
	*out = n > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return true;
}

/*
 * chat_response_extract_json() without the tree: one pass over the top
 * level, then the few nested values. The fuzz target fuzz_jscan checks
 * that both give the same facts for every body jansson can read.
 */
int chat_response_extract(const char *body, size_t len, struct chat_response_info *info)
{
	struct jscan_val root;
	memset(info, 0, sizeof(*info));
	if (body == NULL || len == 0 || jscan_parse(body, len, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
		return -1;
	chat_response_extract_scanned(&root, info);
	return 0;
}

void chat_response_extract_scanned(const struct jscan_val *root, struct chat_response_info *info)
{
	struct jscan_val k, v, model = {0}, id = {0}, choices = {0}, usage = {0}, c0, fr, details;
	struct jscan_iter it;
	memset(info, 0, sizeof(*info));
	jscan_iter_init(&it, root);
	while (jscan_next(&it, &k, &v)) {
		if (jscan_key_is(&k, "model"))
			model = v;
		else if (jscan_key_is(&k, "id"))
			id = v;
		else if (jscan_key_is(&k, "choices"))
			choices = v;
		else if (jscan_key_is(&k, "usage"))
			usage = v;
	}
	scan_copy(info->model, sizeof(info->model), &model);
	scan_copy(info->id, sizeof(info->id), &id);
	if (jscan_index(&choices, 0, &c0) && jscan_get(&c0, "finish_reason", &fr))
		scan_copy(info->finish_reason, sizeof(info->finish_reason), &fr);
	if (usage.type == JSCAN_OBJECT) {
		bool p = scan_count(&usage, "prompt_tokens", &info->prompt_tokens);
		bool c = scan_count(&usage, "completion_tokens", &info->completion_tokens);
		info->has_usage = p || c;
		if (jscan_get(&usage, "prompt_tokens_details", &details) && details.type == JSCAN_OBJECT)
			scan_count(&details, "cached_tokens", &info->cached_tokens);
	}
}
