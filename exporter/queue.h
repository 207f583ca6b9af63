/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoded batches waiting for delivery, oldest first.
 *
 * A payload is the exact request body (encoded, maybe gzipped) plus what
 * delivery needs to know about it, so a retry re-sends the same bytes and
 * a future disk-backed queue can store it as one record. This in-memory
 * FIFO is the interface that queue will implement: push at the tail, pop
 * from the head. Limits (batches, bytes) are enforced by retry.c, which
 * also knows about the batch in flight.
 */
#ifndef LLMGW_EXPORTER_QUEUE_H
#define LLMGW_EXPORTER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define PAYLOAD_F_JSON 0x1 /* body is OTLP/JSON (else protobuf) */
#define PAYLOAD_F_GZIP 0x2 /* body is gzip-compressed */

struct payload {
	char *data; /* owned */
	size_t len;
	uint32_t nspans;
	unsigned flags;	       /* PAYLOAD_F_* */
	uint64_t created_ns;   /* monotonic, when the batch was encoded */
	uint64_t first_try_ns; /* monotonic, first attempt; 0 = never tried */
	uint32_t attempts;
	uint64_t seq;	      /* dq: entry number, in push order */
	struct payload *next; /* queue link */
};

/* Takes body's storage (body is left empty). NULL on ENOMEM (body untouched). */
struct payload *payload_new(struct buf *body, uint32_t nspans, unsigned flags, uint64_t now_ns);
void payload_free(struct payload *p);

struct queue;

struct queue *queue_new(void);
/* Frees the queue and every payload still in it. */
void queue_free(struct queue *q);
/* Appends p (the queue owns it until popped). */
void queue_push(struct queue *q, struct payload *p);
/* Removes and returns the oldest payload (the caller owns it), NULL when empty. */
struct payload *queue_pop(struct queue *q);
size_t queue_len(const struct queue *q);
uint64_t queue_bytes(const struct queue *q);

#endif
