/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the client connection shared by its two files, by role:
 *   http_conn.c      the state machine: socket events, reading and
 *                    parsing, dispatch and rejects, timeouts, lingering
 *                    close, the connection's life cycle
 *   http_conn_out.c  what a response is on the wire: status line, Date,
 *                    framing (Content-Length, chunked), keep-alive, and
 *                    the write-or-queue of its bytes (with the cork)
 * Not a public interface: only these two files include it. The event
 * helpers both use on every response are static inline here.
 */
#ifndef LLMGW_GATEWAY_HTTP_CONN_INT_H
#define LLMGW_GATEWAY_HTTP_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "gateway/http_conn.h"
#include "gateway/http_parse.h"

enum conn_state {
	CS_READ = 0, /* reading a request (idle when nothing is buffered) */
	CS_BUSY,     /* request handed to the owner, no response yet */
	CS_STREAM,   /* streamed response in progress */
	CS_FLUSH,    /* response complete, output queued: the next request waits */
	CS_CLOSING,  /* last response queued, then shutdown + linger */
	CS_LINGER,   /* write side shut, discarding input until EOF or timeout */
	CS_GONE,     /* socket closed with a request in flight; waiting for the owner */
	CS_DEAD,     /* closed; freed when no longer held */
};

struct http_conn {
	struct http_conn_env *env;
	int fd;
	enum conn_state st;
	struct event *rev, *wev, *tev;
	struct event *fev; /* deferred flush of a streamed response (corked) */
	struct http_parser p;
	char *rbuf;
	size_t rcap, rlen, ppos; /* buffer size, bytes in it, bytes the parser used */
	size_t bstart, blen;	 /* de-chunked body at rbuf + bstart */
	char *wbuf;		 /* queued output, wbuf[wpos..wlen) */
	size_t wcap, wlen, wpos;
	size_t lingered;
	unsigned hold;	  /* callbacks of this module on the stack */
	bool reading;	  /* rev is added */
	bool writing;	  /* wev is added */
	bool timer_req;	  /* the request timeout runs */
	bool keep_alive;  /* the response in progress keeps the connection */
	bool chunked_out; /* streamed response uses chunked encoding */
	bool head_only;	  /* HEAD request: no response body */
	bool must_close;  /* the request was rejected: its framing cannot be trusted */
	bool notify_gone; /* ops->gone is due from the timer event */
	bool resume;	  /* process buffered input from the next read callback */
	bool corked;	  /* stream output queued, fev active: written once the loop's callbacks return */
	void *ctx;
	TAILQ_ENTRY(http_conn) link;
	struct http_hdr hdrs[]; /* lim.max_headers */
};

static inline void set_timer(struct http_conn *c, const struct timeval *tv)
{
	event_add(c->tev, tv);
}

static inline void want_write(struct http_conn *c, bool on)
{
	if (on == c->writing || c->fd < 0)
		return;
	if (on)
		event_add(c->wev, NULL);
	else
		event_del(c->wev);
	c->writing = on;
}

/* ---- http_conn.c: the state machine ------------------------------------------------------ */

/* Peer unreachable for writing or reading: drops the socket, tells the owner or closes. */
void http_conn_peer_gone(struct http_conn *c);
/* The response is out of our hands (written or queued): keep-alive, flush wait or close. */
void http_conn_response_done(struct http_conn *c);
/* Epilogue of calls made by the owner (after c->hold++): frees a closed c, defers the next request. */
void http_conn_owner_unhold(struct http_conn *c);

/* ---- http_conn_out.c: response bytes ----------------------------------------------------- */

/* Writes iov now or queues it (bounded: max_pending_write; cork: after the loop's callbacks). -1: gone. */
int http_conn_send(struct http_conn *c, struct iovec *iov, int n, bool bounded, bool cork);

#endif
