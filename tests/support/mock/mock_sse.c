/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Playing out SSE answers for llmgw-mock.
 *
 * Events come in three shapes: OpenAI's bare `data:` lines, named events
 * (`event: X` + `data:`, as Anthropic streams) and raw text (Gemini's
 * CRLF-framed events and its streamed JSON array), all kept as the exact
 * bytes to write, so playing them out is the same for every wire format.
 *
 * The events are formatted up front into one array; the request's job is
 * this struct and its timer advances `next`. Each step writes one event,
 * so with a chunk delay every event leaves in its own write and a reader
 * sees them arrive one by one. A cut is made only after the events before
 * it were handed to the transport, which flushes them before the reset.
 * An x-mock-fault (mock_fault.c) may take the stream over once its head is
 * out, or end it at the cut some other way than a reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/mock/mock_fault.h"
#include "tests/support/mock/mock_req.h"
#include "tests/support/mock/mock_sse.h"

struct mock_sse {
	char **ev; /* formatted events ("data: ...\n\n") */
	size_t n;
	size_t cap;
	size_t next;   /* next event to send */
	int cut_after; /* -1 = never */
	int chunk_delay_ms;
	const char *ctype; /* static string; text/event-stream unless set */
	bool head_sent;
	struct mock *m;
};

struct mock_sse *mock_sse_new(void)
{
	struct mock_sse *s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->cut_after = -1;
		s->ctype = "text/event-stream";
	}
	return s;
}

void mock_sse_free(struct mock_sse *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i]);
	free(s->ev);
	free(s);
}

static void job_free(void *job)
{
	mock_sse_free(job);
}

/* Appends one event: the concatenation of up to three pieces (NULL = none). */
static int add_event(struct mock_sse *s, const char *a, const char *b, const char *c)
{
	if (s->n == s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 16;
		char **ev = realloc(s->ev, cap * sizeof(*ev));
		if (ev == NULL)
			return -1;
		s->ev = ev;
		s->cap = cap;
	}
	size_t la = a != NULL ? strlen(a) : 0, lb = b != NULL ? strlen(b) : 0, lc = c != NULL ? strlen(c) : 0;
	char *e = malloc(la + lb + lc + 1);
	if (e == NULL)
		return -1;
	memcpy(e, a != NULL ? a : "", la);
	memcpy(e + la, b != NULL ? b : "", lb);
	memcpy(e + la + lb, c != NULL ? c : "", lc);
	e[la + lb + lc] = '\0';
	s->ev[s->n++] = e;
	return 0;
}

int mock_sse_add_json(struct mock_sse *s, json_t *v)
{
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	int rc = text != NULL ? add_event(s, "data: ", text, "\n\n") : -1;
	free(text);
	return rc;
}

int mock_sse_add_done(struct mock_sse *s)
{
	return add_event(s, "data: [DONE]\n\n", NULL, NULL);
}

int mock_sse_add_named(struct mock_sse *s, const char *name, json_t *v)
{
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	int rc = -1;
	if (text != NULL && strlen(name) < 64) {
		char head[96];
		snprintf(head, sizeof(head), "event: %s\ndata: ", name);
		rc = add_event(s, head, text, "\n\n");
	}
	free(text);
	return rc;
}

int mock_sse_add_raw(struct mock_sse *s, const char *prefix, json_t *v, const char *suffix)
{
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	int rc = v == NULL || text != NULL ? add_event(s, prefix, text, suffix) : -1;
	free(text);
	return rc;
}

void mock_sse_set_ctype(struct mock_sse *s, const char *ctype)
{
	s->ctype = ctype;
}

static void sse_step(struct mock_req *r)
{
	struct mock_sse *s = r->job;
	if (!s->head_sent) {
		s->head_sent = true;
		if (mock_req_stream_head(r, 200, s->ctype) != 0)
			return;
		/* hang-after-head, trickle, oversize-body: the fault plays the rest */
		if (mock_fault_stream_head(r))
			return;
	}
	for (;;) {
		if (s->cut_after >= 0 && s->next >= (size_t)s->cut_after) {
			mock_fault_stream_cut(r, s->next, s->next < s->n ? s->ev[s->next] : NULL);
			return;
		}
		if (s->next == s->n) {
			mock_req_stream_end(r);
			return;
		}
		const char *e = s->ev[s->next++];
		if (mock_req_stream_write(r, e, strlen(e)) != 0 || !mock_req_attached(r))
			return;
		/* The first event goes with the head; the pause is between events. */
		if (s->chunk_delay_ms > 0 && s->next < s->n) {
			if (mock_req_after(r, s->chunk_delay_ms, sse_step) != 0)
				continue; /* no timer: better all at once than never */
			return;
		}
	}
}

void mock_sse_play(struct mock *m, struct mock_req *r, struct mock_sse *s, int head_delay_ms, int chunk_delay_ms,
		   int cut_after)
{
	s->m = m;
	s->chunk_delay_ms = chunk_delay_ms;
	s->cut_after = mock_fault_stream_cut_at(r, s->n, cut_after);
	mock_req_set_job(r, s, job_free);
	m->stats.streams++;
	if (head_delay_ms > 0 && mock_req_after(r, head_delay_ms, sse_step) == 0) {
		m->stats.delayed++;
		return;
	}
	sse_step(r);
}

size_t mock_sse_split(const char *text, size_t len, size_t n, size_t *cuts)
{
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)text[i] & 0xC0) != 0x80)
			chars++;
	if (n > chars)
		n = chars;
	cuts[0] = 0;
	for (size_t k = 1; k < n; k++) {
		/* Back to the start of the character the even cut falls in... */
		size_t at = len * k / n;
		while (at > 0 && ((unsigned char)text[at] & 0xC0) == 0x80)
			at--;
		/* ...unless that repeats the last cut: then one character past it. */
		if (at <= cuts[k - 1]) {
			at = cuts[k - 1] + 1;
			while (at < len && ((unsigned char)text[at] & 0xC0) == 0x80)
				at++;
		}
		if (at >= len) { /* only when the text was mostly long sequences: fewer pieces */
			n = k;
			break;
		}
		cuts[k] = at;
	}
	cuts[n] = len;
	return n;
}
