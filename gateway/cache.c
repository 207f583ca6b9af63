/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-process response cache (see cache.h): chained hash buckets over
 * the first 8 bytes of the SHA-256 key, one doubly linked LRU list (head =
 * most recent), a byte count, one mutex. The answer is copied into the
 * entry at store time and out of it by the writer of the response, never
 * under the lock.
 */
#include "gateway/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

struct cache_entry {
	struct cache_entry *hnext;	 /* bucket chain */
	struct cache_entry *prev, *next; /* LRU */
	atomic_uint refs;		 /* the cache's own (while linked) + one per cache_get */
	uint8_t key[CACHE_KEY_LEN];
	unsigned tag;
	uint64_t expires_ns;
	size_t len;
	char data[]; /* len bytes + NUL */
};

struct cache {
	pthread_mutex_t mu;
	struct cache_entry **buckets;
	size_t nbuckets; /* a power of two */
	struct cache_entry *head, *tail;
	size_t bytes, max_bytes, count;
	struct cache_obs obs;
};

size_t cache_entry_cost(size_t len)
{
	return sizeof(struct cache_entry) + len + 1;
}

struct cache *cache_new(size_t max_bytes, const struct cache_obs *obs)
{
	struct cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	/* about one bucket per 2 KiB of budget: short chains for answers of a few KiB */
	c->nbuckets = 1024;
	while (c->nbuckets < ((size_t)1 << 20) && c->nbuckets * 2048 < max_bytes)
		c->nbuckets *= 2;
	if ((c->buckets = calloc(c->nbuckets, sizeof(*c->buckets))) == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c->buckets);
		free(c);
		return NULL;
	}
	c->max_bytes = max_bytes;
	if (obs != NULL)
		c->obs = *obs;
	return c;
}

static void entry_unref(struct cache_entry *e)
{
	if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
		free(e);
}

void cache_release(struct cache_entry *e)
{
	if (e != NULL)
		entry_unref(e);
}

void cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	for (struct cache_entry *e = c->head, *n; e != NULL; e = n) {
		n = e->next;
		entry_unref(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
}

const char *cache_entry_data(const struct cache_entry *e, size_t *len)
{
	*len = e->len;
	return e->data;
}

unsigned cache_entry_tag(const struct cache_entry *e)
{
	return e->tag;
}

static size_t bucket_of(const struct cache *c, const uint8_t *key)
{
	uint64_t h;
	memcpy(&h, key, sizeof(h));
	return (size_t)(h & (c->nbuckets - 1));
}

static void lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void publish(struct cache *c)
{
	metric_set(c->obs.bytes, (int64_t)c->bytes);
	metric_set(c->obs.entries, (int64_t)c->count);
}

/* Takes e out of the table and the list (lock held) and drops the cache's reference. */
static void remove_entry(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[bucket_of(c, e->key)];
	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->bytes -= cache_entry_cost(e->len);
	c->count--;
	entry_unref(e);
}

static struct cache_entry *lookup(struct cache *c, const uint8_t *key)
{
	for (struct cache_entry *e = c->buckets[bucket_of(c, key)]; e != NULL; e = e->hnext)
		if (memcmp(e->key, key, CACHE_KEY_LEN) == 0)
			return e;
	return NULL;
}

struct cache_entry *cache_get(struct cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t now_ns)
{
	struct cache_entry *e;
	pthread_mutex_lock(&c->mu);
	e = lookup(c, key);
	if (e != NULL && e->expires_ns <= now_ns) {
		remove_entry(c, e);
		metric_inc(c->obs.evicted_expired);
		publish(c);
		e = NULL;
	} else if (e != NULL) {
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		if (c->head != e) {
			lru_unlink(c, e);
			lru_push_front(c, e);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

int cache_put(struct cache *c, const uint8_t key[CACHE_KEY_LEN], unsigned tag, const void *data, size_t len,
	      uint64_t ttl_ns, uint64_t now_ns)
{
	size_t cost = cache_entry_cost(len);
	if (cost > c->max_bytes || len > SIZE_MAX / 2)
		return -1;
	/* the copy is made before the lock is taken */
	struct cache_entry *e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, CACHE_KEY_LEN);
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->len = len;
	e->tag = tag;
	e->expires_ns = now_ns + ttl_ns;
	atomic_init(&e->refs, 1);

	pthread_mutex_lock(&c->mu);
	struct cache_entry *old = lookup(c, key);
	if (old != NULL)
		remove_entry(c, old);
	while (c->bytes + cost > c->max_bytes && c->tail != NULL) {
		bool expired = c->tail->expires_ns <= now_ns;
		remove_entry(c, c->tail);
		metric_inc(expired ? c->obs.evicted_expired : c->obs.evicted_size);
	}
	size_t b = bucket_of(c, key);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->bytes += cost;
	c->count++;
	publish(c);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

size_t cache_bytes(struct cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t b = c->bytes;
	pthread_mutex_unlock(&c->mu);
	return b;
}

size_t cache_count(struct cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}
