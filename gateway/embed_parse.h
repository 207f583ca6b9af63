/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parsing for POST /v1/embeddings: validating a client request (the
 * 400s OpenAI gives, with its messages where it has a known one) and
 * pulling the span facts out of the response. Shares chat_parse's first
 * step (body -> object with a valid model) and error vocabulary, so the
 * handler answers a rejection exactly as the chat handler does:
 * status 400, e->param, e->msg, and e->model for the span.
 *
 * Like chat validation it is shallow: shapes the gateway must understand
 * (model, input, encoding_format, dimensions) are checked; limits that
 * differ between providers (inputs per request, tokens per input) are left
 * to the provider.
 */
#ifndef LLMGW_GATEWAY_EMBED_PARSE_H
#define LLMGW_GATEWAY_EMBED_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gateway/chat_parse.h"

/* OpenAI's own message for an empty input ("", [], [""], [[]]). */
#define EMBED_EMPTY_INPUT_MSG                                                                                          \
	"'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."

struct embed_request {
	json_t *root;	   /* owned; the whole request */
	const char *model; /* points into root */
	json_t *input;	   /* borrowed from root */
	enum chat_input_kind input_kind;
	size_t input_count;  /* embeddings the response should hold */
	bool base64;	     /* encoding_format "base64" (default "float") */
	uint32_t dimensions; /* 0 when not given */
};

/*
 * Parses and validates a request body. On CHAT_OK the caller owns
 * req->root (release with embed_request_fini). On failure req is left
 * empty and e says why (e->code, e->param, e->msg; e->model once the model
 * was readable). Rejects, besides chat_body_parse's cases: input missing
 * (CHAT_INPUT_MISSING), not a string / array of strings / array of token
 * ids / array of token id arrays (CHAT_INPUT_BAD), empty in any way (""
 * or [] or an empty string or token array inside; CHAT_INPUT_EMPTY with
 * EMBED_EMPTY_INPUT_MSG), encoding_format other than "float" or "base64"
 * (CHAT_ENCODING_BAD), dimensions not an integer in 1..2^31-1
 * (CHAT_DIMENSIONS_BAD). null counts as absent for the optional fields.
 */
enum chat_perr embed_request_parse(const char *body, size_t len, struct embed_request *req, struct chat_parse_err *e);
/* Releases req->root and empties req; safe twice and on a failed parse. */
void embed_request_fini(struct embed_request *req);

/* Span facts of an embeddings response. */
struct embed_response_info {
	/*
	 * model, usage.prompt_tokens (input tokens) and has_usage, in the
	 * struct span_req.resp takes, so the handler can copy it there;
	 * completion_tokens stays 0, id and finish_reason "" (embeddings have
	 * neither).
	 */
	struct chat_response_info resp;
	uint32_t total_tokens;
	uint32_t data_count; /* entries in "data" */
};

/*
 * Extracts the facts from a response body. Missing or oddly typed fields
 * are skipped (counts must be integers >= 0; huge ones clamp to
 * UINT32_MAX; long strings are cut on a UTF-8 boundary). Returns 0 if body
 * is a JSON object, -1 otherwise (info zeroed either way before filling).
 */
int embed_response_extract(const char *body, size_t len, struct embed_response_info *info);
/* Same on an already-parsed object. */
void embed_response_extract_json(const json_t *root, struct embed_response_info *info);

#endif
