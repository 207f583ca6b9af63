/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response cache in Redis (cache.redis: true), so replicas share their
 * answers: GET and SET ... PX on the worker's own asynchronous hiredis
 * connection (gateway/gov_redis.h), never blocking the loop. A lookup that
 * Redis does not answer within redis.timeout, or answers with an error, is
 * a miss for that request (and counted by the caller); a store is fire and
 * forget.
 *
 * Layout: key "<redis.prefix>cache:<64 hex digits of the SHA-256 key>",
 * value "LGC1" + one tag byte + the answer bytes, expiring with the
 * entry's TTL. A value that does not have that shape or is over the size
 * bound is treated as a miss.
 */
#ifndef LLMGW_GATEWAY_CACHE_REDIS_H
#define LLMGW_GATEWAY_CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/cache.h"

struct gov_redis;
struct cache_redis_get;

/*
 * The lookup's outcome: rc 1 hit (data, len and tag valid during the call
 * only), 0 miss, -1 Redis did not answer or answered garbage. Called once,
 * from the event loop, unless cancelled first.
 */
typedef void (*cache_redis_cb)(void *arg, int rc, unsigned tag, const char *data, size_t len);

/*
 * Starts a GET for key; values over max_len answer bytes are misses. 0
 * with *job set (for cache_redis_cancel), or -1 when Redis is not up
 * (no callback).
 */
int cache_redis_get(struct gov_redis *rd, const char *prefix, const uint8_t key[CACHE_KEY_LEN], size_t max_len,
		    cache_redis_cb cb, void *arg, struct cache_redis_get **job);
/* The caller went away: cb will not be called (the job frees itself when Redis answers or gives up). */
void cache_redis_cancel(struct cache_redis_get *job);

/* SET key value PX ttl_ms; -1 when not sent (Redis down, ENOMEM). */
int cache_redis_set(struct gov_redis *rd, const char *prefix, const uint8_t key[CACHE_KEY_LEN], unsigned tag,
		    const char *data, size_t len, int64_t ttl_ms);

/* "<prefix>cache:<hex>" into out (cap >= 32 + 6 + 64 + 1); its length. */
size_t cache_redis_key(const char *prefix, const uint8_t key[CACHE_KEY_LEN], char *out, size_t cap);

#endif
