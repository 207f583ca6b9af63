/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the HTTP/1.1 parser shared by its two files, by role:
 *   http_parse.c          set-up, the head (scan, start line, header fields,
 *                         framing), Content-Length and close-delimited
 *                         bodies, http_parse_feed/http_parse_eof
 *   http_parse_chunked.c  the chunked transfer coding: chunk-size lines,
 *                         extensions, chunk data and the trailer section
 * Not a public interface: only these two files include it (the parser's
 * state lives in the private part of struct http_parser). The character
 * classes and fail() run on every byte or every rejection, so they are
 * static inline here and the split costs no calls.
 */
#ifndef LLMGW_GATEWAY_HTTP_PARSE_INT_H
#define LLMGW_GATEWAY_HTTP_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/http_parse.h"

/* p->state: where the message is (the ST_CHUNK_* and ST_TRAILER states are http_parse_chunked.c's). */
enum {
	ST_HEAD = 0,
	ST_LENGTH,
	ST_CLOSE,
	ST_CHUNK_SIZE,
	ST_CHUNK_EXT,
	ST_CHUNK_SIZE_LF,
	ST_CHUNK_DATA,
	ST_CHUNK_DATA_CR,
	ST_CHUNK_DATA_LF,
	ST_TRAILER,
	ST_DONE_PENDING, /* complete, DONE not reported yet */
	ST_DONE,
	ST_ERROR,
};

/* RFC 9110 tchar. */
static const uint8_t tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0'] = 1,  ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1,  ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,  ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,
    ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,  ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,  ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,  ['z'] = 1,
};

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* field-value bytes: HTAB, SP, VCHAR, obs-text; never CR, LF, NUL or other controls. */
static inline bool value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Sets the error (a static message, never input bytes) and stops the parser for good. */
static inline enum http_parse_status fail(struct http_parser *p, enum http_parse_err e, const char *msg)
{
	static const int status[] = {
	    [HTTP_PERR_NONE] = 400,	      [HTTP_PERR_SYNTAX] = 400,		[HTTP_PERR_FRAMING] = 400,
	    [HTTP_PERR_LINE_TOO_LONG] = 414,  [HTTP_PERR_HEAD_TOO_LARGE] = 431, [HTTP_PERR_TOO_MANY_HEADERS] = 431,
	    [HTTP_PERR_BODY_TOO_LARGE] = 413, [HTTP_PERR_UNSUPPORTED_TE] = 501, [HTTP_PERR_VERSION] = 505,
	    [HTTP_PERR_EXPECT] = 417,	      [HTTP_PERR_TRUNCATED] = 400,
	};
	p->err = e;
	p->err_status = status[e];
	p->err_msg = msg;
	p->state = ST_ERROR;
	return HTTP_PARSE_ERROR;
}

/* ---- http_parse_chunked.c ------------------------------------------------------ */

/*
 * Feeds a chunked body from p->state (one of the ST_CHUNK_* or ST_TRAILER
 * states): DATA with one slice of chunk data, DONE after the trailer
 * section, AGAIN when buf is used up, ERROR via fail().
 */
enum http_parse_status http_parse_feed_chunked(struct http_parser *p, const char *buf, size_t len, size_t *used,
					       struct http_slice *data);

#endif
