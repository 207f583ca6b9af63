/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client-facing HTTP/1.1 server (libevent evhttp): routing by path and
 * method, the body limit, virtual-key checks, x-request-id on every
 * response we produce, request metrics, the access log, and the SERVER span
 * emitted when a request ends. Handlers (api.h) receive a struct gw_req and
 * finish it exactly once with one of the http_srv_reply* calls, which also
 * frees it.
 */
#ifndef LLMGW_GATEWAY_HTTP_SRV_H
#define LLMGW_GATEWAY_HTTP_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/err.h"
#include "gateway/chat_parse.h"
#include "gateway/gw.h"
#include "gateway/oai_err.h"
#include "gateway/span_emit.h"

struct evhttp_request;
struct evbuffer;
struct upstream_call;
struct http_route;
struct provider_ops;

/* One client request, from routing to response. Freed by http_srv_reply*. */
struct gw_req {
	struct gw_worker *w;
	struct evhttp_request *ev;
	const struct http_route *route;
	uint64_t start_mono_ns;
	bool api; /* counted in llmgw_requests_total and traced */
	struct span_req span;
	TAILQ_ENTRY(gw_req) link;

	/* chat completions */
	struct chat_request chat;
	const struct gw_target *target;
	size_t provider;
	const struct provider_ops *ops;
	struct upstream_call *call; /* in flight; cancelled if the request is aborted */
	struct span_attempt att;
	struct chat_response_info att_resp;
};

/* Creates the evhttp server on w->base and binds server.listen. */
int http_srv_start(struct gw_worker *w, struct err *err);
/* Stops accepting new connections (drain). */
void http_srv_stop_accepting(struct gw_worker *w);
/* Answers 503 to every request still in flight (drain deadline). */
void http_srv_abort_all(struct gw_worker *w);

/*
 * Sends status with body (moved out of `body`, which may be NULL) and
 * content type ctype, then finishes r: metrics, SERVER span, access log,
 * free. Adds x-request-id and, while draining, Connection: close.
 */
void http_srv_reply(struct gw_req *r, int status, const char *ctype, struct evbuffer *body);
/* Same with a JSON body from memory (copied). */
void http_srv_reply_json(struct gw_req *r, int status, const char *json, size_t len);
/*
 * Answers a gateway error in OpenAI shape: status/type/code from the
 * oai_err table, message from fmt, param may be NULL. Sets the span's
 * error type and counts llmgw_request_errors_total.
 */
void http_srv_reply_error(struct gw_req *r, enum gw_error e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Header value from the client request, NULL if absent. */
const char *http_srv_header(const struct gw_req *r, const char *name);

#endif
