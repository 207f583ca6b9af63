/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Providers are tables. Each provider type is one file exporting a
 * `const struct provider_ops`; the registry (provider_registry.c) maps the
 * config `type` to it. The request path (api_call.c) calls only these
 * hooks, for every endpoint, so adding Anthropic or Gemini is a new table
 * (encode to their wire format, decode back to OpenAI's), not a new code
 * path.
 *
 * All hooks are pure with respect to I/O: they build or read buffers and
 * headers; the transport (upstream.c) is not theirs.
 */
#ifndef LLMGW_GATEWAY_PROVIDER_H
#define LLMGW_GATEWAY_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "gateway/chat_parse.h"
#include "gateway/embed_parse.h"
#include "gateway/gw_conf.h"

struct evkeyvalq;

/* The OpenAI endpoints a provider may serve (bit i of provider_ops.endpoints). */
enum provider_op {
	PROVIDER_OP_CHAT = 0,	 /* POST /v1/chat/completions */
	PROVIDER_OP_COMPLETIONS, /* POST /v1/completions (legacy) */
	PROVIDER_OP_EMBEDDINGS,	 /* POST /v1/embeddings */
	PROVIDER_OP__COUNT
};
#define PROVIDER_EP(op) (1u << (op))

/* One call as a provider sees it. */
struct provider_chat_in {
	enum provider_op op;
	struct chat_request *req;    /* chat, completions: the parsed client request; encode may edit req->root */
	struct embed_request *embed; /* embeddings: the parsed client request; encode may edit embed->root */
	/*
	 * The body to send when nothing needs re-encoding: the client's bytes,
	 * for a stream whose client did not ask for usage with
	 * stream_options.include_usage spliced in (chat_request_inject_usage).
	 */
	const char *body;
	size_t body_len;
	const char *client_model;   /* the model the client asked for (the same for every attempt) */
	const char *provider_model; /* target model for this provider */
	const char *request_id;
	int64_t created; /* unix seconds for translated answers' "created" */
};

/* An HTTP request to send upstream. */
struct provider_http {
	char path[512];	      /* absolute: base path + endpoint */
	bool use_client_body; /* send in->body unchanged (no re-encoding) */
	struct buf body;      /* otherwise: the encoded body */
};

/* A provider's translator for one streamed response (opaque, per provider). */
struct provider_stream;

struct provider_ops {
	const char *name;   /* config `type` */
	bool in_process;    /* answers without network (mock) */
	unsigned endpoints; /* PROVIDER_EP(op) mask of what it serves */

	/*
	 * Builds the upstream request for a call. A stream whose client did
	 * not ask for usage must ask the provider for it (the relay strips
	 * it again): chat_request_set_include_usage() when re-encoding
	 * req->root. -1 with err on failure.
	 */
	int (*encode)(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
		      struct err *err);
	/* Adds the provider's credentials (never logged). */
	void (*auth_headers)(const struct gw_provider *p, struct evkeyvalq *h);
	/*
	 * Reads a whole 2xx upstream body (not streams: those go through
	 * chat_stream): fills info and, if the body must be translated,
	 * writes the OpenAI-shaped body to client_body and sets *relay to
	 * false. *relay true = send the upstream bytes unchanged. -1 when
	 * the body is unusable (-> 502).
	 */
	int (*decode)(const struct gw_provider *p, const struct provider_chat_in *in, const char *body, size_t len,
		      struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err);
	/*
	 * A 4xx/5xx body in the provider's own error shape -> OpenAI's
	 * {"error":{"message","type","param","code"}} appended to out, the
	 * provider's message kept. -1 when body is not the provider's error
	 * shape (the caller then wraps it without echoing it). NULL for
	 * providers whose errors are already OpenAI-shaped (relayed as is).
	 */
	int (*decode_error)(const struct gw_provider *p, int status, const char *body, size_t len, struct buf *out);
	/*
	 * Streams whose wire format is not OpenAI's SSE: NULL for OpenAI-format
	 * providers (their bytes go to the relay unchanged).
	 *
	 * stream_new: the translator for one 2xx text/event-stream response to
	 * in (which stays valid until stream_free). NULL on ENOMEM.
	 *
	 * stream_feed: one piece of the upstream body (any split, any size)
	 * -> appends complete OpenAI SSE events to out: "data: <chat.completion.chunk>\n\n"
	 * per chunk, the usage chunk ({"choices":[],"usage":{...}}, always sent:
	 * the relay drops it when the client did not ask) and "data: [DONE]\n\n"
	 * once the provider's stream says it is complete; a provider error
	 * event becomes "data: {\"error\":{...}}\n\n" (message kept). -1 with
	 * err when the stream is unusable (EMSGSIZE: an event over the bound;
	 * EPROTO: not the provider's format).
	 *
	 * stream_finish: the upstream body ended cleanly: appends what
	 * completes the client's stream (usage chunk, [DONE]) when the
	 * provider's stream was complete without an explicit end marker
	 * (Gemini); appends nothing if it was cut short (the relay then reports
	 * the truncation). 0, or -1 with err.
	 */
	struct provider_stream *(*stream_new)(const struct gw_provider *p, const struct provider_chat_in *in);
	int (*stream_feed)(struct provider_stream *s, const char *data, size_t len, struct buf *out, struct err *err);
	int (*stream_finish)(struct provider_stream *s, struct buf *out, struct err *err);
	void (*stream_free)(struct provider_stream *s);
	/*
	 * In-process providers: answers the call into out, OpenAI JSON, or
	 * for a stream (in->req->stream) the whole SSE body as OpenAI sends
	 * it (the usage chunk only when stream_options.include_usage is set
	 * in in->req->root or in->body). info gets the span facts of a JSON
	 * answer; a stream's come from the relay.
	 */
	int (*answer)(const struct gw_provider *p, const struct provider_chat_in *in, struct buf *out,
		      struct chat_response_info *info, struct err *err);
};

extern const struct provider_ops provider_openai;
extern const struct provider_ops provider_azure;
extern const struct provider_ops provider_anthropic;
extern const struct provider_ops provider_gemini;
extern const struct provider_ops provider_mock;

/* encode's last step: v as compact JSON into out->body (use_client_body false). -1 with err (ENOMEM). */
int provider_put_json(struct provider_http *out, const json_t *v, struct err *err);

/* Table for a config type; never NULL for a type gw_conf accepted. */
const struct provider_ops *provider_ops_for(enum gw_provider_type t);

#endif
