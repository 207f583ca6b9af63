/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The span record of one MCP request (a SERVER span, child of the
 * caller's traceparent), in the fixed record every span uses. The MCP
 * facts have fields of their own (record version 2), and three fields of
 * the LLM spans carry what is left, as docs/span-schema.md ("MCP spans")
 * lists and exporter/spanview.c maps back to the OpenTelemetry MCP
 * conventions:
 *
 *   op                  execute_tool (tools/call) or mcp (everything else)
 *   mcp_method          mcp.method.name
 *   tool_name           gen_ai.tool.name (tools/call), gen_ai.prompt.name (prompts/get)
 *   mcp_session_id      mcp.session.id
 *   jsonrpc_id          jsonrpc.request.id
 *   jsonrpc_error_code  rpc.response.status_code (flag SPANREC_F_JSONRPC_ERROR)
 *   target              llmgw.mcp.server
 *   fallback_reason     mcp.protocol.version
 *   provider            http.request.method
 *
 * Pure (no clock, no I/O) so unit tests check every field.
 */
#ifndef LLMGW_GATEWAY_MCP_SPAN_H
#define LLMGW_GATEWAY_MCP_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/spanrec-t.h"
#include "gateway/span_emit.h"

/* What one MCP request adds to the request's span facts; strings may be NULL or "". */
struct mcp_span_facts {
	const char *http_method; /* "POST", "GET", "DELETE" */
	const char *server;	 /* the server's configured name; NULL when the path named none */
	const char *method;	 /* mcp.method.name; "" for GET, DELETE and posted responses */
	const char *name;	 /* tools/call: the tool; prompts/get: the prompt */
	bool tool_call;		 /* a tools/call request: execute_tool */
	const char *session;	 /* Mcp-Session-Id */
	const char *rpc_id;	 /* the JSON-RPC id as text */
	const char *protocol;	 /* MCP protocol version */
	bool has_rpc_code;	 /* an error answer carried a JSON-RPC code */
	int64_t rpc_code;
};

/*
 * Fills r with the SERVER span of request q (trace, times, key, status,
 * error type, caller metadata) and f. Its name is "{method} {tool or
 * prompt}", the method alone, or "{HTTP method} /mcp/{server}" for what is
 * not a JSON-RPC request (the GET stream, DELETE, posted responses).
 */
void mcp_span_build(struct spanrec *r, const struct span_req *q, const struct mcp_span_facts *f);

#endif
