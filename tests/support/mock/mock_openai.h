/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAI wire format of llmgw-mock: POST /v1/chat/completions and
 * POST /v1/completions (whole or streamed as SSE), GET /v1/models.
 * Answers are deterministic so tests can assert on them: the content is
 * --content or the last user message (prompt) echoed, and token counts are
 * whitespace-separated word counts (prompt = all message contents,
 * completion = the content). A streamed answer carries the same content
 * split into pieces and the same usage.
 *
 * Other wire formats (embeddings in mock_embed.c; Anthropic Messages,
 * Gemini generateContent later) have handlers of the same shape, listed in
 * mock_main.c's route table.
 */
#ifndef LLMGW_TESTS_MOCK_OPENAI_H
#define LLMGW_TESTS_MOCK_OPENAI_H

#include <stddef.h>

#include <jansson.h>

#include "tests/support/mock/mock-t.h"

/* Route handler: answer r (now, after f's delays, or as a stream). Faults in f->status are handled before. */
typedef void (*mock_handler_cb)(struct mock *m, struct mock_req *r, const struct mock_fault *f);

void mock_openai_chat(struct mock *m, struct mock_req *r, const struct mock_fault *f);
void mock_openai_completions(struct mock *m, struct mock_req *r, const struct mock_fault *f);
void mock_openai_models(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/*
 * The request body as a JSON object with a string "model". On anything
 * else answers 400 in OpenAI's shape itself (counted) and returns NULL.
 * The caller owns the result.
 */
json_t *mock_openai_parse(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/* {prompt_tokens, completion_tokens, total_tokens}; new reference. */
json_t *mock_openai_usage(size_t prompt, size_t completion);

/* Number of whitespace-separated words in s[0..n). */
size_t mock_openai_count_words(const char *s, size_t n);

#endif
