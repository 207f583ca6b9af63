/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-memory FIFO of payloads (singly linked, head and tail). It holds at
 * most retry's max_pending batches, so O(1) push/pop is all it needs.
 * Contents are lost on exit; the durable disk queue replaces this module
 * behind the same calls.
 */
#include "exporter/queue.h"

#include <stdlib.h>

struct queue {
	struct payload *head;
	struct payload *tail;
	size_t n;
	uint64_t bytes;
};

struct payload *payload_new(struct buf *body, uint32_t nspans, unsigned flags, uint64_t now_ns)
{
	struct payload *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->data = buf_take(body, &p->len);
	if (p->data == NULL) {
		free(p);
		return NULL;
	}
	p->nspans = nspans;
	p->flags = flags;
	p->created_ns = now_ns;
	return p;
}

void payload_free(struct payload *p)
{
	if (p == NULL)
		return;
	free(p->data);
	free(p);
}

struct queue *queue_new(void)
{
	return calloc(1, sizeof(struct queue));
}

void queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	struct payload *p;
	while ((p = queue_pop(q)) != NULL)
		payload_free(p);
	free(q);
}

void queue_push(struct queue *q, struct payload *p)
{
	p->next = NULL;
	if (q->tail != NULL)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	q->n++;
	q->bytes += p->len;
}

struct payload *queue_pop(struct queue *q)
{
	struct payload *p = q->head;
	if (p == NULL)
		return NULL;
	q->head = p->next;
	if (q->head == NULL)
		q->tail = NULL;
	p->next = NULL;
	q->n--;
	q->bytes -= p->len;
	return p;
}

size_t queue_len(const struct queue *q)
{
	return q->n;
}

uint64_t queue_bytes(const struct queue *q)
{
	return q->bytes;
}
