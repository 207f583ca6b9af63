/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream client: HTTP requests from the gateway to providers, with
 * the response delivered as it arrives so SSE streams can be relayed chunk
 * by chunk. Our own HTTP/1.1 (gateway/http_parse.h response parser, the
 * request written with one writev) and HTTP/2 (nghttp2 callbacks API) over
 * one small non-blocking transport, plain TCP or TLS (OpenSSL, contexts
 * from common/tls.h): h2 is negotiated by ALPN on https providers
 * (providers[].http2: auto), never used (off), or spoken in clear text
 * without negotiation on http:// providers (prior_knowledge, h2c).
 *
 * One pool per event loop (worker); nothing here is shared across threads.
 * Per provider the pool keeps keep-alive HTTP/1.1 connections (one request
 * at a time each) and HTTP/2 sessions (many concurrent streams each, up to
 * the server's SETTINGS_MAX_CONCURRENT_STREAMS), at most max_connections
 * of them together; calls beyond that wait in a FIFO whose wait counts
 * against the call's total timeout. An idle connection the server closed
 * is noticed (its read event stays armed) and dropped; a call that fails
 * with EOF/reset before any response byte on a connection that was idle
 * and reused (the keep-alive race), or whose h2 stream the server refused
 * (REFUSED_STREAM, or above a GOAWAY's last stream id: not processed), is
 * retried once on another connection. Idle connections close after
 * pool_idle_timeout.
 *
 * Timeouts per call (gw_provider): connect_timeout (DNS + TCP + TLS of a
 * new connection), first_byte_timeout (request sent on a ready connection
 * -> response head), idle_timeout (between body pieces, 0 = off), timeout
 * (total, from upstream_call_start, queueing included). Each one has its
 * own outcome.
 *
 * Reentrancy contract (what a caller may rely on):
 *   - upstream_call_start() and upstream_call_cancel() never invoke a
 *     callback: every on_head/on_data/on_done runs from an event-loop
 *     callback of the pool (socket, timer or the pool's own deferred
 *     event), never nested inside another upstream callback and never
 *     inside an upstream_* function the caller called.
 *   - Per call: on_head at most once, then on_data zero or more times (in
 *     order, streaming mode only), then on_done exactly once, unless the
 *     call was cancelled first: after upstream_call_cancel() returns,
 *     nothing more is called for that call.
 *   - From inside any callback the caller may start calls, cancel any call
 *     (including the one being called back: from on_head/on_data that
 *     cancels it; from on_done it is a no-op) and free its own state. It
 *     must not call upstream_pool_free().
 *   - The handle is valid from upstream_call_start() until on_done
 *     returns or upstream_call_cancel() returns, whichever is first; the
 *     pool frees the memory later (never inside one of its own callbacks),
 *     so a stale pointer is a bug but never a crash inside this module.
 *   - Pointers passed to callbacks (headers, data, body, detail) are valid
 *     only during that callback; copy what must outlive it.
 * Cancel closes the work at once: an HTTP/1.1 connection is closed (never
 * returned to the pool: the rest of its response is unread), an HTTP/2
 * stream gets RST_STREAM(CANCEL) and the session stays up for the others.
 */
#ifndef LLMGW_GATEWAY_UPSTREAM_H
#define LLMGW_GATEWAY_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/err.h"
#include "gateway/http_parse.h"

struct event_base;
struct evdns_base;
struct gw_conf;
struct metrics;

struct upstream_pool;
struct upstream_call;
struct upstream_metrics;

#define UPSTREAM_MAX_RESPONSE ((size_t)64 << 20) /* buffered body limit (-> UPSTREAM_TOO_LARGE) */
#define UPSTREAM_MAX_HEAD ((size_t)64 << 10)	 /* response head bytes (-> UPSTREAM_TOO_LARGE) */
#define UPSTREAM_MAX_RESP_HEADERS 128u		 /* response header fields (-> UPSTREAM_TOO_LARGE) */
/*
 * ALPN for https provider contexts (wire format). Informational for
 * tls_client_ctx_new(): each connection sets its own list from the
 * provider's http2 mode ("h2,http/1.1" for auto, "http/1.1" for off).
 */
#define UPSTREAM_ALPN "\x02h2\x08http/1.1"

enum upstream_outcome {
	UPSTREAM_OK = 0,	     /* a complete response (any HTTP status) */
	UPSTREAM_CONNECT_ERROR,	     /* DNS failure, refused, unreachable: no connection */
	UPSTREAM_TLS_ERROR,	     /* handshake or certificate/host name verification failed */
	UPSTREAM_CONNECT_TIMEOUT,    /* not connected (DNS + TCP + TLS) within connect_timeout */
	UPSTREAM_FIRST_BYTE_TIMEOUT, /* no response head within first_byte_timeout of sending */
	UPSTREAM_IDLE_TIMEOUT,	     /* no body bytes for idle_timeout */
	UPSTREAM_TOTAL_TIMEOUT,	     /* not complete within timeout (queueing included) */
	UPSTREAM_RESET,		     /* closed/reset after the request was sent: before the head or mid-body */
	UPSTREAM_PROTOCOL_ERROR,     /* malformed HTTP/1.1 or HTTP/2 from the provider */
	UPSTREAM_TOO_LARGE, /* head over UPSTREAM_MAX_HEAD/_HEADERS, buffered body over UPSTREAM_MAX_RESPONSE */
	UPSTREAM__COUNT
};

enum upstream_proto {
	UPSTREAM_PROTO_H1 = 0,
	UPSTREAM_PROTO_H2,
};

/* What on_head decides. */
enum upstream_body_mode {
	UPSTREAM_BODY_BUFFER = 0, /* keep the whole body; on_done gets it (bounded by UPSTREAM_MAX_RESPONSE) */
	UPSTREAM_BODY_STREAM,	  /* hand every piece to on_data as it is read, keep nothing */
};

/* A response head. Header slices are not NUL-terminated; h2 names are lower case. */
struct upstream_head {
	int status; /* final status (1xx are skipped) */
	const struct http_hdr *headers;
	size_t nheaders;
	enum upstream_proto proto;
};

struct upstream_result {
	enum upstream_outcome outcome;
	int status; /* 0 when no response head arrived */
	enum upstream_proto proto;
	/* buffered mode only (else NULL/0): the head's headers and the whole body, NUL-terminated */
	const struct http_hdr *headers;
	size_t nheaders;
	const char *body;
	size_t body_len;
	bool retried;	  /* the request was sent again after a stale connection / refused stream */
	char detail[160]; /* for logs: "connection refused", "no response head within 2000 ms"; never a secret */
};

/*
 * Callbacks (see the reentrancy contract above). on_head may be NULL: the
 * call is then buffered. on_data may be NULL when on_head never asks for
 * streaming. on_done is required.
 */
typedef enum upstream_body_mode (*upstream_head_cb)(struct upstream_call *call, const struct upstream_head *head,
						    void *arg);
typedef void (*upstream_data_cb)(struct upstream_call *call, const char *data, size_t len, void *arg);
typedef void (*upstream_done_cb)(struct upstream_call *call, const struct upstream_result *res, void *arg);

struct upstream_handlers {
	upstream_head_cb on_head;
	upstream_data_cb on_data;
	upstream_done_cb on_done;
};

struct upstream_request {
	const char *method; /* NULL = "POST" */
	const char *path;   /* absolute path (+ query), e.g. "/v1/chat/completions" */
	/*
	 * Copied at start. Host, Content-Length and hop-by-hop fields
	 * (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
	 * Upgrade) are dropped: the client sets Host (:authority on h2) from
	 * the base URL and frames the body itself. Names and values with CR,
	 * LF or NUL are refused.
	 */
	const struct http_hdr *headers;
	size_t nheaders;
	const void *body; /* copied */
	size_t body_len;
};

/*
 * Creates the pool for one loop. tls[i] is the SSL_CTX of conf->providers[i]
 * (NULL for plain http and in-process providers); contexts and conf are
 * borrowed and must outlive the pool. No metrics until
 * upstream_pool_set_metrics().
 */
struct upstream_pool *upstream_pool_new(struct event_base *base, struct evdns_base *dns, const struct gw_conf *conf,
					SSL_CTX *const *tls, struct err *err);
/* Closes every connection; calls not finished are dropped without callback. Not from a callback. */
void upstream_pool_free(struct upstream_pool *p);

/*
 * Starts a request to provider index `provider`. Returns the handle, or
 * NULL with err (no callback follows) for a provider that is not a network
 * provider, a header with CR/LF/NUL, or out of memory. Never calls back
 * from inside this function; the request may wait for a connection.
 */
struct upstream_call *upstream_call_start(struct upstream_pool *p, size_t provider, const struct upstream_request *rq,
					  const struct upstream_handlers *h, void *arg, struct err *err);

/*
 * Abandons a call at any time, also from inside its own on_head/on_data
 * (no-op from its own on_done, after on_done, and on NULL). No callback
 * follows; the connection (h1) or stream (h2) is closed at once.
 */
void upstream_call_cancel(struct upstream_call *call);

/* "ok", "connect_error", "first_byte_timeout", ... (metric labels, span error.type). */
const char *upstream_outcome_name(enum upstream_outcome o);
/* True for the four *_timeout outcomes (the caller answers 504). */
bool upstream_outcome_is_timeout(enum upstream_outcome o);

/*
 * Metrics, registered once at start-up (before workers run) in reg, one
 * series per provider x label value:
 *   llmgw_upstream_connections_open{provider,proto="h1|h2"}  gauge
 *   llmgw_upstream_connects_total{provider,result="ok|error|timeout|tls_error"}
 *   llmgw_upstream_requests_total{provider,outcome=<upstream_outcome_name>|"cancelled"}
 * Shared by all workers' pools (atomic updates). Freed by the caller after
 * every pool using it; NULL with err on failure.
 */
struct upstream_metrics *upstream_metrics_new(struct metrics *reg, const struct gw_conf *conf, struct err *err);
void upstream_metrics_free(struct upstream_metrics *m);
/* Borrowed; m must outlive the pool. NULL turns metrics off. */
void upstream_pool_set_metrics(struct upstream_pool *p, const struct upstream_metrics *m);

#endif
