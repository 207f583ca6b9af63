/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the upstream client shared by its four files, by role:
 *   upstream.c       pool, targets, call lifecycle, timers, FIFO, metrics
 *   upstream_conn.c  transport: DNS, non-blocking connect, TLS, read/write
 *   upstream_h1.c    HTTP/1.1 on a connection (one call at a time)
 *   upstream_h2.c    HTTP/2 session on a connection (many streams)
 * Not a public interface: only these files include it (and the unit tests).
 *
 * Object lifetimes. A call is owned by the pool from start until it is
 * freed by the pool's deferred maintenance event; "done" and "cancelled"
 * calls sit on the pool's dead list until then, so a pointer held up the
 * stack (a read loop that just called back into the caller) stays valid
 * until the loop returns to libevent. Connections work the same way: a
 * dead connection has its socket closed at once and its memory (SSL,
 * nghttp2 session, buffers) freed later from the graveyard.
 */
#ifndef LLMGW_GATEWAY_UPSTREAM_INT_H
#define LLMGW_GATEWAY_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "gateway/gw_conf.h"
#include "gateway/http_parse.h"
#include "gateway/upstream.h"

struct evdns_getaddrinfo_request;
struct evutil_addrinfo;
struct up_h2;
struct up_target;

#define UP_IN_CHUNK ((size_t)16 << 10)		    /* read size and initial input buffer */
#define UP_IN_MAX (UPSTREAM_MAX_HEAD + UP_IN_CHUNK) /* largest input buffer (a whole head must fit) */
#define UP_ATTEMPT_MS 1000	   /* per address while more are left: a black-holed one must not eat connect_timeout */
#define UP_H2_MAX_STREAMS 1000u	   /* our own cap per session */
#define UP_H2_INITIAL_STREAMS 100u /* assumed until the server's SETTINGS arrive */
#define UP_H2_CONN_WINDOW ((int32_t)16 << 20)		    /* connection receive window */
#define UP_H2_STREAM_WINDOW ((int32_t)4 << 20)		    /* per-stream receive window */
#define UP_H2_MAX_HEADER_LIST ((uint32_t)UPSTREAM_MAX_HEAD) /* SETTINGS_MAX_HEADER_LIST_SIZE */

/* Growable byte buffer with a read offset: bytes [off, len) are pending. */
struct up_iobuf {
	char *data;
	size_t off;
	size_t len;
	size_t cap;
};

enum up_proto_known {
	UP_PROTO_UNKNOWN = 0, /* https + http2 auto, before the first ALPN answer */
	UP_PROTO_H1,
	UP_PROTO_H2,
};

enum up_conn_state {
	UPC_START = 0,	/* created; DNS starts from its own event */
	UPC_RESOLVING,	/* evdns_getaddrinfo in flight */
	UPC_CONNECTING, /* non-blocking connect in flight */
	UPC_HANDSHAKE,	/* TLS handshake */
	UPC_READY,	/* usable: proto decided */
	UPC_DEAD,	/* socket closed; waiting in the graveyard */
};

enum call_state {
	CALL_QUEUED = 0, /* in the target's FIFO */
	CALL_PENDING,	 /* bound to a connection that is still connecting */
	CALL_ACTIVE,	 /* request sent (or being sent) on a ready connection */
	CALL_DONE,	 /* outcome delivered or being delivered */
	CALL_CANCELLED,
};

/* Connect results for llmgw_upstream_connects_total. */
enum up_connect_result {
	UP_CONNECT_OK = 0,
	UP_CONNECT_ERROR,
	UP_CONNECT_TIMEOUT,
	UP_CONNECT_TLS_ERROR,
	UP_CONNECT__COUNT
};

TAILQ_HEAD(up_call_list, upstream_call);
TAILQ_HEAD(up_conn_list, up_conn);

struct up_conn {
	struct up_target *t;
	enum up_conn_state state;
	enum up_proto_known proto; /* UP_PROTO_H1/H2 once READY */
	int fd;
	SSL *ssl;	  /* NULL for plain http */
	struct event rev; /* EV_READ|EV_PERSIST, added once connected, kept while open */
	struct event wev; /* EV_WRITE, added only while output is stuck or connecting */
	struct event tev; /* connect deadline, then the pool idle timer */
	bool wev_added;
	bool tev_added;
	bool read_wants_write; /* SSL_read said WANT_WRITE */
	bool write_wants_read; /* SSL_write said WANT_READ */
	bool counted_open;     /* in the connections_open gauge */
	bool in_idle;	       /* h1: on the target's idle list */
	int io_err;	       /* a write failed: handled from the write event */
	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo *ai;	 /* resolved addresses (freed in conn_free) */
	struct evutil_addrinfo *ai_next; /* next one to try */
	uint64_t idle_since_ns;		 /* when it last had no request */
	uint64_t connect_deadline_ns;	 /* DNS + TCP + TLS must be done by then */
	unsigned served;		 /* responses completed on it */
	struct up_iobuf in;
	struct up_iobuf out;
	struct up_call_list pending; /* calls waiting for this connection to become READY */
	unsigned npending;
	/* h1 */
	struct upstream_call *call;
	struct http_parser hp;
	struct http_hdr hdrs[UPSTREAM_MAX_RESP_HEADERS];
	struct buf head; /* request head scratch, reused */
	/* h2 */
	struct up_h2 *h2;
	struct up_call_list streams; /* calls active on the session */
	unsigned nstreams;
	bool goaway;		   /* no new streams (GOAWAY received or stream ids exhausted) */
	TAILQ_ENTRY(up_conn) link; /* h1 idle list, or the pool's graveyard */
	TAILQ_ENTRY(up_conn) all;  /* the target's live connections */
};

struct upstream_call {
	struct upstream_pool *pool;
	struct up_target *t;
	struct up_conn *conn; /* PENDING and ACTIVE */
	enum call_state state;
	struct upstream_handlers h;
	void *arg;
	bool stream_mode;
	bool got_byte;	   /* any response byte (h1) / frame (h2) for this request */
	bool on_idle_conn; /* dispatched on a reused connection that had no other request */
	bool in_done;	   /* on_done running: cancel is a no-op */
	int32_t stream_id; /* h2 */
	uint64_t start_ns, sent_ns, last_rx_ns, deadline_ns; /* monotonic */
	struct event timer;
	/* request, one allocation after the struct */
	const char *method;
	const char *path;
	struct http_hdr *qhdrs;
	size_t nqhdrs;
	const char *body;
	size_t body_len;
	size_t body_sent; /* h2 data provider position */
	/* response */
	struct upstream_result res;
	struct buf rbody;		 /* buffered body */
	struct buf rhead;		 /* copied header bytes (buffered h1, every h2 head) */
	struct http_hdr *rhdrs;		 /* into rhead once complete */
	size_t *rhdr_off;		 /* h2: name/value offsets while headers arrive (4 per field) */
	size_t nrhdrs, rhdr_cap;	 /* fields */
	int h2_status;			 /* :status of the head being received */
	int h2_fail;			 /* outcome decided inside a callback, reported at stream close (0 = none) */
	bool h2_unsent;			 /* our HEADERS never left: the server never saw the request */
	TAILQ_ENTRY(upstream_call) link; /* FIFO, conn pending list or pool dead list */
	TAILQ_ENTRY(upstream_call) all;	 /* pool's live calls */
};

struct up_target {
	struct upstream_pool *pool;
	size_t index;
	const struct gw_provider *prov;
	SSL_CTX *tls;
	enum up_proto_known proto; /* what connections speak (H1 for http, H2 for prior knowledge) */
	struct up_conn_list idle;  /* h1, most recently used first */
	struct up_conn_list conns; /* every live connection */
	struct up_call_list waiting;
	unsigned nconns; /* live connections, connecting ones included */
	unsigned nconnecting;
	uint32_t h2_limit; /* streams per session: the server's last SETTINGS_MAX_CONCURRENT_STREAMS */
};

struct upstream_pool {
	struct event_base *base;
	struct evdns_base *dns;
	const struct upstream_metrics *m;
	struct up_target *targets;
	size_t ntargets;
	struct up_conn_list graveyard;
	struct up_call_list calls; /* live */
	struct up_call_list dead;  /* done/cancelled, freed by maint */
	struct event *maint;	   /* frees the dead, pumps targets */
	bool maint_pending;
};

/* ---- upstream.c: calls, targets, metrics ---------------------------------- */

void up_pool_kick(struct upstream_pool *p);
/*
 * The call got its response head (len_hint: Content-Length when known, else
 * 0). Returns -1 if the call is gone afterwards (cancelled in on_head).
 */
int up_call_head(struct upstream_call *c, int status, const struct http_hdr *h, size_t n, enum upstream_proto proto,
		 uint64_t len_hint);
/* One body piece. -1 if the call ended (cancelled, too large) during it. */
int up_call_data(struct upstream_call *c, const char *p, size_t n);
/* Ends the call (detached from its connection by the caller) and calls on_done. */
void up_call_finish(struct upstream_call *c, enum upstream_outcome o, const char *detail);
/* Back to the front of the FIFO for one more try (stale connection, refused stream). */
void up_call_retry(struct upstream_call *c);
/* The connection this call waits on (PENDING) failed to connect. */
void up_call_conn_failed(struct upstream_call *c, enum upstream_outcome o, const char *detail);
/* Called when a connection becomes READY or leaves a target: re-examines the FIFO. */
void up_target_conn_ready(struct up_target *t, struct up_conn *c);
void up_metric_conn_open(const struct up_target *t, enum up_proto_known proto, int delta);
void up_metric_connect(const struct up_target *t, enum up_connect_result r);

/* Re-arms the call timer for its current phase. */
void up_call_rearm(struct upstream_call *c);

/* ---- upstream_conn.c: transport ------------------------------------------- */

/* A new connection for t; connecting starts from its own event (never calls back from here). */
struct up_conn *up_conn_new(struct up_target *t);
/*
 * Sends iov: written now as far as the socket takes it, the rest queued.
 * Never fails synchronously: a write error is handled from the connection's
 * write event (so the caller never sees its own callbacks run inside).
 */
void up_conn_send(struct up_conn *c, const struct iovec *iov, int n);
/* Appends to the output buffer without writing (h2 batches frames), then up_conn_flush(). */
void up_conn_queue(struct up_conn *c, const void *p, size_t n);
void up_conn_flush(struct up_conn *c);
/* Fails c from its own write event (for errors found where callbacks must not run). */
void up_conn_defer_error(struct up_conn *c, int err);
/* Closes the socket now and moves c to the graveyard (memory freed later). No callbacks. */
void up_conn_close(struct up_conn *c);
/* Fails the connection: closes it, then fails/retries every call on it. */
void up_conn_fail(struct up_conn *c, enum upstream_outcome o, const char *detail, bool eof_or_reset);
/* c has no request now: arm the lazy pool idle timer. */
void up_conn_idle(struct up_conn *c);
/* Frees a closed connection (from the graveyard). */
void up_conn_free(struct up_conn *c);
int up_iobuf_reserve(struct up_iobuf *b, size_t n, size_t max);
void up_iobuf_fini(struct up_iobuf *b);

/* ---- upstream_h1.c -------------------------------------------------------- */

/* Sends call c on idle h1 connection conn. */
void up_h1_dispatch(struct up_conn *conn, struct upstream_call *c);
/* Bytes arrived in conn->in. */
void up_h1_input(struct up_conn *conn);
/* The peer closed (EOF). */
void up_h1_eof(struct up_conn *conn);
/* Cancel/timeout of the active call: the connection cannot be reused. */
void up_h1_abort(struct up_conn *conn);
/* The ready connection died (error, reset): fail or retry its call. */
void up_h1_conn_lost(struct up_conn *conn, enum upstream_outcome o, const char *detail, bool eof_or_reset);

/* ---- upstream_h2.c -------------------------------------------------------- */

/* Creates the nghttp2 session and queues the preface + SETTINGS. -1 on ENOMEM. */
int up_h2_start(struct up_conn *conn);
void up_h2_free(struct up_conn *conn);
/* True if conn can take one more stream now. */
bool up_h2_has_room(const struct up_conn *conn);
/* Opens a stream for c. -1 if the session cannot take it (c untouched). */
int up_h2_dispatch(struct up_conn *conn, struct upstream_call *c);
/* Bytes arrived in conn->in. */
void up_h2_input(struct up_conn *conn);
/* Writes what the session has queued (deferred while inside the session's own input). */
void up_h2_flush(struct up_conn *conn);
/* The pool idle timer: say GOAWAY and close. */
void up_h2_shutdown(struct up_conn *conn);
/* RST_STREAM(CANCEL) for c's stream and detach c (cancel, timeout). */
void up_h2_abort(struct up_conn *conn, struct upstream_call *c);
/* The connection died: fail or retry every stream on it. */
void up_h2_conn_lost(struct up_conn *conn, enum upstream_outcome o, const char *detail, bool eof_or_reset);

#endif
