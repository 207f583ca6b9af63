/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmark of what the response cache and the guardrails add to one
 * request, on the gateway's own code (libgw.a): docs/cache.md and
 * docs/guardrails.md quote its output. Build and run (from the repo root,
 * after `make`):
 *
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -I. -Ibuild/gen $(pkg-config --cflags jansson) \
 *      -o build/bench-cache tests/bench/bench_cache.c build/libgw.a build/libcommon.a \
 *      $(pkg-config --libs jansson libcrypto) -lpthread && build/bench-cache
 *
 * Each line is the median of 5 runs, in ns per operation:
 *   cache lookup      deterministic check + canonical key (SHA-256) +
 *                     in-process lookup, for a ~800-byte chat request, hit
 *                     and miss; a jansson tree of it for scale (the first
 *                     version built one per lookup)
 *   shared vs per-worker  the lookup of a hit from 1 and 2 threads on one
 *                     locked cache, and from 2 threads on a cache each
 *   guardrails        the input pass of that request (3 detectors + 1
 *                     regex), matching nothing and redacting one address;
 *                     the output pass of a ~1 KiB answer; one stream chunk
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/cache.h"
#include "gateway/cache_key.h"
#include "gateway/chat_parse.h"
#include "gateway/guard.h"
#include "gateway/guard_json.h"

#define RUNS 5

static const char *request_text(const char *extra)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf),
		 "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":256,\"messages\":["
		 "{\"role\":\"system\",\"content\":\"You are a helpful assistant for an online bookshop. Answer "
		 "briefly, cite the catalogue number when you name a book, and never invent prices or stock "
		 "levels you were not given.\"},"
		 "{\"role\":\"user\",\"content\":\"Which of your science fiction titles from the last two years "
		 "would you recommend to someone who liked long, slow novels about first contact?\"},"
		 "{\"role\":\"assistant\",\"content\":\"Three come to mind: a generation-ship novel told over a "
		 "century, a linguist's account of a signal nobody can translate, and a quiet story about a "
		 "village that hosts a visitor. Shall I look up their catalogue numbers?\"},"
		 "{\"role\":\"user\",\"content\":\"Yes please, and tell me which are in stock in paperback %s.\"}]}",
		 extra);
	return buf;
}

static const char answer[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Here they are. The generation-ship novel is "
    "SF-2291 and is in stock in paperback. The linguist's account is SF-2310; the paperback is due next month, "
    "the hardback is in stock. The village story is SF-2344, in stock in both formats. I can reserve any of "
    "them for you at the counter, or post them: delivery takes two to three working days and is free above "
    "the usual threshold. Would you like me to check the other branches for the one that is not out in "
    "paperback yet, or to add all three to a wish list so you hear when prices change?\"},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":190,\"completion_tokens\":120,"
    "\"total_tokens\":310}}";

static const char chunk[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" paperback is\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}";

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef void (*op_fn)(void *arg);

/* Median over RUNS of n calls, ns per call. */
static double measure(op_fn f, void *arg, long n)
{
	double t[RUNS];
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++)
			f(arg);
		t[r] = (now_ns() - t0) / (double)n;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_d);
	return t[RUNS / 2];
}

/* ---- cache ------------------------------------------------------------------------------------ */

struct lookup {
	const char *body;
	size_t len;
	struct cache *c;
	bool tree_only;
};

static const struct cache_key_in key_in = {.tenant = "acme", .endpoint = "/v1/chat/completions"};

static void op_lookup(void *arg)
{
	struct lookup *l = arg;
	struct chat_request req;
	struct chat_parse_err pe;
	uint8_t key[CACHE_KEY_LEN];
	/* the request is parsed for routing anyway: only what the cache adds is timed below, parse included once */
	if (chat_request_parse(l->body, l->len, &req, &pe) != CHAT_OK)
		abort();
	if (!l->tree_only) {
		if (!cache_key_deterministic(l->body, l->len))
			abort();
		if (cache_key_compute(&key_in, l->body, l->len, key) < 0)
			abort();
		cache_release(cache_get(l->c, key, 1));
	} else if (chat_request_tree(&req) == NULL) {
		abort();
	}
	chat_request_fini(&req);
}

static void op_parse_only(void *arg)
{
	struct lookup *l = arg;
	struct chat_request req;
	struct chat_parse_err pe;
	if (chat_request_parse(l->body, l->len, &req, &pe) != CHAT_OK)
		abort();
	chat_request_fini(&req);
}

struct getter {
	struct cache *c;
	uint8_t key[CACHE_KEY_LEN];
	long n;
	double ns;
};

static void op_get(void *arg)
{
	struct getter *g = arg;
	cache_release(cache_get(g->c, g->key, 1));
}

static void *thread_get(void *arg)
{
	struct getter *g = arg;
	g->ns = measure(op_get, g, g->n);
	return NULL;
}

static double two_threads(struct cache *a, struct cache *b, const uint8_t *key, long n)
{
	struct getter g[2] = {{.c = a, .n = n}, {.c = b, .n = n}};
	pthread_t t[2];
	memcpy(g[0].key, key, CACHE_KEY_LEN);
	memcpy(g[1].key, key, CACHE_KEY_LEN);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_get, &g[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (g[0].ns + g[1].ns) / 2;
}

static void bench_cache(void)
{
	const char *body = request_text("");
	struct lookup l = {body, strlen(body), cache_new(64 << 20, NULL), false};
	uint8_t key[CACHE_KEY_LEN];
	cache_key_compute(&key_in, l.body, l.len, key);

	double parse = measure(op_parse_only, &l, 20000);
	double miss = measure(op_lookup, &l, 20000) - parse;
	cache_put(l.c, key, 0, answer, sizeof(answer) - 1, (uint64_t)3600e9, 0);
	double hit = measure(op_lookup, &l, 20000) - parse;
	l.tree_only = true;
	double tree = measure(op_lookup, &l, 20000) - parse;
	printf("request: %zu bytes\n", l.len);
	printf("cache lookup, miss (check + key + lookup)          %8.0f ns\n", miss);
	printf("cache lookup, hit                                  %8.0f ns\n", hit);
	printf("(a jansson tree of the request, no longer built:   %8.0f ns)\n", tree);

	struct getter g1 = {.c = l.c, .n = 2000000};
	memcpy(g1.key, key, CACHE_KEY_LEN);
	struct cache *own = cache_new(64 << 20, NULL);
	cache_put(own, key, 0, answer, sizeof(answer) - 1, (uint64_t)3600e9, 0);
	printf("cache_get hit, 1 thread                            %8.1f ns\n", measure(op_get, &g1, g1.n));
	printf("cache_get hit, 2 threads, one shared cache         %8.1f ns\n", two_threads(l.c, l.c, key, 1000000));
	printf("cache_get hit, 2 threads, a cache each             %8.1f ns\n", two_threads(l.c, own, key, 1000000));
	cache_free(own);
	cache_free(l.c);
}

/* ---- guardrails ----------------------------------------------------------------------------------- */

static struct guard_rule rules[4];

struct gpass {
	struct guard_ctx c;
	struct guard_scratch s;
	const char *body;
	size_t len;
	int kind; /* 0 request, 1 answer, 2 chunk */
	struct guard_sse *sse;
	struct buf out;
};

static void op_guard(void *arg)
{
	struct gpass *p = arg;
	struct guard_verdict v;
	guard_verdict_init(&v);
	buf_reset(&p->out);
	int rc = p->kind == 0	? guard_json_request(&p->c, &p->s, GUARD_JSON_CHAT, p->body, p->len, &p->out, &v)
		 : p->kind == 1 ? guard_json_response(&p->c, &p->s, p->body, p->len, &p->out, &v)
				: guard_sse_chunk(p->sse, p->body, p->len, &p->out, &v);
	if (rc < 0)
		abort();
}

static void bench_guard(void)
{
	static const struct {
		const char *name;
		enum guard_kind kind;
		const char *pattern;
	} defs[4] = {{"email", GUARD_KIND_EMAIL, NULL},
		     {"card", GUARD_KIND_CARD, NULL},
		     {"api_key", GUARD_KIND_API_KEY, NULL},
		     {"ssn", GUARD_KIND_REGEX, "[0-9]{3}-[0-9]{2}-[0-9]{4}"}};
	struct err err;
	for (int i = 0; i < 4; i++) {
		rules[i].name = strdup(defs[i].name);
		rules[i].kind = defs[i].kind;
		rules[i].pattern = defs[i].pattern != NULL ? strdup(defs[i].pattern) : NULL;
		rules[i].stages = GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT;
		if (guard_rule_init(&rules[i], 1, &err) < 0)
			abort();
	}
	struct gpass p = {.c = {rules, 4, 15, 0}};
	buf_init(&p.out, 0);
	char clean[4096], dirty[4096];
	snprintf(clean, sizeof(clean), "%s", request_text(""));
	snprintf(dirty, sizeof(dirty), "%s", request_text("and mail them to jane.doe@example.com"));
	p.body = clean;
	p.len = strlen(clean);
	printf("guardrails input pass, nothing matches             %8.0f ns\n", measure(op_guard, &p, 20000));
	p.body = dirty;
	p.len = strlen(dirty);
	printf("guardrails input pass, one address redacted        %8.0f ns\n", measure(op_guard, &p, 20000));
	p.kind = 1;
	p.body = answer;
	p.len = sizeof(answer) - 1;
	printf("guardrails output pass, %zu-byte answer            %8.0f ns\n", p.len, measure(op_guard, &p, 20000));
	p.kind = 2;
	p.body = chunk;
	p.len = sizeof(chunk) - 1;
	p.sse = guard_sse_new(&p.c);
	printf("guardrails stream pass, one chunk                  %8.0f ns\n", measure(op_guard, &p, 200000));
	guard_sse_free(p.sse);
	guard_scratch_fini(&p.s);
	buf_fini(&p.out);
	for (int i = 0; i < 4; i++)
		guard_rule_fini(&rules[i]);
}

int main(void)
{
	bench_cache();
	bench_guard();
	return 0;
}
