/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure OpenAI: OpenAI's wire format behind per-deployment URLs,
 *   POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version=V
 * (also /completions and /embeddings), with the key in an `api-key`
 * header. The target's model is the deployment name; Azure routes by the
 * URL and ignores the body's "model", so the client's bytes go out
 * unchanged (with include_usage spliced in for streams, as for OpenAI) and
 * the answer, already OpenAI-shaped, comes back byte for byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/provider.h"

static const char *const azure_paths[PROVIDER_OP__COUNT] = {
    [PROVIDER_OP_CHAT] = "chat/completions",
    [PROVIDER_OP_COMPLETIONS] = "completions",
    [PROVIDER_OP_EMBEDDINGS] = "embeddings",
};

/* Deployment names are [A-Za-z0-9._-]: nothing to escape in the path. */
static bool deployment_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.' || *s == '_'))
			return false;
	return true;
}

static int azure_encode(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			struct err *err)
{
	if (!deployment_ok(in->provider_model))
		return err_set(err, EIO, "provider %s: deployment name is not [A-Za-z0-9._-]", p->name);
	int n = snprintf(out->path, sizeof(out->path), "%s/openai/deployments/%s/%s?api-version=%s", p->url.path,
			 in->provider_model, azure_paths[in->op], p->api_version != NULL ? p->api_version : "");
	if (n < 0 || (size_t)n >= sizeof(out->path))
		return err_set(err, EIO, "provider %s: request path too long", p->name);
	out->use_client_body = true;
	return 0;
}

static void azure_auth_headers(const struct gw_provider *p, struct evkeyvalq *h)
{
	if (p->api_key != NULL)
		evhttp_add_header(h, "api-key", p->api_key);
}

static int azure_decode(const struct gw_provider *p, const struct provider_chat_in *in, const char *body, size_t len,
			struct chat_response_info *info, struct buf *client_body, bool *relay, struct err *err)
{
	return provider_openai.decode(p, in, body, len, info, client_body, relay, err);
}

const struct provider_ops provider_azure = {
    .name = "azure-openai",
    .in_process = false,
    .endpoints =
	PROVIDER_EP(PROVIDER_OP_CHAT) | PROVIDER_EP(PROVIDER_OP_COMPLETIONS) | PROVIDER_EP(PROVIDER_OP_EMBEDDINGS),
    .encode = azure_encode,
    .auth_headers = azure_auth_headers,
    .decode = azure_decode,
};
