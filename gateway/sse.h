/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incremental Server-Sent Events parser (WHATWG HTML, "Parsing an event
 * stream"), built for a relay: bytes arrive in arbitrary pieces (split
 * anywhere, even between the CR and LF of one line ending) and come out as
 * items that tile the stream exactly, so a relay can pass each one through
 * byte for byte or drop it.
 *
 * Items, in stream order:
 *   SSE_EVENT    a block of lines ended by a blank line that dispatches an
 *                event (it had at least one data field);
 *   SSE_COMMENT  a ":" line at an event boundary, reported as soon as its
 *                line ends (keep-alives must not wait for the next event);
 *   SSE_SKIP     bytes at a boundary that dispatch nothing: a blank line, a
 *                block without data ("id: 7\n\n", "retry: 10\n\n"), or the LF
 *                of a CRLF whose CR ended the previous item in an earlier
 *                piece.
 * Concatenating every item's raw bytes gives the input with a leading UTF-8
 * BOM removed; what is left (sse_pending()) is one incomplete item. A ":"
 * line inside an unfinished event is part of that event's raw bytes and is
 * not reported on its own.
 *
 * Line endings LF, CRLF and CR are all accepted, mixed. Bytes are not
 * UTF-8-decoded (the relay's JSON parser validates data).
 *
 * Memory: an item that ends in the piece it started in is reported in
 * place (zero copy, pointers into the caller's piece). Only the part of an
 * item that arrived in earlier pieces is buffered, and one item larger than
 * max_event bytes (raw, terminators included, but for the LF of a CRLF that
 * ends it) is an error, never growth.
 * Worst case the parser holds max_event bytes of pending item, the same
 * again for joining multi-line data, and the last event id.
 */
#ifndef LLMGW_GATEWAY_SSE_H
#define LLMGW_GATEWAY_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define SSE_MAX_DEFAULT ((size_t)1 << 20) /* 1 MiB per event */

enum sse_kind {
	SSE_EVENT = 0,
	SSE_COMMENT,
	SSE_SKIP,
};

/*
 * One item. Every pointer is borrowed: valid until the next sse_next(),
 * sse_push(), sse_feed() or sse_free() on the same parser, and (when
 * raw_in_input) while the caller's piece is. Strings are not NUL-terminated.
 */
struct sse_event {
	enum sse_kind kind;
	const char *raw; /* the item's exact bytes, line endings included */
	size_t raw_len;
	bool raw_in_input; /* raw points into the piece given to sse_push() */
	/* SSE_EVENT: data lines joined with "\n"; SSE_COMMENT: text after the
	 * ':' (no line ending); SSE_SKIP: empty */
	const char *data;
	size_t data_len;
	const char *name; /* SSE_EVENT: the event field; name_len 0 means "message" */
	size_t name_len;
	/* SSE_EVENT: the last event ID buffer (persists across events per the
	 * spec); NULL when no id field was ever accepted */
	const char *id;
	size_t id_len;
};

enum sse_rc {
	SSE_MORE = 0, /* the piece is consumed; push the next one */
	SSE_ITEM,     /* *ev holds one item */
	SSE_ERROR,    /* err says why; the parser stays failed */
};

struct sse;

/* A parser allowing items of up to max_event bytes (0: SSE_MAX_DEFAULT). NULL on ENOMEM. */
struct sse *sse_new(size_t max_event);
/* Frees p and everything it buffered; NULL is a no-op. */
void sse_free(struct sse *p);

/*
 * Iterator interface. sse_push() lends the parser the next piece of the
 * stream (len 0 is fine); the caller keeps it valid and unchanged until
 * sse_next() returns SSE_MORE or SSE_ERROR, and calls sse_next() until then.
 * Pushing before the previous piece was drained fails the parser.
 */
void sse_push(struct sse *p, const char *data, size_t len);
/* Next item of the pushed piece. SSE_ERROR when an item passes max_event or on ENOMEM. */
enum sse_rc sse_next(struct sse *p, struct sse_event *ev, struct err *err);

/*
 * Callback interface over the same machinery: calls cb for every item the
 * piece completes. Returns 0, or -1 with err on a parse error or when cb
 * returned non-zero (err->code ECANCELED); either way the parser is failed.
 */
typedef int (*sse_event_cb)(const struct sse_event *ev, void *arg);
int sse_feed(struct sse *p, const char *data, size_t len, sse_event_cb cb, void *arg, struct err *err);

/*
 * Bytes of an incomplete item held at a piece boundary (0 at an item
 * boundary). At end of stream these are discarded, as the spec requires.
 */
size_t sse_pending(const struct sse *p);

#endif
