/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/router: the routing policy driven with configs
 * parsed from YAML, an explicit clock (now_ns) and a fixed-seed random
 * source, so every decision is reproducible. Covers the three strategies
 * (weighted round robin exact per worker, priority, least-latency with
 * exploration), the retry/fallback decisions, the endpoint mask, the
 * circuit breaker (window, cooldown, one probe, panic routing) and what
 * two workers share (health) and do not share (round-robin state).
 *
 * Tolerances: smooth weighted round robin is exact, so over N picks that
 * are a multiple of the total weight each target's count is exactly
 * N * weight / total; least-latency exploration is random, checked within
 * +-5 percentage points over 2000 picks (with a fixed seed, so no flakes).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/provider.h"
#include "gateway/router.h"

#define MS(x) ((int64_t)(x)*1000000LL)
#define SEC(x) ((int64_t)(x)*1000000000LL)
#define ALL_EPS                                                                                                        \
	(PROVIDER_EP(PROVIDER_OP_CHAT) | PROVIDER_EP(PROVIDER_OP_COMPLETIONS) | PROVIDER_EP(PROVIDER_OP_EMBEDDINGS))
#define CHAT PROVIDER_EP(PROVIDER_OP_CHAT)
#define EMBED PROVIDER_EP(PROVIDER_OP_EMBEDDINGS)

#define PROVS                                                                                                          \
	"auth: { enabled: false }\n"                                                                                   \
	"providers:\n"                                                                                                 \
	"  - { name: pa, type: mock }\n"                                                                               \
	"  - { name: pb, type: mock }\n"                                                                               \
	"  - { name: pc, type: openai, base_url: \"http://127.0.0.1:1\" }\n"

/* A parsed config, its router and one worker's state. */
struct fx {
	struct gw_conf *conf;
	struct router *rt;
	struct router_local *rl;
	struct ids_rng rng;
	struct metrics *reg;
};

/* eps: per-provider endpoint masks (NULL: every endpoint for every provider). */
static void fx_init_eps(struct fx *f, const char *yaml, const unsigned *eps, bool with_metrics)
{
	struct err err;
	unsigned all[8];
	memset(f, 0, sizeof(*f));
	err_clear(&err);
	f->conf = gw_conf_parse(yaml, strlen(yaml), "rt.yaml", &err);
	if (f->conf == NULL)
		fail_msg("config: %s", err.msg);
	assert_true(f->conf->nproviders <= 8);
	for (size_t i = 0; i < 8; i++)
		all[i] = ALL_EPS;
	if (with_metrics)
		assert_non_null(f->reg = metrics_new());
	f->rt = router_new(f->conf, eps != NULL ? eps : all, f->reg, &err);
	assert_non_null(f->rt);
	assert_non_null(f->rl = router_local_new(f->rt));
	f->rng = (struct ids_rng){{0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 42}};
}

static void fx_init(struct fx *f, const char *yaml)
{
	fx_init_eps(f, yaml, NULL, false);
}

static void fx_fini(struct fx *f)
{
	router_local_free(f->rl);
	router_free(f->rt);
	metrics_free(f->reg);
	gw_conf_free(f->conf);
}

static const struct gw_model *model(const struct fx *f, const char *name)
{
	const struct gw_model *m = gw_conf_find_model(f->conf, name);
	assert_non_null(m);
	return m;
}

/* Health index of target `label` ("provider/model") anywhere in the config. */
static size_t hidx(const struct fx *f, const char *label)
{
	for (size_t i = 0; i < f->conf->nmodels; i++)
		for (size_t j = 0; j < f->conf->models[i].ntargets; j++)
			if (strcmp(f->conf->models[i].targets[j].label, label) == 0)
				return f->conf->models[i].targets[j].index;
	fail_msg("no target %s", label);
	return 0;
}

/* One successful request on rl: the label of the target it went to ("" when none). */
static const char *serve(struct fx *f, struct router_local *rl, const char *mname, unsigned op, int64_t now,
			 uint64_t lat_ns)
{
	struct route_plan p;
	const char *reason;
	const struct gw_target *t = route_first(rl, &p, model(f, mname), op, &f->rng, now, &reason);
	if (t == NULL)
		return "";
	route_succeeded(rl, &p, lat_ns);
	return t->label;
}

/* Opens the breaker of `label` (priority model `mname` whose first healthy target it is). */
static void fail_n(struct fx *f, const char *mname, const char *label, unsigned n, int64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		struct route_plan p;
		const char *reason;
		const struct gw_target *t = route_first(f->rl, &p, model(f, mname), CHAT, &f->rng, now, &reason);
		assert_non_null(t);
		assert_string_equal(t->label, label);
		route_record_failure(f->rl, &p, ROUTE_FAIL_5XX, MS(10), now);
	}
}

/* ---- weighted ------------------------------------------------------------------------------- */

static void count_picks(struct fx *f, const char *mname, int n, const char *const *labels, int *counts, size_t nl)
{
	for (int i = 0; i < n; i++) {
		const char *l = serve(f, f->rl, mname, CHAT, SEC(1), MS(5));
		size_t k = 0;
		while (k < nl && strcmp(l, labels[k]) != 0)
			k++;
		assert_true(k < nl);
		counts[k]++;
	}
}

static void test_weighted_3_1(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS "models:\n"
			  "  - name: w\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a, weight: 3 }\n"
			  "      - { provider: pb, model: b, weight: 1 }\n");
	/* nginx's smooth sequence for 3:1 is a a b a, then it repeats */
	static const char *const want[] = {"pa/a", "pa/a", "pb/b", "pa/a", "pa/a", "pa/a", "pb/b", "pa/a"};
	char seq[1000];
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(serve(&f, f.rl, "w", CHAT, SEC(1), MS(5)), want[i]);
	/* interleaved: b shows up in every window of 4 picks (plain WRR would send a a a b a a a b too,
	 * but never a run longer than 3 either way; the 5:1:1 test below tells the two apart) */
	for (size_t i = 0; i < sizeof(seq); i++)
		seq[i] = serve(&f, f.rl, "w", CHAT, SEC(1), MS(5))[1];
	for (size_t i = 0; i + 4 <= sizeof(seq); i++)
		assert_non_null(memchr(seq + i, 'b', 4));
	int na = 0;
	for (size_t i = 0; i < sizeof(seq); i++)
		na += seq[i] == 'a';
	assert_int_equal(na, 750); /* exact: 1000 picks = 250 cycles of 4 */
	fx_fini(&f);
}

static void test_weighted_smooth_5_1_1(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS "models:\n"
			  "  - name: w\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a, weight: 5 }\n"
			  "      - { provider: pb, model: b, weight: 1 }\n"
			  "      - { provider: pc, model: c, weight: 1 }\n");
	/* the sequence nginx documents for {5, 1, 1}: a a b a c a a */
	static const char *const want[] = {"pa/a", "pa/a", "pb/b", "pa/a", "pc/c", "pa/a", "pa/a"};
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < 7; i++)
			assert_string_equal(serve(&f, f.rl, "w", CHAT, SEC(1), MS(5)), want[i]);
	fx_fini(&f);
}

static void test_weighted_5_3_2_and_zero(void **state)
{
	(void)state;
	struct fx f;
	static const char *const labels[] = {"pa/a", "pb/b", "pc/c"};
	int counts[3] = {0};
	fx_init(&f, PROVS "models:\n"
			  "  - name: w\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a, weight: 5 }\n"
			  "      - { provider: pb, model: b, weight: 3 }\n"
			  "      - { provider: pc, model: c, weight: 2 }\n"
			  "  - name: z\n"
			  "    retry: { per_target: 1, max_attempts: 5 }\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a, weight: 1 }\n"
			  "      - { provider: pb, model: b, weight: 2 }\n"
			  "      - { provider: pc, model: zero, weight: 0 }\n");
	count_picks(&f, "w", 1000, labels, counts, 3);
	assert_int_equal(counts[0], 500);
	assert_int_equal(counts[1], 300);
	assert_int_equal(counts[2], 200);

	/* weight 0: never picked while a weighted target is available... */
	static const char *const zl[] = {"pa/a", "pb/b", "pc/zero"};
	int zc[3] = {0};
	count_picks(&f, "z", 999, zl, zc, 3);
	assert_int_equal(zc[0], 333);
	assert_int_equal(zc[1], 666);
	assert_int_equal(zc[2], 0);
	/* ...but it is the last resort when both have failed */
	struct route_plan p;
	struct route_next nx;
	const char *reason;
	assert_non_null(route_first(f.rl, &p, model(&f, "z"), CHAT, &f.rng, SEC(2), &reason));
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(2), &nx);
	assert_non_null(nx.target);
	assert_string_not_equal(nx.target->label, "pc/zero");
	route_advance(&p, &nx);
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(2), &nx);
	assert_non_null(nx.target);
	assert_string_equal(nx.target->label, "pc/zero");
	route_advance(&p, &nx);
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(2), &nx);
	assert_null(nx.target); /* all three tried */
	fx_fini(&f);
}

/* ---- priority ------------------------------------------------------------------------------- */

static void test_priority(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS "models:\n"
			  "  - name: p\n"
			  "    strategy: priority\n"
			  "    cooldown: { failures: 2, window: 10s, duration: 30s }\n"
			  "    targets:\n"
			  "      - { provider: pb, model: b }\n"
			  "      - { provider: pa, model: a }\n"
			  "      - { provider: pc, model: c }\n");
	for (int i = 0; i < 20; i++)
		assert_string_equal(serve(&f, f.rl, "p", CHAT, SEC(1), MS(5)), "pb/b");
	fail_n(&f, "p", "pb/b", 2, SEC(2));
	assert_true(router_cooling(f.rt, hidx(&f, "pb/b"), SEC(2)));
	for (int i = 0; i < 20; i++)
		assert_string_equal(serve(&f, f.rl, "p", CHAT, SEC(3), MS(5)), "pa/a");
	fx_fini(&f);
}

/* ---- least-latency -------------------------------------------------------------------------- */

static void test_least_latency_moves(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS "routing:\n"
			  "  least_latency: { ewma_alpha: 0.3, explore: 0 }\n"
			  "models:\n"
			  "  - name: ll\n"
			  "    strategy: least-latency\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a }\n"
			  "      - { provider: pb, model: b }\n"
			  "      - { provider: pc, model: c }\n");
	/* unsampled targets are measured first, in config order */
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(10)), "pa/a");
	assert_int_equal(router_ewma_ns(f.rt, hidx(&f, "pa/a")), MS(10));
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(100)), "pb/b");
	assert_int_equal(router_ewma_ns(f.rt, hidx(&f, "pc/c")), 0);
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(200)), "pc/c");
	/* then the fastest */
	for (int i = 0; i < 10; i++)
		assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(10)), "pa/a");
	/* a slows down: after a few slow samples its EWMA passes b's and traffic moves */
	struct route_plan p;
	const char *reason;
	for (int i = 0; i < 5; i++) {
		const struct gw_target *t = route_first(f.rl, &p, model(&f, "ll"), CHAT, &f.rng, SEC(2), &reason);
		if (strcmp(t->label, "pa/a") != 0)
			break;
		route_succeeded(f.rl, &p, MS(500));
	}
	assert_true(router_ewma_ns(f.rt, hidx(&f, "pa/a")) > MS(100));
	for (int i = 0; i < 10; i++)
		assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(3), MS(100)), "pb/b");
	/* a timeout counts as a (slow) sample: b times out, a (~157ms) is the fastest again */
	const struct gw_target *t = route_first(f.rl, &p, model(&f, "ll"), CHAT, &f.rng, SEC(4), &reason);
	assert_string_equal(t->label, "pb/b");
	route_record_failure(f.rl, &p, ROUTE_FAIL_TIMEOUT, SEC(5), SEC(4));
	assert_true(router_ewma_ns(f.rt, hidx(&f, "pb/b")) > MS(1000));
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(5), MS(157)), "pa/a");
	/* a 5xx is not a latency sample */
	t = route_first(f.rl, &p, model(&f, "ll"), CHAT, &f.rng, SEC(6), &reason);
	uint64_t before = router_ewma_ns(f.rt, t->index);
	route_record_failure(f.rl, &p, ROUTE_FAIL_5XX, SEC(9), SEC(6));
	assert_int_equal(router_ewma_ns(f.rt, t->index), before);
	fx_fini(&f);
}

static void test_least_latency_explore(void **state)
{
	(void)state;
	struct fx f;
	int counts[3] = {0};
	fx_init(&f, PROVS "routing:\n"
			  "  least_latency: { explore: \"20%\" }\n"
			  "models:\n"
			  "  - name: ll\n"
			  "    strategy: least-latency\n"
			  "    targets:\n"
			  "      - { provider: pa, model: a }\n"
			  "      - { provider: pb, model: b }\n"
			  "      - { provider: pc, model: c }\n");
	assert_true(f.conf->explore > 0.199 && f.conf->explore < 0.201);
	/* a fast, b and c slow; the samples below keep them where they are */
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(10)), "pa/a");
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(300)), "pb/b");
	assert_string_equal(serve(&f, f.rl, "ll", CHAT, SEC(1), MS(300)), "pc/c");
	for (int i = 0; i < 2000; i++) {
		struct route_plan p;
		const char *reason;
		const struct gw_target *t = route_first(f.rl, &p, model(&f, "ll"), CHAT, &f.rng, SEC(2), &reason);
		size_t k = (size_t)(t->label[1] - 'a');
		assert_true(k < 3);
		counts[k]++;
		route_succeeded(f.rl, &p, k == 0 ? MS(10) : MS(300));
	}
	/* explore 20% of 2000 = 400 +- 100 (5 points), split between b and c */
	int explored = counts[1] + counts[2];
	print_message("explore: a=%d b=%d c=%d\n", counts[0], counts[1], counts[2]);
	assert_in_range(explored, 300, 500);
	assert_in_range(counts[1], 100, 300);
	assert_in_range(counts[2], 100, 300);
	fx_fini(&f);
}

/* ---- retries and fallbacks ------------------------------------------------------------------ */

#define RETRY_MODELS                                                                                                   \
	"models:\n"                                                                                                    \
	"  - name: r\n"                                                                                                \
	"    strategy: priority\n"                                                                                     \
	"    cooldown: { failures: 0 }\n"                                                                              \
	"    retry: { per_target: 2, max_attempts: 6, backoff: 100ms, max_backoff: 1s }\n"                             \
	"    targets: [ { provider: pa, model: a }, { provider: pb, model: b } ]\n"                                    \
	"  - name: only429\n"                                                                                          \
	"    strategy: priority\n"                                                                                     \
	"    retry: { on: [5xx, timeout], per_target: 3 }\n"                                                           \
	"    targets: [ { provider: pa, model: a }, { provider: pb, model: b } ]\n"                                    \
	"  - name: cap\n"                                                                                              \
	"    cooldown: { failures: 0 }\n"                                                                              \
	"    retry: { per_target: 10, max_attempts: 20, backoff: 100ms, max_backoff: 300ms }\n"                        \
	"    targets: [ { provider: pa, model: a } ]\n"                                                                \
	"  - name: max2\n"                                                                                             \
	"    strategy: priority\n"                                                                                     \
	"    retry: { per_target: 1, max_attempts: 2 }\n"                                                              \
	"    targets: [ { provider: pa, model: a }, { provider: pb, model: b }, { provider: pc, model: c } ]\n"        \
	"  - name: fa\n"                                                                                               \
	"    retry: { per_target: 1 }\n"                                                                               \
	"    fallbacks: [ fb ]\n"                                                                                      \
	"    targets: [ { provider: pa, model: fa } ]\n"                                                               \
	"  - name: fb\n"                                                                                               \
	"    targets: [ { provider: pc, model: fb } ]\n"

static const struct gw_target *first(struct fx *f, struct route_plan *p, const char *mname, int64_t now)
{
	const char *reason;
	const struct gw_target *t = route_first(f->rl, p, model(f, mname), CHAT, &f->rng, now, &reason);
	assert_non_null(t);
	assert_string_equal(reason, "");
	return t;
}

static void test_retry_same_then_next(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	struct route_next nx;
	fx_init_eps(&f, PROVS RETRY_MODELS, NULL, true);
	assert_string_equal(first(&f, &p, "r", SEC(1))->label, "pa/a");
	assert_int_equal(p.attempts, 1);
	/* per_target 2: once more on a after [backoff/2, backoff] */
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_string_equal(nx.target->label, "pa/a");
	assert_true(nx.same_target);
	assert_in_range(nx.delay_ms, 50, 100);
	assert_string_equal(nx.reason, "5xx");
	assert_ptr_equal(nx.model, model(&f, "r"));
	route_advance(&p, &nx);
	assert_int_equal(p.attempts, 2);
	assert_int_equal(p.cur_tries, 2);
	/* then b, at once */
	route_next(f.rl, &p, ROUTE_FAIL_TIMEOUT, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_string_equal(nx.target->label, "pb/b");
	assert_false(nx.same_target);
	assert_int_equal(nx.delay_ms, 0);
	assert_string_equal(nx.reason, "timeout");
	route_advance(&p, &nx);
	assert_int_equal(p.cur_tries, 1);
	route_next(f.rl, &p, ROUTE_FAIL_CONNECT, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_true(nx.same_target);
	assert_string_equal(nx.reason, "connect_error");
	assert_in_range(nx.delay_ms, 50, 100); /* per target: b's first retry */
	route_advance(&p, &nx);
	/* every target had its tries: the client gets the failure */
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	assert_int_equal(p.attempts, 4);

	/* the retries were counted by kind and reason */
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(metrics_render(f.reg, &out), 0);
	assert_non_null(strstr(out.data, "llmgw_route_retries_total{kind=\"same_target\",reason=\"5xx\"} 1"));
	assert_non_null(strstr(out.data, "llmgw_route_retries_total{kind=\"fallback\",reason=\"timeout\"} 1"));
	assert_non_null(strstr(out.data, "llmgw_route_target_available{target=\"pa/a\"} 1"));
	buf_fini(&out);
	fx_fini(&f);
}

static void test_retry_backoff_doubles_and_caps(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS RETRY_MODELS);
	/* backoff 100ms, max 300ms: retry k waits in [d/2, d] with d = 100, 200, 300, 300, ... */
	static const int64_t dmax[] = {100, 200, 300, 300, 300, 300, 300, 300, 300};
	for (int rep = 0; rep < 20; rep++) {
		struct route_plan p;
		struct route_next nx;
		first(&f, &p, "cap", SEC(1));
		for (size_t k = 0; k < sizeof(dmax) / sizeof(dmax[0]); k++) {
			route_next(f.rl, &p, ROUTE_FAIL_429, -1, MS(5), &f.rng, SEC(1), &nx);
			assert_non_null(nx.target);
			assert_true(nx.same_target);
			assert_in_range(nx.delay_ms, dmax[k] / 2, dmax[k]);
			route_advance(&p, &nx);
		}
		/* per_target 10 reached, and there is no other target */
		route_next(f.rl, &p, ROUTE_FAIL_429, -1, MS(5), &f.rng, SEC(1), &nx);
		assert_null(nx.target);
	}
	fx_fini(&f);
}

static void test_retry_after(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	struct route_next nx;
	fx_init(&f, PROVS RETRY_MODELS);
	/* within max_backoff (1s): the same target, after what the upstream asked for */
	first(&f, &p, "r", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_429, 800, MS(5), &f.rng, SEC(1), &nx);
	assert_true(nx.same_target);
	assert_int_equal(nx.delay_ms, 800);
	assert_string_equal(nx.reason, "429");
	/* a Retry-After shorter than the backoff does not shorten it */
	first(&f, &p, "r", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_429, 1, MS(5), &f.rng, SEC(1), &nx);
	assert_true(nx.same_target);
	assert_in_range(nx.delay_ms, 50, 100);
	/* exactly max_backoff still waits */
	first(&f, &p, "r", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_429, 1000, MS(5), &f.rng, SEC(1), &nx);
	assert_true(nx.same_target);
	assert_int_equal(nx.delay_ms, 1000);
	/* beyond it: move on now */
	first(&f, &p, "r", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_429, 5000, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_false(nx.same_target);
	assert_string_equal(nx.target->label, "pb/b");
	assert_int_equal(nx.delay_ms, 0);
	fx_fini(&f);
}

static void test_retry_on_and_limits(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	struct route_next nx;
	fx_init(&f, PROVS RETRY_MODELS);
	/* retry.on without 429: a 429 is final */
	first(&f, &p, "only429", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_429, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	assert_string_equal(nx.reason, "429");
	first(&f, &p, "only429", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_CONNECT, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	first(&f, &p, "only429", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	/* the request's own fault is never retried, whatever retry.on says */
	first(&f, &p, "r", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_OTHER, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	assert_string_equal(nx.reason, "other");
	assert_string_equal(route_fail_name(ROUTE_FAIL__COUNT), "other");
	/* max_attempts 2 stops after two attempts although c is left */
	first(&f, &p, "max2", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_string_equal(nx.target->label, "pb/b");
	route_advance(&p, &nx);
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	assert_int_equal(p.attempts, 2);
	fx_fini(&f);
}

static void test_fallback_model(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	struct route_next nx;
	fx_init(&f, PROVS RETRY_MODELS);
	const struct gw_model *fa = model(&f, "fa"), *fb = model(&f, "fb");
	assert_string_equal(first(&f, &p, "fa", SEC(1))->label, "pa/fa");
	assert_ptr_equal(p.cur_model, fa);
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_string_equal(nx.target->label, "pc/fb");
	assert_ptr_equal(nx.model, fb);
	assert_string_equal(nx.reason, "5xx");
	assert_false(nx.same_target);
	route_advance(&p, &nx);
	assert_ptr_equal(p.cur_model, fb);
	assert_ptr_equal(p.model, fa); /* still the model the client asked for */
	assert_int_equal(p.attempts, 2);
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target); /* the request's policy (fa's: per_target 1) applies on fb too */
	fx_fini(&f);
}

static void test_endpoint_mask(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	const char *reason;
	/* pa: chat only; pb: chat and embeddings; pc: chat only */
	static const unsigned eps[] = {CHAT, CHAT | EMBED, CHAT};
	fx_init_eps(&f,
		    PROVS "models:\n"
			  "  - name: mix\n"
			  "    targets: [ { provider: pa, model: a, weight: 9 }, { provider: pb, model: b } ]\n"
			  "  - name: chatonly\n"
			  "    targets: [ { provider: pa, model: a } ]\n"
			  "  - name: viafb\n"
			  "    fallbacks: [ mix ]\n"
			  "    targets: [ { provider: pc, model: c } ]\n",
		    eps, false);
	for (int i = 0; i < 50; i++)
		assert_string_equal(serve(&f, f.rl, "mix", EMBED, SEC(1), MS(5)), "pb/b");
	assert_null(route_first(f.rl, &p, model(&f, "chatonly"), EMBED, &f.rng, SEC(1), &reason));
	assert_string_equal(reason, "");
	/* the fallback model serves the endpoint the model's own targets do not: not a cooldown */
	const struct gw_target *t = route_first(f.rl, &p, model(&f, "viafb"), EMBED, &f.rng, SEC(1), &reason);
	assert_non_null(t);
	assert_string_equal(t->label, "pb/b");
	assert_string_equal(reason, "");
	/* a retry never moves to a target that lacks the endpoint */
	struct route_next nx;
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_null(nx.target);
	fx_fini(&f);
}

/* ---- cooldown ------------------------------------------------------------------------------- */

#define CD_MODELS                                                                                                      \
	"routing:\n"                                                                                                   \
	"  cooldown: { failures: 3, window: 10s, duration: 30s }\n"                                                    \
	"models:\n"                                                                                                    \
	"  - name: c\n"                                                                                                \
	"    strategy: priority\n"                                                                                     \
	"    targets: [ { provider: pa, model: a }, { provider: pb, model: b } ]\n"                                    \
	"  - name: w\n"                                                                                                \
	"    targets: [ { provider: pa, model: a }, { provider: pb, model: b } ]\n"                                    \
	"  - name: own\n"                                                                                              \
	"    fallbacks: [ other ]\n"                                                                                   \
	"    targets: [ { provider: pa, model: a } ]\n"                                                                \
	"  - name: other\n"                                                                                            \
	"    targets: [ { provider: pc, model: c } ]\n"

static void test_cooldown_opens_and_skips(void **state)
{
	(void)state;
	struct fx f;
	fx_init_eps(&f, PROVS CD_MODELS, NULL, true);
	size_t a = hidx(&f, "pa/a");
	fail_n(&f, "c", "pa/a", 2, SEC(100));
	assert_false(router_cooling(f.rt, a, SEC(101)));
	fail_n(&f, "c", "pa/a", 1, SEC(105)); /* third within 10s */
	assert_true(router_cooling(f.rt, a, SEC(105)));
	assert_true(router_cooling(f.rt, a, SEC(134)));
	assert_false(router_cooling(f.rt, a, SEC(135)));
	/* skipped by every model routing to it (health is per provider/model), weighted included */
	for (int i = 0; i < 10; i++) {
		assert_string_equal(serve(&f, f.rl, "c", CHAT, SEC(110), MS(5)), "pb/b");
		assert_string_equal(serve(&f, f.rl, "w", CHAT, SEC(110), MS(5)), "pb/b");
	}
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(metrics_render(f.reg, &out), 0);
	assert_non_null(strstr(out.data, "llmgw_route_cooldowns_total{target=\"pa/a\"} 1"));
	assert_non_null(strstr(out.data, "llmgw_route_target_available{target=\"pa/a\"} 0"));
	buf_fini(&out);
	fx_fini(&f);
}

static void test_cooldown_window(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS CD_MODELS);
	size_t a = hidx(&f, "pa/a");
	/* 3 failures spread over more than the 10s window never open it */
	for (int i = 0; i < 12; i++) {
		fail_n(&f, "c", "pa/a", 1, SEC(100 + 6 * i));
		assert_false(router_cooling(f.rt, a, SEC(100 + 6 * i)));
	}
	/* neither does the request's own fault, however often */
	for (int i = 0; i < 10; i++) {
		struct route_plan p;
		first(&f, &p, "c", SEC(200));
		route_record_failure(f.rl, &p, ROUTE_FAIL_OTHER, MS(5), SEC(200));
	}
	assert_false(router_cooling(f.rt, a, SEC(200)));
	fx_fini(&f);
}

static void test_cooldown_probe(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p, p2;
	const char *reason;
	fx_init(&f, PROVS CD_MODELS);
	size_t a = hidx(&f, "pa/a");
	fail_n(&f, "c", "pa/a", 3, SEC(100));
	assert_true(router_cooling(f.rt, a, SEC(129)));
	/* duration over: exactly one request probes a; a second at the same instant goes to b */
	const struct gw_target *t = route_first(f.rl, &p, model(&f, "c"), CHAT, &f.rng, SEC(130), &reason);
	assert_string_equal(t->label, "pa/a");
	assert_true(p.probe);
	t = route_first(f.rl, &p2, model(&f, "c"), CHAT, &f.rng, SEC(130), &reason);
	assert_string_equal(t->label, "pb/b");
	assert_false(p2.probe);
	assert_true(router_cooling(f.rt, a, SEC(131)));
	/* the probe fails: out again for a full duration */
	route_record_failure(f.rl, &p, ROUTE_FAIL_5XX, MS(5), SEC(140));
	assert_true(router_cooling(f.rt, a, SEC(169)));
	assert_false(router_cooling(f.rt, a, SEC(170)));
	assert_string_equal(serve(&f, f.rl, "c", CHAT, SEC(150), MS(5)), "pb/b");
	/* the next probe succeeds: closed, a takes the traffic again, without probing */
	t = route_first(f.rl, &p, model(&f, "c"), CHAT, &f.rng, SEC(170), &reason);
	assert_string_equal(t->label, "pa/a");
	assert_true(p.probe);
	route_succeeded(f.rl, &p, MS(5));
	assert_false(router_cooling(f.rt, a, SEC(170)));
	for (int i = 0; i < 5; i++) {
		t = route_first(f.rl, &p, model(&f, "c"), CHAT, &f.rng, SEC(171), &reason);
		assert_string_equal(t->label, "pa/a");
		assert_false(p.probe);
		route_succeeded(f.rl, &p, MS(5));
	}
	/* and it takes 3 new failures to open it again */
	fail_n(&f, "c", "pa/a", 2, SEC(172));
	assert_false(router_cooling(f.rt, a, SEC(172)));
	fx_fini(&f);
}

static void test_cooldown_panic_and_reason(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	const char *reason;
	fx_init(&f, PROVS CD_MODELS);
	fail_n(&f, "c", "pa/a", 3, SEC(100));
	fail_n(&f, "c", "pb/b", 3, SEC(100));
	/* everything cooling: panic routing still answers, and it is not a probe */
	const struct gw_target *t = route_first(f.rl, &p, model(&f, "c"), CHAT, &f.rng, SEC(101), &reason);
	assert_non_null(t);
	assert_false(p.probe);
	assert_string_equal(reason, "");
	/* the model's own targets all cooling, a fallback model serves: reason "cooldown" */
	t = route_first(f.rl, &p, model(&f, "own"), CHAT, &f.rng, SEC(101), &reason);
	assert_non_null(t);
	assert_string_equal(t->label, "pc/c");
	assert_string_equal(reason, "cooldown");
	assert_ptr_equal(p.cur_model, model(&f, "other"));
	fx_fini(&f);
}

static void test_cooldown_stops_same_target_retry(void **state)
{
	(void)state;
	struct fx f;
	struct route_plan p;
	struct route_next nx;
	fx_init(&f, PROVS "models:\n"
			  "  - name: c\n"
			  "    strategy: priority\n"
			  "    cooldown: { failures: 1, window: 10s, duration: 30s }\n"
			  "    retry: { per_target: 3 }\n"
			  "    targets: [ { provider: pa, model: a }, { provider: pb, model: b } ]\n");
	first(&f, &p, "c", SEC(1));
	route_next(f.rl, &p, ROUTE_FAIL_5XX, -1, MS(5), &f.rng, SEC(1), &nx);
	assert_non_null(nx.target);
	assert_false(nx.same_target); /* a just opened its breaker: do not hammer it */
	assert_string_equal(nx.target->label, "pb/b");
	fx_fini(&f);
}

/* ---- workers -------------------------------------------------------------------------------- */

static void test_two_locals(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROVS CD_MODELS);
	struct router_local *rl2 = router_local_new(f.rt);
	assert_non_null(rl2);
	/* round-robin state is per worker: each starts its own sequence */
	assert_string_equal(serve(&f, f.rl, "w", CHAT, SEC(1), MS(5)), "pa/a");
	assert_string_equal(serve(&f, rl2, "w", CHAT, SEC(1), MS(5)), "pa/a");
	assert_string_equal(serve(&f, f.rl, "w", CHAT, SEC(1), MS(5)), "pb/b");
	assert_string_equal(serve(&f, rl2, "w", CHAT, SEC(1), MS(5)), "pb/b");
	/* health is shared: a breaker opened through one worker is seen by the other */
	fail_n(&f, "c", "pa/a", 3, SEC(2));
	for (int i = 0; i < 4; i++)
		assert_string_equal(serve(&f, rl2, "w", CHAT, SEC(3), MS(5)), "pb/b");
	/* and so is the latency EWMA */
	assert_int_equal(router_ewma_ns(f.rt, hidx(&f, "pb/b")), MS(5));
	router_local_free(rl2);
	router_local_free(NULL);
	router_free(NULL);
	fx_fini(&f);
}

struct probe_race {
	struct fx *f;
	pthread_barrier_t *bar;
	int probes;
};

static void *probe_thread(void *arg)
{
	struct probe_race *r = arg;
	struct router_local *rl = router_local_new(r->f->rt);
	struct ids_rng rng = {{1, 2, 3, 4}};
	struct route_plan p;
	const char *reason;
	pthread_barrier_wait(r->bar);
	const struct gw_target *t = route_first(rl, &p, model(r->f, "c"), CHAT, &rng, SEC(130), &reason);
	r->probes = t != NULL && p.probe && strcmp(t->label, "pa/a") == 0;
	router_local_free(rl);
	return NULL;
}

/* Workers racing for a recovered target's probe: exactly one wins it. */
static void test_probe_race(void **state)
{
	(void)state;
	enum { N = 8 };
	struct fx f;
	pthread_t th[N];
	struct probe_race r[N];
	pthread_barrier_t bar;
	fx_init(&f, PROVS CD_MODELS);
	fail_n(&f, "c", "pa/a", 3, SEC(100));
	pthread_barrier_init(&bar, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (struct probe_race){.f = &f, .bar = &bar};
		assert_int_equal(pthread_create(&th[i], NULL, probe_thread, &r[i]), 0);
	}
	int probes = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		probes += r[i].probes;
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(probes, 1);
	fx_fini(&f);
}

int main(void)
{
	log_init("test_router", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weighted_3_1),
	    cmocka_unit_test(test_weighted_smooth_5_1_1),
	    cmocka_unit_test(test_weighted_5_3_2_and_zero),
	    cmocka_unit_test(test_priority),
	    cmocka_unit_test(test_least_latency_moves),
	    cmocka_unit_test(test_least_latency_explore),
	    cmocka_unit_test(test_retry_same_then_next),
	    cmocka_unit_test(test_retry_backoff_doubles_and_caps),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_retry_on_and_limits),
	    cmocka_unit_test(test_fallback_model),
	    cmocka_unit_test(test_endpoint_mask),
	    cmocka_unit_test(test_cooldown_opens_and_skips),
	    cmocka_unit_test(test_cooldown_window),
	    cmocka_unit_test(test_cooldown_probe),
	    cmocka_unit_test(test_cooldown_panic_and_reason),
	    cmocka_unit_test(test_cooldown_stops_same_target_retry),
	    cmocka_unit_test(test_two_locals),
	    cmocka_unit_test(test_probe_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
