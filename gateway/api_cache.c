/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response cache on the request path (see api_cache.h): the decision,
 * the key, the lookup (in process: synchronous; Redis: continues from the
 * reply), serving a hit (JSON as is; a stream replayed through a relay so
 * the span gets its facts the same way a live stream does), and storing
 * what a miss produced.
 */
#include "gateway/api_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/auth.h"
#include "gateway/cache.h"
#include "gateway/cache_key.h"
#include "gateway/cache_redis.h"
#include "gateway/guard.h"
#include "gateway/gw.h"
#include "gateway/gw_gen.h"
#include "gateway/http_srv.h"

enum { TAG_JSON = 0, TAG_SSE = 1 };
enum mode { MODE_DEFAULT = 0, MODE_ON, MODE_OFF, MODE_REFRESH };

struct api_cache_g {
	struct cache *store; /* NULL with cache.redis */
	struct metric *hits, *misses, *stores, *redis_errors;
	struct cache_obs obs;
};

struct api_cache_req {
	uint8_t key[CACHE_KEY_LEN];
	int64_t ttl_ms;
	size_t max_entry;
	bool store;	 /* the answer may be stored */
	bool hit;	 /* the lookup found one */
	bool embeddings; /* what a stored answer must look like */
	bool stream;
	struct cache_entry *entry;   /* an in-process hit, held until r finishes */
	struct cache_redis_get *job; /* a Redis lookup in flight */
	struct buf val;		     /* a Redis hit's bytes, or a stream's capture */
	unsigned tag;
	bool capture_over; /* the stream grew past max_entry: not stored */
	void (*done)(struct gw_req *r);
};

static const char *const endpoints[PROVIDER_OP__COUNT] = {
    [PROVIDER_OP_CHAT] = "/v1/chat/completions",
    [PROVIDER_OP_COMPLETIONS] = "/v1/completions",
    [PROVIDER_OP_EMBEDDINGS] = "/v1/embeddings",
};

int api_cache_init(struct gw *g, struct err *err)
{
	const struct gw_cache *cc = g->conf->cache;
	struct metrics *reg = g->metrics.reg;
	struct api_cache_g *pg;
	const char *ev = "Response cache entries removed, by reason";
	if (cc == NULL)
		return 0;
	if ((pg = g->rcache = calloc(1, sizeof(*pg))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	pg->hits = metrics_counter(reg, "llmgw_cache_hits_total", "Requests answered from the response cache", NULL);
	pg->misses = metrics_counter(reg, "llmgw_cache_misses_total",
				     "Response cache lookups that found nothing (Redis errors included)", NULL);
	pg->stores = metrics_counter(reg, "llmgw_cache_stores_total", "Answers stored in the response cache", NULL);
	pg->redis_errors = metrics_counter(reg, "llmgw_cache_redis_errors_total",
					   "Response cache commands Redis did not answer in time or refused", NULL);
	pg->obs.evicted_size = metrics_counter(reg, "llmgw_cache_evictions_total", ev, "reason=\"size\"");
	pg->obs.evicted_expired = metrics_counter(reg, "llmgw_cache_evictions_total", ev, "reason=\"expired\"");
	pg->obs.bytes = metrics_gauge(reg, "llmgw_cache_bytes", "Bytes held by the in-process response cache", NULL);
	pg->obs.entries = metrics_gauge(reg, "llmgw_cache_entries", "Entries in the in-process response cache", NULL);
	if (pg->hits == NULL || pg->misses == NULL || pg->stores == NULL || pg->redis_errors == NULL ||
	    pg->obs.evicted_size == NULL || pg->obs.evicted_expired == NULL || pg->obs.bytes == NULL ||
	    pg->obs.entries == NULL)
		return err_set(err, ENOMEM, "cannot register the llmgw_cache_* metrics");
	if (!cc->redis && (pg->store = cache_new((size_t)cc->max_bytes, &pg->obs)) == NULL)
		return err_set(err, ENOMEM, "cannot create the response cache");
	return 0;
}

void api_cache_fini(struct gw *g)
{
	if (g->rcache == NULL)
		return;
	cache_free(g->rcache->store);
	free(g->rcache);
	g->rcache = NULL;
}

bool api_cache_hit(const struct gw_req *r)
{
	return r->cache != NULL && r->cache->hit;
}

/* ---- deciding and looking up ------------------------------------------------------------------- */

static int parse_mode(const char *h, enum mode *m)
{
	static const char *const names[] = {[MODE_ON] = "on", [MODE_OFF] = "off", [MODE_REFRESH] = "refresh"};
	*m = MODE_DEFAULT;
	if (h == NULL)
		return 0;
	for (int i = MODE_ON; i <= MODE_REFRESH; i++)
		if (strcasecmp(h, names[i]) == 0) {
			*m = (enum mode)i;
			return 0;
		}
	return -1;
}

/* The key: scope, endpoint, the guardrails that apply, the stream shape, the request. -1: not cacheable now. */
static int make_key(struct gw_req *r, enum provider_op op, const char *body, size_t len, struct api_cache_req *st)
{
	const struct gw_conf *c = r->gen->conf;
	const struct auth_identity *id = r->span.ident;
	const struct gw_key *k = id != NULL ? id->key : NULL;
	uint64_t mask = c->models[r->model_index].guards | (k != NULL ? k->guards : 0);
	uint8_t fps[GUARD_RULES_MAX][8];
	struct cache_key_in in = {
	    .tenant = id != NULL ? id->tenant_id : NULL,
	    .key_name = id != NULL ? id->key_name : NULL,
	    .endpoint = endpoints[op],
	    .fps = (const uint8_t(*)[8])fps,
	    .stream = st->stream,
	    .include_usage = st->stream && r->chat.include_usage,
	};
	for (size_t i = 0; i < c->nguards && i < GUARD_RULES_MAX; i++)
		if (mask & ((uint64_t)1 << i))
			memcpy(fps[in.nfps++], c->guards[i].fp, 8);
	return cache_key_compute(&in, body, len, st->key);
}

static void missed(struct gw_req *r)
{
	metric_inc(r->w->gw->rcache->misses);
	http_srv_add_header(r, "x-llmgw-cache", "miss");
}

static void found(struct gw_req *r, unsigned tag)
{
	struct api_cache_req *st = r->cache;
	/* a stream is replayed as a stream and JSON as JSON: the key says which, this only checks */
	if (tag != (st->stream ? TAG_SSE : TAG_JSON)) {
		missed(r);
		return;
	}
	st->hit = true;
	st->tag = tag;
	st->store = false;
	r->span.cache_hit = true;
	metric_inc(r->w->gw->rcache->hits);
}

static void on_redis(void *arg, int rc, unsigned tag, const char *data, size_t len)
{
	struct gw_req *r = arg;
	struct api_cache_req *st = r->cache;
	st->job = NULL;
	if (rc == 1 && buf_append(&st->val, data, len) == 0)
		found(r, tag);
	else {
		if (rc != 0)
			metric_inc(r->w->gw->rcache->redis_errors);
		missed(r);
	}
	st->done(r);
}

/* Looks the key up; false when done(r) comes later (Redis). */
static bool lookup(struct gw_req *r, struct api_cache_req *st)
{
	const struct gw_conf *c = r->gen->conf;
	struct api_cache_g *pg = r->w->gw->rcache;
	r->span.cache_lookup = true;
	if (c->cache->redis) {
		const char *prefix = c->redis != NULL ? c->redis->prefix : "";
		if (r->w->redis != NULL &&
		    cache_redis_get(r->w->redis, prefix, st->key, st->max_entry, on_redis, r, &st->job) == 0)
			return false;
		metric_inc(pg->redis_errors); /* Redis is down: a miss */
		missed(r);
		return true;
	}
	if ((st->entry = cache_get(pg->store, st->key, clock_mono_ns())) != NULL)
		found(r, cache_entry_tag(st->entry));
	else
		missed(r);
	return true;
}

int api_cache_begin(struct gw_req *r, const struct gw_model *m, enum provider_op op, const char *body, size_t len,
		    void (*done)(struct gw_req *r))
{
	const struct gw_conf *c = r->gen->conf;
	struct api_cache_req *st;
	enum mode mode;
	if (c->cache == NULL || r->w->gw->rcache == NULL) {
		done(r);
		return 0;
	}
	if (parse_mode(http_srv_header(r, "x-llmgw-cache"), &mode) < 0) {
		http_srv_reply_error(r, GWE_INVALID_REQUEST, NULL,
				     "the x-llmgw-cache header must be on, off or refresh");
		return -1;
	}
	bool use = mode == MODE_ON || mode == MODE_REFRESH || (mode == MODE_DEFAULT && m->cache.enabled);
	bool det = op == PROVIDER_OP_EMBEDDINGS || cache_key_deterministic(body, len);
	if (!use || (!det && !m->cache.allow_nondeterministic)) {
		done(r);
		return 0;
	}
	if ((st = r->cache = calloc(1, sizeof(*st))) == NULL) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		return -1;
	}
	st->stream = op != PROVIDER_OP_EMBEDDINGS && r->chat.stream;
	st->embeddings = op == PROVIDER_OP_EMBEDDINGS;
	st->max_entry = (size_t)c->cache->max_entry_bytes;
	st->ttl_ms = m->cache.ttl_ms > 0 ? m->cache.ttl_ms : c->cache->default_ttl_ms;
	st->done = done;
	buf_init(&st->val, st->max_entry);
	if (make_key(r, op, body, len, st) < 0) { /* out of memory: answer without the cache */
		done(r);
		return 0;
	}
	st->store = true;
	if (mode == MODE_REFRESH) {
		http_srv_add_header(r, "x-llmgw-cache", "miss");
		done(r);
		return 0;
	}
	if (lookup(r, st))
		done(r);
	return 0;
}

/* ---- serving a hit ------------------------------------------------------------------------------ */

static int client_write(const char *p, size_t n, void *arg)
{
	return http_srv_stream_write(arg, p, n);
}

/* The stored stream through a relay: the same bytes, and the span facts a live stream gives. */
static void replay(struct gw_req *r, const char *data, size_t len)
{
	const struct chat_stream_opts o = {.n_choices = r->chat.n_choices};
	struct err err;
	if ((r->relay = chat_stream_new(&o)) == NULL) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		return;
	}
	http_srv_add_header(r, "Cache-Control", "no-cache");
	if (http_srv_stream_start(r, 200, "text/event-stream") < 0 ||
	    chat_stream_feed(r->relay, data, len, clock_mono_ns(), client_write, r, &err) < 0) {
		http_srv_abandon(r);
		return;
	}
	chat_stream_finish(r->relay, NULL, client_write, r);
	const struct chat_stream_info *in = chat_stream_info(r->relay);
	r->span.resp = in->resp;
	r->span.resp.has_usage = false; /* nothing was used: no tokens on the span, none charged */
	if (in->first_token && in->first_token_ns > r->start_mono_ns)
		r->span.ttft_ns = in->first_token_ns - r->start_mono_ns;
	http_srv_stream_end(r);
}

void api_cache_serve(struct gw_req *r)
{
	struct api_cache_req *st = r->cache;
	/*
	 * The answer leaves r first: finishing r frees what r holds before the
	 * body is written, and another worker may evict the entry meanwhile.
	 */
	struct cache_entry *e = st->entry;
	struct buf val = st->val;
	const char *data = val.data != NULL ? val.data : "";
	size_t len = val.len;
	st->entry = NULL;
	buf_init(&st->val, 0);
	if (e != NULL)
		data = cache_entry_data(e, &len);
	http_srv_add_header(r, "x-llmgw-cache", "hit");
	if (st->tag == TAG_SSE) {
		replay(r, data, len);
	} else {
		if (st->embeddings) {
			struct embed_response_info info;
			embed_response_extract(data, len, &info);
			r->span.resp = info.resp;
		} else {
			chat_response_extract(data, len, &r->span.resp);
		}
		r->span.resp.has_usage = false;
		http_srv_reply_body(r, 200, "application/json", data, len);
	}
	cache_release(e); /* r is gone: only locals from here */
	buf_fini(&val);
}

/* ---- storing ------------------------------------------------------------------------------------- */

static void put(struct gw_req *r, unsigned tag, const char *data, size_t len)
{
	struct api_cache_req *st = r->cache;
	struct api_cache_g *pg = r->w->gw->rcache;
	const struct gw_conf *c = r->gen->conf;
	int rc;
	st->store = false;
	if (c->cache->redis)
		rc = r->w->redis != NULL ? cache_redis_set(r->w->redis, c->redis != NULL ? c->redis->prefix : "",
							   st->key, tag, data, len, st->ttl_ms)
					 : -1;
	else
		rc = cache_put(pg->store, st->key, tag, data, len, (uint64_t)st->ttl_ms * 1000000u, clock_mono_ns());
	if (rc == 0)
		metric_inc(pg->stores);
	else if (c->cache->redis)
		metric_inc(pg->redis_errors);
}

void api_cache_store_whole(struct gw_req *r, int status, const char *body, size_t len)
{
	struct api_cache_req *st = r->cache;
	if (st == NULL || !st->store || st->stream || status < 200 || status > 299 || len > st->max_entry ||
	    !cache_key_answer_ok(body, len, st->embeddings))
		return;
	put(r, TAG_JSON, body, len);
}

void api_cache_capture(struct gw_req *r, const char *p, size_t n)
{
	struct api_cache_req *st = r->cache;
	if (st == NULL || !st->store || st->capture_over || n == 0)
		return;
	if (buf_append(&st->val, p, n) < 0) {
		st->capture_over = true; /* over max_entry_bytes: this answer is not kept */
		buf_fini(&st->val);
	}
}

void api_cache_store_stream(struct gw_req *r, const struct chat_stream_info *in)
{
	struct api_cache_req *st = r->cache;
	unsigned n = r->chat.n_choices > 0 ? r->chat.n_choices : 1;
	if (st == NULL || !st->store || !st->stream || st->capture_over || in->upstream_error ||
	    n > CHAT_STREAM_CHOICES || st->val.len == 0)
		return;
	for (unsigned i = 0; i < n; i++)
		if (!cache_key_finish_ok(in->finish_reasons[i]))
			return;
	put(r, TAG_SSE, st->val.data, st->val.len);
}

void api_cache_fini_req(struct gw_req *r)
{
	struct api_cache_req *st = r->cache;
	if (st == NULL)
		return;
	cache_release(st->entry);
	cache_redis_cancel(st->job);
	buf_fini(&st->val);
	free(st);
	r->cache = NULL;
}
