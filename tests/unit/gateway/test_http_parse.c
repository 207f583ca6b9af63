/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/http_parse: tables of valid and invalid requests
 * (every limit, every request-smuggling shape RFC 9112 warns about),
 * pipelining, responses (1xx, HEAD/204/304, chunked, close-delimited), and
 * every message fed split at every byte boundary. The driver copies the
 * caller's unconsumed bytes into a fresh, exactly-sized allocation for each
 * call, so the buffer moves between calls (allowed while a head is
 * incomplete) and ASan catches any read past what was presented.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/http_parse.h"

#define MAXMSG 4

struct seen {
	int heads, dones;
	enum http_parse_err err;
	int err_status;
	bool err_head_done;
	struct {
		enum http_method method;
		char target[128];
		int status;
		int minor;
		bool keep_alive, expect;
		enum http_body_kind kind;
		uint64_t cl;
		size_t nhdrs;
		char hdr_last[160]; /* "name=value" of the last header */
		char body[8192];
		size_t body_len;
	} m[MAXMSG];
};

static void take_head(const struct http_parser *p, struct seen *s)
{
	const struct http_msg *m = &p->msg;
	int i = s->heads < MAXMSG ? s->heads : MAXMSG - 1;
	s->m[i].method = m->method;
	snprintf(s->m[i].target, sizeof(s->m[i].target), "%.*s", (int)m->target.n,
		 m->target.p != NULL ? m->target.p : "");
	s->m[i].status = m->status;
	s->m[i].minor = m->minor_version;
	s->m[i].keep_alive = m->keep_alive;
	s->m[i].expect = m->expect_continue;
	s->m[i].kind = m->body;
	s->m[i].cl = m->content_length;
	s->m[i].nhdrs = m->nhdrs;
	if (m->nhdrs > 0) {
		const struct http_hdr *h = &m->hdrs[m->nhdrs - 1];
		snprintf(s->m[i].hdr_last, sizeof(s->m[i].hdr_last), "%.*s=%.*s", (int)h->name_len, h->name,
			 (int)h->value_len, h->value);
	}
	s->heads++;
}

/*
 * Feeds in[0..n) `step` bytes at a time (0 = all at once), continuing with
 * the next message after each DONE; calls http_parse_eof at the end when
 * eof. Returns the last status.
 */
static enum http_parse_status drive(struct http_parser *p, const char *in, size_t n, size_t step, bool eof,
				    bool head_request, struct seen *s)
{
	size_t fed = step == 0 ? n : (step < n ? step : n), cons = 0;
	enum http_parse_status st;
	memset(s, 0, sizeof(*s));
	for (;;) {
		size_t avail = fed - cons, used = 99999;
		char *copy = malloc(avail > 0 ? avail : 1);
		struct http_slice d = {NULL, 0};
		assert_non_null(copy);
		memcpy(copy, in + cons, avail);
		st = http_parse_feed(p, copy, avail, &used, &d);
		assert_true(used <= avail);
		if (st == HTTP_PARSE_HEAD)
			take_head(p, s);
		if (st == HTTP_PARSE_DATA) {
			int i = s->heads > 0 ? s->heads - 1 : 0;
			assert_true(d.p >= copy && d.p + d.n <= copy + avail);
			assert_true(d.n > 0);
			assert_true(s->m[i].body_len + d.n <= sizeof(s->m[i].body));
			memcpy(s->m[i].body + s->m[i].body_len, d.p, d.n);
			s->m[i].body_len += d.n;
		}
		free(copy);
		cons += used;
		if (st == HTTP_PARSE_ERROR) {
			s->err = p->err;
			s->err_status = p->err_status;
			s->err_head_done = p->head_done;
			assert_non_null(p->err_msg);
			return st;
		}
		if (st == HTTP_PARSE_DONE) {
			s->dones++;
			http_parse_next(p, head_request);
			if (cons == n && !eof)
				return st;
			continue;
		}
		if (st == HTTP_PARSE_AGAIN) {
			if (fed == n) {
				if (!eof)
					return st;
				st = http_parse_eof(p);
				if (st == HTTP_PARSE_DONE)
					s->dones++;
				if (st == HTTP_PARSE_ERROR) {
					s->err = p->err;
					s->err_status = p->err_status;
				}
				return st;
			}
			fed = step == 0 || fed + step > n ? n : fed + step;
		}
	}
}

static const struct http_limits test_lim = {8192, 32768, 100, 1 << 20};

static enum http_parse_status req(const char *in, size_t step, struct seen *s)
{
	struct http_parser p;
	struct http_hdr hdrs[100];
	http_parse_init_request(&p, &test_lim, hdrs, 100);
	return drive(&p, in, strlen(in), step, false, false, s);
}

/* ---- valid requests ---------------------------------------------------------------- */

static void test_valid_requests(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum http_method method;
		const char *target;
		bool keep_alive;
		enum http_body_kind kind;
		const char *body;
		const char *hdr_last;
	} t[] = {
	    {"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, "/v1/models", true, HTTP_BODY_NONE, "",
	     "Host=a"},
	    {"GET / HTTP/1.0\r\n\r\n", HTTP_METHOD_GET, "/", false, HTTP_BODY_NONE, "", ""},
	    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HTTP_METHOD_GET, "/", true, HTTP_BODY_NONE, "",
	     "Connection=Keep-Alive"},
	    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", HTTP_METHOD_GET, "/", false, HTTP_BODY_NONE,
	     "", "Connection=foo, close"},
	    {"HEAD /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A:  \t v v \t \r\n\r\n", HTTP_METHOD_HEAD, "/x?y=1", true,
	     HTTP_BODY_NONE, "", "X-A=v v"},
	    {"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", HTTP_METHOD_POST, "/c", true,
	     HTTP_BODY_LENGTH, "hello", "Content-Length=5"},
	    {"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\nhello", HTTP_METHOD_POST,
	     "/c", true, HTTP_BODY_LENGTH, "hello", "content-length=5"},
	    {"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", HTTP_METHOD_POST, "/c", true, HTTP_BODY_LENGTH,
	     "", "Content-Length=0"},
	    {"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1;q=\"x\"\r\n "
	     "world\r\n0\r\nTrailer-A: 1\r\nB: 2\r\n\r\n",
	     HTTP_METHOD_POST, "/c", true, HTTP_BODY_CHUNKED, "hello world", "Transfer-Encoding=chunked"},
	    {"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n000A\r\n0123456789\r\n00\r\n\r\n",
	     HTTP_METHOD_POST, "/c", true, HTTP_BODY_CHUNKED, "0123456789", "Transfer-Encoding=CHUNKED"},
	    {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, "/", true, HTTP_BODY_NONE, "", "Host=a"},
	    {"PURGE * HTTP/1.1\r\nHost: a\r\nx-empty:\r\n\r\n", HTTP_METHOD_OTHER, "*", true, HTTP_BODY_NONE, "",
	     "x-empty="},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", HTTP_METHOD_GET, "/", true, HTTP_BODY_NONE, "",
	     "X-Utf8=caf\xc3\xa9"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct seen s;
		for (size_t step = 0; step <= 3; step++) {
			enum http_parse_status st = req(t[i].in, step, &s);
			if (st != HTTP_PARSE_DONE || s.dones != 1)
				fail_msg("case %zu step %zu: status %d err %d", i, step, st, s.err);
			assert_int_equal(s.m[0].method, t[i].method);
			assert_string_equal(s.m[0].target, t[i].target);
			assert_int_equal(s.m[0].keep_alive, t[i].keep_alive);
			assert_int_equal(s.m[0].kind, t[i].kind);
			assert_int_equal(s.m[0].body_len, strlen(t[i].body));
			assert_memory_equal(s.m[0].body, t[i].body, s.m[0].body_len);
			assert_string_equal(s.m[0].hdr_last, t[i].hdr_last);
		}
	}
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct seen s;
	assert_int_equal(
	    req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok", 0, &s),
	    HTTP_PARSE_DONE);
	assert_true(s.m[0].expect);
	/* HTTP/1.0 clients cannot expect 100 (RFC 9110 10.1.1) */
	assert_int_equal(req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 0, &s),
			 HTTP_PARSE_DONE);
	assert_false(s.m[0].expect);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nok", 0, &s),
			 HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_EXPECT);
	assert_int_equal(s.err_status, 417);
	assert_true(s.err_head_done);
}

/* ---- invalid requests ---------------------------------------------------------------- */

static void test_invalid_requests(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum http_parse_err err;
		int status;
	} t[] = {
	    /* line syntax */
	    {"GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP_PERR_SYNTAX, 400},
	    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET /\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP_PERR_VERSION, 505},
	    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", HTTP_PERR_VERSION, 505},
	    {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\n\rHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    /* header syntax */
	    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n continued\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tcontinued\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost a\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\x01x\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    /* Host */
	    {"GET / HTTP/1.1\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    /* smuggling: Content-Length */
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", HTTP_PERR_FRAMING,
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    /* smuggling: Transfer-Encoding */
	    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	     HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	     HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
	     HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_PERR_UNSUPPORTED_TE, 501},
	    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HTTP_PERR_FRAMING, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", HTTP_PERR_SYNTAX, 400},
	    /* chunk framing */
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
	     HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	     HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", HTTP_PERR_SYNTAX,
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
	     HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", HTTP_PERR_SYNTAX,
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
	     HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n", HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n", HTTP_PERR_SYNTAX,
	     400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", HTTP_PERR_SYNTAX, 400},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
	     HTTP_PERR_BODY_TOO_LARGE, 413},
	    /* Expect */
	    {"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", HTTP_PERR_EXPECT, 417},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (size_t step = 0; step <= 1; step++) {
			struct seen s;
			enum http_parse_status st = req(t[i].in, step, &s);
			if (st != HTTP_PARSE_ERROR || s.err != t[i].err || s.err_status != t[i].status)
				fail_msg("case %zu step %zu: status %d err %d/%d, want err %d/%d", i, step, st, s.err,
					 s.err_status, t[i].err, t[i].status);
		}
	}
}

/* ---- limits --------------------------------------------------------------------------- */

static char *repeat_into(char *out, const char *prefix, char ch, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix);
	memcpy(out, prefix, pl);
	memset(out + pl, ch, n);
	memcpy(out + pl + n, suffix, strlen(suffix) + 1);
	return out;
}

static void test_limits(void **state)
{
	(void)state;
	static char big[80000];
	struct seen s;
	/* request line: 8192 bytes is fine, 8193 is 414 (with or without the CRLF yet) */
	repeat_into(big, "GET /", 'a', 8192 - 14, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(strlen("GET /") + 8192 - 14 + strlen(" HTTP/1.1"), 8192);
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_DONE);
	repeat_into(big, "GET /", 'a', 8192 - 13, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err_status, 414);
	repeat_into(big, "GET /", 'a', 9000, "");
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_LINE_TOO_LONG);

	/* total head: exactly max_head is fine, one byte more is 431, even before the end arrives */
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t fill = 32768 - strlen(pre) - 4;
	repeat_into(big, pre, 'v', fill, "\r\n\r\n");
	assert_int_equal(strlen(big), 32768);
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_DONE);
	repeat_into(big, pre, 'v', fill + 1, "\r\n\r\n");
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_HEAD_TOO_LARGE);
	assert_int_equal(s.err_status, 431);
	repeat_into(big, pre, 'v', 40000, "");
	assert_int_equal(req(big, 4096, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err_status, 431);

	/* header count: 100 fine, 101 is 431 */
	for (int count = 100; count <= 101; count++) {
		size_t off = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
		for (int k = 1; k < count; k++)
			off += (size_t)snprintf(big + off, sizeof(big) - off, "X-%d: %d\r\n", k, k);
		snprintf(big + off, sizeof(big) - off, "\r\n");
		enum http_parse_status st = req(big, 0, &s);
		if (count == 100) {
			assert_int_equal(st, HTTP_PARSE_DONE);
			assert_int_equal(s.m[0].nhdrs, 100);
		} else {
			assert_int_equal(st, HTTP_PARSE_ERROR);
			assert_int_equal(s.err, HTTP_PERR_TOO_MANY_HEADERS);
			assert_int_equal(s.err_status, 431);
		}
	}

	/* body: Content-Length exactly max_body is fine, +1 is 413 right after the head */
	snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", (1 << 20) + 1);
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_BODY_TOO_LARGE);
	assert_int_equal(s.err_status, 413);
	assert_true(s.err_head_done);
	snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 1 << 20);
	assert_int_equal(req(big, 0, &s), HTTP_PARSE_AGAIN);
	assert_int_equal(s.heads, 1);

	/* chunked: the running total counts */
	struct http_parser p;
	struct http_hdr hdrs[8];
	struct http_limits small = {8192, 32768, 8, 10};
	const char *ch =
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n";
	http_parse_init_request(&p, &small, hdrs, 8);
	assert_int_equal(drive(&p, ch, strlen(ch), 0, false, false, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_BODY_TOO_LARGE);
	assert_int_equal(s.m[0].body_len, 5);
	/* the header array caps the count too */
	http_parse_init_request(&p, NULL, hdrs, 2);
	assert_int_equal(drive(&p, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 39, 0, false, false, &s),
			 HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_TOO_MANY_HEADERS);
}

/* ---- pipelining and byte-boundary splits --------------------------------------------------- */

static void test_pipelining(void **state)
{
	(void)state;
	const char *in = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
			 "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
			 "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
			 "GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	for (size_t step = 0; step <= 7; step++) {
		struct seen s;
		struct http_parser p;
		struct http_hdr hdrs[16];
		http_parse_init_request(&p, &test_lim, hdrs, 16);
		assert_int_equal(drive(&p, in, strlen(in), step, false, false, &s), HTTP_PARSE_DONE);
		assert_int_equal(s.dones, 4);
		assert_string_equal(s.m[0].target, "/a");
		assert_string_equal(s.m[1].target, "/b");
		assert_memory_equal(s.m[1].body, "xyz", 3);
		assert_string_equal(s.m[2].target, "/c");
		assert_memory_equal(s.m[2].body, "hi", 2);
		assert_string_equal(s.m[3].target, "/d");
		assert_false(s.m[3].keep_alive);
	}
}

/* Feeds msg split into two calls at every position; the result must not depend on the split. */
static void split_everywhere(const char *msg, bool response, bool eof, const char *want_body)
{
	size_t n = strlen(msg);
	for (size_t cut = 0; cut <= n; cut++) {
		struct http_parser p;
		struct http_hdr hdrs[16];
		struct seen s;
		size_t cons = 0, used;
		struct http_slice d;
		char body[4096];
		size_t blen = 0;
		bool done = false;
		if (response)
			http_parse_init_response(&p, &test_lim, hdrs, 16, false);
		else
			http_parse_init_request(&p, &test_lim, hdrs, 16);
		memset(&s, 0, sizeof(s));
		for (int part = 0; part < 2 && !done; part++) {
			size_t end = part == 0 ? cut : n;
			for (;;) {
				size_t avail = end - cons;
				char *copy = malloc(avail > 0 ? avail : 1);
				memcpy(copy, msg + cons, avail);
				enum http_parse_status st = http_parse_feed(&p, copy, avail, &used, &d);
				if (st == HTTP_PARSE_DATA) {
					memcpy(body + blen, d.p, d.n);
					blen += d.n;
				}
				free(copy);
				cons += used;
				if (st == HTTP_PARSE_ERROR)
					fail_msg("cut %zu: error %s", cut, p.err_msg);
				if (st == HTTP_PARSE_DONE) {
					done = true;
					break;
				}
				if (st == HTTP_PARSE_AGAIN)
					break;
			}
		}
		if (!done && eof)
			done = http_parse_eof(&p) == HTTP_PARSE_DONE;
		if (!done)
			fail_msg("cut %zu: not done", cut);
		assert_int_equal(blen, strlen(want_body));
		assert_memory_equal(body, want_body, blen);
	}
}

static void test_split_every_byte(void **state)
{
	(void)state;
	split_everywhere("\r\nPOST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5;x=y\r\nhello\r\n1\r\n \r\n0005\r\nworld\r\n0\r\nT: 1\r\n\r\n",
			 false, false, "hello world");
	split_everywhere("POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", false, false,
			 "hello world");
	split_everywhere("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "6\r\ndata: \r\n5\r\nhello\r\n0\r\n\r\n",
			 true, false, "data: hello");
	split_everywhere("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", true, true, "until close");
}

/* ---- responses ---------------------------------------------------------------------------------- */

static enum http_parse_status resp(const char *in, bool head_request, bool eof, struct seen *s)
{
	struct http_parser p;
	struct http_hdr hdrs[32];
	http_parse_init_response(&p, &test_lim, hdrs, 32, head_request);
	return drive(&p, in, strlen(in), 1, eof, head_request, s);
}

static void test_responses(void **state)
{
	(void)state;
	struct seen s;
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", false, false, &s), HTTP_PARSE_DONE);
	assert_int_equal(s.m[0].status, 200);
	assert_true(s.m[0].keep_alive);
	assert_memory_equal(s.m[0].body, "{}", 2);
	/* no reason phrase, with and without the SP */
	assert_int_equal(resp("HTTP/1.1 204\r\n\r\n", false, false, &s), HTTP_PARSE_DONE);
	assert_int_equal(s.m[0].status, 204);
	assert_int_equal(resp("HTTP/1.1 429 \r\nContent-Length: 0\r\n\r\n", false, false, &s), HTTP_PARSE_DONE);
	/* 1xx are skipped (several), the final head is reported once */
	assert_int_equal(resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
			      "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
			      false, false, &s),
			 HTTP_PARSE_DONE);
	assert_int_equal(s.heads, 1);
	assert_int_equal(s.m[0].status, 201);
	/* HEAD, 204 and 304 have no body whatever the headers say */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, false, &s), HTTP_PARSE_DONE);
	assert_int_equal(s.m[0].kind, HTTP_BODY_NONE);
	assert_int_equal(resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, &s),
			 HTTP_PARSE_DONE);
	/* close-delimited: DONE only at EOF, never kept alive */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n\r\nabc", false, false, &s), HTTP_PARSE_AGAIN);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n\r\nabc", false, true, &s), HTTP_PARSE_DONE);
	assert_false(s.m[0].keep_alive);
	assert_int_equal(s.m[0].kind, HTTP_BODY_CLOSE);
	assert_memory_equal(s.m[0].body, "abc", 3);
	/* HTTP/1.0 keep-alive rules */
	assert_int_equal(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, &s), HTTP_PARSE_DONE);
	assert_false(s.m[0].keep_alive);
	assert_int_equal(
	    resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, false, &s),
	    HTTP_PARSE_DONE);
	assert_true(s.m[0].keep_alive);
	/* chunks are delivered one by one (streaming) */
	assert_int_equal(
	    resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, false, &s),
	    HTTP_PARSE_DONE);
	assert_memory_equal(s.m[0].body, "abc", 3);

	/* errors */
	static const char *const bad[] = {
	    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 099 x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
	    "HTTP/2 200\r\n\r\n",
	    "ICY 200 OK\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (resp(bad[i], false, false, &s) != HTTP_PARSE_ERROR)
			fail_msg("bad response %zu accepted", i);
	/* truncated: EOF in the head, in a length body, in a chunk */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Le", false, true, &s), HTTP_PARSE_ERROR);
	assert_int_equal(s.err, HTTP_PERR_TRUNCATED);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", false, true, &s), HTTP_PARSE_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false, true, &s),
			 HTTP_PARSE_ERROR);
	/* EOF before anything: a clean close, not an error */
	assert_int_equal(resp("", false, true, &s), HTTP_PARSE_AGAIN);
}

static void test_helpers(void **state)
{
	(void)state;
	struct http_parser p;
	struct http_hdr hdrs[4];
	size_t used;
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc\r\n\r\n";
	http_parse_init_request(&p, NULL, hdrs, 4);
	assert_false(http_parse_in_message(&p));
	assert_int_equal(http_parse_feed(&p, in, 5, &used, NULL), HTTP_PARSE_AGAIN);
	assert_true(http_parse_in_message(&p));
	assert_int_equal(http_parse_eof(&p), HTTP_PARSE_ERROR);
	http_parse_init_request(&p, NULL, hdrs, 4);
	assert_int_equal(http_parse_feed(&p, in, strlen(in), &used, NULL), HTTP_PARSE_HEAD);
	assert_int_equal(used, strlen(in));
	assert_int_equal(p.msg.head_len, strlen(in));
	const struct http_hdr *h = http_parse_header(&p.msg, "x-request-id");
	assert_non_null(h);
	assert_memory_equal(h->value, "abc", 3);
	assert_null(http_parse_header(&p.msg, "x-request"));
	assert_int_equal(http_parse_feed(&p, in + used, 0, &used, NULL), HTTP_PARSE_DONE);
	assert_false(http_parse_in_message(&p));
	assert_true(http_parse_has_token("a, Close ,b", 11, "close"));
	assert_false(http_parse_has_token("closed", 6, "close"));
	assert_string_equal(http_parse_method_name(HTTP_METHOD_PATCH), "PATCH");
	assert_string_equal(http_parse_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_parse_reason(799), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_requests),   cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_invalid_requests), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_pipelining),	     cmocka_unit_test(test_split_every_byte),
	    cmocka_unit_test(test_responses),	     cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
