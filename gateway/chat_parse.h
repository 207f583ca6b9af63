/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parsing for POST /v1/chat/completions: validating a client request
 * and pulling the span facts (model, id, usage, finish reason) out of an
 * OpenAI-shaped response. No sockets, no globals: unit tests and the
 * fuzzers call these directly.
 *
 * Validation is deliberately shallow: the gateway checks what it needs to
 * route (model, messages, stream) and leaves the rest of the schema to the
 * provider, which knows it better and reports it in the same error shape.
 */
#ifndef LLMGW_GATEWAY_CHAT_PARSE_H
#define LLMGW_GATEWAY_CHAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CHAT_MODEL_MAX 256 /* longer model names are rejected, not truncated */

enum chat_perr {
	CHAT_OK = 0,
	CHAT_EMPTY_BODY,
	CHAT_BAD_JSON,
	CHAT_NOT_OBJECT,
	CHAT_MODEL_MISSING,
	CHAT_MODEL_NOT_STRING,
	CHAT_MODEL_BAD, /* empty or over CHAT_MODEL_MAX */
	CHAT_MESSAGES_MISSING,
	CHAT_MESSAGES_NOT_ARRAY,
	CHAT_MESSAGES_EMPTY,
	CHAT_STREAM_NOT_BOOL,
	CHAT_STREAM_UNSUPPORTED,
};

/*
 * Why a request was rejected: the OpenAI `param` and a client-facing
 * message, plus the requested model when it was readable (for the span).
 */
struct chat_parse_err {
	enum chat_perr code;
	const char *param; /* "model", "messages", "stream" or NULL */
	char msg[200];
	char model[CHAT_MODEL_MAX + 1]; /* "" unless model was a valid string */
};

struct chat_request {
	json_t *root;	   /* owned; the whole request */
	const char *model; /* points into root */
	json_t *messages;  /* borrowed from root */
	bool stream;
};

/*
 * Parses and validates a request body. On CHAT_OK the caller owns req->root
 * (release with chat_request_fini). On failure req is left empty and e says
 * why. Rejects: empty body, invalid JSON (incl. trailing garbage and NUL
 * escapes), non-object, model missing / not a string / empty / too long,
 * messages missing / not an array / empty, stream not a boolean, and
 * stream: true (not supported in this release).
 */
enum chat_perr chat_request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e);
void chat_request_fini(struct chat_request *req);

/* Span facts of a response; strings are "" when the response did not say. */
struct chat_response_info {
	char model[128];
	char id[128];
	char finish_reason[64];
	uint32_t prompt_tokens;
	uint32_t completion_tokens;
	uint32_t cached_tokens; /* usage.prompt_tokens_details.cached_tokens */
	bool has_usage;		/* prompt or completion tokens were present */
};

/*
 * Extracts model, id, choices[0].finish_reason and usage from a response
 * body. Missing or oddly typed fields are skipped (negative or fractional
 * counts are ignored, huge ones clamp to UINT32_MAX; long strings are cut).
 * Returns 0 if body is a JSON object, -1 otherwise (info zeroed either way
 * before filling).
 */
int chat_response_extract(const char *body, size_t len, struct chat_response_info *info);
/* Same on an already-parsed object (the mock provider builds its own). */
void chat_response_extract_json(const json_t *root, struct chat_response_info *info);

#endif
