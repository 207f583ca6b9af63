/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAI wire format of llmgw-mock: POST /v1/chat/completions and
 * GET /v1/models. Answers are deterministic so tests can assert on them:
 * the content is --content or the last user message echoed, and token
 * counts are whitespace-separated word counts (prompt = all message
 * contents, completion = the content).
 *
 * Later wire formats (Anthropic Messages, Gemini generateContent) and SSE
 * streaming get their own mock_<format>.c with handlers of the same shape,
 * listed in mock_main.c's route table.
 */
#ifndef LLMGW_TESTS_MOCK_OPENAI_H
#define LLMGW_TESTS_MOCK_OPENAI_H

#include <stddef.h>

#include "tests/support/mock/mock-t.h"

struct evhttp_request;

/* Route handler: answer req (now or after f->latency_ms). Faults in f->status are handled before. */
typedef void (*mock_handler_cb)(struct mock *m, struct evhttp_request *req, const struct mock_fault *f);

void mock_openai_chat(struct mock *m, struct evhttp_request *req, const struct mock_fault *f);
void mock_openai_models(struct mock *m, struct evhttp_request *req, const struct mock_fault *f);

/* Number of whitespace-separated words in s[0..n) (exposed for unit tests). */
size_t mock_openai_count_words(const char *s, size_t n);

#endif
