/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch collection by count and estimated bytes.
 *
 * The byte estimate exists so a batch of long model names and metadata
 * cannot grow into a request the backend refuses (OTLP servers cap bodies,
 * 413 is a drop): it errs on the large side for protobuf, so max_bytes is
 * a ceiling on the uncompressed protobuf body, loosely.
 */
#include "exporter/batch.h"

#include <stdlib.h>
#include <string.h>

/*
 * Framing of one span (ids, times, kind, flags, status, length prefixes)
 * plus the keys and framing of a typical attribute set (~20 attributes of
 * ~25 bytes): measured on encoded gateway spans, rounded up.
 */
#define BATCH_SPAN_OVERHEAD 600

struct batch {
	struct spanrec *recs;
	uint32_t n;
	uint32_t max_spans;
	uint64_t bytes;
	uint64_t max_bytes;
	uint64_t first_ns;
};

struct batch *batch_new(uint32_t max_spans, uint64_t max_bytes)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->max_spans = max_spans ? max_spans : 1;
	b->max_bytes = max_bytes;
	b->recs = malloc((size_t)b->max_spans * sizeof(*b->recs));
	if (b->recs == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->recs);
	free(b);
}

size_t batch_estimate(const struct spanrec *r)
{
	/* Validated records have a NUL in every field, so strlen is bounded. */
	size_t n = BATCH_SPAN_OVERHEAD;
	n += strlen(r->name) + strlen(r->request_model) + strlen(r->response_model) + strlen(r->provider);
	n += strlen(r->server_address) + strlen(r->error_type) + strlen(r->finish_reason) + strlen(r->user);
	n += strlen(r->key_name) + strlen(r->target) + strlen(r->fallback_reason) + strlen(r->request_id);
	n += strlen(r->response_id) + strlen(r->tenant_id) + strlen(r->team);
	for (size_t i = 0; i < SPANREC_META_MAX; i++)
		n += strlen(r->meta[i].key) + strlen(r->meta[i].value);
	return n;
}

bool batch_fits(const struct batch *b, size_t est)
{
	return b->n == 0 || b->bytes + est <= b->max_bytes;
}

bool batch_add(struct batch *b, const struct spanrec *r, size_t est, uint64_t now_mono_ns)
{
	if (b->n >= b->max_spans)
		return true; /* caller ignored the last "full": refuse rather than overflow */
	if (b->n == 0)
		b->first_ns = now_mono_ns ? now_mono_ns : 1;
	memcpy(&b->recs[b->n++], r, sizeof(*r));
	b->bytes += est;
	return b->n >= b->max_spans || b->bytes >= b->max_bytes;
}

size_t batch_len(const struct batch *b)
{
	return b->n;
}

uint64_t batch_bytes(const struct batch *b)
{
	return b->bytes;
}

uint64_t batch_first_ns(const struct batch *b)
{
	return b->n ? b->first_ns : 0;
}

const struct spanrec *batch_records(const struct batch *b)
{
	return b->recs;
}

void batch_reset(struct batch *b)
{
	b->n = 0;
	b->bytes = 0;
	b->first_ns = 0;
}
