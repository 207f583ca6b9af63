/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for gateway/sse. Input: byte 0 picks the split points,
 * the rest is the stream. The stream is parsed whole and in pieces, with a
 * small max_event so the bound is hit often. Checks: both runs report the
 * same events and comments and the same outcome (split invariance); the raw bytes of the
 * items tile the input (minus a leading BOM) with only sse_pending() bytes
 * left; every item is internally consistent (an event ends with a blank
 * line, a comment starts with ':', data never longer than raw).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "gateway/sse.h"

#define FUZZ_MAX_EVENT 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	struct buf log; /* kind, name, id, data of every item */
	struct buf raw; /* raw bytes of every item, in order */
};

static void put_field(struct buf *b, const char *p, size_t n)
{
	/* length-prefixed so different items can never log the same */
	if (buf_append(b, &n, sizeof(n)) < 0 || (n > 0 && buf_append(b, p, n) < 0))
		abort();
}

static void check_item(const struct sse_event *ev)
{
	const char *r = ev->raw;
	size_t n = ev->raw_len;
	if (n == 0 || ev->data_len > n || ev->name_len > n)
		abort();
	if (ev->kind == SSE_COMMENT && r[0] != ':')
		abort();
	if (ev->kind == SSE_EVENT) {
		/* the last line is blank: the item ends with two line endings */
		if (n < 2 || (r[n - 1] != '\n' && r[n - 1] != '\r'))
			abort();
		if (ev->data == NULL)
			abort();
	}
}

static int on_item(const struct sse_event *ev, void *arg)
{
	struct seen *s = arg;
	char k = (char)ev->kind;
	check_item(ev);
	if (buf_append(&s->raw, ev->raw, ev->raw_len) < 0)
		abort();
	/* skips are not logged: a CRLF split between pieces adds a one-byte skip */
	if (ev->kind == SSE_SKIP)
		return 0;
	if (buf_append(&s->log, &k, 1) < 0)
		abort();
	char has_id = ev->id != NULL;
	if (buf_append(&s->log, &has_id, 1) < 0)
		abort();
	put_field(&s->log, ev->name, ev->name_len);
	put_field(&s->log, ev->id, ev->id_len);
	put_field(&s->log, ev->data, ev->data_len);
	return 0;
}

/* Feeds s whole (seed 0) or in pieces of 1-17 bytes drawn from seed. Returns the feed rc. */
static int run(const char *s, size_t n, unsigned seed, struct seen *out, size_t *pending)
{
	struct sse *p = sse_new(FUZZ_MAX_EVENT);
	struct err err;
	size_t at = 0;
	int rc = 0;
	if (p == NULL)
		abort();
	do {
		size_t k = seed == 0 ? n : 1 + seed % 17;
		if (k > n - at)
			k = n - at;
		/* exact-size copy: ASan sees any read past the piece */
		char *piece = malloc(k > 0 ? k : 1);
		if (piece == NULL)
			abort();
		if (k > 0)
			memcpy(piece, s + at, k);
		rc = sse_feed(p, piece, k, on_item, out, &err);
		free(piece);
		at += k;
		seed = seed * 31 + 7;
	} while (rc == 0 && at < n);
	*pending = sse_pending(p);
	sse_free(p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	struct seen whole, split;
	size_t pw, ps;
	buf_init(&whole.log, 0);
	buf_init(&whole.raw, 0);
	buf_init(&split.log, 0);
	buf_init(&split.raw, 0);

	int rw = run(s, n, 0, &whole, &pw);
	int rs = run(s, n, (unsigned)data[0] + 1, &split, &ps);
	if (rw != rs || whole.log.len != split.log.len ||
	    (whole.log.len > 0 && memcmp(whole.log.data, split.log.data, whole.log.len) != 0))
		abort();
	if (whole.raw.len != split.raw.len ||
	    (whole.raw.len > 0 && memcmp(whole.raw.data, split.raw.data, whole.raw.len) != 0))
		abort();
	size_t bom = n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	if (whole.raw.len > 0 && memcmp(whole.raw.data, s + bom, whole.raw.len) != 0)
		abort();
	if (rw == 0) {
		if (pw != ps)
			abort();
		if (whole.raw.len + pw + bom != n)
			abort();
	}
	buf_fini(&whole.log);
	buf_fini(&whole.raw);
	buf_fini(&split.log);
	buf_fini(&split.raw);
	return 0;
}
