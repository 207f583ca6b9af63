/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API endpoint handlers. Each receives a routed, authenticated request (method
 * and body size already checked by http_srv) and finishes it exactly once
 * with an http_srv_reply* call, possibly later from an upstream callback.
 */
#ifndef LLMGW_GATEWAY_API_H
#define LLMGW_GATEWAY_API_H

struct gw_req;

/* POST /v1/chat/completions (api_chat.c). */
void api_chat_handle(struct gw_req *r);
/* POST /v1/completions, legacy (api_chat.c). */
void api_completions_handle(struct gw_req *r);
/* POST /v1/embeddings (api_embed.c). */
void api_embed_handle(struct gw_req *r);
/* GET /v1/models (api_models.c). */
void api_models_handle(struct gw_req *r);

#endif
