/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sending answers, now or after an injected latency. A delayed answer is an
 * evtimer on the mock's loop, never a sleep, so one slow request never holds
 * up another. Every wire format (OpenAI today; Anthropic, Gemini and SSE
 * streams later) builds its body and hands it here.
 */
#ifndef LLMGW_TESTS_MOCK_REPLY_H
#define LLMGW_TESTS_MOCK_REPLY_H

#include <jansson.h>

#include "tests/support/mock/mock-t.h"

struct evhttp_request;
struct evbuffer;

/*
 * Answers req with status, content type and body (taken: freed here) after
 * latency_ms (0 = at once). If the client goes away while the timer runs,
 * libevent keeps req alive for us and frees it when we reply.
 */
void mock_reply_send(struct mock *m, struct evhttp_request *req, int status, const char *ctype, struct evbuffer *body,
		     int latency_ms);

/* Like mock_reply_send with a JSON body; takes the reference to v. */
void mock_reply_json(struct mock *m, struct evhttp_request *req, int status, json_t *v, int latency_ms);

/*
 * Answers with OpenAI's error shape {"error":{"message","type","code"}}.
 * code may be NULL (JSON null, as OpenAI sends for many errors).
 */
void mock_reply_oai_error(struct mock *m, struct evhttp_request *req, int status, int latency_ms, const char *type,
			  const char *code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Drops every reply still waiting on a timer (shutdown); evhttp_free frees their requests. */
void mock_reply_cancel_all(struct mock *m);

/* Reason phrase for a status line ("OK", "Bad Request", ...; "Mock Status" if unknown). */
const char *mock_reply_reason(int status);

#endif
