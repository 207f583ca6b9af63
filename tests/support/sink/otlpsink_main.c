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
 * spec asks. Span ids are counted as they arrive, so a test can tell
 * every span delivered from some delivered twice. Tests read back what
 * arrived and stage the failures of a real backend through the control
 * endpoints (otlpsink_fault.h has the parameters):
 *
 *   GET  /_sink/requests   recorded requests (headers, encoding, resource_spans)
 *   GET  /_sink/spans      every span, flat, each with its resource
 *   GET  /_sink/stats      {requests, spans, unique_spans, duplicate_spans, failed_injected, ...}
 *   GET  /_sink/arrivals   every export request as it arrived: time, outcome, status
 *   POST /_sink/reset      forget everything, disarm every fault
 *   POST /_sink/fail?status=503&count=2&retry_after=1     (or &retry_after_date=SECONDS)
 *   POST /_sink/slow?ms=N[&count=K]                       hold answers N ms
 *   POST /_sink/drop?count=N                              close without answering
 *   POST /_sink/partial?rejected=N&message=TEXT&count=K   200 with partial_success
 *
 * Order at each export: drop, then slow (the hold comes first), then fail,
 * then partial. Failed and dropped exports are not recorded.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common/httpx.h"
#include "common/log.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "tests/support/sink/otlpsink_decode.h"
#include "tests/support/sink/otlpsink_fault.h"
#include "tests/support/sink/otlpsink_store.h"
#include "tests/support/sink/otlpsink_track.h"

#define SINK_MAX_BODY (64u * 1024 * 1024) /* OTLP's recommended cap, before and after inflating */
#define SINK_MAX_REQUESTS 20000
#define SINK_DEFAULT_MAX_SPANS 100000
#define SINK_MAX_SEEN_IDS (8u * 1024 * 1024) /* span ids remembered for duplicate counting (64 MiB at most) */
#define SINK_MAX_ARRIVALS 20000
#define SINK_MAX_HELD 10000 /* slow answers waiting at once; more are answered at once */

/* gRPC status codes used in google.rpc.Status bodies. */
#define GRPC_INVALID_ARGUMENT 3
#define GRPC_RESOURCE_EXHAUSTED 8
#define GRPC_UNIMPLEMENTED 12
#define GRPC_UNAVAILABLE 14

struct sink_stats {
	uint64_t requests;	   /* accepted exports */
	uint64_t spans;		   /* spans in accepted exports */
	uint64_t failed_injected;  /* exports answered by /_sink/fail */
	uint64_t rejected;	   /* exports refused for a bad body, encoding or type */
	uint64_t invalid_utf8;	   /* non-UTF-8 strings seen in accepted exports */
	uint64_t body_bytes;	   /* wire bytes of accepted exports */
	uint64_t dropped_injected; /* connections closed unanswered by /_sink/drop */
	uint64_t slowed;	   /* answers held by /_sink/slow */
	uint64_t abandoned;	   /* held answers whose client had gone by then */
	uint64_t partial_injected; /* exports answered with a partial_success */
	uint64_t partial_rejected; /* spans those answers said were rejected */
};

/* An export whose answer /_sink/slow holds back. */
struct held {
	struct sink *k;
	struct evhttp_request *req;
	struct event *timer;
	uint64_t n; /* arrival number */
	TAILQ_ENTRY(held) link;
};
TAILQ_HEAD(held_list, held);

/* The process context: the only mutable state, owned by main(). */
struct sink {
	char listen_host[256];
	uint16_t listen_port;
	size_t max_spans;
	struct event_base *base;
	struct evhttp *http;
	struct otlpsink_store *store;
	struct otlpsink_seen *seen;
	struct otlpsink_arrivals *arrivals;
	struct otlpsink_faults *faults;
	struct held_list held;
	size_t nheld;
	struct sink_stats stats;
};

/* One export being handled: what it said about itself. */
struct export_req {
	uint64_t n; /* arrival number */
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
	      "  GET /_sink/arrivals, POST /_sink/reset,\n"
	      "  POST /_sink/fail?status=503&count=2[&retry_after=1|&retry_after_date=SECONDS],\n"
	      "  POST /_sink/slow?ms=N[&count=K], POST /_sink/drop?count=N,\n"
	      "  POST /_sink/partial?rejected=N&message=TEXT&count=K\n",
	      f);
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
			    otlpsink_parse_long(colon + 1, 1, 65535, &v) != 0)
				goto bad;
			memcpy(k->listen_host, val, (size_t)(colon - val));
			k->listen_host[colon - val] = '\0';
			k->listen_port = (uint16_t)v;
		} else if (strcmp(a, "--max-spans") == 0 && otlpsink_parse_long(val, 1, 10000000, &v) == 0) {
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
	otlpsink_arrivals_end(k->arrivals, x->n, "rejected", http, 0, "");
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
	otlpsink_seen_add_all(k->seen, rs);
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
	struct otlpsink_fail_answer fa;
	if (!otlpsink_faults_take_fail(k->faults, time(NULL), &fa))
		return false;
	k->stats.failed_injected++;
	if (fa.retry_after[0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", fa.retry_after);
	snprintf(msg, sizeof(msg), "otlp-sink injected %d", fa.status);
	otlpsink_arrivals_end(k->arrivals, x->n, "fail", fa.status, 0, fa.retry_after);
	reply_status(req, fa.status, GRPC_UNAVAILABLE, x->json, msg);
	return true;
}

/*
 * The success answer: an ExportTraceServiceResponse, empty (full success:
 * zero bytes of protobuf, "{}" in JSON) or with partial_success when
 * /_sink/partial armed one.
 */
static void reply_ok(struct sink *k, struct evhttp_request *req, const struct export_req *x, size_t spans)
{
	struct otlpsink_partial_answer pa;
	bool partial = otlpsink_faults_take_partial(k->faults, &pa);
	struct evbuffer *b = evbuffer_new();
	if (partial) {
		k->stats.partial_injected++;
		k->stats.partial_rejected += (uint64_t)pa.rejected;
		log_msg(LOG_LVL_INFO, "partial_injected", "rejected=%lld", (long long)pa.rejected);
	}
	if (b != NULL && x->json) {
		json_t *v = partial ? json_pack("{s:{s:I, s:s}}", "partialSuccess", "rejectedSpans",
						(json_int_t)pa.rejected, "errorMessage", pa.message)
				    : json_object();
		char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
		if (text != NULL)
			evbuffer_add(b, text, strlen(text));
		free(text);
		json_decref(v);
	} else if (b != NULL && partial) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse r =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
		Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
		uint8_t packed[512]; /* message is under 256 bytes */
		ps.rejected_spans = pa.rejected;
		ps.error_message = pa.message;
		r.partial_success = &ps;
		if (opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(&r) <=
		    sizeof(packed))
			evbuffer_add(b, packed,
				     opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
					 &r, packed));
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  x->json ? "application/json" : "application/x-protobuf");
	otlpsink_arrivals_end(k->arrivals, x->n, partial ? "partial" : "ok", 200, spans, "");
	evhttp_send_reply(req, 200, "OK", b);
	if (b != NULL)
		evbuffer_free(b);
}

/* Inflates x's body when gzipped into *inflated (caller frees); answers the error itself and returns -1. */
static int inflate_body(struct sink *k, struct evhttp_request *req, const struct export_req *x, uint8_t **inflated,
			const uint8_t **body, size_t *len)
{
	*inflated = NULL;
	*body = x->body != NULL ? x->body : (const uint8_t *)"";
	*len = x->len;
	if (x->cenc != NULL && strcasecmp(x->cenc, "gzip") == 0) {
		struct err e;
		err_clear(&e);
		enum otlpsink_gunzip_result g = otlpsink_gunzip(*body, x->len, SINK_MAX_BODY, inflated, len, &e);
		if (g != OTLPSINK_GUNZIP_OK) {
			reject(k, req, x, g == OTLPSINK_GUNZIP_TOO_BIG ? 413 : 400,
			       g == OTLPSINK_GUNZIP_TOO_BIG ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT, e.msg);
			return -1;
		}
		*body = *inflated;
	} else if (x->cenc != NULL && *x->cenc != '\0' && strcasecmp(x->cenc, "identity") != 0) {
		reject(k, req, x, 415, GRPC_UNIMPLEMENTED, "Content-Encoding must be gzip or identity");
		return -1;
	}
	return 0;
}

/* Answers export n now: an injected failure, a rejection, or recorded and 200. */
static void answer_export(struct sink *k, struct evhttp_request *req, const char *path, uint64_t n)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct export_req x = {.n = n,
			       .path = path,
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
	uint8_t *inflated;
	const uint8_t *body;
	size_t len;
	if (inflate_body(k, req, &x, &inflated, &body, &len) != 0)
		return;
	struct otlpsink_decode_stats ds = {0, 0};
	json_t *raw = NULL;
	json_t *rs = decode_body(k, req, &x, body, len, &ds, &raw);
	if (rs != NULL) {
		record(k, req, &x, rs, raw, len, &ds);
		reply_ok(k, req, &x, ds.spans);
	}
	free(inflated);
}

/*
 * Closes the connection of export n without a byte of answer: the socket
 * is shut both ways first, so the reply queued after it can never leave;
 * evhttp sees that write fail and frees the connection and the request.
 */
static void drop_connection(struct sink *k, struct evhttp_request *req, uint64_t n)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c != NULL ? evhttp_connection_get_bufferevent(c) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	k->stats.dropped_injected++;
	otlpsink_arrivals_end(k->arrivals, n, "drop", 0, 0, "");
	log_msg(LOG_LVL_INFO, "drop_injected", "n=%llu", (unsigned long long)n);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	evhttp_send_reply(req, 503, "dropped", NULL);
}

static void held_free(struct held *hd)
{
	TAILQ_REMOVE(&hd->k->held, hd, link);
	hd->k->nheld--;
	event_free(hd->timer);
	free(hd);
}

static void on_held_timer(evutil_socket_t fd, short what, void *arg)
{
	struct held *hd = arg;
	struct sink *k = hd->k;
	struct evhttp_request *req = hd->req;
	uint64_t n = hd->n;
	(void)fd;
	(void)what;
	held_free(hd);
	if (evhttp_request_get_connection(req) == NULL) {
		/* The client gave up while we held it; evhttp handed the request to us: this frees it. */
		k->stats.abandoned++;
		otlpsink_arrivals_end(k->arrivals, n, "abandoned", 0, 0, "");
		evhttp_send_reply(req, 503, "abandoned", NULL);
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	answer_export(k, req, path != NULL && *path != '\0' ? path : "/", n);
}

/* Holds export n's answer ms milliseconds; false (answer now) when it cannot. */
static bool hold(struct sink *k, struct evhttp_request *req, uint64_t n, long ms)
{
	struct held *hd = k->nheld < SINK_MAX_HELD ? calloc(1, sizeof(*hd)) : NULL;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	if (hd == NULL)
		return false;
	hd->k = k;
	hd->req = req;
	hd->n = n;
	hd->timer = evtimer_new(k->base, on_held_timer, hd);
	if (hd->timer == NULL || evtimer_add(hd->timer, &tv) != 0) {
		if (hd->timer != NULL)
			event_free(hd->timer);
		free(hd);
		return false;
	}
	TAILQ_INSERT_TAIL(&k->held, hd, link);
	k->nheld++;
	k->stats.slowed++;
	return true;
}

static void handle_export(struct sink *k, struct evhttp_request *req, const char *path)
{
	uint64_t n =
	    otlpsink_arrivals_begin(k->arrivals, path, evbuffer_get_length(evhttp_request_get_input_buffer(req)));
	long ms;
	if (otlpsink_faults_take_drop(k->faults)) {
		drop_connection(k, req, n);
		return;
	}
	if ((ms = otlpsink_faults_take_slow(k->faults)) > 0 && hold(k, req, n, ms))
		return;
	answer_export(k, req, path, n);
}

/* Answers every held export at once (reset, shutdown): 503, as a backend going away would. */
static void release_held(struct sink *k)
{
	while (!TAILQ_EMPTY(&k->held)) {
		struct held *hd = TAILQ_FIRST(&k->held);
		struct evhttp_request *req = hd->req;
		uint64_t n = hd->n;
		held_free(hd);
		otlpsink_arrivals_end(k->arrivals, n, "abandoned", 503, 0, "");
		k->stats.abandoned++;
		evhttp_send_reply(req, 503, "otlp-sink released", NULL);
	}
}

/* POST /_sink/{fail,slow,drop,partial}?... */
static void control_fault(struct sink *k, struct evhttp_request *req, const char *kind)
{
	struct err e;
	err_clear(&e);
	json_t *v = otlpsink_faults_arm(k->faults, kind, evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)), &e);
	if (v == NULL) {
		reply_json(req, 400, json_pack("{s:s}", "error", e.msg));
		return;
	}
	char *text = json_dumps(v, JSON_COMPACT);
	log_msg(LOG_LVL_INFO, "fault_armed", "kind=%s what=%s", kind, text != NULL ? text : "?");
	free(text);
	reply_json(req, 200, v);
}

static json_t *stats_json(const struct sink *k)
{
	struct otlpsink_store_counts c;
	struct otlpsink_seen_counts sc;
	const struct sink_stats *s = &k->stats;
	otlpsink_store_counts(k->store, &c);
	otlpsink_seen_counts(k->seen, &sc);
	json_t *v =
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)s->requests,
		      "spans", (json_int_t)s->spans, "failed_injected", (json_int_t)s->failed_injected, "rejected",
		      (json_int_t)s->rejected, "invalid_utf8", (json_int_t)s->invalid_utf8, "body_bytes",
		      (json_int_t)s->body_bytes, "stored_requests", (json_int_t)c.requests, "stored_spans",
		      (json_int_t)c.spans, "dropped_requests", (json_int_t)c.dropped_requests, "dropped_spans",
		      (json_int_t)c.dropped_spans, "fail_pending", (json_int_t)otlpsink_faults_fail_pending(k->faults));
	json_t *more = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "unique_spans", (json_int_t)sc.unique,
	    "duplicate_spans", (json_int_t)sc.duplicate, "untracked_spans", (json_int_t)sc.untracked,
	    "dropped_injected", (json_int_t)s->dropped_injected, "slowed", (json_int_t)s->slowed, "abandoned",
	    (json_int_t)s->abandoned, "held", (json_int_t)k->nheld, "partial_injected", (json_int_t)s->partial_injected,
	    "partial_rejected_spans", (json_int_t)s->partial_rejected, "faults", otlpsink_faults_json(k->faults));
	if (v != NULL && more != NULL)
		json_object_update(v, more);
	json_decref(more);
	return v;
}

static void reset(struct sink *k)
{
	release_held(k);
	otlpsink_store_clear(k->store);
	otlpsink_seen_clear(k->seen);
	otlpsink_arrivals_clear(k->arrivals);
	otlpsink_faults_clear(k->faults);
	memset(&k->stats, 0, sizeof(k->stats));
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
	} else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/_sink/arrivals") == 0) {
		reply_json(req, 200, otlpsink_arrivals_json(k->arrivals));
	} else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/_sink/reset") == 0) {
		reset(k);
		reply_json(req, 200, json_pack("{s:b}", "ok", 1));
	} else if (cmd == EVHTTP_REQ_POST &&
		   (strcmp(path, "/_sink/fail") == 0 || strcmp(path, "/_sink/slow") == 0 ||
		    strcmp(path, "/_sink/drop") == 0 || strcmp(path, "/_sink/partial") == 0)) {
		control_fault(k, req, path + 7);
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
	k->seen = otlpsink_seen_new(SINK_MAX_SEEN_IDS);
	k->arrivals = otlpsink_arrivals_new(SINK_MAX_ARRIVALS);
	k->faults = otlpsink_faults_new();
	TAILQ_INIT(&k->held);
	if (k->http == NULL || k->store == NULL || k->seen == NULL || k->arrivals == NULL || k->faults == NULL) {
		log_msg(LOG_LVL_ERROR, "init_failed", "what=event_base/evhttp/store/tracking");
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
	TAILQ_INIT(&k.held);
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
	release_held(&k); /* before evhttp_free, which frees the connections the held requests hang on */
	if (k.http != NULL)
		evhttp_free(k.http);
	otlpsink_store_free(k.store);
	otlpsink_seen_free(k.seen);
	otlpsink_arrivals_free(k.arrivals);
	otlpsink_faults_free(k.faults);
	if (k.base != NULL)
		event_base_free(k.base);
	return rc;
}
