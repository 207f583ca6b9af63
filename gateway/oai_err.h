/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors in OpenAI's shape, {"error":{"message","type","param","code"}},
 * so every OpenAI SDK surfaces them as its usual exception types. One table
 * maps each error the gateway itself can produce to its HTTP status, its
 * OpenAI `type` and `code`, and the short `error.type` string used in spans
 * and metric labels; a new error is one more row, not a new code path.
 */
#ifndef LLMGW_GATEWAY_OAI_ERR_H
#define LLMGW_GATEWAY_OAI_ERR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Errors the gateway produces (relayed upstream errors are not in here). */
enum gw_error {
	GWE_INVALID_REQUEST = 0, /* 400 malformed JSON / missing or bad fields */
	GWE_UNAUTHORIZED,	 /* 401 missing/unknown/malformed virtual key */
	GWE_MODEL_NOT_FOUND,	 /* 404 model not configured */
	GWE_NOT_FOUND,		 /* 404 unknown path */
	GWE_METHOD_NOT_ALLOWED,	 /* 405 (with Allow) */
	GWE_BODY_TOO_LARGE,	 /* 413 over server.max_body */
	GWE_INTERNAL,		 /* 500 out of memory and the like */
	GWE_UPSTREAM_CONNECT,	 /* 502 DNS, refused, reset before a response */
	GWE_UPSTREAM_TLS,	 /* 502 handshake or certificate failure */
	GWE_UPSTREAM_INVALID,	 /* 502 unparseable or unexpected upstream response */
	GWE_UNAVAILABLE,	 /* 503 shutting down */
	GWE_UPSTREAM_TIMEOUT,	 /* 504 connect or total timeout */
	/* HTTP protocol errors found by the server before routing (http_conn / http_parse) */
	GWE_BAD_HTTP,		/* 400 malformed or ambiguous (smuggling-shaped) HTTP/1.1 request */
	GWE_REQUEST_TIMEOUT,	/* 408 request not complete within server.request_timeout */
	GWE_URI_TOO_LONG,	/* 414 request line over 8 KiB */
	GWE_EXPECTATION_FAILED, /* 417 Expect other than 100-continue */
	GWE_HEADERS_TOO_LARGE,	/* 431 header bytes or count over the limits */
	GWE_NOT_IMPLEMENTED,	/* 501 transfer coding other than chunked */
	GWE_HTTP_VERSION,	/* 505 not HTTP/1.0 or 1.1 */
	GWE_CLIENT_CLOSED,	/* 499 (span and metric only): the client went away before the response */
	/* governance */
	GWE_MODEL_NOT_ALLOWED,	 /* 403 the key may not use this model */
	GWE_RATE_LIMIT_REQUESTS, /* 429 requests per minute of the key or tenant */
	GWE_RATE_LIMIT_TOKENS,	 /* 429 tokens per minute of the key or tenant */
	GWE_QUOTA_EXCEEDED,	 /* 429 daily or monthly budget spent */
	GWE_LIMITS_UNAVAILABLE,	 /* 503 Redis down with redis.on_failure: reject */
	GWE_MCP_NOT_ALLOWED,	 /* 403 the key may not use this MCP server (or tool: JSON-RPC error, gateway/mcp.h) */
	GWE_GUARDRAIL_DENIED,	 /* 400 a guardrail refused the prompt or the answer (gateway/api_guard.h) */
	GWE__COUNT
};

struct oai_err_def {
	int status;
	const char *type;      /* OpenAI error.type: "invalid_request_error", ... */
	const char *code;      /* OpenAI error.code: "model_not_found", ... */
	const char *span_type; /* span error.type and metric label: "invalid_request", ... */
};

/* Row for e; never NULL (out of range gives the GWE_INTERNAL row). */
const struct oai_err_def *oai_err_def(enum gw_error e);

/*
 * Appends {"error":{"message":...,"type":...,"param":...,"code":...}} to out,
 * JSON-escaping every string. param and code may be NULL (rendered as null).
 * Returns -1 only when out is full.
 */
int oai_err_format(struct buf *out, const char *message, const char *type, const char *param, const char *code);

/* OpenAI error.type for an upstream HTTP status we have to wrap. */
const char *oai_err_type_for_status(int status);
/* The error of a request http_conn refused with status (408, 413, 414, 417, 431, 501, 505; else bad HTTP). */
enum gw_error oai_err_for_reject(int status);

/*
 * True if body is a JSON object whose "error" is an object with a string
 * "message": the shape OpenAI-compatible servers return, safe to relay as
 * is. Never trusts len beyond the buffer; tolerates any garbage.
 */
bool oai_err_is_openai_error(const char *body, size_t len);

#endif
