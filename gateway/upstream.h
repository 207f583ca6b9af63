/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client to providers over libevent's evhttp: http:// and https://
 * (OpenSSL bufferevents, see common/tls.h), asynchronous DNS through
 * evdns, a small keep-alive pool per provider, a connect timeout and a
 * total timeout per call.
 *
 * One pool per event loop (worker); nothing here is shared across threads.
 * Each pooled connection carries at most one request at a time (no
 * pipelining, no evhttp-internal queueing): callers beyond the pool size
 * wait in a FIFO whose wait time counts against the call's total timeout.
 *
 * Results are always delivered from a fresh event-loop callback, never from
 * inside upstream_call_start() or a libevent callback, so the caller may
 * start new calls or free its own state from its callback.
 */
#ifndef LLMGW_GATEWAY_UPSTREAM_H
#define LLMGW_GATEWAY_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/err.h"

struct event_base;
struct evdns_base;
struct evbuffer;
struct evkeyvalq;
struct gw_conf;

struct upstream_pool;
struct upstream_call;

#define UPSTREAM_CONNS_MAX 256			 /* per provider per worker */
#define UPSTREAM_MAX_RESPONSE ((size_t)64 << 20) /* larger bodies are a protocol error */
#define UPSTREAM_MAX_HEADERS ((size_t)64 << 10)
/* ALPN offered to https providers (wire format): "http/1.1" only; "h2" joins when HTTP/2 lands. */
#define UPSTREAM_ALPN "\x08http/1.1"

enum upstream_outcome {
	UPSTREAM_RESPONSE = 0,	  /* a complete HTTP response (any status) */
	UPSTREAM_CONNECT_ERROR,	  /* DNS failure, refused, reset or closed before a response */
	UPSTREAM_TLS_ERROR,	  /* handshake or certificate verification failed */
	UPSTREAM_CONNECT_TIMEOUT, /* not connected within connect_timeout */
	UPSTREAM_TIMEOUT,	  /* no complete response within timeout */
	UPSTREAM_PROTOCOL_ERROR,  /* malformed response, or larger than UPSTREAM_MAX_RESPONSE */
};

struct upstream_result {
	enum upstream_outcome outcome;
	int status;		   /* HTTP status for UPSTREAM_RESPONSE, else 0 */
	struct evbuffer *body;	   /* response body; the callback may drain/move it */
	struct evkeyvalq *headers; /* response headers; empty unless UPSTREAM_RESPONSE */
	char detail[160];	   /* for logs: "connection refused", ... never a secret */
};

/* Called exactly once per call unless the call was cancelled. */
typedef void (*upstream_done_cb)(const struct upstream_result *res, void *arg);

struct upstream_request {
	const char *path;		 /* absolute path, e.g. "/v1/chat/completions" */
	const struct evkeyvalq *headers; /* copied; Host and Content-Length are added */
	const void *body;		 /* copied */
	size_t body_len;
};

/*
 * Creates the pool for one loop. tls[i] is the SSL_CTX of conf->providers[i]
 * (NULL for plain http and in-process providers); contexts and conf are
 * borrowed and must outlive the pool.
 */
struct upstream_pool *upstream_pool_new(struct event_base *base, struct evdns_base *dns, const struct gw_conf *conf,
					SSL_CTX *const *tls, struct err *err);
/* Closes every connection; calls still pending are dropped without callback. */
void upstream_pool_free(struct upstream_pool *p);

/*
 * Sends rq to provider index `provider`. Returns the call handle (owned by
 * the pool until the callback returns or upstream_call_cancel) or NULL with
 * err when the request cannot even be queued (out of memory).
 */
struct upstream_call *upstream_call_start(struct upstream_pool *p, size_t provider, const struct upstream_request *rq,
					  upstream_done_cb cb, void *arg, struct err *err);

/* Abandons a call: no callback follows and the handle is freed. */
void upstream_call_cancel(struct upstream_call *c);

/* "response", "connect_error", ... for logs. */
const char *upstream_outcome_name(enum upstream_outcome o);

#endif
