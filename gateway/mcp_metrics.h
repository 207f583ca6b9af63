/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MCP series in /metrics:
 *   llmgw_mcp_requests_total{server,method,outcome}     counter
 *   llmgw_mcp_requests_total{server,method,tool,outcome} (tools/call)
 *   llmgw_mcp_request_duration_seconds{server,method}   histogram
 *   llmgw_mcp_series_overflow_total                     counter
 *
 * Label values never come from a client as they are: server is a
 * configured name (or "_unknown"), method one of the MCP methods the
 * specification names (else "_other"; "GET", "DELETE" and "_response" for
 * what is not a JSON-RPC request), and tool the tool's name only for calls
 * the key was allowed to make, of plain characters, for at most
 * max_series distinct (server, tool) pairs; any other tool counts as
 * "_other" and the overflow counter says so. Series are registered on
 * first use in the process-wide registry (thread-safe) and live as long as
 * the process, as Prometheus counters must.
 */
#ifndef LLMGW_GATEWAY_MCP_METRICS_H
#define LLMGW_GATEWAY_MCP_METRICS_H

#include <stddef.h>

#include "common/err.h"

struct metrics;
struct mcp_metrics;

/* How one MCP request ended (the outcome label). */
enum mcp_outcome {
	MCP_OUT_OK = 0,	       /* "ok": answered (202 included), no JSON-RPC error */
	MCP_OUT_ERROR,	       /* "error": the server answered with a JSON-RPC error */
	MCP_OUT_TOOL_ERROR,    /* "tool_error": a tools/call result with isError true */
	MCP_OUT_DENIED,	       /* "denied": the key may not use the server or the tool */
	MCP_OUT_INVALID,       /* "invalid": the gateway refused the request (not JSON-RPC, batch, unknown server) */
	MCP_OUT_HTTP_ERROR,    /* "http_error": the server answered 4xx/5xx */
	MCP_OUT_TIMEOUT,       /* "timeout" */
	MCP_OUT_UNAVAILABLE,   /* "unavailable": connect, TLS, reset, unusable answer, shutting down */
	MCP_OUT_CLIENT_CLOSED, /* "client_closed" */
	MCP_OUT__COUNT
};

/* "ok", "error", ...; "unknown" out of range. */
const char *mcp_outcome_name(enum mcp_outcome o);

/* The method label of an MCP method name (see above); never NULL. */
const char *mcp_metrics_method_label(const char *method);

/* Registers the fixed series in reg (borrowed: it must outlive the result). NULL with err. */
struct mcp_metrics *mcp_metrics_new(struct metrics *reg, struct err *err);
void mcp_metrics_free(struct mcp_metrics *m);

/*
 * Counts one finished request. server NULL counts as "_unknown"; method is
 * a label from mcp_metrics_method_label; tool non-NULL only for an allowed
 * tools/call. max_series caps the distinct (server, tool) pairs
 * (metrics.max_series). Thread-safe; m NULL is a no-op.
 */
void mcp_metrics_count(struct mcp_metrics *m, unsigned max_series, const char *server, const char *method,
		       const char *tool, enum mcp_outcome o, double seconds);

#endif
