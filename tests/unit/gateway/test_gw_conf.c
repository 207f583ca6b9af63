/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/gw_conf: a full valid config loads into the
 * expected struct, defaults apply, and every class of mistake is rejected
 * with "name:line:col: key: reason" pointing at the right place. Configs
 * need keys or auth off: those here end with OPEN (last, so expected error
 * lines stay put). Governance sections: test_gw_conf_gov.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "gateway/gw_conf.h"
#include "tests/unit/gateway/conf_fixtures.h"

#define OPEN "auth: { enabled: false }\n" /* serve everyone: configs not about auth */

static const char valid[] = "server:\n"
			    "  listen: 127.0.0.1:8080\n"
			    "  max_body: 4MiB\n"
			    "telemetry:\n"
			    "  spans_url: ipc:///tmp/llmgw-spans.sock\n"
			    "  sndbuf: 1MiB\n"
			    "log: { level: info }\n"
			    "auth:\n"
			    "  allow_anonymous: true\n"
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
	assert_true(c->auth_enabled);
	assert_true(c->allow_anonymous);

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
				 "  - { name: m, targets: [ { provider: o, model: m } ] }\n" OPEN,
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

#define PROV "providers:\n  - { name: p, type: mock }\n"
#define MODEL "models:\n  - { name: m, targets: [ { provider: p, model: x } ] }\n"
#define MODEL_ON(prov) "models:\n  - { name: m, targets: [ { provider: " prov ", model: x } ] }\n"

static const struct bad_case bad_cases[] = {
    {"servr:\n  listen: 1.2.3.4:1\n" PROV MODEL, "gw.yaml:1:1: servr: unknown key"},
    {"server:\n  listen: 127.0.0.1:8080\n  max_bdy: 1\n" PROV MODEL, "gw.yaml:3:3: server.max_bdy: unknown key"},
    {"server: { listen: \"127.0.0.1\" }\n" PROV MODEL, "server.listen: missing :port"},
    {"server: { listen: \"127.0.0.1:0\" }\n" PROV MODEL, "bad port"},
    {"server: { listen: \"::1:80\" }\n" PROV MODEL, "brackets"},
    {PROV "models:\n  - { name: m }\n", "gw.yaml:4:5: models[0].targets: model 'm' needs 1 to 64 targets"},
    {PROV "models:\n  - { name: m, targets: [] }\n", "models[0].targets"},
    {PROV "models:\n  - { name: m, targets: [ { provider: nope, model: x } ] }\n",
     "gw.yaml:4:39: models[0].targets[0].provider: unknown provider 'nope'"},
    {PROV "models:\n  - { name: m, targets: [ { provider: p } ] }\n", "models[0].targets[0].model: missing"},
    {"providers:\n  - { name: p, type: cohere }\n" MODEL,
     "gw.yaml:2:22: providers[0].type: unknown provider type 'cohere'"},
    {"providers:\n  - { name: p, type: azure-openai, api_version: v1 }\n" MODEL,
     "providers[0].base_url: missing or empty"},
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
    {"auth: { required: false }\n" PROV MODEL, "gw.yaml:1:9: auth.required: unknown key"},
    {PROV MODEL, "keys: no virtual keys are configured and auth is on"},
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
    /* security keys: insecure_skip_verify only where it means something, admin.listen its own port */
    {"providers:\n  - { name: p, type: openai, base_url: \"http://x\", insecure_skip_verify: true }\n" MODEL,
     "providers[0].insecure_skip_verify: only for https:// base URLs"},
    {"providers:\n  - { name: p, type: mock, insecure_skip_verify: false }\n" MODEL,
     "providers[0].insecure_skip_verify: only for https:// base URLs (a mock provider"},
    {"providers:\n  - { name: p, type: openai, base_url: \"https://x\", insecure_skip_verify: maybe }\n" MODEL,
     "insecure_skip_verify: expected true or false"},
    {"providers:\n  - { name: p, type: openai, base_url: \"https://x\", ca_file: /dev/null, insecure_skip_verify: "
     "true }\n" MODEL,
     "providers[0].insecure_skip_verify: contradicts ca_file"},
    {"server: { listen: \"127.0.0.1:8080\" }\nadmin: { listen: \"0.0.0.0:8080\" }\n" PROV MODEL,
     "gw.yaml:2:18: admin.listen: same port as server.listen"},
    {"admin: { listen: \"127.0.0.1\" }\n" PROV MODEL, "admin.listen: missing :port"},
    {"admin: { listen: \"127.0.0.1:0\" }\n" PROV MODEL, "admin.listen"},
    {"admin: { listen: \"127.0.0.1:9091\", ready: x }\n" PROV MODEL, "admin.ready: unknown key"},
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
				 "provider: p, model: x, wieght: 3 } ] }\n",
				 &err);
	assert_null(c);
	/* file:line:col: key: reason */
	assert_string_equal(err.msg, "gw.yaml:4:52: models[0].targets[0].wieght: unknown key");
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
	    load("providers:\n  - { name: p, type: openai, base_url: \"${LLMGW_TEST_URL}\" }\n" MODEL OPEN, &err);
	assert_non_null(c);
	assert_string_equal(c->providers[0].url.host, "10.0.0.1");
	gw_conf_free(c);
	unsetenv("LLMGW_TEST_URL");
	c = load("providers:\n  - { name: p, type: openai, base_url: \"${LLMGW_TEST_URL}\" }\n" MODEL OPEN, &err);
	assert_null(c);
	assert_non_null(strstr(err.msg, "gw.yaml:2:"));
}

/* server: the HTTP server's limits, timeouts and workers; defaults and bad values. */
static void test_server_section(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load(PROV MODEL OPEN, &err);
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
	    " request_timeout: 2s, idle_timeout: 500ms, write_timeout: 1m, max_pending_write: 64KiB }\n" PROV MODEL
		OPEN,
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
	c = load("server: { workers: auto }\n" PROV MODEL OPEN, &err);
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

/* ---- providers of the other wire formats ---------------------------------------------------- */

static void test_provider_types(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load("providers:\n"
				 "  - { name: an, type: anthropic }\n"
				 "  - { name: ge, type: gemini }\n"
				 "  - { name: oa, type: openai }\n"
				 "  - name: az\n"
				 "    type: azure-openai\n"
				 "    base_url: https://acme.openai.azure.com/openai\n"
				 "    api_version: 2024-10-21\n"
				 "  - { name: an2, type: anthropic, base_url: \"http://127.0.0.1:1/v1\", api_version: "
				 "2023-01-01, max_tokens: 1024 }\n" MODEL_ON("an") OPEN,
				 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	const struct gw_provider *p = &c->providers[0];
	assert_int_equal(p->type, GW_PROVIDER_ANTHROPIC);
	assert_string_equal(p->base_url, "https://api.anthropic.com/v1");
	assert_true(p->url.tls);
	assert_string_equal(p->url.host, "api.anthropic.com");
	assert_string_equal(p->url.path, "/v1");
	assert_string_equal(p->api_version, "2023-06-01");
	assert_int_equal(p->max_tokens, 4096);
	assert_string_equal(p->genai_name, "anthropic");
	p = &c->providers[1];
	assert_int_equal(p->type, GW_PROVIDER_GEMINI);
	assert_string_equal(p->base_url, "https://generativelanguage.googleapis.com/v1beta");
	assert_string_equal(p->url.path, "/v1beta");
	assert_null(p->api_version);
	assert_int_equal(p->max_tokens, 0);
	assert_string_equal(p->genai_name, "gcp.gemini");
	p = &c->providers[2];
	assert_int_equal(p->type, GW_PROVIDER_OPENAI);
	assert_string_equal(p->base_url, "https://api.openai.com/v1");
	assert_string_equal(p->url.authority, "api.openai.com");
	assert_null(p->api_version);
	p = &c->providers[3];
	assert_int_equal(p->type, GW_PROVIDER_AZURE);
	assert_string_equal(p->url.host, "acme.openai.azure.com");
	assert_string_equal(p->url.path, "/openai");
	assert_string_equal(p->api_version, "2024-10-21");
	assert_int_equal(p->max_tokens, 0);
	assert_string_equal(p->genai_name, "azure.ai.openai");
	p = &c->providers[4];
	assert_false(p->url.tls);
	assert_int_equal(p->url.port, 1);
	assert_string_equal(p->api_version, "2023-01-01");
	assert_int_equal(p->max_tokens, 1024);
	assert_string_equal(gw_provider_type_name(GW_PROVIDER_AZURE), "azure-openai");
	assert_string_equal(gw_provider_type_name(GW_PROVIDER_GEMINI), "gemini");
	assert_string_equal(gw_provider_type_name(GW_PROVIDER_ANTHROPIC), "anthropic");
	assert_null(gw_provider_type_name(GW_PROVIDER__COUNT));
	gw_conf_free(c);
	/* a Gemini model name goes into the URL path: the usual names load */
	c = load("providers:\n  - { name: ge, type: gemini }\n" MODEL_ON(
		     "ge") "  - { name: m2, targets: [ { "
			   "provider: ge, model: gemini-1.5-pro_002 } ] }\n" OPEN,
		 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(c->models[1].targets[0].label, "ge/gemini-1.5-pro_002");
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {"providers:\n  - { name: p, type: azure-openai, base_url: \"https://x/openai\" }\n" MODEL,
	     "gw.yaml:2:5: providers[0].api_version: missing or empty"},
	    {"providers:\n  - { name: p, type: azure-openai, api_version: 2024-10-21 }\n" MODEL,
	     "gw.yaml:2:5: providers[0].base_url: missing or empty"},
	    {"providers:\n  - { name: p, type: azure-openai, base_url: \"https://x\", api_version: \"2024 10\" "
	     "}\n" MODEL,
	     "gw.yaml:2:72: providers[0].api_version: use [A-Za-z0-9._-]"},
	    {"providers:\n  - { name: p, type: anthropic, api_version: \"a/b\" }\n" MODEL,
	     "providers[0].api_version: use [A-Za-z0-9._-]"},
	    {"providers:\n  - { name: p, type: anthropic, api_version: \"a&b=c\" }\n" MODEL,
	     "providers[0].api_version: use [A-Za-z0-9._-]"},
	    {"providers:\n  - { name: p, type: azure-openai, base_url: \"https://x\", api_version: v, max_tokens: 9 "
	     "}\n" MODEL,
	     "providers[0].max_tokens: only for anthropic providers"},
	    {"providers:\n  - { name: p, type: openai, max_tokens: 9 }\n" MODEL,
	     "gw.yaml:2:42: providers[0].max_tokens: only for anthropic providers"},
	    {"providers:\n  - { name: p, type: gemini, max_tokens: 9 }\n" MODEL,
	     "providers[0].max_tokens: only for anthropic providers"},
	    {"providers:\n  - { name: p, type: openai, api_version: v1 }\n" MODEL,
	     "gw.yaml:2:43: providers[0].api_version: only for azure-openai and anthropic providers"},
	    {"providers:\n  - { name: p, type: gemini, api_version: v1 }\n" MODEL,
	     "providers[0].api_version: only for azure-openai and anthropic providers"},
	    {"providers:\n  - { name: p, type: mock, api_version: v1 }\n" MODEL,
	     "providers[0].api_version: only for azure-openai and anthropic providers"},
	    {"providers:\n  - { name: p, type: anthropic, max_tokens: 0 }\n" MODEL,
	     "max_tokens: \"0\" is out of range"},
	    {"providers:\n  - { name: p, type: anthropic, max_tokens: lots }\n" MODEL,
	     "max_tokens: expected an integer"},
	    {"providers:\n  - { name: p, type: gemini }\n"
	     "models:\n  - { name: m, targets: [ { provider: p, model: \"gemini:pro?x\" } ] }\n",
	     "gw.yaml:4:49: models[0].targets[0].model: a gemini model goes into the URL path"},
	    {"providers:\n  - { name: p, type: azure-openai, base_url: \"https://x\", api_version: v }\n"
	     "models:\n  - { name: m, targets: [ { provider: p, model: \"dep#1\" } ] }\n",
	     "models[0].targets[0].model: a azure-openai model goes into the URL path"},
	    {"providers:\n  - { name: p, type: gemini, base_url: \"https://x/v1beta?key=k\" }\n" MODEL,
	     "providers[0].base_url: a query is not allowed"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "provider");
}

/* ---- models: strategy, weights, fallbacks --------------------------------------------------- */

#define PROV3 "providers:\n  - { name: p, type: mock }\n  - { name: q, type: mock }\n  - { name: r, type: mock }\n"

static void test_models_strategy_weights(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c =
	    load(PROV3 "models:\n"
		       "  - name: d\n"
		       "    targets: [ { provider: p, model: x }, { provider: q, model: y, weight: 0 } ]\n"
		       "  - name: ll\n"
		       "    strategy: least-latency\n"
		       "    targets: [ { provider: p, model: x, weight: 1000000 } ]\n"
		       "  - name: pr\n"
		       "    strategy: priority\n"
		       "    targets: [ { provider: p, model: x, weight: 0 }, { provider: q, model: y, weight: 0 } ]\n"
		       "  - name: w\n"
		       "    strategy: weighted\n"
		       "    targets: [ { provider: r, model: z, weight: 7 } ]\n" OPEN,
		 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	const struct gw_model *m = gw_conf_find_model(c, "d");
	assert_int_equal(m->strategy, GW_STRATEGY_WEIGHTED);
	assert_int_equal(m->targets[0].weight, 1); /* default */
	assert_int_equal(m->targets[1].weight, 0);
	assert_int_equal(gw_conf_find_model(c, "ll")->strategy, GW_STRATEGY_LEAST_LATENCY);
	assert_int_equal(gw_conf_find_model(c, "ll")->targets[0].weight, 1000000);
	/* all-zero weights are fine where weights do not matter */
	assert_int_equal(gw_conf_find_model(c, "pr")->strategy, GW_STRATEGY_PRIORITY);
	assert_int_equal(gw_conf_find_model(c, "w")->targets[0].weight, 7);
	assert_int_equal(m->nfallbacks, 0);
	assert_null(m->fallbacks);
	gw_conf_free(c);

	/* routing.strategy is the default for every model */
	c = load(PROV3 "routing: { strategy: priority }\n"
		       "models:\n"
		       "  - { name: a, targets: [ { provider: p, model: x } ] }\n"
		       "  - { name: b, strategy: least-latency, targets: [ { provider: p, model: x } ] }\n" OPEN,
		 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->models[0].strategy, GW_STRATEGY_PRIORITY);
	assert_int_equal(c->models[1].strategy, GW_STRATEGY_LEAST_LATENCY);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {PROV3 "models:\n  - { name: m, strategy: fastest, targets: [ { provider: p, model: x } ] }\n",
	     "gw.yaml:6:26: models[0].strategy: must be weighted, least-latency or priority"},
	    {PROV3 "models:\n  - { name: m, strategy: round-robin, targets: [ { provider: p, model: x } ] }\n",
	     "models[0].strategy: must be weighted, least-latency or priority"},
	    {PROV3 "routing: { strategy: random }\n" MODEL, "gw.yaml:5:22: routing.strategy: must be weighted"},
	    {PROV3 "models:\n  - { name: m, targets: [ { provider: p, model: x, weight: 1000001 } ] }\n",
	     "gw.yaml:6:60: weight: \"1000001\" is out of range [0, 1000000]"},
	    {PROV3 "models:\n  - { name: m, targets: [ { provider: p, model: x, weight: -1 } ] }\n",
	     "weight: \"-1\" is out of range"},
	    {PROV3 "models:\n  - { name: m, targets: [ { provider: p, model: x, weight: heavy } ] }\n",
	     "weight: expected an integer"},
	    {PROV3 "models:\n  - { name: m, targets: [ { provider: p, model: x, weight: 0 }, "
		   "{ provider: q, model: y, weight: 0 } ] }\n",
	     "gw.yaml:6:25: models[0].targets: every weight is 0: nothing would be routed"},
	    {PROV3 "routing: { strategy: priority }\nmodels:\n  - { name: m, strategy: weighted, targets: [ { "
		   "provider: p, model: x, weight: 0 } ] }\n",
	     "models[0].targets: every weight is 0"},
	    {PROV3 "models:\n  - { name: m, targets: { provider: p, model: x } }\n", "targets: must be a list"},
	    {PROV3 "models:\n  - { name: m, targets: [ { provider: p, model: \"a b\" } ] }\n",
	     "models[0].targets[0].model: 1-128 printable characters"},
	    {PROV3 "models:\n  - { name: m, targets: [ x ] }\n", "models[0].targets[0]: expected a mapping"},
	    {PROV3 "models:\n  - { name: m, colour: red, targets: [ { provider: p, model: x } ] }\n",
	     "models[0].colour: unknown key"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "strategy/weight");
}

static void test_models_fallbacks(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load(PROV3 "models:\n"
				       "  - { name: a, fallbacks: [ c, b ], targets: [ { provider: p, model: x } ] }\n"
				       "  - { name: b, fallbacks: [ a ], targets: [ { provider: q, model: y } ] }\n"
				       "  - { name: c, fallbacks: [], targets: [ { provider: r, model: z } ] }\n" OPEN,
				 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->models[0].nfallbacks, 2);
	assert_int_equal(c->models[0].fallbacks[0], 2); /* resolved to indexes into models, in order */
	assert_int_equal(c->models[0].fallbacks[1], 1);
	assert_int_equal(c->models[1].nfallbacks, 1);
	assert_int_equal(c->models[1].fallbacks[0], 0); /* a cycle is fine: the router follows one level */
	assert_int_equal(c->models[2].nfallbacks, 0);
	gw_conf_free(c);

	static const struct bad_case bad[] = {
	    {PROV3 "models:\n  - { name: a, fallbacks: [ nope ], targets: [ { provider: p, model: x } ] }\n",
	     "gw.yaml:6:29: models[0].fallbacks: unknown model 'nope' (not in models)"},
	    {PROV3 "models:\n  - { name: a, fallbacks: [ a ], targets: [ { provider: p, model: x } ] }\n",
	     "models[0].fallbacks: 'a' is the model itself"},
	    {PROV3 "models:\n  - { name: a, fallbacks: [ b, b ], targets: [ { provider: p, model: x } ] }\n"
		   "  - { name: b, targets: [ { provider: q, model: y } ] }\n",
	     "gw.yaml:6:32: models[0].fallbacks: 'b' is listed twice"},
	    {PROV3 "models:\n  - { name: a, targets: [ { provider: p, model: x } ] }\n"
		   "  - { name: b, fallbacks: [ a, c ], targets: [ { provider: q, model: y } ] }\n",
	     "models[1].fallbacks: unknown model 'c'"},
	    {PROV3 "models:\n  - { name: a, fallbacks: b, targets: [ { provider: p, model: x } ] }\n",
	     "fallbacks: must be a list"},
	    {PROV3 "models:\n  - { name: a, fallbacks: [ { name: b } ], targets: [ { provider: p, model: x } ] }\n",
	     "models[0].fallbacks: unknown model ''"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "fallbacks");
}

/* ---- routing: retry, cooldown, least-latency, defaults -------------------------------------- */

static void test_routing_defaults(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = load(PROV MODEL OPEN, &err);
	assert_non_null(c);
	const struct gw_model *m = &c->models[0];
	assert_int_equal(m->strategy, GW_STRATEGY_WEIGHTED);
	assert_int_equal(m->retry.on, GW_RETRY_ON_ALL);
	assert_int_equal(m->retry.per_target, 1);
	assert_int_equal(m->retry.max_attempts, 3);
	assert_int_equal(m->retry.backoff_ms, 100);
	assert_int_equal(m->retry.max_backoff_ms, 2000);
	assert_int_equal(m->cooldown.failures, 5);
	assert_int_equal(m->cooldown.window_ms, 30000);
	assert_int_equal(m->cooldown.duration_ms, 30000);
	assert_true(c->ewma_alpha > 0.2999 && c->ewma_alpha < 0.3001);
	assert_true(c->explore > 0.0499 && c->explore < 0.0501);
	gw_conf_free(c);

	/* routing sets the defaults; a model overrides key by key */
	c = load(PROV3 "routing:\n"
		       "  retry: { on: [429, 5xx], per_target: 2, max_attempts: 4, backoff: 50ms, max_backoff: 1s }\n"
		       "  cooldown: { failures: 3, window: 10s, duration: 1m }\n"
		       "  least_latency: { ewma_alpha: 0.5, explore: \"30%\" }\n"
		       "models:\n"
		       "  - { name: inherit, targets: [ { provider: p, model: x } ] }\n"
		       "  - name: own\n"
		       "    retry: { on: [timeout, connect_error], max_attempts: 6 }\n"
		       "    cooldown: { duration: 5s }\n"
		       "    targets: [ { provider: p, model: x } ]\n"
		       "  - name: off\n"
		       "    retry: { on: [] }\n"
		       "    cooldown: { failures: 0 }\n"
		       "    targets: [ { provider: q, model: y } ]\n" OPEN,
		 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	m = gw_conf_find_model(c, "inherit");
	assert_int_equal(m->retry.on, GW_RETRY_ON_429 | GW_RETRY_ON_5XX);
	assert_int_equal(m->retry.per_target, 2);
	assert_int_equal(m->retry.max_attempts, 4);
	assert_int_equal(m->retry.backoff_ms, 50);
	assert_int_equal(m->retry.max_backoff_ms, 1000);
	assert_int_equal(m->cooldown.failures, 3);
	assert_int_equal(m->cooldown.window_ms, 10000);
	assert_int_equal(m->cooldown.duration_ms, 60000);
	m = gw_conf_find_model(c, "own");
	assert_int_equal(m->retry.on, GW_RETRY_ON_TIMEOUT | GW_RETRY_ON_CONNECT);
	assert_int_equal(m->retry.per_target, 2); /* inherited */
	assert_int_equal(m->retry.max_attempts, 6);
	assert_int_equal(m->retry.backoff_ms, 50);
	assert_int_equal(m->cooldown.failures, 3);
	assert_int_equal(m->cooldown.window_ms, 10000);
	assert_int_equal(m->cooldown.duration_ms, 5000);
	m = gw_conf_find_model(c, "off");
	assert_int_equal(m->retry.on, 0);
	assert_int_equal(m->cooldown.failures, 0);
	assert_true(c->ewma_alpha > 0.4999 && c->ewma_alpha < 0.5001);
	assert_true(c->explore > 0.2999 && c->explore < 0.3001);
	gw_conf_free(c);

	/* ratios: plain, percent, exponent, bounds inclusive */
	static const struct {
		const char *yaml;
		double alpha, explore;
	} ratios[] = {
	    {"{ ewma_alpha: 0.3, explore: 0.3 }", 0.3, 0.3},
	    {"{ ewma_alpha: \"100%\", explore: \"0%\" }", 1.0, 0.0},
	    {"{ ewma_alpha: 1e-2, explore: 0.5 }", 0.01, 0.5},
	    {"{ explore: \"12.5%\" }", 0.3, 0.125},
	};
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), PROV "routing: { least_latency: %s }\n" MODEL OPEN, ratios[i].yaml);
		c = load(text, &err);
		if (c == NULL)
			fail_msg("ratio %zu: %s", i, err.msg);
		assert_true(c->ewma_alpha > ratios[i].alpha - 1e-9 && c->ewma_alpha < ratios[i].alpha + 1e-9);
		assert_true(c->explore > ratios[i].explore - 1e-9 && c->explore < ratios[i].explore + 1e-9);
		gw_conf_free(c);
	}
}

static void test_routing_errors(void **state)
{
	(void)state;
	static const struct bad_case bad[] = {
	    {PROV "routing: { retry: { on: [429, 503] } }\n" MODEL,
	     "gw.yaml:3:31: routing.retry.on: '503' is not one of 429, 5xx, timeout, connect_error"},
	    {PROV "models:\n  - { name: m, retry: { on: [4xx] }, targets: [ { provider: p, model: x } ] }\n",
	     "models[0].retry.on: '4xx' is not one of 429, 5xx, timeout, connect_error"},
	    {PROV "routing: { retry: { on: 5xx } }\n" MODEL, "routing.retry.on: must be a list of 429, 5xx"},
	    {PROV "routing: { retry: { per_target: 0 } }\n" MODEL, "per_target: \"0\" is out of range [1, 10]"},
	    {PROV "routing: { retry: { per_target: 11 } }\n" MODEL, "per_target: \"11\" is out of range [1, 10]"},
	    {PROV "routing: { retry: { max_attempts: 0 } }\n" MODEL, "max_attempts: \"0\" is out of range [1, 20]"},
	    {PROV "models:\n  - { name: m, retry: { max_attempts: 21 }, targets: [ { provider: p, model: x } ] }\n",
	     "gw.yaml:4:39: max_attempts: \"21\" is out of range [1, 20]"},
	    {PROV "routing: { retry: { backoff: 2s, max_backoff: 1s } }\n" MODEL,
	     "gw.yaml:3:47: routing.retry.max_backoff: is shorter than backoff"},
	    /* the inherited max_backoff (2s default) is shorter than the model's own backoff */
	    {PROV "models:\n  - { name: m, retry: { backoff: 5s }, targets: [ { provider: p, model: x } ] }\n",
	     "gw.yaml:4:34: models[0].retry.max_backoff: is shorter than backoff"},
	    {PROV "routing: { retry: { backoff: 2m } }\n" MODEL, "backoff: duration"},
	    {PROV "routing: { retry: { jitter: 1 } }\n" MODEL, "gw.yaml:3:21: routing.retry.jitter: unknown key"},
	    {PROV "routing: { retry: 3 }\n" MODEL, "routing.retry: must be a mapping"},
	    {PROV "routing: { cooldown: { failures: -1 } }\n" MODEL, "failures: \"-1\" is out of range"},
	    {PROV "routing: { cooldown: { window: 0 } }\n" MODEL, "window: duration"},
	    {PROV "routing: { cooldown: { duration: 2h } }\n" MODEL, "duration: duration"},
	    {PROV "models:\n  - { name: m, cooldown: { after: 3 }, targets: [ { provider: p, model: x } ] }\n",
	     "models[0].cooldown.after: unknown key"},
	    {PROV "routing: { least_latency: { explore: 0.6 } }\n" MODEL,
	     "gw.yaml:3:38: routing.least_latency.explore: must be a number from 0 to 0.5 (or a percentage)"},
	    {PROV "routing: { least_latency: { explore: \"60%\" } }\n" MODEL, "routing.least_latency.explore: must be"},
	    {PROV "routing: { least_latency: { explore: -0.1 } }\n" MODEL, "routing.least_latency.explore: must be"},
	    {PROV "routing: { least_latency: { ewma_alpha: 0 } }\n" MODEL,
	     "routing.least_latency.ewma_alpha: must be a number from 0.01 to 1"},
	    {PROV "routing: { least_latency: { ewma_alpha: 1.5 } }\n" MODEL, "routing.least_latency.ewma_alpha"},
	    {PROV "routing: { least_latency: { ewma_alpha: fast } }\n" MODEL, "routing.least_latency.ewma_alpha"},
	    {PROV "routing: { least_latency: { ewma_alpha: \"30 %\" } }\n" MODEL, "routing.least_latency.ewma_alpha"},
	    {PROV "routing: { least_latency: { ewma_alpha: \"30%%\" } }\n" MODEL, "routing.least_latency.ewma_alpha"},
	    {PROV "routing: { least_latency: { ewma_alpha: nan } }\n" MODEL, "routing.least_latency.ewma_alpha"},
	    {PROV "routing: { least_latency: { beta: 1 } }\n" MODEL, "routing.least_latency.beta: unknown key"},
	    {PROV "routing: { least_latency: 0.3 }\n" MODEL, "routing.least_latency: must be a mapping"},
	    {PROV "models:\n  - { name: m, least_latency: { explore: 0 }, targets: [ { provider: p, model: x } ] }\n",
	     "models[0].least_latency: unknown key"},
	    {PROV "routing: { sticky: true }\n" MODEL, "gw.yaml:3:12: routing.sticky: unknown key"},
	    {PROV "routing: [ 1 ]\n" MODEL, "routing: must be a mapping"},
	};
	expect_bad_cases(bad, sizeof(bad) / sizeof(bad[0]), "routing");
}

/* ---- target identity and limits ------------------------------------------------------------- */

static void test_target_indexes(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c =
	    load(PROV3 "models:\n"
		       "  - { name: m1, targets: [ { provider: p, model: a }, { provider: q, model: b } ] }\n"
		       "  - name: m2\n"
		       "    targets:\n"
		       "      - { provider: q, model: b }\n"
		       "      - { provider: p, model: c }\n"
		       "      - { provider: p, model: a, weight: 4 }\n"
		       "      - { provider: r, model: a }\n" OPEN,
		 &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	const struct gw_model *m1 = &c->models[0], *m2 = &c->models[1];
	/* health is per distinct provider/model: p/a, q/b, p/c, r/a */
	assert_int_equal(c->ntargets, 4);
	assert_int_equal(m1->targets[0].index, 0);
	assert_int_equal(m1->targets[1].index, 1);
	assert_int_equal(m2->targets[0].index, m1->targets[1].index); /* q/b shared */
	assert_int_equal(m2->targets[1].index, 2);
	assert_int_equal(m2->targets[2].index, m1->targets[0].index); /* p/a shared */
	assert_int_equal(m2->targets[3].index, 3);		      /* r/a: same model name, other provider */
	/* round-robin slots are per target of every model: all distinct */
	assert_int_equal(c->nslots, 6);
	size_t seen = 0;
	for (size_t i = 0; i < m1->ntargets; i++)
		seen |= (size_t)1 << m1->targets[i].slot;
	for (size_t i = 0; i < m2->ntargets; i++)
		seen |= (size_t)1 << m2->targets[i].slot;
	assert_int_equal(seen, 0x3f);
	assert_string_equal(m2->targets[3].label, "r/a");
	gw_conf_free(c);
}

/* "models:\n  - name: m\n    targets:\n" and n targets on distinct models of provider p. */
static char *many_targets(size_t n)
{
	struct buf b;
	buf_init(&b, 0);
	if (buf_puts(&b, PROV "models:\n  - name: m\n    targets:\n") < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (buf_printf(&b, "      - { provider: p, model: t%zu }\n", i) < 0)
			return NULL;
	if (buf_puts(&b, OPEN) < 0)
		return NULL;
	size_t len;
	return buf_take(&b, &len);
}

static void test_targets_limit(void **state)
{
	(void)state;
	struct err err;
	char *text = many_targets(GW_MODEL_TARGETS_MAX);
	assert_non_null(text);
	struct gw_conf *c = load(text, &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->models[0].ntargets, GW_MODEL_TARGETS_MAX);
	assert_int_equal(c->ntargets, GW_MODEL_TARGETS_MAX);
	gw_conf_free(c);
	free(text);
	text = many_targets(GW_MODEL_TARGETS_MAX + 1);
	assert_non_null(text);
	c = load(text, &err);
	assert_null(c);
	assert_non_null(strstr(err.msg, "gw.yaml:6:7: models[0].targets: model 'm' needs 1 to 64 targets"));
	free(text);
}

/* admin.listen and insecure_skip_verify load, default off, and a reload cannot change them. */
static void test_security_keys(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *a = load(PROV MODEL OPEN, &err), *b;
	assert_non_null(a);
	assert_null(a->admin_host); /* default: the admin paths stay on server.listen */
	assert_false(a->providers[0].insecure_skip_verify);
	b = load("admin: { listen: \"[::1]:9091\" }\n" PROV MODEL OPEN, &err);
	assert_non_null(b);
	assert_string_equal(b->admin_host, "::1");
	assert_int_equal(b->admin_port, 9091);
	assert_int_equal(gw_conf_reloadable(a, b, &err), -1);
	assert_non_null(strstr(err.msg, "admin: changed"));
	gw_conf_free(a);
	gw_conf_free(b);

#define HTTPS_P(extra) "providers:\n  - { name: p, type: openai, base_url: \"https://api.example\"" extra " }\n"
	a = load(HTTPS_P("") MODEL OPEN, &err);
	b = load(HTTPS_P(", insecure_skip_verify: true") MODEL OPEN, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(a->providers[0].insecure_skip_verify);
	assert_true(b->providers[0].insecure_skip_verify);
	assert_int_equal(gw_conf_reloadable(a, b, &err), -1); /* turning it on or off needs a restart */
	assert_non_null(strstr(err.msg, "providers[0] ('p'): changed"));
	gw_conf_free(a);
	gw_conf_free(b);
#undef HTTPS_P
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
	    cmocka_unit_test(test_provider_types),
	    cmocka_unit_test(test_models_strategy_weights),
	    cmocka_unit_test(test_models_fallbacks),
	    cmocka_unit_test(test_routing_defaults),
	    cmocka_unit_test(test_routing_errors),
	    cmocka_unit_test(test_target_indexes),
	    cmocka_unit_test(test_targets_limit),
	    cmocka_unit_test(test_security_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
