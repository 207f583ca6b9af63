/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may use which MCP server and tool, as pure functions over a key's
 * `mcp` block (struct gw_mcp_access, gw_conf.h), and the tools/list answer
 * cut down to what the key may call.
 *
 * The policy is deny by default: a key without an mcp block uses no MCP
 * server; with one, only the servers its globs name, and on them every
 * tool (no tools list) or only the tools its globs name. A tool glob
 * holding '/' is matched against "server/tool", so one key can be given
 * `search` on one server and not on another. Passing access NULL means
 * "open": the gateway runs with auth.enabled false and has no keys to ask.
 *
 * Enforcement is on tools/call; the filtered list is what a well-behaved
 * agent offers its model, so it never plans with a tool it cannot call.
 */
#ifndef LLMGW_GATEWAY_MCP_ACCESS_H
#define LLMGW_GATEWAY_MCP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct gw_mcp_access;

/* True when access (NULL: open) allows MCP server `server`. */
bool mcp_access_server(const struct gw_mcp_access *a, const char *server);

/*
 * True when access allows calling tool on server (the server itself must be
 * allowed too). A name that was cut (too long to keep whole) is allowed
 * only where every tool of the server is.
 */
bool mcp_access_tool(const struct gw_mcp_access *a, const char *server, const char *tool, bool cut);

/* True when every tool of server is allowed: tools/list answers need no filtering. */
bool mcp_access_all_tools(const struct gw_mcp_access *a, const char *server);

/*
 * A JSON-RPC message (a tools/list answer) with result.tools reduced to the
 * entries whose "name" access allows on server, re-encoded compactly into
 * out. Returns 1 when out holds the new text (*removed entries dropped),
 * 0 when the message has no result.tools array (nothing to filter: relay
 * it as it is), -1 when it is not JSON the filter can read or out is full
 * (the caller must not relay it: it could not be checked).
 */
int mcp_access_filter_tools(const char *json, size_t len, const struct gw_mcp_access *a, const char *server,
			    struct buf *out, size_t *removed);

#endif
