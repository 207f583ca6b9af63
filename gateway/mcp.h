/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MCP gateway: /mcp/{server} proxies the Model Context Protocol's
 * streamable HTTP transport to the MCP server of that name in
 * mcp_servers, behind the same virtual keys as the LLM endpoints
 * (docs/mcp.md).
 *
 *   POST    one JSON-RPC message; the answer relayed as JSON or as an SSE
 *           stream (event by event as the server sends them), 202 for
 *           notifications and responses
 *   GET     the server-to-client SSE stream, relayed byte for byte for as
 *           long as it lasts (bounded by stream_timeout)
 *   DELETE  ends the session at the server
 *
 * Mcp-Session-Id, MCP-Protocol-Version and Last-Event-ID pass both ways
 * untouched: sessions live at the server, so any gateway replica serves
 * any request. The client's Authorization (its virtual key) never goes
 * upstream; the server gets the credential from auth_header_env.
 *
 * Access: a key uses the servers and tools its `mcp` block names (none
 * without one). A tools/call the key may not make gets a JSON-RPC error
 * (HTTP 200, code -32003) and never reaches the server; a tools/list
 * answer is cut down to the tools the key may call; a server the key may
 * not use is refused with 403. JSON-RPC batches are refused (400, -32600).
 *
 * Every request is one SERVER span (mcp_span.h), child of the caller's
 * traceparent, whose id goes upstream in traceparent, and one count in
 * llmgw_mcp_requests_total (mcp_metrics.h).
 */
#ifndef LLMGW_GATEWAY_MCP_H
#define LLMGW_GATEWAY_MCP_H

struct gw_req;
struct gw_worker;

/* POST, GET and DELETE on /mcp/{server} (http_srv's route table); finishes r, now or later. */
void mcp_handle(struct gw_req *r);

/*
 * r is finishing with status (http_srv, once per request): emits the MCP
 * span, counts the request, gives the upstream pool back and frees r->mcp.
 * A no-op for requests that are not MCP requests.
 */
void mcp_req_end(struct gw_req *r, int status);

/*
 * The worker drains (SIGTERM): GET streams end now, cleanly, so their
 * clients reconnect elsewhere instead of holding the drain until its
 * deadline. Requests in flight finish as usual.
 */
void mcp_worker_drain(struct gw_worker *w);

#endif
