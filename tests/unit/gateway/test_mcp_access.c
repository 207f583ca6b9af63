/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/mcp_access.c: deny by default, server and tool
 * globs (a '/' in a tool glob names the server too), names too long to
 * judge, the open policy of a gateway without auth, and the tools/list
 * filter (kept entries untouched, dropped ones counted, nothing to filter,
 * and answers it cannot read refused rather than relayed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gw_conf.h"
#include "gateway/mcp_access.h"

static char *servers[] = {"docs", "gh-*"};
static char *tools[] = {"search_*", "gh-main/get_issue", "*/ping"};

static struct gw_mcp_access agent(void)
{
	return (struct gw_mcp_access){true, servers, 2, tools, 3, false};
}

static void test_servers(void **state)
{
	(void)state;
	struct gw_mcp_access a = agent(), none = {0};
	assert_true(mcp_access_server(&a, "docs"));
	assert_true(mcp_access_server(&a, "gh-main"));
	assert_false(mcp_access_server(&a, "docsx"));
	assert_false(mcp_access_server(&a, "other"));
	assert_false(mcp_access_server(&none, "docs"));	  /* no mcp block: nothing */
	assert_true(mcp_access_server(NULL, "anything")); /* auth off: open */
	assert_true(mcp_access_all_tools(NULL, "anything"));
	assert_false(mcp_access_all_tools(&a, "docs"));
	a.all_tools = true;
	assert_true(mcp_access_all_tools(&a, "docs"));
	assert_false(mcp_access_all_tools(&a, "other"));
}

static void test_tools(void **state)
{
	(void)state;
	struct gw_mcp_access a = agent();
	assert_true(mcp_access_tool(&a, "docs", "search_code", false));
	assert_false(mcp_access_tool(&a, "docs", "admin_reset", false));
	assert_false(mcp_access_tool(&a, "docs", "get_issue", false)); /* only on gh-main */
	assert_true(mcp_access_tool(&a, "gh-main", "get_issue", false));
	assert_false(mcp_access_tool(&a, "gh-other", "get_issue", false));
	assert_true(mcp_access_tool(&a, "gh-other", "ping", false));
	assert_false(mcp_access_tool(&a, "other", "search_code", false)); /* the server is not allowed */
	assert_false(mcp_access_tool(&a, "docs", "", false));
	assert_false(mcp_access_tool(&a, "docs", NULL, false));
	assert_false(mcp_access_tool(&a, "docs", "search_x", true)); /* a cut name is never judged by a glob */
	a.all_tools = true;
	assert_true(mcp_access_tool(&a, "docs", "search_x", true)); /* ... unless every tool is allowed */
	assert_true(mcp_access_tool(&a, "docs", NULL, false));
	struct gw_mcp_access none_tools = {true, servers, 2, NULL, 0, false};
	assert_false(mcp_access_tool(&none_tools, "docs", "search_code", false));
	assert_true(mcp_access_tool(NULL, "x", "y", false));
}

static int filter(const char *json, const struct gw_mcp_access *a, const char *server, struct buf *out, size_t *removed)
{
	buf_reset(out);
	return mcp_access_filter_tools(json, strlen(json), a, server, out, removed);
}

static void test_filter(void **state)
{
	(void)state;
	struct gw_mcp_access a = agent();
	struct buf out;
	size_t removed;
	buf_init(&out, 1 << 20);
	assert_int_equal(
	    filter("{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":["
		   "{\"name\":\"search_code\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":"
		   "\"string\"}}}},"
		   "{\"name\":\"admin_reset\",\"description\":\"x\"},"
		   "{\"name\":\"ping\"},{\"name\":7},{\"title\":\"no name\"},\"junk\"],"
		   "\"nextCursor\":\"c2\"}}",
		   &a, "docs", &out, &removed),
	    1);
	assert_int_equal(removed, 4);
	/* kept entries as they were, the rest of the message kept, one line */
	assert_string_equal(out.data,
			    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"search_code\","
			    "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}},"
			    "{\"name\":\"ping\"}],\"nextCursor\":\"c2\"}}");
	assert_null(strchr(out.data, '\n'));

	/* everything allowed: rewritten all the same, nothing dropped */
	assert_int_equal(filter("{\"result\":{\"tools\":[{\"name\":\"ping\"}]}}", NULL, "x", &out, &removed), 1);
	assert_int_equal(removed, 0);
	/* nothing to filter: relay as is */
	assert_int_equal(filter("{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1}}", &a, "docs", &out, &removed),
			 0);
	assert_int_equal(filter("{\"result\":{\"tools\":{}}}", &a, "docs", &out, &removed), 0);
	assert_int_equal(filter("{\"result\":[]}", &a, "docs", &out, &removed), 0);
	/* cannot be read: never relayed */
	assert_int_equal(filter("{\"result\":{\"tools\":[", &a, "docs", &out, &removed), -1);
	assert_int_equal(filter("{\"result\":{\"tools\":[]},\"result\":{\"tools\":[{\"name\":\"admin_reset\"}]}}", &a,
				"docs", &out, &removed),
			 -1); /* which "result" would the client read? */
	assert_int_equal(filter("{\"result\":{\"tools\":[{\"name\":\"x\",\"n\":123456789012345678901234567890}]}}", &a,
				"docs", &out, &removed),
			 -1);
	/* a name with a NUL in it is no name a glob allowed */
	assert_int_equal(filter("{\"result\":{\"tools\":[{\"name\":\"ping\\u0000x\"}]}}", &a, "docs", &out, &removed),
			 -1);
	/* bounded output */
	struct buf tiny;
	buf_init(&tiny, 16);
	assert_int_equal(
	    mcp_access_filter_tools("{\"result\":{\"tools\":[{\"name\":\"ping\"}]}}", 39, &a, "docs", &tiny, &removed),
	    -1);
	buf_fini(&tiny);
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_servers),
	    cmocka_unit_test(test_tools),
	    cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
