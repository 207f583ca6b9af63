/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transport faults of llmgw-mock (x-mock-fault): answers that go wrong
 * the way real upstreams fail, so a test can show that the gateway ends
 * each one with a clear error and lets go of the connection.
 *
 *   reset-before-head   the request is read, then TCP RST (h2: RST_STREAM); nothing is sent
 *   garbage             non-HTTP bytes (a banner and binary), the connection stays open
 *   oversize-head       a 200 head with 160 fields of ~500 bytes (~80 KiB), then "{}"
 *   reset-after-head    the head and half the body (streams: the head only), then RST
 *   half-close          the head and half the body (streams: half the events and half of
 *                       the next one), then FIN; the mock reads on until the client closes
 *   hang-after-head     the head (with the real Content-Length), then nothing, ever
 *   trickle             a chunked head, then one space (streams: ": trickle\n\n") every
 *                       x-mock-trickle-ms (default 200), forever
 *   oversize-body       a chunked body {"pad":"xxx…"} (streams: one event data: {"pad":"xxx…"})
 *                       of x-mock-body-bytes filler (default 65 MiB), sent as the client reads
 *   sse-no-done         streams: every event but the last (OpenAI's [DONE]), then a clean end
 *   sse-end-early       streams: a clean end after x-mock-fail-after events (default half)
 *   sse-cut-mid-event   streams: that many events, half of the next one, then a clean end
 *
 * garbage, oversize-head and half-close need HTTP/1.1 (400 on HTTP/2). The
 * sse-* modes leave whole answers alone. "Forever" ends when the client
 * leaves, which the mock records as client_closed like any other hang-up.
 */
#ifndef LLMGW_TESTS_MOCK_FAULT_H
#define LLMGW_TESTS_MOCK_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/support/mock/mock-t.h"

struct evbuffer;

#define MOCK_FILLER_LEN (64 * 1024)		   /* one write of oversize filler */
#define MOCK_FAULT_BODY_DEFAULT (65 * 1024 * 1024) /* over the gateway's 64 MiB buffered-body bound */
#define MOCK_FAULT_BODY_MAX (1024 * 1024 * 1024)   /* x-mock-body-bytes upper bound */
#define MOCK_FAULT_TRICKLE_DEFAULT_MS 200

/* The mode named s ("reset-before-head", ...); -1 if there is none. */
int mock_fault_parse(const char *s, enum mock_fault_mode *out);

/* The mode's name (for logs); "none" for MOCK_FAULT_NONE. */
const char *mock_fault_name(enum mock_fault_mode mode);

/* The comma-separated list of every mode name (usage, error messages). */
const char *mock_fault_names(void);

/* true if the mode writes bytes HTTP/2 cannot frame (garbage, oversize-head, half-close). */
bool mock_fault_needs_h1(enum mock_fault_mode mode);

/*
 * Faults that replace the answer (reset-before-head, garbage,
 * oversize-head): plays it on r and returns true; false for every other
 * mode (the route's handler answers, and the fault shapes that answer).
 */
bool mock_fault_instead(struct mock_req *r);

/*
 * A whole answer about to be sent (status, body; Content-Type already
 * among r's headers) under r->fault: plays the fault and returns true, or
 * false when the mode leaves whole answers alone. body stays the caller's.
 */
bool mock_fault_whole(struct mock_req *r, int status, struct evbuffer *body);

/*
 * A stream whose head was just sent: hang-after-head, trickle and
 * oversize-body take it over from here (true); false for every other mode.
 */
bool mock_fault_stream_head(struct mock_req *r);

/*
 * Where an SSE answer of n events stops under r->fault: the event index
 * to cut at, given cut_after from x-mock-fail-after (-1 = none asked).
 */
int mock_fault_stream_cut_at(const struct mock_req *r, size_t n, int cut_after);

/*
 * Ends a stream at its cut, after `at` events: next is the event that
 * would have come next (NULL at the end). RST by default
 * (x-mock-fail-after, reset-after-head), a clean end, half an event and a
 * clean end, or half an event and a FIN, by mode.
 */
void mock_fault_stream_cut(struct mock_req *r, size_t at, const char *next);

#endif
