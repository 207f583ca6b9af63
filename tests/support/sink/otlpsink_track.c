/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span-id set and arrival log for otlp-sink.
 *
 * The id set is open addressing over 64-bit FNV-1a hashes of the id text,
 * doubled at half load up to a fixed ceiling: a load test of millions of
 * spans costs 8 bytes a span at most, and past the ceiling new ids are
 * only counted, never stored, so the sink's memory stays bounded whatever
 * the exporter sends. The arrival log is a ring addressed by request
 * number, which lets a request that is held (a slow answer) fill in its
 * outcome later without a search, and lets the log stay ordered by
 * arrival even when answers go out in another order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/support/sink/otlpsink_track.h"

#define SEEN_MIN_SLOTS 1024u

struct otlpsink_seen {
	uint64_t *slots; /* 0 = empty */
	size_t nslots;	 /* power of two */
	size_t used;
	size_t max_ids;
	struct otlpsink_seen_counts c;
};

static uint64_t seen_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h != 0 ? h : 1; /* 0 marks an empty slot */
}

struct otlpsink_seen *otlpsink_seen_new(size_t max_ids)
{
	struct otlpsink_seen *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->nslots = SEEN_MIN_SLOTS;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	if (s->slots == NULL) {
		free(s);
		return NULL;
	}
	s->max_ids = max_ids;
	return s;
}

void otlpsink_seen_free(struct otlpsink_seen *s)
{
	if (s == NULL)
		return;
	free(s->slots);
	free(s);
}

/* The slot holding h, or the empty slot where it would go. */
static uint64_t *seen_slot(uint64_t *slots, size_t nslots, uint64_t h)
{
	size_t i = (size_t)h & (nslots - 1);
	while (slots[i] != 0 && slots[i] != h)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

/* Doubles the table; -1 (table unchanged) when memory runs out. */
static int seen_grow(struct otlpsink_seen *s)
{
	size_t n = s->nslots * 2;
	uint64_t *ns = calloc(n, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i] != 0)
			*seen_slot(ns, n, s->slots[i]) = s->slots[i];
	free(s->slots);
	s->slots = ns;
	s->nslots = n;
	return 0;
}

bool otlpsink_seen_add(struct otlpsink_seen *s, const char *span_id)
{
	uint64_t h = seen_hash(span_id != NULL ? span_id : "");
	uint64_t *slot = seen_slot(s->slots, s->nslots, h);
	if (*slot == h) {
		s->c.duplicate++;
		return false;
	}
	if (s->used >= s->max_ids) {
		s->c.untracked++;
		return true;
	}
	if ((s->used + 1) * 2 > s->nslots) {
		if (seen_grow(s) != 0) {
			s->c.untracked++;
			return true;
		}
		slot = seen_slot(s->slots, s->nslots, h);
	}
	*slot = h;
	s->used++;
	s->c.unique++;
	return true;
}

void otlpsink_seen_add_all(struct otlpsink_seen *s, const json_t *resource_spans)
{
	size_t i, j;
	const json_t *rs, *span;
	json_array_foreach(resource_spans, i, rs)
	{
		json_array_foreach(json_object_get(rs, "spans"), j, span)
		{
			otlpsink_seen_add(s, json_string_value(json_object_get(span, "span_id")));
		}
	}
}

void otlpsink_seen_counts(const struct otlpsink_seen *s, struct otlpsink_seen_counts *out)
{
	*out = s->c;
}

void otlpsink_seen_clear(struct otlpsink_seen *s)
{
	/* Back to the first size so a cleared sink gives the memory back. */
	uint64_t *small = calloc(SEEN_MIN_SLOTS, sizeof(*small));
	if (small != NULL) {
		free(s->slots);
		s->slots = small;
		s->nslots = SEEN_MIN_SLOTS;
	} else {
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	}
	s->used = 0;
	memset(&s->c, 0, sizeof(s->c));
}

/* ---- arrivals ------------------------------------------------------------- */

struct arrival {
	uint64_t n; /* 0 = empty slot */
	uint64_t t_us, wall_ms, done_us;
	size_t bytes, spans;
	int status;
	char path[96];
	char result[16];
	char retry_after[64];
};

struct otlpsink_arrivals {
	struct arrival *ring;
	size_t cap;
	uint64_t next; /* number of the next request */
};

struct otlpsink_arrivals *otlpsink_arrivals_new(size_t cap)
{
	struct otlpsink_arrivals *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->ring = calloc(cap, sizeof(*a->ring));
	if (a->ring == NULL) {
		free(a);
		return NULL;
	}
	a->cap = cap;
	a->next = 1;
	return a;
}

void otlpsink_arrivals_free(struct otlpsink_arrivals *a)
{
	if (a == NULL)
		return;
	free(a->ring);
	free(a);
}

uint64_t otlpsink_arrivals_begin(struct otlpsink_arrivals *a, const char *path, size_t body_bytes)
{
	uint64_t n = a->next++;
	struct arrival *e = &a->ring[n % a->cap];
	memset(e, 0, sizeof(*e));
	e->n = n;
	e->t_us = clock_mono_ns() / 1000;
	e->wall_ms = clock_wall_ns() / 1000000;
	e->bytes = body_bytes;
	snprintf(e->path, sizeof(e->path), "%s", path != NULL ? path : "");
	snprintf(e->result, sizeof(e->result), "pending");
	return n;
}

void otlpsink_arrivals_end(struct otlpsink_arrivals *a, uint64_t n, const char *result, int status, size_t spans,
			   const char *retry_after)
{
	struct arrival *e = &a->ring[n % a->cap];
	if (e->n != n)
		return;
	e->done_us = clock_mono_ns() / 1000;
	e->status = status;
	e->spans = spans;
	snprintf(e->result, sizeof(e->result), "%s", result);
	snprintf(e->retry_after, sizeof(e->retry_after), "%s", retry_after != NULL ? retry_after : "");
}

static json_t *arrival_json(const struct arrival *e)
{
	return json_pack("{s:I, s:f, s:I, s:o, s:s, s:I, s:s, s:i, s:I, s:s}", "n", (json_int_t)e->n, "t_ms",
			 (double)e->t_us / 1000.0, "wall_ms", (json_int_t)e->wall_ms, "done_ms",
			 e->done_us != 0 ? json_real((double)e->done_us / 1000.0) : json_null(), "path", e->path,
			 "bytes", (json_int_t)e->bytes, "result", e->result, "status", e->status, "spans",
			 (json_int_t)e->spans, "retry_after", e->retry_after);
}

json_t *otlpsink_arrivals_json(const struct otlpsink_arrivals *a)
{
	json_t *out = json_array();
	uint64_t first = a->next > a->cap ? a->next - a->cap : 1;
	for (uint64_t n = first; out != NULL && n < a->next; n++) {
		const struct arrival *e = &a->ring[n % a->cap];
		if (e->n == n)
			json_array_append_new(out, arrival_json(e));
	}
	return out;
}

void otlpsink_arrivals_clear(struct otlpsink_arrivals *a)
{
	/* Numbers go on from where they were: a request held across the clear must not end a newer one. */
	memset(a->ring, 0, a->cap * sizeof(*a->ring));
}
