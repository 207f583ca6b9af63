/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Anthropic's streamed Messages response -> OpenAI's chat.completion.chunk
 * stream, one event at a time. Anthropic names each SSE event
 * (message_start, content_block_start/delta/stop, message_delta,
 * message_stop, ping, error) and addresses content by block index; OpenAI
 * sends anonymous data events whose deltas address tool calls by their own
 * index. So each tool_use block gets the next tool-call index when it
 * starts, and its input_json_delta pieces go out under that index.
 *
 * The upstream bytes are cut into events by gateway/sse (any split works,
 * each event bounded to 1 MiB); what goes out depends only on the events,
 * so the output is the same however the body was split. message_stop ends
 * the client's stream with the usage chunk and [DONE]; an error event ends
 * it with OpenAI's in-band error event and nothing after. Event names
 * Anthropic adds later are ignored, as its versioning policy asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/chat_stream.h"
#include "gateway/oai_err.h"
#include "gateway/oai_sse.h"
#include "gateway/provider_anthropic.h"
#include "gateway/sse.h"

/* A tool_use content block and the OpenAI tool-call index it was given. */
struct tool_slot {
	json_int_t block;
	unsigned index;
};

struct anthropic_stream {
	struct sse *sse;
	int64_t created;
	char *id;      /* message.id ("" until message_start) */
	char *model;   /* message.model, else the fallback */
	json_t *usage; /* Anthropic usage so far: message_start's, updated by message_delta */
	struct tool_slot *tools;
	size_t n_tools, cap_tools;
	bool ended;  /* message_stop or error translated: ignore the rest */
	bool failed; /* a feed failed: refuse more */
};

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

struct anthropic_stream *anthropic_stream_new(int64_t created, const char *fallback_model)
{
	struct anthropic_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->created = created;
	s->sse = sse_new(0);
	s->id = dup_or_empty(NULL);
	s->model = dup_or_empty(fallback_model);
	s->usage = json_object();
	if (s->sse == NULL || s->id == NULL || s->model == NULL || s->usage == NULL) {
		anthropic_stream_free(s);
		return NULL;
	}
	return s;
}

void anthropic_stream_free(struct anthropic_stream *s)
{
	if (s == NULL)
		return;
	sse_free(s->sse);
	free(s->id);
	free(s->model);
	json_decref(s->usage);
	free(s->tools);
	free(s);
}

bool anthropic_stream_ended(const struct anthropic_stream *s)
{
	return s->ended;
}

/* One chunk with delta (stolen) and finish_reason (NULL: null). */
static int chunk_emit(struct anthropic_stream *s, json_t *delta, const char *finish, struct buf *out, struct err *err)
{
	const struct oai_chunk_head h = {s->id, s->created, s->model};
	return oai_sse_put_chunk(out, &h, 0, delta, finish, err);
}

static int on_message_start(struct anthropic_stream *s, const json_t *d, struct buf *out, struct err *err)
{
	const json_t *m = json_object_get(d, "message");
	const char *id = json_string_value(json_object_get(m, "id"));
	const char *model = json_string_value(json_object_get(m, "model"));
	const json_t *u = json_object_get(m, "usage");
	if (id != NULL) {
		char *c = strdup(id);
		if (c == NULL)
			return err_set(err, ENOMEM, "out of memory");
		free(s->id);
		s->id = c;
	}
	if (model != NULL) {
		char *c = strdup(model);
		if (c == NULL)
			return err_set(err, ENOMEM, "out of memory");
		free(s->model);
		s->model = c;
	}
	if (json_is_object(u) && json_object_update(s->usage, (json_t *)u) != 0)
		return err_set(err, ENOMEM, "out of memory");
	return chunk_emit(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, out, err);
}

/* The tool-call index of content block `block`, or -1 when it is not a tool_use block. */
static long tool_index(const struct anthropic_stream *s, json_int_t block)
{
	/* newest first: blocks stream one after another, so the match is almost always the last */
	for (size_t i = s->n_tools; i-- > 0;)
		if (s->tools[i].block == block)
			return (long)s->tools[i].index;
	return -1;
}

static int on_block_start(struct anthropic_stream *s, const json_t *d, struct buf *out, struct err *err)
{
	const json_t *b = json_object_get(d, "content_block");
	const char *type = json_string_value(json_object_get(b, "type"));
	if (type != NULL && strcmp(type, "text") == 0) {
		const char *t = json_string_value(json_object_get(b, "text"));
		return t == NULL || t[0] == '\0' ? 0 : chunk_emit(s, json_pack("{s:s}", "content", t), NULL, out, err);
	}
	if (type == NULL || strcmp(type, "tool_use") != 0)
		return 0; /* thinking, server tools: nothing OpenAI can show */
	if (s->n_tools == ANTHROPIC_STREAM_TOOLS_MAX)
		return err_set(err, EPROTO, "more than %u tool calls in one streamed message",
			       ANTHROPIC_STREAM_TOOLS_MAX);
	if (s->n_tools == s->cap_tools) {
		size_t cap = s->cap_tools == 0 ? 4 : s->cap_tools * 2;
		struct tool_slot *t = realloc(s->tools, cap * sizeof(*t));
		if (t == NULL)
			return err_set(err, ENOMEM, "out of memory");
		s->tools = t;
		s->cap_tools = cap;
	}
	unsigned k = (unsigned)s->n_tools;
	s->tools[s->n_tools++] = (struct tool_slot){json_integer_value(json_object_get(d, "index")), k};
	const char *id = json_string_value(json_object_get(b, "id"));
	const char *name = json_string_value(json_object_get(b, "name"));
	return chunk_emit(s,
			  json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls", "index", (int)k, "id",
				    id != NULL ? id : "", "type", "function", "function", "name",
				    name != NULL ? name : "", "arguments", ""),
			  NULL, out, err);
}

static int on_block_delta(struct anthropic_stream *s, const json_t *d, struct buf *out, struct err *err)
{
	const json_t *delta = json_object_get(d, "delta");
	const char *type = json_string_value(json_object_get(delta, "type"));
	if (type == NULL)
		return 0;
	if (strcmp(type, "text_delta") == 0) {
		const char *t = json_string_value(json_object_get(delta, "text"));
		return t == NULL || t[0] == '\0' ? 0 : chunk_emit(s, json_pack("{s:s}", "content", t), NULL, out, err);
	}
	if (strcmp(type, "input_json_delta") == 0) {
		const char *pj = json_string_value(json_object_get(delta, "partial_json"));
		long k = tool_index(s, json_integer_value(json_object_get(d, "index")));
		if (pj == NULL || pj[0] == '\0' || k < 0)
			return 0;
		return chunk_emit(
		    s, json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls", "index", (int)k, "function", "arguments", pj),
		    NULL, out, err);
	}
	return 0; /* thinking_delta, signature_delta, citations_delta */
}

static int on_message_delta(struct anthropic_stream *s, const json_t *d, struct buf *out, struct err *err)
{
	const json_t *u = json_object_get(d, "usage");
	const char *fr =
	    anthropic_finish_reason(json_string_value(json_object_get(json_object_get(d, "delta"), "stop_reason")));
	/* usage here is cumulative: its counts replace message_start's */
	if (json_is_object(u) && json_object_update(s->usage, (json_t *)u) != 0)
		return err_set(err, ENOMEM, "out of memory");
	return fr == NULL ? 0 : chunk_emit(s, json_object(), fr, out, err);
}

static int on_message_stop(struct anthropic_stream *s, struct buf *out, struct err *err)
{
	json_t *u = anthropic_usage_to_openai(s->usage);
	if (u == NULL)
		return err_set(err, ENOMEM, "out of memory");
	const struct oai_chunk_head h = {s->id, s->created, s->model};
	int rc = oai_sse_put_end(out, &h, u, err);
	json_decref(u);
	if (rc < 0)
		return -1;
	s->ended = true;
	return 0;
}

/* The error event -> OpenAI's in-band error event (Anthropic's message kept). */
static int on_error(struct anthropic_stream *s, const json_t *d, struct buf *out, struct err *err)
{
	const json_t *e = json_object_get(d, "error");
	const char *t = json_string_value(json_object_get(e, "type"));
	const char *m = json_string_value(json_object_get(e, "message"));
	size_t at = out->len;
	int rc;
	s->ended = true;
	if (m == NULL)
		rc = chat_stream_error_event(out, "the provider reported an error mid-stream");
	else
		rc = buf_puts(out, "data: ") < 0 || oai_err_format(out, m, anthropic_error_type(t, 0), NULL, t) < 0 ||
			     buf_puts(out, "\n\n") < 0
			 ? -1
			 : 0;
	if (rc < 0) {
		out->len = at; /* never half an event */
		if (out->data != NULL)
			out->data[at] = '\0';
		return err_set(err, EMSGSIZE, "translated stream event too large");
	}
	return 0;
}

enum ev_kind {
	EV_UNKNOWN = 0,
	EV_MESSAGE_START,
	EV_BLOCK_START,
	EV_BLOCK_DELTA,
	EV_BLOCK_STOP,
	EV_MESSAGE_DELTA,
	EV_MESSAGE_STOP,
	EV_PING,
	EV_ERROR,
};

static enum ev_kind ev_kind_of(const char *name, size_t n)
{
	static const struct {
		const char *name;
		enum ev_kind kind;
	} names[] = {
	    {"message_start", EV_MESSAGE_START},
	    {"content_block_start", EV_BLOCK_START},
	    {"content_block_delta", EV_BLOCK_DELTA},
	    {"content_block_stop", EV_BLOCK_STOP},
	    {"message_delta", EV_MESSAGE_DELTA},
	    {"message_stop", EV_MESSAGE_STOP},
	    {"ping", EV_PING},
	    {"error", EV_ERROR},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0)
			return names[i].kind;
	return EV_UNKNOWN;
}

/* One complete upstream event. */
static int event_translate(struct anthropic_stream *s, const struct sse_event *ev, struct buf *out, struct err *err)
{
	enum ev_kind k = ev_kind_of(ev->name, ev->name_len);
	if (ev->name_len > 0 && (k == EV_UNKNOWN || k == EV_BLOCK_STOP))
		return 0;
	if (k == EV_PING)
		return buf_puts(out, ": ping\n\n") == 0 ? 0 : err_set(err, EMSGSIZE, "translated stream too large");
	json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
	int rc = 0;
	if (!json_is_object(d)) {
		json_decref(d);
		return err_set(err, EPROTO, "the provider's stream is not Anthropic's event format");
	}
	if (ev->name_len == 0) { /* unnamed: Anthropic repeats the name as "type" */
		const char *t = json_string_value(json_object_get(d, "type"));
		k = t != NULL ? ev_kind_of(t, strlen(t)) : EV_UNKNOWN;
	}
	switch (k) {
	case EV_MESSAGE_START:
		rc = on_message_start(s, d, out, err);
		break;
	case EV_BLOCK_START:
		rc = on_block_start(s, d, out, err);
		break;
	case EV_BLOCK_DELTA:
		rc = on_block_delta(s, d, out, err);
		break;
	case EV_MESSAGE_DELTA:
		rc = on_message_delta(s, d, out, err);
		break;
	case EV_MESSAGE_STOP:
		rc = on_message_stop(s, out, err);
		break;
	case EV_PING:
		rc = buf_puts(out, ": ping\n\n") == 0 ? 0 : err_set(err, EMSGSIZE, "translated stream too large");
		break;
	case EV_ERROR:
		rc = on_error(s, d, out, err);
		break;
	case EV_BLOCK_STOP:
	case EV_UNKNOWN:
		break;
	}
	json_decref(d);
	return rc;
}

int anthropic_stream_feed(struct anthropic_stream *s, const char *data, size_t len, struct buf *out, struct err *err)
{
	struct sse_event ev;
	enum sse_rc rc;
	if (s->failed)
		return err_set(err, EINVAL, "the stream translator already failed");
	if (s->ended)
		return 0; /* anything after message_stop / error is not the client's business */
	sse_push(s->sse, data, len);
	while ((rc = sse_next(s->sse, &ev, err)) == SSE_ITEM) {
		if (s->ended || ev.kind != SSE_EVENT)
			continue; /* drain the piece: the parser requires it */
		if (event_translate(s, &ev, out, err) < 0) {
			s->failed = true;
			return -1;
		}
	}
	if (rc == SSE_ERROR) {
		s->failed = true;
		return -1;
	}
	return 0;
}
