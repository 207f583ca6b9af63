/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI-compatible endpoints of llmgw-mock.
 *
 * The chat answer is a plain chat.completion object: id chatcmpl-mock-<n>,
 * the request's model with "-mock" appended (so a test can tell the
 * provider's model from the client's), one choice with finish_reason
 * "stop", and usage computed by counting words, which is deterministic and
 * easy to predict from a test. With "stream": true the same answer goes
 * out as chat.completion.chunk events exactly as OpenAI sends them: a
 * first chunk with the role, the content in pieces, a chunk with
 * finish_reason, then - only when stream_options.include_usage was asked
 * for - a chunk with "choices": [] and the usage (every other chunk then
 * has "usage": null), then [DONE]. The legacy /v1/completions works the
 * same way with text_completion objects. A request with
 * x-mock-cached-tokens: N gets usage.prompt_tokens_details.cached_tokens =
 * min(N, prompt_tokens), as OpenAI reports the part of a prompt served from
 * its prompt cache (prompt_tokens still counts it), so a test can check
 * cached-input pricing. Malformed input is answered in
 * OpenAI's 400 shape so the gateway's upstream-error mapping sees what a
 * real provider sends.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"
#include "tests/support/mock/mock_sse.h"

#define TEXT_MAX (8u * 1024 * 1024) /* bound on the concatenated message text */
#define CACHED_MAX 1000000000L	    /* x-mock-cached-tokens upper bound */

/* What every answer of one request shares, whole or streamed. */
struct answer {
	const char *object; /* "chat.completion(.chunk)" or "text_completion" */
	char id[64];	    /* chatcmpl-mock-<n> / cmpl-mock-<n> */
	char model[256];    /* request model + "-mock" */
	json_int_t created;
	const char *content; /* not owned */
	size_t content_len;
	size_t prompt_words;
	long cached; /* x-mock-cached-tokens; -1 = not asked for */
	bool chat;
	bool include_usage; /* stream_options.include_usage */
};

size_t mock_openai_count_words(const char *s, size_t n)
{
	size_t words = 0;
	int in_word = 0;
	for (size_t i = 0; i < n; i++) {
		int sp = isspace((unsigned char)s[i]);
		if (!sp && !in_word)
			words++;
		in_word = !sp;
	}
	return words;
}

json_t *mock_openai_usage(size_t prompt, size_t completion)
{
	return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
			 (json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion));
}

/* This answer's usage: with prompt_tokens_details.cached_tokens when x-mock-cached-tokens asked for it. */
static json_t *answer_usage(const struct answer *a, size_t completion)
{
	json_t *u = mock_openai_usage(a->prompt_words, completion);
	size_t cached = (size_t)a->cached < a->prompt_words ? (size_t)a->cached : a->prompt_words;
	if (u != NULL && a->cached >= 0)
		json_object_set_new(u, "prompt_tokens_details",
				    json_pack("{s:I}", "cached_tokens", (json_int_t)cached));
	return u;
}

/*
 * Appends the text of one message's content to out: a string as is, an
 * array of parts as its "text" parts joined by spaces (image parts and the
 * like carry no words). Returns -1 if out is full.
 */
static int content_text(const json_t *content, struct buf *out)
{
	if (json_is_string(content))
		return buf_append(out, json_string_value(content), json_string_length(content));
	if (!json_is_array(content))
		return 0;
	size_t i;
	const json_t *part;
	json_array_foreach(content, i, part)
	{
		const json_t *t = json_object_get(part, "text");
		if (!json_is_string(t))
			continue;
		if (out->len > 0 && buf_append(out, " ", 1) != 0)
			return -1;
		if (buf_append(out, json_string_value(t), json_string_length(t)) != 0)
			return -1;
	}
	return 0;
}

/* Counts prompt words over every message and copies the last user message's text into last_user. */
static int scan_messages(const json_t *messages, size_t *prompt_words, struct buf *last_user)
{
	size_t i;
	const json_t *msg;
	struct buf text;
	buf_init(&text, TEXT_MAX);
	*prompt_words = 0;
	json_array_foreach(messages, i, msg)
	{
		buf_reset(&text);
		if (content_text(json_object_get(msg, "content"), &text) != 0)
			goto fail;
		*prompt_words += mock_openai_count_words(text.data, text.len);
		const char *role = json_string_value(json_object_get(msg, "role"));
		if (role != NULL && strcmp(role, "user") == 0) {
			buf_reset(last_user);
			if (buf_append(last_user, text.data != NULL ? text.data : "", text.len) != 0)
				goto fail;
		}
	}
	buf_fini(&text);
	return 0;
fail:
	buf_fini(&text);
	return -1;
}

/* The legacy prompt: a string or an array of strings; the answer echoes the last one. */
static int scan_prompt(const json_t *prompt, size_t *prompt_words, struct buf *last)
{
	size_t i;
	const json_t *p;
	*prompt_words = 0;
	if (json_is_string(prompt)) {
		*prompt_words = mock_openai_count_words(json_string_value(prompt), json_string_length(prompt));
		return buf_append(last, json_string_value(prompt), json_string_length(prompt));
	}
	json_array_foreach(prompt, i, p)
	{
		if (!json_is_string(p))
			return -1;
		*prompt_words += mock_openai_count_words(json_string_value(p), json_string_length(p));
		buf_reset(last);
		if (buf_append(last, json_string_value(p), json_string_length(p)) != 0)
			return -1;
	}
	return 0;
}

json_t *mock_openai_parse(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	size_t len;
	const char *p = mock_req_body(r, &len);
	json_error_t je;
	json_t *root = json_loadb(p != NULL ? p : "", p != NULL ? len : 0, 0, &je);
	const char *problem = NULL;
	if (root == NULL) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", "invalid_json",
				     "We could not parse the JSON body of your request: %s (line %d, column %d)",
				     je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root))
		problem = "the request body must be a JSON object";
	else if (!json_is_string(json_object_get(root, "model")))
		problem = "you must provide a model parameter";
	if (problem != NULL) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", NULL, "%s", problem);
		json_decref(root);
		return NULL;
	}
	return root;
}

static void answer_init(struct mock *m, struct answer *a, const json_t *root, bool chat)
{
	const json_t *so = json_object_get(root, "stream_options");
	a->chat = chat;
	a->object = chat ? "chat.completion" : "text_completion";
	a->created = (json_int_t)time(NULL);
	a->include_usage = json_is_true(json_object_get(so, "include_usage"));
	snprintf(a->id, sizeof(a->id), "%s-mock-%llu", chat ? "chatcmpl" : "cmpl", (unsigned long long)++m->next_id);
	snprintf(a->model, sizeof(a->model), "%s-mock", json_string_value(json_object_get(root, "model")));
}

/*
 * One choice: a whole answer's message (whole), else a stream delta (with
 * the role when role is set; text NULL = an empty delta), or for legacy
 * completions the text.
 */
static json_t *choice(const struct answer *a, bool whole, bool role, const char *text, size_t len, const char *finish)
{
	json_t *fin = finish != NULL ? json_string(finish) : json_null();
	if (!a->chat)
		return json_pack("{s:s%, s:i, s:n, s:o}", "text", text != NULL ? text : "", text != NULL ? len : 0,
				 "index", 0, "logprobs", "finish_reason", fin);
	json_t *msg = json_object();
	if (whole || role)
		json_object_set_new(msg, "role", json_string("assistant"));
	if (text != NULL)
		json_object_set_new(msg, "content", json_stringn(text, len));
	return json_pack("{s:i, s:o, s:n, s:o}", "index", 0, whole ? "message" : "delta", msg, "logprobs",
			 "finish_reason", fin);
}

/* A stream chunk around one choice (NULL = "choices": [] with usage). */
static json_t *chunk(const struct answer *a, json_t *ch, json_t *usage)
{
	json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:[]}", "id", a->id, "object",
			      a->chat ? "chat.completion.chunk" : "text_completion", "created", a->created, "model",
			      a->model, "choices");
	if (v == NULL) {
		json_decref(ch);
		json_decref(usage);
		return NULL;
	}
	if (ch != NULL)
		json_array_append_new(json_object_get(v, "choices"), ch);
	if (usage != NULL)
		json_object_set_new(v, "usage", usage);
	else if (a->include_usage)
		json_object_set_new(v, "usage", json_null());
	return v;
}

static void answer_whole(struct mock *m, struct mock_req *r, const struct mock_fault *f, const struct answer *a)
{
	size_t completion = mock_openai_count_words(a->content, a->content_len);
	json_t *resp =
	    json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", a->id, "object", a->object, "created", a->created,
		      "model", a->model, "choices", choice(a, true, false, a->content, a->content_len, "stop"), "usage",
		      answer_usage(a, completion));
	mock_reply_json(m, r, 200, resp, f->latency_ms + f->first_byte_ms);
}

static void answer_stream(struct mock *m, struct mock_req *r, const struct mock_fault *f, const struct answer *a)
{
	struct mock_sse *s = mock_sse_new();
	size_t *cuts = calloc((size_t)f->chunks + 1, sizeof(*cuts));
	int rc = s != NULL && cuts != NULL ? 0 : -1;
	size_t pieces = rc == 0 ? mock_sse_split(a->content, a->content_len, (size_t)f->chunks, cuts) : 0;
	if (rc == 0 && a->chat)
		rc = mock_sse_add_json(s, chunk(a, choice(a, false, true, "", 0, NULL), NULL));
	for (size_t i = 0; rc == 0 && i < pieces; i++)
		rc = mock_sse_add_json(
		    s, chunk(a, choice(a, false, false, a->content + cuts[i], cuts[i + 1] - cuts[i], NULL), NULL));
	if (rc == 0)
		rc = mock_sse_add_json(s, chunk(a, choice(a, false, false, a->chat ? NULL : "", 0, "stop"), NULL));
	if (rc == 0 && a->include_usage)
		rc = mock_sse_add_json(
		    s, chunk(a, NULL, answer_usage(a, mock_openai_count_words(a->content, a->content_len))));
	if (rc == 0)
		rc = mock_sse_add_done(s);
	free(cuts);
	if (rc != 0) {
		mock_sse_free(s);
		mock_reply_oai_error(m, r, 500, 0, "server_error", NULL, "mock out of memory");
		return;
	}
	/* fail-after counts content chunks; the chat role chunk comes before them. */
	int cut = -1;
	if (f->fail_after >= 0)
		cut = (a->chat ? 1 : 0) + (f->fail_after < (int)pieces ? f->fail_after : (int)pieces);
	mock_sse_play(m, r, s, f->latency_ms + f->first_byte_ms, f->chunk_delay_ms, cut);
}

/* x-mock-cached-tokens into a->cached (-1 without it); -1 (answered 400) when it is not 0-CACHED_MAX. */
static int cached_tokens(struct mock *m, struct mock_req *r, const struct mock_fault *f, struct answer *a)
{
	const char *v = mock_req_header(r, "x-mock-cached-tokens");
	char *end;
	a->cached = -1;
	if (v == NULL)
		return 0;
	errno = 0;
	a->cached = strtol(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0' && a->cached >= 0 && a->cached <= CACHED_MAX)
		return 0;
	m->stats.bad_requests++;
	mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", "mock_bad_header",
			     "x-mock-cached-tokens must be 0-%ld", CACHED_MAX);
	return -1;
}

/* Shared tail of chat and completions: the answer, whole or streamed. */
static void answer(struct mock *m, struct mock_req *r, const struct mock_fault *f, struct answer *a, const json_t *root,
		   const struct buf *echo)
{
	a->content = m->opts.content;
	a->content_len = a->content != NULL ? strlen(a->content) : 0;
	if (a->content == NULL) {
		a->content = echo->data != NULL ? echo->data : "";
		a->content_len = echo->len;
	}
	if (json_is_true(json_object_get(root, "stream")))
		answer_stream(m, r, f, a);
	else
		answer_whole(m, r, f, a);
}

void mock_openai_chat(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	json_t *root = mock_openai_parse(m, r, f);
	if (root == NULL)
		return;
	struct answer a = {0};
	struct buf last_user;
	buf_init(&last_user, TEXT_MAX);
	if (!json_is_array(json_object_get(root, "messages"))) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", NULL,
				     "'messages' is a required property and must be an array");
		goto out;
	}
	if (scan_messages(json_object_get(root, "messages"), &a.prompt_words, &last_user) != 0) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", "context_length_exceeded",
				     "messages are longer than the mock's %u-byte limit", TEXT_MAX);
		goto out;
	}
	if (cached_tokens(m, r, f, &a) != 0)
		goto out;
	answer_init(m, &a, root, true);
	m->stats.chat_completions++;
	answer(m, r, f, &a, root, &last_user);
out:
	buf_fini(&last_user);
	json_decref(root);
}

void mock_openai_completions(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	json_t *root = mock_openai_parse(m, r, f);
	if (root == NULL)
		return;
	struct answer a = {0};
	struct buf last;
	buf_init(&last, TEXT_MAX);
	const json_t *prompt = json_object_get(root, "prompt");
	if ((!json_is_string(prompt) && !json_is_array(prompt)) || scan_prompt(prompt, &a.prompt_words, &last) != 0) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", NULL,
				     "'prompt' must be a string or an array of strings (at most %u bytes)", TEXT_MAX);
		goto out;
	}
	if (cached_tokens(m, r, f, &a) != 0)
		goto out;
	answer_init(m, &a, root, false);
	m->stats.completions++;
	answer(m, r, f, &a, root, &last);
out:
	buf_fini(&last);
	json_decref(root);
}

void mock_openai_models(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	static const char *const ids[] = {"gpt-4o-mini", "gpt-4o", "mock-model", "text-embedding-3-small"};
	json_t *data = json_array();
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", ids[i], "object", "model",
						      "created", 0, "owned_by", "llmgw-mock"));
	m->stats.models++;
	mock_reply_json(m, r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data),
			f->latency_ms + f->first_byte_ms);
}
