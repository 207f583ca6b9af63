/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Providers are tables. Each provider type is one file exporting a
 * `const struct provider_ops`; the registry (provider_registry.c) maps the
 * config `type` to it. The request path calls only these hooks, so adding
 * Anthropic or Gemini is a new table (encode to their wire format, decode
 * back to OpenAI's), not a new code path.
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
#include "gateway/gw_conf.h"

struct evkeyvalq;

/* One chat call as a provider sees it. */
struct provider_chat_in {
	struct chat_request *req; /* parsed client request; encode may edit req->root */
	const char *body;	  /* raw client body */
	size_t body_len;
	const char *provider_model; /* target model for this provider */
	const char *request_id;
};

/* An HTTP request to send upstream. */
struct provider_http {
	char path[512];	      /* absolute: base path + endpoint */
	bool use_client_body; /* send the raw client body unchanged (no re-encoding) */
	struct buf body;      /* otherwise: the encoded body */
};

struct provider_ops {
	const char *name; /* config `type` */
	bool in_process;  /* answers without network (mock) */

	/* Builds the upstream request for a chat call. -1 with err on failure. */
	int (*chat_encode)(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			   struct err *err);
	/* Adds the provider's credentials (never logged). */
	void (*auth_headers)(const struct gw_provider *p, struct evkeyvalq *h);
	/*
	 * Reads a 2xx upstream body: fills info and, if the body must be
	 * translated, writes the OpenAI-shaped body to client_body and sets
	 * *relay to false. *relay true = send the upstream bytes unchanged.
	 * -1 when the body is unusable (-> 502).
	 */
	int (*chat_decode)(const struct gw_provider *p, const char *body, size_t len, struct chat_response_info *info,
			   struct buf *client_body, bool *relay, struct err *err);
	/* In-process providers: answers the call into out (OpenAI JSON). */
	int (*chat_answer)(const struct gw_provider *p, const struct provider_chat_in *in, struct buf *out,
			   struct chat_response_info *info, struct err *err);
};

extern const struct provider_ops provider_openai;
extern const struct provider_ops provider_mock;

/* Table for a config type; never NULL for a type gw_conf accepted. */
const struct provider_ops *provider_ops_for(enum gw_provider_type t);

#endif
