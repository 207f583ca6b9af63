/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the response-cache and guardrails halves of gateway.yaml
 * (gateway/gw_conf_cache.c, gateway/gw_conf_guard.c): defaults, the sets
 * attached to models and keys, every refusal with its key path and a
 * reason, one compiled regex copy per worker, the fingerprint changing
 * with the rule, and which changes a reload accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/guard.h"
#include "gateway/gw_conf.h"
#include "tests/unit/gateway/conf_fixtures.h"

#define H1 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

#define HEAD                                                                                                           \
	"server: { workers: 3 }\n"                                                                                     \
	"providers:\n"                                                                                                 \
	"  - { name: p, type: mock }\n"
#define RULES                                                                                                          \
	"guardrails:\n"                                                                                                \
	"  - { name: mail, builtin: email, action: redact }\n"                                                         \
	"  - { name: word, pattern: \"x[0-9]+\", action: deny, stage: input, ignore_case: true, max_match: 16 }\n"     \
	"  - { name: pan, builtin: card, action: redact, stage: output, replacement: \"####\" }\n"

static void expect_bad(const char *text, const char *want)
{
	struct err err;
	struct gw_conf *c = load(text, &err);
	if (c != NULL) {
		gw_conf_free(c);
		fail_msg("loaded, want an error with \"%s\"", want);
	}
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
}

static void test_guardrails(void **state)
{
	(void)state;
	struct gw_conf *c =
	    load_ok(HEAD RULES "auth: { enabled: false }\n"
			       "models:\n"
			       "  - { name: m, targets: [ { provider: p, model: x } ], guardrails: [ pan, mail ] }\n"
			       "  - { name: n, targets: [ { provider: p, model: x } ] }\n");
	assert_int_equal(c->nguards, 3);
	assert_int_equal(c->models[0].guards, 5);
	assert_int_equal(c->models[1].guards, 0);
	const struct guard_rule *mail = &c->guards[0], *word = &c->guards[1], *pan = &c->guards[2];
	assert_int_equal(mail->kind, GUARD_KIND_EMAIL);
	assert_int_equal(mail->stages, GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT);
	assert_string_equal(mail->replacement, "[REDACTED:email]");
	assert_int_equal(word->kind, GUARD_KIND_REGEX);
	assert_int_equal(word->action, GUARD_DENY);
	assert_int_equal(word->stages, GUARD_STAGE_INPUT);
	assert_true(word->icase);
	assert_int_equal(word->max_match, 16);
	assert_int_equal(word->ncopies, 3); /* one per worker */
	assert_string_equal(word->replacement, "[REDACTED:word]");
	assert_string_equal(pan->replacement, "####");
	assert_int_equal(pan->stages, GUARD_STAGE_OUTPUT);
	assert_memory_not_equal(mail->fp, pan->fp, 8);
	gw_conf_free(c);
}

static void test_guardrails_keys(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(HEAD RULES "keys:\n  - { name: k, sha256: " H1 ", guardrails: [ word ] }\n"
					       "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n");
	assert_int_equal(c->keys[0].guards, 2);
	gw_conf_free(c);
}

static void test_guardrails_bad(void **state)
{
	(void)state;
	static const char models[] = "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, "
				     "model: x } ] }\n";
	static const struct {
		const char *rules, *want;
	} cases[] = {
	    {"  - { name: a, builtin: email }\n", "guardrails[0].action: missing"},
	    {"  - { name: a, builtin: email, action: block }\n", "guardrails[0].action: must be deny or redact"},
	    {"  - { name: a, builtin: email, action: deny, stage: middle }\n", "must be input, output or both"},
	    {"  - { name: a, action: deny }\n", "give exactly one of pattern and builtin"},
	    {"  - { name: a, action: deny, builtin: email, pattern: x }\n", "exactly one of pattern and builtin"},
	    {"  - { name: a, action: deny, builtin: phone }\n", "must be email, card or api_key"},
	    {"  - { name: a, action: deny, builtin: email, ignore_case: true }\n", "ignore_case: only with pattern"},
	    {"  - { name: a, action: deny, pattern: \"a(\" }\n", "guardrails[0].pattern: invalid regular expression"},
	    {"  - { name: a, action: deny, pattern: \"z*\" }\n", "matches the empty string"},
	    {"  - { name: a, action: deny, pattern: x, replacement: y }\n", "replacement: only for action: redact"},
	    {"  - { name: a, action: redact, pattern: x, max_match: 0 }\n", "max_match"},
	    {"  - { name: \"a b\", action: redact, pattern: x }\n", "guardrails[0].name"},
	    {"  - { name: a, action: redact, pattern: x }\n  - { name: a, action: redact, pattern: y }\n",
	     "duplicate guardrail name 'a'"},
	    {"  - { name: a, action: redact, pattern: x, colour: red }\n", "colour"},
	};
	char text[2048];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), HEAD "guardrails:\n%s%s", cases[i].rules, models);
		expect_bad(text, cases[i].want);
	}
	expect_bad(HEAD RULES
		   "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ], "
		   "guardrails: [ nope ] }\n",
		   "models[0].guardrails: unknown guardrail 'nope'");
	expect_bad(HEAD RULES
		   "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ], "
		   "guardrails: [ mail, mail ] }\n",
		   "'mail' is listed twice");
	expect_bad(HEAD RULES "keys:\n  - { name: k, sha256: " H1 ", guardrails: [ x ] }\n"
			      "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n",
		   "keys[0].guardrails: unknown guardrail 'x'");
	/* 65 rules: more than one mask holds */
	struct buf many;
	buf_init(&many, 0);
	buf_puts(&many, HEAD "guardrails:\n");
	for (int i = 0; i < 65; i++)
		buf_printf(&many, "  - { name: r%d, builtin: email, action: redact }\n", i);
	buf_puts(&many, models);
	expect_bad(many.data, "at most 64 rules");
	buf_fini(&many);
}

static void test_cache(void **state)
{
	(void)state;
	struct gw_conf *c =
	    load_ok(HEAD "auth: { enabled: false }\ncache: {}\nmodels:\n"
			 "  - { name: m, targets: [ { provider: p, model: x } ], cache: { ttl: 5m } }\n"
			 "  - { name: n, targets: [ { provider: p, model: x } ], cache: { enabled: false, "
			 "allow_nondeterministic: true } }\n"
			 "  - { name: o, targets: [ { provider: p, model: x } ] }\n");
	assert_non_null(c->cache);
	assert_int_equal(c->cache->max_bytes, (uint64_t)64 << 20);
	assert_int_equal(c->cache->default_ttl_ms, 3600 * 1000);
	assert_int_equal(c->cache->max_entry_bytes, (uint64_t)1 << 20);
	assert_false(c->cache->redis);
	assert_true(c->models[0].cache.enabled);
	assert_int_equal(c->models[0].cache.ttl_ms, 300000);
	assert_false(c->models[1].cache.enabled);
	assert_true(c->models[1].cache.allow_nondeterministic);
	assert_false(c->models[2].cache.enabled);
	gw_conf_free(c);
	c = load_ok(HEAD
		    "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n");
	assert_null(c->cache);
	gw_conf_free(c);
}

static void test_cache_bad(void **state)
{
	(void)state;
	static const char models[] = "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, "
				     "model: x } ] }\n";
	static const struct {
		const char *cache, *want;
	} cases[] = {
	    {"cache: { max_bytes: 1KiB }\n", "max_bytes: size \"1KiB\" is out of range"},
	    {"cache: { max_bytes: 1MiB, max_entry_bytes: 2MiB }\n", "larger than cache.max_bytes"},
	    {"cache: { redis: true }\n", "cache.redis: needs the redis: section"},
	    {"cache: { default_ttl: 10ms }\n", "default_ttl"},
	    {"cache: { size: 1 }\n", "size"},
	    {"cache: 5\n", "cache: must be a mapping"},
	};
	char text[1024];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), HEAD "%s%s", cases[i].cache, models);
		expect_bad(text, cases[i].want);
	}
	expect_bad(HEAD "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ], "
			"cache: {} }\n",
		   "models[0].cache: there is no response cache");
	expect_bad(HEAD "auth: { enabled: false }\ncache: {}\nmodels:\n  - { name: m, targets: [ { provider: p, "
			"model: x } ], cache: { ttl: 1ms } }\n",
		   "ttl");
	expect_bad(HEAD "auth: { enabled: false }\ncache: {}\nmodels:\n  - { name: m, targets: [ { provider: p, "
			"model: x } ], cache: { forever: true } }\n",
		   "forever");
}

static void test_reload(void **state)
{
	(void)state;
	const char *m = "auth: { enabled: false }\nmodels:\n  - { name: m, targets: [ { provider: p, model: x } ], "
			"cache: {}, guardrails: [ mail ] }\n";
	char a[1024], b[1024], d[1024];
	struct err err;
	snprintf(a, sizeof(a), HEAD RULES "cache: { max_bytes: 8MiB }\n%s", m);
	snprintf(b, sizeof(b),
		 HEAD "guardrails:\n  - { name: mail, builtin: card, action: deny }\n"
		      "cache: { max_bytes: 8MiB }\n%s",
		 m);
	snprintf(d, sizeof(d), HEAD RULES "cache: { max_bytes: 16MiB }\n%s", m);
	struct gw_conf *ca = load_ok(a), *cb = load_ok(b), *cd = load_ok(d);
	assert_int_equal(gw_conf_reloadable(ca, cb, &err), 0); /* rules and model settings reload */
	assert_memory_not_equal(ca->guards[0].fp, cb->guards[0].fp, 8);
	assert_int_equal(gw_conf_reloadable(ca, cd, &err), -1);
	assert_non_null(strstr(err.msg, "cache: changed"));
	gw_conf_free(ca);
	gw_conf_free(cb);
	gw_conf_free(cd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guardrails),	   cmocka_unit_test(test_guardrails_keys),
	    cmocka_unit_test(test_guardrails_bad), cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_cache_bad),	   cmocka_unit_test(test_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
