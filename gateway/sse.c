/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SSE parsing in two passes over each item. The scanner walks the input
 * once, tracking only what it needs to find item boundaries: the length and
 * first byte of the current line, the size of the current item, and whether
 * a CR just ended a line (its LF may arrive in the next piece). When an item
 * is complete its raw bytes are contiguous (in the caller's piece, or in
 * `pend` when it straddled pieces) and a second, simple pass reads its
 * fields. That keeps the cross-piece state tiny and makes "split anywhere"
 * trivially correct: the field parser never sees a partial line.
 */
#include "gateway/sse.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Buffers that grew past this for one big item are released afterwards. */
#define SSE_KEEP_CAP ((size_t)64 << 10)

static const unsigned char utf8_bom[3] = {0xef, 0xbb, 0xbf};

struct sse {
	size_t max;
	struct buf pend;    /* the current item's bytes from earlier pieces */
	struct buf join;    /* data of an event with several data lines */
	struct buf last_id; /* the spec's "last event ID buffer" */
	bool has_id;

	/* the piece being scanned; offsets into in */
	const char *in;
	size_t len, cur;
	size_t item_start;   /* where the current item's bytes in this piece begin */
	size_t lf_at, cr_at; /* next LF / CR at or after cur; SIZE_MAX = not searched */

	/* carried across pieces */
	size_t item_len; /* bytes of the current item so far, anywhere */
	size_t line_len; /* bytes of the current line so far, ending excluded */
	unsigned char line_first;
	bool after_cr;	/* a CR ended the last line at a piece end: an LF next is its pair */
	unsigned bom_n; /* BOM bytes matched at stream start */
	bool started;	/* past the BOM check */
	bool drop_pend; /* the last item was served from pend: empty it first */
	bool failed;
	struct err why; /* repeated on every call after a failure */
};

struct sse *sse_new(size_t max_event)
{
	struct sse *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->max = max_event == 0 ? SSE_MAX_DEFAULT : max_event;
	buf_init(&p->pend, p->max + 1); /* + the LF of a final CRLF, not counted in max (sse_next) */
	buf_init(&p->join, p->max);
	buf_init(&p->last_id, p->max);
	return p;
}

void sse_free(struct sse *p)
{
	if (p == NULL)
		return;
	buf_fini(&p->pend);
	buf_fini(&p->join);
	buf_fini(&p->last_id);
	free(p);
}

static void shrink(struct buf *b)
{
	if (b->cap > SSE_KEEP_CAP)
		buf_fini(b);
	else
		buf_reset(b);
}

/* Fails the parser for good; the first reason sticks. */
static enum sse_rc fail(struct sse *p, struct err *err, int code, const char *msg)
{
	if (!p->failed) {
		p->failed = true;
		err_set(&p->why, code, "%s", msg);
	}
	if (err != NULL)
		*err = p->why;
	return SSE_ERROR;
}

void sse_push(struct sse *p, const char *data, size_t len)
{
	if (p->in != NULL && p->cur < p->len) {
		fail(p, NULL, EINVAL, "sse: a piece was pushed before the previous one was drained");
		return;
	}
	p->in = data;
	p->len = data != NULL ? len : 0;
	p->cur = 0;
	p->item_start = 0;
	p->lf_at = SIZE_MAX;
	p->cr_at = SIZE_MAX;
}

size_t sse_pending(const struct sse *p)
{
	if (!p->started)
		return p->bom_n;
	return p->item_len;
}

/* Skips a UTF-8 BOM at stream start, even split across pieces: 1 past it, 0 undecided, -1 ENOMEM. */
static int skip_bom(struct sse *p)
{
	while (p->cur < p->len && p->bom_n < 3) {
		if ((unsigned char)p->in[p->cur] != utf8_bom[p->bom_n])
			break;
		p->bom_n++;
		p->cur++;
	}
	p->item_start = p->cur;
	if (p->bom_n < 3 && p->cur == p->len)
		return 0; /* all BOM-like so far: wait for more */
	if (p->bom_n > 0 && p->bom_n < 3) {
		/* not a BOM after all: those bytes begin the first line (never CR/LF) */
		if (buf_append(&p->pend, utf8_bom, p->bom_n) < 0)
			return -1;
		p->item_len = p->line_len = p->bom_n;
		p->line_first = utf8_bom[0];
	}
	p->started = true;
	return 1;
}

/* Offset of the next CR or LF at or after cur, or len. Cached so CR-only input stays linear. */
static size_t next_eol(struct sse *p)
{
	const char *s = p->in + p->cur;
	size_t n = p->len - p->cur;
	if (p->lf_at == SIZE_MAX || p->lf_at < p->cur) {
		const char *q = memchr(s, '\n', n);
		p->lf_at = q != NULL ? (size_t)(q - p->in) : p->len;
	}
	if (p->cr_at == SIZE_MAX || p->cr_at < p->cur) {
		const char *q = memchr(s, '\r', n);
		p->cr_at = q != NULL ? (size_t)(q - p->in) : p->len;
	}
	return p->lf_at < p->cr_at ? p->lf_at : p->cr_at;
}

/* Makes the finished item's raw bytes contiguous and starts the next item. */
static int take_raw(struct sse *p, struct sse_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (p->pend.len > 0) {
		if (buf_append(&p->pend, p->in + p->item_start, p->cur - p->item_start) < 0)
			return -1;
		ev->raw = p->pend.data;
		ev->raw_len = p->pend.len;
		p->drop_pend = true;
	} else {
		ev->raw = p->in + p->item_start;
		ev->raw_len = p->cur - p->item_start;
		ev->raw_in_input = true;
	}
	p->item_start = p->cur;
	p->item_len = 0;
	p->line_len = 0;
	return 0;
}

static bool field_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* One "name: value" line of an item (not a comment, not blank). */
static int field(struct sse *p, struct sse_event *ev, const char *line, size_t n, unsigned *ndata)
{
	const char *colon = memchr(line, ':', n);
	size_t nlen = colon != NULL ? (size_t)(colon - line) : n;
	const char *v = colon != NULL ? colon + 1 : line + n;
	size_t vlen = (size_t)(line + n - v);
	if (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	if (field_is(line, nlen, "data")) {
		if (*ndata == 0) {
			ev->data = v;
			ev->data_len = vlen;
		} else {
			/* the joined data is never longer than the item, which fits max */
			if (*ndata == 1) {
				buf_reset(&p->join);
				if (buf_append(&p->join, ev->data, ev->data_len) < 0)
					return -1;
			}
			if (buf_append(&p->join, "\n", 1) < 0 || buf_append(&p->join, v, vlen) < 0)
				return -1;
		}
		(*ndata)++;
	} else if (field_is(line, nlen, "event")) {
		ev->name = v;
		ev->name_len = vlen;
	} else if (field_is(line, nlen, "id")) {
		if (memchr(v, '\0', vlen) == NULL) {
			buf_reset(&p->last_id);
			if (buf_append(&p->last_id, v, vlen) < 0)
				return -1;
			p->has_id = true;
		}
	}
	/* "retry" and unknown fields: nothing for a relay to do */
	return 0;
}

/* Reads the fields of a complete item ending in a blank line: an event or a skip. */
static int parse_block(struct sse *p, struct sse_event *ev)
{
	const char *s = ev->raw, *end = ev->raw + ev->raw_len;
	unsigned ndata = 0;
	while (s < end) {
		const char *e = s;
		while (e < end && *e != '\r' && *e != '\n')
			e++;
		if (e == s)
			break; /* the blank line that ended the item */
		if (*s != ':' && field(p, ev, s, (size_t)(e - s), &ndata) < 0)
			return -1;
		if (e == end)
			break;
		s = e + ((e + 1 < end && e[0] == '\r' && e[1] == '\n') ? 2 : 1);
	}
	if (ndata == 0) {
		ev->kind = SSE_SKIP;
		ev->data = NULL;
		ev->data_len = 0;
		ev->name = NULL;
		ev->name_len = 0;
		return 0;
	}
	ev->kind = SSE_EVENT;
	if (ndata > 1) {
		ev->data = p->join.data;
		ev->data_len = p->join.len;
	}
	if (p->has_id) {
		ev->id = p->last_id.data != NULL ? p->last_id.data : "";
		ev->id_len = p->last_id.len;
	}
	return 0;
}

/* A line ended (terminator of tl bytes): an item boundary, or just the next line. */
static enum sse_rc line_done(struct sse *p, struct sse_event *ev, size_t tl, struct err *err)
{
	bool blank = p->line_len == 0;
	bool comment = !blank && p->line_first == ':' && p->item_len == p->line_len + tl;
	if (!blank && !comment) {
		p->line_len = 0;
		return SSE_MORE;
	}
	if (take_raw(p, ev) < 0)
		return fail(p, err, ENOMEM, "sse: out of memory");
	if (comment) {
		ev->kind = SSE_COMMENT;
		ev->data = ev->raw + 1;
		ev->data_len = ev->raw_len - 1 - tl;
		return SSE_ITEM;
	}
	if (parse_block(p, ev) < 0)
		return fail(p, err, ENOMEM, "sse: out of memory");
	return SSE_ITEM;
}

/* Keeps the rest of the piece (part of an unfinished item) for the next one. */
static enum sse_rc save_tail(struct sse *p, struct err *err)
{
	if (p->item_start < p->len) {
		if (buf_append(&p->pend, p->in + p->item_start, p->len - p->item_start) < 0)
			return fail(p, err, ENOMEM, "sse: out of memory");
		p->item_start = p->len;
	}
	return SSE_MORE;
}

static enum sse_rc too_big(struct sse *p, struct err *err)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "sse: an event is larger than %zu bytes", p->max);
	return fail(p, err, EMSGSIZE, msg);
}

enum sse_rc sse_next(struct sse *p, struct sse_event *ev, struct err *err)
{
	if (p->failed) {
		if (err != NULL)
			*err = p->why;
		return SSE_ERROR;
	}
	if (p->drop_pend) {
		shrink(&p->pend);
		p->drop_pend = false;
	}
	if (!p->started) {
		int rc = skip_bom(p);
		if (rc < 0)
			return fail(p, err, ENOMEM, "sse: out of memory");
		if (rc == 0)
			return SSE_MORE;
	}
	while (p->cur < p->len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (p->in[p->cur] == '\n') {
				p->cur++;
				if (p->item_len == 0) {
					/* the pair of a CR that ended the previous item */
					if (take_raw(p, ev) < 0)
						return fail(p, err, ENOMEM, "sse: out of memory");
					ev->kind = SSE_SKIP;
					return SSE_ITEM;
				}
				p->item_len++;
				continue;
			}
		}
		size_t eol = next_eol(p);
		size_t n = eol - p->cur;
		if (n > 0) {
			if (p->line_len == 0)
				p->line_first = (unsigned char)p->in[p->cur];
			p->line_len += n;
			p->item_len += n;
		}
		p->cur = eol;
		if (p->item_len > p->max)
			return too_big(p, err);
		if (eol == p->len)
			break;
		size_t tl = 1;
		if (p->in[eol] == '\r') {
			if (eol + 1 == p->len)
				p->after_cr = true;
			else if (p->in[eol + 1] == '\n')
				tl = 2;
		}
		p->cur += tl;
		p->item_len += tl;
		/*
		 * The LF of a CRLF is judged with what follows it, as when a piece
		 * ends between the two (then it comes as its own SSE_SKIP): the
		 * verdict must not depend on where the stream was cut.
		 */
		if (p->item_len - (tl - 1) > p->max)
			return too_big(p, err);
		enum sse_rc rc = line_done(p, ev, tl, err);
		if (rc != SSE_MORE)
			return rc;
	}
	return save_tail(p, err);
}

int sse_feed(struct sse *p, const char *data, size_t len, sse_event_cb cb, void *arg, struct err *err)
{
	struct sse_event ev;
	sse_push(p, data, len);
	for (;;) {
		enum sse_rc rc = sse_next(p, &ev, err);
		if (rc == SSE_MORE)
			return 0;
		if (rc == SSE_ERROR)
			return -1;
		if (cb(&ev, arg) != 0) {
			fail(p, err, ECANCELED, "sse: stopped by the event callback");
			return -1;
		}
	}
}
