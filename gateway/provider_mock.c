/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The built-in mock provider: answers in-process, without network, so
 * `make run` and smoke tests work on a laptop with no keys. It echoes the
 * last user message and reports usage as word counts (prompt = words in all
 * messages, completion = words in the reply), which makes token attributes
 * in spans predictable in tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/provider.h"

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

static int mock_chat_answer(const struct gw_provider *p, const struct provider_chat_in *in, struct buf *out,
			    struct chat_response_info *info, struct err *err)
{
	struct buf reply;
	uint32_t pw, cw;
	char id[96];
	json_t *root = NULL;
	char *s = NULL;
	int rc = -1;
	(void)p;
	buf_init(&reply, 0);
	if (mock_read_messages(in->req->messages, &reply, &pw) < 0) {
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	cw = count_words(reply.data != NULL ? reply.data : "", reply.len);
	snprintf(id, sizeof(id), "chatcmpl-mock-%s", in->request_id);
	root = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s%}, s:s}], s:{s:i, s:i, s:i}}", "id", id, "object",
			 "chat.completion", "created", (json_int_t)time(NULL), "model", in->provider_model, "choices",
			 "index", 0, "message", "role", "assistant", "content", reply.data != NULL ? reply.data : "",
			 reply.len, "finish_reason", "stop", "usage", "prompt_tokens", (int)pw, "completion_tokens",
			 (int)cw, "total_tokens", (int)(pw + cw));
	if (root == NULL || (s = json_dumps(root, JSON_COMPACT)) == NULL) {
		err_set(err, ENOMEM, "cannot build the mock response");
		goto out;
	}
	if (buf_puts(out, s) < 0) {
		err_set(err, ENOMEM, "mock response too large");
		goto out;
	}
	chat_response_extract_json(root, info);
	rc = 0;
out:
	free(s);
	json_decref(root);
	buf_fini(&reply);
	return rc;
}

const struct provider_ops provider_mock = {
    .name = "mock",
    .in_process = true,
    .chat_encode = NULL,
    .auth_headers = NULL,
    .chat_decode = NULL,
    .chat_answer = mock_chat_answer,
};
