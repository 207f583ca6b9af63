/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the guardrail rule engine (gateway/guard.c) and its
 * JSON front (gateway/guard_json.c). Input: byte 0 picks the rules, byte 1
 * seeds up to 8 split points, the rest is the text.
 *
 * Checks: for each single rule (the three detectors and a bounded regex),
 * the text fed as a stream cut at the split points releases exactly what
 * the whole-text pass gives (the equivalence guard.h promises); with the
 * rules picked by byte 0 together, and a deny rule among them, the stream
 * never releases a deny match and ends holding nothing; valid UTF-8 in
 * gives valid UTF-8 out; and the same bytes as a request body, an answer
 * and a stream chunk go through guard_json without a crash (invalid JSON
 * passes untouched).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "gateway/guard.h"
#include "gateway/guard_json.h"
#include "gateway/jscan.h"

#define FUZZ_MAX_TEXT 4096
#define NRULES 5
#define DENY_RULE 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guard_rule rules[NRULES];
static bool ready;

static void add(size_t i, const char *name, enum guard_kind kind, const char *pattern, size_t max_match,
		enum guard_action action)
{
	struct err err;
	rules[i].name = strdup(name);
	rules[i].kind = kind;
	rules[i].pattern = pattern != NULL ? strdup(pattern) : NULL;
	rules[i].max_match = max_match;
	rules[i].action = action;
	rules[i].stages = GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT;
	if (guard_rule_init(&rules[i], 1, &err) < 0)
		abort();
}

static void setup(void)
{
	if (ready)
		return;
	add(0, "email", GUARD_KIND_EMAIL, NULL, 0, GUARD_REDACT);
	add(1, "card", GUARD_KIND_CARD, NULL, 0, GUARD_REDACT);
	add(2, "key", GUARD_KIND_API_KEY, NULL, 0, GUARD_REDACT);
	add(3, "secret", GUARD_KIND_REGEX, "secret[0-9]{2,6}", 12, GUARD_REDACT);
	add(4, "stop", GUARD_KIND_REGEX, "forbid{1,3}en", 16, GUARD_DENY);
	ready = true;
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		if (len == 0 || i + len > n || (len == 2 && c < 0xc2))
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static bool contains(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; h != NULL && i + k <= n; i++)
		if (memcmp(h + i, needle, k) == 0)
			return true;
	return false;
}

/* Whole-text result into out (the text itself when nothing matched); the verdict. */
static void whole(const struct guard_ctx *c, struct guard_scratch *s, const char *t, size_t n, struct buf *out,
		  struct guard_verdict *v)
{
	guard_verdict_init(v);
	int rc = guard_text(c, s, t, n, out, v);
	if (rc < 0)
		abort();
	if (rc == 0 && v->deny_rule < 0 && buf_append(out, t, n) < 0)
		abort();
}

/* The stream result: pieces cut at cuts[0..ncuts). */
static void stream(const struct guard_ctx *c, struct guard_scratch *s, const char *t, size_t n, const size_t *cuts,
		   size_t ncuts, struct buf *out, struct guard_verdict *v)
{
	struct guard_hold h;
	size_t at = 0;
	guard_hold_init(&h);
	guard_verdict_init(v);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		if (guard_stream_push(c, s, &h, t + at, to - at, i == ncuts, out, v) < 0)
			abort();
		if (v->deny_rule >= 0)
			break;
		at = to;
	}
	if (v->deny_rule < 0 && h.held.len != 0)
		abort(); /* the final piece releases everything */
	guard_hold_fini(&h);
}

static size_t make_cuts(uint8_t seed, size_t n, size_t *cuts)
{
	size_t k = 0, at = 0;
	uint32_t x = seed * 2654435761u + 1;
	for (int i = 0; i < (seed & 7) + 1 && n > 0; i++) {
		x = x * 1103515245u + 12345u;
		at += (x >> 16) % (n / 4 + 2);
		if (at > n)
			break;
		cuts[k++] = at;
	}
	return k;
}

static void json_front(const struct guard_ctx *c, struct guard_scratch *s, const char *t, size_t n)
{
	struct buf out;
	struct guard_verdict v;
	buf_init(&out, 0);
	guard_verdict_init(&v);
	for (int op = GUARD_JSON_CHAT; op <= GUARD_JSON_EMBEDDINGS; op++) {
		buf_reset(&out);
		if (guard_json_request(c, s, (enum guard_json_op)op, t, n, &out, &v) == GUARD_JSON_REDACTED &&
		    out.len == 0)
			abort();
	}
	buf_reset(&out);
	guard_json_response(c, s, t, n, &out, &v);
	struct guard_sse *g = guard_sse_new(c);
	if (g == NULL)
		abort();
	guard_verdict_init(&v);
	buf_reset(&out);
	if (guard_sse_chunk(g, t, n, &out, &v) == GUARD_JSON_REDACTED) {
		/* a rewritten chunk is one well-formed event around a JSON object */
		struct jscan_val root;
		if (out.len < 8 || memcmp(out.data, "data: ", 6) != 0 ||
		    memcmp(out.data + out.len - 2, "\n\n", 2) != 0 ||
		    jscan_parse(out.data + 6, out.len - 8, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
			abort();
	}
	buf_reset(&out);
	guard_sse_flush(g, &out, &v);
	guard_sse_free(g);
	buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guard_scratch s = {0};
	struct buf a, b;
	struct guard_verdict va, vb;
	size_t cuts[8];
	if (size < 2 || size - 2 > FUZZ_MAX_TEXT)
		return 0;
	setup();
	/* the engine's texts end with a NUL (buf, jansson): regexec and its sanitizer interceptor read to it */
	char *t = malloc(size - 1);
	if (t == NULL)
		return 0;
	memcpy(t, data + 2, size - 2);
	t[size - 2] = '\0';
	size_t n = size - 2, ncuts = make_cuts(data[1], n, cuts);
	buf_init(&a, 0);
	buf_init(&b, 0);
	for (unsigned i = 0; i < DENY_RULE; i++) {
		const struct guard_ctx c = {rules, NRULES, (guard_mask)1 << i, 0};
		buf_reset(&a);
		buf_reset(&b);
		whole(&c, &s, t, n, &a, &va);
		stream(&c, &s, t, n, cuts, ncuts, &b, &vb);
		if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
			abort(); /* a stream must release what the whole text gives */
		if (utf8_ok(data + 2, n) && !utf8_ok((const unsigned char *)a.data, a.len))
			abort();
	}
	const struct guard_ctx all = {rules, NRULES, (guard_mask)(data[0] & 0x1f) | ((guard_mask)1 << DENY_RULE), 0};
	buf_reset(&a);
	buf_reset(&b);
	whole(&all, &s, t, n, &a, &va);
	stream(&all, &s, t, n, cuts, ncuts, &b, &vb);
	if ((va.deny_rule >= 0) != (vb.deny_rule >= 0))
		abort(); /* a deny match is found whatever the splits */
	if (contains(b.data, b.len, "forbidden"))
		abort(); /* and never released */
	json_front(&all, &s, t, n);
	buf_fini(&a);
	buf_fini(&b);
	guard_scratch_fini(&s);
	free(t);
	return 0;
}
