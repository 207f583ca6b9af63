/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One client HTTP/1.1 connection on a worker's event loop: non-blocking
 * reads into one buffer per connection, parsing with gateway/http_parse
 * (zero-copy: the request head and body stay in that buffer), dispatch of
 * one request at a time (pipelined requests are answered in order),
 * responses written with writev and queued only when the socket is full
 * (back-pressure: the next request is not read until the previous answer
 * is out), keep-alive, and the timeouts that stop a slow or idle client
 * from holding a worker: request (first byte to complete request -> 408),
 * idle keep-alive (closed silently), write (no progress -> closed).
 *
 * While a request is in flight the connection keeps reading, so a client
 * that closes or resets is noticed at once and reported (ops->gone, from a
 * fresh loop iteration) instead of at the next write.
 *
 * The owner (gateway/http_srv) supplies the callbacks and formats header
 * lines; this module owns the socket and frees the connection itself once
 * it is closed and no request refers to it.
 */
#ifndef LLMGW_GATEWAY_HTTP_CONN_H
#define LLMGW_GATEWAY_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include "gateway/http_parse.h"

struct event_base;
struct http_conn;
struct metric;

/* Callbacks into the owner; each runs from a loop callback of this module. */
struct http_conn_ops {
	/* A complete request (http_conn_msg, http_conn_body). Answer with http_conn_respond or stream_*. */
	void (*request)(struct http_conn *c, void *arg);
	/*
	 * The request cannot be served: status is 400, 408, 413, 414, 417, 431,
	 * 501 or 505, why a static phrase; http_conn_msg is valid when
	 * head_done. Answer with http_conn_respond (the connection then closes)
	 * or return without answering (it closes at once).
	 */
	void (*reject)(struct http_conn *c, int status, const char *why, bool head_done, void *arg);
	/* The client went away while a request was in flight; the owner must http_conn_release it. */
	void (*gone)(struct http_conn *c, void *arg);
	/* A connection was freed (bookkeeping only). */
	void (*closed)(void *arg);
};

TAILQ_HEAD(http_conn_list, http_conn);

/* The timeouts that end a connection, each counted when the owner gave a counter for it. */
enum http_conn_timeout {
	HTTP_CONN_TIMEOUT_REQUEST = 0, /* request not complete in time: 408, then closed */
	HTTP_CONN_TIMEOUT_IDLE,	       /* no request on a new or keep-alive connection: closed silently */
	HTTP_CONN_TIMEOUT_WRITE,       /* the client did not read our output: closed */
	HTTP_CONN_TIMEOUT__COUNT,
};

/* Shared by all connections of one worker (one thread); outlives them. */
struct http_conn_env {
	struct event_base *base;
	const struct http_conn_ops *ops;
	void *arg;
	struct http_limits lim;
	const struct timeval *request_timeout; /* common timeouts of base */
	const struct timeval *idle_timeout;
	const struct timeval *write_timeout;
	const struct timeval *linger_timeout;
	size_t max_pending_write; /* bound on queued streaming output */
	bool draining;		  /* every response closes its connection */
	/* the owner's timeout counters (NULL: not counted), set after http_conn_env_init */
	struct metric *timeouts[HTTP_CONN_TIMEOUT__COUNT];
	struct http_conn_list conns;
	size_t nconns;
	char **pool; /* free read buffers of HTTP_CONN_RBUF bytes */
	size_t npool;
	time_t date_sec;
	char date[40]; /* "Date: ...\r\n" */
};

#define HTTP_CONN_RBUF ((size_t)16 << 10)

/*
 * Prepares env on base; timeouts in ms (request, idle keep-alive, write);
 * max_pending_write bytes. -1 when libevent refuses the timeouts.
 */
int http_conn_env_init(struct http_conn_env *env, struct event_base *base, const struct http_conn_ops *ops, void *arg,
		       const struct http_limits *lim, int64_t request_ms, int64_t idle_ms, int64_t write_ms,
		       size_t max_pending_write);
/* Closes every connection (no callbacks but closed) and frees the buffer pool. */
void http_conn_env_fini(struct http_conn_env *env);

/* Adopts an accepted non-blocking socket and starts reading. NULL (fd closed) when out of memory. */
struct http_conn *http_conn_new(struct http_conn_env *env, int fd);

/* Owner's pointer for the request in flight. */
void http_conn_set_ctx(struct http_conn *c, void *ctx);
void *http_conn_ctx(const struct http_conn *c);

/* The request head (valid from ops->request until the response is complete). */
const struct http_msg *http_conn_msg(const struct http_conn *c);
/* The de-chunked body; NULL with *len 0 when empty. */
const char *http_conn_body(const struct http_conn *c, size_t *len);
/* True once the peer is known to be gone (a respond would be discarded). */
bool http_conn_gone(const struct http_conn *c);

/*
 * Sends a whole response: status line, the owner's header lines hdrs[hlen]
 * ("Name: value\r\n"...), Date, Content-Length, Connection when needed, and
 * body (nothing for HEAD requests). close forces Connection: close. The
 * request is then complete: the connection goes on with the next request
 * (keep-alive) or closes once the response is out. c must not be used by
 * the caller afterwards.
 */
void http_conn_respond(struct http_conn *c, int status, const char *hdrs, size_t hlen, const void *body, size_t blen,
		       bool close);
/* Starts a streamed response (chunked for HTTP/1.1, close-delimited for 1.0). -1 if gone. */
int http_conn_stream_head(struct http_conn *c, int status, const char *hdrs, size_t hlen);
/* One chunk; -1 if the client is gone or too slow (the socket is then closed). */
int http_conn_stream_data(struct http_conn *c, const void *p, size_t n);
/* Ends the streamed response; like http_conn_respond for what follows. */
void http_conn_stream_end(struct http_conn *c);
/* The owner lets go of a request without a (complete) response: the connection is closed. */
void http_conn_release(struct http_conn *c);

/* Drain: closes connections that are idle between requests; the rest close after their response. */
void http_conn_env_close_idle(struct http_conn_env *env);

#endif
