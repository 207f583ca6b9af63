/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-process response cache: a hash table plus an LRU list, bounded by
 * bytes (each entry counts its answer, its key and its bookkeeping), every
 * entry with its own time to live. One cache per process, shared by the
 * workers behind one mutex: a lookup or a store holds it for a hash probe
 * and a few pointer moves (the answer itself is copied outside the lock),
 * which measured cheaper than the misses of per-worker caches would cost
 * (docs/cache.md has the numbers).
 *
 * Entries are reference-counted: a hit hands out a reference so the
 * answer can be written to the client after the lock is released, and an
 * entry evicted or replaced meanwhile is freed by whoever drops the last
 * reference. Expired entries leave when they are looked up or when the
 * least recently used end is evicted to make room.
 *
 * What is stored is opaque here (gateway/api_cache.c decides: the answer
 * bytes and whether they are JSON or an SSE stream).
 */
#ifndef LLMGW_GATEWAY_CACHE_H
#define LLMGW_GATEWAY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_KEY_LEN 32 /* SHA-256 */

struct metric;
struct cache;
struct cache_entry;

/* Series the cache keeps up to date itself (any may be NULL). */
struct cache_obs {
	struct metric *evicted_size;	/* llmgw_cache_evictions_total{reason="size"} */
	struct metric *evicted_expired; /* llmgw_cache_evictions_total{reason="expired"} */
	struct metric *bytes;		/* llmgw_cache_bytes */
	struct metric *entries;		/* llmgw_cache_entries */
};

/* Bytes an entry of len answer bytes counts for (answer + key + bookkeeping). */
size_t cache_entry_cost(size_t len);

/*
 * A cache of at most max_bytes (entries counted by cache_entry_cost); obs
 * is copied (its metrics must outlive the cache). NULL on ENOMEM.
 */
struct cache *cache_new(size_t max_bytes, const struct cache_obs *obs);
/* Frees the cache and every entry nobody holds (held ones go with their last release). NULL is a no-op. */
void cache_free(struct cache *c);

/*
 * The live entry for key, referenced (release it with cache_release), or
 * NULL: absent or expired at now_ns (monotonic; an expired one is dropped).
 * A hit becomes the most recently used.
 */
struct cache_entry *cache_get(struct cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t now_ns);
/* Drops a reference from cache_get; NULL is a no-op. Never takes the lock. */
void cache_release(struct cache_entry *e);
/* The stored bytes and the caller's tag of a referenced entry. */
const char *cache_entry_data(const struct cache_entry *e, size_t *len);
unsigned cache_entry_tag(const struct cache_entry *e);

/*
 * Stores a copy of data under key (replacing an older one), living ttl_ns
 * from now_ns, evicting least recently used entries until it fits. -1 when
 * it can never fit (cost over max_bytes) or on ENOMEM; nothing changes then.
 */
int cache_put(struct cache *c, const uint8_t key[CACHE_KEY_LEN], unsigned tag, const void *data, size_t len,
	      uint64_t ttl_ns, uint64_t now_ns);

/* Bytes and entries held now (cache_entry_cost summed). */
size_t cache_bytes(struct cache *c);
size_t cache_count(struct cache *c);

#endif
