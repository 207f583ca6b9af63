/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for gateway/http_parse. The first byte picks requests
 * or responses (and a HEAD request for responses) and a feed step; the rest
 * is the byte stream. Each call sees an exact-size heap copy of the
 * unconsumed bytes (so ASan catches any read past what was presented and
 * the buffer moves between calls). Invariants: used never exceeds what was
 * given, data slices lie inside it, header slices lie inside the head, and
 * the outcome (heads, decoded body bytes, errors) is the same whether the
 * stream arrives at once or in pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	uint64_t hash; /* FNV-1a over events and body bytes */
	int last;
	enum http_parse_err err;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 1099511628211u;
	}
}

static void check_head(const struct http_parser *p, const char *buf, size_t len, uint64_t *h)
{
	const struct http_msg *m = &p->msg;
	const char *lo = buf, *hi = buf + len;
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *x = &m->hdrs[i];
		if (x->name < lo || x->name + x->name_len > hi || x->value < lo || x->value + x->value_len > hi ||
		    x->name_len == 0)
			abort();
		mix(h, x->name, x->name_len);
		mix(h, x->value, x->value_len);
	}
	int ev[6] = {(int)m->method, m->status, m->minor_version, (int)m->body, m->keep_alive, (int)m->nhdrs};
	mix(h, ev, sizeof(ev));
	mix(h, &m->content_length, sizeof(m->content_length));
}

static struct outcome run(const uint8_t *in, size_t n, bool response, bool head, size_t step)
{
	static const struct http_limits lim = {256, 2048, 16, 4096};
	struct http_parser p;
	struct http_hdr hdrs[16];
	struct outcome o = {14695981039346656037u, 0, HTTP_PERR_NONE};
	size_t fed = step < n ? step : n, cons = 0;
	int guard = 0;
	if (response)
		http_parse_init_response(&p, &lim, hdrs, 16, head);
	else
		http_parse_init_request(&p, &lim, hdrs, 16);
	for (;;) {
		size_t avail = fed - cons, used = 0;
		char *copy = malloc(avail > 0 ? avail : 1);
		struct http_slice d = {NULL, 0};
		if (copy == NULL)
			abort();
		memcpy(copy, in + cons, avail);
		enum http_parse_status st = http_parse_feed(&p, copy, avail, &used, &d);
		if (used > avail || ++guard > 100000)
			abort();
		if (st == HTTP_PARSE_HEAD)
			check_head(&p, copy, avail, &o.hash);
		if (st == HTTP_PARSE_DATA) {
			if (d.n == 0 || d.p < copy || d.p + d.n > copy + avail)
				abort();
			mix(&o.hash, d.p, d.n);
		}
		free(copy);
		cons += used;
		if (st == HTTP_PARSE_ERROR) {
			o.last = st;
			o.err = p.err;
			return o;
		}
		if (st == HTTP_PARSE_DONE) {
			mix(&o.hash, "|", 1);
			http_parse_next(&p, head);
			continue;
		}
		if (st == HTTP_PARSE_AGAIN) {
			if (fed == n) {
				st = http_parse_eof(&p);
				o.last = st;
				o.err = p.err;
				return o;
			}
			fed = fed + step < n ? fed + step : n;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool response = data[0] & 1, head = data[0] & 2;
	size_t step = (size_t)(data[0] >> 2) + 1;
	struct outcome whole = run(data + 1, size - 1, response, head, size);
	struct outcome split = run(data + 1, size - 1, response, head, step);
	/* line-length and head-size limits fire on different bytes only, never differently */
	if (whole.last != split.last || whole.err != split.err || whole.hash != split.hash)
		abort();
	return 0;
}
