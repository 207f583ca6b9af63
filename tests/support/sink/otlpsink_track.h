/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What otlp-sink tracks about deliveries, apart from the spans themselves:
 *
 *  - the span ids seen, so a test can tell "every span arrived" from "some
 *    spans arrived twice" (at-least-once delivery re-sends a batch whose
 *    answer was lost): unique and duplicate counts;
 *  - one entry per export request as it arrived (monotonic and wall time,
 *    path, what the sink did with it), so a test can measure the gaps the
 *    exporter left between retries from the sink's side of the wire.
 *
 * Both are bounded: the id set stops growing at a fixed number of ids
 * (further new ids are counted as untracked), the arrival log is a ring
 * that keeps the latest entries.
 */
#ifndef LLMGW_TESTS_OTLPSINK_TRACK_H
#define LLMGW_TESTS_OTLPSINK_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- span ids ------------------------------------------------------------- */

struct otlpsink_seen;

struct otlpsink_seen_counts {
	uint64_t unique;    /* distinct span ids */
	uint64_t duplicate; /* spans whose id had been seen before */
	uint64_t untracked; /* spans not checked because the set was full */
};

/* A set that holds up to max_ids ids. NULL on ENOMEM. */
struct otlpsink_seen *otlpsink_seen_new(size_t max_ids);
/* NULL is a no-op. */
void otlpsink_seen_free(struct otlpsink_seen *s);
/*
 * Notes one span id (any string, normally 16 hex digits); true when it is
 * new. Ids are kept as 64-bit hashes: two different ids colliding is as
 * likely as two random span ids being equal.
 */
bool otlpsink_seen_add(struct otlpsink_seen *s, const char *span_id);
/* Notes every span of a decoded resource_spans array (the otlpsink_decode shape). */
void otlpsink_seen_add_all(struct otlpsink_seen *s, const json_t *resource_spans);
void otlpsink_seen_counts(const struct otlpsink_seen *s, struct otlpsink_seen_counts *out);
void otlpsink_seen_clear(struct otlpsink_seen *s);

/* ---- arrivals ------------------------------------------------------------- */

struct otlpsink_arrivals;

/* Keeps the latest cap entries. NULL on ENOMEM. */
struct otlpsink_arrivals *otlpsink_arrivals_new(size_t cap);
/* NULL is a no-op. */
void otlpsink_arrivals_free(struct otlpsink_arrivals *a);

/*
 * A request to path arrived now: returns its number (1, 2, ... since start,
 * never reused), its outcome "pending" until otlpsink_arrivals_end.
 */
uint64_t otlpsink_arrivals_begin(struct otlpsink_arrivals *a, const char *path, size_t body_bytes);
/*
 * Records what became of request n: result ("ok", "fail", "drop",
 * "partial", "rejected", "abandoned"), the HTTP status answered (0 for
 * none), spans decoded, and the Retry-After sent ("" for none). A no-op
 * when n has already left the ring.
 */
void otlpsink_arrivals_end(struct otlpsink_arrivals *a, uint64_t n, const char *result, int status, size_t spans,
			   const char *retry_after);
/*
 * New JSON array, oldest first: {n, t_ms, wall_ms, done_ms, path, bytes,
 * result, status, spans, retry_after}; t_ms and done_ms are monotonic
 * milliseconds (with microseconds as the fraction) of arrival and answer.
 */
json_t *otlpsink_arrivals_json(const struct otlpsink_arrivals *a);
void otlpsink_arrivals_clear(struct otlpsink_arrivals *a);

#endif
