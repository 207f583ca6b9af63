/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client-facing HTTP/1.1 server of one worker: the listening socket
 * (SO_REUSEPORT, one per worker), the connection limit, routing by path
 * and method, virtual-key checks, x-request-id on every response we
 * produce, request metrics, the access log, and the SERVER span emitted
 * when a request ends. Connections themselves (reading, parsing, writing,
 * keep-alive, timeouts) are gateway/http_conn.
 *
 * Handlers (api.h) receive a struct gw_req and finish it exactly once:
 * with one of the http_srv_reply* calls, with http_srv_stream_start +
 * http_srv_stream_write* + http_srv_stream_end, or with http_srv_abandon
 * after the client went away. Each of these finishing calls frees r.
 *
 * Request accessors return data that lives in the connection's read
 * buffer and stays valid until r is finished.
 */
#ifndef LLMGW_GATEWAY_HTTP_SRV_H
#define LLMGW_GATEWAY_HTTP_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/err.h"
#include "gateway/chat_parse.h"
#include "gateway/embed_parse.h"
#include "gateway/gov.h"
#include "gateway/gw.h"
#include "gateway/http_parse.h"
#include "gateway/oai_err.h"
#include "gateway/provider.h"
#include "gateway/router.h"
#include "gateway/span_emit.h"

struct evbuffer;
struct chat_stream;
struct upstream_call;
struct http_route;
struct http_conn;
struct provider_ops;
struct mcp_req;

#define HTTP_SRV_OUT_HDRS_MAX 2048 /* response headers a handler may add (http_srv_add_header) */

struct gw_req;
typedef void (*http_srv_close_cb)(struct gw_req *r, void *arg);
typedef void (*http_srv_header_cb)(const char *name, const char *value, void *arg);

/* One client request, from routing to response. Freed by the finishing calls. */
struct gw_req {
	struct gw_worker *w;
	struct gw_gen *gen; /* the config generation this request runs in (gw_gen.h) */
	const struct http_route *route;
	uint64_t start_mono_ns;
	bool api; /* counted in llmgw_requests_total and traced */
	struct span_req span;
	TAILQ_ENTRY(gw_req) link;

	/* governance (api_call.c): limits charged, settled when r finishes */
	struct gov_call gov;
	struct gov_redis_ticket *gov_ticket; /* a Redis admit in flight */
	void (*gov_cont)(struct gw_req *r);  /* what to do once admitted */
	size_t model_index;		     /* into gen->conf->models; nmodels when unknown */

	/* OpenAI endpoints (api_call.c, the stream relay in api_stream.c): freed or cancelled when r finishes */
	struct chat_request chat;   /* chat and legacy completions */
	struct embed_request embed; /* embeddings */
	const struct gw_target *target;
	size_t provider;
	const struct provider_ops *ops;
	struct provider_chat_in in;    /* the call as providers see it (same for every attempt) */
	struct route_plan plan;	       /* targets tried, attempt count */
	struct route_next next;	       /* the attempt waiting for its backoff */
	struct event *retry_ev;	       /* backoff timer */
	struct buf up_body;	       /* the client body with include_usage spliced in, when needed */
	struct provider_stream *xlate; /* a translating provider's stream state */
	struct buf xlate_out;	       /* its OpenAI SSE output for one piece */
	struct buf relay_out;	       /* what the relay passes on from one piece: one client write */
	struct upstream_call *call;    /* in flight; cancelled if the request is aborted */
	struct chat_stream *relay;     /* a streamed answer's SSE relay */
	uint64_t att_start_mono_ns;    /* the CLIENT span's TTFT counts from here */
	struct span_attempt att;
	struct chat_response_info att_resp;

	struct mcp_req *mcp; /* /mcp/{server} (gateway/mcp.h): freed by mcp_req_end when r finishes */

	/* response cache and guardrails (gateway/api_cache.h, api_guard.h): NULL unless used; freed by api_call_fini */
	struct api_cache_req *cache;
	struct api_guard_req *guard;

	/* private to http_srv */
	struct http_conn *conn; /* NULL once the client is gone */
	const struct http_msg *msg;
	const char *path;  /* NUL-terminated, without the query */
	const char *query; /* after '?', NULL without */
	int stream_status;
	bool aborting;	/* drain deadline: finishing means 503 */
	bool no_span;	/* protocol error before routing */
	bool streaming; /* head sent by http_srv_stream_start */
	bool gone;	/* the client disconnected (or was too slow) before r finished */
	bool gone_notified;
	http_srv_close_cb on_close;
	void *on_close_arg;
	size_t out_hdrs_len;
	char out_hdrs[HTTP_SRV_OUT_HDRS_MAX]; /* "Name: value\r\n"... */
};

/* ---- worker side ---------------------------------------------------------------------- */

/* Opens the worker's listening socket on server.listen (SO_REUSEPORT) and starts accepting. */
/*
 * A non-blocking listening socket on host:port with SO_REUSEPORT (every
 * worker binds the same address and the kernel spreads connections), or
 * -1 with err. The API listener and the admin listener (admin.c) use it.
 */
int http_srv_listen(const char *host, uint16_t port, int backlog, struct err *err);
int http_srv_start(struct gw_worker *w, struct err *err);
/* Stops accepting new connections (drain) and closes idle keep-alive connections. */
void http_srv_stop_accepting(struct gw_worker *w);
/* Answers 503 to every request still in flight and closes every connection (drain deadline). */
void http_srv_abort_all(struct gw_worker *w);
/* Frees everything the server holds (after the loop ended). */
void http_srv_free(struct gw_worker *w);

/* ---- request accessors ---------------------------------------------------------------- */

/* First header value named name (case-insensitive), NUL-terminated, NULL if absent. */
const char *http_srv_header(const struct gw_req *r, const char *name);
/* Calls cb for every request header in order (NUL-terminated strings). */
void http_srv_headers_each(const struct gw_req *r, http_srv_header_cb cb, void *arg);
/* The request headers as slices (also NUL-terminated at name_len/value_len); *n gets the count. */
const struct http_hdr *http_srv_headers(const struct gw_req *r, size_t *n);
/* The request body (already de-chunked), not NUL-terminated; NULL with *len 0 when empty. */
const char *http_srv_body(const struct gw_req *r, size_t *len);
/* "/v1/chat/completions": the path without the query. */
const char *http_srv_path(const struct gw_req *r);
/* The query string after '?' (NUL-terminated), NULL when the target had none. */
const char *http_srv_query(const struct gw_req *r);
/* HTTP_METHOD_GET, ... */
enum http_method http_srv_method(const struct gw_req *r);

/* ---- responses ------------------------------------------------------------------------ */

/*
 * Adds a response header (before the head is sent). Refuses (-1) names that
 * are not tokens, values with CR/LF/NUL, headers the server sets itself
 * (Content-Length, Transfer-Encoding, Connection, Content-Type,
 * x-request-id) and anything past HTTP_SRV_OUT_HDRS_MAX in total.
 */
int http_srv_add_header(struct gw_req *r, const char *name, const char *value);

/*
 * Sends status with body (copied; may be NULL) and content type ctype,
 * then finishes r: metrics, SERVER span, access log, free. Adds
 * x-request-id and, while draining or when the client asked for it,
 * Connection: close. HEAD requests get the length and no body.
 */
void http_srv_reply_body(struct gw_req *r, int status, const char *ctype, const void *body, size_t len);
/* Same with the body in an evbuffer (read, not freed). */
void http_srv_reply(struct gw_req *r, int status, const char *ctype, struct evbuffer *body);
/* Same with a JSON body from memory. */
void http_srv_reply_json(struct gw_req *r, int status, const char *json, size_t len);
/*
 * Answers a gateway error in OpenAI shape: status/type/code from the
 * oai_err table, message from fmt, param may be NULL. Sets the span's
 * error type and counts llmgw_request_errors_total.
 */
void http_srv_reply_error(struct gw_req *r, enum gw_error e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- streaming responses ----------------------------------------------------------------- */

/*
 * Sends the response head now: status, ctype, x-request-id, the headers
 * added so far, Transfer-Encoding: chunked for HTTP/1.1 clients (for
 * HTTP/1.0 the body is delimited by closing the connection), no
 * Content-Length. -1 if the client is already gone (r is not finished:
 * call http_srv_abandon).
 */
int http_srv_stream_start(struct gw_req *r, int status, const char *ctype);
/*
 * Sends n bytes as one chunk, written to the socket at once when it takes
 * them (TCP_NODELAY: no Nagle delay). -1 when the client is gone, or when
 * it reads so slowly that more than server.max_pending_write bytes would be
 * queued: the connection is then closed. After -1 the on_client_close
 * callback is not called; the handler cancels its upstream work and
 * finishes r with http_srv_abandon() (or http_srv_stream_end(), which does
 * the same). n == 0 is a no-op.
 */
int http_srv_stream_write(struct gw_req *r, const void *p, size_t n);
/* Sends the last chunk and finishes r (metrics, span, free). */
void http_srv_stream_end(struct gw_req *r);

/*
 * Registers cb, called once from a fresh event-loop iteration when the
 * client disconnects before r finished (EOF or reset on the connection,
 * seen at once because the connection keeps reading while r is in flight).
 * cb must cancel its upstream work and then call http_srv_abandon(r).
 * Without a callback a late reply to a gone client is simply discarded
 * and r is recorded as 499 client_closed.
 */
void http_srv_on_client_close(struct gw_req *r, http_srv_close_cb cb, void *arg);
/* True once the client is known to be gone. */
bool http_srv_client_gone(const struct gw_req *r);
/*
 * Finishes r without (the rest of) a response: SERVER span with
 * http_status 499 and error_type "client_closed", metrics, free. The
 * connection, if still open, is closed (a response may be half sent).
 */
void http_srv_abandon(struct gw_req *r);

#endif
