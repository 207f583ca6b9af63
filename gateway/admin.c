/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Admin endpoints on their own address (see admin.h). The same hardened
 * HTTP/1.1 parser and connection code as the API listener, with a route
 * table of three read-only paths and small limits: an admin request has no
 * body worth reading, and a flood of admin connections is capped per
 * worker instead of competing with API clients for file descriptors.
 * Answers are produced synchronously in the request callback, so an admin
 * connection never has a request in flight across loop iterations.
 */
#include "gateway/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/gw.h"
#include "gateway/http_conn.h"
#include "gateway/http_srv.h"
#include "gateway/oai_err.h"

#define ADMIN_MAX_BODY 1024		     /* GET/HEAD only: a body is read and ignored, never large */
#define ADMIN_METRICS_MAX ((size_t)16 << 20) /* as on the API listener */

struct admin {
	struct gw_worker *w;
	int fd;
	struct event *accept_ev;
	struct event *resume_ev; /* re-enables accepting after EMFILE */
	struct http_conn_env conns;
	bool conns_ready;
};

/* ---- answers ----------------------------------------------------------------------------- */

static void reply(struct http_conn *c, int status, const char *ctype, const char *extra, const void *body, size_t len)
{
	char hdrs[256];
	int n = snprintf(hdrs, sizeof(hdrs), "Content-Type: %s\r\nCache-Control: no-store\r\n%s", ctype,
			 extra != NULL ? extra : "");
	http_conn_respond(c, status, hdrs, n > 0 && (size_t)n < sizeof(hdrs) ? (size_t)n : 0, body, len, false);
}

static void reply_text(struct http_conn *c, int status, const char *text)
{
	reply(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

/* The API listener's error shape, so tooling that reads one reads both. */
static void reply_error(struct http_conn *c, enum gw_error e, const char *extra, const char *msg)
{
	const struct oai_err_def *d = oai_err_def(e);
	struct buf b;
	buf_init(&b, 1024);
	if (oai_err_format(&b, msg, d->type, NULL, d->code) < 0)
		buf_reset(&b);
	reply(c, d->status, "application/json", extra, b.data != NULL ? b.data : "", b.len);
	buf_fini(&b);
}

static void h_metrics(struct admin *a, struct http_conn *c)
{
	struct buf out;
	buf_init(&out, ADMIN_METRICS_MAX);
	if (metrics_render(a->w->gw->metrics.reg, &out) < 0)
		reply_text(c, 500, "metrics too large\n");
	else
		reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.data != NULL ? out.data : "",
		      out.len);
	buf_fini(&out);
}

static bool path_is(const struct http_slice *target, size_t len, const char *path)
{
	return strlen(path) == len && memcmp(target->p, path, len) == 0;
}

static void on_request(struct http_conn *c, void *arg)
{
	struct admin *a = arg;
	const struct http_msg *m = http_conn_msg(c);
	const char *q = memchr(m->target.p, '?', m->target.n);
	size_t plen = q != NULL ? (size_t)(q - m->target.p) : m->target.n;
	bool known = path_is(&m->target, plen, "/healthz") || path_is(&m->target, plen, "/readyz") ||
		     path_is(&m->target, plen, "/metrics");

	if (!known) {
		reply_error(c, GWE_NOT_FOUND, NULL,
			    "unknown path; the admin listener serves /healthz, /readyz, /metrics");
	} else if (m->method != HTTP_METHOD_GET && m->method != HTTP_METHOD_HEAD) {
		reply_error(c, GWE_METHOD_NOT_ALLOWED, "Allow: GET, HEAD\r\n", "use GET or HEAD");
	} else if (path_is(&m->target, plen, "/healthz")) {
		reply_text(c, 200, "ok\n");
	} else if (path_is(&m->target, plen, "/readyz")) {
		if (a->w->ready && !a->w->draining)
			reply_text(c, 200, "ready\n");
		else
			reply_text(c, 503, "not ready\n");
	} else {
		h_metrics(a, c);
	}
}

/* why is a static phrase of the parser, never bytes of the input. */
static void on_reject(struct http_conn *c, int status, const char *why, bool head_done, void *arg)
{
	(void)head_done;
	(void)arg;
	reply_error(c, oai_err_for_reject(status), NULL, why);
}

/* Answers are synchronous: a gone client never has a request of ours in flight; let go anyway. */
static void on_gone(struct http_conn *c, void *arg)
{
	(void)arg;
	http_conn_release(c);
}

static void on_closed(void *arg)
{
	(void)arg;
}

static const struct http_conn_ops admin_ops = {
    .request = on_request,
    .reject = on_reject,
    .gone = on_gone,
    .closed = on_closed,
};

/* ---- listening --------------------------------------------------------------------------- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin *a = arg;
	(void)fd;
	(void)what;
	event_add(a->accept_ev, NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct admin *a = arg;
	const int one = 1;
	(void)what;
	for (int i = 0; i < 16; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: pause instead of spinning on a ready listener */
				const struct timeval tv = {0, 100 * 1000};
				event_del(a->accept_ev);
				evtimer_add(a->resume_ev, &tv);
			}
			return;
		}
		if (a->conns.nconns >= ADMIN_MAX_CONNS) {
			close(fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		http_conn_new(&a->conns, fd); /* closes fd itself when out of memory */
	}
}

struct admin *admin_new(struct gw_worker *w, struct err *err)
{
	const struct gw_conf *c = w->gw->conf;
	/* the API listener's header limits; a tiny body bound (nothing here takes one) */
	const struct http_limits lim = {HTTP_PARSE_MAX_LINE_DEFAULT, (size_t)c->max_header_bytes, c->max_headers,
					ADMIN_MAX_BODY};
	struct admin *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	a->w = w;
	a->fd = -1;
	if (http_conn_env_init(&a->conns, w->base, &admin_ops, a, &lim, c->request_timeout_ms, c->idle_timeout_ms,
			       c->write_timeout_ms, (size_t)c->max_pending_write) < 0) {
		err_set(err, ENOMEM, "admin: cannot set up connection timeouts");
		goto fail;
	}
	a->conns_ready = true;
	if ((a->fd = http_srv_listen(c->admin_host, c->admin_port, 64, err)) < 0) {
		char why[sizeof(err->msg)];
		snprintf(why, sizeof(why), "%s", err->msg);
		err_set(err, err->code, "admin: %s", why);
		goto fail;
	}
	a->accept_ev = event_new(w->base, a->fd, EV_READ | EV_PERSIST, accept_cb, a);
	a->resume_ev = evtimer_new(w->base, resume_cb, a);
	if (a->accept_ev == NULL || a->resume_ev == NULL || event_add(a->accept_ev, NULL) < 0) {
		err_set(err, ENOMEM, "admin: cannot watch the listening socket");
		goto fail;
	}
	return a;
fail:
	admin_free(a);
	return NULL;
}

void admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->accept_ev != NULL)
		event_free(a->accept_ev);
	if (a->resume_ev != NULL)
		event_free(a->resume_ev);
	if (a->fd >= 0)
		close(a->fd);
	if (a->conns_ready)
		http_conn_env_fini(&a->conns);
	free(a);
}
