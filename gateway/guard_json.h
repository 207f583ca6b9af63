/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardrails on OpenAI-shaped JSON: which strings of a request, a whole
 * answer or a stream chunk are text the rules read (guard.h), and how a
 * redacted one is put back. Pure: no sockets, no config, no clock.
 *
 * The text a rule sees:
 *   request  chat: messages[].content when a string, else the "text" of
 *            its parts whose type is "text"; completions: prompt (a string
 *            or the strings of an array); embeddings: input (same).
 *   answer   choices[].message.content (a string, or the text parts) and
 *            choices[].text (completions).
 *   stream   choices[].delta.content and choices[].text of each chunk, per
 *            choice index, through the hold-back of guard_stream_push.
 * Not read: tool call arguments, refusals, reasoning text, names, images,
 * token ids.
 *
 * The common case, nothing matching, is one scanning pass (jscan, no tree)
 * and the bytes go on unchanged. Only when a rule redacts is the JSON
 * loaded with jansson, the strings replaced and the whole document
 * re-encoded compactly (numbers may be re-spelled, same values). A
 * redacted answer choice, and every stream chunk under output rules, loses
 * its `logprobs` (set to null): they repeat the text token by token.
 */
#ifndef LLMGW_GATEWAY_GUARD_JSON_H
#define LLMGW_GATEWAY_GUARD_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "gateway/guard.h"

#define GUARD_SSE_CHOICES 128 /* choice indexes a stream may use under output rules (OpenAI's n <= 128) */

enum guard_json_op {
	GUARD_JSON_CHAT = 0,
	GUARD_JSON_COMPLETIONS,
	GUARD_JSON_EMBEDDINGS,
};

enum guard_json_rc {
	GUARD_JSON_PASS = 0, /* nothing to change: forward the bytes as they are */
	GUARD_JSON_REDACTED, /* out holds the replacement */
	GUARD_JSON_DENIED,   /* a deny rule matched: v->deny_rule */
};

/*
 * The input pass over a request body (valid JSON: it was parsed already).
 * Returns an enum guard_json_rc, with the rewritten body appended to out
 * for GUARD_JSON_REDACTED; -1 on ENOMEM or out full. v accumulates.
 */
int guard_json_request(const struct guard_ctx *c, struct guard_scratch *s, enum guard_json_op op, const char *body,
		       size_t len, struct buf *out, struct guard_verdict *v);

/* The output pass over a whole answer body; same results. A body that is not a JSON object passes. */
int guard_json_response(const struct guard_ctx *c, struct guard_scratch *s, const char *body, size_t len,
			struct buf *out, struct guard_verdict *v);

/* One streamed answer under output rules. */
struct guard_sse;

/* For rules c (copied; c->rules must outlive it). NULL on ENOMEM. */
struct guard_sse *guard_sse_new(const struct guard_ctx *c);
/* NULL is a no-op. */
void guard_sse_free(struct guard_sse *g);

/*
 * One data event's payload (what follows "data: "). GUARD_JSON_PASS:
 * forward the event unchanged; GUARD_JSON_REDACTED: send out instead (a
 * whole event, "data: {...}\n\n", possibly with less or more text than
 * came in: what the hold-back releases now); GUARD_JSON_DENIED: a deny
 * rule matched, stop the stream. -1 on ENOMEM, out full, or a choice
 * index of GUARD_SSE_CHOICES or more.
 */
int guard_sse_chunk(struct guard_sse *g, const char *data, size_t len, struct buf *out, struct guard_verdict *v);

/*
 * The stream is complete ([DONE] is next): releases what every choice
 * still holds as one synthesized chunk per choice (id, object, created and
 * model of the stream's chunks) appended to out. Returns an enum
 * guard_json_rc (PASS: nothing was held), or -1.
 */
int guard_sse_flush(struct guard_sse *g, struct buf *out, struct guard_verdict *v);

#endif
