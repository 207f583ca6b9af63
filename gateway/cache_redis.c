/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Response cache entries in Redis (see cache_redis.h). A lookup is a small
 * job between gov_redis' reply callback and the request: the request may
 * finish first (client gone), so cancelling only clears the job's callback
 * and the job frees itself on the reply, the timeout or the disconnect,
 * whichever gov_redis reports (it reports exactly one).
 */
#include "gateway/cache_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "gateway/gov_redis.h"

#define MAGIC "LGC1"
#define HDR 5 /* magic + tag */

struct cache_redis_get {
	cache_redis_cb cb; /* NULL once cancelled */
	void *arg;
	size_t max_len;
};

size_t cache_redis_key(const char *prefix, const uint8_t key[CACHE_KEY_LEN], char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	int n = snprintf(out, cap, "%scache:", prefix != NULL ? prefix : "");
	if (n < 0 || (size_t)n + 2 * CACHE_KEY_LEN >= cap)
		return 0;
	for (size_t i = 0; i < CACHE_KEY_LEN; i++) {
		out[n + 2 * i] = hex[key[i] >> 4];
		out[n + 2 * i + 1] = hex[key[i] & 15];
	}
	out[n + 2 * CACHE_KEY_LEN] = '\0';
	return (size_t)n + 2 * CACHE_KEY_LEN;
}

static void on_get(void *arg, const struct redisReply *r)
{
	struct cache_redis_get *job = arg;
	cache_redis_cb cb = job->cb;
	void *cbarg = job->arg;
	size_t max_len = job->max_len;
	free(job);
	if (cb == NULL)
		return;
	if (r == NULL) {
		cb(cbarg, -1, 0, NULL, 0);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		cb(cbarg, 0, 0, NULL, 0);
		return;
	}
	if (r->type != REDIS_REPLY_STRING || r->len < HDR || memcmp(r->str, MAGIC, 4) != 0 || r->len - HDR > max_len) {
		cb(cbarg, -1, 0, NULL, 0);
		return;
	}
	cb(cbarg, 1, (unsigned char)r->str[4], r->str + HDR, r->len - HDR);
}

int cache_redis_get(struct gov_redis *rd, const char *prefix, const uint8_t key[CACHE_KEY_LEN], size_t max_len,
		    cache_redis_cb cb, void *arg, struct cache_redis_get **job)
{
	char k[160];
	size_t kn = cache_redis_key(prefix, key, k, sizeof(k));
	struct cache_redis_get *j;
	if (kn == 0 || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->cb = cb;
	j->arg = arg;
	j->max_len = max_len;
	const char *argv[2] = {"GET", k};
	const size_t lens[2] = {3, kn};
	if (gov_redis_command(rd, 2, argv, lens, on_get, j, NULL) < 0) {
		free(j);
		return -1;
	}
	*job = j;
	return 0;
}

void cache_redis_cancel(struct cache_redis_get *job)
{
	if (job != NULL)
		job->cb = NULL;
}

int cache_redis_set(struct gov_redis *rd, const char *prefix, const uint8_t key[CACHE_KEY_LEN], unsigned tag,
		    const char *data, size_t len, int64_t ttl_ms)
{
	char k[160], ms[24];
	size_t kn = cache_redis_key(prefix, key, k, sizeof(k));
	char *v = malloc(HDR + len);
	int rc = -1;
	if (kn == 0 || v == NULL) {
		free(v);
		return -1;
	}
	memcpy(v, MAGIC, 4);
	v[4] = (char)tag;
	memcpy(v + HDR, data, len);
	int mn = snprintf(ms, sizeof(ms), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	const char *argv[5] = {"SET", k, v, "PX", ms};
	const size_t lens[5] = {3, kn, HDR + len, 2, (size_t)mn};
	/* hiredis copies the command into its output buffer before this returns */
	rc = gov_redis_command(rd, 5, argv, lens, NULL, NULL, NULL);
	free(v);
	return rc;
}
