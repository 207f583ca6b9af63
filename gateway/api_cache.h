/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response cache on the request path (api_call.c calls these). Which
 * requests use it:
 *
 *   x-llmgw-cache   absent: the model's models[].cache.enabled decides;
 *                   on: use it for this request even if the model does not
 *                   opt in; off: bypass; refresh: skip the lookup, store
 *                   the new answer. Any other value is 400. Ignored when
 *                   gateway.yaml has no cache: section.
 *   determinism     chat and completions need temperature 0 and n 1
 *                   (absent temperature is OpenAI's default 1), unless the
 *                   model has allow_nondeterministic; embeddings always are.
 *
 * A request that uses the cache gets `x-llmgw-cache: hit` or `miss` on its
 * response (streams: on the head) and llmgw.cache.hit on its SERVER span.
 * A hit is answered with the stored bytes (JSON, or the SSE stream exactly
 * as the first client got it), with no upstream attempt: it counts for
 * requests per minute, costs nothing (its tokens are settled at zero and
 * the span has no usage). A miss goes upstream as usual and its answer is
 * stored when it is complete: a 2xx whose every choice finished with stop
 * or length (a stream that ended that way), at most cache.max_entry_bytes.
 * Errors, cut or failed streams, tool calls, guardrail refusals are never
 * stored.
 *
 * Where entries live: in process (gateway/cache.h, shared by the workers)
 * or, with cache.redis, in Redis (gateway/cache_redis.h; a lookup Redis
 * does not answer in time is a miss, counted in
 * llmgw_cache_redis_errors_total).
 */
#ifndef LLMGW_GATEWAY_API_CACHE_H
#define LLMGW_GATEWAY_API_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "gateway/chat_stream.h"
#include "gateway/provider.h"

struct gw;
struct gw_req;
struct gw_model;

/*
 * With a cache: section: the in-process store and the llmgw_cache_*
 * series (hits, misses, stores, evictions{reason}, bytes, entries,
 * redis_errors). Nothing without one. -1 with err.
 */
int api_cache_init(struct gw *g, struct err *err);
void api_cache_fini(struct gw *g);

/*
 * Decides whether r uses the cache and, when it does, looks its answer
 * up; then calls done(r) exactly once, now or from the Redis reply, with
 * api_cache_hit(r) telling whether an answer was found. -1 when r was
 * answered instead (a bad x-llmgw-cache header: 400; out of memory: 500).
 * Call after the input guardrails (the key covers the redacted request)
 * and after routing.
 */
int api_cache_begin(struct gw_req *r, const struct gw_model *m, enum provider_op op, const char *body, size_t len,
		    void (*done)(struct gw_req *r));
bool api_cache_hit(const struct gw_req *r);
/* Answers r from the cache (the lookup hit); finishes r. */
void api_cache_serve(struct gw_req *r);

/* A whole 2xx answer as the client gets it: stored when r may be and it qualifies. */
void api_cache_store_whole(struct gw_req *r, int status, const char *body, size_t len);
/* Streams: every byte written to the client (bounded copy), then the verdict at a clean end. */
void api_cache_capture(struct gw_req *r, const char *p, size_t n);
void api_cache_store_stream(struct gw_req *r, const struct chat_stream_info *in);

/* Drops what r holds (an entry, a Redis lookup in flight, the capture); r is finishing. */
void api_cache_fini_req(struct gw_req *r);

#endif
