/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/cache: store and hit, LRU eviction bounded by
 * bytes (keys and bookkeeping counted), a hit refreshing recency, TTL
 * expiry on lookup and at eviction, replacement, entries over the bound,
 * an evicted entry staying readable while referenced, the metrics it
 * keeps, and two threads sharing it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"
#include "gateway/cache.h"

static void key_of(unsigned i, uint8_t key[CACHE_KEY_LEN])
{
	memset(key, 0, CACHE_KEY_LEN);
	/* the bucket comes from the first bytes: spread some, collide some */
	key[0] = (uint8_t)(i & 3);
	key[31] = (uint8_t)i;
	key[30] = (uint8_t)(i >> 8);
}

static bool has(struct cache *c, unsigned i, uint64_t now)
{
	uint8_t k[CACHE_KEY_LEN];
	key_of(i, k);
	struct cache_entry *e = cache_get(c, k, now);
	cache_release(e);
	return e != NULL;
}

static void put(struct cache *c, unsigned i, size_t len, uint64_t ttl, uint64_t now)
{
	uint8_t k[CACHE_KEY_LEN];
	char *data = malloc(len + 1);
	memset(data, 'a' + (int)(i % 26), len);
	key_of(i, k);
	assert_int_equal(cache_put(c, k, i, data, len, ttl, now), 0);
	free(data);
}

static void test_put_get(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20, NULL);
	uint8_t k[CACHE_KEY_LEN];
	key_of(7, k);
	assert_null(cache_get(c, k, 0));
	assert_int_equal(cache_put(c, k, 1, "{\"x\":1}", 7, 1000, 0), 0);
	struct cache_entry *e = cache_get(c, k, 10);
	assert_non_null(e);
	size_t n;
	const char *d = cache_entry_data(e, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(d, "{\"x\":1}", 7);
	assert_int_equal(cache_entry_tag(e), 1);
	cache_release(e);
	assert_int_equal(cache_count(c), 1);
	assert_int_equal(cache_bytes(c), cache_entry_cost(7));
	/* replacing keeps one entry with the new bytes */
	assert_int_equal(cache_put(c, k, 2, "{}", 2, 1000, 0), 0);
	assert_int_equal(cache_count(c), 1);
	assert_int_equal(cache_bytes(c), cache_entry_cost(2));
	cache_free(c);
}

static void test_lru_by_bytes(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct cache_obs obs = {
	    .evicted_size = metrics_counter(reg, "e_total", "e", "reason=\"size\""),
	    .evicted_expired = metrics_counter(reg, "e_total", "e", "reason=\"expired\""),
	    .bytes = metrics_gauge(reg, "b", "b", NULL),
	    .entries = metrics_gauge(reg, "n", "n", NULL),
	};
	size_t cost = cache_entry_cost(1000);
	struct cache *c = cache_new(3 * cost, &obs);
	put(c, 1, 1000, 1000, 0);
	put(c, 2, 1000, 1000, 0);
	put(c, 3, 1000, 1000, 0);
	assert_int_equal(metric_get(obs.bytes), (int64_t)(3 * cost));
	assert_true(has(c, 1, 1)); /* 1 is now the most recent: 2 is the oldest */
	put(c, 4, 1000, 1000, 1);
	assert_false(has(c, 2, 2));
	assert_true(has(c, 1, 2) && has(c, 3, 2) && has(c, 4, 2));
	assert_int_equal(metric_get(obs.evicted_size), 1);
	/* a bigger entry pushes out as many as it needs */
	put(c, 5, 2 * 1000 + 100, 1000, 3);
	assert_int_equal(cache_count(c), 1);
	assert_true(cache_bytes(c) <= 3 * cost);
	assert_int_equal(metric_get(obs.evicted_size), 4);
	assert_int_equal(metric_get(obs.entries), 1);
	/* one that can never fit is refused and changes nothing */
	uint8_t k[CACHE_KEY_LEN];
	key_of(9, k);
	char *big = calloc(1, 3 * cost);
	assert_int_equal(cache_put(c, k, 0, big, 3 * cost, 1000, 3), -1);
	free(big);
	assert_true(has(c, 5, 4));
	cache_free(c);
	metrics_free(reg);
}

static void test_ttl(void **state)
{
	(void)state;
	struct metrics *reg = metrics_new();
	struct cache_obs obs = {
	    .evicted_size = metrics_counter(reg, "e_total", "e", "reason=\"size\""),
	    .evicted_expired = metrics_counter(reg, "e_total", "e", "reason=\"expired\""),
	};
	struct cache *c = cache_new(3 * cache_entry_cost(10), &obs);
	put(c, 1, 10, 100, 1000);
	assert_true(has(c, 1, 1099));
	assert_false(has(c, 1, 1100)); /* expired: gone for good */
	assert_int_equal(cache_count(c), 0);
	assert_int_equal(metric_get(obs.evicted_expired), 1);
	/* an expired tail evicted for room counts as expired */
	put(c, 2, 10, 10, 0);
	put(c, 3, 10, 1000, 0);
	put(c, 4, 10, 1000, 0);
	put(c, 5, 10, 1000, 50);
	assert_int_equal(metric_get(obs.evicted_expired), 2);
	assert_int_equal(metric_get(obs.evicted_size), 0);
	cache_free(c);
	metrics_free(reg);
}

static void test_held_entry_survives(void **state)
{
	(void)state;
	struct cache *c = cache_new(cache_entry_cost(16), NULL);
	uint8_t k[CACHE_KEY_LEN];
	put(c, 1, 16, 1000, 0);
	key_of(1, k);
	struct cache_entry *e = cache_get(c, k, 1);
	assert_non_null(e);
	put(c, 2, 16, 1000, 1); /* evicts 1 while it is held */
	assert_false(has(c, 1, 2));
	size_t n;
	const char *d = cache_entry_data(e, &n);
	assert_int_equal(n, 16);
	assert_int_equal(d[0], 'b');
	cache_release(e); /* freed here (ASan checks) */
	cache_free(c);
}

struct worker {
	struct cache *c;
	unsigned base;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < 20000; i++) {
		unsigned id = w->base + (i % 64);
		if (i % 3 == 0)
			put(w->c, id, 64 + i % 200, 1000000, i);
		else
			has(w->c, id, i);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct cache *c = cache_new(40 * cache_entry_cost(200), NULL);
	pthread_t t[2];
	struct worker w[2] = {{c, 0}, {c, 32}};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(cache_bytes(c) <= 40 * cache_entry_cost(200));
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get), cmocka_unit_test(test_lru_by_bytes),
	    cmocka_unit_test(test_ttl),	    cmocka_unit_test(test_held_entry_survives),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
