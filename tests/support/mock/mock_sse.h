/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-Sent Events answers of llmgw-mock, as OpenAI streams them:
 * `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end; also
 * Anthropic's named events and raw framings (Gemini). An answer
 * is prepared whole (so it is deterministic), then played out on the
 * request's timer: the head after the first-byte delay, then one event per
 * chunk delay, and optionally an abrupt cut after a given number of events
 * (x-mock-fail-after). Nothing blocks; a client that leaves stops it.
 */
#ifndef LLMGW_TESTS_MOCK_SSE_H
#define LLMGW_TESTS_MOCK_SSE_H

#include <stddef.h>

#include <jansson.h>

#include "tests/support/mock/mock-t.h"

struct mock_sse;

struct mock_sse *mock_sse_new(void);
/* NULL is a no-op. */
void mock_sse_free(struct mock_sse *s);

/* Appends the event "data: <v compact>\n\n"; takes the reference to v. -1 on ENOMEM (or v NULL). */
int mock_sse_add_json(struct mock_sse *s, json_t *v);
/* Appends "data: [DONE]\n\n". */
int mock_sse_add_done(struct mock_sse *s);

/* Appends the named event "event: <name>\ndata: <v compact>\n\n" (Anthropic); takes v. -1 on ENOMEM. */
int mock_sse_add_named(struct mock_sse *s, const char *name, json_t *v);

/*
 * Appends one event written as prefix + <v compact> + suffix, byte for byte
 * (Gemini's "data: ...\r\n\r\n", or pieces of a streamed JSON array). v may
 * be NULL (prefix + suffix only); takes v. -1 on ENOMEM.
 */
int mock_sse_add_raw(struct mock_sse *s, const char *prefix, json_t *v, const char *suffix);

/* Content-Type of the streamed head (a static string; default "text/event-stream"). */
void mock_sse_set_ctype(struct mock_sse *s, const char *ctype);

/*
 * Plays s out on r (takes s): head (200, text/event-stream) after
 * head_delay_ms, the first event with it, the next ones chunk_delay_ms
 * apart (0 = all at once). cut_after >= 0 ends the response abruptly once
 * that many events were sent (TCP RST on HTTP/1.1, RST_STREAM on HTTP/2).
 */
void mock_sse_play(struct mock *m, struct mock_req *r, struct mock_sse *s, int head_delay_ms, int chunk_delay_ms,
		   int cut_after);

/*
 * Splits text[0..len) into at most n non-empty pieces of about equal
 * size, never inside a UTF-8 sequence; fewer when the text has fewer
 * characters, none when it is empty. Writes the n+1 boundaries (offsets,
 * first 0, last len) to cuts and returns the piece count.
 */
size_t mock_sse_split(const char *text, size_t len, size_t n, size_t *cuts);

#endif
