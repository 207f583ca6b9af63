/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the otlp_http sink, shared by its four files, by role:
 *   send.c      the sink: requests, pool policy, timers, completion, logging
 *   send_conn.c connections: DNS, TCP, TLS with ALPN, bufferevent callbacks
 *   send_h1.c  HTTP/1.1 on a connection: the request bytes and a bounded,
 *              incremental, socket-free response reader (struct send_h1;
 *              one request at a time)
 *   send_h2.c  HTTP/2 on a connection (nghttp2): many streams at once
 * Not a public interface: only these files (and their unit and fuzz tests) include it.
 *
 * Lifetimes. A request (struct send_req) lives from submit until its done
 * callback has returned (or cancel). Finishing a request never calls done
 * directly: it parks the request on the sink's `completed` list and wakes
 * the reap event, which calls done from a clean stack. So done can submit,
 * and cancel, without any connection or nghttp2 code below it on the
 * stack. Connections work the same way: a closed connection goes to the
 * graveyard with its events disabled and is freed by the reap event, never
 * inside its own callback (nor inside nghttp2_session_mem_recv).
 */
#ifndef LLMGW_EXPORTER_SEND_INT_H
#define LLMGW_EXPORTER_SEND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "exporter/sink.h"

#define SEND_IDLE_MAX_NS (30ull * 1000000000) /* below the usual 60 s LB idle timeout */
#define SEND_HEAD_MAX (64u * 1024)	      /* HTTP/1.1 response head (status line + fields) */
#define SEND_H2_ASSUMED_STREAMS 100u	      /* until the server's SETTINGS say otherwise (RFC 9113 minimum advice) */
#define SEND_H2_OUT_HIGH (256u * 1024)	      /* stop producing HTTP/2 frames while this much is unsent */
#define SEND_H2_WINDOW ((int32_t)1 << 20)     /* our receive window: responses are small */

enum send_proto {
	SEND_PROTO_UNKNOWN = 0, /* https + http2, before ALPN has answered */
	SEND_PROTO_H1,
	SEND_PROTO_H2,
};

enum send_conn_state {
	SCONN_CONNECTING = 0, /* DNS, TCP, TLS */
	SCONN_READY,	      /* protocol known, usable */
	SCONN_DEAD,	      /* closed; in the graveyard until the reap event frees it */
};

/* HTTP/1.1 response reader states. */
enum send_h1_state {
	H1_IDLE = 0,   /* no request on the connection */
	H1_HEAD,       /* status line and header fields */
	H1_BODY_LEN,   /* Content-Length bytes left in h1_left */
	H1_CHUNK_SIZE, /* a chunk-size line */
	H1_CHUNK_DATA, /* h1_left bytes of chunk data */
	H1_CHUNK_END,  /* the CRLF after chunk data */
	H1_TRAILERS,   /* trailer fields up to the empty line */
	H1_BODY_EOF,   /* close-delimited: everything until the server closes */
};

/*
 * The HTTP/1.1 response reader, free of sockets and connections: it takes
 * bytes from an evbuffer (the connection's input, or any buffer a test or
 * the fuzz target fills in slices) and fills a request's status, its two
 * kept fields and its body. Embedded in struct send_conn; plain data, no
 * fini. See send_h1.c for the limits it enforces.
 */
struct send_h1 {
	enum send_h1_state st;
	uint64_t left;	   /* body or chunk bytes still to come */
	size_t head_bytes; /* of the current head (or trailers), against SEND_HEAD_MAX */
	bool http10, close, keepalive, chunked, te, has_len;
	bool reuse; /* after SEND_H1_DONE: the response allows another request on the connection */
};

enum send_h1_rc {
	SEND_H1_MORE = 0, /* took what it could; needs more bytes (or the close, for a close-delimited body) */
	SEND_H1_DONE,	  /* the request holds its whole response; the reader is idle again */
	SEND_H1_BAD,	  /* malformed: the connection cannot go on (*detail says why, a static string) */
};

struct send;
struct send_conn;
struct send_h2;

/* One export attempt. */
struct send_req {
	struct send *s;
	struct send_conn *conn;	    /* NULL while waiting for a connection, and once finished */
	TAILQ_ENTRY(send_req) link; /* s->waiting, conn->reqs or s->completed */
	const struct payload *p;    /* the caller's, unchanged until done */
	sink_done_cb done;
	void *arg;
	struct event *deadline; /* export.timeout for the whole attempt */
	int32_t stream_id;	/* HTTP/2 */
	size_t body_sent;	/* HTTP/2: request bytes handed to nghttp2 */
	bool reused_conn;	/* sent on a connection that had served a response before */
	bool requeued;		/* already sent again once after a stale-connection failure */
	bool got_byte;		/* some response byte arrived */
	bool h2_unsent;		/* HTTP/2: our HEADERS never left (GOAWAY first): safe to send again */
	bool h2_final;		/* HTTP/2: the final (non-1xx) response head arrived */
	uint64_t dispatched_ns; /* when it went on the wire */
	/* the response */
	int status;
	char ctype[64];
	char retry_after[64];
	bool has_ctype, has_retry_after;
	bool too_large; /* body over SEND_RESPONSE_MAX */
	struct buf body;
	struct sink_result res; /* final outcome, for the reap event */
};
TAILQ_HEAD(send_req_list, send_req);

struct send_conn {
	struct send *s;
	struct bufferevent *bev;
	enum send_conn_state state;
	enum send_proto proto;	     /* SEND_PROTO_UNKNOWN while connecting with h2 offered */
	bool offer_h2;		     /* ALPN offered h2 */
	struct event *connect_timer; /* export.timeout for DNS + TCP + TLS */
	TAILQ_ENTRY(send_conn) link; /* s->conns or s->graveyard */
	struct send_req_list reqs;   /* bound: pending (connecting) or on the wire */
	unsigned nreqs;
	uint64_t served;	/* responses completed on it */
	uint64_t idle_since_ns; /* when nreqs last dropped to 0 */
	uint64_t last_read_ns;	/* when bytes last arrived */
	bool reusable;		/* HTTP/1.1: keep-alive after the current response */
	struct send_h1 h1;	/* HTTP/1.1 reader */
	/* HTTP/2 */
	struct send_h2 *h2;
	bool goaway;
};
TAILQ_HEAD(send_conn_list, send_conn);

struct send {
	struct sink base; /* first */
	const struct ex_conf *conf;
	struct event_base *evb;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx;		/* NULL for http:// */
	enum send_proto hint;		/* what ALPN said last: how the next connection will most likely talk */
	unsigned max_inflight;		/* export.concurrency */
	unsigned inflight;		/* submitted, done not yet called */
	struct send_req_list waiting;	/* no connection yet (none free, or an h2 stream limit) */
	struct send_req_list completed; /* finished, done not yet called */
	struct send_conn_list conns;	/* connecting or ready */
	struct send_conn_list graveyard;
	unsigned nconns;
	struct event *reap_ev;
	char user_agent[96];
	char **h2_names; /* configured header names, lower-cased for HTTP/2 */
	size_t nh2_names;
};

/* ---- send.c: what the protocol files call --------------------------------- */

/* The request got its whole response (status and body in r): finish it. */
void send_req_response(struct send_req *r);
/*
 * The request (unbound) ends without a usable response: RETRY with status 0.
 * why is a short static word for the log (timeout, connect_error, ...),
 * detail an optional longer reason (never a secret).
 */
void send_req_failed(struct send_req *r, const char *why, const char *detail);
/* Takes r off its connection (counts, idle time); r->conn becomes NULL. */
void send_req_unbind(struct send_req *r);
/* Puts r back at the head of the waiting list (a request the server never processed). */
void send_req_requeue(struct send_req *r);
/*
 * Closes the connection (idempotent): every request still on it fails with
 * why/detail, except one that went out on a reused keep-alive connection
 * and saw no byte back when the server closed or reset it (eof_or_reset):
 * that one is sent again once on a fresh connection, since the server most
 * likely closed the idle connection just before our request reached it.
 */
void send_conn_close(struct send_conn *c, const char *why, const char *detail, bool eof_or_reset);
/* Runs the pump and the reap from the loop (after a stream slot or connection freed up). */
void send_kick(struct send *s);

/* ---- send_conn.c ------------------------------------------------------------- */

/* Starts a new connection (DNS, TCP, TLS run from the loop) on s->conns. NULL when it cannot even start. */
struct send_conn *send_conn_open(struct send *s);
/* Frees a connection that is dead (or never listed): socket, SSL, nghttp2 session, timer. */
void send_conn_free(struct send_conn *c);
/* Binds r to c: on the wire now when c is ready, else when it becomes ready (or fails with it). */
void send_conn_bind(struct send_conn *c, struct send_req *r);
/* Stores a response header of interest (content-type, retry-after) in r. */
void send_req_header(struct send_req *r, const char *name, size_t nlen, const char *value, size_t vlen);
/* Appends response body bytes (false when over SEND_RESPONSE_MAX: r->too_large is then set). */
bool send_req_body(struct send_req *r, const void *data, size_t len);

/* ---- send_h1.c ------------------------------------------------------------- */

/* Writes r's request on c (which must be idle) and starts reading its response. -1 on ENOMEM. */
int send_h1_dispatch(struct send_conn *c, struct send_req *r);
/* Reads what arrived; completes the request or closes the connection. */
void send_h1_input(struct send_conn *c);
/* The server closed: completes a close-delimited response, else the connection fails. */
void send_h1_eof(struct send_conn *c);
/* Readies p for the response to a request just written. */
void send_h1_start(struct send_h1 *p);
/*
 * Consumes bytes of r's response from in, as many as are there, stopping
 * right after the end of the response (what follows stays in in). Bytes
 * while p is idle are SEND_H1_BAD. A body over SEND_RESPONSE_MAX ends the
 * response early with r->too_large set (and p->reuse false). r's status,
 * fields and body must start empty (as send_req_requeue leaves them).
 */
enum send_h1_rc send_h1_parse(struct send_h1 *p, struct send_req *r, struct evbuffer *in, const char **detail);
/* The server closed after the bytes parsed so far: true when that ends the response (close-delimited body). */
bool send_h1_parse_eof(struct send_h1 *p);

/* ---- send_h2.c ------------------------------------------------------------- */

/* Starts the session (preface, SETTINGS). -1 on ENOMEM. */
int send_h2_start(struct send_conn *c);
void send_h2_free(struct send_conn *c);
/* True when one more stream fits under the server's SETTINGS_MAX_CONCURRENT_STREAMS. */
bool send_h2_has_room(const struct send_conn *c);
/* Opens a stream for r. -1 when nghttp2 refuses (the caller fails r). */
int send_h2_dispatch(struct send_conn *c, struct send_req *r);
/* Feeds what arrived to nghttp2 and writes what it wants to send. */
void send_h2_input(struct send_conn *c);
/* Writes pending frames while the output buffer has room (also from the write callback). */
void send_h2_flush(struct send_conn *c);
/* Queues RST_STREAM for r's stream and unbinds r; the caller flushes (send_h2_flush). */
void send_h2_abort(struct send_conn *c, struct send_req *r);

#endif
