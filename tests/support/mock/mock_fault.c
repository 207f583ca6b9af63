/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Playing transport faults for llmgw-mock (x-mock-fault, see mock_fault.h).
 *
 * The route's handler builds its answer as usual; the fault decides how
 * much of it leaves and how the connection ends. Faults that replace the
 * answer run before the handler (mock_main.c); faults of a whole answer
 * run where it would have been sent (mock_req_respond); faults of a stream
 * run when its head is out and at its cut (mock_sse.c). Everything that
 * lasts (a trickle, a large body sent as the client reads it) runs on the
 * request's timer, so it stops the moment the client leaves and never
 * holds up another request.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "tests/support/mock/mock_fault.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"

#define OVERSIZE_HIGH (1024 * 1024) /* unsent bytes above which filler waits for the client */
#define OVERSIZE_HEAD_FIELDS 160    /* over the gateway's 128 response header fields */
#define OVERSIZE_HEAD_VALUE 480	    /* x 160 = ~80 KiB, over its 64 KiB head bound */

static const char *const names[MOCK_FAULT__COUNT] = {
    [MOCK_FAULT_NONE] = "none",
    [MOCK_FAULT_RESET_BEFORE_HEAD] = "reset-before-head",
    [MOCK_FAULT_GARBAGE] = "garbage",
    [MOCK_FAULT_OVERSIZE_HEAD] = "oversize-head",
    [MOCK_FAULT_RESET_AFTER_HEAD] = "reset-after-head",
    [MOCK_FAULT_HALF_CLOSE] = "half-close",
    [MOCK_FAULT_HANG_AFTER_HEAD] = "hang-after-head",
    [MOCK_FAULT_TRICKLE] = "trickle",
    [MOCK_FAULT_OVERSIZE_BODY] = "oversize-body",
    [MOCK_FAULT_SSE_NO_DONE] = "sse-no-done",
    [MOCK_FAULT_SSE_END_EARLY] = "sse-end-early",
    [MOCK_FAULT_SSE_CUT_MID_EVENT] = "sse-cut-mid-event",
};

int mock_fault_parse(const char *s, enum mock_fault_mode *out)
{
	for (int i = 1; i < MOCK_FAULT__COUNT; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum mock_fault_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *mock_fault_name(enum mock_fault_mode mode)
{
	return (unsigned)mode < MOCK_FAULT__COUNT ? names[mode] : "?";
}

const char *mock_fault_names(void)
{
	return "reset-before-head, garbage, oversize-head, reset-after-head, half-close, hang-after-head, "
	       "trickle, oversize-body, sse-no-done, sse-end-early, sse-cut-mid-event";
}

bool mock_fault_needs_h1(enum mock_fault_mode mode)
{
	return mode == MOCK_FAULT_GARBAGE || mode == MOCK_FAULT_OVERSIZE_HEAD || mode == MOCK_FAULT_HALF_CLOSE;
}

/* Counted and logged once per request, when the fault is played. */
static void played(struct mock_req *r)
{
	r->m->stats.faults++;
	log_msg(LOG_LVL_INFO, "fault", "mode=%s path=%s", mock_fault_name(r->fault), r->path != NULL ? r->path : "-");
}

/* FIN after what was written (HTTP/1.1); a transport without half-close resets instead. */
static void half_close(struct mock_req *r)
{
	if (!mock_req_attached(r))
		return;
	if (r->ops->half_close == NULL) {
		mock_req_reset(r);
		return;
	}
	r->done = true; /* the mock ended it on purpose: not a client leaving */
	r->ops->half_close(r);
}

/* The wrong service on the port: an SSH-like banner and binary, no HTTP at all. */
static void play_garbage(struct mock_req *r)
{
	static const char junk[] = "SSH-2.0-OpenSSH_9.2p1 llmgw-mock-garbage\r\n\x01\xfe\xff\x7f binary junk\r\n\r\n";
	r->head_sent = true; /* nothing else may be sent: the request stays open until the client leaves */
	r->ops->raw(r, junk, sizeof(junk) - 1);
}

/* A syntactically valid head that is too large, then a tiny body that completes the answer. */
static void play_oversize_head(struct mock_req *r)
{
	struct evbuffer *b = evbuffer_new();
	char value[OVERSIZE_HEAD_VALUE + 1];
	if (b == NULL) {
		mock_req_reset(r);
		return;
	}
	memset(value, 'x', OVERSIZE_HEAD_VALUE);
	value[OVERSIZE_HEAD_VALUE] = '\0';
	evbuffer_add_printf(b, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < OVERSIZE_HEAD_FIELDS; i++)
		evbuffer_add_printf(b, "x-mock-pad-%03d: %s\r\n", i, value);
	evbuffer_add_printf(b, "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
	r->head_sent = true;
	size_t n = evbuffer_get_length(b);
	if (r->ops->raw(r, evbuffer_pullup(b, -1), n) == 0 && mock_req_attached(r)) {
		r->done = true;
		r->ops->end(r);
	}
	evbuffer_free(b);
}

bool mock_fault_instead(struct mock_req *r)
{
	switch (r->fault) {
	case MOCK_FAULT_RESET_BEFORE_HEAD:
		played(r);
		mock_req_reset(r);
		return true;
	case MOCK_FAULT_GARBAGE:
		played(r);
		play_garbage(r);
		return true;
	case MOCK_FAULT_OVERSIZE_HEAD:
		played(r);
		play_oversize_head(r);
		return true;
	default:
		return false;
	}
}

static void trickle_tick(struct mock_req *r)
{
	if (mock_req_stream_write(r, r->fault_text, strlen(r->fault_text)) != 0 || !mock_req_attached(r))
		return;
	if (mock_req_after(r, r->fault_ms, trickle_tick) != 0)
		log_msg(LOG_LVL_WARN, "oom", "what=trickle_timer");
}

/* Filler as fast as the client takes it, never more than OVERSIZE_HIGH unsent; then the end. */
static void oversize_step(struct mock_req *r)
{
	while (r->fault_left > 0) {
		if (!mock_req_attached(r))
			return;
		if (r->ops->pending != NULL && r->ops->pending(r) >= OVERSIZE_HIGH) {
			if (mock_req_after(r, 1, oversize_step) != 0)
				log_msg(LOG_LVL_WARN, "oom", "what=oversize_timer");
			return;
		}
		size_t n = r->fault_left < MOCK_FILLER_LEN ? r->fault_left : MOCK_FILLER_LEN;
		if (mock_req_stream_write(r, r->m->filler, n) != 0)
			return;
		r->fault_left -= n;
	}
	if (mock_req_stream_write(r, r->fault_text, strlen(r->fault_text)) == 0 && mock_req_attached(r))
		mock_req_stream_end(r);
}

static void start_oversize(struct mock_req *r, const char *prefix, const char *suffix)
{
	r->fault_text = suffix;
	if (mock_req_stream_write(r, prefix, strlen(prefix)) == 0 && mock_req_attached(r))
		oversize_step(r);
}

bool mock_fault_whole(struct mock_req *r, int status, struct evbuffer *body)
{
	size_t len = evbuffer_get_length(body);
	const char *p = (const char *)evbuffer_pullup(body, -1);
	switch (r->fault) {
	case MOCK_FAULT_RESET_AFTER_HEAD:
	case MOCK_FAULT_HALF_CLOSE:
	case MOCK_FAULT_HANG_AFTER_HEAD:
		played(r);
		r->head_sent = true;
		/* The transport may detach r at any step when the client is gone. */
		if (r->ops->head(r, status, (long)len) != 0 || r->fault == MOCK_FAULT_HANG_AFTER_HEAD)
			return true;
		if (len / 2 > 0 && mock_req_attached(r) && r->ops->body(r, p, len / 2) != 0)
			return true;
		if (r->fault == MOCK_FAULT_RESET_AFTER_HEAD)
			mock_req_reset(r);
		else
			half_close(r);
		return true;
	case MOCK_FAULT_TRICKLE:
	case MOCK_FAULT_OVERSIZE_BODY:
		played(r);
		r->head_sent = true;
		if (r->ops->head(r, status, -1) != 0 || !mock_req_attached(r))
			return true;
		if (r->fault == MOCK_FAULT_TRICKLE) {
			r->fault_text = " "; /* JSON whitespace: never wrong, never done */
			trickle_tick(r);
		} else {
			start_oversize(r, "{\"pad\":\"", "\"}");
		}
		return true;
	default:
		return false;
	}
}

bool mock_fault_stream_head(struct mock_req *r)
{
	switch (r->fault) {
	case MOCK_FAULT_HANG_AFTER_HEAD:
		played(r);
		return true;
	case MOCK_FAULT_TRICKLE:
		played(r);
		r->fault_text = ": trickle\n\n"; /* an SSE comment: a keep-alive that carries nothing */
		trickle_tick(r);
		return true;
	case MOCK_FAULT_OVERSIZE_BODY:
		played(r);
		start_oversize(r, "data: {\"pad\":\"", "\"}\n\n");
		return true;
	default:
		return false;
	}
}

int mock_fault_stream_cut_at(const struct mock_req *r, size_t n, int cut_after)
{
	switch (r->fault) {
	case MOCK_FAULT_RESET_AFTER_HEAD:
		return cut_after >= 0 ? cut_after : 0;
	case MOCK_FAULT_SSE_NO_DONE:
		return n > 0 ? (int)n - 1 : 0;
	case MOCK_FAULT_HALF_CLOSE:
	case MOCK_FAULT_SSE_END_EARLY:
	case MOCK_FAULT_SSE_CUT_MID_EVENT:
		return cut_after >= 0 ? cut_after : (int)(n / 2);
	default:
		return cut_after;
	}
}

void mock_fault_stream_cut(struct mock_req *r, size_t at, const char *next)
{
	size_t half = next != NULL ? strlen(next) / 2 : 0;
	switch (r->fault) {
	case MOCK_FAULT_SSE_NO_DONE:
	case MOCK_FAULT_SSE_END_EARLY:
		played(r);
		mock_req_stream_end(r);
		return;
	case MOCK_FAULT_SSE_CUT_MID_EVENT:
		played(r);
		if (half == 0 || (mock_req_stream_write(r, next, half) == 0 && mock_req_attached(r)))
			mock_req_stream_end(r);
		return;
	case MOCK_FAULT_HALF_CLOSE:
		played(r);
		if (half == 0 || (mock_req_stream_write(r, next, half) == 0 && mock_req_attached(r)))
			half_close(r);
		return;
	case MOCK_FAULT_RESET_AFTER_HEAD:
		played(r);
		break;
	default:
		break;
	}
	/* x-mock-fail-after, or reset-after-head: the events so far, then RST. */
	r->m->stats.resets++;
	log_msg(LOG_LVL_INFO, "stream_cut", "after_events=%zu", at);
	mock_req_reset(r);
}
