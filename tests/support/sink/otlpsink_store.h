/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What otlp-sink remembers: the accepted export requests, oldest first,
 * bounded by a span count and a request count so a long load test cannot
 * grow the sink without limit. When a new request would pass either bound
 * the oldest requests go (whole, with their spans) and are counted.
 */
#ifndef LLMGW_TESTS_OTLPSINK_STORE_H
#define LLMGW_TESTS_OTLPSINK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct otlpsink_store;

struct otlpsink_store_counts {
	size_t requests;	   /* held now */
	size_t spans;		   /* held now */
	uint64_t dropped_requests; /* evicted to stay in bounds since the last clear */
	uint64_t dropped_spans;
};

/* Returns NULL on ENOMEM. */
struct otlpsink_store *otlpsink_store_new(size_t max_spans, size_t max_requests);
/* NULL is a no-op. */
void otlpsink_store_free(struct otlpsink_store *s);

/*
 * Takes rec (a recorded request with a "resource_spans" array holding
 * nspans spans in all) and tags each ResourceSpans entry with a "seq"
 * number unique since start, so spans can be told apart by the
 * ResourceSpans they came in. Evicts the oldest to stay in bounds.
 */
void otlpsink_store_add(struct otlpsink_store *s, json_t *rec, size_t nspans);

/* New JSON array of the held requests, oldest first (caller owns it). */
json_t *otlpsink_store_requests(const struct otlpsink_store *s);

/*
 * New flat JSON array of the held spans, oldest first; each span gains
 * "resource" (its ResourceSpans' attributes), "scope" and "resource_seq".
 */
json_t *otlpsink_store_spans(const struct otlpsink_store *s);

void otlpsink_store_counts(const struct otlpsink_store *s, struct otlpsink_store_counts *out);

/* Forgets every request and zeroes the drop counters. */
void otlpsink_store_clear(struct otlpsink_store *s);

#endif
