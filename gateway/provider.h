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
	const char *provider_model; /* target model for this provider */
	const char *request_id;
};

/* An HTTP request to send upstream. */
struct provider_http {
	char path[512];	      /* absolute: base path + endpoint */
	bool use_client_body; /* send in->body unchanged (no re-encoding) */
	struct buf body;      /* otherwise: the encoded body */
};

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
	int (*decode)(const struct gw_provider *p, enum provider_op op, const char *body, size_t len,
		      struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err);
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
extern const struct provider_ops provider_mock;

/* Table for a config type; never NULL for a type gw_conf accepted. */
const struct provider_ops *provider_ops_for(enum gw_provider_type t);

#endif
