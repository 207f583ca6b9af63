/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/gw_conf: a full valid config loads into the
 * expected struct, defaults apply, and every class of mistake is rejected
 * with "name:line:col: key: reason" pointing at the right place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_conf.h"

static const char valid[] = "server:\n"
			    "  listen: 127.0.0.1:8080\n"
			    "  max_body: 4MiB\n"
			    "telemetry:\n"
			    "  spans_url: ipc:///tmp/llmgw-spans.sock\n"
			    "  sndbuf: 1MiB\n"
			    "log: { level: info }\n"
			    "auth:\n"
			    "  required: false\n"
			    "keys:\n"
			    "  - name: acme-search\n"
			    "    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
			    "    tenant_id: acme\n"
			    "    team: search\n"
			    "    user: alice\n"
			    "providers:\n"
			    "  - name: local\n"
			    "    type: openai\n"
			    "    base_url: http://127.0.0.1:9000/v1\n"
			    "    api_key_env: LLMGW_TEST_KEY\n"
			    "    gen_ai_provider: vllm\n"
			    "    connect_timeout: 5s\n"
			    "    timeout: 60s\n"
			    "    ca_file: \"\"\n"
			    "  - name: demo\n"
			    "    type: mock\n"
			    "models:\n"
			    "  - name: gpt-4o-mini\n"
			    "    targets:\n"
			    "      - { provider: local, model: gpt-4o-mini-2024-07-18 }\n"
			    "  - name: mock-1\n"
			    "    targets: [ { provider: demo, model: mock-1 } ]\n";

static struct gw_conf *load(const char *text, struct err *err)
{
	err_clear(err);
	return gw_conf_parse(text, strlen(text), "gw.yaml", err);
}

static void test_valid(void **state)
{
	(void)state;
	struct err err;
	setenv("LLMGW_TEST_KEY", "sk-secret", 1);
	struct gw_conf *c = load(valid, &err);
	assert_non_null(c);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_int_equal(c->max_body, 4u << 20);
	assert_string_equal(c->spans_url, "ipc:///tmp/llmgw-spans.sock");
	assert_int_equal(c->spans_sndbuf, 1u << 20);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_false(c->auth_required);

	assert_int_equal(c->nkeys, 1);
	assert_string_equal(c->keys[0].name, "acme-search");
	assert_int_equal(c->keys[0].sha256[0], 0x9f);
	assert_int_equal(c->keys[0].sha256[31], 0x08);
	assert_string_equal(c->keys[0].tenant_id, "acme");
	assert_string_equal(c->keys[0].user, "alice");

	assert_int_equal(c->nproviders, 2);
	const struct gw_provider *p = &c->providers[0];
	assert_int_equal(p->type, GW_PROVIDER_OPENAI);
	assert_false(p->url.tls);
	assert_string_equal(p->url.host, "127.0.0.1");
	assert_int_equal(p->url.port, 9000);
	assert_string_equal(p->url.path, "/v1");
	assert_string_equal(p->url.authority, "127.0.0.1:9000");
	assert_string_equal(p->api_key, "sk-secret");
	assert_string_equal(p->genai_name, "vllm");
	assert_int_equal(p->connect_timeout_ms, 5000);
	assert_int_equal(p->timeout_ms, 60000);
	assert_null(p->ca_file);
	assert_int_equal(c->providers[1].type, GW_PROVIDER_MOCK);
	assert_string_equal(c->providers[1].genai_name, "mock");

	assert_int_equal(c->nmodels, 2);
	const struct gw_model *m = gw_conf_find_model(c, "gpt-4o-mini");
	assert_non_null(m);
	assert_int_equal(m->ntargets, 1);
	assert_int_equal(m->targets[0].provider, 0);
	assert_string_equal(m->targets[0].model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(m->targets[0].label, "local/gpt-4o-mini-2024-07-18");
	assert_null(gw_conf_find_model(c, "gpt-4o"));
	gw_conf_free(c);
	unsetenv("LLMGW_TEST_KEY");
}

static void test_defaults(void **state)
{
	(void)state;
	struct err err;
	unsetenv("LLMGW_TEST_KEY");
	struct gw_conf *c = load("providers:\n"
				 "  - { name: o, type: openai, base_url: \"https://api.openai.com/v1/\", "
				 "api_key_env: LLMGW_TEST_KEY }\n"
				 "models:\n"
				 "  - { name: m, targets: [ { provider: o, model: m } ] }\n",
				 &err);
	assert_non_null(c);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_int_equal(c->max_body, 4u << 20);
	assert_int_equal(c->drain_timeout_ms, 25000);
	assert_string_equal(c->spans_url, "");
	assert_int_equal(c->nkeys, 0);
	const struct gw_provider *p = &c->providers[0];
	assert_true(p->url.tls);
	assert_int_equal(p->url.port, 443);
	assert_string_equal(p->url.path, "/v1"); /* trailing slash dropped */
	assert_string_equal(p->url.authority, "api.openai.com");
	assert_string_equal(p->genai_name, "openai");
	assert_string_equal(p->api_key_env, "LLMGW_TEST_KEY");
	assert_null(p->api_key); /* unset env: no key, not an error */
	assert_int_equal(p->connect_timeout_ms, 5000);
	assert_int_equal(p->timeout_ms, 60000);
	gw_conf_free(c);
}

/* Each bad config and a fragment its error must contain. */
struct bad_case {
	const char *text;
	const char *want;
};

#define PROV "providers:\n  - { name: p, type: mock }\n"
#define MODEL "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n"

static const struct bad_case bad_cases[] = {
    {"servr:\n  listen: 1.2.3.4:1\n" PROV MODEL, "gw.yaml:1:1: servr: unknown key"},
    {"server:\n  listen: 127.0.0.1:8080\n  max_bdy: 1\n" PROV MODEL, "gw.yaml:3:3: server.max_bdy: unknown key"},
    {"server: { listen: \"127.0.0.1\" }\n" PROV MODEL, "server.listen: missing :port"},
    {"server: { listen: \"127.0.0.1:0\" }\n" PROV MODEL, "bad port"},
    {"server: { listen: \"::1:80\" }\n" PROV MODEL, "brackets"},
    {PROV "models:\n  - { name: m }\n", "gw.yaml:4:5: models[0].targets: model 'm' needs at least one target"},
    {PROV "models:\n  - { name: m, targets: [] }\n", "models[0].targets"},
    {PROV "models:\n  - { name: m, targets: [ { provider: nope, model: x } ] }\n",
     "gw.yaml:4:39: models[0].targets[0].provider: unknown provider 'nope'"},
    {PROV "models:\n  - { name: m, targets: [ { provider: p } ] }\n", "models[0].targets[0].model: missing"},
    {"providers:\n  - { name: p, type: anthropic }\n" MODEL,
     "gw.yaml:2:22: providers[0].type: unknown provider type 'anthropic'"},
    {"providers:\n  - { name: p, type: openai }\n" MODEL, "providers[0].base_url: missing or empty"},
    {"providers:\n  - { name: p, type: openai, base_url: \"ftp://x\" }\n" MODEL, "scheme must be http or https"},
    {"providers:\n  - { name: p, type: openai, base_url: \"http://u:pw@x\" }\n" MODEL, "user info"},
    {"providers:\n  - { name: p, type: openai, base_url: \"http://x:99999\" }\n" MODEL, "bad port"},
    {"providers:\n  - { name: p, type: mock, colour: red }\n" MODEL, "providers[0].colour: unknown key"},
    {"providers:\n  - { name: p, type: mock }\n  - { name: p, type: mock }\n" MODEL,
     "providers[1].name: duplicate provider name 'p'"},
    {"providers:\n  - { name: \"a b\", type: mock }\n" MODEL, "providers[0].name: use 1-64"},
    {"providers:\n  - { name: p, type: openai, base_url: \"http://x\", ca_file: /nonexistent/ca.pem }\n" MODEL,
     "providers[0].ca_file: cannot read /nonexistent/ca.pem"},
    {"keys:\n  - { name: k, sha256: abc }\n" PROV MODEL, "gw.yaml:2:24: keys[0].sha256: must be 64 hex digits"},
    {"keys:\n  - { name: k, sha256: zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n" PROV MODEL,
     "keys[0].sha256: must be 64 hex digits"},
    {"keys:\n  - { name: k, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }\n"
     "  - { name: k2, sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 }\n" PROV MODEL,
     "keys[1].sha256: same digest as key 'k'"},
    {"keys:\n  - { name: k, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, team: x, "
     "role: admin }\n" PROV MODEL,
     "keys[0].role: unknown key"},
    {"log: { level: loud }\n" PROV MODEL, "log.level: must be debug, info, warn or error"},
    {"telemetry: { spans_url: \"http://x\" }\n" PROV MODEL, "telemetry.spans_url: must be ipc://"},
    {"auth: { required: maybe }\n" PROV MODEL, "required"},
    {"auth: { required: true }\n" PROV MODEL, "auth.required: is true but no keys are configured"},
    {MODEL, "providers: at least one provider is required"},
    {PROV, "models: at least one model is required"},
    {"providers: { name: p }\n" MODEL, "providers: must be a list"},
    {PROV "models:\n  - { name: \"has space\", targets: [ { provider: p, model: x } ] }\n", "models[0].name"},
    {PROV "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n"
	  "  - { name: m, targets: [ { provider: p, model: y } ] }\n",
     "models[1].name: duplicate model name 'm'"},
    {"providers:\n  - { name: p, type: mock, timeout: forever }\n" MODEL, "timeout"},
    {"providers:\n  - { name: p, type: mock, gen_ai_provider: \"\" }\n" MODEL, "gen_ai_provider"},
    {"- a\n- b\n", "gw.yaml"},
};

static void test_bad(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct err err;
		struct gw_conf *c = load(bad_cases[i].text, &err);
		if (c != NULL || strstr(err.msg, bad_cases[i].want) == NULL) {
			print_error("case %zu: want \"%s\", got \"%s\"\n", i, bad_cases[i].want,
				    c != NULL ? "(loaded)" : err.msg);
			gw_conf_free(c);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_errors_start_with_file_line(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load("providers:\n  - { name: p, type: mock }\nmodels:\n  - { name: m, targets: [ { "
				 "provider: p, model: x, weight: 3 } ] }\n",
				 &err);
	assert_null(c);
	/* file:line:col: key: reason */
	assert_string_equal(err.msg, "gw.yaml:4:52: models[0].targets[0].weight: unknown key");
}

static void test_url_parse(void **state)
{
	(void)state;
	struct url u;
	struct err err;
	assert_int_equal(gw_url_parse("http://[::1]:9000/v1", &u, &err), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9000);
	assert_string_equal(u.authority, "[::1]:9000");
	url_fini(&u);
	assert_int_equal(gw_url_parse("https://example.com", &u, &err), 0);
	assert_string_equal(u.path, "");
	assert_string_equal(u.authority, "example.com");
	url_fini(&u);
	assert_int_equal(gw_url_parse("https://example.com:8443/openai/v1//", &u, &err), 0);
	assert_string_equal(u.path, "/openai/v1");
	assert_string_equal(u.authority, "example.com:8443");
	url_fini(&u);
	assert_int_equal(gw_url_parse("http://", &u, &err), -1);
	assert_int_equal(gw_url_parse("http://x/a?b=c", &u, &err), -1);
	assert_non_null(strstr(err.msg, "query is not allowed"));
	assert_int_equal(gw_url_parse("http://u:pw@x/", &u, &err), -1);
	assert_non_null(strstr(err.msg, "use api_key_env"));
	assert_int_equal(gw_url_parse("http://x/v1#f", &u, &err), -1);
	assert_int_equal(gw_url_parse("http://x:/", &u, &err), -1);
	assert_int_equal(gw_url_parse("http://[::1/", &u, &err), -1);
	assert_int_equal(gw_url_parse("http://x y/", &u, &err), -1);
	url_fini(&u); /* harmless after a failure */
}

static void test_env_expansion(void **state)
{
	(void)state;
	struct err err;
	setenv("LLMGW_TEST_URL", "http://10.0.0.1:8000/v1", 1);
	struct gw_conf *c =
	    load("providers:\n  - { name: p, type: openai, base_url: \"${LLMGW_TEST_URL}\" }\n" MODEL, &err);
	assert_non_null(c);
	assert_string_equal(c->providers[0].url.host, "10.0.0.1");
	gw_conf_free(c);
	unsetenv("LLMGW_TEST_URL");
	c = load("providers:\n  - { name: p, type: openai, base_url: \"${LLMGW_TEST_URL}\" }\n" MODEL, &err);
	assert_null(c);
	assert_non_null(strstr(err.msg, "gw.yaml:2:"));
}

/* server: the HTTP server's limits, timeouts and workers; defaults and bad values. */
static void test_server_section(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load(PROV MODEL, &err);
	assert_non_null(c);
	assert_true(c->workers >= 1 && c->workers <= GW_WORKERS_MAX); /* auto: online CPUs */
	assert_int_equal(c->max_connections, 10000);
	assert_int_equal(c->max_header_bytes, 32 * 1024);
	assert_int_equal(c->max_headers, 100);
	assert_int_equal(c->request_timeout_ms, 30000);
	assert_int_equal(c->idle_timeout_ms, 75000);
	assert_int_equal(c->write_timeout_ms, 30000);
	assert_int_equal(c->max_pending_write, 1 << 20);
	gw_conf_free(c);
	c = load(
	    "server: { listen: 127.0.0.1:1, workers: 3, max_connections: 7, max_header_bytes: 8KiB, max_headers: 20,"
	    " request_timeout: 2s, idle_timeout: 500ms, write_timeout: 1m, max_pending_write: 64KiB }\n" PROV MODEL,
	    &err);
	assert_non_null(c);
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->max_connections, 7);
	assert_int_equal(c->max_header_bytes, 8192);
	assert_int_equal(c->max_headers, 20);
	assert_int_equal(c->request_timeout_ms, 2000);
	assert_int_equal(c->idle_timeout_ms, 500);
	assert_int_equal(c->write_timeout_ms, 60000);
	assert_int_equal(c->max_pending_write, 65536);
	gw_conf_free(c);
	c = load("server: { workers: auto }\n" PROV MODEL, &err);
	assert_non_null(c);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {"server: { workers: 0 }\n" PROV MODEL, "gw.yaml:1:20: workers: \"0\" is out of range"},
	    {"server: { workers: 65 }\n" PROV MODEL, "out of range [1, 64]"},
	    {"server: { workers: many }\n" PROV MODEL, "server.workers: must be auto or a number 1-64"},
	    {"server: { max_connections: 0 }\n" PROV MODEL, "max_connections"},
	    {"server: { max_header_bytes: 10 }\n" PROV MODEL, "max_header_bytes"},
	    {"server: { max_headers: 2 }\n" PROV MODEL, "max_headers"},
	    {"server: { request_timeout: 0 }\n" PROV MODEL, "request_timeout"},
	    {"server: { idle_timeout: soon }\n" PROV MODEL, "idle_timeout"},
	    {"server: { max_pending_write: 1 }\n" PROV MODEL, "max_pending_write"},
	    {"server: { backlog: 5 }\n" PROV MODEL, "server.backlog: unknown key"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = load(bad[i].text, &err);
		if (c != NULL || strstr(err.msg, bad[i].want) == NULL)
			fail_msg("server case %zu: want '%s', got '%s'", i, bad[i].want, err.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_section),
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_errors_start_with_file_line),
	    cmocka_unit_test(test_url_parse),
	    cmocka_unit_test(test_env_expansion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
