/* SPDX-License-Identifier: Apache-2.0 */
/*
 * llmgw-mock: a mock LLM provider for tests and demos.
 *
 *   llmgw-mock --listen 127.0.0.1:PORT [--latency-ms N] [--status N] [--content TEXT]
 *
 * This file owns the process: options, the event loop, the route table and
 * the control endpoints under /_mock/ (requests, stats, reset). Every
 * request outside /_mock/ is recorded first, then its fault plan is worked
 * out (x-mock-status / x-mock-latency-ms headers over the command-line
 * defaults), then it goes to the wire-format handler for its path. Control
 * requests are never recorded, so reading the log does not change it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "common/log.h"
#include "tests/support/mock/mock-t.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_reqlog.h"

#define MOCK_MAX_BODY (16 * 1024 * 1024)
#define MOCK_MAX_LATENCY_MS (10 * 60 * 1000)

/* Wire-format endpoints. Anthropic (/v1/messages), Gemini and embeddings slot in here. */
static const struct route {
	const char *path;
	enum evhttp_cmd_type method;
	mock_handler_cb cb;
} routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, mock_openai_chat},
    {"/v1/models", EVHTTP_REQ_GET, mock_openai_models},
};

static void usage(FILE *f)
{
	fputs("usage: llmgw-mock --listen HOST:PORT [--latency-ms N] [--status N] [--content TEXT]\n"
	      "  Mock OpenAI-compatible provider. Per-request headers: x-mock-latency-ms, x-mock-status,\n"
	      "  x-mock-retry-after. Control: GET /_mock/requests, GET /_mock/stats, POST /_mock/reset.\n",
	      f);
}

/* Parses a decimal integer in [min, max]; -1 on anything else. */
static int parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_listen(const char *s, struct mock_opts *o)
{
	const char *colon = strrchr(s, ':');
	int port;
	if (colon == NULL || (size_t)(colon - s) >= sizeof(o->listen_host) || colon == s ||
	    parse_int(colon + 1, 1, 65535, &port) != 0)
		return -1;
	memcpy(o->listen_host, s, (size_t)(colon - s));
	o->listen_host[colon - s] = '\0';
	o->listen_port = (uint16_t)port;
	return 0;
}

static int parse_args(int argc, char **argv, struct mock_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL)
			goto bad;
		if (strcmp(a, "--listen") == 0 && parse_listen(v, o) == 0)
			i++;
		else if (strcmp(a, "--latency-ms") == 0 && parse_int(v, 0, MOCK_MAX_LATENCY_MS, &o->latency_ms) == 0)
			i++;
		else if (strcmp(a, "--status") == 0 && parse_int(v, 100, 599, &o->status) == 0)
			i++;
		else if (strcmp(a, "--content") == 0)
			o->content = argv[++i];
		else
			goto bad;
	}
	if (o->listen_host[0] == '\0')
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -1;
}

/* Works out the fault plan: headers win over the command line. -1 (answered 400) on a bad header. */
static int fault_plan(struct mock *m, struct evhttp_request *req, struct mock_fault *f)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *st = evhttp_find_header(h, "x-mock-status");
	const char *lat = evhttp_find_header(h, "x-mock-latency-ms");
	const char *ra = evhttp_find_header(h, "x-mock-retry-after");
	f->status = m->opts.status;
	f->latency_ms = m->opts.latency_ms;
	if ((st != NULL && parse_int(st, 100, 599, &f->status) != 0) ||
	    (lat != NULL && parse_int(lat, 0, MOCK_MAX_LATENCY_MS, &f->latency_ms) != 0)) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, req, 400, 0, "invalid_request_error", "mock_bad_header",
				     "x-mock-status must be 100-599 and x-mock-latency-ms 0-%d", MOCK_MAX_LATENCY_MS);
		return -1;
	}
	if (ra != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
	return 0;
}

static void serve_control(struct mock *m, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (strcmp(path, "/_mock/requests") == 0 && cmd == EVHTTP_REQ_GET) {
		mock_reply_json(m, req, 200, mock_reqlog_json(m->reqlog), 0);
	} else if (strcmp(path, "/_mock/stats") == 0 && cmd == EVHTTP_REQ_GET) {
		const struct mock_stats *s = &m->stats;
		mock_reply_json(m, req, 200,
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)s->requests,
					  "chat_completions", (json_int_t)s->chat_completions, "models",
					  (json_int_t)s->models, "injected_errors", (json_int_t)s->injected_errors,
					  "bad_requests", (json_int_t)s->bad_requests, "delayed",
					  (json_int_t)s->delayed),
				0);
	} else if (strcmp(path, "/_mock/reset") == 0 && cmd == EVHTTP_REQ_POST) {
		mock_reqlog_clear(m->reqlog);
		memset(&m->stats, 0, sizeof(m->stats));
		mock_reply_json(m, req, 200, json_pack("{s:b}", "ok", 1), 0);
	} else {
		mock_reply_oai_error(
		    m, req, 404, 0, "invalid_request_error", "unknown_url",
		    "unknown control endpoint (GET /_mock/requests, GET /_mock/stats, POST /_mock/reset)");
	}
}

static void dispatch(struct mock *m, struct evhttp_request *req, const char *path, const struct mock_fault *f)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (cmd != routes[i].method) {
			m->stats.bad_requests++;
			mock_reply_oai_error(m, req, 405, f->latency_ms, "invalid_request_error", "method_not_allowed",
					     "method not allowed on %s", routes[i].path);
			return;
		}
		routes[i].cb(m, req, f);
		return;
	}
	m->stats.bad_requests++;
	mock_reply_oai_error(m, req, 404, f->latency_ms, "invalid_request_error", "unknown_url",
			     "Unknown request URL: %s", path);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct mock *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct mock_fault f;
	if (path == NULL || *path == '\0')
		path = "/";
	if (strncmp(path, "/_mock/", 7) == 0) {
		serve_control(m, req, path);
		return;
	}
	m->stats.requests++;
	if (mock_reqlog_add(m->reqlog, req) != 0)
		log_msg(LOG_LVL_WARN, "reqlog_oom", "path=%s", path);
	if (fault_plan(m, req, &f) != 0)
		return;
	if (f.status != 0 && f.status != 200) {
		m->stats.injected_errors++;
		char code[32];
		snprintf(code, sizeof(code), "mock_%d", f.status);
		mock_reply_oai_error(m, req, f.status, f.latency_ms, "mock_error", code, "mock injected %d", f.status);
		return;
	}
	dispatch(m, req, path, &f);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mock *m = arg;
	(void)what;
	log_msg(LOG_LVL_INFO, "shutdown", "signal=%d", (int)sig);
	event_base_loopbreak(m->base);
}

static int setup(struct mock *m)
{
	m->base = event_base_new();
	m->http = m->base != NULL ? evhttp_new(m->base) : NULL;
	m->reqlog = mock_reqlog_new();
	if (m->http == NULL || m->reqlog == NULL) {
		log_msg(LOG_LVL_ERROR, "init_failed", "what=event_base/evhttp/reqlog");
		return -1;
	}
	evhttp_set_max_body_size(m->http, MOCK_MAX_BODY);
	evhttp_set_timeout(m->http, 120);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(m->http, on_request, m);
	if (evhttp_bind_socket(m->http, m->opts.listen_host, m->opts.listen_port) != 0) {
		log_msg(LOG_LVL_ERROR, "listen_failed", "addr=%s:%u", m->opts.listen_host, m->opts.listen_port);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct mock m;
	struct event *sigs[2] = {NULL, NULL};
	int rc = 1;
	memset(&m, 0, sizeof(m));
	log_init("llmgw-mock", LOG_LVL_INFO);
	if (parse_args(argc, argv, &m.opts) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (setup(&m) != 0)
		goto out;
	sigs[0] = evsignal_new(m.base, SIGTERM, on_signal, &m);
	sigs[1] = evsignal_new(m.base, SIGINT, on_signal, &m);
	for (int i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			evsignal_add(sigs[i], NULL);
	log_msg(LOG_LVL_INFO, "listening", "addr=%s:%u latency_ms=%d status=%d", m.opts.listen_host, m.opts.listen_port,
		m.opts.latency_ms, m.opts.status);
	event_base_dispatch(m.base);
	rc = 0;
out:
	mock_reply_cancel_all(&m);
	for (int i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (m.http != NULL)
		evhttp_free(m.http);
	mock_reqlog_free(m.reqlog);
	if (m.base != NULL)
		event_base_free(m.base);
	return rc;
}
