/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the in-process limiter (gateway/gov.c), driven through its
 * public calls with explicit clocks (now_us monotonic, now_unix wall): a
 * request refused by a later bucket gives back what earlier ones took, the
 * token estimate is charged up front and settled both ways, states follow
 * keys and tenants by name across a reload (and removed ones are dropped),
 * budgets roll over at UTC day and month boundaries, and threads admitting
 * at once never get more than the limit. The arithmetic itself is in
 * test_gov_math.c; every number here is exact because each limit divides
 * the 60 s window evenly.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gov.h"
#include "gateway/gw_conf.h"

/* sha256("test"), sha256("foo"), sha256("bar"): keys need distinct digests */
#define H "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H2 "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define H3 "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
#define BASE "providers: [ { name: p, type: mock } ]\nmodels: [ { name: m, targets: [ { provider: p, model: x } ] } ]\n"
#define NOW_US INT64_C(1000000000000) /* a monotonic instant, fixed: nothing refills between calls */
#define JAN30 INT64_C(1769731200)     /* 2026-01-30T00:00:00Z */
#define JAN31 INT64_C(1769817600)
#define FEB01 INT64_C(1769904000)
#define THREADS 4
#define TRIES 400 /* per thread */

static struct gw_conf *load(const char *keys)
{
	struct err err = {0};
	char text[2048];
	snprintf(text, sizeof(text), "%s%s", BASE, keys);
	struct gw_conf *c = gw_conf_parse(text, strlen(text), "gw.yaml", &err);
	if (c == NULL)
		fail_msg("did not load: %s", err.msg);
	return c;
}

static struct gov *gov_of(const struct gw_conf *conf, const struct gov *prev)
{
	struct err err;
	struct gov *g = gov_new(conf, prev, &err);
	assert_non_null(g);
	return g;
}

/* Prepares and admits one request of key `name` estimated at est tokens; returns whether it was admitted. */
static bool admit(struct gov *g, const struct gw_conf *conf, const char *name, uint64_t est, int64_t now_us,
		  int64_t now_unix, struct gov_call *c)
{
	for (size_t i = 0; i < conf->nkeys; i++) {
		if (strcmp(conf->keys[i].name, name) != 0)
			continue;
		assert_true(gov_prepare(conf, &conf->keys[i], i, est, NULL, now_unix, c));
		gov_admit_local(g, c, now_us, now_unix);
		assert_true(c->v.ok == c->admitted);
		return c->admitted;
	}
	fail_msg("no key %s", name);
	return false;
}

/* Ends an admitted call that used `used` tokens and cost cost_micro. */
static void settle(struct gov *g, const struct gov_call *c, uint64_t used, int64_t cost_micro, int64_t now_unix)
{
	struct gov_settle s;
	gov_settle_prepare(c, used, cost_micro, &s);
	gov_settle_local(g, c, &s, now_unix);
}

static void test_all_or_nothing(void **state)
{
	(void)state;
	/* buckets in order: key rpm, key tpm, tenant rpm (the one that refuses) */
	struct gw_conf *conf =
	    load("keys: [ { name: a, sha256: " H ", tenant_id: t, limits: { requests_per_minute: 10, "
		 "tokens_per_minute: 1000 } } ]\ntenants: [ { id: t, limits: { requests_per_minute: 2 } } ]\n");
	struct gov *g = gov_of(conf, NULL);
	struct gov_call c;
	assert_true(admit(g, conf, "a", 100, NOW_US, JAN30, &c));
	assert_int_equal(c.ask.nbuckets, 3);
	assert_true(admit(g, conf, "a", 100, NOW_US, JAN30, &c));
	assert_int_equal(c.v.remaining[0], 8);
	assert_int_equal(c.v.remaining[1], 800);
	for (int i = 0; i < 20; i++) { /* without the give-back the key's 10 requests would be gone after 8 */
		assert_false(admit(g, conf, "a", 100, NOW_US, JAN30, &c));
		assert_int_equal(c.v.refused_bucket, 2);
		assert_false(c.v.never);
		assert_int_equal(c.v.retry_us, 30000000); /* one tenant request refills in 30 s */
		assert_int_equal(c.v.remaining[0], 8);
		assert_int_equal(c.v.remaining[1], 800);
		assert_int_equal(c.v.remaining[2], 0);
		assert_string_equal(gov_refusal_name(&c), "requests");
	}
	gov_free(g);
	gw_conf_free(conf);
}

static void test_estimate_settled(void **state)
{
	(void)state;
	struct gw_conf *conf = load("keys: [ { name: a, sha256: " H ", limits: { tokens_per_minute: 100 } } ]\n");
	struct gov *g = gov_of(conf, NULL);
	struct gov_call c1, c2, c3;
	assert_true(admit(g, conf, "a", 60, NOW_US, JAN30, &c1));
	assert_int_equal(c1.v.remaining[0], 40);
	/* used 10: 50 refunded, so a second 60 fits; it used 90: 30 more charged, the bucket is empty */
	settle(g, &c1, 10, 0, JAN30);
	assert_true(admit(g, conf, "a", 60, NOW_US, JAN30, &c2));
	assert_int_equal(c2.v.remaining[0], 30);
	settle(g, &c2, 90, 0, JAN30);
	assert_false(admit(g, conf, "a", 1, NOW_US, JAN30, &c3));
	assert_string_equal(gov_refusal_name(&c3), "tokens");
	assert_int_equal(c3.v.retry_us, 600000); /* one token refills in 0.6 s */
	gov_free(g);
	gw_conf_free(conf);
}

#define KEY_A "  - { name: a, sha256: " H ", tenant_id: t, limits: { requests_per_minute: 2 } }\n"
#define KEY_B "  - { name: b, sha256: " H2 ", limits: { requests_per_minute: 1 } }\n"
#define KEY_C "  - { name: c, sha256: " H3 ", tenant_id: t, limits: { requests_per_minute: 1 } }\n"
#define TENANT "tenants: [ { id: t, limits: { requests_per_minute: 3 } } ]\n"

static void test_reload_by_name(void **state)
{
	(void)state;
	struct gw_conf *c1 = load("keys:\n" KEY_A KEY_B TENANT);
	struct gw_conf *c2 = load("keys:\n" KEY_C KEY_A TENANT); /* b removed, c added, a moved to index 1 */
	struct gw_conf *c3 = load("keys:\n" KEY_A KEY_B TENANT);
	struct gov *g1 = gov_of(c1, NULL), *g2, *g3;
	struct gov_call c;
	assert_true(admit(g1, c1, "a", 1, NOW_US, JAN30, &c));
	assert_true(admit(g1, c1, "a", 1, NOW_US, JAN30, &c));
	assert_true(admit(g1, c1, "b", 1, NOW_US, JAN30, &c));
	assert_false(admit(g1, c1, "a", 1, NOW_US, JAN30, &c));
	g2 = gov_of(c2, g1);
	gov_free(g1);
	assert_false(admit(g2, c2, "a", 1, NOW_US, JAN30, &c)); /* key a's count came along */
	assert_true(admit(g2, c2, "c", 1, NOW_US, JAN30, &c));	/* a new key starts fresh... */
	assert_int_equal(c.v.remaining[1], 0);			/* ...in tenant t, which kept its 2 of 3 */
	g3 = gov_of(c3, g2);
	gov_free(g2);
	/* b was dropped with c2, so it comes back fresh; a was kept throughout */
	assert_true(admit(g3, c3, "b", 1, NOW_US, JAN30, &c));
	assert_false(admit(g3, c3, "a", 1, NOW_US, JAN30, &c));
	gov_free(g3);
	gw_conf_free(c1);
	gw_conf_free(c2);
	gw_conf_free(c3);
}

static void test_budget_rollover(void **state)
{
	(void)state;
	/* budgets in order: daily 120, monthly 150 micro-USD */
	struct gw_conf *conf =
	    load("keys: [ { name: a, sha256: " H ", budget: { daily_usd: 0.00012, monthly_usd: 0.00015 } } ]\n");
	struct gov *g = gov_of(conf, NULL);
	struct gov_call c;
	assert_true(admit(g, conf, "a", 1, NOW_US, JAN30 + 43200, &c));
	settle(g, &c, 1, 100, JAN30 + 43200);
	assert_true(admit(g, conf, "a", 1, NOW_US, JAN30 + 43201, &c)); /* 100 < 120: still admitted */
	assert_int_equal(c.v.spent_micro[0], 100);
	settle(g, &c, 1, 50, JAN30 + 43201); /* day 150, month 150 */
	assert_false(admit(g, conf, "a", 1, NOW_US, JAN31 - 1, &c));
	assert_string_equal(gov_refusal_name(&c), "daily_budget");
	assert_int_equal(c.v.retry_us, 1000000); /* the day ends in 1 s */
	/* a new day, the same month */
	assert_false(admit(g, conf, "a", 1, NOW_US, JAN31, &c));
	assert_string_equal(gov_refusal_name(&c), "monthly_budget");
	assert_int_equal(c.v.spent_micro[0], 0);
	assert_int_equal(c.v.spent_micro[1], 150);
	assert_int_equal(c.v.retry_us, INT64_C(86400000000)); /* until 2026-02-01 */
	assert_true(admit(g, conf, "a", 1, NOW_US, FEB01, &c));
	assert_int_equal(c.v.spent_micro[0], 0);
	assert_int_equal(c.v.spent_micro[1], 0);
	gov_free(g);
	gw_conf_free(conf);
}

struct racer {
	struct gov *g;
	const struct gw_conf *conf;
	pthread_barrier_t *start;
	int admitted;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct gov_call c;
	pthread_barrier_wait(r->start);
	for (int i = 0; i < TRIES; i++) {
		gov_prepare(r->conf, &r->conf->keys[0], 0, 1, NULL, JAN30, &c);
		gov_admit_local(r->g, &c, NOW_US, JAN30);
		r->admitted += c.admitted;
	}
	return NULL;
}

static void test_threads_exact(void **state)
{
	(void)state;
	/* 1600 tries at one instant: exactly the tenant's 300 win, and the key keeps exactly its other 200 */
	struct gw_conf *conf =
	    load("keys: [ { name: a, sha256: " H ", tenant_id: t, limits: { requests_per_minute: 500 } } ]\n"
		 "tenants: [ { id: t, limits: { requests_per_minute: 300 } } ]\n");
	struct gov *g = gov_of(conf, NULL);
	pthread_barrier_t start;
	pthread_t th[THREADS];
	struct racer r[THREADS];
	int total = 0;
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++) {
		r[i] = (struct racer){.g = g, .conf = conf, .start = &start};
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += r[i].admitted;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(total, 300);
	struct gov_call c;
	assert_false(admit(g, conf, "a", 1, NOW_US, JAN30, &c));
	assert_int_equal(c.v.refused_bucket, 1);
	assert_int_equal(c.v.remaining[0], 200); /* every give-back landed */
	gov_free(g);
	gw_conf_free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_or_nothing), cmocka_unit_test(test_estimate_settled),
	    cmocka_unit_test(test_reload_by_name), cmocka_unit_test(test_budget_rollover),
	    cmocka_unit_test(test_threads_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
