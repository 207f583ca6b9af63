/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream client's providers[] keys in gateway.yaml: defaults,
 * values, and the errors (file:line:col: key: reason) for bad ones; plus
 * the outcome names the metrics and spans use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_conf.h"
#include "gateway/upstream.h"

/* Ends with auth off: a config needs keys or that, and these are about providers. */
#define MODEL "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\nauth: { enabled: false }\n"

static struct gw_conf *load(const char *y, struct err *err)
{
	return gw_conf_parse(y, strlen(y), "gw.yaml", err);
}

static void test_defaults(void **state)
{
	struct err err;
	(void)state;
	struct gw_conf *c =
	    load("providers:\n  - { name: p, type: openai, base_url: \"https://api.example.com/v1\" }\n" MODEL, &err);
	assert_non_null(c);
	const struct gw_provider *p = &c->providers[0];
	assert_int_equal(p->connect_timeout_ms, 5000);
	assert_int_equal(p->timeout_ms, 60000);
	assert_int_equal(p->first_byte_timeout_ms, 60000); /* = timeout */
	assert_int_equal(p->idle_timeout_ms, 30000);
	assert_int_equal(p->pool_idle_timeout_ms, 50000);
	assert_int_equal(p->max_connections, 256);
	assert_int_equal(p->http2, GW_HTTP2_AUTO);
	gw_conf_free(c);
	/* first_byte_timeout follows a configured timeout */
	c = load("providers:\n  - { name: p, type: openai, base_url: \"http://h\", timeout: 90s }\n" MODEL, &err);
	assert_non_null(c);
	assert_int_equal(c->providers[0].first_byte_timeout_ms, 90000);
	gw_conf_free(c);
}

static void test_values(void **state)
{
	struct err err;
	(void)state;
	struct gw_conf *c = load("providers:\n"
				 "  - name: p\n"
				 "    type: openai\n"
				 "    base_url: http://vllm:8000/v1\n"
				 "    connect_timeout: 2s\n"
				 "    first_byte_timeout: 20s\n"
				 "    idle_timeout: 0\n"
				 "    timeout: 5m\n"
				 "    pool_idle_timeout: 30s\n"
				 "    max_connections: 32\n"
				 "    http2: prior_knowledge\n"
				 "  - { name: q, type: openai, base_url: \"https://x\", http2: off }\n" MODEL,
				 &err);
	assert_non_null(c);
	const struct gw_provider *p = &c->providers[0];
	assert_int_equal(p->connect_timeout_ms, 2000);
	assert_int_equal(p->first_byte_timeout_ms, 20000);
	assert_int_equal(p->idle_timeout_ms, 0);
	assert_int_equal(p->timeout_ms, 300000);
	assert_int_equal(p->pool_idle_timeout_ms, 30000);
	assert_int_equal(p->max_connections, 32);
	assert_int_equal(p->http2, GW_HTTP2_PRIOR_KNOWLEDGE);
	assert_int_equal(c->providers[1].http2, GW_HTTP2_OFF);
	gw_conf_free(c);
}

static void test_errors(void **state)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
	    {"providers:\n  - { name: p, type: openai, base_url: \"http://h\", http2: yes }\n" MODEL,
	     "gw.yaml:2:59: providers[0].http2: must be auto, off or prior_knowledge"},
	    {"providers:\n  - { name: p, type: openai, base_url: \"https://h\", http2: prior_knowledge }\n" MODEL,
	     "providers[0].http2: prior_knowledge is cleartext h2c for http:// base URLs"},
	    {"providers:\n  - { name: p, type: openai, base_url: \"http://h\", max_connections: 0 }\n" MODEL,
	     "gw.yaml:2:69: max_connections: \"0\" is out of range"},
	    {"providers:\n  - { name: p, type: openai, base_url: \"http://h\", idle_timeout: -1s }\n" MODEL,
	     "idle_timeout:"},
	    {"providers:\n  - { name: p, type: openai, base_url: \"http://h\", first_byte_timeout: 0 }\n" MODEL,
	     "first_byte_timeout:"},
	    {"providers:\n  - { name: p, type: openai, base_url: \"http://h\", pool_idle_timeout: soon }\n" MODEL,
	     "pool_idle_timeout:"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = {0};
		struct gw_conf *c = load(cases[i].yaml, &err);
		if (c != NULL || strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i, c != NULL ? "(loaded)" : err.msg, cases[i].want);
	}
}

static void test_outcome_names(void **state)
{
	(void)state;
	static const char *const want[UPSTREAM__COUNT] = {
	    "ok",	    "connect_error", "tls_error", "connect_timeout", "first_byte_timeout",
	    "idle_timeout", "total_timeout", "reset",	  "protocol_error",  "too_large",
	};
	for (int o = 0; o < UPSTREAM__COUNT; o++)
		assert_string_equal(upstream_outcome_name((enum upstream_outcome)o), want[o]);
	assert_string_equal(upstream_outcome_name(UPSTREAM__COUNT), "unknown");
	assert_true(upstream_outcome_is_timeout(UPSTREAM_CONNECT_TIMEOUT));
	assert_true(upstream_outcome_is_timeout(UPSTREAM_TOTAL_TIMEOUT));
	assert_false(upstream_outcome_is_timeout(UPSTREAM_RESET));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_outcome_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
