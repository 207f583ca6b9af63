/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-RPC 2.0 as the MCP gateway needs it, as pure functions: what one
 * client message is (request, notification or response; its method, id,
 * tool name, protocol version, trace context), what one server message
 * says about the request it answers (error code, a tool error, the
 * negotiated protocol version), and the gateway's own JSON-RPC error
 * bodies. Messages are read with gateway/jscan (one validating pass, no
 * tree) exactly as jansson would accept them.
 *
 * The fields the access decision depends on (method, params, params.name)
 * must not be ambiguous: a message naming one of them twice is refused,
 * since JSON parsers disagree on which duplicate wins and the gateway must
 * judge the same call the server runs.
 */
#ifndef LLMGW_GATEWAY_MCP_RPC_H
#define LLMGW_GATEWAY_MCP_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define MCP_NAME_MAX 256 /* bytes kept of a method, tool or prompt name (NUL included) */
#define MCP_ID_MAX 128	 /* bytes of a JSON-RPC id's JSON text we accept */
#define MCP_PROTO_MAX 32 /* protocol version ("2025-06-18") */
#define MCP_TP_MAX 64	 /* a traceparent (55 characters) */

/* JSON-RPC error codes the gateway answers with (docs/mcp.md). */
#define MCP_RPC_PARSE_ERROR (-32700)
#define MCP_RPC_INVALID_REQUEST (-32600)
#define MCP_RPC_INTERNAL_ERROR (-32603)
#define MCP_RPC_DENIED (-32003) /* llmgw: the key may not use this server or tool */

enum mcp_msg_kind {
	MCP_MSG_REQUEST = 0,  /* method and id */
	MCP_MSG_NOTIFICATION, /* method, no id */
	MCP_MSG_RESPONSE,     /* result or error, no method (a client answering a server's request) */
};

enum mcp_id_type {
	MCP_ID_NONE = 0, /* absent (a notification) */
	MCP_ID_NULL,
	MCP_ID_STRING,
	MCP_ID_NUMBER,
};

/* A JSON-RPC id, kept to echo it and to recognise the answer. */
struct mcp_id {
	enum mcp_id_type type;
	char json[MCP_ID_MAX]; /* as JSON text ("7", "\"a-1\"", "null"), NUL-terminated */
	char text[MCP_ID_MAX]; /* jsonrpc.request.id: a string unescaped (cut), a number as written */
};

/* One client message. Strings are NUL-terminated; "" when absent. */
struct mcp_msg {
	enum mcp_msg_kind kind;
	struct mcp_id id;
	char method[MCP_NAME_MAX];
	bool method_cut; /* the method was longer than MCP_NAME_MAX - 1 bytes */
	/* params.name of tools/call and prompts/get */
	char name[MCP_NAME_MAX];
	bool has_name;		      /* params.name was a string */
	bool name_cut;		      /* ... longer than MCP_NAME_MAX - 1 bytes: no glob may judge a cut name */
	char protocol[MCP_PROTO_MAX]; /* initialize: params.protocolVersion */
	char traceparent[MCP_TP_MAX]; /* params._meta.traceparent, when a string that fits */
};

/* Why a body is not one usable message; code is the JSON-RPC error code to answer with. */
struct mcp_rpc_err {
	int code;      /* MCP_RPC_PARSE_ERROR or MCP_RPC_INVALID_REQUEST */
	bool batch;    /* a JSON array: batches are refused (MCP 2025-06-18 removed them) */
	char msg[160]; /* for the client; never quotes the body */
};

/*
 * Reads body[0..len) as one JSON-RPC 2.0 message into m. Refuses (-1 with
 * e): text that is not JSON (-32700), an array (a batch, -32600), and with
 * -32600: anything but an object, a missing or wrong "jsonrpc", a method
 * that is not a string, an id that is not a string, number or null or
 * whose text is over MCP_ID_MAX - 1 bytes, a message that is neither a
 * request, a notification nor a response, and duplicate "jsonrpc",
 * "method", "id", "params" or params."name" members.
 */
int mcp_rpc_parse(const char *body, size_t len, struct mcp_msg *m, struct mcp_rpc_err *e);

/* True when m is a request or notification for method. */
bool mcp_msg_is(const struct mcp_msg *m, const char *method);

/* What a server message says about one request. */
struct mcp_resp_facts {
	bool answer;	/* a JSON-RPC response whose id equals the request's */
	bool has_error; /* it is an error response */
	int64_t error_code;
	bool tool_error;	      /* result.isError is true (a failed tool call) */
	char protocol[MCP_PROTO_MAX]; /* result.protocolVersion (initialize) */
};

/*
 * Reads one server message (a JSON body, or an SSE event's data) and says
 * whether it answers the request with id (f->answer) and how. Anything
 * else (a notification, a server request, not JSON) leaves answer false.
 */
void mcp_rpc_facts(const char *json, size_t len, const struct mcp_id *id, struct mcp_resp_facts *f);

/*
 * Appends {"jsonrpc":"2.0","id":<id>,"error":{"code":code,"message":msg}}
 * to out; id NULL or without one gives "id":null. msg is JSON-escaped
 * (invalid UTF-8 is replaced). -1 when out is full.
 */
int mcp_rpc_error_body(struct buf *out, const struct mcp_id *id, int code, const char *msg);

/*
 * One SSE event carrying json as its data, for a response the gateway
 * adds to a stream: "event: message\ndata: <json>\n\n". json must hold no
 * line break (compact JSON never does). -1 when out is full.
 */
int mcp_rpc_sse_event(struct buf *out, const char *json, size_t len);

/*
 * An SSE event's raw bytes with its data replaced: every line but the
 * data lines kept (event, id, retry, comments), in order, with "\n"
 * endings, then "data: <json>\n" and the blank line that ends the event.
 * -1 when out is full.
 */
int mcp_rpc_sse_replace_data(struct buf *out, const char *raw, size_t raw_len, const char *json, size_t len);

#endif
