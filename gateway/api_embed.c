/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/embeddings: one call on the shared attempt path (api_call.h).
 * The body is validated by embed_parse.h (model, input, encoding_format,
 * dimensions, with OpenAI's own messages), routed through the same models
 * table as chat, and the provider's answer is relayed byte for byte
 * (base64 or float, as the client asked; the built-in mock makes
 * deterministic vectors in-process). The span has operation embeddings
 * and gen_ai.usage.input_tokens from the response's usage.prompt_tokens.
 */
#include "gateway/api.h"
#include "gateway/api_call.h"

void api_embed_handle(struct gw_req *r)
{
	api_call_handle(r, PROVIDER_OP_EMBEDDINGS);
}
