/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `anthropic` provider: OpenAI chat completions in front of Anthropic's
 * Messages API (POST {base}/messages). The ops table (provider_anthropic,
 * declared in provider.h) is thin; the translation lives in pure functions
 * declared here so the unit tests and the fuzz target call them directly:
 *
 *   anthropic_req.c     OpenAI chat request JSON -> Messages request JSON
 *   anthropic_resp.c    Messages response / error JSON -> OpenAI JSON
 *   anthropic_stream.c  Messages SSE events -> OpenAI chat.completion.chunk SSE
 *
 * No I/O, no globals. Every error message produced here may reach the
 * client (encode failures are answered 400 with err.msg), so none of them
 * ever carries a header or a key.
 */
#ifndef LLMGW_GATEWAY_PROVIDER_ANTHROPIC_H
#define LLMGW_GATEWAY_PROVIDER_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "gateway/chat_parse.h"

#define ANTHROPIC_VERSION_DEFAULT "2023-06-01"
#define ANTHROPIC_MAX_TOKENS_DEFAULT 4096u
#define ANTHROPIC_STREAM_TOOLS_MAX 4096u /* tool_use blocks tracked per streamed message */

/*
 * Translates an OpenAI chat request object (req: the client's parsed body,
 * not modified) into a new Messages request for model, asking for
 * default_max_tokens when the client gave no max_completion_tokens /
 * max_tokens (0: ANTHROPIC_MAX_TOKENS_DEFAULT). On success *out is a new
 * reference the caller json_decref()s. -1 with err->code EINVAL and a
 * client-facing err->msg for what Anthropic cannot express (n > 1) or a
 * malformed request (message not an object, unknown role, content or part
 * of the wrong type, tool call arguments that are not a JSON object),
 * ENOMEM when memory runs out. Unknown OpenAI fields are ignored.
 */
int anthropic_request_from_openai(const json_t *req, const char *model, uint32_t default_max_tokens, json_t **out,
				  struct err *err);

/* OpenAI finish_reason for an Anthropic stop_reason; NULL for NULL (not stopped yet). */
const char *anthropic_finish_reason(const char *stop_reason);

/* OpenAI error.type for an Anthropic error.type, falling back on the HTTP status (0: api_error). */
const char *anthropic_error_type(const char *type, int status);

/*
 * Anthropic usage {input_tokens, output_tokens, cache_read_input_tokens,
 * cache_creation_input_tokens} -> a new OpenAI usage object: prompt_tokens
 * is the sum of the three input counts (Anthropic's input_tokens excludes
 * the cached part, OpenAI's includes it), cached_tokens the cache reads.
 * Missing or negative counts are 0. NULL on ENOMEM.
 */
json_t *anthropic_usage_to_openai(const json_t *usage);

/*
 * A whole Messages response body -> a chat.completion object appended to
 * out (compact JSON), with the given created time; info gets the span
 * facts. -1 with err (EINVAL) when body is not a Messages response (not a
 * JSON object, type other than "message", content not an array), ENOMEM
 * or out full (ENOSPC).
 */
int anthropic_response_to_openai(const char *body, size_t len, int64_t created, struct buf *out,
				 struct chat_response_info *info, struct err *err);

/*
 * An Anthropic error body {"type":"error","error":{"type":T,"message":M}}
 * -> {"error":{"message":M,"type":mapped T,"param":null,"code":T}} appended
 * to out. -1 (out unchanged) for any other body or when out is full.
 */
int anthropic_error_to_openai(int status, const char *body, size_t len, struct buf *out);

/*
 * The translator of one streamed Messages response. Pieces of the upstream
 * body go in, complete OpenAI SSE events come out (see provider.h
 * stream_feed for the contract). created and fallback_model (used until
 * message_start names the model) are copied. NULL on ENOMEM.
 */
struct anthropic_stream;
struct anthropic_stream *anthropic_stream_new(int64_t created, const char *fallback_model);
/* Frees s; NULL is a no-op. */
void anthropic_stream_free(struct anthropic_stream *s);
/*
 * One piece (any split) -> appends the OpenAI events it completes to out.
 * After message_stop or an error event the rest of the body is ignored.
 * -1 with err: EMSGSIZE (an event over 1 MiB), EPROTO (a known event whose
 * data is not a JSON object, too many tool calls), ENOSPC (out full) or
 * ENOMEM; the translator is failed after that.
 */
int anthropic_stream_feed(struct anthropic_stream *s, const char *data, size_t len, struct buf *out, struct err *err);
/* True once message_stop or an error event was translated. */
bool anthropic_stream_ended(const struct anthropic_stream *s);

#endif
