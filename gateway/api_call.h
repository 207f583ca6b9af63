/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One call of an OpenAI endpoint (chat completions, legacy completions,
 * embeddings) on the provider that serves the requested model: route,
 * encode, send upstream or answer in-process, relay the answer whole or as
 * a stream, and emit the attempt's CLIENT span. The endpoint handlers
 * (api_chat.c, api_embed.c) name their operation and hand over here, so
 * every endpoint shares one parse-route-attempt path, one error mapping
 * and one stream relay.
 *
 * Outcome mapping to the client:
 *   upstream 2xx JSON          -> relayed as is (200)
 *   upstream 2xx SSE (stream)  -> 200 text/event-stream, relayed event by
 *                                 event as it arrives (chat_stream.h)
 *   upstream 4xx/5xx           -> status and body relayed when the body is an
 *                                 OpenAI error, else wrapped in one (never
 *                                 SSE, also for stream: true)
 *   refused / DNS / TLS        -> 502 upstream_connect_error / tls_error
 *   closed or reset            -> 502 upstream_connect_error (span: reset)
 *   any of the four timeouts   -> 504 timeout (span: connect_timeout,
 *                                 first_byte_timeout, idle_timeout, total_timeout)
 *   unusable upstream response -> 502 upstream_invalid_response
 * and once a stream's 200 head is out, a failure can only end the stream:
 * the client gets the relay's error event and the chunked terminator, and
 * both spans get error.type (see docs/gateway-config.md, "Streaming").
 */
#ifndef LLMGW_GATEWAY_API_CALL_H
#define LLMGW_GATEWAY_API_CALL_H

#include "gateway/provider.h"

struct gw_req;

/*
 * Handles a routed, authenticated POST for op: parses and validates the
 * body (chat_parse.h, embed_parse.h) into r->chat or r->embed (400
 * invalid_request with the parser's param and message when it is
 * rejected), routes it to the first target of its model (404
 * model_not_found when the model is not configured or its provider does
 * not serve op) and finishes r, now or from an upstream callback. The raw
 * body is forwarded byte for byte when the provider needs no rewrite.
 */
void api_call_handle(struct gw_req *r, enum provider_op op);

/* Frees what a call kept in r (parsed request, relay, translator, backoff timer); r is finishing. */
void api_call_fini(struct gw_req *r);

#endif
