/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Admin HTTP endpoints (see ex_admin.h). Bodies are tiny except /metrics,
 * which is rendered into a bounded buffer per scrape: a registry that
 * outgrew it answers 500 instead of allocating without limit.
 */
#include "exporter/ex_admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "common/buf.h"
#include "common/log.h"

#define ADMIN_METRICS_MAX (4 * 1024 * 1024)

struct ex_admin {
	struct evhttp *http;
	const struct metrics *reg;
	ex_admin_ready_cb ready;
	void *arg;
	uint16_t port;
};

static void admin_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype, const char *body,
			size_t len)
{
	struct evbuffer *out = evbuffer_new();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	if (out != NULL && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, reason, out);
	if (out != NULL)
		evbuffer_free(out);
}

static void admin_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	admin_reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

static void admin_metrics(struct ex_admin *a, struct evhttp_request *req)
{
	struct buf b;
	buf_init(&b, ADMIN_METRICS_MAX);
	if (metrics_render(a->reg, &b) != 0) {
		log_msg(LOG_LVL_ERROR, "metrics_render_failed", "max_bytes=%d", ADMIN_METRICS_MAX);
		admin_text(req, 500, "Internal Server Error", "metrics too large\n");
	} else {
		admin_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
	}
	buf_fini(&b);
}

static void admin_readyz(struct ex_admin *a, struct evhttp_request *req)
{
	char why[160] = "", body[192];
	if (a->ready == NULL || a->ready(a->arg, why, sizeof(why))) {
		admin_text(req, 200, "OK", "ready\n");
		return;
	}
	snprintf(body, sizeof(body), "not ready: %s\n", why[0] ? why : "unknown");
	admin_text(req, 503, "Service Unavailable", body);
}

static void admin_handle(struct evhttp_request *req, void *arg)
{
	struct ex_admin *a = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL)
		path = "/";
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		admin_text(req, 405, "Method Not Allowed", "method not allowed\n");
	} else if (strcmp(path, "/healthz") == 0) {
		admin_text(req, 200, "OK", "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		admin_readyz(a, req);
	} else if (strcmp(path, "/metrics") == 0) {
		admin_metrics(a, req);
	} else {
		admin_text(req, 404, "Not Found", "not found (try /healthz, /readyz, /metrics)\n");
	}
}

static uint16_t admin_bound_port(struct evhttp_bound_socket *h)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

struct ex_admin *ex_admin_new(struct event_base *evb, const char *host, uint16_t port, const struct metrics *reg,
			      ex_admin_ready_cb ready, void *arg, struct err *err)
{
	struct ex_admin *a = calloc(1, sizeof(*a));
	if (a == NULL || (a->http = evhttp_new(evb)) == NULL) {
		ex_admin_free(a);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	a->reg = reg;
	a->ready = ready;
	a->arg = arg;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE);
	evhttp_set_max_headers_size(a->http, 16 * 1024);
	evhttp_set_max_body_size(a->http, 4096);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_gencb(a->http, admin_handle, a);
	struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(a->http, host, port);
	if (h == NULL) {
		err_set(err, errno ? errno : EADDRINUSE, "admin: cannot listen on %s:%u: %s", host, port,
			strerror(errno ? errno : EADDRINUSE));
		ex_admin_free(a);
		return NULL;
	}
	a->port = admin_bound_port(h);
	log_msg(LOG_LVL_INFO, "admin_listening", "addr=%s:%u", host, a->port);
	return a;
}

void ex_admin_free(struct ex_admin *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	free(a);
}

uint16_t ex_admin_port(const struct ex_admin *a)
{
	return a->port;
}
