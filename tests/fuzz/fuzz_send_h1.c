/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the otlp_http sink's HTTP/1.1 response reader
 * (exporter/send_h1.c, send_h1_parse): what a backend, a proxy or anything
 * listening on the configured port may send back to our POST. No sockets:
 * the reader takes bytes from an evbuffer, so the input is fed twice, once
 * whole and once in random-sized slices (sizes drawn from the first two
 * bytes), each run ending with the server's close.
 *
 * Invariants: no crash, no leak, no sanitizer report; the body never grows
 * past SEND_RESPONSE_MAX and the head count never past SEND_HEAD_MAX (plus
 * the last line's CRLF and the empty line: check_caps); a response completes at most once (bytes after it, and the
 * close after it, never complete another); a completed response has a final
 * status (200-999) and NUL-terminated kept fields; and the slicing changes
 * nothing: both runs end the same way with the same status, fields, body
 * and number of bytes consumed (the network decides the slicing, so it must
 * never decide the outcome).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "exporter/send_int.h"
#include "exporter/send_outcome.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How one run ended. */
struct h1_run {
	enum send_h1_rc rc; /* first SEND_H1_DONE or _BAD; MORE when the input ran out first */
	bool eof_done;	    /* MORE, then the close completed a close-delimited body */
	const char *detail;
	size_t consumed; /* bytes taken when the response completed */
	struct send_req r;
};

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/*
 * The head bound: every line must fit what is left of SEND_HEAD_MAX, its
 * CRLF counted after it, so a line that fills the room exactly is followed
 * by its CRLF and the empty line that ends the head: SEND_HEAD_MAX + 4 at
 * most (fuzz_send_h1 found the + 4 case; the bound was written as + 2).
 */
static void check_caps(const struct send_h1 *p, const struct send_req *r)
{
	if (r->body.len > SEND_RESPONSE_MAX || p->head_bytes > SEND_HEAD_MAX + 4)
		abort();
}

static void check_done(const struct send_h1 *p, const struct send_req *r)
{
	if (p->st != H1_IDLE || r->status < 200 || r->status > 999)
		abort();
	if (strnlen(r->ctype, sizeof(r->ctype)) == sizeof(r->ctype) ||
	    strnlen(r->retry_after, sizeof(r->retry_after)) == sizeof(r->retry_after))
		abort();
	if (r->too_large && p->reuse)
		abort();
}

/*
 * Feeds data in slices (max_slice 0: all at once) into a fresh reader.
 * After the response completes the rest is still fed: the reader must
 * refuse it (bytes with no request outstanding), never complete again.
 */
static void h1_feed(const uint8_t *data, size_t size, uint32_t seed, bool sliced, struct h1_run *run)
{
	struct evbuffer *in = evbuffer_new();
	struct send_h1 p;
	size_t off = 0, fed = 0;
	bool over = false; /* DONE or BAD seen */
	if (in == NULL)
		abort();
	memset(run, 0, sizeof(*run));
	buf_init(&run->r.body, SEND_RESPONSE_MAX);
	send_h1_start(&p);
	run->rc = SEND_H1_MORE;
	while (off < size) {
		size_t n = size - off;
		if (sliced) {
			uint32_t x = xorshift(&seed);
			size_t want = (x & 7) == 0 ? 1 + (x >> 3) % 4096 : 1 + (x >> 3) % 16;
			n = want < n ? want : n;
		}
		evbuffer_add(in, data + off, n);
		off += n;
		fed += n;
		const char *detail = NULL;
		enum send_h1_rc rc = send_h1_parse(&p, &run->r, in, &detail);
		check_caps(&p, &run->r);
		if (over) {
			if (rc != SEND_H1_BAD) /* idle reader given bytes: must refuse them */
				abort();
			break;
		}
		if (rc == SEND_H1_MORE)
			continue;
		over = true;
		run->rc = rc;
		run->detail = detail;
		if (rc == SEND_H1_BAD) {
			if (detail == NULL)
				abort();
			break;
		}
		check_done(&p, &run->r);
		run->consumed = fed - evbuffer_get_length(in);
		if (evbuffer_get_length(in) > 0) { /* pipelined bytes already here: refused at once */
			if (send_h1_parse(&p, &run->r, in, &detail) != SEND_H1_BAD)
				abort();
			break;
		}
	}
	/* the server closes */
	bool eof = send_h1_parse_eof(&p);
	if (over && eof)
		abort(); /* a second completion */
	if (!over && eof) {
		run->eof_done = true;
		check_done(&p, &run->r);
		if (p.reuse)
			abort(); /* close-delimited: never reused */
	}
	if (send_h1_parse_eof(&p))
		abort(); /* the close completes at most once */
	evbuffer_free(in);
}

static void h1_compare(const struct h1_run *a, const struct h1_run *b)
{
	if (a->rc != b->rc || a->eof_done != b->eof_done)
		abort();
	if (a->rc == SEND_H1_BAD) {
		if (strcmp(a->detail, b->detail) != 0)
			abort();
		return;
	}
	if (a->rc != SEND_H1_DONE && !a->eof_done)
		return; /* incomplete: nothing settled yet */
	if (a->r.status != b->r.status || a->r.too_large != b->r.too_large || a->r.has_ctype != b->r.has_ctype ||
	    a->r.has_retry_after != b->r.has_retry_after)
		abort();
	if (a->r.has_ctype && strcmp(a->r.ctype, b->r.ctype) != 0)
		abort();
	if (a->r.has_retry_after && strcmp(a->r.retry_after, b->r.retry_after) != 0)
		abort();
	if (!a->r.too_large && (a->consumed != b->consumed || a->r.body.len != b->r.body.len ||
				(a->r.body.len > 0 && memcmp(a->r.body.data, b->r.body.data, a->r.body.len) != 0)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_run whole, sliced;
	if (size < 2)
		return 0;
	uint32_t seed = ((uint32_t)data[0] << 8 | data[1]) * 2654435761u + 1; /* xorshift needs non-zero */
	if (seed == 0)
		seed = 1;
	h1_feed(data + 2, size - 2, seed, false, &whole);
	h1_feed(data + 2, size - 2, seed, true, &sliced);
	h1_compare(&whole, &sliced);
	buf_fini(&whole.r.body);
	buf_fini(&sliced.r.body);
	return 0;
}
