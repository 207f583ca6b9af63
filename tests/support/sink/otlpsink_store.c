/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded store of recorded export requests for otlp-sink: a ring of
 * (JSON record, span count) pairs with room for max_requests entries, plus
 * a running span total checked against max_spans. Eviction is from the
 * front, one whole request at a time, which keeps each stored request
 * intact (a test never sees half an export).
 */
#include <stdlib.h>

#include "tests/support/sink/otlpsink_store.h"

struct entry {
	json_t *rec;
	size_t nspans;
};

struct otlpsink_store {
	struct entry *ring;
	size_t max_requests;
	size_t max_spans;
	size_t head; /* oldest */
	size_t count;
	size_t spans;
	uint64_t dropped_requests;
	uint64_t dropped_spans;
	uint64_t next_seq;
};

struct otlpsink_store *otlpsink_store_new(size_t max_spans, size_t max_requests)
{
	struct otlpsink_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->ring = calloc(max_requests, sizeof(*s->ring));
	if (s->ring == NULL) {
		free(s);
		return NULL;
	}
	s->max_requests = max_requests;
	s->max_spans = max_spans;
	return s;
}

static void drop_oldest(struct otlpsink_store *s)
{
	struct entry *e = &s->ring[s->head];
	s->dropped_requests++;
	s->dropped_spans += e->nspans;
	s->spans -= e->nspans;
	json_decref(e->rec);
	e->rec = NULL;
	s->head = (s->head + 1) % s->max_requests;
	s->count--;
}

void otlpsink_store_clear(struct otlpsink_store *s)
{
	while (s->count > 0)
		drop_oldest(s);
	s->head = 0;
	s->dropped_requests = 0;
	s->dropped_spans = 0;
}

void otlpsink_store_free(struct otlpsink_store *s)
{
	if (s == NULL)
		return;
	otlpsink_store_clear(s);
	free(s->ring);
	free(s);
}

void otlpsink_store_add(struct otlpsink_store *s, json_t *rec, size_t nspans)
{
	size_t i;
	json_t *rs;
	json_array_foreach(json_object_get(rec, "resource_spans"), i, rs)
	{
		json_object_set_new(rs, "seq", json_integer((json_int_t)++s->next_seq));
	}
	while (s->count > 0 && (s->count == s->max_requests || s->spans + nspans > s->max_spans))
		drop_oldest(s);
	s->ring[(s->head + s->count) % s->max_requests] = (struct entry){.rec = rec, .nspans = nspans};
	s->count++;
	s->spans += nspans;
}

json_t *otlpsink_store_requests(const struct otlpsink_store *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < s->count; i++)
		json_array_append(a, s->ring[(s->head + i) % s->max_requests].rec);
	return a;
}

/* Appends rs's spans to out, each a shallow copy tagged with its resource. */
static void flatten_rs(json_t *out, json_t *rs)
{
	size_t i;
	json_t *span;
	json_t *res = json_object_get(rs, "resource");
	json_t *scope = json_object_get(rs, "scope");
	json_t *seq = json_object_get(rs, "seq");
	json_array_foreach(json_object_get(rs, "spans"), i, span)
	{
		json_t *c = json_copy(span);
		if (c == NULL)
			continue;
		json_object_set(c, "resource", res);
		json_object_set(c, "scope", scope);
		json_object_set(c, "resource_seq", seq);
		json_array_append_new(out, c);
	}
}

json_t *otlpsink_store_spans(const struct otlpsink_store *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < s->count; i++) {
		size_t j;
		json_t *rs;
		json_array_foreach(json_object_get(s->ring[(s->head + i) % s->max_requests].rec, "resource_spans"), j,
				   rs)
		{
			flatten_rs(a, rs);
		}
	}
	return a;
}

void otlpsink_store_counts(const struct otlpsink_store *s, struct otlpsink_store_counts *out)
{
	out->requests = s->count;
	out->spans = s->spans;
	out->dropped_requests = s->dropped_requests;
	out->dropped_spans = s->dropped_spans;
}
