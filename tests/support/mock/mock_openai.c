/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI-compatible endpoints of llmgw-mock.
 *
 * The chat answer is a plain chat.completion object: id chatcmpl-mock-<n>,
 * the request's model with "-mock" appended (so a test can tell the
 * provider's model from the client's), one choice with finish_reason
 * "stop", and usage computed by counting words, which is deterministic and
 * easy to predict from a test. Malformed input is answered in OpenAI's 400 shape so
 * the gateway's upstream-error mapping sees what a real provider sends.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "common/buf.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"

#define TEXT_MAX (8u * 1024 * 1024) /* bound on the concatenated message text */

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

static json_t *chat_completion(struct mock *m, const char *model, const char *content, size_t content_len,
			       size_t prompt_words)
{
	char id[64], resp_model[256];
	size_t completion_words = mock_openai_count_words(content, content_len);
	snprintf(id, sizeof(id), "chatcmpl-mock-%llu", (unsigned long long)++m->next_id);
	snprintf(resp_model, sizeof(resp_model), "%s-mock", model);
	json_t *message = json_pack("{s:s, s:s%}", "role", "assistant", "content", content, content_len);
	json_t *choice = json_pack("{s:i, s:o, s:s}", "index", 0, "message", message, "finish_reason", "stop");
	json_t *usage =
	    json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt_words, "completion_tokens",
		      (json_int_t)completion_words, "total_tokens", (json_int_t)(prompt_words + completion_words));
	return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", id, "object", "chat.completion", "created",
			 (json_int_t)time(NULL), "model", resp_model, "choices", choice, "usage", usage);
}

/* Parses and checks the request; on a problem answers 400 itself and returns NULL. */
static json_t *parse_chat(struct mock *m, struct evhttp_request *req, const struct mock_fault *f)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	json_error_t je;
	json_t *root = json_loadb(p != NULL ? p : "", p != NULL ? len : 0, 0, &je);
	const char *problem = NULL;
	if (root == NULL) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, req, 400, f->latency_ms, "invalid_request_error", "invalid_json",
				     "We could not parse the JSON body of your request: %s (line %d, column %d)",
				     je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root))
		problem = "the request body must be a JSON object";
	else if (!json_is_string(json_object_get(root, "model")))
		problem = "you must provide a model parameter";
	else if (!json_is_array(json_object_get(root, "messages")))
		problem = "'messages' is a required property and must be an array";
	else if (json_is_true(json_object_get(root, "stream")))
		problem = "stream: true is not implemented by llmgw-mock yet";
	if (problem != NULL) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, req, 400, f->latency_ms, "invalid_request_error", NULL, "%s", problem);
		json_decref(root);
		return NULL;
	}
	return root;
}

void mock_openai_chat(struct mock *m, struct evhttp_request *req, const struct mock_fault *f)
{
	json_t *root = parse_chat(m, req, f);
	if (root == NULL)
		return;
	size_t prompt_words = 0;
	struct buf last_user;
	buf_init(&last_user, TEXT_MAX);
	if (scan_messages(json_object_get(root, "messages"), &prompt_words, &last_user) != 0) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, req, 400, f->latency_ms, "invalid_request_error", "context_length_exceeded",
				     "messages are longer than the mock's %u-byte limit", TEXT_MAX);
		goto out;
	}
	const char *content = m->opts.content;
	size_t content_len = content != NULL ? strlen(content) : 0;
	if (content == NULL) {
		content = last_user.data != NULL ? last_user.data : "";
		content_len = last_user.len;
	}
	json_t *resp =
	    chat_completion(m, json_string_value(json_object_get(root, "model")), content, content_len, prompt_words);
	if (resp == NULL) {
		evhttp_send_error(req, 500, "mock out of memory");
		goto out;
	}
	m->stats.chat_completions++;
	mock_reply_json(m, req, 200, resp, f->latency_ms);
out:
	buf_fini(&last_user);
	json_decref(root);
}

void mock_openai_models(struct mock *m, struct evhttp_request *req, const struct mock_fault *f)
{
	static const char *const ids[] = {"gpt-4o-mini", "gpt-4o", "mock-model"};
	json_t *data = json_array();
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", ids[i], "object", "model",
						      "created", 0, "owned_by", "llmgw-mock"));
	m->stats.models++;
	mock_reply_json(m, req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data), f->latency_ms);
}
