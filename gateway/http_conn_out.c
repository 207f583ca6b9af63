/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response side of a client connection (the state machine is
 * http_conn.c; what both share is http_conn_int.h): the status line with
 * a Date cached per second, the framing lines (Content-Length, chunked
 * transfer encoding for streams on HTTP/1.1, close-delimited on 1.0), the
 * keep-alive decision and its Connection line, and http_conn_send, which
 * writes a response's iovec at once when nothing is queued and queues the
 * rest (bounded for streams, corked so one loop iteration's events leave
 * in one write). Everything is formatted into stack buffers and sent with
 * one writev: no allocation while the socket keeps up.
 */
#include "gateway/http_conn_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <event2/event.h>

static size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t put(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}
#define PUTS(out, lit) put((out), (lit), sizeof(lit) - 1)

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", formatted once per second per worker. */
static const char *date_line(struct http_conn_env *env)
{
	time_t now = time(NULL);
	if (now != env->date_sec) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(env->date, sizeof(env->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		env->date_sec = now;
	}
	return env->date;
}

static int wbuf_append(struct http_conn *c, const struct iovec *iov, int n, size_t skip)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	total -= skip;
	if (c->wpos > 0 && c->wpos == c->wlen)
		c->wpos = c->wlen = 0;
	if (c->wlen + total > c->wcap) {
		size_t live = c->wlen - c->wpos, cap = c->wcap > 0 ? c->wcap : 4096;
		while (cap < live + total)
			cap *= 2;
		char *nb = malloc(cap);
		if (nb == NULL)
			return -1;
		if (live > 0)
			memcpy(nb, c->wbuf + c->wpos, live);
		free(c->wbuf);
		c->wbuf = nb;
		c->wcap = cap;
		c->wpos = 0;
		c->wlen = live;
	}
	for (int i = 0; i < n; i++) {
		const char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(c->wbuf + c->wlen, p + skip, len - skip);
		c->wlen += len - skip;
		skip = 0;
	}
	return 0;
}

/*
 * Writes iov now if nothing is queued, queues the rest. bounded: refuse
 * (-1) past max_pending_write. -1 also when the socket is dead.
 *
 * cork (streamed responses): queue instead of writing, and write once the
 * event loop has run the callbacks now active (on_flush, activated, not
 * timed). A provider's read usually holds the head, many events and the
 * end: written one by one they cost a syscall and a wakeup of the client
 * each, and together one; nothing waits for later input.
 */
int http_conn_send(struct http_conn *c, struct iovec *iov, int n, bool bounded, bool cork)
{
	size_t total = 0, done = 0;
	if (c->fd < 0)
		return -1;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (cork && (c->wlen == c->wpos || c->corked)) {
		if (bounded && (c->wlen - c->wpos) + total > c->env->max_pending_write) {
			http_conn_peer_gone(c);
			return -1;
		}
		if (wbuf_append(c, iov, n, 0) < 0) {
			http_conn_peer_gone(c);
			return -1;
		}
		if (!c->corked) {
			c->corked = true;
			event_active(c->fev, 0, 1);
		}
		return 0;
	}
	if (c->wlen == c->wpos) {
		ssize_t w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				http_conn_peer_gone(c);
				return -1;
			}
			w = 0;
		}
		done = (size_t)w;
		if (done == total)
			return 0;
	}
	if (bounded && (c->wlen - c->wpos) + (total - done) > c->env->max_pending_write) {
		http_conn_peer_gone(c);
		return -1;
	}
	if (wbuf_append(c, iov, n, done) < 0) {
		http_conn_peer_gone(c);
		return -1;
	}
	want_write(c, true);
	if (!c->timer_req)
		set_timer(c, c->env->write_timeout);
	return 0;
}

/* ---- responses ------------------------------------------------------------------------- */

/* Status line + framing lines into out (>= 160 bytes); the owner's lines go between. */
static size_t status_line(struct http_conn *c, char *out, int status)
{
	size_t n = PUTS(out, "HTTP/1.1 ");
	const char *reason = http_parse_reason(status);
	n += fmt_u64(out + n, (uint64_t)(status >= 100 && status <= 999 ? status : 500));
	out[n++] = ' ';
	n += put(out + n, reason, strlen(reason));
	n += PUTS(out + n, "\r\n");
	const char *d = date_line(c->env);
	n += put(out + n, d, strlen(d));
	return n;
}

/* Decides keep-alive for the response and writes the Connection line when one is needed. */
static size_t connection_line(struct http_conn *c, char *out, bool close)
{
	const struct http_msg *m = &c->p.msg;
	c->keep_alive = !close && !c->must_close && c->p.head_done && m->keep_alive && !c->env->draining;
	if (!c->keep_alive)
		return PUTS(out, "Connection: close\r\n");
	if (m->minor_version == 0)
		return PUTS(out, "Connection: keep-alive\r\n");
	return 0;
}

void http_conn_respond(struct http_conn *c, int status, const char *hdrs, size_t hlen, const void *body, size_t blen,
		       bool close)
{
	char head[256], tail[96];
	size_t hn, tn = 0;
	if (c->st == CS_GONE || c->fd < 0) {
		http_conn_release(c);
		return;
	}
	c->hold++;
	hn = status_line(c, head, status);
	tn += PUTS(tail, "Content-Length: ");
	tn += fmt_u64(tail + tn, blen);
	tn += PUTS(tail + tn, "\r\n");
	tn += connection_line(c, tail + tn, close);
	tn += PUTS(tail + tn, "\r\n");
	struct iovec iov[4] = {{head, hn},
			       {(void *)(uintptr_t)hdrs, hlen},
			       {tail, tn},
			       {(void *)(uintptr_t)body, c->head_only ? 0 : blen}};
	c->st = CS_BUSY;
	if (http_conn_send(c, iov, 4, false, false) == 0)
		http_conn_response_done(c);
	else if (c->st == CS_GONE)
		http_conn_release(c);
	http_conn_owner_unhold(c);
}

int http_conn_stream_head(struct http_conn *c, int status, const char *hdrs, size_t hlen)
{
	char head[256], tail[96];
	size_t hn, tn = 0;
	if (c->st != CS_BUSY || c->fd < 0)
		return -1;
	hn = status_line(c, head, status);
	c->chunked_out = c->p.msg.minor_version == 1;
	if (c->chunked_out)
		tn += PUTS(tail, "Transfer-Encoding: chunked\r\n");
	tn += connection_line(c, tail + tn, !c->chunked_out);
	tn += PUTS(tail + tn, "\r\n");
	struct iovec iov[3] = {{head, hn}, {(void *)(uintptr_t)hdrs, hlen}, {tail, tn}};
	c->st = CS_STREAM;
	return http_conn_send(c, iov, 3, false, true);
}

int http_conn_stream_data(struct http_conn *c, const void *p, size_t n)
{
	char size[24];
	size_t sn = 0;
	if (c->st != CS_STREAM || c->fd < 0)
		return -1;
	if (n == 0 || c->head_only)
		return 0;
	if (c->chunked_out) {
		static const char hex[] = "0123456789abcdef";
		char tmp[20];
		size_t k = 0;
		size_t v = n;
		do {
			tmp[k++] = hex[v & 15];
			v >>= 4;
		} while (v > 0);
		while (k > 0)
			size[sn++] = tmp[--k];
		size[sn++] = '\r';
		size[sn++] = '\n';
	}
	struct iovec iov[3] = {
	    {size, sn}, {(void *)(uintptr_t)p, n}, {(void *)(uintptr_t) "\r\n", c->chunked_out ? 2 : 0}};
	return http_conn_send(c, iov, 3, true, true);
}

void http_conn_stream_end(struct http_conn *c)
{
	if (c->st != CS_STREAM || c->fd < 0) {
		http_conn_release(c);
		return;
	}
	c->hold++;
	int rc = 0;
	if (c->chunked_out && !c->head_only) {
		struct iovec iov[1] = {{(void *)(uintptr_t) "0\r\n\r\n", 5}};
		rc = http_conn_send(c, iov, 1, false, true);
	}
	c->st = CS_BUSY;
	if (rc == 0)
		http_conn_response_done(c);
	else if (c->st == CS_GONE)
		http_conn_release(c);
	http_conn_owner_unhold(c);
}
