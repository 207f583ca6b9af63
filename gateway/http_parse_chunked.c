/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunked transfer coding of HTTP/1.1 bodies (RFC 9112 section 7.1),
 * for both directions: entered from http_parse_feed once the head said
 * "Transfer-Encoding: chunked" (the head and the other bodies are
 * http_parse.c; the shared states and helpers are http_parse_int.h).
 *
 * A byte-level state machine, resumable at any byte: the chunk-size line
 * (hex digits, optional extensions, bounded to CHUNK_LINE_MAX bytes), the
 * chunk data handed out as zero-copy slices, the CRLF after each chunk,
 * and after the last chunk a trailer section that is validated, bounded by
 * max_head and discarded. The running total of decoded bytes is checked
 * against max_body before a chunk's data is accepted.
 */
#include "gateway/http_parse.h"

#include <stdint.h>

#include "gateway/http_parse_int.h"

/* Trailer line sub-states (p->sub). */
enum { TR_LINE_START = 0, TR_IN_LINE, TR_CR, TR_END_LF };

#define CHUNK_LINE_MAX 4096 /* chunk-size line incl. extensions */

/* ---- bodies ----------------------------------------------------------------------- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Trailer section after the last chunk: validated, bounded, discarded. */
static enum http_parse_status trailer_byte(struct http_parser *p, unsigned char c)
{
	if (++p->trailer_len > p->lim.max_head)
		return fail(p, HTTP_PERR_HEAD_TOO_LARGE, "trailer section too large");
	switch (p->sub) {
	case TR_LINE_START:
		if (c == '\r') {
			p->sub = TR_END_LF;
			return HTTP_PARSE_AGAIN;
		}
		if (c == ' ' || c == '\t' || !tchar[c])
			return fail(p, HTTP_PERR_SYNTAX, "malformed trailer field");
		p->sub = TR_IN_LINE;
		return HTTP_PARSE_AGAIN;
	case TR_IN_LINE:
		if (c == '\r')
			p->sub = TR_CR;
		else if (!value_char(c) && c != ':')
			return fail(p, HTTP_PERR_SYNTAX, "malformed trailer field");
		return HTTP_PARSE_AGAIN;
	case TR_CR:
		if (c != '\n')
			return fail(p, HTTP_PERR_SYNTAX, "bare CR in trailer");
		p->sub = TR_LINE_START;
		return HTTP_PARSE_AGAIN;
	default: /* TR_END_LF */
		if (c != '\n')
			return fail(p, HTTP_PERR_SYNTAX, "bare CR after the last chunk");
		p->state = ST_DONE;
		return HTTP_PARSE_DONE;
	}
}

/* Chunk-size line: 1*HEXDIG [ BWS ; ext ] CRLF. */
static enum http_parse_status chunk_size_byte(struct http_parser *p, unsigned char c)
{
	if (++p->ext_len > CHUNK_LINE_MAX)
		return fail(p, HTTP_PERR_SYNTAX, "chunk-size line too long");
	if (p->state == ST_CHUNK_SIZE) {
		int v = hexval(c);
		if (v >= 0) {
			if (p->remaining > (UINT64_MAX >> 4))
				return fail(p, HTTP_PERR_BODY_TOO_LARGE, "chunk size too large");
			p->remaining = (p->remaining << 4) | (uint64_t)v;
			return HTTP_PARSE_AGAIN;
		}
		if (p->ext_len == 1)
			return fail(p, HTTP_PERR_SYNTAX, "malformed chunk size");
		if (c == '\r') {
			p->state = ST_CHUNK_SIZE_LF;
			return HTTP_PARSE_AGAIN;
		}
		if (c != ';' && c != ' ' && c != '\t')
			return fail(p, HTTP_PERR_SYNTAX, "malformed chunk size");
		p->state = ST_CHUNK_EXT;
		return HTTP_PARSE_AGAIN;
	}
	if (p->state == ST_CHUNK_EXT) {
		if (c == '\r')
			p->state = ST_CHUNK_SIZE_LF;
		else if (!value_char(c))
			return fail(p, HTTP_PERR_SYNTAX, "invalid character in a chunk extension");
		return HTTP_PARSE_AGAIN;
	}
	/* ST_CHUNK_SIZE_LF */
	if (c != '\n')
		return fail(p, HTTP_PERR_SYNTAX, "bare CR in a chunk-size line");
	p->ext_len = 0;
	if (p->remaining == 0) {
		p->state = ST_TRAILER;
		p->sub = TR_LINE_START;
		return HTTP_PARSE_AGAIN;
	}
	if (p->remaining > p->lim.max_body - p->total || p->total > p->lim.max_body)
		return fail(p, HTTP_PERR_BODY_TOO_LARGE,
			    p->response ? "response body too large" : "request body too large");
	p->state = ST_CHUNK_DATA;
	return HTTP_PARSE_AGAIN;
}

enum http_parse_status http_parse_feed_chunked(struct http_parser *p, const char *buf, size_t len, size_t *used,
					       struct http_slice *data)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)buf[i];
		enum http_parse_status st = HTTP_PARSE_AGAIN;
		switch (p->state) {
		case ST_CHUNK_DATA: {
			size_t n = len - i < p->remaining ? len - i : (size_t)p->remaining;
			p->remaining -= n;
			p->total += n;
			if (p->remaining == 0)
				p->state = ST_CHUNK_DATA_CR;
			if (data != NULL)
				*data = (struct http_slice){buf + i, n};
			*used = i + n;
			return HTTP_PARSE_DATA;
		}
		case ST_CHUNK_DATA_CR:
			if (c != '\r')
				return fail(p, HTTP_PERR_SYNTAX, "missing CRLF after chunk data");
			p->state = ST_CHUNK_DATA_LF;
			break;
		case ST_CHUNK_DATA_LF:
			if (c != '\n')
				return fail(p, HTTP_PERR_SYNTAX, "missing CRLF after chunk data");
			p->state = ST_CHUNK_SIZE;
			p->remaining = 0;
			p->ext_len = 0;
			break;
		case ST_TRAILER:
			st = trailer_byte(p, c);
			break;
		default:
			st = chunk_size_byte(p, c);
			break;
		}
		i++;
		if (st == HTTP_PARSE_ERROR)
			return st;
		if (st == HTTP_PARSE_DONE) {
			*used = i;
			return st;
		}
	}
	*used = len;
	return HTTP_PARSE_AGAIN;
}
