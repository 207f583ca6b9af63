/* SPDX-License-Identifier: Apache-2.0 */
/*
 * llmgw-mock: a mock LLM provider for tests and demos.
 *
 *   llmgw-mock --listen 127.0.0.1:PORT [--latency-ms N] [--status N] [--content TEXT]
 *              [--chunks N] [--chunk-delay-ms N] [--tls-cert PEM --tls-key PEM [--no-h2]] [--h2c]
 *
 * This file owns the process: options, the event loop, the route table and
 * the control endpoints under /_mock/ (requests, stats, reset). Every
 * request outside /_mock/ is recorded first, then its route is found (an
 * exact path, or a prefix + suffix for Gemini's /v1beta/models/{model}:verb),
 * then its fault plan is worked out (x-mock-* headers over the command-line
 * defaults), and an injected error is answered in the wire format of the
 * route (OpenAI, Anthropic or Gemini error shape); otherwise the request
 * goes to the route's handler. Control requests are never
 * recorded, so reading the log does not change it. Connections and wire
 * protocols (HTTP/1.1, HTTP/2, TLS) live in mock_conn / mock_h1 / mock_h2;
 * handlers see only struct mock_req.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "tests/support/mock/mock-t.h"
#include "tests/support/mock/mock_anthropic.h"
#include "tests/support/mock/mock_azure.h"
#include "tests/support/mock/mock_conn.h"
#include "tests/support/mock/mock_embed.h"
#include "tests/support/mock/mock_fault.h"
#include "tests/support/mock/mock_gemini.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"
#include "tests/support/mock/mock_reqlog.h"
#include "tests/support/mock/mock_tls.h"

#define MOCK_MAX_LATENCY_MS (10 * 60 * 1000)
#define MOCK_MAX_CHUNKS 100000

/* Which error shape a route answers in (injected faults, bad headers, 405). */
enum wire {
	WIRE_OPENAI = 0,
	WIRE_ANTHROPIC,
	WIRE_GEMINI,
};

/*
 * Wire-format endpoints. Without a suffix the path must equal `path`; with
 * one it must start with `path`, end with `suffix` and have a non-empty
 * middle without '/' (Gemini's model name).
 */
static const struct route {
	const char *path;
	const char *suffix;
	const char *method;
	enum wire wire;
	mock_handler_cb cb;
} routes[] = {
    {"/v1/chat/completions", NULL, "POST", WIRE_OPENAI, mock_openai_chat},
    {"/v1/completions", NULL, "POST", WIRE_OPENAI, mock_openai_completions},
    {"/v1/embeddings", NULL, "POST", WIRE_OPENAI, mock_embed_handle},
    {"/v1/models", NULL, "GET", WIRE_OPENAI, mock_openai_models},
    {"/v1/messages", NULL, "POST", WIRE_ANTHROPIC, mock_anthropic_messages},
    {"/v1beta/models/", ":generateContent", "POST", WIRE_GEMINI, mock_gemini_generate},
    {"/v1beta/models/", ":streamGenerateContent", "POST", WIRE_GEMINI, mock_gemini_stream},
    {"/v1/models/", ":generateContent", "POST", WIRE_GEMINI, mock_gemini_generate},
    {"/v1/models/", ":streamGenerateContent", "POST", WIRE_GEMINI, mock_gemini_stream},
    {"/openai/deployments/", "/chat/completions", "POST", WIRE_OPENAI, mock_azure_chat},
    {"/openai/deployments/", "/completions", "POST", WIRE_OPENAI, mock_azure_completions},
    {"/openai/deployments/", "/embeddings", "POST", WIRE_OPENAI, mock_azure_embeddings},
};

static void usage(FILE *f)
{
	fputs("usage: llmgw-mock --listen HOST:PORT [--latency-ms N] [--status N] [--content TEXT]\n"
	      "                  [--chunks N] [--chunk-delay-ms N] [--tls-cert PEM --tls-key PEM [--no-h2]] [--h2c]\n"
	      "  Mock LLM provider (HTTP/1.1; HTTPS with ALPN h2/http1.1 given a cert; --h2c adds cleartext\n"
	      "  HTTP/2 prior knowledge). Wire formats: OpenAI (/v1/chat/completions, /v1/completions,\n"
	      "  /v1/embeddings, /v1/models), Anthropic (POST /v1/messages), Gemini (POST\n"
	      "  /v1beta/models/{model}:generateContent, :streamGenerateContent[?alt=sse]).\n"
	      "  Per-request headers: x-mock-latency-ms, x-mock-status, x-mock-retry-after, x-mock-chunks,\n"
	      "  x-mock-chunk-delay-ms, x-mock-first-byte-ms, x-mock-fail-after, x-mock-stream-error,\n"
	      "  x-mock-fault (see below), x-mock-trickle-ms, x-mock-body-bytes, x-mock-cached-tokens (OpenAI\n"
	      "  answers: usage.prompt_tokens_details.cached_tokens, at most prompt_tokens).\n"
	      "  x-mock-fault: reset-before-head, garbage, oversize-head, reset-after-head, half-close,\n"
	      "  hang-after-head, trickle, oversize-body, sse-no-done, sse-end-early, sse-cut-mid-event.\n"
	      "  Control: GET /_mock/requests, GET /_mock/stats, POST /_mock/reset.\n",
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

/* One "--name VALUE" option; 0 if it was one of ours and valid. */
static int parse_opt(const char *a, const char *v, struct mock_opts *o)
{
	if (strcmp(a, "--listen") == 0)
		return parse_listen(v, o);
	if (strcmp(a, "--latency-ms") == 0)
		return parse_int(v, 0, MOCK_MAX_LATENCY_MS, &o->latency_ms);
	if (strcmp(a, "--status") == 0)
		return parse_int(v, 100, 599, &o->status);
	if (strcmp(a, "--chunks") == 0)
		return parse_int(v, 1, MOCK_MAX_CHUNKS, &o->chunks);
	if (strcmp(a, "--chunk-delay-ms") == 0)
		return parse_int(v, 0, MOCK_MAX_LATENCY_MS, &o->chunk_delay_ms);
	if (strcmp(a, "--content") == 0)
		o->content = v;
	else if (strcmp(a, "--tls-cert") == 0)
		o->tls_cert = v;
	else if (strcmp(a, "--tls-key") == 0)
		o->tls_key = v;
	else
		return -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct mock_opts *o)
{
	o->chunks = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--h2c") == 0)
			o->h2c = true;
		else if (strcmp(a, "--no-h2") == 0)
			o->no_h2 = true;
		else if (v != NULL && parse_opt(a, v, o) == 0)
			i++;
		else
			goto bad;
	}
	if (o->listen_host[0] == '\0' || (o->tls_cert == NULL) != (o->tls_key == NULL))
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -1;
}

/* Header h as an int in [min, max] into *out (unchanged when absent); -1 if present but bad. */
static int header_int(struct mock_req *r, const char *h, long min, long max, int *out)
{
	const char *v = mock_req_header(r, h);
	return v == NULL ? 0 : parse_int(v, min, max, out);
}

/* An error in the route's wire format (OpenAI's when there is no route). */
static void reply_error(struct mock *m, struct mock_req *r, const struct route *rt, int status, int latency_ms,
			const char *oai_type, const char *oai_code, const char *msg)
{
	switch (rt != NULL ? rt->wire : WIRE_OPENAI) {
	case WIRE_ANTHROPIC:
		mock_anthropic_error(m, r, status, latency_ms, NULL, "%s", msg);
		break;
	case WIRE_GEMINI:
		mock_gemini_error(m, r, status, latency_ms, NULL, "%s", msg);
		break;
	default:
		mock_reply_oai_error(m, r, status, latency_ms, oai_type, oai_code, "%s", msg);
		break;
	}
}

/* x-mock-fault and its parameters into f; -1 (answered 400) when one is bad or needs HTTP/1.1. */
static int fault_mode(struct mock *m, struct mock_req *r, const struct route *rt, struct mock_fault *f)
{
	const char *v = mock_req_header(r, "x-mock-fault");
	char msg[384];
	f->mode = MOCK_FAULT_NONE;
	f->trickle_ms = MOCK_FAULT_TRICKLE_DEFAULT_MS;
	f->body_bytes = MOCK_FAULT_BODY_DEFAULT;
	if (v != NULL && mock_fault_parse(v, &f->mode) != 0) {
		snprintf(msg, sizeof(msg), "x-mock-fault must be one of: %s", mock_fault_names());
		goto bad;
	}
	if (header_int(r, "x-mock-trickle-ms", 1, MOCK_MAX_LATENCY_MS, &f->trickle_ms) != 0 ||
	    header_int(r, "x-mock-body-bytes", 1, MOCK_FAULT_BODY_MAX, &f->body_bytes) != 0) {
		snprintf(msg, sizeof(msg), "x-mock-trickle-ms must be 1-%d and x-mock-body-bytes 1-%d",
			 MOCK_MAX_LATENCY_MS, MOCK_FAULT_BODY_MAX);
		goto bad;
	}
	if (mock_fault_needs_h1(f->mode) && strcmp(r->http_version, "2") == 0) {
		snprintf(msg, sizeof(msg), "x-mock-fault %s needs HTTP/1.1", mock_fault_name(f->mode));
		goto bad;
	}
	r->fault = f->mode;
	r->fault_ms = f->trickle_ms;
	r->fault_left = (size_t)f->body_bytes;
	return 0;
bad:
	m->stats.bad_requests++;
	reply_error(m, r, rt, 400, 0, "invalid_request_error", "mock_bad_header", msg);
	return -1;
}

/* Works out the fault plan: headers win over the command line. -1 (answered 400) on a bad header. */
static int fault_plan(struct mock *m, struct mock_req *r, const struct route *rt, struct mock_fault *f)
{
	const char *ra = mock_req_header(r, "x-mock-retry-after");
	f->status = m->opts.status;
	f->latency_ms = m->opts.latency_ms;
	f->first_byte_ms = 0;
	f->chunks = m->opts.chunks;
	f->chunk_delay_ms = m->opts.chunk_delay_ms;
	f->fail_after = -1;
	f->stream_error = 0;
	if (header_int(r, "x-mock-status", 100, 599, &f->status) != 0 ||
	    header_int(r, "x-mock-latency-ms", 0, MOCK_MAX_LATENCY_MS, &f->latency_ms) != 0 ||
	    header_int(r, "x-mock-first-byte-ms", 0, MOCK_MAX_LATENCY_MS, &f->first_byte_ms) != 0 ||
	    header_int(r, "x-mock-chunks", 1, MOCK_MAX_CHUNKS, &f->chunks) != 0 ||
	    header_int(r, "x-mock-chunk-delay-ms", 0, MOCK_MAX_LATENCY_MS, &f->chunk_delay_ms) != 0 ||
	    header_int(r, "x-mock-fail-after", 0, MOCK_MAX_CHUNKS, &f->fail_after) != 0 ||
	    header_int(r, "x-mock-stream-error", 0, 1, &f->stream_error) != 0) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "x-mock-status must be 100-599, x-mock-chunks 1-%d, x-mock-fail-after 0-%d, "
			 "x-mock-stream-error 0 or 1 and x-mock-latency-ms, x-mock-first-byte-ms, "
			 "x-mock-chunk-delay-ms 0-%d",
			 MOCK_MAX_CHUNKS, MOCK_MAX_CHUNKS, MOCK_MAX_LATENCY_MS);
		m->stats.bad_requests++;
		reply_error(m, r, rt, 400, 0, "invalid_request_error", "mock_bad_header", msg);
		return -1;
	}
	if (ra != NULL)
		mock_req_add_header(r, "Retry-After", ra);
	return fault_mode(m, r, rt, f);
}

static json_t *stats_json(const struct mock_stats *s)
{
	json_t *v =
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)s->requests,
		      "chat_completions", (json_int_t)s->chat_completions, "models", (json_int_t)s->models,
		      "injected_errors", (json_int_t)s->injected_errors, "bad_requests", (json_int_t)s->bad_requests,
		      "delayed", (json_int_t)s->delayed, "streams", (json_int_t)s->streams, "completions",
		      (json_int_t)s->completions, "embeddings", (json_int_t)s->embeddings, "client_closed",
		      (json_int_t)s->client_closed, "resets", (json_int_t)s->resets);
	if (v != NULL) {
		json_object_set_new(v, "anthropic_messages", json_integer((json_int_t)s->anthropic_messages));
		json_object_set_new(v, "gemini_generations", json_integer((json_int_t)s->gemini_generations));
		json_object_set_new(v, "stream_errors", json_integer((json_int_t)s->stream_errors));
		json_object_set_new(v, "faults", json_integer((json_int_t)s->faults));
		json_object_set_new(v, "connections_open", json_integer((json_int_t)s->connections_open));
	}
	return v;
}

static void serve_control(struct mock *m, struct mock_req *r)
{
	bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
	if (strcmp(r->path, "/_mock/requests") == 0 && get) {
		mock_reply_json(m, r, 200, mock_reqlog_json(m->reqlog), 0);
	} else if (strcmp(r->path, "/_mock/stats") == 0 && get) {
		mock_reply_json(m, r, 200, stats_json(&m->stats), 0);
	} else if (strcmp(r->path, "/_mock/reset") == 0 && post) {
		uint64_t open = m->stats.connections_open; /* a gauge: what is open stays open */
		mock_reqlog_clear(m->reqlog);
		memset(&m->stats, 0, sizeof(m->stats));
		m->stats.connections_open = open;
		mock_reply_json(m, r, 200, json_pack("{s:b}", "ok", 1), 0);
	} else {
		mock_reply_oai_error(
		    m, r, 404, 0, "invalid_request_error", "unknown_url",
		    "unknown control endpoint (GET /_mock/requests, GET /_mock/stats, POST /_mock/reset)");
	}
}

/* Does path match route rt (exactly, or prefix + non-empty model + suffix)? */
static bool route_match(const struct route *rt, const char *path)
{
	size_t pl = strlen(path), n = strlen(rt->path);
	if (rt->suffix == NULL)
		return strcmp(path, rt->path) == 0;
	size_t sl = strlen(rt->suffix);
	if (pl <= n + sl || strncmp(path, rt->path, n) != 0 || strcmp(path + pl - sl, rt->suffix) != 0)
		return false;
	return memchr(path + n, '/', pl - n - sl) == NULL;
}

static const struct route *find_route(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (route_match(&routes[i], path))
			return &routes[i];
	return NULL;
}

static void dispatch(struct mock *m, struct mock_req *r, const struct route *rt, const struct mock_fault *f)
{
	char msg[300];
	if (rt == NULL) {
		m->stats.bad_requests++;
		snprintf(msg, sizeof(msg), "Unknown request URL: %.200s", r->path);
		reply_error(m, r, rt, 404, f->latency_ms, "invalid_request_error", "unknown_url", msg);
		return;
	}
	if (strcmp(r->method, rt->method) != 0) {
		m->stats.bad_requests++;
		snprintf(msg, sizeof(msg), "method not allowed on %.200s", r->path);
		reply_error(m, r, rt, 405, f->latency_ms, "invalid_request_error", "method_not_allowed", msg);
		return;
	}
	rt->cb(m, r, f);
}

/* The message of an injected error: Anthropic's and Google's own words where they have them. */
static void injected_message(const struct route *rt, int status, char *msg, size_t cap)
{
	if (rt != NULL && rt->wire == WIRE_ANTHROPIC && status == 529)
		snprintf(msg, cap, "Overloaded");
	else if (rt != NULL && rt->wire == WIRE_GEMINI && status == 503)
		snprintf(msg, cap, "The model is overloaded. Please try again later.");
	else
		snprintf(msg, cap, "mock injected %d", status);
}

/* The transports' entry point: one complete request. */
static void on_request(struct mock *m, struct mock_req *r)
{
	struct mock_fault f;
	const struct route *rt;
	if (strncmp(r->path, "/_mock/", 7) == 0) {
		serve_control(m, r);
		return;
	}
	m->stats.requests++;
	r->recorded = true;
	r->logent = mock_reqlog_add(m->reqlog, r);
	if (r->logent == NULL)
		log_msg(LOG_LVL_WARN, "reqlog_oom", "path=%s", r->path);
	rt = find_route(r->path);
	if (fault_plan(m, r, rt, &f) != 0)
		return;
	/* reset-before-head, garbage, oversize-head: no answer at all, whatever else was asked */
	if (mock_fault_instead(r))
		return;
	if (f.status != 0 && f.status != 200) {
		char code[32], msg[128];
		m->stats.injected_errors++;
		snprintf(code, sizeof(code), "mock_%d", f.status);
		injected_message(rt, f.status, msg, sizeof(msg));
		reply_error(m, r, rt, f.status, f.latency_ms + f.first_byte_ms, "mock_error", code, msg);
		return;
	}
	dispatch(m, r, rt, &f);
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
	struct err err = {0};
	m->handle = on_request;
	m->base = event_base_new();
	m->reqlog = mock_reqlog_new();
	m->filler = malloc(MOCK_FILLER_LEN);
	if (m->filler != NULL)
		memset(m->filler, 'x', MOCK_FILLER_LEN);
	if (m->base == NULL || m->reqlog == NULL || m->filler == NULL) {
		log_msg(LOG_LVL_ERROR, "init_failed", "what=event_base/reqlog/filler");
		return -1;
	}
	if (m->opts.tls_cert != NULL) {
		m->tls = mock_tls_ctx_new(m->opts.tls_cert, m->opts.tls_key, !m->opts.no_h2, &err);
		if (m->tls == NULL) {
			log_msg(LOG_LVL_ERROR, "tls_failed", "reason=\"%s\"", err.msg);
			return -1;
		}
	}
	if (mock_conn_listen(m, &err) != 0) {
		log_msg(LOG_LVL_ERROR, "listen_failed", "addr=%s:%u reason=\"%s\"", m->opts.listen_host,
			m->opts.listen_port, err.msg);
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
	log_msg(LOG_LVL_INFO, "listening", "addr=%s:%u latency_ms=%d status=%d tls=%d h2c=%d chunks=%d",
		m.opts.listen_host, m.opts.listen_port, m.opts.latency_ms, m.opts.status, m.tls != NULL,
		(int)m.opts.h2c, m.opts.chunks);
	event_base_dispatch(m.base);
	rc = 0;
out:
	if (m.base != NULL)
		mock_conn_shutdown(&m);
	for (int i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	SSL_CTX_free(m.tls);
	mock_reqlog_free(m.reqlog);
	free(m.filler);
	if (m.base != NULL)
		event_base_free(m.base);
	return rc;
}
