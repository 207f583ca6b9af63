/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Google Gemini (Generative Language API): POST
 * {base}/models/{model}:generateContent, or
 * :streamGenerateContent?alt=sse for a stream, with the key in
 * x-goog-api-key. Requests and whole answers are translated by
 * gemini_req.c and gemini_resp.c; this file is the ops table and the
 * stream translator.
 *
 * The stream translator turns Gemini's SSE (each data event one complete
 * GenerateContentResponse holding the next piece of every candidate) into
 * OpenAI chat.completion.chunk events for the relay (chat_stream.c): a
 * role chunk the first time a candidate shows up, a content chunk per
 * text piece, one chunk with the complete tool calls of a piece (Gemini
 * never splits a function call across events), and a chunk with the
 * finish_reason. Gemini has no end-of-stream marker and reports usage on
 * every event, so the usage chunk and [DONE] are written only at the end
 * of the body, and only when every candidate finished: a body cut short
 * gets nothing, and the relay reports the truncation. An error object in
 * an event (Google sends one when generation fails mid-stream) becomes
 * OpenAI's data: {"error":...} and ends the translation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/gemini_req.h"
#include "gateway/gemini_resp.h"
#include "gateway/oai_err.h"
#include "gateway/oai_sse.h"
#include "gateway/provider.h"
#include "gateway/sse.h"

/* Candidates tracked per stream (Gemini's candidateCount is at most 8). */
#define GEMINI_STREAM_CHOICES 8

struct gemini_choice {
	bool seen;	/* its role chunk was written */
	bool finished;	/* its finish_reason chunk was written */
	unsigned calls; /* tool calls so far: the next call's index */
};

/* The translator behind struct provider_stream (cast at the ops boundary). */
struct gemini_stream {
	struct sse *sse;
	int64_t created;
	char id[128];
	char model[CHAT_MODEL_MAX + 1];
	bool started;	/* id and model were taken from the first event */
	bool ended;	/* an error event was written: nothing more goes out */
	bool failed;	/* feed failed: the stream is unusable */
	bool completed; /* stream_finish ran */
	json_t *usage;	/* OpenAI usage from the latest usageMetadata with counts */
	struct gemini_choice c[GEMINI_STREAM_CHOICES];
};

/* ---- request, response, errors ---------------------------------------------------------------- */

static int gemini_encode(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			 struct err *err)
{
	if (in->op != PROVIDER_OP_CHAT || in->req == NULL)
		return err_set(err, EINVAL, "provider %s serves chat completions only", p->name);
	if (gemini_req_path(p->url.path, in->provider_model, in->req->stream, out->path, sizeof(out->path), err) < 0)
		return -1;
	json_t *tree = chat_request_tree(in->req);
	if (tree == NULL)
		return err_set(err, ENOMEM, "out of memory");
	json_t *g = gemini_req_encode(tree, err);
	if (g == NULL)
		return -1;
	int rc = provider_put_json(out, g, err);
	json_decref(g);
	return rc;
}

static void gemini_auth_headers(const struct gw_provider *p, struct evkeyvalq *h)
{
	if (p->api_key != NULL)
		evhttp_add_header(h, "x-goog-api-key", p->api_key);
}

static int gemini_decode(const struct gw_provider *p, const struct provider_chat_in *in, const char *body, size_t len,
			 struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err)
{
	(void)p;
	*relay = false;
	return gemini_resp_decode(body, len, in->provider_model, in->created, client_body, info, err);
}

static int gemini_decode_error(const struct gw_provider *p, int status, const char *body, size_t len, struct buf *out)
{
	(void)p;
	return gemini_resp_error(status, body, len, out);
}

/* ---- stream ----------------------------------------------------------------------------------- */

/* One chat.completion.chunk for choice i (delta stolen; finish NULL: null). */
static int put_chunk(struct gemini_stream *s, struct buf *out, unsigned i, json_t *delta, const char *finish,
		     struct err *err)
{
	const struct oai_chunk_head h = {s->id, s->created, s->model};
	return oai_sse_put_chunk(out, &h, i, delta, finish, err);
}

/* The error event, OpenAI-shaped, with Google's message kept; ends the translation. */
static int put_error(struct gemini_stream *s, const json_t *root, struct buf *out, struct err *err)
{
	struct buf e;
	size_t saved = out->len;
	int rc = 0;
	buf_init(&e, 0);
	if (gemini_resp_error_json(root, 0, &e) < 0 &&
	    oai_err_format(&e, "the provider reported an error mid-stream", "api_error", NULL, NULL) < 0)
		rc = err_set(err, ENOMEM, "out of memory");
	else if (buf_puts(out, "data: ") < 0 || buf_append(out, e.data, e.len) < 0 || buf_puts(out, "\n\n") < 0) {
		out->len = saved;
		if (out->data != NULL)
			out->data[saved] = '\0';
		rc = err_set(err, EMSGSIZE, "the translated Gemini stream does not fit the output buffer");
	}
	buf_fini(&e);
	s->ended = true;
	return rc;
}

/* Choice idx's role chunk, the first time it shows up. */
static int start_choice(struct gemini_stream *s, unsigned idx, struct buf *out, struct err *err)
{
	if (s->c[idx].seen)
		return 0;
	s->c[idx].seen = true;
	return put_chunk(s, out, idx, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, err);
}

static int finish_choice(struct gemini_stream *s, unsigned idx, const char *reason, struct buf *out, struct err *err)
{
	if (s->c[idx].finished)
		return 0;
	s->c[idx].finished = true;
	return put_chunk(s, out, idx, json_object(), gemini_resp_finish(reason, s->c[idx].calls > 0), err);
}

/* One candidate's piece: role (first time), text, tool calls, finish. */
static int on_candidate(struct gemini_stream *s, unsigned idx, const json_t *cand, struct buf *out, struct err *err)
{
	const char *fr = json_string_value(json_object_get(cand, "finishReason"));
	json_t *calls = json_array();
	struct buf text;
	bool has_text = false;
	int rc = -1;

	buf_init(&text, 0);
	if (calls == NULL || gemini_resp_parts(cand, idx, &s->c[idx].calls, true, &text, &has_text, calls) < 0) {
		err_set(err, ENOMEM, "out of memory translating the Gemini stream");
		goto out;
	}
	if (start_choice(s, idx, out, err) < 0)
		goto out;
	if (text.len > 0 && put_chunk(s, out, idx, json_pack("{s:s%}", "content", text.data, text.len), NULL, err) < 0)
		goto out;
	if (json_array_size(calls) > 0 &&
	    put_chunk(s, out, idx, json_pack("{s:O}", "tool_calls", calls), NULL, err) < 0)
		goto out;
	if (fr != NULL && fr[0] != '\0' && finish_choice(s, idx, fr, out, err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(calls);
	buf_fini(&text);
	return rc;
}

/* id and model come from the first event so that every chunk carries the same ones. */
static void take_meta(struct gemini_stream *s, const json_t *root)
{
	const char *id = json_string_value(json_object_get(root, "responseId"));
	const char *mv = json_string_value(json_object_get(root, "modelVersion"));
	if (s->started)
		return;
	s->started = true;
	/* too long to keep whole: keep the default rather than cut a UTF-8 sequence */
	if (id != NULL && id[0] != '\0' && strlen(id) < sizeof(s->id))
		memcpy(s->id, id, strlen(id) + 1);
	if (mv != NULL && mv[0] != '\0' && strlen(mv) < sizeof(s->model))
		memcpy(s->model, mv, strlen(mv) + 1);
}

static int on_response(struct gemini_stream *s, const json_t *root, struct buf *out, struct err *err)
{
	const json_t *cands = json_object_get(root, "candidates"), *c;
	json_t *usage = gemini_resp_usage(json_object_get(root, "usageMetadata"));
	size_t i;

	take_meta(s, root);
	if (usage != NULL) {
		json_decref(s->usage);
		s->usage = usage;
	}
	if (cands != NULL && !json_is_null(cands) && !json_is_array(cands))
		return err_set(err, EPROTO, "a Gemini stream event has malformed candidates");
	json_array_foreach(cands, i, c)
	{
		const json_t *ix = json_object_get(c, "index");
		json_int_t idx = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)i;
		if (!json_is_object(c) || idx < 0 || idx >= GEMINI_STREAM_CHOICES)
			return err_set(err, EPROTO, "a Gemini stream event has a malformed or out-of-range candidate");
		if (on_candidate(s, (unsigned)idx, c, out, err) < 0)
			return -1;
	}
	/* a prompt blocked before any candidate: one choice, filtered */
	if (json_array_size(cands) == 0 &&
	    json_string_value(json_object_get(json_object_get(root, "promptFeedback"), "blockReason")) != NULL) {
		if (start_choice(s, 0, out, err) < 0 || finish_choice(s, 0, "SAFETY", out, err) < 0)
			return -1;
	}
	return 0;
}

static int on_event(struct gemini_stream *s, const char *data, size_t len, struct buf *out, struct err *err)
{
	json_t *root = json_loadb(data, len, 0, NULL);
	int rc;
	if (!json_is_object(root)) {
		json_decref(root);
		return err_set(err, EPROTO, "a Gemini stream event is not a JSON object");
	}
	if (json_object_get(root, "error") != NULL && !json_is_null(json_object_get(root, "error")))
		rc = put_error(s, root, out, err);
	else
		rc = on_response(s, root, out, err);
	json_decref(root);
	return rc;
}

static struct provider_stream *gemini_stream_new(const struct gw_provider *p, const struct provider_chat_in *in)
{
	struct gemini_stream *s = calloc(1, sizeof(*s));
	(void)p;
	if (s == NULL)
		return NULL;
	if ((s->sse = sse_new(0)) == NULL) {
		free(s);
		return NULL;
	}
	s->created = in->created;
	snprintf(s->id, sizeof(s->id), "%s", GEMINI_DEFAULT_ID);
	if (in->provider_model != NULL && strlen(in->provider_model) < sizeof(s->model))
		memcpy(s->model, in->provider_model, strlen(in->provider_model) + 1);
	return (struct provider_stream *)s;
}

static int gemini_stream_feed(struct provider_stream *ps, const char *data, size_t len, struct buf *out,
			      struct err *err)
{
	struct gemini_stream *s = (struct gemini_stream *)ps;
	struct sse_event ev;
	enum sse_rc rc;
	if (s->failed || s->completed)
		return err_set(err, EINVAL, "the Gemini stream translator already ended");
	sse_push(s->sse, data, len);
	while ((rc = sse_next(s->sse, &ev, err)) == SSE_ITEM) {
		/* after an error event nothing goes out, but the body is still read to its end */
		if (ev.kind != SSE_EVENT || s->ended)
			continue;
		if (on_event(s, ev.data, ev.data_len, out, err) < 0) {
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

static int gemini_stream_finish(struct provider_stream *ps, struct buf *out, struct err *err)
{
	struct gemini_stream *s = (struct gemini_stream *)ps;
	bool any = false;
	if (s->failed || s->ended || s->completed)
		return 0;
	s->completed = true;
	for (unsigned i = 0; i < GEMINI_STREAM_CHOICES; i++) {
		if (s->c[i].seen && !s->c[i].finished)
			return 0; /* cut short: the relay reports it */
		any |= s->c[i].seen;
	}
	if (!any)
		return 0;
	const struct oai_chunk_head h = {s->id, s->created, s->model};
	return oai_sse_put_end(out, &h, s->usage, err);
}

static void gemini_stream_free(struct provider_stream *ps)
{
	struct gemini_stream *s = (struct gemini_stream *)ps;
	if (s == NULL)
		return;
	sse_free(s->sse);
	json_decref(s->usage);
	free(s);
}

const struct provider_ops provider_gemini = {
    .name = "gemini",
    .in_process = false,
    .endpoints = PROVIDER_EP(PROVIDER_OP_CHAT),
    .encode = gemini_encode,
    .auth_headers = gemini_auth_headers,
    .decode = gemini_decode,
    .decode_error = gemini_decode_error,
    .stream_new = gemini_stream_new,
    .stream_feed = gemini_stream_feed,
    .stream_finish = gemini_stream_finish,
    .stream_free = gemini_stream_free,
    .answer = NULL,
};
