/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the MCP rows of the record -> OTLP mapping
 * (exporter/spanview.c, docs/span-schema.md "MCP spans"): a record built
 * by the gateway's MCP span builder comes out with the OpenTelemetry MCP
 * attributes, gen_ai.operation.name only on tool calls, the JSON-RPC
 * error code as rpc.response.status_code, and none of the LLM span's
 * attributes that share its fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/spanrec.h"
#include "exporter/spanview.h"
#include "gateway/mcp_span.h"

static struct spanview v;
static struct spanrec rec; /* the view points into it */

static const char *str(const char *key)
{
	const struct spanview_attr *a = spanview_attr(&v, key);
	if (a == NULL)
		return NULL;
	assert_int_equal(a->type, SPANVIEW_STR);
	assert_int_equal(a->slen, strlen(a->u.s));
	return a->u.s;
}

static void build(const struct mcp_span_facts *f, uint16_t status, const char *error_type)
{
	struct span_req q;
	memset(&q, 0, sizeof(q));
	memset(q.trace.trace_id, 0xab, sizeof(q.trace.trace_id));
	memset(q.trace.span_id, 0xcd, sizeof(q.trace.span_id));
	q.start_ns = 1;
	q.end_ns = 2;
	q.http_status = status;
	snprintf(q.error_type, sizeof(q.error_type), "%s", error_type);
	snprintf(q.request_id, sizeof(q.request_id), "rid-9");
	mcp_span_build(&rec, &q, f);
	spanview_build(&v, &rec);
}

static void test_tool_call(void **state)
{
	(void)state;
	const struct mcp_span_facts f = {.http_method = "POST",
					 .server = "github",
					 .method = "tools/call",
					 .name = "get_issue",
					 .tool_call = true,
					 .session = "sess-1",
					 .rpc_id = "4",
					 .protocol = "2025-06-18"};
	build(&f, 200, "");
	assert_string_equal(v.name, "tools/call get_issue");
	assert_int_equal(v.kind, 2);
	assert_string_equal(str("gen_ai.operation.name"), "execute_tool");
	assert_string_equal(str("mcp.method.name"), "tools/call");
	assert_string_equal(str("gen_ai.tool.name"), "get_issue");
	assert_string_equal(str("mcp.session.id"), "sess-1");
	assert_string_equal(str("jsonrpc.request.id"), "4");
	assert_string_equal(str("mcp.protocol.version"), "2025-06-18");
	assert_string_equal(str("llmgw.mcp.server"), "github");
	assert_string_equal(str("http.request.method"), "POST");
	assert_string_equal(str("http.route"), "/mcp/{server}");
	assert_string_equal(str("llmgw.request.id"), "rid-9");
	assert_int_equal(spanview_attr(&v, "http.response.status_code")->u.i, 200);
	/* the fields it reuses are not also read as an LLM span's */
	assert_null(spanview_attr(&v, "gen_ai.provider.name"));
	assert_null(spanview_attr(&v, "llmgw.route.target"));
	assert_null(spanview_attr(&v, "llmgw.route.fallback_reason"));
	assert_null(spanview_attr(&v, "gen_ai.request.model"));
	assert_null(spanview_attr(&v, "gen_ai.prompt.name"));
	assert_null(spanview_attr(&v, "rpc.response.status_code"));
	assert_null(spanview_attr(&v, "error.type"));
	assert_int_equal(v.status_code, 0);
}

static void test_other_methods(void **state)
{
	(void)state;
	struct mcp_span_facts f = {.http_method = "POST", .server = "docs", .method = "prompts/get", .name = "review"};
	build(&f, 200, "");
	assert_null(spanview_attr(&v, "gen_ai.operation.name")); /* tool calls only */
	assert_string_equal(str("gen_ai.prompt.name"), "review");
	assert_null(spanview_attr(&v, "gen_ai.tool.name"));

	f = (struct mcp_span_facts){.http_method = "GET", .server = "docs", .session = "s"};
	build(&f, 200, "");
	assert_string_equal(v.name, "GET /mcp/{server}");
	assert_null(spanview_attr(&v, "mcp.method.name"));
	assert_string_equal(str("http.request.method"), "GET");
}

static void test_errors(void **state)
{
	(void)state;
	struct mcp_span_facts f = {.http_method = "POST",
				   .server = "docs",
				   .method = "tools/call",
				   .name = "admin",
				   .tool_call = true,
				   .has_rpc_code = true,
				   .rpc_code = -32003};
	build(&f, 200, "mcp_tool_not_allowed");
	assert_int_equal(v.status_code, 2);
	assert_string_equal(v.status_message, "mcp_tool_not_allowed");
	assert_string_equal(str("error.type"), "mcp_tool_not_allowed");
	assert_string_equal(str("rpc.response.status_code"), "-32003");
	assert_int_equal(spanview_attr(&v, "rpc.jsonrpc.error_code")->u.i, -32003);

	f.rpc_code = 7; /* servers may use their own (positive) codes */
	build(&f, 200, "7");
	assert_string_equal(str("rpc.response.status_code"), "7");
	assert_string_equal(str("error.type"), "7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tool_call),
	    cmocka_unit_test(test_other_methods),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
