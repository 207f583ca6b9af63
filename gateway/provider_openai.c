/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Together,
 * LM Studio...): POST {base_url}/chat/completions with a bearer key. The
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

static int openai_chat_encode(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			      struct err *err)
{
	int n = snprintf(out->path, sizeof(out->path), "%s/chat/completions", p->url.path);
	if (n < 0 || (size_t)n >= sizeof(out->path))
		return err_set(err, EINVAL, "provider %s: base path too long", p->name);
	if (strcmp(in->req->model, in->provider_model) == 0) {
		out->use_client_body = true;
		return 0;
	}
	/* rename the model for this provider; the client's request model stays in the span */
	if (json_object_set_new(in->req->root, "model", json_string(in->provider_model)) != 0)
		return err_set(err, ENOMEM, "out of memory");
	in->req->model = in->provider_model;
	char *s = json_dumps(in->req->root, JSON_COMPACT);
	if (s == NULL)
		return err_set(err, ENOMEM, "cannot encode the request");
	int rc = buf_puts(&out->body, s);
	free(s);
	if (rc < 0)
		return err_set(err, ENOMEM, "encoded request too large");
	out->use_client_body = false;
	return 0;
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

static int openai_chat_decode(const struct gw_provider *p, const char *body, size_t len,
			      struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err)
{
	(void)client_body;
	*relay = true;
	if (chat_response_extract(body, len, info) < 0)
		return err_set(err, EINVAL, "provider %s returned a body that is not a JSON object", p->name);
	return 0;
}

const struct provider_ops provider_openai = {
    .name = "openai",
    .in_process = false,
    .chat_encode = openai_chat_encode,
    .auth_headers = openai_auth_headers,
    .chat_decode = openai_chat_decode,
    .chat_answer = NULL,
};
