/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Anthropic Messages API of llmgw-mock (POST /v1/messages).
 *
 * A request first passes the checks Anthropic makes (x-api-key,
 * anthropic-version, then the body: required fields, value ranges, roles,
 * block types, tool_use/tool_result pairing, no unknown top-level field);
 * the first failure is answered 400/401 in Anthropic's error shape and
 * counted in bad_requests. The answer is a Message: id msg_mock_<n>, the
 * request's model echoed, one text block (or one tool_use block when the
 * request forces a tool), stop_reason end_turn / stop_sequence / max_tokens
 * / tool_use, usage in words. Streams are the documented event sequence,
 * prepared whole and played by mock_sse so fail-after and the chunk delay
 * work as on the OpenAI route.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/support/mock/mock_anthropic.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"
#include "tests/support/mock/mock_sse.h"

#define TEXT_MAX (8u * 1024 * 1024) /* bound on any text the mock collects */
#define EVENTS_BEFORE_CONTENT 3	    /* message_start, content_block_start, ping */

/* A failed check: the message Anthropic would send. */
struct chk {
	char msg[512];
};

/* Everything an answer needs, whole or streamed. */
struct ant {
	unsigned long long n; /* this answer's number: msg_mock_<n>, toolu_mock_<n>, req_mock_<n> */
	char id[64];
	const char *model; /* inside the request JSON */
	struct buf echo;   /* text of the last user message that had text */
	struct buf tools;  /* tool_result text of the last message */
	struct buf out;	   /* storage for "tool result: ..." */
	bool tool_result_last;
	size_t in_words;
	const char *text; /* the answer text (not owned) */
	size_t len;
	const char *stop_reason;
	const char *stop_seq;
	const char *tool_name; /* forced tool, else NULL */
	char tool_id[64];
	json_t *tool_input; /* owned */
};

static const char *const top_keys[] = {"model",
				       "messages",
				       "max_tokens",
				       "system",
				       "metadata",
				       "stop_sequences",
				       "stream",
				       "temperature",
				       "top_p",
				       "top_k",
				       "tools",
				       "tool_choice",
				       "thinking",
				       "service_tier",
				       "container",
				       "mcp_servers",
				       "context_management"};

static const char *const block_types[] = {"text",	 "image",    "document",	  "tool_use",
					  "tool_result", "thinking", "redacted_thinking", "search_result"};

static int bad(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct chk *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The string value of v, or "" (never NULL). */
static const char *str_or(const json_t *v)
{
	const char *s = json_string_value(v);
	return s != NULL ? s : "";
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

const char *mock_anthropic_error_type(int status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 402:
		return "billing_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 413:
		return "request_too_large";
	case 429:
		return "rate_limit_error";
	case 504:
		return "timeout_error";
	case 529:
		return "overloaded_error";
	default:
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

void mock_anthropic_error(struct mock *m, struct mock_req *r, int status, int latency_ms, const char *type,
			  const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *v = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
			      type != NULL ? type : mock_anthropic_error_type(status), "message", msg);
	mock_reply_json(m, r, status, v, latency_ms);
}

/* Byte length of the first `words` words of s[0..n) (the text up to the end of the last one). */
static size_t words_prefix(const char *s, size_t n, size_t words)
{
	size_t seen = 0;
	bool in_word = false;
	for (size_t i = 0; i < n; i++) {
		bool sp = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v';
		if (sp && in_word && seen == words)
			return i;
		if (!sp && !in_word)
			seen++;
		in_word = !sp;
	}
	return n;
}

enum mock_cut mock_anthropic_cut(const char *text, size_t *len, const json_t *stops, long long max_words,
				 const char **seq)
{
	enum mock_cut why = MOCK_CUT_NONE;
	size_t i;
	const json_t *s;
	*seq = NULL;
	json_array_foreach(stops, i, s)
	{
		size_t sl = json_string_length(s);
		const char *sv = json_string_value(s);
		if (sv == NULL || sl == 0 || sl > *len)
			continue;
		for (size_t at = 0; at + sl <= *len; at++)
			if (memcmp(text + at, sv, sl) == 0) {
				*len = at;
				*seq = sv;
				why = MOCK_CUT_STOP;
				break;
			}
	}
	if (max_words >= 0 && mock_openai_count_words(text, *len) > (size_t)max_words) {
		*len = words_prefix(text, *len, (size_t)max_words);
		*seq = NULL;
		why = MOCK_CUT_MAX;
	}
	return why;
}

/* ---- request checks ------------------------------------------------------ */

static int check_range(const json_t *root, const char *key, double lo, double hi, struct chk *c)
{
	const json_t *v = json_object_get(root, key);
	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return bad(c, "%s: Input should be a valid number", key);
	double d = json_number_value(v);
	if (d < lo || d > hi)
		return bad(c, "%s: Input should be between %g and %g", key, lo, hi);
	return 0;
}

/* Text blocks (and images) allowed in system and inside tool_result. */
static int check_text_blocks(const json_t *content, const char *where, bool images, struct chk *c)
{
	size_t i;
	const json_t *b;
	if (json_is_string(content) || content == NULL)
		return 0;
	if (!json_is_array(content))
		return bad(c, "%s: Input should be a valid string or list", where);
	json_array_foreach(content, i, b)
	{
		const char *t = json_string_value(json_object_get(b, "type"));
		if (t != NULL && strcmp(t, "text") == 0 && json_is_string(json_object_get(b, "text")))
			continue;
		if (images && t != NULL && strcmp(t, "image") == 0 && json_is_object(json_object_get(b, "source")))
			continue;
		return bad(c, "%s.%zu: Input should be a text block%s", where, i, images ? " or an image block" : "");
	}
	return 0;
}

static int check_image(const json_t *b, const char *at, struct chk *c)
{
	static const char *const media[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
	const json_t *src = json_object_get(b, "source");
	const char *st = json_string_value(json_object_get(src, "type"));
	if (!json_is_object(src) || st == NULL)
		return bad(c, "%s.source: Field required", at);
	if (strcmp(st, "base64") == 0) {
		if (!in_list(json_string_value(json_object_get(src, "media_type")), media, 4))
			return bad(c,
				   "%s.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
				   "'image/gif' or 'image/webp'",
				   at);
		if (!json_is_string(json_object_get(src, "data")))
			return bad(c, "%s.source.base64.data: Field required", at);
	} else if (strcmp(st, "url") == 0) {
		if (!json_is_string(json_object_get(src, "url")))
			return bad(c, "%s.source.url.url: Field required", at);
	} else if (strcmp(st, "file") != 0) {
		return bad(c,
			   "%s.source: Input tag '%s' found using 'type' does not match any of the expected "
			   "tags: 'base64', 'url', 'file'",
			   at, st);
	}
	return 0;
}

/* One content block of message mi; collects tool_use ids (assistant) / tool_result ids (user). */
static int check_block(const json_t *b, size_t mi, size_t bi, bool user, json_t *ids, struct chk *c)
{
	char at[64];
	snprintf(at, sizeof(at), "messages.%zu.content.%zu", mi, bi);
	const char *t = json_string_value(json_object_get(b, "type"));
	if (!json_is_object(b) || t == NULL)
		return bad(c, "%s.type: Field required", at);
	if (!in_list(t, block_types, sizeof(block_types) / sizeof(block_types[0])))
		return bad(c,
			   "%s: Input tag '%s' found using 'type' does not match any of the expected tags: "
			   "'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'",
			   at, t);
	if (strcmp(t, "text") == 0 && !json_is_string(json_object_get(b, "text")))
		return bad(c, "%s.text.text: Field required", at);
	if (strcmp(t, "image") == 0)
		return check_image(b, at, c);
	if (strcmp(t, "document") == 0 && !json_is_object(json_object_get(b, "source")))
		return bad(c, "%s.document.source: Field required", at);
	if (strcmp(t, "thinking") == 0 &&
	    (!json_is_string(json_object_get(b, "thinking")) || !json_is_string(json_object_get(b, "signature"))))
		return bad(c, "%s.thinking: thinking and signature are required strings", at);
	if (strcmp(t, "tool_use") == 0) {
		const char *id = json_string_value(json_object_get(b, "id"));
		if (user)
			return bad(c, "%s: tool_use blocks are only allowed in assistant messages", at);
		if (id == NULL || !json_is_string(json_object_get(b, "name")) ||
		    !json_is_object(json_object_get(b, "input")))
			return bad(c, "%s.tool_use: id, name and input (an object) are required", at);
		json_object_set_new(ids, id, json_true());
	}
	if (strcmp(t, "tool_result") == 0) {
		const char *id = json_string_value(json_object_get(b, "tool_use_id"));
		char where[96];
		if (!user)
			return bad(c, "%s: tool_result blocks are only allowed in user messages", at);
		if (id == NULL)
			return bad(c, "%s.tool_result.tool_use_id: Field required", at);
		snprintf(where, sizeof(where), "%s.tool_result.content", at);
		if (check_text_blocks(json_object_get(b, "content"), where, true, c) != 0)
			return -1;
		json_object_set_new(ids, id, json_true());
	}
	return 0;
}

/* tool_result ids of message mi must be exactly answers to the tool_use ids of the message before. */
static int check_pairing(const json_t *prev_uses, const json_t *results, size_t mi, struct chk *c)
{
	const char *id;
	const json_t *v;
	json_object_foreach((json_t *)results, id, v)
	{
		if (json_object_get(prev_uses, id) == NULL)
			return bad(c,
				   "messages.%zu.content: unexpected `tool_use_id` found in `tool_result` blocks: %s. "
				   "Each `tool_result` block must have a corresponding `tool_use` block in the "
				   "previous message.",
				   mi, id);
	}
	json_object_foreach((json_t *)prev_uses, id, v)
	{
		if (json_object_get(results, id) == NULL)
			return bad(c,
				   "messages.%zu: `tool_use` ids were found without `tool_result` blocks immediately "
				   "after: %s. Each `tool_use` block must have a corresponding `tool_result` block "
				   "in the next message.",
				   mi - 1, id);
	}
	return 0;
}

static int check_message(const json_t *msg, size_t i, json_t *ids, bool *user, struct chk *c)
{
	const char *role = json_string_value(json_object_get(msg, "role"));
	const json_t *content = json_object_get(msg, "content");
	size_t bi;
	const json_t *b;
	if (!json_is_object(msg))
		return bad(c, "messages.%zu: Input should be a valid dictionary", i);
	if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
		return bad(c, "messages.%zu.role: Input should be 'user' or 'assistant'%s", i,
			   role != NULL && strcmp(role, "system") == 0
			       ? " (system prompts go in the top-level \"system\" parameter)"
			       : "");
	*user = strcmp(role, "user") == 0;
	if (i == 0 && !*user)
		return bad(c, "messages: first message must use the \"user\" role");
	if (json_is_string(content))
		return 0;
	if (!json_is_array(content))
		return bad(c, "messages.%zu.content: Input should be a valid string or list", i);
	json_array_foreach(content, bi, b)
	{
		if (check_block(b, i, bi, *user, ids, c) != 0)
			return -1;
	}
	return 0;
}

static int check_messages(const json_t *messages, struct chk *c)
{
	size_t i;
	const json_t *msg;
	json_t *prev = json_object(), *cur = NULL;
	int rc = 0;
	if (!json_is_array(messages) || json_array_size(messages) == 0) {
		json_decref(prev);
		return bad(c, "messages: at least one message is required");
	}
	json_array_foreach(messages, i, msg)
	{
		bool user = false;
		cur = json_object();
		if (cur == NULL || prev == NULL || check_message(msg, i, cur, &user, c) != 0 ||
		    (user && check_pairing(prev, cur, i, c) != 0)) {
			rc = cur == NULL || prev == NULL ? bad(c, "mock out of memory") : -1;
			break;
		}
		json_decref(prev);
		prev = user ? json_object() : cur; /* only an assistant's tool_use ids carry over */
		if (user)
			json_decref(cur);
		cur = NULL;
	}
	json_decref(cur);
	json_decref(prev);
	return rc;
}

static int check_tools(const json_t *root, struct chk *c)
{
	const json_t *tools = json_object_get(root, "tools"), *tc = json_object_get(root, "tool_choice");
	size_t i;
	const json_t *t;
	if (tools != NULL && !json_is_array(tools))
		return bad(c, "tools: Input should be a valid list");
	json_array_foreach(tools, i, t)
	{
		const char *type = json_string_value(json_object_get(t, "type"));
		const char *name = json_string_value(json_object_get(t, "name"));
		const json_t *schema = json_object_get(t, "input_schema");
		if (type != NULL && strcmp(type, "custom") != 0)
			continue; /* a server tool (web_search_..., bash_...) */
		if (name == NULL || name[0] == '\0' || strlen(name) > 64 ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name))
			return bad(c, "tools.%zu.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i);
		if (!json_is_object(schema) || !json_is_string(json_object_get(schema, "type")))
			return bad(c, "tools.%zu.custom.input_schema%s: Field required", i,
				   json_is_object(schema) ? ".type" : "");
		for (size_t k = 0; k < i; k++)
			if (strcmp(name, str_or(json_object_get(json_array_get(tools, k), "name"))) == 0)
				return bad(c, "tools: Tool names must be unique.");
	}
	if (tc == NULL)
		return 0;
	static const char *const kinds[] = {"auto", "any", "tool", "none"};
	const char *kind = json_string_value(json_object_get(tc, "type"));
	if (!json_is_object(tc) || !in_list(kind, kinds, 4))
		return bad(c,
			   "tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: "
			   "'auto', 'any', 'tool', 'none'",
			   kind != NULL ? kind : "");
	if (strcmp(kind, "none") != 0 && json_array_size(tools) == 0)
		return bad(c, "tool_choice may only be specified while providing tools.");
	if (strcmp(kind, "tool") == 0) {
		const char *name = json_string_value(json_object_get(tc, "name"));
		if (name == NULL)
			return bad(c, "tool_choice.tool.name: Field required");
		json_array_foreach(tools, i, t)
		{
			if (strcmp(name, str_or(json_object_get(t, "name"))) == 0)
				return 0;
		}
		return bad(c, "tool_choice.tool.name: tool '%s' is not in tools", name);
	}
	return 0;
}

static int check_top(const json_t *root, struct chk *c)
{
	const char *key;
	const json_t *v;
	size_t i;
	json_object_foreach((json_t *)root, key, v)
	{
		if (!in_list(key, top_keys, sizeof(top_keys) / sizeof(top_keys[0])))
			return bad(c, "%s: Extra inputs are not permitted", key);
	}
	if (!json_is_string(json_object_get(root, "model")))
		return bad(c, "model: Field required");
	v = json_object_get(root, "max_tokens");
	if (!json_is_integer(v))
		return bad(c, "max_tokens: Field required (an integer)");
	if (json_integer_value(v) < 1)
		return bad(c, "max_tokens: Input should be greater than or equal to 1");
	if (check_range(root, "temperature", 0, 1, c) != 0 || check_range(root, "top_p", 0, 1, c) != 0)
		return -1;
	v = json_object_get(root, "top_k");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0))
		return bad(c, "top_k: Input should be a non-negative integer");
	v = json_object_get(root, "stream");
	if (v != NULL && !json_is_boolean(v))
		return bad(c, "stream: Input should be a valid boolean");
	const json_t *stops = json_object_get(root, "stop_sequences");
	if (stops != NULL && !json_is_array(stops))
		return bad(c, "stop_sequences: Input should be a valid list");
	json_array_foreach(stops, i, v)
	{
		if (!json_is_string(v))
			return bad(c, "stop_sequences.%zu: Input should be a valid string", i);
	}
	v = json_object_get(root, "metadata");
	if (v != NULL && !json_is_object(v))
		return bad(c, "metadata: Input should be a valid dictionary");
	return check_text_blocks(json_object_get(root, "system"), "system", false, c);
}

/* x-api-key (401) and anthropic-version (400), in the order Anthropic checks them. */
static int check_headers(struct mock_req *r, int *status, struct chk *c)
{
	*status = 401;
	if (mock_req_header(r, "x-api-key") == NULL)
		return bad(c, "x-api-key header is required");
	*status = 400;
	if (mock_req_header(r, "anthropic-version") == NULL)
		return bad(c, "anthropic-version: header is required");
	return 0;
}

/* ---- the answer ---------------------------------------------------------- */

static const char *buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

/*
 * Appends content's text (a string, or the type:text blocks of an array,
 * space-joined) to out. Returns how many texts there were, -1 when out is
 * full.
 */
static int text_of(const json_t *content, struct buf *out)
{
	size_t i;
	const json_t *b;
	int n = 0;
	if (json_is_string(content))
		return buf_append(out, json_string_value(content), json_string_length(content)) == 0 ? 1 : -1;
	json_array_foreach(content, i, b)
	{
		const json_t *t = json_object_get(b, "text");
		if (strcmp(str_or(json_object_get(b, "type")), "text") != 0 || !json_is_string(t))
			continue;
		if ((out->len > 0 && buf_append(out, " ", 1) != 0) ||
		    buf_append(out, json_string_value(t), json_string_length(t)) != 0)
			return -1;
		n++;
	}
	return n;
}

/* The tool_result blocks of one message: their words, and their text into out when keep. */
static int tool_results(const json_t *content, struct buf *out, bool keep, size_t *words, bool *any)
{
	size_t i;
	const json_t *b;
	struct buf t;
	int rc = 0;
	buf_init(&t, TEXT_MAX);
	json_array_foreach(content, i, b)
	{
		if (strcmp(str_or(json_object_get(b, "type")), "tool_result") != 0)
			continue;
		buf_reset(&t);
		if (text_of(json_object_get(b, "content"), &t) < 0 ||
		    (keep &&
		     ((out->len > 0 && buf_append(out, " ", 1) != 0) || buf_append(out, buf_str(&t), t.len) != 0))) {
			rc = -1;
			break;
		}
		*words += mock_openai_count_words(buf_str(&t), t.len);
		*any = true;
	}
	buf_fini(&t);
	return rc;
}

/* Input words over system and every message; the last user text; the last message's tool results. */
static int scan(struct ant *a, const json_t *root)
{
	const json_t *messages = json_object_get(root, "messages"), *msg;
	size_t i, n = json_array_size(messages);
	struct buf t;
	int rc = -1;
	buf_init(&t, TEXT_MAX);
	if (text_of(json_object_get(root, "system"), &t) < 0)
		goto out;
	a->in_words = mock_openai_count_words(buf_str(&t), t.len);
	json_array_foreach(messages, i, msg)
	{
		const json_t *content = json_object_get(msg, "content");
		bool user = strcmp(str_or(json_object_get(msg, "role")), "user") == 0, any = false;
		buf_reset(&t);
		int texts = text_of(content, &t);
		if (texts < 0 || tool_results(content, &a->tools, i + 1 == n, &a->in_words, &any) != 0)
			goto out;
		a->in_words += mock_openai_count_words(buf_str(&t), t.len);
		if (user && texts > 0) {
			buf_reset(&a->echo);
			if (buf_append(&a->echo, buf_str(&t), t.len) != 0)
				goto out;
		}
		a->tool_result_last = i + 1 == n && any;
	}
	rc = 0;
out:
	buf_fini(&t);
	return rc;
}

/* The tool the request forces: tool_choice tool, or any with a single tool. */
static const char *forced_tool(const json_t *root)
{
	const json_t *tc = json_object_get(root, "tool_choice"), *tools = json_object_get(root, "tools");
	const char *kind = str_or(json_object_get(tc, "type"));
	if (strcmp(kind, "tool") == 0)
		return json_string_value(json_object_get(tc, "name"));
	if (strcmp(kind, "any") == 0 && json_array_size(tools) == 1)
		return json_string_value(json_object_get(json_array_get(tools, 0), "name"));
	return NULL;
}

static int compose(struct mock *m, struct ant *a, const json_t *root)
{
	unsigned long long n = (unsigned long long)++m->next_id;
	a->n = n;
	snprintf(a->id, sizeof(a->id), "msg_mock_%llu", n);
	a->model = json_string_value(json_object_get(root, "model"));
	if (scan(a, root) != 0)
		return -1;
	a->tool_name = forced_tool(root);
	if (a->tool_name != NULL) {
		snprintf(a->tool_id, sizeof(a->tool_id), "toolu_mock_%llu", n);
		a->tool_input = json_pack("{s:s%}", "echo", buf_str(&a->echo), a->echo.len);
		a->text = buf_str(&a->echo); /* output words: the echoed text */
		a->len = a->echo.len;
		a->stop_reason = "tool_use";
		return a->tool_input != NULL ? 0 : -1;
	}
	if (m->opts.content != NULL) {
		a->text = m->opts.content;
		a->len = strlen(a->text);
	} else if (a->tool_result_last) {
		if (buf_puts(&a->out, "tool result: ") != 0 ||
		    buf_append(&a->out, buf_str(&a->tools), a->tools.len) != 0)
			return -1;
		a->text = a->out.data;
		a->len = a->out.len;
	} else {
		a->text = buf_str(&a->echo);
		a->len = a->echo.len;
	}
	enum mock_cut why = mock_anthropic_cut(a->text, &a->len, json_object_get(root, "stop_sequences"),
					       json_integer_value(json_object_get(root, "max_tokens")), &a->stop_seq);
	a->stop_reason = why == MOCK_CUT_STOP ? "stop_sequence" : why == MOCK_CUT_MAX ? "max_tokens" : "end_turn";
	return 0;
}

/* usage; message_start carries output_tokens 1 as Anthropic's do, message_delta the final count. */
static json_t *usage(const struct ant *a, bool start)
{
	size_t out = start ? 1 : mock_openai_count_words(a->text, a->len);
	return json_pack("{s:I, s:i, s:i, s:I}", "input_tokens", (json_int_t)a->in_words, "cache_creation_input_tokens",
			 0, "cache_read_input_tokens", 0, "output_tokens", (json_int_t)out);
}

/* The content block, complete (whole) or as content_block_start announces it. */
static json_t *block(const struct ant *a, bool whole)
{
	if (a->tool_name != NULL)
		return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", a->tool_id, "name", a->tool_name,
				 "input", whole ? json_incref(a->tool_input) : json_object());
	return json_pack("{s:s, s:s%}", "type", "text", "text", whole ? a->text : "", whole ? a->len : 0);
}

static json_t *message(const struct ant *a, bool whole)
{
	json_t *content = whole ? json_pack("[o]", block(a, true)) : json_array();
	json_t *seq = whole && a->stop_seq != NULL ? json_string(a->stop_seq) : json_null();
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id", a->id, "type", "message", "role",
			 "assistant", "model", a->model, "content", content, "stop_reason",
			 whole ? json_string(a->stop_reason) : json_null(), "stop_sequence", seq, "usage",
			 usage(a, !whole));
}

/* The closing events: block stop, message_delta, message_stop; or the in-band error. */
static int stream_tail(struct mock_sse *s, const struct ant *a, const struct mock_fault *f)
{
	if (f->stream_error)
		return mock_sse_add_named(s, "error",
					  json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
						    "overloaded_error", "message", "Overloaded"));
	json_t *seq = a->stop_seq != NULL ? json_string(a->stop_seq) : json_null();
	if (mock_sse_add_named(s, "content_block_stop",
			       json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0)) != 0 ||
	    mock_sse_add_named(s, "message_delta",
			       json_pack("{s:s, s:{s:s, s:o}, s:{s:I}}", "type", "message_delta", "delta",
					 "stop_reason", a->stop_reason, "stop_sequence", seq, "usage", "output_tokens",
					 (json_int_t)mock_openai_count_words(a->text, a->len))) != 0)
		return -1;
	return mock_sse_add_named(s, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* Builds every event of the stream into s; *pieces = the content_block_delta count. */
static int stream_events(struct mock_sse *s, const struct ant *a, const struct mock_fault *f, size_t *pieces)
{
	char *json = a->tool_name != NULL ? json_dumps(a->tool_input, JSON_COMPACT) : NULL;
	const char *body = a->tool_name != NULL ? json : a->text;
	size_t blen = body == NULL ? 0 : a->tool_name != NULL ? strlen(body) : a->len;
	size_t *cuts = calloc((size_t)f->chunks + 1, sizeof(*cuts));
	int rc = cuts != NULL && (a->tool_name == NULL || json != NULL) ? 0 : -1;
	*pieces = rc == 0 ? mock_sse_split(body, blen, (size_t)f->chunks, cuts) : 0;
	if (rc == 0)
		rc = mock_sse_add_named(s, "message_start",
					json_pack("{s:s, s:o}", "type", "message_start", "message", message(a, false)));
	if (rc == 0)
		rc = mock_sse_add_named(s, "content_block_start",
					json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", 0,
						  "content_block", block(a, false)));
	if (rc == 0)
		rc = mock_sse_add_named(s, "ping", json_pack("{s:s}", "type", "ping"));
	for (size_t i = 0; rc == 0 && i < *pieces; i++)
		rc = mock_sse_add_named(
		    s, "content_block_delta",
		    json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta", "index", 0, "delta", "type",
			      a->tool_name != NULL ? "input_json_delta" : "text_delta",
			      a->tool_name != NULL ? "partial_json" : "text", body + cuts[i], cuts[i + 1] - cuts[i]));
	if (rc == 0)
		rc = stream_tail(s, a, f);
	free(cuts);
	free(json);
	return rc;
}

static void answer_stream(struct mock *m, struct mock_req *r, const struct mock_fault *f, const struct ant *a)
{
	struct mock_sse *s = mock_sse_new();
	size_t pieces = 0;
	if (s == NULL || stream_events(s, a, f, &pieces) != 0) {
		mock_sse_free(s);
		mock_anthropic_error(m, r, 500, 0, NULL, "mock out of memory");
		return;
	}
	int cut = -1;
	if (f->fail_after >= 0)
		cut = EVENTS_BEFORE_CONTENT + (f->fail_after < (int)pieces ? f->fail_after : (int)pieces);
	if (f->stream_error && cut < 0) /* a cut always comes before the error event */
		m->stats.stream_errors++;
	mock_sse_play(m, r, s, f->latency_ms + f->first_byte_ms, f->chunk_delay_ms, cut);
}

/* The body as a JSON object; else answers 400 itself and returns NULL. */
static json_t *parse(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	size_t len;
	const char *p = mock_req_body(r, &len);
	json_error_t je;
	json_t *root = json_loadb(p != NULL ? p : "", p != NULL ? len : 0, 0, &je);
	if (json_is_object(root))
		return root;
	m->stats.bad_requests++;
	if (root == NULL)
		mock_anthropic_error(m, r, 400, f->latency_ms, NULL,
				     "There was an error parsing the body of your request: %s (line %d, column %d)",
				     je.text, je.line, je.column);
	else
		mock_anthropic_error(m, r, 400, f->latency_ms, NULL,
				     "request body: Input should be a valid dictionary");
	json_decref(root);
	return NULL;
}

void mock_anthropic_messages(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	struct chk c = {{0}};
	struct ant a = {0};
	int status = 400;
	json_t *root = NULL;
	buf_init(&a.echo, TEXT_MAX);
	buf_init(&a.tools, TEXT_MAX);
	buf_init(&a.out, TEXT_MAX + 64);
	if (check_headers(r, &status, &c) != 0) {
		m->stats.bad_requests++;
		mock_anthropic_error(m, r, status, f->latency_ms, NULL, "%s", c.msg);
		goto out;
	}
	root = parse(m, r, f);
	if (root == NULL)
		goto out;
	if (check_top(root, &c) != 0 || check_messages(json_object_get(root, "messages"), &c) != 0 ||
	    check_tools(root, &c) != 0) {
		m->stats.bad_requests++;
		mock_anthropic_error(m, r, 400, f->latency_ms, NULL, "%s", c.msg);
		goto out;
	}
	if (compose(m, &a, root) != 0) {
		mock_anthropic_error(m, r, 413, f->latency_ms, NULL, "the mock keeps at most %u bytes of text",
				     TEXT_MAX);
		goto out;
	}
	char rid[64];
	snprintf(rid, sizeof(rid), "req_mock_%llu", a.n);
	mock_req_add_header(r, "request-id", rid);
	m->stats.anthropic_messages++;
	if (json_is_true(json_object_get(root, "stream")))
		answer_stream(m, r, f, &a);
	else
		mock_reply_json(m, r, 200, message(&a, true), f->latency_ms + f->first_byte_ms);
out:
	json_decref(a.tool_input);
	buf_fini(&a.echo);
	buf_fini(&a.tools);
	buf_fini(&a.out);
	json_decref(root);
}
