/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 message parsing (RFC 9112), see http_parse.h for the calling
 * protocol. The head is handled in two steps: an incremental scan that
 * only looks for line ends (resumable at any byte, enforcing the size and
 * count limits as bytes arrive, so an oversized head is refused before it
 * is buffered whole), then one pass over the complete head that fills the
 * zero-copy slices and decides the framing. Bodies are a byte-level state
 * machine that consumes framing as it goes and hands out data slices:
 * Content-Length and close-delimited bodies here, chunked transfer coding
 * (chunk-size lines, extensions, trailers) in http_parse_chunked.c. The
 * states, character classes and fail() both files use are in
 * http_parse_int.h.
 *
 * Every rejection sets a static err_msg: the parser never copies input into
 * messages, so nothing a client sends can end up in a log line unescaped.
 */
#include "gateway/http_parse.h"

#include <string.h>

#include "gateway/http_parse_int.h"

/* Case-insensitive equality of a slice with a lower-case literal. */
static bool ieq(const char *s, size_t n, const char *lit, size_t litn)
{
	if (n != litn)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}
#define IEQ(s, n, lit) ieq((s), (n), (lit), sizeof(lit) - 1)

/* ---- set-up ------------------------------------------------------------------ */

static void reset_message(struct http_parser *p)
{
	memset(&p->msg, 0, sizeof(p->msg));
	p->msg.hdrs = p->hdr_buf;
	p->err = HTTP_PERR_NONE;
	p->err_status = 0;
	p->err_msg = NULL;
	p->head_done = false;
	p->state = ST_HEAD;
	p->sub = 0;
	p->scan = 0;
	p->line_start = 0;
	p->lines = 0;
	p->remaining = 0;
	p->total = 0;
	p->ext_len = 0;
	p->trailer_len = 0;
}

static void init_common(struct http_parser *p, const struct http_limits *lim, struct http_hdr *hdrs, size_t cap)
{
	static const struct http_limits defaults = {HTTP_PARSE_MAX_LINE_DEFAULT, HTTP_PARSE_MAX_HEAD_DEFAULT,
						    HTTP_PARSE_MAX_HEADERS_DEFAULT, HTTP_PARSE_BODY_UNLIMITED};
	memset(p, 0, sizeof(*p));
	p->lim = lim != NULL ? *lim : defaults;
	p->hdr_buf = hdrs;
	p->hdr_cap = cap < p->lim.max_headers ? cap : p->lim.max_headers;
	reset_message(p);
}

void http_parse_init_request(struct http_parser *p, const struct http_limits *lim, struct http_hdr *hdrs, size_t cap)
{
	init_common(p, lim, hdrs, cap);
	p->response = false;
}

void http_parse_init_response(struct http_parser *p, const struct http_limits *lim, struct http_hdr *hdrs, size_t cap,
			      bool head_request)
{
	init_common(p, lim, hdrs, cap);
	p->response = true;
	p->head_request = head_request;
}

void http_parse_next(struct http_parser *p, bool head_request)
{
	reset_message(p);
	if (p->response)
		p->head_request = head_request;
}

bool http_parse_in_message(const struct http_parser *p)
{
	return (p->state != ST_HEAD && p->state != ST_DONE) || (p->state == ST_HEAD && p->scan > 0);
}

/* ---- start lines --------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t len;
	enum http_method m;
} methods[] = {
    {"GET", 3, HTTP_METHOD_GET},     {"POST", 4, HTTP_METHOD_POST},	  {"HEAD", 4, HTTP_METHOD_HEAD},
    {"PUT", 3, HTTP_METHOD_PUT},     {"DELETE", 6, HTTP_METHOD_DELETE},	  {"OPTIONS", 7, HTTP_METHOD_OPTIONS},
    {"PATCH", 5, HTTP_METHOD_PATCH}, {"CONNECT", 7, HTTP_METHOD_CONNECT}, {"TRACE", 5, HTTP_METHOD_TRACE},
};

const char *http_parse_method_name(enum http_method m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "OTHER";
}

/* "HTTP/1.x" at s (8 bytes available). 0 ok, -1 syntax, -2 another version. */
static int parse_version(const char *s, int *minor)
{
	if (memcmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' || s[7] > '9')
		return -1;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return -2;
	*minor = s[7] - '0';
	return 0;
}

static enum http_parse_status request_line(struct http_parser *p, const char *s, size_t n)
{
	struct http_msg *m = &p->msg;
	size_t i = 0;
	while (i < n && tchar[(unsigned char)s[i]])
		i++;
	if (i == 0 || i >= n || s[i] != ' ')
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (method)");
	m->method_str = (struct http_slice){s, i};
	m->method = HTTP_METHOD_OTHER;
	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (methods[k].len == i && memcmp(methods[k].name, s, i) == 0)
			m->method = methods[k].m;
	size_t t = ++i;
	while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	if (i == t || (i < n && s[i] != ' '))
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (target)");
	m->target = (struct http_slice){s + t, i - t};
	if (i >= n) /* "GET /path": an HTTP/0.9 request, or garbage that looks like one */
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (no HTTP version; HTTP/0.9 is not supported)");
	i++;
	if (n - i != 8)
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (version)");
	int rc = parse_version(s + i, &m->minor_version);
	if (rc == -2)
		return fail(p, HTTP_PERR_VERSION, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
	if (rc < 0)
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (version)");
	return HTTP_PARSE_AGAIN;
}

static enum http_parse_status status_line(struct http_parser *p, const char *s, size_t n)
{
	struct http_msg *m = &p->msg;
	if (n < 12 || s[8] != ' ')
		return fail(p, HTTP_PERR_SYNTAX, "malformed status line");
	int rc = parse_version(s, &m->minor_version);
	if (rc == -2)
		return fail(p, HTTP_PERR_VERSION, "HTTP version not supported");
	if (rc < 0)
		return fail(p, HTTP_PERR_SYNTAX, "malformed status line");
	for (int k = 9; k < 12; k++)
		if (s[k] < '0' || s[k] > '9')
			return fail(p, HTTP_PERR_SYNTAX, "malformed status code");
	m->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (m->status < 100)
		return fail(p, HTTP_PERR_SYNTAX, "malformed status code");
	/* RFC 9112 requires the SP before an empty reason; some servers omit it */
	if (n > 12 && s[12] != ' ')
		return fail(p, HTTP_PERR_SYNTAX, "malformed status line");
	for (size_t i = 13; i < n; i++)
		if (!value_char((unsigned char)s[i]))
			return fail(p, HTTP_PERR_SYNTAX, "invalid character in reason phrase");
	m->reason = n > 13 ? (struct http_slice){s + 13, n - 13} : (struct http_slice){s + n, 0};
	return HTTP_PARSE_AGAIN;
}

/* ---- header semantics ------------------------------------------------------ */

/* What the framing headers said, gathered over all fields of one head. */
struct framing {
	bool has_cl, has_te, te_chunked_last, te_other, te_chunked_twice;
	uint64_t cl;
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool bad_cl, bad_expect;
	unsigned hosts;
};

/* Content-Length: 1*DIGIT, or a list of identical values (RFC 9112 6.3 5). */
static int content_length(struct framing *f, const char *v, size_t n)
{
	size_t i = 0;
	for (;;) {
		uint64_t x = 0;
		size_t d = 0;
		while (i < n && v[i] >= '0' && v[i] <= '9') {
			if (x > (UINT64_MAX - 9) / 10 || d >= 19)
				return -1;
			x = x * 10 + (uint64_t)(v[i] - '0');
			i++;
			d++;
		}
		if (d == 0 || (f->has_cl && x != f->cl))
			return -1;
		f->has_cl = true;
		f->cl = x;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i == n)
			return 0;
		if (v[i++] != ',')
			return -1;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
	}
}

/* Next non-empty element of a comma-separated list (OWS trimmed) from *i; false at the end. */
static bool list_next(const char *v, size_t n, size_t *i, const char **elem, size_t *elen)
{
	while (*i < n) {
		while (*i < n && (v[*i] == ' ' || v[*i] == '\t' || v[*i] == ','))
			(*i)++;
		size_t s = *i;
		while (*i < n && v[*i] != ',')
			(*i)++;
		size_t e = *i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			*elem = v + s;
			*elen = e - s;
			return true;
		}
	}
	return false;
}

/* Calls fn for each element of a comma-separated list. */
static void list_each(const char *v, size_t n, void (*fn)(struct framing *f, const char *e, size_t en),
		      struct framing *f)
{
	size_t i = 0, en;
	const char *e;
	while (list_next(v, n, &i, &e, &en))
		fn(f, e, en);
}

static void te_elem(struct framing *f, const char *e, size_t n)
{
	if (IEQ(e, n, "chunked")) {
		if (f->te_chunked_last)
			f->te_chunked_twice = true;
		f->te_chunked_last = true;
	} else {
		/* a coding after chunked: chunked is no longer last */
		if (f->te_chunked_last)
			f->te_chunked_twice = true;
		f->te_chunked_last = false;
		f->te_other = true;
	}
}

static void conn_elem(struct framing *f, const char *e, size_t n)
{
	if (IEQ(e, n, "close"))
		f->conn_close = true;
	else if (IEQ(e, n, "keep-alive"))
		f->conn_keep_alive = true;
	else if (IEQ(e, n, "upgrade"))
		f->conn_upgrade = true;
}

bool http_parse_has_token(const char *v, size_t n, const char *token)
{
	size_t tn = strlen(token), i = 0, en;
	const char *e;
	while (list_next(v, n, &i, &e, &en)) {
		size_t k = 0;
		while (k < tn && k < en && lower((unsigned char)e[k]) == lower((unsigned char)token[k]))
			k++;
		if (k == tn && en == tn)
			return true;
	}
	return false;
}

/* Interprets one field; problems are only noted here and judged once the head is complete. */
static void header_semantics(struct http_parser *p, struct framing *f, const struct http_hdr *h)
{
	switch (h->name_len) {
	case 4:
		if (IEQ(h->name, 4, "host"))
			f->hosts++;
		break;
	case 6:
		if (!p->response && IEQ(h->name, 6, "expect")) {
			if (IEQ(h->value, h->value_len, "100-continue"))
				p->msg.expect_continue = true;
			else
				f->bad_expect = true;
		}
		break;
	case 10:
		if (IEQ(h->name, 10, "connection"))
			list_each(h->value, h->value_len, conn_elem, f);
		break;
	case 14:
		if (IEQ(h->name, 14, "content-length") && content_length(f, h->value, h->value_len) < 0)
			f->bad_cl = true;
		break;
	case 17:
		if (IEQ(h->name, 17, "transfer-encoding")) {
			f->has_te = true;
			list_each(h->value, h->value_len, te_elem, f);
		}
		break;
	default:
		break;
	}
}

/* One "name: value" line (without CRLF) into the header array. */
static int header_line(struct http_parser *p, const char *s, size_t n, struct framing *f)
{
	struct http_msg *m = &p->msg;
	size_t i = 0;
	if (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
		fail(p, HTTP_PERR_SYNTAX, "obsolete line folding in a header");
		return -1;
	}
	while (i < n && tchar[(unsigned char)s[i]])
		i++;
	if (i == 0 || i >= n || s[i] != ':') {
		fail(p, HTTP_PERR_SYNTAX,
		     i < n && (s[i] == ' ' || s[i] == '\t') ? "whitespace before a header colon"
							    : "invalid header name");
		return -1;
	}
	size_t vs = i + 1;
	while (vs < n && (s[vs] == ' ' || s[vs] == '\t'))
		vs++;
	for (size_t k = vs; k < n; k++)
		if (!value_char((unsigned char)s[k])) {
			fail(p, HTTP_PERR_SYNTAX, "invalid character in a header value");
			return -1;
		}
	size_t ve = n;
	while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
		ve--;
	if (m->nhdrs >= p->hdr_cap) {
		fail(p, HTTP_PERR_TOO_MANY_HEADERS, "too many header fields");
		return -1;
	}
	struct http_hdr *h = &p->hdr_buf[m->nhdrs++];
	h->name = s;
	h->name_len = i;
	h->value = s + vs;
	h->value_len = ve - vs;
	header_semantics(p, f, h);
	return 0;
}

/* Body framing of a request (RFC 9112 6.1-6.3, strict). */
static enum http_parse_status request_framing(struct http_parser *p, const struct framing *f)
{
	struct http_msg *m = &p->msg;
	if (f->hosts > 1 || (f->hosts == 0 && m->minor_version == 1))
		return fail(p, HTTP_PERR_SYNTAX, "a request needs exactly one Host header");
	if (f->bad_cl)
		return fail(p, HTTP_PERR_FRAMING, "invalid or conflicting Content-Length");
	if (f->bad_expect)
		return fail(p, HTTP_PERR_EXPECT, "unsupported Expect (only 100-continue is)");
	if (f->has_te) {
		if (m->minor_version == 0)
			return fail(p, HTTP_PERR_FRAMING, "Transfer-Encoding in an HTTP/1.0 request");
		if (f->has_cl)
			return fail(p, HTTP_PERR_FRAMING, "both Content-Length and Transfer-Encoding");
		if (!f->te_chunked_last || f->te_chunked_twice)
			return fail(p, HTTP_PERR_FRAMING, "Transfer-Encoding must end in chunked (once)");
		if (f->te_other)
			return fail(p, HTTP_PERR_UNSUPPORTED_TE, "unsupported transfer coding (only chunked is)");
		m->body = HTTP_BODY_CHUNKED;
	} else if (f->has_cl) {
		m->body = HTTP_BODY_LENGTH;
		m->content_length = f->cl;
		if (f->cl > p->lim.max_body)
			return fail(p, HTTP_PERR_BODY_TOO_LARGE, "request body too large");
	}
	if (m->minor_version == 0)
		m->expect_continue = false; /* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 */
	return HTTP_PARSE_HEAD;
}

static enum http_parse_status response_framing(struct http_parser *p, const struct framing *f)
{
	struct http_msg *m = &p->msg;
	if (p->head_request || m->status == 204 || m->status == 304)
		return HTTP_PARSE_HEAD; /* no body whatever the headers say */
	if (f->bad_cl)
		return fail(p, HTTP_PERR_FRAMING, "invalid or conflicting Content-Length");
	if (f->has_te) {
		if (m->minor_version == 0 || f->has_cl)
			return fail(p, HTTP_PERR_FRAMING, "ambiguous response framing (Transfer-Encoding)");
		if (!f->te_chunked_last || f->te_chunked_twice || f->te_other)
			return fail(p, HTTP_PERR_UNSUPPORTED_TE, "unsupported transfer coding in a response");
		m->body = HTTP_BODY_CHUNKED;
	} else if (f->has_cl) {
		m->body = HTTP_BODY_LENGTH;
		m->content_length = f->cl;
		if (f->cl > p->lim.max_body)
			return fail(p, HTTP_PERR_BODY_TOO_LARGE, "response body too large");
	} else {
		m->body = HTTP_BODY_CLOSE;
	}
	return HTTP_PARSE_HEAD;
}

/* The whole head is in s[0..n) (n includes the final CRLF); fill msg. */
static enum http_parse_status parse_head(struct http_parser *p, const char *s, size_t n)
{
	struct http_msg *m = &p->msg;
	struct framing f;
	const char *end = s + n - 2; /* the empty line */
	const char *eol = memchr(s, '\n', n);
	enum http_parse_status st;

	memset(&f, 0, sizeof(f));
	m->head_len = n;
	m->hdrs = p->hdr_buf;
	m->nhdrs = 0;
	st = p->response ? status_line(p, s, (size_t)(eol - 1 - s)) : request_line(p, s, (size_t)(eol - 1 - s));
	if (st == HTTP_PARSE_ERROR)
		return st;
	for (const char *l = eol + 1; l < end;) {
		const char *e = memchr(l, '\n', (size_t)(end + 2 - l));
		if (header_line(p, l, (size_t)(e - 1 - l), &f) < 0)
			return HTTP_PARSE_ERROR;
		l = e + 1;
	}
	m->keep_alive = m->minor_version == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
	m->upgrade = f.conn_upgrade;
	p->head_done = true;
	st = p->response ? response_framing(p, &f) : request_framing(p, &f);
	if (m->body == HTTP_BODY_CLOSE)
		m->keep_alive = false;
	return st;
}

/* ---- head scanning --------------------------------------------------------------- */

/*
 * Judges the start line as soon as its CRLF is in, so garbage or an
 * HTTP/0.9 "GET /path" line is refused at once instead of waiting for an
 * empty line that may never come (and answering 408 much later). The
 * slices it sets point into this call's buffer: they are cleared again
 * (only offsets live while the head is incomplete) and parse_head fills
 * them for real.
 */
static int start_line_early(struct http_parser *p, const char *s, size_t n)
{
	struct http_msg *m = &p->msg;
	enum http_parse_status st = p->response ? status_line(p, s, n) : request_line(p, s, n);
	m->method_str = m->target = m->reason = (struct http_slice){NULL, 0};
	return st == HTTP_PARSE_ERROR ? -1 : 0;
}

/*
 * Scans buf[base+scan..len) for line ends. Returns AGAIN (need more),
 * ERROR, or HEAD with *head_len set when the empty line was found. Only
 * offsets are kept, so the buffer may move between calls.
 */
static enum http_parse_status scan_head(struct http_parser *p, const char *buf, size_t len, size_t base,
					size_t *head_len)
{
	const char *h = buf + base;
	size_t avail = len - base;
	size_t cap_lines = p->hdr_cap;
	/* a method starts with a token character: a TLS ClientHello or binary noise is refused at once */
	if (!p->response && p->lines == 0 && avail > 0 && !tchar[(unsigned char)h[0]])
		return fail(p, HTTP_PERR_SYNTAX, "malformed request line (method)");
	while (p->scan < avail) {
		const char *nl = memchr(h + p->scan, '\n', avail - p->scan);
		size_t upto = nl != NULL ? (size_t)(nl - h) : avail; /* end of what we can judge */
		/* content so far, without the CR that ends (or may be about to end) it */
		size_t line_len = upto - p->line_start - (upto > p->line_start && h[upto - 1] == '\r' ? 1 : 0);
		if (p->lines == 0 && line_len > p->lim.max_line)
			return fail(p, HTTP_PERR_LINE_TOO_LONG,
				    p->response ? "status line too long" : "request line too long");
		if (upto + (nl != NULL ? 1 : 0) > p->lim.max_head)
			return fail(p, HTTP_PERR_HEAD_TOO_LARGE, "header section too large");
		if (nl == NULL) {
			p->scan = avail;
			return HTTP_PARSE_AGAIN;
		}
		if (upto == p->line_start || h[upto - 1] != '\r')
			return fail(p, HTTP_PERR_SYNTAX, "bare LF (lines must end in CRLF)");
		p->scan = upto + 1;
		if (upto - 1 == p->line_start) { /* empty line: end of head */
			*head_len = p->scan;
			return HTTP_PARSE_HEAD;
		}
		if (p->lines == 0 && start_line_early(p, h + p->line_start, upto - 1 - p->line_start) < 0)
			return HTTP_PARSE_ERROR;
		if (p->lines > 0 && p->lines > cap_lines)
			return fail(p, HTTP_PERR_TOO_MANY_HEADERS, "too many header fields");
		p->lines++;
		p->line_start = p->scan;
	}
	return HTTP_PARSE_AGAIN;
}

/* Leading empty lines before a request line are ignored (RFC 9112 2.2). -1: need more; -2: error. */
static int skip_crlf(struct http_parser *p, const char *buf, size_t len, size_t *base)
{
	while (*base < len && p->scan == 0 && (buf[*base] == '\r' || buf[*base] == '\n')) {
		if (buf[*base] == '\n') {
			fail(p, HTTP_PERR_SYNTAX, "bare LF (lines must end in CRLF)");
			return -2;
		}
		if (*base + 1 >= len)
			return -1;
		if (buf[*base + 1] != '\n') {
			fail(p, HTTP_PERR_SYNTAX, "bare CR");
			return -2;
		}
		*base += 2;
	}
	return 0;
}

static void after_head(struct http_parser *p)
{
	const struct http_msg *m = &p->msg;
	switch (m->body) {
	case HTTP_BODY_NONE:
		p->state = ST_DONE_PENDING;
		break;
	case HTTP_BODY_LENGTH:
		p->remaining = m->content_length;
		p->state = m->content_length > 0 ? ST_LENGTH : ST_DONE_PENDING;
		break;
	case HTTP_BODY_CHUNKED:
		p->state = ST_CHUNK_SIZE;
		p->remaining = 0;
		p->ext_len = 0;
		p->sub = 0;
		break;
	case HTTP_BODY_CLOSE:
		p->state = ST_CLOSE;
		break;
	}
}

static enum http_parse_status feed_head(struct http_parser *p, const char *buf, size_t len, size_t *used)
{
	size_t base = 0;
	for (;;) {
		size_t head_len = 0;
		int rc = skip_crlf(p, buf, len, &base);
		if (rc == -2)
			return HTTP_PARSE_ERROR;
		*used = base;
		if (rc == -1)
			return HTTP_PARSE_AGAIN;
		if (p->scan > len - base) /* caller presented fewer bytes than before */
			p->scan = p->line_start = 0, p->lines = 0;
		enum http_parse_status st = scan_head(p, buf, len, base, &head_len);
		if (st != HTTP_PARSE_HEAD)
			return st;
		st = parse_head(p, buf + base, head_len);
		if (st == HTTP_PARSE_ERROR)
			return st;
		if (p->response && p->msg.status < 200) {
			if (p->msg.status == 101)
				return fail(p, HTTP_PERR_SYNTAX, "unexpected 101 Switching Protocols");
			/* interim response: drop it and parse the real one */
			base += head_len;
			reset_message(p);
			*used = base;
			continue;
		}
		*used = base + head_len;
		after_head(p);
		return HTTP_PARSE_HEAD;
	}
}

enum http_parse_status http_parse_feed(struct http_parser *p, const char *buf, size_t len, size_t *used,
				       struct http_slice *data)
{
	*used = 0;
	if (data != NULL)
		*data = (struct http_slice){NULL, 0};
	switch (p->state) {
	case ST_HEAD:
		return feed_head(p, buf, len, used);
	case ST_LENGTH: {
		if (len == 0)
			return HTTP_PARSE_AGAIN;
		size_t n = len < p->remaining ? len : (size_t)p->remaining;
		p->remaining -= n;
		p->total += n;
		if (p->remaining == 0)
			p->state = ST_DONE_PENDING;
		if (data != NULL)
			*data = (struct http_slice){buf, n};
		*used = n;
		return HTTP_PARSE_DATA;
	}
	case ST_CLOSE:
		if (len == 0)
			return HTTP_PARSE_AGAIN;
		if (p->total == p->lim.max_body)
			return fail(p, HTTP_PERR_BODY_TOO_LARGE, "response body too large");
		/* up to the limit first, so the outcome does not depend on how bytes arrive */
		if (len > p->lim.max_body - p->total)
			len = (size_t)(p->lim.max_body - p->total);
		p->total += len;
		if (data != NULL)
			*data = (struct http_slice){buf, len};
		*used = len;
		return HTTP_PARSE_DATA;
	case ST_DONE_PENDING:
		p->state = ST_DONE;
		return HTTP_PARSE_DONE;
	case ST_DONE:
		return HTTP_PARSE_DONE;
	case ST_ERROR:
		return HTTP_PARSE_ERROR;
	default:
		return http_parse_feed_chunked(p, buf, len, used, data);
	}
}

enum http_parse_status http_parse_eof(struct http_parser *p)
{
	switch (p->state) {
	case ST_HEAD:
		if (p->scan == 0)
			return HTTP_PARSE_AGAIN;
		break;
	case ST_CLOSE:
	case ST_DONE_PENDING:
		p->state = ST_DONE;
		return HTTP_PARSE_DONE;
	case ST_DONE:
		return HTTP_PARSE_AGAIN;
	case ST_ERROR:
		return HTTP_PARSE_ERROR;
	default:
		break;
	}
	return fail(p, HTTP_PERR_TRUNCATED, "connection closed in the middle of a message");
}
