/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The batch being collected: validated records in arrival order, flushed by
 * the pipeline when it reaches max_spans, when the next record would push
 * its estimated encoded size past max_bytes, or when batch.timeout expires
 * (the pipeline owns that timer).
 *
 * Records are copied in (the receive buffer is reused), into an array
 * allocated once at max_spans, so collecting costs no allocation per span.
 */
#ifndef LLMGW_EXPORTER_BATCH_H
#define LLMGW_EXPORTER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/spanrec-t.h"

struct batch;

/* NULL on ENOMEM. max_spans >= 1. */
struct batch *batch_new(uint32_t max_spans, uint64_t max_bytes);
void batch_free(struct batch *b);

/*
 * Estimated OTLP protobuf size of one span: fixed framing and attribute keys
 * plus its string values. An estimate (JSON is larger, gzip much smaller):
 * it bounds request size, it does not predict it.
 */
size_t batch_estimate(const struct spanrec *r);

/*
 * false when b is non-empty and a record of estimate est (batch_estimate,
 * computed once per record by the caller and passed to both calls) would
 * push it past max_bytes: flush first.
 */
bool batch_fits(const struct batch *b, size_t est);
/*
 * Copies r in (the caller checked batch_fits, or b is empty: one oversized
 * span still goes out alone). Returns true when b is now full and should be
 * flushed. now_mono_ns stamps the first record (only read when b is empty).
 */
bool batch_add(struct batch *b, const struct spanrec *r, size_t est, uint64_t now_mono_ns);

size_t batch_len(const struct batch *b);
uint64_t batch_bytes(const struct batch *b);
/* Monotonic time the oldest record was added; 0 when empty. */
uint64_t batch_first_ns(const struct batch *b);
/* The records, valid until the next batch_add/batch_reset. */
const struct spanrec *batch_records(const struct batch *b);
/* Empties b (after the records were encoded). */
void batch_reset(struct batch *b);

#endif
