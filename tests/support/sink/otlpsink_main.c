/* SPDX-License-Identifier: Apache-2.0 */
/*
 * otlp-sink: a mock OTLP/HTTP trace receiver for tests.
 *
 *   otlp-sink --listen 127.0.0.1:PORT [--max-spans N]
 *
 * Any POST outside /_sink/ is an export: gunzipped when Content-Encoding
 * says gzip (64 MiB inflated cap -> 413), decoded as protobuf or OTLP/JSON
 * by Content-Type (bad body -> 400 with a google.rpc.Status), recorded,
 * and answered 200 with an empty ExportTraceServiceResponse, as the OTLP
 * spec asks. Tests read back what arrived and steer failures through the
 * control endpoints:
 *
 *   GET  /_sink/requests   recorded requests (headers, encoding, resource_spans)
 *   GET  /_sink/spans      every span, flat, each with its resource
 *   GET  /_sink/stats      {requests, spans, failed_injected, rejected, ...}
 *   POST /_sink/reset      forget everything, cancel injected failures
 *   POST /_sink/fail?status=503&count=2&retry_after=1
 *                          answer the next count exports with status (not recorded)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common/httpx.h"
#include "common/log.h"
#include "google/rpc/status.pb-c.h"
#include "tests/support/sink/otlpsink_decode.h"
#include "tests/support/sink/otlpsink_store.h"

#define SINK_MAX_BODY (64u * 1024 * 1024) /* OTLP's recommended cap, before and after inflating */
#define SINK_MAX_REQUESTS 20000
#define SINK_DEFAULT_MAX_SPANS 100000

/* gRPC status codes used in google.rpc.Status bodies. */
#define GRPC_INVALID_ARGUMENT 3
#define GRPC_RESOURCE_EXHAUSTED 8
#define GRPC_UNIMPLEMENTED 12
#define GRPC_UNAVAILABLE 14

struct sink_stats {
	uint64_t requests;	  /* accepted exports */
	uint64_t spans;		  /* spans in accepted exports */
	uint64_t failed_injected; /* exports answered by /_sink/fail */
	uint64_t rejected;	  /* exports refused for a bad body, encoding or type */
	uint64_t invalid_utf8;	  /* non-UTF-8 strings seen in accepted exports */
	uint64_t body_bytes;	  /* wire bytes of accepted exports */
};

/* The process context: the only mutable state, owned by main(). */
struct sink {
	char listen_host[256];
	uint16_t listen_port;
	size_t max_spans;
	struct event_base *base;
	struct evhttp *http;
	struct otlpsink_store *store;
	struct sink_stats stats;
	struct {
		int status;
		long count;
		char retry_after[64]; /* "" = no Retry-After header */
	} fail;
};

/* One export being handled: what it said about itself. */
struct export_req {
	const char *path;
	const char *ctype; /* as sent, may be NULL */
	const char *cenc;  /* as sent, may be NULL */
	bool json;
	const uint8_t *body;
	size_t len;
};

static void usage(FILE *f)
{
	fputs("usage: otlp-sink --listen HOST:PORT [--max-spans N]\n"
	      "  Mock OTLP/HTTP receiver. Control: GET /_sink/requests, GET /_sink/spans, GET /_sink/stats,\n"
	      "  POST /_sink/reset, POST /_sink/fail?status=503&count=2&retry_after=1\n",
	      f);
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	if (s == NULL)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct sink *k)
{
	long v;
	k->max_spans = SINK_DEFAULT_MAX_SPANS;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (val == NULL)
			goto bad;
		if (strcmp(a, "--listen") == 0) {
			const char *colon = strrchr(val, ':');
			if (colon == NULL || colon == val || (size_t)(colon - val) >= sizeof(k->listen_host) ||
			    parse_long(colon + 1, 1, 65535, &v) != 0)
				goto bad;
			memcpy(k->listen_host, val, (size_t)(colon - val));
			k->listen_host[colon - val] = '\0';
			k->listen_port = (uint16_t)v;
		} else if (strcmp(a, "--max-spans") == 0 && parse_long(val, 1, 10000000, &v) == 0) {
			k->max_spans = (size_t)v;
		} else {
			goto bad;
		}
		i++;
	}
	if (k->listen_host[0] == '\0')
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -1;
}

static void reply_json(struct evhttp_request *req, int status, json_t *v)
{
	struct evbuffer *b = evbuffer_new();
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (b == NULL || text == NULL) {
		free(text);
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, 500, "sink out of memory");
		return;
	}
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

/* Error answer per OTLP/HTTP: a google.rpc.Status, in the request's own encoding. */
static void reply_status(struct evhttp_request *req, int http, int grpc, bool json, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	if (b == NULL) {
		evhttp_send_error(req, 500, "sink out of memory");
		return;
	}
	if (json) {
		json_t *v = json_pack("{s:i, s:s}", "code", grpc, "message", msg);
		char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
		if (text != NULL)
			evbuffer_add(b, text, strlen(text));
		free(text);
		json_decref(v);
		evhttp_add_header(out, "Content-Type", "application/json");
	} else {
		Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
		st.code = grpc;
		st.message = (char *)(uintptr_t)msg;
		uint8_t packed[1024];
		if (google__rpc__status__get_packed_size(&st) <= sizeof(packed))
			evbuffer_add(b, packed, google__rpc__status__pack(&st, packed));
		evhttp_add_header(out, "Content-Type", "application/x-protobuf");
	}
	evhttp_send_reply(req, http, "Error", b);
	evbuffer_free(b);
}

static void reject(struct sink *k, struct evhttp_request *req, const struct export_req *x, int http, int grpc,
		   const char *msg)
{
	char q[300];
	k->stats.rejected++;
	log_msg(LOG_LVL_WARN, "export_rejected", "path=%s status=%d reason=%s", x->path, http,
		log_quote(msg, q, sizeof(q)));
	reply_status(req, http, grpc, x->json, msg);
}

/* Decodes x's (already inflated) body into resource_spans; answers the error itself and returns NULL. */
static json_t *decode_body(struct sink *k, struct evhttp_request *req, const struct export_req *x, const uint8_t *body,
			   size_t len, struct otlpsink_decode_stats *ds, json_t **raw)
{
	struct err e;
	json_t *rs;
	err_clear(&e);
	*raw = NULL;
	if (!x->json) {
		rs = otlpsink_decode_proto(body, len, ds, &e);
	} else {
		json_error_t je;
		*raw = json_loadb((const char *)body, len, 0, &je);
		if (*raw == NULL) {
			snprintf(e.msg, sizeof(e.msg), "body is not JSON: %s (line %d, column %d)", je.text, je.line,
				 je.column);
			reject(k, req, x, 400, GRPC_INVALID_ARGUMENT, e.msg);
			return NULL;
		}
		rs = otlpsink_decode_json(*raw, ds, &e);
	}
	if (rs == NULL) {
		json_decref(*raw);
		*raw = NULL;
		reject(k, req, x, 400, GRPC_INVALID_ARGUMENT, e.msg);
	}
	return rs;
}

static void record(struct sink *k, struct evhttp_request *req, const struct export_req *x, json_t *rs, json_t *raw,
		   size_t decoded_len, const struct otlpsink_decode_stats *ds)
{
	json_t *rec =
	    json_pack("{s:s, s:o, s:s, s:s, s:I, s:I, s:o}", "path", x->path, "headers",
		      httpx_headers_to_json(evhttp_request_get_input_headers(req)), "content_type",
		      x->ctype != NULL ? x->ctype : "", "content_encoding", x->cenc != NULL ? x->cenc : "",
		      "body_bytes", (json_int_t)x->len, "decoded_bytes", (json_int_t)decoded_len, "resource_spans", rs);
	if (rec == NULL) {
		json_decref(raw);
		log_msg(LOG_LVL_ERROR, "oom", "what=record");
		return;
	}
	if (raw != NULL)
		json_object_set_new(rec, "json", raw);
	k->stats.requests++;
	k->stats.spans += ds->spans;
	k->stats.invalid_utf8 += ds->invalid_utf8;
	k->stats.body_bytes += x->len;
	otlpsink_store_add(k->store, rec, ds->spans);
}

/* Answers with an injected failure when /_sink/fail armed one; true if it did. */
static bool inject_failure(struct sink *k, struct evhttp_request *req, const struct export_req *x)
{
	char msg[64];
	if (k->fail.count <= 0)
		return false;
	k->fail.count--;
	k->stats.failed_injected++;
	if (k->fail.retry_after[0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", k->fail.retry_after);
	snprintf(msg, sizeof(msg), "otlp-sink injected %d", k->fail.status);
	reply_status(req, k->fail.status, GRPC_UNAVAILABLE, x->json, msg);
	return true;
}

static void handle_export(struct sink *k, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct export_req x = {.path = path,
			       .ctype = evhttp_find_header(h, "Content-Type"),
			       .cenc = evhttp_find_header(h, "Content-Encoding")};
	x.json = x.ctype != NULL && strncasecmp(x.ctype, "application/json", 16) == 0;
	x.len = evbuffer_get_length(in);
	x.body = evbuffer_pullup(in, (ev_ssize_t)x.len);
	if (inject_failure(k, req, &x))
		return;
	if (!x.json && (x.ctype == NULL || strncasecmp(x.ctype, "application/x-protobuf", 22) != 0)) {
		reject(k, req, &x, 415, GRPC_UNIMPLEMENTED,
		       "Content-Type must be application/x-protobuf or application/json");
		return;
	}
	uint8_t *inflated = NULL;
	const uint8_t *body = x.body != NULL ? x.body : (const uint8_t *)"";
	size_t len = x.len;
	if (x.cenc != NULL && strcasecmp(x.cenc, "gzip") == 0) {
		struct err e;
		err_clear(&e);
		enum otlpsink_gunzip_result g = otlpsink_gunzip(body, x.len, SINK_MAX_BODY, &inflated, &len, &e);
		if (g != OTLPSINK_GUNZIP_OK) {
			reject(k, req, &x, g == OTLPSINK_GUNZIP_TOO_BIG ? 413 : 400,
			       g == OTLPSINK_GUNZIP_TOO_BIG ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT, e.msg);
			return;
		}
		body = inflated;
	} else if (x.cenc != NULL && *x.cenc != '\0' && strcasecmp(x.cenc, "identity") != 0) {
		reject(k, req, &x, 415, GRPC_UNIMPLEMENTED, "Content-Encoding must be gzip or identity");
		return;
	}
	struct otlpsink_decode_stats ds = {0, 0};
	json_t *raw = NULL;
	json_t *rs = decode_body(k, req, &x, body, len, &ds, &raw);
	if (rs != NULL) {
		record(k, req, &x, rs, raw, len, &ds);
		struct evbuffer *b = evbuffer_new();
		if (x.json && b != NULL)
			evbuffer_add(b, "{}", 2);
		/* An empty ExportTraceServiceResponse is zero bytes of protobuf: full success. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  x.json ? "application/json" : "application/x-protobuf");
		evhttp_send_reply(req, 200, "OK", b);
		if (b != NULL)
			evbuffer_free(b);
	}
	free(inflated);
}

/* POST /_sink/fail?status=503&count=2&retry_after=1 */
static void control_fail(struct sink *k, struct evhttp_request *req)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params;
	long status = 503, count = 1;
	TAILQ_INIT(&params);
	if (q != NULL && evhttp_parse_query_str(q, &params) != 0)
		goto bad;
	const char *s = evhttp_find_header(&params, "status"), *c = evhttp_find_header(&params, "count");
	const char *ra = evhttp_find_header(&params, "retry_after");
	if ((s != NULL && parse_long(s, 100, 599, &status) != 0) ||
	    (c != NULL && parse_long(c, 0, 1000000, &count) != 0) ||
	    (ra != NULL && strlen(ra) >= sizeof(k->fail.retry_after)))
		goto bad;
	k->fail.status = (int)status;
	k->fail.count = count;
	snprintf(k->fail.retry_after, sizeof(k->fail.retry_after), "%s", ra != NULL ? ra : "");
	evhttp_clear_headers(&params);
	log_msg(LOG_LVL_INFO, "fail_armed", "status=%ld count=%ld", status, count);
	reply_json(req, 200, json_pack("{s:i, s:i}", "status", (int)status, "count", (int)count));
	return;
bad:
	evhttp_clear_headers(&params);
	reply_json(req, 400,
		   json_pack("{s:s}", "error", "usage: POST /_sink/fail?status=100-599&count=N[&retry_after=SECONDS]"));
}

static json_t *stats_json(const struct sink *k)
{
	struct otlpsink_store_counts c;
	const struct sink_stats *s = &k->stats;
	otlpsink_store_counts(k->store, &c);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "requests", (json_int_t)s->requests,
			 "spans", (json_int_t)s->spans, "failed_injected", (json_int_t)s->failed_injected, "rejected",
			 (json_int_t)s->rejected, "invalid_utf8", (json_int_t)s->invalid_utf8, "body_bytes",
			 (json_int_t)s->body_bytes, "stored_requests", (json_int_t)c.requests, "stored_spans",
			 (json_int_t)c.spans, "dropped_requests", (json_int_t)c.dropped_requests, "dropped_spans",
			 (json_int_t)c.dropped_spans, "fail_pending", (int)k->fail.count);
}

static void handle_control(struct sink *k, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_sink/requests") == 0) {
		reply_json(req, 200, otlpsink_store_requests(k->store));
	} else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_sink/spans") == 0) {
		reply_json(req, 200, otlpsink_store_spans(k->store));
	} else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_sink/stats") == 0) {
		reply_json(req, 200, stats_json(k));
	} else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/_sink/reset") == 0) {
		otlpsink_store_clear(k->store);
		memset(&k->stats, 0, sizeof(k->stats));
		k->fail.count = 0;
		reply_json(req, 200, json_pack("{s:b}", "ok", 1));
	} else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/_sink/fail") == 0) {
		control_fail(k, req);
	} else {
		reply_json(req, 404, json_pack("{s:s}", "error", "unknown control endpoint"));
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct sink *k = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (strncmp(path, "/_sink/", 7) == 0) {
		handle_control(k, req, path);
	} else if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		handle_export(k, req, path);
	} else {
		k->stats.rejected++;
		reply_status(req, 405, GRPC_UNIMPLEMENTED, false, "exports are POST requests");
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sink *k = arg;
	(void)what;
	log_msg(LOG_LVL_INFO, "shutdown", "signal=%d", (int)sig);
	event_base_loopbreak(k->base);
}

static int setup(struct sink *k)
{
	k->base = event_base_new();
	k->http = k->base != NULL ? evhttp_new(k->base) : NULL;
	k->store = otlpsink_store_new(k->max_spans, SINK_MAX_REQUESTS);
	if (k->http == NULL || k->store == NULL) {
		log_msg(LOG_LVL_ERROR, "init_failed", "what=event_base/evhttp/store");
		return -1;
	}
	evhttp_set_max_body_size(k->http, SINK_MAX_BODY);
	evhttp_set_timeout(k->http, 120);
	evhttp_set_allowed_methods(k->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(k->http, on_request, k);
	if (evhttp_bind_socket(k->http, k->listen_host, k->listen_port) != 0) {
		log_msg(LOG_LVL_ERROR, "listen_failed", "addr=%s:%u", k->listen_host, k->listen_port);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sink k;
	struct event *sigs[2] = {NULL, NULL};
	int rc = 1;
	memset(&k, 0, sizeof(k));
	log_init("otlp-sink", LOG_LVL_INFO);
	if (parse_args(argc, argv, &k) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (setup(&k) != 0)
		goto out;
	sigs[0] = evsignal_new(k.base, SIGTERM, on_signal, &k);
	sigs[1] = evsignal_new(k.base, SIGINT, on_signal, &k);
	for (int i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			evsignal_add(sigs[i], NULL);
	log_msg(LOG_LVL_INFO, "listening", "addr=%s:%u max_spans=%zu", k.listen_host, k.listen_port, k.max_spans);
	event_base_dispatch(k.base);
	rc = 0;
out:
	for (int i = 0; i < 2; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (k.http != NULL)
		evhttp_free(k.http);
	otlpsink_store_free(k.store);
	if (k.base != NULL)
		event_base_free(k.base);
	return rc;
}
