/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Anthropic Messages wire format of llmgw-mock: POST /v1/messages,
 * whole or streamed (`"stream": true`, named SSE events). Requests are
 * checked the way Anthropic checks them (headers, field types, roles,
 * tool_use / tool_result pairing) and rejected with Anthropic's error
 * shape, so a gateway translating OpenAI requests finds its mistakes here
 * rather than in production. Answers are deterministic like the OpenAI
 * route: --content or the last user text echoed, word-count usage.
 *
 * Also shared with mock_gemini.c: the "simple way" of honouring stop
 * sequences and token limits (mock_anthropic_cut).
 */
#ifndef LLMGW_TESTS_MOCK_ANTHROPIC_H
#define LLMGW_TESTS_MOCK_ANTHROPIC_H

#include <stddef.h>

#include <jansson.h>

#include "tests/support/mock/mock-t.h"

/* POST /v1/messages (a mock_handler_cb). */
void mock_anthropic_messages(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/* Anthropic's error type for an HTTP status (400 invalid_request_error ... 529 overloaded_error). */
const char *mock_anthropic_error_type(int status);

/*
 * Answers status with {"type":"error","error":{"type","message"}} after
 * latency_ms; type NULL = mock_anthropic_error_type(status).
 */
void mock_anthropic_error(struct mock *m, struct mock_req *r, int status, int latency_ms, const char *type,
			  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Why an answer was shortened by mock_anthropic_cut. */
enum mock_cut {
	MOCK_CUT_NONE = 0,
	MOCK_CUT_STOP, /* at a stop sequence (text before it kept) */
	MOCK_CUT_MAX,  /* at the token (= word) limit */
};

/*
 * Shortens text[0..*len) as a model would stop: first at the earliest
 * occurrence of any string of stops (an array, or NULL), then, if more
 * than max_words words remain (max_words < 0 = no limit), after the
 * max_words-th word. *seq gets the stop sequence that matched (a pointer
 * into stops) when the result is MOCK_CUT_STOP, else NULL.
 */
enum mock_cut mock_anthropic_cut(const char *text, size_t *len, const json_t *stops, long long max_words,
				 const char **seq);

#endif
