/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing OpenAI's chat completion stream, for the providers whose own
 * stream is translated (Anthropic, Gemini): one chat.completion.chunk per
 * event, the usage-only chunk, [DONE]. What the relay (chat_stream.c)
 * reads is exactly what OpenAI sends, so the span facts and the usage
 * stripping work the same for every provider.
 *
 * Failures leave out as it was (no half event) and say EMSGSIZE when out
 * is full, ENOMEM otherwise: provider.h's stream_feed contract.
 */
#ifndef LLMGW_GATEWAY_OAI_SSE_H
#define LLMGW_GATEWAY_OAI_SSE_H

#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

/* What every chunk of one response repeats. */
struct oai_chunk_head {
	const char *id;
	int64_t created;
	const char *model;
};

/* Appends "data: <compact v>\n\n"; takes the reference to v (NULL: ENOMEM). */
int oai_sse_put(struct buf *out, json_t *v, struct err *err);

/*
 * A chunk for choice index: {"id","object":"chat.completion.chunk","created",
 * "model","choices":[{"index","delta","logprobs":null,"finish_reason"}]};
 * takes the reference to delta; finish NULL writes null.
 */
int oai_sse_put_chunk(struct buf *out, const struct oai_chunk_head *h, unsigned index, json_t *delta,
		      const char *finish, struct err *err);

/*
 * The end of a complete stream: the usage-only chunk ({"choices":[],
 * "usage":usage}, borrowed; skipped when usage is NULL) and "data: [DONE]".
 */
int oai_sse_put_end(struct buf *out, const struct oai_chunk_head *h, const json_t *usage, struct err *err);

#endif
