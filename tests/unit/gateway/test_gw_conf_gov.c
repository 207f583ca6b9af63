/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the governance half of gateway.yaml (gateway/gw_conf_gov.c):
 * the auth rules (on unless turned off, never on without keys, never off
 * with keys), keys with model globs, expiry, limits and budgets, tenants,
 * the price table (attached to every target that uses the provider model),
 * redis URLs and credentials, metrics.max_series, and which changes a
 * SIGHUP reload accepts. Every refusal is checked for the key path and a
 * reason a person can act on. The rest of the schema is in test_gw_conf.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_conf.h"
#include "tests/unit/gateway/conf_fixtures.h"

/* sha256("test"), sha256("foo"), sha256("bar") */
#define H1 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H2 "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define H3 "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"

#define BASE                                                                                                           \
	"providers:\n"                                                                                                 \
	"  - { name: p, type: mock }\n"                                                                                \
	"  - { name: o, type: openai, base_url: \"http://127.0.0.1:1/v1\" }\n"                                         \
	"models:\n"                                                                                                    \
	"  - { name: gpt-4o-mini, targets: [ { provider: o, model: gpt-4o-mini }, { provider: p, model: x } ] }\n"     \
	"  - { name: gpt-4o, targets: [ { provider: o, model: gpt-4o } ] }\n"                                          \
	"  - { name: m, targets: [ { provider: p, model: x } ] }\n"
#define KEY1 "keys:\n  - { name: k1, sha256: " H1 " }\n"
#define OPEN "auth: { enabled: false }\n"

/* ---- auth ---------------------------------------------------------------------------------- */

static void test_auth_rules(void **state)
{
	(void)state;
	/* keys without an auth section: auth on, no anonymous access */
	struct gw_conf *c = load_ok(BASE KEY1);
	assert_true(c->auth_enabled);
	assert_false(c->allow_anonymous);
	assert_int_equal(c->nkeys, 1);
	gw_conf_free(c);
	c = load_ok(BASE "auth: { enabled: true, allow_anonymous: true }\n" KEY1);
	assert_true(c->auth_enabled);
	assert_true(c->allow_anonymous);
	gw_conf_free(c);
	/* explicitly off: the demo config */
	c = load_ok(BASE OPEN);
	assert_false(c->auth_enabled);
	assert_false(c->allow_anonymous);
	assert_int_equal(c->nkeys, 0);
	gw_conf_free(c);
	c = load_ok(BASE "auth: { enabled: off }\nkeys: []\n");
	assert_false(c->auth_enabled);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    /* never open by accident */
	    {BASE, "gw.yaml: keys: no virtual keys are configured and auth is on: add keys, or set auth: { enabled: "
		   "false }"},
	    {BASE "keys: []\n", "keys: no virtual keys are configured and auth is on"},
	    {BASE "auth: { allow_anonymous: true }\n", "keys: no virtual keys are configured and auth is on"},
	    {BASE "auth: { enabled: true }\n", "gw.yaml:8:7: keys: no virtual keys"},
	    /* never half-open */
	    {BASE "auth: { enabled: false }\n" KEY1,
	     "gw.yaml:8:18: auth.enabled: is false but keys are configured: remove the keys or turn auth on"},
	    {BASE "auth: { enabled: false, allow_anonymous: true }\n",
	     "auth.allow_anonymous: only means something with auth enabled"},
	    /* the old spelling is gone, loudly */
	    {BASE "auth: { required: false }\n" KEY1, "gw.yaml:8:9: auth.required: unknown key"},
	    {BASE "auth: { enabled: maybe }\n" KEY1, "expected true or false"},
	    {BASE "auth: [ on ]\n" KEY1, "auth"},
	    {BASE "keys: { name: k1, sha256: " H1 " }\n", "keys: must be a list"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "auth");
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void test_keys(void **state)
{
	(void)state;
	struct gw_conf *c =
	    load_ok(BASE "keys:\n"
			 "  - name: acme-search\n"
			 "    sha256: " H1 "\n"
			 "    tenant_id: acme\n"
			 "    team: search\n"
			 "    user: alice\n"
			 "    models: [ \"gpt-4o*\", m ]\n"
			 "    expires_at: 2027-01-31T00:00:00Z\n"
			 "    limits: { requests_per_minute: 60, tokens_per_minute: 100000 }\n"
			 "    budget: { daily_usd: 5, monthly_usd: \"100.50\" }\n"
			 "  - { name: plain, sha256: " H2 ", expires_at: \"2027-01-31\" }\n"
			 "  - { name: off, sha256: " H3 ", expires_at: \"2027-01-31T02:00:00+02:00\" }\n");
	assert_int_equal(c->nkeys, 3);
	const struct gw_key *k = &c->keys[0];
	assert_string_equal(k->name, "acme-search");
	assert_int_equal(k->sha256[0], 0x9f);
	assert_string_equal(k->tenant_id, "acme");
	assert_string_equal(k->team, "search");
	assert_string_equal(k->user, "alice");
	assert_int_equal(k->nmodels, 2);
	assert_string_equal(k->models[0], "gpt-4o*");
	assert_int_equal(k->expires_at, 1801353600);
	assert_int_equal(k->limits.rpm, 60);
	assert_int_equal(k->limits.tpm, 100000);
	assert_int_equal(k->limits.daily_micro, 5000000);
	assert_int_equal(k->limits.monthly_micro, 100500000);
	/* the key's tenant exists (added without limits of its own) */
	assert_true(k->tenant < c->ntenants);
	assert_string_equal(c->tenants[k->tenant].id, "acme");
	assert_int_equal(c->tenants[k->tenant].limits.rpm, 0);
	/* globs decide the models */
	assert_true(gw_key_allows(k, "gpt-4o"));
	assert_true(gw_key_allows(k, "gpt-4o-mini"));
	assert_true(gw_key_allows(k, "m"));
	assert_false(gw_key_allows(k, "mm"));
	assert_false(gw_key_allows(k, "gpt-4"));

	k = &c->keys[1];
	assert_string_equal(k->tenant_id, "");
	assert_string_equal(k->team, "");
	assert_int_equal(k->tenant, GW_TENANT_NONE);
	assert_int_equal(k->nmodels, 0);
	assert_null(k->models);
	assert_true(gw_key_allows(k, "anything"));   /* no models: = all */
	assert_int_equal(k->expires_at, 1801353600); /* a date is midnight UTC */
	assert_int_equal(k->limits.rpm, 0);
	assert_int_equal(k->limits.daily_micro, 0);
	assert_int_equal(c->keys[2].expires_at, 1801353600); /* offsets are applied */
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {BASE "keys:\n  - { sha256: " H1 " }\n", "keys[0].name: missing"},
	    {BASE "keys:\n  - { name: \"a b\", sha256: " H1 " }\n", "keys[0].name: use 1-64 of [A-Za-z0-9._-]"},
	    {BASE "keys:\n  - { name: k }\n", "keys[0].sha256: missing"},
	    {BASE "keys:\n  - { name: k, sha256: llmgw-my-secret-key }\n",
	     "gw.yaml:9:24: keys[0].sha256: must be 64 hex digits (llmgw-gateway --hash-key), not the key itself"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 "0 }\n", "keys[0].sha256: must be 64 hex digits"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 " }\n  - { name: k, sha256: " H2 " }\n",
	     "gw.yaml:10:13: keys[1].name: duplicate key name 'k'"},
	    {BASE "keys:\n  - { name: a, sha256: " H1 " }\n  - { name: b, sha256: " H1 " }\n",
	     "keys[1].sha256: same digest as key 'a'"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", tenant_id: \"acme corp\" }\n",
	     "keys[0].tenant_id: use 1-64 of [A-Za-z0-9._-]"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", models: [] }\n",
	     "keys[0].models: is empty: the key could use no model (leave it out for all)"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", models: \"gpt-4o*\" }\n", "models: must be a list"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", models: [ { a: b } ] }\n",
	     "keys[0].models: entries are model names or globs"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", models: [ \"gpt 4o\" ] }\n", "keys[0].models: entries"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", expires_at: 2025-02-29 }\n",
	     "keys[0].expires_at: must be an RFC 3339 time (2027-01-31T00:00:00Z) or a date (2027-01-31)"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", expires_at: \"2027-01-31T00:00:00\" }\n",
	     "keys[0].expires_at: must be an RFC 3339 time"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", expires_at: tomorrow }\n", "keys[0].expires_at"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", expires_at: 1970-01-01 }\n", "keys[0].expires_at"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", role: admin }\n", "keys[0].role: unknown key"},
	    {BASE "keys:\n  - { name: k, sha256: " H1 ", required: true }\n", "keys[0].required: unknown key"},
	    {BASE "keys:\n  - k1\n", "keys[0]"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "keys");
}

/* ---- limits, budgets, tenants ------------------------------------------------------------- */

static void test_limits_budgets(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(BASE "keys:\n"
					 "  - name: k\n"
					 "    sha256: " H1 "\n"
					 "    limits: { requests_per_minute: 7 }\n"
					 "    budget: { daily_usd: 0.000001, monthly_usd: 1000000000 }\n");
	const struct gw_key *k = &c->keys[0];
	assert_int_equal(k->limits.rpm, 7);
	assert_int_equal(k->limits.tpm, 0); /* 0 = none */
	assert_int_equal(k->limits.daily_micro, 1);
	assert_int_equal(k->limits.monthly_micro, INT64_C(1000000000000000));
	gw_conf_free(c);
	c = load_ok(BASE "keys:\n  - { name: k, sha256: " H1 ", limits: { tokens_per_minute: 100000000000 } }\n");
	assert_int_equal(c->keys[0].limits.tpm, UINT64_C(100000000000));
	gw_conf_free(c);

#define K "keys:\n  - name: k\n    sha256: " H1 "\n"
	static const struct bad_case bad[] = {
	    {BASE K "    limits: { requests_per_minute: 0 }\n", "requests_per_minute: \"0\" is out of range"},
	    {BASE K "    limits: { requests_per_minute: -5 }\n", "requests_per_minute: \"-5\" is out of range"},
	    {BASE K "    limits: { tokens_per_minute: 100000000001 }\n",
	     "tokens_per_minute: \"100000000001\" is out of range [1, 100000000000]"},
	    {BASE K "    limits: { tokens_per_minute: lots }\n", "tokens_per_minute: expected an integer"},
	    {BASE K "    limits: { requests_per_second: 5 }\n", "keys[0].limits.requests_per_second: unknown key"},
	    {BASE K "    limits: 60\n", "keys[0].limits"},
	    {BASE K "    budget: { daily_usd: 0.0000001 }\n",
	     "gw.yaml:11:26: keys[0].budget.daily_usd: must be a decimal USD amount like 0.15 (at most 6 decimals"},
	    {BASE K "    budget: { daily_usd: -1 }\n", "keys[0].budget.daily_usd: must be a decimal USD amount"},
	    {BASE K "    budget: { daily_usd: 1e3 }\n", "keys[0].budget.daily_usd: must be a decimal USD amount"},
	    {BASE K "    budget: { daily_usd: \"$5\" }\n", "keys[0].budget.daily_usd"},
	    {BASE K "    budget: { monthly_usd: 1000000000.01 }\n", "at most 1000000000)"},
	    {BASE K "    budget: { monthly_usd: [ 1 ] }\n", "keys[0].budget.monthly_usd: must be a decimal"},
	    {BASE K "    budget: { weekly_usd: 1 }\n", "keys[0].budget.weekly_usd: unknown key"},
	};
#undef K
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "limits");
}

static void test_tenants(void **state)
{
	(void)state;
	struct gw_conf *c =
	    load_ok(BASE "tenants:\n"
			 "  - { id: acme, limits: { requests_per_minute: 600 }, budget: { daily_usd: 50 } }\n"
			 "  - { id: idle }\n"
			 "keys:\n"
			 "  - { name: a1, sha256: " H1 ", tenant_id: acme }\n"
			 "  - { name: a2, sha256: " H2 ", tenant_id: acme }\n"
			 "  - { name: b1, sha256: " H3 ", tenant_id: beta }\n");
	/* declared tenants first, in order, then the ones only keys name */
	assert_int_equal(c->ntenants, 3);
	assert_string_equal(c->tenants[0].id, "acme");
	assert_int_equal(c->tenants[0].limits.rpm, 600);
	assert_int_equal(c->tenants[0].limits.daily_micro, 50000000);
	assert_string_equal(c->tenants[1].id, "idle");
	assert_string_equal(c->tenants[2].id, "beta");
	assert_int_equal(c->tenants[2].limits.rpm, 0);
	/* keys of one tenant share its slot */
	assert_int_equal(c->keys[0].tenant, 0);
	assert_int_equal(c->keys[1].tenant, 0);
	assert_int_equal(c->keys[2].tenant, 2);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {BASE "tenants:\n  - { id: a }\n  - { id: a }\n" KEY1,
	     "gw.yaml:10:11: tenants[1].id: duplicate tenant 'a'"},
	    {BASE "tenants:\n  - { limits: { requests_per_minute: 1 } }\n" KEY1, "tenants[0].id: missing"},
	    {BASE "tenants:\n  - { id: \"a/b\" }\n" KEY1, "tenants[0].id: use 1-64 of [A-Za-z0-9._-]"},
	    {BASE "tenants:\n  - { id: a, team: x }\n" KEY1, "tenants[0].team: unknown key"},
	    {BASE "tenants:\n  - { id: a, limits: { requests_per_minute: 0 } }\n" KEY1, "requests_per_minute"},
	    {BASE "tenants:\n  - { id: a, budget: { daily_usd: 0.1234567 } }\n" KEY1, "tenants[0].budget.daily_usd"},
	    {BASE "tenants: { id: a }\n" KEY1, "tenants: must be a list"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "tenants");
}

/* ---- prices ---------------------------------------------------------------------------------- */

static void test_prices(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(BASE KEY1 "prices:\n"
					      "  - { provider: o, model: gpt-4o-mini, input: 0.15, output: 0.60, "
					      "cached_input: 0.075 }\n"
					      "  - { provider: o, model: gpt-4o, input: \"2.50\", output: 10 }\n"
					      "  - { provider: p, model: x, input: 0 }\n"
					      "  - { provider: p, model: unused, input: 1000000 }\n");
	assert_int_equal(c->nprices, 4);
	const struct gw_price *p = &c->prices[0];
	assert_int_equal(p->provider, 1);
	assert_string_equal(p->model, "gpt-4o-mini");
	assert_int_equal(p->input, 150000);
	assert_int_equal(p->output, 600000);
	assert_int_equal(p->cached_input, 75000);
	p = &c->prices[1];
	assert_int_equal(p->input, 2500000);
	assert_int_equal(p->output, 10000000);
	assert_int_equal(p->cached_input, 2500000); /* defaults to input */
	assert_int_equal(c->prices[2].output, 0);
	assert_int_equal(c->prices[3].input, UINT64_C(1000000000000));
	/* every target of a priced provider model carries its price; the others none */
	const struct gw_model *m = gw_conf_find_model(c, "gpt-4o-mini");
	assert_ptr_equal(m->targets[0].price, &c->prices[0]);
	assert_ptr_equal(m->targets[1].price, &c->prices[2]);
	assert_ptr_equal(gw_conf_find_model(c, "gpt-4o")->targets[0].price, &c->prices[1]);
	assert_ptr_equal(gw_conf_find_model(c, "m")->targets[0].price, &c->prices[2]);
	gw_conf_free(c);
	/* no prices: no target has one */
	c = load_ok(BASE KEY1);
	assert_int_equal(c->nprices, 0);
	assert_null(c->models[0].targets[0].price);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {BASE KEY1 "prices:\n  - { provider: nope, model: x, input: 1 }\n",
	     "gw.yaml:11:17: prices[0].provider: no provider named 'nope'"},
	    {BASE KEY1 "prices:\n  - { model: x, input: 1 }\n", "prices[0].provider: missing"},
	    {BASE KEY1 "prices:\n  - { provider: p, input: 1 }\n", "prices[0].model: missing"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, output: 1 }\n",
	     "prices[0].input: missing (USD per million tokens)"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 1 }\n  - { provider: p, model: x, input: 2 }\n",
	     "gw.yaml:12:5: prices[1]: a second price for p/x"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 0.1234567 }\n",
	     "prices[0].input: must be a decimal USD amount like 0.15 (at most 6 decimals, at most 1000000)"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 1000000.5 }\n", "prices[0].input: must be"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 1, output: -1 }\n", "prices[0].output: must be"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 1, cached_input: abc }\n",
	     "prices[0].cached_input: must be"},
	    {BASE KEY1 "prices:\n  - { provider: p, model: x, input: 1, currency: EUR }\n",
	     "prices[0].currency: unknown key"},
	    {BASE KEY1 "prices: { provider: p }\n", "prices: must be a list"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "prices");
}

/* ---- redis ---------------------------------------------------------------------------------- */

static void test_redis(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *host, *unix_path;
		unsigned port, db;
	} good[] = {
	    {"redis://h", "h", NULL, 6379, 0},
	    {"redis://h/", "h", NULL, 6379, 0},
	    {"redis://h:7000/3", "h", NULL, 7000, 3},
	    {"redis://10.0.0.5:6380", "10.0.0.5", NULL, 6380, 0},
	    {"redis://[::1]:6380", "::1", NULL, 6380, 0},
	    {"redis://[::1]/2", "::1", NULL, 6379, 2},
	    {"unix:///run/redis.sock", NULL, "/run/redis.sock", 0, 0},
	    {"unix:///x?db=2", NULL, "/x", 0, 2},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), BASE KEY1 "redis: { url: \"%s\" }\n", good[i].url);
		struct gw_conf *c = load_ok(text);
		const struct gw_redis *r = c->redis;
		assert_non_null(r);
		assert_string_equal(r->url, good[i].url);
		if (good[i].host != NULL) {
			assert_string_equal(r->host, good[i].host);
			assert_int_equal(r->port, good[i].port);
			assert_null(r->unix_path);
		} else {
			assert_string_equal(r->unix_path, good[i].unix_path);
		}
		assert_int_equal(r->db, good[i].db);
		/* defaults */
		assert_null(r->username);
		assert_null(r->password);
		assert_false(r->fail_closed);
		assert_string_equal(r->prefix, "llmgw:");
		assert_int_equal(r->timeout_ms, 50);
		assert_int_equal(r->connect_timeout_ms, 1000);
		gw_conf_free(c);
	}
	/* no redis section: in process */
	struct gw_conf *c = load_ok(BASE KEY1);
	assert_null(c->redis);
	gw_conf_free(c);
	/* credentials come from the environment, never from the file */
	setenv("LLMGW_TEST_REDIS_PW", "s3cret", 1);
	c = load_ok(BASE KEY1
		    "redis:\n  url: redis://h\n  username: gw\n  password_env: LLMGW_TEST_REDIS_PW\n"
		    "  on_failure: reject\n  prefix: \"prod:llmgw:\"\n  timeout: 20ms\n  connect_timeout: 2s\n");
	assert_string_equal(c->redis->username, "gw");
	assert_string_equal(c->redis->password, "s3cret");
	assert_true(c->redis->fail_closed);
	assert_string_equal(c->redis->prefix, "prod:llmgw:");
	assert_int_equal(c->redis->timeout_ms, 20);
	assert_int_equal(c->redis->connect_timeout_ms, 2000);
	gw_conf_free(c);
	c = load_ok(BASE KEY1 "redis: { url: \"redis://h\", password_env: LLMGW_TEST_REDIS_PW, on_failure: local }\n");
	assert_null(c->redis->username);
	assert_string_equal(c->redis->password, "s3cret");
	assert_false(c->redis->fail_closed);
	gw_conf_free(c);
	unsetenv("LLMGW_TEST_REDIS_PW");
	setenv("LLMGW_TEST_REDIS_EMPTY", "", 1);

	static const struct bad_case bad[] = {
	    {BASE KEY1 "redis: { url: \"rediss://h\" }\n",
	     "gw.yaml:10:15: redis.url: TLS to Redis (rediss://) is not supported: use a local TLS proxy"},
	    {BASE KEY1 "redis: { url: \"redis://user:pw@h\" }\n",
	     "redis.url: no credentials in the URL: use username and password_env"},
	    {BASE KEY1 "redis: { url: \"redis://:pw@h:6379\" }\n", "redis.url: no credentials in the URL"},
	    {BASE KEY1 "redis: { url: \"http://h\" }\n", "redis.url: must be redis://HOST[:PORT][/DB] or unix:///PATH"},
	    {BASE KEY1 "redis: { url: \"h:6379\" }\n", "redis.url: must be redis://"},
	    {BASE KEY1 "redis: { url: \"redis://\" }\n", "redis.url: missing host"},
	    {BASE KEY1 "redis: { url: \"redis://h:0\" }\n", "redis.url: port must be 1-65535"},
	    {BASE KEY1 "redis: { url: \"redis://h:65536\" }\n", "redis.url: port must be 1-65535"},
	    {BASE KEY1 "redis: { url: \"redis://h:x\" }\n", "redis.url: port must be 1-65535"},
	    {BASE KEY1 "redis: { url: \"redis://h/x\" }\n", "redis.url: the path is the database number, 0-1000"},
	    {BASE KEY1 "redis: { url: \"redis://h/1001\" }\n", "redis.url: the path is the database number"},
	    {BASE KEY1 "redis: { url: \"redis://[::1\" }\n", "redis.url: unterminated [IPv6] host"},
	    {BASE KEY1 "redis: { url: \"unix://relative.sock\" }\n",
	     "redis.url: unix:// needs an absolute socket path"},
	    {BASE KEY1 "redis: { url: \"unix://\" }\n", "redis.url: unix:// needs an absolute socket path"},
	    {BASE KEY1 "redis: { url: \"unix:///x?database=2\" }\n", "redis.url: the only query parameter is db=N"},
	    {BASE KEY1 "redis: { url: \"unix:///x?db=two\" }\n", "redis.url: db must be 0-1000"},
	    {BASE KEY1 "redis: { url: \"\" }\n", "redis.url: missing"},
	    {BASE KEY1 "redis: { timeout: 1s }\n", "redis.url: missing"},
	    {BASE KEY1 "redis: { url: \"redis://h\", password_env: LLMGW_TEST_REDIS_UNSET }\n",
	     "redis.password_env: $LLMGW_TEST_REDIS_UNSET is unset or empty"},
	    {BASE KEY1 "redis: { url: \"redis://h\", password_env: LLMGW_TEST_REDIS_EMPTY }\n",
	     "redis.password_env: $LLMGW_TEST_REDIS_EMPTY is unset or empty"},
	    {BASE KEY1 "redis: { url: \"redis://h\", username: gw }\n", "redis.username: needs password_env as well"},
	    {BASE KEY1 "redis: { url: \"redis://h\", password: hunter2 }\n", "redis.password: unknown key"},
	    {BASE KEY1 "redis: { url: \"redis://h\", on_failure: ignore }\n",
	     "redis.on_failure: must be local (keep serving with in-process limits) or reject (503)"},
	    {BASE KEY1 "redis: { url: \"redis://h\", prefix: \"a b\" }\n", "redis.prefix: at most 32 bytes, no spaces"},
	    {BASE KEY1 "redis: { url: \"redis://h\", prefix: \"0123456789012345678901234567890123\" }\n",
	     "redis.prefix: at most 32 bytes"},
	    {BASE KEY1 "redis: { url: \"redis://h\", timeout: 0 }\n", "timeout: duration"},
	    {BASE KEY1 "redis: { url: \"redis://h\", timeout: 11s }\n", "timeout: duration"},
	    {BASE KEY1 "redis: { url: \"redis://h\", connect_timeout: 2m }\n", "connect_timeout: duration"},
	    {BASE KEY1 "redis: \"redis://h\"\n", "redis"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "redis");
	unsetenv("LLMGW_TEST_REDIS_EMPTY");
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void test_metrics_section(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(BASE KEY1);
	assert_int_equal(c->metrics_max_series, 1000);
	gw_conf_free(c);
	c = load_ok(BASE KEY1 "metrics: { max_series: 50 }\n");
	assert_int_equal(c->metrics_max_series, 50);
	gw_conf_free(c);
	static const struct bad_case bad[] = {
	    {BASE KEY1 "metrics: { max_series: 0 }\n", "max_series: \"0\" is out of range [1, 5000]"},
	    {BASE KEY1 "metrics: { max_series: 5001 }\n", "max_series: \"5001\" is out of range"},
	    {BASE KEY1 "metrics: { max_series: many }\n", "max_series: expected an integer"},
	    {BASE KEY1 "metrics: { path: /m }\n", "gw.yaml:10:12: metrics.path: unknown key"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "metrics");
}

/* ---- reload ---------------------------------------------------------------------------------- */

static void test_reloadable(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *a = load_ok(BASE KEY1 "redis: { url: \"redis://h\" }\n");
	/* keys, limits, prices and routes may change */
	struct gw_conf *b = load_ok(BASE "keys:\n  - { name: k2, sha256: " H2 ", limits: { requests_per_minute: 1 } }\n"
					 "prices:\n  - { provider: p, model: x, input: 1 }\n"
					 "redis: { url: \"redis://h\" }\n");
	assert_int_equal(gw_conf_reloadable(a, b, &err), 0);
	gw_conf_free(b);
	/* the sections read once at start-up may not */
	static const struct bad_case later[] = {
	    {"server: { listen: 127.0.0.1:9999 }\n" BASE KEY1 "redis: { url: \"redis://h\" }\n", "server: changed"},
	    {"telemetry: { spans_url: \"ipc:///tmp/x.sock\" }\n" BASE KEY1 "redis: { url: \"redis://h\" }\n",
	     "telemetry: changed"},
	    {BASE KEY1 "redis: { url: \"redis://h2\" }\n", "redis: changed"},
	    {BASE KEY1, "redis: changed"},
	    {"providers:\n  - { name: p, type: mock }\n  - { name: o, type: openai, base_url: "
	     "\"http://127.0.0.1:2/v1\" }\n"
	     "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n" KEY1
	     "redis: { url: \"redis://h\" }\n",
	     "providers[1] ('o'): changed"},
	    {"providers:\n  - { name: p, type: mock }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ] "
	     "}\n" KEY1 "redis: { url: \"redis://h\" }\n",
	     "providers: 2 before, 1 now"},
	};
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		b = load_ok(later[i].text);
		err_clear(&err);
		if (gw_conf_reloadable(a, b, &err) != -1 || strstr(err.msg, later[i].want) == NULL)
			fail_msg("reload case %zu: want '%s', got '%s'", i, later[i].want, err.msg);
		gw_conf_free(b);
	}
	gw_conf_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_rules),	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_limits_budgets),  cmocka_unit_test(test_tenants),
	    cmocka_unit_test(test_prices),	    cmocka_unit_test(test_redis),
	    cmocka_unit_test(test_metrics_section), cmocka_unit_test(test_reloadable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
