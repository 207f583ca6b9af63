/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sending whole answers, now or after an injected latency. A delayed
 * answer is an evtimer on the request (mock_req_after), never a sleep, so
 * one slow request never holds up another, and a client that leaves
 * meanwhile simply cancels it. Every wire format builds its body and hands
 * it here; streamed answers go through mock_sse instead.
 */
#ifndef LLMGW_TESTS_MOCK_REPLY_H
#define LLMGW_TESTS_MOCK_REPLY_H

#include <jansson.h>

#include "tests/support/mock/mock-t.h"

struct evbuffer;

/*
 * Answers r with status, content type and body (taken: freed here) after
 * latency_ms (0 = at once).
 */
void mock_reply_send(struct mock *m, struct mock_req *r, int status, const char *ctype, struct evbuffer *body,
		     int latency_ms);

/* Like mock_reply_send with a JSON body; takes the reference to v. */
void mock_reply_json(struct mock *m, struct mock_req *r, int status, json_t *v, int latency_ms);

/*
 * Answers with OpenAI's error shape {"error":{"message","type","code","param"}}.
 * code may be NULL (JSON null, as OpenAI sends for many errors).
 */
void mock_reply_oai_error(struct mock *m, struct mock_req *r, int status, int latency_ms, const char *type,
			  const char *code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Reason phrase for a status line ("OK", "Bad Request", ...; "Mock Status" if unknown). */
const char *mock_reply_reason(int status);

#endif
