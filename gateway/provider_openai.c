/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Together,
 * LM Studio...): POST {base_url}/chat/completions, /completions (legacy)
 * and /embeddings with a bearer key, streams included. The
 * wire format is already the client's, so when the provider model equals
 * the requested one the client body is forwarded byte for byte and the
 * response is relayed byte for byte; only a model rename re-encodes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/provider.h"

/* Endpoint path under the base URL, per op. */
static const char *const openai_paths[PROVIDER_OP__COUNT] = {
    [PROVIDER_OP_CHAT] = "/chat/completions",
    [PROVIDER_OP_COMPLETIONS] = "/completions",
    [PROVIDER_OP_EMBEDDINGS] = "/embeddings",
};

static int openai_encode(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			 struct err *err)
{
	json_t *root;
	int n = snprintf(out->path, sizeof(out->path), "%s%s", p->url.path, openai_paths[in->op]);
	if (n < 0 || (size_t)n >= sizeof(out->path))
		return err_set(err, EINVAL, "provider %s: base path too long", p->name);
	/* against the client's model, not req->model: an earlier attempt may have renamed it */
	if (strcmp(in->client_model, in->provider_model) == 0) {
		out->use_client_body = true;
		return 0;
	}
	/* rename the model for this provider; the client's request model stays in the span */
	root = in->op == PROVIDER_OP_EMBEDDINGS ? in->embed->root : chat_request_tree(in->req);
	if (root == NULL || json_object_set_new(root, "model", json_string(in->provider_model)) != 0)
		return err_set(err, ENOMEM, "out of memory");
	if (in->op == PROVIDER_OP_EMBEDDINGS)
		in->embed->model = in->provider_model;
	else
		in->req->model = in->provider_model;
	/* a stream whose client did not ask for usage asks for it here (the relay drops it) */
	if (in->req != NULL && chat_request_set_include_usage(in->req) < 0)
		return err_set(err, ENOMEM, "out of memory");
	return provider_put_json(out, root, err);
}

static void openai_auth_headers(const struct gw_provider *p, struct evkeyvalq *h)
{
	char v[16 + 1024];
	if (p->api_key == NULL)
		return;
	int n = snprintf(v, sizeof(v), "Bearer %s", p->api_key);
	if (n > 0 && (size_t)n < sizeof(v))
		evhttp_add_header(h, "Authorization", v);
	/* clear the stack copy of the key */
	volatile char *vp = v;
	for (size_t i = 0; i < sizeof(v); i++)
		vp[i] = '\0';
}

static int openai_decode(const struct gw_provider *p, const struct provider_chat_in *in, const char *body, size_t len,
			 struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err)
{
	enum provider_op op = in->op;
	(void)client_body;
	*relay = true;
	if (op == PROVIDER_OP_EMBEDDINGS) {
		struct embed_response_info ei;
		int rc = embed_response_extract(body, len, &ei);
		*info = ei.resp;
		if (rc < 0)
			return err_set(err, EINVAL, "provider %s returned a body that is not a JSON object", p->name);
		return 0;
	}
	/* chat and legacy completions answers carry the same id/model/finish_reason/usage fields */
	if (chat_response_extract(body, len, info) < 0)
		return err_set(err, EINVAL, "provider %s returned a body that is not a JSON object", p->name);
	return 0;
}

const struct provider_ops provider_openai = {
    .name = "openai",
    .in_process = false,
    .endpoints =
	PROVIDER_EP(PROVIDER_OP_CHAT) | PROVIDER_EP(PROVIDER_OP_COMPLETIONS) | PROVIDER_EP(PROVIDER_OP_EMBEDDINGS),
    .encode = openai_encode,
    .auth_headers = openai_auth_headers,
    .decode = openai_decode,
    .answer = NULL,
};
