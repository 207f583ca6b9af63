/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parsing for POST /v1/chat/completions and the legacy
 * POST /v1/completions: validating a client request, preparing the upstream
 * body of a stream (usage injection), and pulling the span facts (model,
 * id, usage, finish reason) out of an OpenAI-shaped response. Also the
 * shared first steps of every OpenAI request parser (embed_parse uses them):
 * one error vocabulary, one model check. No sockets, no globals: unit tests
 * and the fuzzers call these directly.
 *
 * Validation is deliberately shallow: the gateway checks what it needs to
 * route (model, messages/prompt, stream, stream_options) and leaves the
 * rest of the schema to the provider, which knows it better and reports it
 * in the same error shape.
 */
#ifndef LLMGW_GATEWAY_CHAT_PARSE_H
#define LLMGW_GATEWAY_CHAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "gateway/jscan.h"

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
	CHAT_STREAM_OPTIONS_BAD, /* stream_options not an object, include_usage not a boolean */
	CHAT_PROMPT_MISSING,	 /* /v1/completions */
	CHAT_PROMPT_BAD,
	CHAT_INPUT_MISSING, /* /v1/embeddings (embed_parse) */
	CHAT_INPUT_BAD,
	CHAT_INPUT_EMPTY,
	CHAT_ENCODING_BAD,
	CHAT_DIMENSIONS_BAD,
	CHAT_DUPLICATE_KEY, /* a member the gateway reads appears twice at the top level */
};

/*
 * Why a request was rejected: the OpenAI `param` and a client-facing
 * message, plus the requested model when it was readable (for the span).
 */
struct chat_parse_err {
	enum chat_perr code;
	const char *param; /* "model", "messages", "stream", "input"... or NULL */
	char msg[200];
	char model[CHAT_MODEL_MAX + 1]; /* "" unless model was a valid string */
};

/*
 * A validated request. Parsing scans the body in place (gateway/jscan.h)
 * and keeps only the facts below; the jansson tree of the body, needed
 * only to translate it for another provider or to edit it, is built on
 * first use by chat_request_tree(). The body stays the caller's and must
 * outlive the request.
 */
struct chat_request {
	const char *body; /* borrowed: the bytes parsed */
	size_t body_len;
	json_t *root;	   /* owned; NULL until chat_request_tree() */
	const char *model; /* model_buf, or the provider model after a rename */
	json_t *messages;  /* borrowed from root, set by chat_request_tree(); NULL for /v1/completions */
	json_t *prompt;	   /* /v1/completions: borrowed from root, set by chat_request_tree() */
	bool stream;
	bool include_usage;	 /* stream and stream_options.include_usage is true: the client wants usage */
	bool has_stream_options; /* the body has a stream_options member (an object or null) */
	bool legacy;		 /* /v1/completions */
	unsigned n_choices;	 /* `n` when a positive integer (capped at 65535), else 1 */
	uint32_t max_tokens;	 /* max_completion_tokens, else max_tokens, when a positive integer < 2^32; else 0 */
	char model_buf[CHAT_MODEL_MAX + 1];
};

/*
 * The jansson tree of the request (and req->messages / req->prompt), built
 * from the body on the first call. NULL only when memory runs out: the
 * body was validated already.
 */
json_t *chat_request_tree(struct chat_request *req);

/*
 * Parses and validates a chat request body. On CHAT_OK release req with
 * chat_request_fini (it may own a tree by then). On failure req is left empty
 * and e says why. Rejects: empty body, invalid JSON (incl. trailing garbage
 * and NUL escapes), non-object, model missing / not a string / empty / too
 * long, messages missing / not an array / empty, stream not a boolean,
 * stream_options not an object (or null), stream_options.include_usage not
 * a boolean (or null). stream: true is accepted (req->stream).
 */
enum chat_perr chat_request_parse(const char *body, size_t len, struct chat_request *req, struct chat_parse_err *e);

/*
 * Same for a legacy POST /v1/completions body: model as above, prompt
 * required and one of: a string, an array of strings, a non-empty array of
 * token ids (integers >= 0), a non-empty array of non-empty token id
 * arrays (an empty string is a valid prompt; [] is not). stream and
 * stream_options as for chat. The prompt check needs the tree, so it is
 * built here: req->messages is NULL, req->prompt is set.
 * The response facts come from chat_response_extract(), which reads the
 * same id/model/choices[0].finish_reason/usage fields.
 */
enum chat_perr chat_legacy_request_parse(const char *body, size_t len, struct chat_request *req,
					 struct chat_parse_err *e);
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
/* Same on a body scanned already (root from jscan_parse: an object, else nothing is found). */
void chat_response_extract_scanned(const struct jscan_val *root, struct chat_response_info *info);
/* Same on an already-parsed object (the mock provider builds its own). */
void chat_response_extract_json(const json_t *root, struct chat_response_info *info);

/*
 * Upstream body for a stream whose client did not ask for usage: the bytes
 * of body (the exact body req was parsed from, req->root unmodified) with
 * stream_options.include_usage = true, every other byte preserved. When
 * the request has no stream_options at all (the usual case) the member is
 * spliced in after the opening brace with no JSON round trip; when it has
 * stream_options (null, {}, include_usage false) req->root is edited and
 * re-encoded with jansson (same values; numbers may be re-spelled, e.g.
 * 0.7 as 0.69999999999999996, which parses to the same double) from the
 * tree, built then.
 * Returns 1 with the body appended to out, 0 when nothing is needed (not a
 * stream, or the client asked for usage: send body as is; out untouched),
 * -1 with err when out is full or memory runs out.
 */
int chat_request_inject_usage(struct chat_request *req, const char *body, size_t len, struct buf *out, struct err *err);

/*
 * For providers that re-encode the tree anyway (model rename): sets
 * stream_options.include_usage = true in the tree (built if need be) for a
 * stream whose client did not ask. Returns 1 if root changed, 0 if nothing
 * was needed, -1 on ENOMEM. req->include_usage keeps saying what the client asked.
 */
int chat_request_set_include_usage(struct chat_request *req);

/*
 * Shared first step of every OpenAI request parser: body -> JSON object
 * with a valid "model" (a 1-CHAT_MODEL_MAX character string). On CHAT_OK
 * *root is owned by the caller (json_decref) and *model points into it;
 * e->model holds the model either way once it was readable. On failure
 * *root is NULL and e says why (e is cleared first).
 */
enum chat_perr chat_body_parse(const char *body, size_t len, json_t **root, const char **model,
			       struct chat_parse_err *e);

/*
 * The first of keys[0..nkeys) (at most 64) that the JSON object body gives
 * twice at its top level, or NULL (also for a body that is not JSON).
 * Chat and completions requests refuse such bodies (CHAT_DUPLICATE_KEY);
 * embed_parse uses this for its own keys.
 */
const char *chat_top_duplicate(const char *body, size_t len, const char *const *keys, size_t nkeys);
/* Fills e for a duplicated key (CHAT_DUPLICATE_KEY, param = key) and returns the code. */
enum chat_perr chat_fail_duplicate(struct chat_parse_err *e, const char *key);

/* OpenAI text input shapes (embeddings `input`, completions `prompt`). */
enum chat_input_kind {
	CHAT_INPUT_NONE = 0,	 /* none of the shapes below (wrong type, mixed array) */
	CHAT_INPUT_STRING,	 /* "text" */
	CHAT_INPUT_STRINGS,	 /* ["a", "b"] */
	CHAT_INPUT_TOKENS,	 /* [1, 2, 3]: token ids, integers >= 0 */
	CHAT_INPUT_TOKEN_ARRAYS, /* [[1, 2], [3]] */
	CHAT_INPUT_EMPTY_ARRAY,	 /* [] */
};

struct chat_input_shape {
	enum chat_input_kind kind;
	size_t count;	   /* inputs: 1 for a string or a token array, else the array size */
	bool empty_string; /* the string, or one of the strings, is "" */
	bool empty_tokens; /* one of the token arrays is [] */
};

/* Classifies v (any JSON value, NULL included) into *out. */
void chat_input_classify(const json_t *v, struct chat_input_shape *out);

#endif
