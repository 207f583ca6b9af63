/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/chat/completions and the legacy POST /v1/completions. Both are
 * one call on the shared attempt path (api_call.h): the body is validated
 * by chat_parse.h (shallow: what routing and streaming need), routed by
 * its model, sent to the provider or answered in-process, and relayed
 * whole or, with stream: true, as Server-Sent Events. The legacy endpoint
 * is the same call with a `prompt` instead of `messages`, passed through
 * to providers that serve it (span operation text_completion).
 */
#include "gateway/api.h"
#include "gateway/api_call.h"

void api_chat_handle(struct gw_req *r)
{
	api_call_handle(r, PROVIDER_OP_CHAT);
}

void api_completions_handle(struct gw_req *r)
{
	api_call_handle(r, PROVIDER_OP_COMPLETIONS);
}
