/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Gemini (Google Generative Language API) wire format of llmgw-mock:
 * POST /v1beta/models/{model}:generateContent and
 * :streamGenerateContent, the latter as SSE with ?alt=sse or, without it,
 * as one streamed JSON array of GenerateContentResponse objects, as Google
 * answers. Requests are checked like Google checks them (API key, unknown
 * fields, the one-data-field rule of parts, generationConfig types and
 * ranges, function calling config) and rejected with Google's error shape
 * {"error":{"code","message","status"}}. Answers are deterministic like
 * the other routes: --content or the last user text echoed, word counts.
 */
#ifndef LLMGW_TESTS_MOCK_GEMINI_H
#define LLMGW_TESTS_MOCK_GEMINI_H

#include "tests/support/mock/mock-t.h"

/* POST .../models/{model}:generateContent (a mock_handler_cb). */
void mock_gemini_generate(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/* POST .../models/{model}:streamGenerateContent[?alt=sse] (a mock_handler_cb). */
void mock_gemini_stream(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/* google.rpc.Code name for an HTTP status (400 INVALID_ARGUMENT ... 503 UNAVAILABLE). */
const char *mock_gemini_status(int code);

/*
 * Answers code with {"error":{"code","message","status"}} after latency_ms;
 * status NULL = mock_gemini_status(code).
 */
void mock_gemini_error(struct mock *m, struct mock_req *r, int code, int latency_ms, const char *status,
		       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
