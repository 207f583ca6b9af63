/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the MCP half of gateway.yaml (gateway/gw_conf_mcp.c):
 * mcp_servers (URL and request target, the credential from the
 * environment, static headers, timeouts) and the mcp block of a key
 * (server and tool globs, deny by default). Every refusal is checked for
 * the key path and a reason a person can act on; a reload may change any
 * of it.
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

/* sha256("test"), sha256("foo") */
#define H1 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H2 "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

#define BASE                                                                                                           \
	"providers:\n"                                                                                                 \
	"  - { name: p, type: mock }\n"                                                                                \
	"models:\n"                                                                                                    \
	"  - { name: m, targets: [ { provider: p, model: x } ] }\n"
#define SERVERS                                                                                                        \
	"mcp_servers:\n"                                                                                               \
	"  - { name: docs, url: \"http://127.0.0.1:9/mcp\" }\n"                                                        \
	"  - { name: gh, url: \"https://mcp.example.com/v1/mcp?tenant=a\", auth_header_env: LLMGW_TEST_MCP_AUTH,\n"    \
	"      headers: { X-Toolsets: \"repos,issues\" }, timeout: 30s, stream_timeout: 10m, idle_timeout: 0 }\n"
#define KEY1 "keys:\n  - { name: k1, sha256: " H1 " }\n"

static int setup(void **state)
{
	(void)state;
	setenv("LLMGW_TEST_MCP_AUTH", "Bearer s3cret-token", 1);
	unsetenv("LLMGW_TEST_MCP_UNSET");
	return 0;
}

/* ---- mcp_servers --------------------------------------------------------------------------- */

static void test_servers(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(BASE KEY1 SERVERS);
	assert_int_equal(c->nmcp_servers, 2);
	const struct gw_mcp_server *d = gw_conf_find_mcp_server(c, "docs"), *g = gw_conf_find_mcp_server(c, "gh");
	assert_non_null(d);
	assert_non_null(g);
	assert_null(gw_conf_find_mcp_server(c, "nope"));
	assert_string_equal(d->target, "/mcp");
	assert_false(d->parsed.tls);
	assert_int_equal(d->parsed.port, 9);
	assert_null(d->auth_value);
	assert_string_equal(d->auth_header, "Authorization");
	assert_int_equal(d->connect_timeout_ms, 5000);
	assert_int_equal(d->timeout_ms, 60000);
	assert_int_equal(d->stream_timeout_ms, 3600000);
	assert_int_equal(d->idle_timeout_ms, 300000);
	assert_string_equal(g->target, "/v1/mcp?tenant=a");
	assert_true(g->parsed.tls);
	assert_string_equal(g->auth_header_env, "LLMGW_TEST_MCP_AUTH");
	assert_string_equal(g->auth_value, "Bearer s3cret-token");
	assert_int_equal(g->nheaders, 1);
	assert_string_equal(g->headers[0].name, "X-Toolsets");
	assert_string_equal(g->headers[0].value, "repos,issues");
	assert_int_equal(g->timeout_ms, 30000);
	assert_int_equal(g->stream_timeout_ms, 600000);
	assert_int_equal(g->idle_timeout_ms, 0);
	gw_conf_free(c);

	/* a root URL goes to "/"; another header name for the secret */
	c = load_ok(BASE KEY1 "mcp_servers: [ { name: r, url: \"http://h:1\", auth_header: X-Api-Token, "
			      "auth_header_env: LLMGW_TEST_MCP_AUTH } ]\n");
	assert_string_equal(c->mcp_servers[0].target, "/");
	assert_string_equal(c->mcp_servers[0].auth_header, "X-Api-Token");
	gw_conf_free(c);

	/* none at all is fine: MCP is off */
	c = load_ok(BASE KEY1);
	assert_int_equal(c->nmcp_servers, 0);
	gw_conf_free(c);
}

static void test_servers_bad(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
	    {BASE KEY1 "mcp_servers: { a: 1 }\n", "mcp_servers: must be a list"},
	    {BASE KEY1 "mcp_servers: [ { url: \"http://h/mcp\" } ]\n", "mcp_servers[0].name: missing"},
	    {BASE KEY1 "mcp_servers: [ { name: \"a b\", url: \"http://h/mcp\" } ]\n",
	     "mcp_servers[0].name: use 1-64 of [A-Za-z0-9._-]"},
	    {BASE KEY1 "mcp_servers: [ { name: a } ]\n", "mcp_servers[0].url: missing or empty"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"ftp://h/mcp\" } ]\n", "mcp_servers[0].url:"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"https://u:p@h/mcp\" } ]\n",
	     "put the credential in the variable auth_header_env names"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/mcp\", colour: red } ]\n", "colour"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\" }, { name: a, url: \"http://h/2\" } ]\n",
	     "duplicate MCP server name 'a'"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", auth_header_env: LLMGW_TEST_MCP_UNSET } ]\n",
	     "mcp_servers[0].auth_header_env: $LLMGW_TEST_MCP_UNSET is unset or empty"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", auth_header: X-Key } ]\n",
	     "auth_header: needs auth_header_env"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", auth_header: Host, "
		       "auth_header_env: LLMGW_TEST_MCP_AUTH } ]\n",
	     "auth_header: must be a header name the gateway does not set itself"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", headers: { Authorization: \"Bearer x\" } } ]\n",
	     "'Authorization' carries a credential: use auth_header and auth_header_env"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", headers: { Cookie: c=1 } } ]\n",
	     "'Cookie' carries a credential"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", auth_header: X-Key, auth_header_env: "
		       "LLMGW_TEST_MCP_AUTH, headers: { x-key: v } } ]\n",
	     "'x-key' carries a credential"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", headers: { Mcp-Session-Id: v } } ]\n",
	     "'Mcp-Session-Id' is not a header the config may set"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", headers: [ a ] } ]\n",
	     "mcp_servers[0].headers: must be a mapping"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", headers: { X-A: [ 1 ] } } ]\n",
	     "the value of 'X-A' must be a string"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", timeout: 2h } ]\n", "timeout"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"http://h/1\", ca_file: /etc/hostname } ]\n",
	     "mcp_servers[0].ca_file: only for https:// URLs"},
	    {BASE KEY1 "mcp_servers: [ { name: a, url: \"https://h/1\", ca_file: /nonexistent/ca.pem } ]\n",
	     "mcp_servers[0].ca_file: cannot read /nonexistent/ca.pem"},
	};
	expect_bad_cases(cases, sizeof(cases) / sizeof(cases[0]), "servers");
}

/* ---- keys[].mcp ------------------------------------------------------------------------------ */

static void test_key_access(void **state)
{
	(void)state;
	struct gw_conf *c = load_ok(
	    BASE SERVERS "keys:\n"
			 "  - { name: none, sha256: " H1 " }\n"
			 "  - name: agent\n"
			 "    sha256: " H2 "\n"
			 "    mcp: { servers: [docs, \"g*\"], tools: [search_*, \"gh/get_issue\", \"*/ping\"] }\n");
	const struct gw_mcp_access *none = &c->keys[0].mcp, *a = &c->keys[1].mcp;
	assert_false(none->enabled); /* deny by default */
	assert_int_equal(none->nservers, 0);
	assert_true(a->enabled);
	assert_false(a->all_tools);
	assert_int_equal(a->nservers, 2);
	assert_string_equal(a->servers[1], "g*");
	assert_int_equal(a->ntools, 3);
	assert_string_equal(a->tools[1], "gh/get_issue");
	gw_conf_free(c);

	/* no tools list: every tool; an empty one: none */
	c = load_ok(BASE SERVERS "keys:\n"
				 "  - { name: a, sha256: " H1 ", mcp: { servers: [docs] } }\n"
				 "  - { name: b, sha256: " H2 ", mcp: { servers: [\"*\"], tools: [] } }\n");
	assert_true(c->keys[0].mcp.all_tools);
	assert_false(c->keys[1].mcp.all_tools);
	assert_int_equal(c->keys[1].mcp.ntools, 0);
	gw_conf_free(c);
}

static void test_key_access_bad(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: [docs] } ]\n",
	     "keys[0].mcp: must be a mapping {servers: [...], tools: [...]}"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { tools: [x] } } ]\n",
	     "keys[0].mcp.servers: list the MCP servers the key may use"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [] } } ]\n",
	     "keys[0].mcp.servers: list the MCP servers"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [doc] } } ]\n",
	     "keys[0].mcp.servers: unknown MCP server 'doc' (not in mcp_servers)"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [\"do cs\"] } } ]\n",
	     "keys[0].mcp.servers: server names and globs use"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], tools: [\"a b\"] } } ]\n",
	     "keys[0].mcp.tools: tool names and globs are"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], tools: [\"a/b/c\"] } } ]\n",
	     "keys[0].mcp.tools: use 'tool' or 'server/tool'"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], tools: [\"nope/x\"] } } ]\n",
	     "keys[0].mcp.tools: unknown MCP server 'nope'"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], tools: [\"docs/\"] } } ]\n",
	     "use 'tool' or 'server/tool'"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], prompts: [x] } } ]\n", "prompts"},
	    {BASE SERVERS "keys: [ { name: a, sha256: " H1 ", mcp: { servers: [docs], tools: { a: 1 } } } ]\n",
	     "tools: must be a list"},
	};
	expect_bad_cases(cases, sizeof(cases) / sizeof(cases[0]), "key mcp");
}

/* MCP servers and key access change by reload: nothing here is refused as restart-only. */
static void test_reloadable(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *a = load_ok(BASE KEY1 SERVERS);
	struct gw_conf *b = load_ok(BASE "keys:\n  - { name: k1, sha256: " H1 ", mcp: { servers: [x] } }\n"
					 "mcp_servers: [ { name: x, url: \"http://127.0.0.1:7/other\" } ]\n");
	assert_int_equal(gw_conf_reloadable(a, b, &err), 0);
	gw_conf_free(a);
	gw_conf_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_servers),    cmocka_unit_test(test_servers_bad),
	    cmocka_unit_test(test_key_access), cmocka_unit_test(test_key_access_bad),
	    cmocka_unit_test(test_reloadable),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
