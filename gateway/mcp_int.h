/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the MCP gateway shared by its files, by role:
 *   mcp.c        the /mcp/{server} handler: access, the upstream request,
 *                the gateway's own answers, span and metrics at the end
 *   mcp_relay.c  the upstream answer to the client: whole (JSON) or as a
 *                stream (SSE), tools/list filtering, the facts for the span
 *   mcp_pool.c   per-worker upstream pools and per-generation TLS
 * Not a public interface (the unit tests include it).
 */
#ifndef LLMGW_GATEWAY_MCP_INT_H
#define LLMGW_GATEWAY_MCP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/buf.h"
#include "gateway/http_parse.h"
#include "gateway/mcp_metrics.h"
#include "gateway/mcp_pool.h"
#include "gateway/mcp_rpc.h"
#include "gateway/oai_err.h"
#include "gateway/upstream.h"

struct event;
struct gw_req;
struct gw_worker;
struct gw_mcp_server;
struct gw_mcp_access;
struct sse;

#define MCP_SESSION_MAX 128		      /* Mcp-Session-Id bytes kept (visible ASCII) */
#define MCP_SSE_INSPECT_MAX ((size_t)1 << 20) /* an event larger than this is relayed unread */
#define MCP_SSE_FILTER_MAX ((size_t)16 << 20) /* the tools/list answer held to be filtered */
#define MCP_OUT_MAX ((size_t)64 << 20)	      /* one client write of a filtered stream piece */

/* One request on /mcp/{server}; r->mcp, freed by mcp_req_end. */
struct mcp_req {
	struct gw_req *r;
	const struct gw_mcp_server *srv; /* NULL: the path names no configured server */
	size_t srv_index;
	const struct gw_mcp_access *access; /* NULL: open (auth off) */
	struct mcp_upstream *up;	    /* pool in use, given back at the end */
	enum http_method hm;
	struct mcp_msg msg; /* POST: the client's message */
	bool has_msg;
	bool tool_allowed;  /* tools/call the key may make: its tool may become a label */
	bool header_parent; /* the HTTP request's traceparent is the span's parent (its tracestate goes on) */
	enum mcp_outcome outcome;
	bool has_rpc_code;
	int64_t rpc_code;
	char session[MCP_SESSION_MAX];
	char protocol[MCP_PROTO_MAX];

	/* relay (mcp_relay.c) */
	bool filter;	  /* a tools/list answer to cut down to the key's tools */
	bool stream;	  /* the client has a text/event-stream head */
	bool raw;	  /* GET: bytes through unread */
	bool resp_seen;	  /* the answer to msg.id went through */
	bool event_ids;	  /* the server numbers its events: the client can resume, add nothing */
	bool inspect_off; /* an event over MCP_SSE_INSPECT_MAX: the rest goes through unread */
	struct sse *sse;
	struct buf out; /* filter mode: what one upstream piece turned into */

	bool listed; /* on the worker's GET stream list (drain) */
	TAILQ_ENTRY(mcp_req) link;
};

TAILQ_HEAD(mcp_req_list, mcp_req);

/* Per worker: MCP pools (mcp_pool.c) and the open GET streams (drained first). */
struct mcp_worker {
	struct gw_worker *w;
	struct mcp_upstream *ups; /* singly linked */
	struct event *sweep;	  /* frees pools no generation describes and no request uses */
	unsigned swept_gen;	  /* generation id of the last sweep */
	struct mcp_req_list streams;
};

/* ---- mcp.c ------------------------------------------------------------------------------- */

/*
 * Finishes r with an error the gateway produces itself: HTTP status, a
 * JSON-RPC error body (id from the client's message when known), span
 * error type (span_type, or e's), outcome, and llmgw_request_errors_total
 * for gw_error e.
 */
void mcp_reply_error(struct gw_req *r, int status, enum gw_error e, const char *span_type, enum mcp_outcome o,
		     int rpc_code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---- mcp_relay.c ------------------------------------------------------------------------- */

/* The upstream callbacks of every MCP call (arg: the struct gw_req). */
extern const struct upstream_handlers mcp_relay_handlers;

/* Frees what the relay kept in m. */
void mcp_relay_fini(struct mcp_req *m);

/* The client went away (or the worker stops): cancel the upstream call, finish r (499/503). */
void mcp_relay_client_gone(struct gw_req *r);

#endif
