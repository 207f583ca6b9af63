/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gemini GenerateContentResponse and error bodies -> OpenAI's
 * chat.completion and error shapes, as pure functions. The per-candidate
 * pieces (parts, finish reason, usage) are exposed because the stream
 * translator in provider_gemini.c builds its chunks from the same rules,
 * so a streamed and a whole answer always say the same thing.
 */
#ifndef LLMGW_GATEWAY_GEMINI_RESP_H
#define LLMGW_GATEWAY_GEMINI_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "gateway/chat_parse.h"

#define GEMINI_DEFAULT_ID "chatcmpl-gemini" /* id when the response has no responseId */

/*
 * OpenAI finish_reason for a Gemini finishReason (NULL: none given):
 * STOP -> "stop" ("tool_calls" when the candidate called functions),
 * MAX_TOKENS -> "length", the safety family -> "content_filter", anything
 * else -> "stop".
 */
const char *gemini_resp_finish(const char *reason, bool tool_calls);

/*
 * Reads a candidate's content.parts: text of non-thought parts is appended
 * to text (*has_text set when there was a text part, even ""), and each
 * functionCall part becomes an OpenAI tool call appended to calls, with
 * id functionCall.id or "call_<choice>_<k>" where k = *k, then *k is
 * advanced. with_index adds the streaming "index": k member. Parts that
 * are not objects or that lack a function name are skipped. -1 on ENOMEM
 * or when text is full.
 */
int gemini_resp_parts(const json_t *cand, unsigned choice, unsigned *k, bool with_index, struct buf *text,
		      bool *has_text, json_t *calls);

/*
 * OpenAI usage object for a usageMetadata object (new reference), NULL
 * when um is not an object or has no token count. completion_tokens
 * counts thoughts too (they are billed as output), reported again as
 * completion_tokens_details.reasoning_tokens.
 */
json_t *gemini_resp_usage(const json_t *um);

/*
 * A whole 2xx generateContent body -> chat.completion JSON appended to
 * out, with span facts in info (zeroed first). model is used when the
 * body has no modelVersion. -1 with err (EPROTO) when the body is not a
 * GenerateContentResponse object (or has neither a usable candidate nor a
 * blocked prompt), ENOMEM / EMSGSIZE when out cannot take it.
 */
int gemini_resp_decode(const char *body, size_t len, const char *model, int64_t created, struct buf *out,
		       struct chat_response_info *info, struct err *err);

/*
 * Google's error shape {"error":{"code","message","status"}} (or a JSON
 * array holding one such object) -> OpenAI's error object appended to
 * out: message kept, type from the HTTP status (status <= 0: from
 * error.code), code = status lower-cased or null. -1 (out unchanged) when
 * v is not that shape or out is full.
 */
int gemini_resp_error_json(const json_t *v, int status, struct buf *out);
/* Same from a body. */
int gemini_resp_error(int status, const char *body, size_t len, struct buf *out);

#endif
