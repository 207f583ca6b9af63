/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardrails on the request path (api_call.c calls these): the rules of a
 * request are its model's and its key's (models[].guardrails ∪
 * keys[].guardrails, config order), split by stage.
 *
 *  - input, before routing: a deny rule answers 400 guardrail_denied
 *    naming the rule; redact rules rewrite the text the provider would see
 *    and the request is parsed again from the redacted body, so every
 *    provider (and the cache key) gets the redacted prompt;
 *  - output, whole answers: deny answers 400 guardrail_denied instead of
 *    the answer (a 4xx, so SDKs do not retry a call that cost money;
 *    the attempt's cost is still counted), redact rewrites the answer;
 *  - output, streams: a filter on the relay (chat_stream.h) redacts across
 *    chunk boundaries, holding back per choice only what could still
 *    become a match; deny ends the stream with an error event
 *    (guardrail_denied) in place of the text that matched.
 *
 * The SERVER span gets the names of the rules that fired, the DENIED and
 * REDACTED flags, and llmgw_guardrail_actions_total{stage,action} counts
 * each request once per stage and action. The matched text itself is
 * never logged, counted or put on a span.
 */
#ifndef LLMGW_GATEWAY_API_GUARD_H
#define LLMGW_GATEWAY_API_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "gateway/chat_stream.h"
#include "gateway/provider.h"

struct gw;
struct gw_req;

/* llmgw_guardrail_actions_total{stage="input|output",action="deny|redact"}, registered once. -1 with err. */
int api_guard_init(struct gw *g, struct err *err);
void api_guard_fini(struct gw *g);

/*
 * The input pass (see above), once r->model_index is set. 0: go on,
 * *body and *len may now be the redacted body (owned by r; r->chat or r->embed
 * were parsed again from it); -1: r was answered (400 guardrail_denied,
 * or 500).
 */
int api_guard_input(struct gw_req *r, enum provider_op op, const char **body, size_t *len);

/*
 * The output pass over a whole 2xx answer. 0: reply with *body and *len
 * (pointing into the caller's buffer `redacted` when a rule redacted: the
 * caller frees it after the reply, since finishing r frees r's own state
 * before the body is written); 1: a deny rule matched: answer with
 * api_guard_reply_denied; -1 on ENOMEM.
 */
int api_guard_output(struct gw_req *r, const char **body, size_t *len, struct buf *redacted);
/* Answers 400 guardrail_denied for the output rule that matched; finishes r. */
void api_guard_reply_denied(struct gw_req *r);

/*
 * Installs the relay filter in o for a stream under output rules: 1
 * installed, 0 no output rules (o untouched), -1 out of memory (the
 * stream must not go out unguarded: answer 500).
 */
int api_guard_stream_filter(struct gw_req *r, struct chat_stream_opts *o);
/* The message for a stream a rule stopped ("the answer was stopped by guardrail 'x'"). */
void api_guard_stream_message(const struct gw_req *r, char *out, size_t cap);

/* Frees what r's guardrails kept; r is finishing. */
void api_guard_fini_req(struct gw_req *r);

#endif
