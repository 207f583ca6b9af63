/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The built-in mock provider: answers in-process, without network, so
 * `make run` and smoke tests work on a laptop with no keys. Chat echoes the
 * last user message, legacy completions the (last) prompt string, and
 * usage is word counts (prompt = words in all messages or prompts,
 * completion = words in the reply), which makes token attributes in spans
 * predictable in tests. Streams are produced whole, as OpenAI would send
 * them (a role chunk, one chunk per word, a finish chunk, the usage chunk,
 * [DONE]); the request path relays them through the same chat_stream relay
 * as a network stream, so spans get TTFT and usage the same way. The usage
 * chunk is always there: the gateway asks every provider for it, and the
 * relay removes it when the client did not ask.
 *
 * Embeddings are deterministic vectors seeded by a hash of each input
 * (dimensions default MOCK_EMBED_DIMS, at most MOCK_EMBED_MAX_DIMS), as
 * float arrays or, for encoding_format base64, float32 little-endian bytes
 * in base64 like OpenAI's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/ids.h"
#include "gateway/oai_sse.h"
#include "gateway/provider.h"

#define MOCK_EMBED_DIMS 8
#define MOCK_EMBED_MAX_DIMS 4096

/* Appends the text of a message's content: a string or an array of text parts. */
static int content_text(const json_t *content, struct buf *out)
{
	size_t i;
	const json_t *part;
	if (json_is_string(content))
		return buf_append(out, json_string_value(content), json_string_length(content));
	if (!json_is_array(content))
		return 0;
	json_array_foreach(content, i, part)
	{
		const json_t *text = json_object_get(part, "text");
		if (!json_is_string(text))
			continue;
		if (out->len > 0 && buf_puts(out, " ") < 0)
			return -1;
		if (buf_append(out, json_string_value(text), json_string_length(text)) < 0)
			return -1;
	}
	return 0;
}

static uint32_t count_words(const char *s, size_t n)
{
	uint32_t w = 0;
	bool in = false;
	for (size_t i = 0; i < n; i++) {
		bool sp = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* Reply text and prompt word count from the messages. */
static int mock_read_messages(const json_t *messages, struct buf *reply, uint32_t *prompt_words)
{
	struct buf tmp;
	size_t i;
	const json_t *m;
	int rc = 0;
	buf_init(&tmp, 0);
	*prompt_words = 0;
	json_array_foreach(messages, i, m)
	{
		const json_t *role = json_object_get(m, "role");
		buf_reset(&tmp);
		if ((rc = content_text(json_object_get(m, "content"), &tmp)) < 0)
			break;
		*prompt_words += count_words(tmp.data != NULL ? tmp.data : "", tmp.len);
		if (json_is_string(role) && strcmp(json_string_value(role), "user") == 0) {
			buf_reset(reply);
			if (tmp.len > 0 && (rc = buf_append(reply, tmp.data, tmp.len)) < 0)
				break;
		}
	}
	buf_fini(&tmp);
	return rc;
}

/* Serialises root (consumed; NULL = it could not be built) into out. */
static int put_json(json_t *root, struct buf *out, struct err *err)
{
	char *s = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	int rc = 0;
	if (s == NULL)
		rc = err_set(err, ENOMEM, "cannot build the mock response");
	else if (buf_puts(out, s) < 0)
		rc = err_set(err, ENOMEM, "mock response too large");
	free(s);
	json_decref(root);
	return rc;
}

/* What a chat or legacy completion answers. */
struct mock_text {
	bool chat;
	struct buf reply;
	uint32_t prompt_words, completion_words;
	char id[96];
	const char *model;
	json_int_t created;
};

/* The prompt of a legacy completion: the reply echoes the last string, usage counts them all. */
static int mock_read_prompt(const json_t *prompt, struct buf *reply, uint32_t *prompt_words)
{
	size_t i;
	const json_t *v;
	*prompt_words = 0;
	if (json_is_string(prompt)) {
		*prompt_words = count_words(json_string_value(prompt), json_string_length(prompt));
		return buf_append(reply, json_string_value(prompt), json_string_length(prompt));
	}
	json_array_foreach(prompt, i, v)
	{
		if (json_is_string(v)) {
			*prompt_words += count_words(json_string_value(v), json_string_length(v));
			buf_reset(reply);
			if (buf_append(reply, json_string_value(v), json_string_length(v)) < 0)
				return -1;
		} else {
			/* token ids: one token each, or an array of them */
			*prompt_words += json_is_array(v) ? (uint32_t)json_array_size(v) : 1;
		}
	}
	return 0;
}

static json_t *usage_obj(const struct mock_text *t)
{
	return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)t->prompt_words, "completion_tokens",
			 (int)t->completion_words, "total_tokens", (int)(t->prompt_words + t->completion_words));
}

/* {id, object, created, model, choices}; choices is consumed. */
static json_t *envelope(const struct mock_text *t, const char *object, json_t *choices)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", t->id, "object", object, "created", t->created, "model",
			 t->model, "choices", choices);
}

/* A stream chunk with one choice: delta (consumed) for chat, text for completions. */
static json_t *chunk(const struct mock_text *t, json_t *delta, const char *text, size_t len, const char *finish)
{
	if (t->chat)
		return envelope(t, "chat.completion.chunk",
				json_pack("[{s:i, s:o, s:s?}]", "index", 0, "delta", delta, "finish_reason", finish));
	json_decref(delta);
	return envelope(
	    t, "text_completion",
	    json_pack("[{s:s%, s:i, s:n, s:s?}]", "text", text, len, "index", 0, "logprobs", "finish_reason", finish));
}

/* The whole SSE body: role chunk (chat), a chunk per word, finish chunk, usage chunk, [DONE]. */
static int stream_answer(const struct mock_text *t, struct buf *out, struct err *err)
{
	const char *p = t->reply.data != NULL ? t->reply.data : "", *end = p + t->reply.len;
	json_t *usage;
	if (t->chat &&
	    oai_sse_put(out, chunk(t, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, 0, NULL),
			err) < 0)
		return -1;
	while (p < end) {
		/* a word and the spaces after it: the pieces join to the whole reply */
		const char *q = p;
		while (q < end && *q != ' ')
			q++;
		while (q < end && *q == ' ')
			q++;
		json_t *delta = t->chat ? json_pack("{s:s%}", "content", p, (size_t)(q - p)) : NULL;
		if (oai_sse_put(out, chunk(t, delta, p, (size_t)(q - p), NULL), err) < 0)
			return -1;
		p = q;
	}
	if (oai_sse_put(out, chunk(t, t->chat ? json_object() : NULL, "", 0, "stop"), err) < 0)
		return -1;
	usage = envelope(t, t->chat ? "chat.completion.chunk" : "text_completion", json_array());
	if (usage != NULL && json_object_set_new(usage, "usage", usage_obj(t)) != 0) {
		json_decref(usage);
		usage = NULL;
	}
	if (oai_sse_put(out, usage, err) < 0)
		return -1;
	if (buf_puts(out, "data: [DONE]\n\n") < 0)
		return err_set(err, ENOMEM, "mock response too large");
	return 0;
}

static int whole_answer(const struct mock_text *t, struct buf *out, struct chat_response_info *info, struct err *err)
{
	const char *p = t->reply.data != NULL ? t->reply.data : "";
	json_t *c = t->chat ? json_pack("[{s:i, s:{s:s, s:s%}, s:s}]", "index", 0, "message", "role", "assistant",
					"content", p, t->reply.len, "finish_reason", "stop")
			    : json_pack("[{s:s%, s:i, s:n, s:s}]", "text", p, t->reply.len, "index", 0, "logprobs",
					"finish_reason", "stop");
	json_t *root = envelope(t, t->chat ? "chat.completion" : "text_completion", c);
	if (root != NULL && json_object_set_new(root, "usage", usage_obj(t)) != 0) {
		json_decref(root);
		root = NULL;
	}
	if (root != NULL)
		chat_response_extract_json(root, info);
	return put_json(root, out, err);
}

static int mock_text_answer(const struct provider_chat_in *in, struct buf *out, struct chat_response_info *info,
			    struct err *err)
{
	struct mock_text t = {
	    .chat = in->op == PROVIDER_OP_CHAT, .model = in->provider_model, .created = (json_int_t)time(NULL)};
	int rc = -1;
	buf_init(&t.reply, 0);
	if (chat_request_tree(in->req) == NULL) { /* messages and prompt live in the tree */
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((t.chat ? mock_read_messages(in->req->messages, &t.reply, &t.prompt_words)
		    : mock_read_prompt(in->req->prompt, &t.reply, &t.prompt_words)) < 0) {
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	t.completion_words = count_words(t.reply.data != NULL ? t.reply.data : "", t.reply.len);
	snprintf(t.id, sizeof(t.id), "%s-mock-%s", t.chat ? "chatcmpl" : "cmpl", in->request_id);
	rc = in->req->stream ? stream_answer(&t, out, err) : whole_answer(&t, out, info, err);
out:
	buf_fini(&t.reply);
	return rc;
}

/* ---- embeddings ----------------------------------------------------------------------- */

/* Deterministic values in [-1, 1) from the bytes of one input (FNV-1a seeding xoshiro). */
static void embed_values(const char *s, size_t n, float *out, size_t dims)
{
	struct ids_rng rng;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	for (size_t k = 0; k < 4; k++)
		rng.s[k] = h ^ (0x9e3779b97f4a7c15ull * (k + 1));
	for (size_t i = 0; i < dims; i++) {
		uint32_t u;
		ids_rng_fill(&rng, &u, sizeof(u));
		out[i] = (float)((double)(u >> 8) / (double)(1u << 23) - 1.0); /* 24 bits: exact in a float */
	}
}

/* The embedding of one input as a float array or base64 of float32 little-endian. */
static json_t *embed_one(const json_t *input, size_t dims, bool b64, float *vec, unsigned char *raw, char *text)
{
	char *dumped = json_is_string(input) ? NULL : json_dumps(input, JSON_COMPACT);
	const char *s = dumped != NULL ? dumped : json_string_value(input);
	json_t *e = NULL;
	embed_values(s != NULL ? s : "", s != NULL ? strlen(s) : 0, vec, dims);
	free(dumped);
	if (b64) {
		for (size_t i = 0; i < dims; i++) {
			uint32_t u;
			memcpy(&u, &vec[i], sizeof(u));
			for (size_t b = 0; b < 4; b++)
				raw[i * 4 + b] = (unsigned char)(u >> (8 * b));
		}
		EVP_EncodeBlock((unsigned char *)text, raw, (int)(dims * 4));
		return json_string(text);
	}
	e = json_array();
	for (size_t i = 0; e != NULL && i < dims; i++)
		if (json_array_append_new(e, json_real((double)vec[i])) != 0) {
			json_decref(e);
			return NULL;
		}
	return e;
}

/* Inputs in request order: a string or one token array is one input. */
static json_t *embed_inputs(const struct embed_request *q)
{
	if (q->input_kind == CHAT_INPUT_STRING || q->input_kind == CHAT_INPUT_TOKENS)
		return json_pack("[O]", q->input);
	return json_incref(q->input);
}

static uint32_t embed_tokens(const json_t *input)
{
	if (json_is_string(input))
		return count_words(json_string_value(input), json_string_length(input));
	return json_is_array(input) ? (uint32_t)json_array_size(input) : 0;
}

static int mock_embed_answer(const struct provider_chat_in *in, struct buf *out, struct chat_response_info *info,
			     struct err *err)
{
	const struct embed_request *q = in->embed;
	size_t dims = q->dimensions != 0 ? q->dimensions : MOCK_EMBED_DIMS, i;
	json_t *inputs = NULL, *data = json_array(), *root = NULL;
	const json_t *input;
	uint32_t tokens = 0;
	if (dims > MOCK_EMBED_MAX_DIMS) {
		json_decref(data);
		return err_set(err, EINVAL, "dimensions: the built-in mock provider makes at most %d",
			       MOCK_EMBED_MAX_DIMS);
	}
	float *vec = malloc(dims * sizeof(*vec));
	unsigned char *raw = malloc(dims * 4);
	char *text = malloc(4 * ((dims * 4 + 2) / 3) + 1);
	if (vec == NULL || raw == NULL || text == NULL || data == NULL || (inputs = embed_inputs(q)) == NULL)
		goto out;
	json_array_foreach(inputs, i, input)
	{
		json_t *e = embed_one(input, dims, q->base64, vec, raw, text);
		tokens += embed_tokens(input);
		if (json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
							  (json_int_t)i, "embedding", e)) != 0)
			goto out;
	}
	root = json_pack("{s:s, s:O, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", in->provider_model,
			 "usage", "prompt_tokens", (int)tokens, "total_tokens", (int)tokens);
	if (root != NULL) {
		struct embed_response_info ei;
		embed_response_extract_json(root, &ei);
		*info = ei.resp;
	}
out:
	free(vec);
	free(raw);
	free(text);
	json_decref(inputs);
	json_decref(data);
	return put_json(root, out, err);
}

static int mock_answer(const struct gw_provider *p, const struct provider_chat_in *in, struct buf *out,
		       struct chat_response_info *info, struct err *err)
{
	(void)p;
	memset(info, 0, sizeof(*info));
	if (in->op == PROVIDER_OP_EMBEDDINGS)
		return mock_embed_answer(in, out, info, err);
	return mock_text_answer(in, out, info, err);
}

const struct provider_ops provider_mock = {
    .name = "mock",
    .in_process = true,
    .endpoints =
	PROVIDER_EP(PROVIDER_OP_CHAT) | PROVIDER_EP(PROVIDER_OP_COMPLETIONS) | PROVIDER_EP(PROVIDER_OP_EMBEDDINGS),
    .encode = NULL,
    .auth_headers = NULL,
    .decode = NULL,
    .answer = mock_answer,
};
