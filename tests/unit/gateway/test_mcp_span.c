/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the MCP span record (gateway/mcp_span.c) and the MCP
 * metric labels (gateway/mcp_metrics.c): every field of a tools/call
 * span, the names of the other kinds of request, the error status, and
 * the bounded labels in /metrics (method list, tools only below the cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "common/spanrec.h"
#include "gateway/auth.h"
#include "gateway/mcp_metrics.h"
#include "gateway/mcp_span.h"

static void request(struct span_req *q)
{
	memset(q, 0, sizeof(*q));
	memset(q->trace.trace_id, 0x11, sizeof(q->trace.trace_id));
	memset(q->trace.span_id, 0x22, sizeof(q->trace.span_id));
	memset(q->trace.parent_id, 0x33, sizeof(q->trace.parent_id));
	q->trace.flags = 1;
	q->trace.parent_remote = true;
	q->start_ns = 1000;
	q->end_ns = 3000;
	q->http_status = 200;
	snprintf(q->request_id, sizeof(q->request_id), "req-1");
}

static void test_tool_call(void **state)
{
	(void)state;
	static const struct auth_identity id = {"agent-key", "acme", "search", "alice", NULL, 0};
	struct span_req q;
	struct spanrec r, out;
	struct err err;
	request(&q);
	q.ident = &id;
	span_req_add_meta(&q, "feature", "triage");
	const struct mcp_span_facts f = {
	    .http_method = "POST",
	    .server = "github",
	    .method = "tools/call",
	    .name = "get_issue",
	    .tool_call = true,
	    .session = "0f1e2d",
	    .rpc_id = "17",
	    .protocol = "2025-06-18",
	};
	mcp_span_build(&r, &q, &f);
	assert_int_equal(spanrec_validate(&r, sizeof(r), &out, &err), SPANREC_OK);
	assert_int_equal(r.kind, SPANREC_KIND_SERVER);
	assert_int_equal(r.op, SPANREC_OP_EXECUTE_TOOL);
	assert_string_equal(r.name, "tools/call get_issue");
	assert_string_equal(r.mcp_method, "tools/call");
	assert_string_equal(r.tool_name, "get_issue");
	assert_string_equal(r.mcp_session_id, "0f1e2d");
	assert_string_equal(r.jsonrpc_id, "17");
	assert_string_equal(r.fallback_reason, "2025-06-18");
	assert_string_equal(r.target, "github");
	assert_string_equal(r.provider, "POST");
	assert_string_equal(r.request_id, "req-1");
	assert_string_equal(r.key_name, "agent-key");
	assert_string_equal(r.tenant_id, "acme");
	assert_string_equal(r.team, "search");
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.meta[0].key, "feature");
	assert_int_equal(r.status, SPANREC_STATUS_UNSET);
	assert_int_equal(r.http_status, 200);
	assert_true(r.flags & SPANREC_F_PARENT_REMOTE);
	assert_false(r.flags & SPANREC_F_JSONRPC_ERROR);
	assert_int_equal(r.parent_span_id[0], 0x33);
	assert_int_equal(r.span_id[0], 0x22);
	assert_int_equal(r.start_ns, 1000);
	assert_int_equal(r.end_ns, 3000);
	/* nothing of an LLM span */
	assert_string_equal(r.request_model, "");
	assert_string_equal(r.response_model, "");
}

static void test_names_and_errors(void **state)
{
	(void)state;
	struct span_req q;
	struct spanrec r;
	request(&q);
	struct mcp_span_facts f = {.http_method = "POST", .server = "docs", .method = "tools/list"};
	mcp_span_build(&r, &q, &f);
	assert_int_equal(r.op, SPANREC_OP_MCP);
	assert_string_equal(r.name, "tools/list");

	f = (struct mcp_span_facts){.http_method = "POST", .method = "prompts/get", .name = "review"};
	mcp_span_build(&r, &q, &f);
	assert_string_equal(r.name, "prompts/get review");
	assert_string_equal(r.tool_name, "review");

	f = (struct mcp_span_facts){.http_method = "GET", .server = "docs"};
	mcp_span_build(&r, &q, &f);
	assert_string_equal(r.name, "GET /mcp/{server}");
	assert_string_equal(r.mcp_method, "");

	/* a JSON-RPC error in a 200 answer: ERROR with the code */
	snprintf(q.error_type, sizeof(q.error_type), "-32602");
	f = (struct mcp_span_facts){.http_method = "POST",
				    .method = "tools/call",
				    .tool_call = true,
				    .name = "x",
				    .has_rpc_code = true,
				    .rpc_code = -32602};
	mcp_span_build(&r, &q, &f);
	assert_int_equal(r.status, SPANREC_STATUS_ERROR);
	assert_string_equal(r.error_type, "-32602");
	assert_true(r.flags & SPANREC_F_JSONRPC_ERROR);
	assert_int_equal(r.jsonrpc_error_code, -32602);
	f.rpc_code = INT64_MIN; /* clamped, never wrapped */
	mcp_span_build(&r, &q, &f);
	assert_int_equal(r.jsonrpc_error_code, INT32_MIN);

	/* an HTTP error without a type: the status is the type; no traceparent: a root span */
	request(&q);
	q.trace.parent_remote = false;
	q.http_status = 502;
	f = (struct mcp_span_facts){.http_method = "DELETE"};
	mcp_span_build(&r, &q, &f);
	assert_int_equal(r.status, SPANREC_STATUS_ERROR);
	assert_string_equal(r.error_type, "502");
	assert_int_equal(r.parent_span_id[0], 0);
	assert_string_equal(r.name, "DELETE /mcp/{server}");

	/* a long client-sent tool name is cut and flagged, never overflowing */
	char big[300];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	request(&q);
	f = (struct mcp_span_facts){.http_method = "POST", .method = "tools/call", .tool_call = true, .name = big};
	mcp_span_build(&r, &q, &f);
	assert_true(r.flags & SPANREC_F_TRUNCATED);
	assert_int_equal(strlen(r.tool_name), sizeof(r.tool_name) - 1);
}

static void test_metric_labels(void **state)
{
	(void)state;
	struct err err;
	struct metrics *reg = metrics_new();
	struct mcp_metrics *m = mcp_metrics_new(reg, &err);
	struct buf out;
	assert_non_null(m);
	assert_string_equal(mcp_metrics_method_label("tools/call"), "tools/call");
	assert_string_equal(mcp_metrics_method_label("notifications/roots/list_changed"),
			    "notifications/roots/list_changed");
	assert_string_equal(mcp_metrics_method_label("x\"}evil"), "_other");
	assert_string_equal(mcp_metrics_method_label(NULL), "_other");
	assert_string_equal(mcp_outcome_name(MCP_OUT_DENIED), "denied");
	assert_string_equal(mcp_outcome_name(MCP_OUT__COUNT), "unknown");
	/* two tool pairs allowed: the third and an unsafe name count as _other */
	mcp_metrics_count(m, 2, "docs", "tools/call", "a", MCP_OUT_OK, 0.01);
	mcp_metrics_count(m, 2, "docs", "tools/call", "b", MCP_OUT_OK, 0.01);
	mcp_metrics_count(m, 2, "docs", "tools/call", "a", MCP_OUT_ERROR, 0.01);
	mcp_metrics_count(m, 2, "docs", "tools/call", "c", MCP_OUT_OK, 0.01);
	mcp_metrics_count(m, 2, "docs", "tools/call", "bad\"name", MCP_OUT_OK, 0.01);
	mcp_metrics_count(m, 2, NULL, "tools/list", NULL, MCP_OUT_INVALID, 0.01);
	buf_init(&out, 1 << 20);
	assert_int_equal(metrics_render(reg, &out), 0);
	assert_non_null(strstr(out.data, "llmgw_mcp_requests_total{server=\"docs\",method=\"tools/call\",tool=\"a\","
					 "outcome=\"ok\"} 1"));
	assert_non_null(strstr(out.data, "tool=\"a\",outcome=\"error\"} 1"));
	assert_non_null(strstr(out.data, "tool=\"b\",outcome=\"ok\"} 1"));
	assert_null(strstr(out.data, "tool=\"c\""));
	assert_null(strstr(out.data, "bad"));
	assert_non_null(strstr(out.data, "tool=\"_other\",outcome=\"ok\"} 2"));
	assert_non_null(strstr(out.data, "llmgw_mcp_series_overflow_total 2"));
	assert_non_null(strstr(out.data, "server=\"_unknown\",method=\"tools/list\",outcome=\"invalid\"} 1"));
	assert_non_null(
	    strstr(out.data, "llmgw_mcp_request_duration_seconds_count{server=\"docs\",method=\"tools/call\"} 5"));
	/* many pairs: the table grows, the cap holds */
	for (int i = 0; i < 300; i++) {
		char t[16];
		snprintf(t, sizeof(t), "t%d", i);
		mcp_metrics_count(m, 200, "many", "tools/call", t, MCP_OUT_OK, 0.001);
		mcp_metrics_count(m, 200, "many", "tools/call", t, MCP_OUT_OK, 0.001);
	}
	buf_reset(&out);
	assert_int_equal(metrics_render(reg, &out), 0);
	assert_non_null(strstr(out.data, "server=\"many\",method=\"tools/call\",tool=\"t197\",outcome=\"ok\"} 2"));
	assert_null(strstr(out.data, "tool=\"t198\""));
	buf_fini(&out);
	mcp_metrics_free(m);
	mcp_metrics_free(NULL);
	metrics_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tool_call),
	    cmocka_unit_test(test_names_and_errors),
	    cmocka_unit_test(test_metric_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
