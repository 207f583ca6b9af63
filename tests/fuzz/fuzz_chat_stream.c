/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for gateway/chat_stream. Input: byte 0 = options
 * (bit 0 drop the usage chunk, bits 1-2 choices - 1), byte 1 = split seed,
 * the rest = the upstream body. Three relays run: whole with the parse
 * pre-check, in pieces with the pre-check, in pieces parsing every chunk.
 * Checks: the client bytes and the span facts are the same in all three
 * (only non_json may differ when every chunk is parsed), so the pre-check
 * never loses a fact and splitting never changes anything; with nothing
 * dropped the client bytes are a prefix of the input; the end adds nothing
 * or exactly one well-formed error event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "gateway/chat_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	struct buf b;
	size_t at_finish; /* b.len before chat_stream_finish */
	int rc;
	enum chat_stream_end end;
	struct chat_stream_info info;
};

static int sink(const char *p, size_t n, void *arg)
{
	if (n == 0 || buf_append(arg, p, n) < 0)
		abort();
	return 0;
}

static void relay(const char *s, size_t n, uint8_t flags, unsigned seed, bool parse_all, struct out *o)
{
	struct chat_stream_opts opts = {.drop_usage_chunk = flags & 1,
					.n_choices = 1u + ((flags >> 1) & 3),
					.max_event = 1024,
					.parse_all = parse_all};
	struct chat_stream *cs = chat_stream_new(&opts);
	struct err err;
	size_t at = 0;
	if (cs == NULL)
		abort();
	buf_init(&o->b, 0);
	o->rc = 0;
	do {
		size_t k = seed == 0 ? n : 1 + seed % 23;
		if (k > n - at)
			k = n - at;
		char *piece = malloc(k > 0 ? k : 1);
		if (piece == NULL)
			abort();
		if (k > 0)
			memcpy(piece, s + at, k);
		o->rc = chat_stream_feed(cs, piece, k, 42, sink, &o->b, &err);
		free(piece);
		at += k;
		seed = seed * 31 + 7;
	} while (o->rc == 0 && at < n);
	o->at_finish = o->b.len;
	o->end = chat_stream_finish(cs, NULL, sink, &o->b);
	o->info = *chat_stream_info(cs);
	chat_stream_free(cs);
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void compare(const struct out *a, const struct out *b, bool with_non_json)
{
	const struct chat_stream_info *x = &a->info, *y = &b->info;
	if (a->rc != b->rc || a->end != b->end || a->at_finish != b->at_finish || a->b.len != b->b.len ||
	    (a->b.len > 0 && memcmp(a->b.data, b->b.data, a->b.len) != 0))
		abort();
	if (!same_str(x->resp.id, y->resp.id) || !same_str(x->resp.model, y->resp.model) ||
	    !same_str(x->resp.finish_reason, y->resp.finish_reason) || x->resp.has_usage != y->resp.has_usage ||
	    x->resp.prompt_tokens != y->resp.prompt_tokens || x->resp.completion_tokens != y->resp.completion_tokens ||
	    x->resp.cached_tokens != y->resp.cached_tokens)
		abort();
	for (int i = 0; i < CHAT_STREAM_CHOICES; i++)
		if (!same_str(x->finish_reasons[i], y->finish_reasons[i]))
			abort();
	if (x->first_token != y->first_token || x->first_token_ns != y->first_token_ns || x->done != y->done ||
	    x->upstream_error != y->upstream_error || !same_str(x->upstream_error_code, y->upstream_error_code) ||
	    x->events != y->events || x->comments != y->comments || x->usage_dropped != y->usage_dropped ||
	    x->bytes_out != y->bytes_out)
		abort();
	/* a failed relay stops where the failing piece ended: only then may these differ */
	if (a->rc == 0 && (x->bytes_in != y->bytes_in || x->pending_at_end != y->pending_at_end))
		abort();
	if (with_non_json && x->non_json != y->non_json)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const char *s = (const char *)data + 2;
	size_t n = size - 2;
	struct out whole, split, all;
	relay(s, n, data[0], 0, false, &whole);
	relay(s, n, data[0], (unsigned)data[1] + 1, false, &split);
	relay(s, n, data[0], (unsigned)data[1] + 1, true, &all);
	compare(&whole, &split, true);
	compare(&whole, &all, false);

	/* nothing dropped: the client got a prefix of the input (after a BOM) */
	size_t bom = n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	if (whole.info.usage_dropped == 0 &&
	    (whole.at_finish > n - bom || (whole.at_finish > 0 && memcmp(whole.b.data, s + bom, whole.at_finish) != 0)))
		abort();
	if (whole.info.usage_dropped > 0 && whole.at_finish >= n)
		abort();
	/* the end: nothing, or one error event */
	size_t tail = whole.b.len - whole.at_finish;
	if ((tail > 0) != (whole.end == CHAT_STREAM_END_TRUNCATED))
		abort();
	if (tail > 0 && (tail < 10 || memcmp(whole.b.data + whole.at_finish, "data: {\"error\":", 15) != 0 ||
			 memcmp(whole.b.data + whole.b.len - 3, "}\n\n", 3) != 0))
		abort();
	if (whole.end != CHAT_STREAM_END_DONE && whole.end != CHAT_STREAM_END_NO_DONE &&
	    whole.info.resp.finish_reason[0] == '\0')
		abort();
	buf_fini(&whole.b);
	buf_fini(&split.b);
	buf_fini(&all.b);
	return 0;
}
