/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/mcp_rpc.c: reading one client JSON-RPC message
 * (kinds, ids, the tool name the access decision rests on, the refusals
 * with their JSON-RPC codes), reading a server message for the request it
 * answers, and the bytes the gateway writes itself (error bodies, SSE
 * events, an event with its data replaced).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/mcp_rpc.h"

static int parse(const char *s, struct mcp_msg *m, struct mcp_rpc_err *e)
{
	return mcp_rpc_parse(s, strlen(s), m, e);
}

static void test_kinds(void **state)
{
	(void)state;
	struct mcp_msg m;
	struct mcp_rpc_err e;
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}", &m, &e), 0);
	assert_int_equal(m.kind, MCP_MSG_REQUEST);
	assert_string_equal(m.method, "tools/list");
	assert_int_equal(m.id.type, MCP_ID_NUMBER);
	assert_string_equal(m.id.json, "7");
	assert_string_equal(m.id.text, "7");
	assert_true(mcp_msg_is(&m, "tools/list"));
	assert_false(mcp_msg_is(&m, "tools/call"));

	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m, &e), 0);
	assert_int_equal(m.kind, MCP_MSG_NOTIFICATION);
	assert_int_equal(m.id.type, MCP_ID_NONE);

	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{}}", &m, &e), 0);
	assert_int_equal(m.kind, MCP_MSG_RESPONSE);
	assert_int_equal(m.id.type, MCP_ID_STRING);
	assert_string_equal(m.id.json, "\"s-1\"");
	assert_string_equal(m.id.text, "s-1");
	assert_false(mcp_msg_is(&m, ""));

	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"x\"}}", &m, &e), 0);
	assert_int_equal(m.kind, MCP_MSG_RESPONSE);

	/* a null id is allowed (discouraged): a request with it, echoed as null */
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", &m, &e), 0);
	assert_int_equal(m.kind, MCP_MSG_REQUEST);
	assert_int_equal(m.id.type, MCP_ID_NULL);
	assert_string_equal(m.id.json, "null");
}

static void test_params(void **state)
{
	(void)state;
	struct mcp_msg m;
	struct mcp_rpc_err e;
	/* the tool name unescaped, as the server will read it */
	assert_int_equal(
	    parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"adm\\u0069n\","
		  "\"arguments\":{\"name\":\"not this\"},\"_meta\":{\"progressToken\":1,\"traceparent\":"
		  "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}}}",
		  &m, &e),
	    0);
	assert_true(m.has_name);
	assert_false(m.name_cut);
	assert_string_equal(m.name, "admin");
	assert_string_equal(m.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

	assert_int_equal(
	    parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{\"name\":\"review\"}}", &m, &e),
	    0);
	assert_string_equal(m.name, "review");

	/* tools/list has no name to keep; a name that is not a string is "no name" */
	assert_int_equal(
	    parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"name\":\"x\"}}", &m, &e), 0);
	assert_false(m.has_name);
	assert_int_equal(
	    parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}", &m, &e), 0);
	assert_false(m.has_name);
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", &m, &e), 0);
	assert_false(m.has_name);

	assert_int_equal(
	    parse("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
		  "\"2025-06-18\",\"capabilities\":{}}}",
		  &m, &e),
	    0);
	assert_string_equal(m.protocol, "2025-06-18");

	/* a name too long to keep is flagged, never silently judged by its prefix */
	char big[600];
	int n = snprintf(big, sizeof(big),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"");
	memset(big + n, 'a', 300);
	snprintf(big + n + 300, sizeof(big) - (size_t)n - 300, "\"}}");
	assert_int_equal(parse(big, &m, &e), 0);
	assert_true(m.has_name);
	assert_true(m.name_cut);
	assert_int_equal(strlen(m.name), MCP_NAME_MAX - 1);
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		int code;
		const char *want;
	} cases[] = {
	    {"", MCP_RPC_PARSE_ERROR, "empty body"},
	    {"{\"jsonrpc\":", MCP_RPC_PARSE_ERROR, "not valid JSON"},
	    {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MCP_RPC_INVALID_REQUEST,
	     "batches are not supported"},
	    {"\"ping\"", MCP_RPC_PARSE_ERROR, "not valid JSON"}, /* like jansson: an object or an array at the top */
	    {"{\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""},
	    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "must be \"2.0\""},
	    {"{\"jsonrpc\":2,\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "must be \"2.0\""},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_RPC_INVALID_REQUEST, "\"method\" must be a string"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", MCP_RPC_INVALID_REQUEST, "must not be empty"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "\"id\" must be"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "\"id\" must be"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_RPC_INVALID_REQUEST, "not a JSON-RPC request"},
	    {"{\"jsonrpc\":\"2.0\",\"result\":{}}", MCP_RPC_INVALID_REQUEST, "not a JSON-RPC request"},
	    /* duplicates the access decision depends on: parsers disagree on which one wins */
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"method\":\"tools/call\"}",
	     MCP_RPC_INVALID_REQUEST, "given twice"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/"
	     "call\",\"params\":{\"name\":\"echo\",\"name\":\"admin\"}}",
	     MCP_RPC_INVALID_REQUEST, "params.name is given twice"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, "given twice"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{},\"params\":{\"name\":\"a\"}}",
	     MCP_RPC_INVALID_REQUEST, "given twice"},
	};
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mcp_msg m;
		struct mcp_rpc_err e;
		int rc = parse(cases[i].body, &m, &e);
		if (rc != -1 || e.code != cases[i].code || strstr(e.msg, cases[i].want) == NULL) {
			print_error("case %zu: rc %d code %d msg \"%s\", want \"%s\"\n", i, rc, e.code, e.msg,
				    cases[i].want);
			failures++;
		}
		if (i == 2 && !e.batch)
			failures++;
	}
	assert_int_equal(failures, 0);

	/* an id too long to keep */
	char big[400];
	int n = snprintf(big, sizeof(big), "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"");
	memset(big + n, 'x', 200);
	snprintf(big + n + 200, sizeof(big) - (size_t)n - 200, "\"}");
	struct mcp_msg m;
	struct mcp_rpc_err e;
	assert_int_equal(parse(big, &m, &e), -1);
	assert_non_null(strstr(e.msg, "\"id\" must be"));
	/* not NUL-terminated input with garbage past len is never read */
	const char raw[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}GARBAGE";
	assert_int_equal(mcp_rpc_parse(raw, sizeof(raw) - 1 - 7, &m, &e), 0);
}

static void test_facts(void **state)
{
	(void)state;
	struct mcp_msg m;
	struct mcp_rpc_err e;
	struct mcp_resp_facts f;
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\"}", &m, &e), 0);
#define FACTS(s) mcp_rpc_facts((s), strlen(s), &m.id, &f)
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"content\":[]}}");
	assert_true(f.answer);
	assert_false(f.has_error);
	assert_false(f.tool_error);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"\\u0061\",\"result\":{\"isError\":true}}"); /* the same id, escaped */
	assert_true(f.answer);
	assert_true(f.tool_error);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32602,\"message\":\"bad\"}}");
	assert_true(f.answer);
	assert_true(f.has_error);
	assert_int_equal(f.error_code, -32602);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"result\":{}}"); /* another request's answer */
	assert_false(f.answer);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"sampling/createMessage\"}"); /* a server request */
	assert_false(f.answer);
	FACTS("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}");
	assert_false(f.answer);
	FACTS("not json");
	assert_false(f.answer);
	FACTS("[]");
	assert_false(f.answer);

	/* numbers compare as written; a string "1" is not the number 1 */
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}", &m, &e), 0);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{}}");
	assert_false(f.answer);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\"}}");
	assert_true(f.answer);
	assert_string_equal(f.protocol, "2025-06-18");
	/* a notification has no answer */
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m, &e), 0);
	FACTS("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}");
	assert_false(f.answer);
#undef FACTS
}

static void test_writers(void **state)
{
	(void)state;
	struct buf b;
	struct mcp_msg m;
	struct mcp_rpc_err e;
	buf_init(&b, 4096);
	assert_int_equal(mcp_rpc_error_body(&b, NULL, -32600, "bad \"x\"\n\\"), 0);
	assert_string_equal(
	    b.data,
	    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"bad \\\"x\\\"\\u000a\\\\\"}}");
	buf_reset(&b);
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"r-\\u00e9\",\"method\":\"ping\"}", &m, &e), 0);
	assert_int_equal(mcp_rpc_error_body(&b, &m.id, -32003, "caf\xc3\xa9 \xff!"), 0);
	/* the id as the client wrote it; invalid UTF-8 replaced, valid kept */
	assert_string_equal(
	    b.data, "{\"jsonrpc\":\"2.0\",\"id\":\"r-\\u00e9\",\"error\":{\"code\":-32003,\"message\":\"caf\xc3\xa9 "
		    "?!\"}}");
	buf_reset(&b);
	assert_int_equal(mcp_rpc_sse_event(&b, "{}", 2), 0);
	assert_string_equal(b.data, "event: message\ndata: {}\n\n");
	buf_reset(&b);
	/* CRLF, a comment, id, multi-line data: the data lines replaced, the rest kept in order */
	const char ev[] = "event: message\r\nid: 42\r\n: note\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n";
	assert_int_equal(mcp_rpc_sse_replace_data(&b, ev, sizeof(ev) - 1, "{\"a\":2}", 7), 0);
	assert_string_equal(b.data, "event: message\nid: 42\n: note\ndata: {\"a\":2}\n\n");
	buf_reset(&b);
	const char ev2[] = "data\rdata:x\rretry: 5\r\r";
	assert_int_equal(mcp_rpc_sse_replace_data(&b, ev2, sizeof(ev2) - 1, "1", 1), 0);
	assert_string_equal(b.data, "retry: 5\ndata: 1\n\n");
	/* bounded: a full buffer is an error, not growth */
	struct buf tiny;
	buf_init(&tiny, 8);
	assert_int_equal(mcp_rpc_error_body(&tiny, NULL, 1, "x"), -1);
	buf_fini(&tiny);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds), cmocka_unit_test(test_params),  cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_facts), cmocka_unit_test(test_writers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
