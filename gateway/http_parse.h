/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pure HTTP/1.1 message parser for both directions: requests (the
 * gateway's own server) and responses (the upstream client). Incremental
 * (bytes are fed as they arrive and parsing resumes at any byte boundary),
 * zero-copy (the request line, status line and headers are slices into the
 * caller's buffer), and it never allocates: the header array is the
 * caller's.
 *
 * It is strict where leniency enables request smuggling (RFC 9112 sections
 * 6 and 11.2): obs-fold, bare LF, invalid token characters, whitespace
 * before a colon, conflicting Content-Length values, Content-Length with
 * Transfer-Encoding, Transfer-Encoding on HTTP/1.0 and a transfer coding
 * other than a final "chunked" are all errors, never guessed at. The start
 * line is judged as soon as its CRLF is in (a request's first byte at once),
 * so garbage, a TLS handshake or an HTTP/0.9 "GET /path" line is refused
 * without waiting for the end of a head that may never come.
 *
 * Calling protocol (both directions):
 *
 *   buf/len passed to http_parse_feed() are the caller's unconsumed input:
 *   the first byte of buf is the first byte not yet reported as used.
 *   After each call the caller drops *used bytes from the front of its
 *   input (it may keep them in memory, see HEAD below) and acts on the
 *   result:
 *
 *   HTTP_PARSE_AGAIN  need more input; call again when more bytes arrived
 *                     (with the unused bytes still at the front). *used may
 *                     be > 0 (leading CRLFs, a skipped 1xx response,
 *                     chunk framing).
 *   HTTP_PARSE_HEAD   the head is complete: p->msg is filled and its slices
 *                     point into this call's buf. They stay valid as long
 *                     as the caller keeps those bytes where they are (the
 *                     parser itself never looks at them again). Call again
 *                     for the body.
 *   HTTP_PARSE_DATA   *data is one slice of decoded body bytes inside buf
 *                     (for chunked bodies one chunk or the part of it that
 *                     has arrived). Call again for more.
 *   HTTP_PARSE_DONE   the message is complete; bytes after *used belong to
 *                     the next message (pipelining / keep-alive). Call
 *                     http_parse_next() before feeding the next message.
 *   HTTP_PARSE_ERROR  p->err, p->err_status and p->err_msg say why; the
 *                     connection cannot be used any more. If p->head_done
 *                     the head was parsed (e.g. 413 for a Content-Length
 *                     over the limit) and p->msg is valid.
 *
 *   While the head is incomplete the parser keeps only offsets, so the
 *   caller may move or grow its buffer between calls as long as the unused
 *   bytes are presented again from the same first byte.
 *
 * Responses: 1xx (except 101, an error: we never ask to upgrade) are
 * consumed and skipped; HEAD responses (say so in http_parse_init_response
 * or http_parse_next) and 204/304 have no body; a response with neither
 * Content-Length nor chunked is delimited by the close: call
 * http_parse_eof() when the peer closes, which turns it into DONE (and any
 * other unfinished message into an HTTP_PERR_TRUNCATED error).
 */
#ifndef LLMGW_GATEWAY_HTTP_PARSE_H
#define LLMGW_GATEWAY_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSE_MAX_LINE_DEFAULT ((size_t)8 << 10)  /* request/status line */
#define HTTP_PARSE_MAX_HEAD_DEFAULT ((size_t)32 << 10) /* line + headers + CRLFs */
#define HTTP_PARSE_MAX_HEADERS_DEFAULT 100u
#define HTTP_PARSE_BODY_UNLIMITED UINT64_MAX

struct http_limits {
	size_t max_line;      /* request/status line bytes without CRLF; > -> HTTP_PERR_LINE_TOO_LONG */
	size_t max_head;      /* whole head incl. CRLFs; > -> HTTP_PERR_HEAD_TOO_LARGE */
	unsigned max_headers; /* header fields; > -> HTTP_PERR_TOO_MANY_HEADERS (also capped by the array) */
	uint64_t max_body;    /* decoded body bytes; > -> HTTP_PERR_BODY_TOO_LARGE */
};

enum http_method {
	HTTP_METHOD_OTHER = 0, /* a valid token we do not know (the server answers 405/501) */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_CONNECT,
	HTTP_METHOD_TRACE,
};

enum http_body_kind {
	HTTP_BODY_NONE = 0, /* no body (no framing headers on a request, HEAD/204/304 response) */
	HTTP_BODY_LENGTH,   /* Content-Length (msg.content_length bytes, may be 0) */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
	HTTP_BODY_CLOSE,    /* response read until the connection closes */
};

enum http_parse_status {
	HTTP_PARSE_AGAIN = 0,
	HTTP_PARSE_HEAD,
	HTTP_PARSE_DATA,
	HTTP_PARSE_DONE,
	HTTP_PARSE_ERROR,
};

enum http_parse_err {
	HTTP_PERR_NONE = 0,
	HTTP_PERR_SYNTAX,	    /* 400 malformed line, header, chunk framing, bare LF, obs-fold, ... */
	HTTP_PERR_FRAMING,	    /* 400 conflicting Content-Length, CL + TE, TE on HTTP/1.0, TE not chunked-last */
	HTTP_PERR_LINE_TOO_LONG,    /* 414 request line over max_line */
	HTTP_PERR_HEAD_TOO_LARGE,   /* 431 head over max_head */
	HTTP_PERR_TOO_MANY_HEADERS, /* 431 more than max_headers fields */
	HTTP_PERR_BODY_TOO_LARGE,   /* 413 Content-Length or chunked total over max_body */
	HTTP_PERR_UNSUPPORTED_TE,   /* 501 a transfer coding other than chunked (e.g. gzip, chunked) */
	HTTP_PERR_VERSION,	    /* 505 not HTTP/1.0 or HTTP/1.1 */
	HTTP_PERR_EXPECT,	    /* 417 Expect other than 100-continue */
	HTTP_PERR_TRUNCATED,	    /* peer closed mid-message (http_parse_eof) */
};

/* One header field; name and value are slices (not NUL-terminated), value without surrounding OWS. */
struct http_hdr {
	const char *name;
	const char *value;
	size_t name_len;
	size_t value_len;
};

struct http_slice {
	const char *p;
	size_t n;
};

/* The parsed head of one message (valid after HTTP_PARSE_HEAD). */
struct http_msg {
	/* requests */
	enum http_method method;
	struct http_slice method_str; /* as sent, e.g. "POST" */
	struct http_slice target;     /* request-target as sent, e.g. "/v1/models?x=1" */
	/* responses */
	int status;		  /* 100..999 */
	struct http_slice reason; /* may be empty */
	/* both */
	int minor_version; /* 0 or 1 (HTTP/1.x) */
	struct http_hdr *hdrs;
	size_t nhdrs;
	enum http_body_kind body;
	uint64_t content_length; /* HTTP_BODY_LENGTH only */
	bool keep_alive;      /* version default adjusted by Connection: close / keep-alive; false for CLOSE bodies */
	bool expect_continue; /* request carried Expect: 100-continue */
	bool upgrade;	      /* Connection: upgrade was sent (we never switch; informational) */
	size_t head_len;      /* bytes of this head including the final CRLF (not counting skipped CRLFs/1xx heads) */
};

/* Parser state; embed it, initialise with http_parse_init_*. Fields below msg are private. */
struct http_parser {
	struct http_msg msg;
	enum http_parse_err err;
	int err_status;	     /* suggested HTTP status for err (400, 413, 414, 417, 431, 501, 505) */
	const char *err_msg; /* static English phrase for logs and error bodies, never bytes of the input */
	bool head_done;	     /* msg is valid (also on some errors, see above) */

	/* private */
	struct http_limits lim;
	struct http_hdr *hdr_buf;
	size_t hdr_cap;
	bool response;
	bool head_request; /* response to a HEAD request */
	uint8_t state;
	uint8_t sub;	    /* chunk framing sub-state */
	size_t scan;	    /* head: bytes of the current head already scanned */
	size_t line_start;  /* head: offset of the line being scanned */
	unsigned lines;	    /* head: header lines seen so far */
	size_t skip;	    /* head: consumed leading CRLFs / 1xx heads in this call */
	uint64_t remaining; /* body: bytes left in the body or the current chunk */
	uint64_t total;	    /* body: decoded bytes so far */
	size_t ext_len;	    /* chunk-size line / trailer bytes so far */
	size_t trailer_len;
};

/*
 * Prepares p to parse requests. hdrs[cap] receives header slices (cap >=
 * 1; at most min(cap, lim->max_headers) are accepted). lim is copied; NULL
 * means the defaults above with an unlimited body.
 */
void http_parse_init_request(struct http_parser *p, const struct http_limits *lim, struct http_hdr *hdrs, size_t cap);

/* Prepares p to parse one response; head_request: it answers a HEAD (no body). */
void http_parse_init_response(struct http_parser *p, const struct http_limits *lim, struct http_hdr *hdrs, size_t cap,
			      bool head_request);

/*
 * Resets p for the next message on the same connection (after DONE),
 * keeping mode, limits and header array. head_request is for responses
 * (ignored for requests).
 */
void http_parse_next(struct http_parser *p, bool head_request);

/* Feeds input; see the calling protocol at the top. data may be NULL if the caller expects no body. */
enum http_parse_status http_parse_feed(struct http_parser *p, const char *buf, size_t len, size_t *used,
				       struct http_slice *data);

/*
 * The peer closed its side. Returns HTTP_PARSE_DONE when that ends the
 * message (a close-delimited response body), HTTP_PARSE_AGAIN when no
 * message had started (nothing fed since init/next: a clean close), and
 * HTTP_PARSE_ERROR (HTTP_PERR_TRUNCATED) otherwise.
 */
enum http_parse_status http_parse_eof(struct http_parser *p);

/* True while a message has started but not finished (bytes fed after init/next). */
bool http_parse_in_message(const struct http_parser *p);

/* First header named name (case-insensitive), NULL if absent. */
const struct http_hdr *http_parse_header(const struct http_msg *m, const char *name);

/* True if a comma-separated header value list contains token (case-insensitive), e.g. "close". */
bool http_parse_has_token(const char *v, size_t n, const char *token);

/* "GET", "POST", ... ; "OTHER" for HTTP_METHOD_OTHER. Static strings. */
const char *http_parse_method_name(enum http_method m);

/* Standard reason phrase for a status ("Not Found"), "Unknown" for others. */
const char *http_parse_reason(int status);

#endif
