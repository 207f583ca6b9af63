/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the gateway's whole client-facing request path,
 * bytes in to bytes out: a real worker (gateway/http_srv, included to
 * reach its statics, on the real gateway/http_conn and event loop) is fed
 * the input as the byte stream of one client connection over a socketpair
 * (keep-alive, pipelining, chunked bodies, Expect, every framing rule),
 * then routing, the virtual-key check, x-llmgw-metadata and traceparent,
 * the request parsers, the router, governance and the built-in mock
 * provider answering in process (JSON and SSE), and span emission to a
 * nanomsg PULL socket of our own.
 * Input: byte 0 = where to cut the stream in two writes (a share of the
 * rest, 0 = one write); the rest = what the client sends.
 * Checks, besides no crash, leak or UB:
 *  - what the client receives is a sequence of well-formed HTTP/1.1
 *    responses (parsed with the gateway's own parser, HEAD-aware), no more
 *    of them than requests the server saw (plus one rejection);
 *  - every response carries an x-request-id; a JSON body parses, and for an
 *    error status is OpenAI's {"error":{"message":...}}; an event stream is
 *    made of "data: <JSON object>" / "data: [DONE]" events and comments;
 *  - once the client closes, the connection and every request are released
 *    within a bounded number of loop iterations (nothing hangs);
 *  - every span record that reaches the PULL socket passes
 *    spanrec_validate() (hostile input never makes a record the exporter
 *    would drop).
 * LLMGW_FUZZ_DUMP=1 in the environment prints what the client received
 * and turns on debug logs (to read a reproducer).
 * Setup: one worker, server limits set low (2 KiB head, 16 headers, 8 KiB
 * body) so the fuzzer reaches every 4xx, timeouts long enough never to fire.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "common/spanrec.h"
#include "gateway/http_srv.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RX_MAX ((size_t)4 << 20) /* what the client keeps of the answers */
#define SEEN_MAX 4096		 /* requests remembered per connection */
#define SPIN_MAX 20000		 /* loop iterations before the connection must be settled */

/* The key the seeds use: "Authorization: Bearer sk-fuzz-key-1". */
static const char conf_fmt[] =
    "server: { workers: 1, max_body: 8KiB, max_header_bytes: 2KiB, max_headers: 16, request_timeout: 1h,"
    " idle_timeout: 1h, write_timeout: 1h }\n"
    "telemetry: { spans_url: \"%s\" }\n"
    "providers:\n"
    "  - { name: builtin, type: mock }\n"
    "  - { name: other, type: mock }\n"
    "models:\n"
    "  - { name: m, targets: [ { provider: builtin, model: mock-1 } ] }\n"
    "  - { name: gpt-4o, strategy: weighted, targets: [ { provider: builtin, model: a, weight: 2 },"
    " { provider: other, model: b } ], fallbacks: [ m ] }\n"
    "auth: { enabled: true, allow_anonymous: true }\n"
    "keys:\n"
    "  - { name: fuzz, sha256: 7d185336d38fa43a4eb9173ea7c8d7a783e42e6d10bfd2077859c237883488f0,"
    " tenant_id: t1, team: blue, user: u1, models: [ \"m\", \"gpt-*\" ] }\n"
    "  - { name: narrow, sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824,"
    " models: [ \"x?\" ] }\n";

/* The fuzzing process's one worker (a fuzz target has no main() to hold it). */
struct fz {
	struct gw g;
	struct gw_worker w;
	int spans;			 /* our PULL end of the span pipe */
	char spans_path[96];		 /* its ipc socket file */
	int cli, srv;			 /* this input's socketpair: client end, server end (owned by http_conn) */
	char *rx;			 /* [RX_MAX] */
	size_t rxlen;			 /* bytes kept */
	bool rx_cut;			 /* more arrived than RX_MAX */
	enum http_method seen[SEEN_MAX]; /* methods of the requests the server dispatched, in order */
	size_t nseen;
	size_t nreject;
	bool dump; /* LLMGW_FUZZ_DUMP set: print what the client received (reading a reproducer) */
};

static struct fz fz;

static void fz_request(struct http_conn *c, void *arg)
{
	if (fz.nseen < SEEN_MAX)
		fz.seen[fz.nseen] = http_conn_msg(c)->method;
	fz.nseen++;
	on_request(c, arg);
}

static void fz_reject(struct http_conn *c, int status, const char *why, bool head_done, void *arg)
{
	fz.nreject++;
	on_reject(c, status, why, head_done, arg);
}

static const struct http_conn_ops fz_ops = {fz_request, fz_reject, on_gone, on_closed};

static void fz_cleanup(void)
{
	unlink(fz.spans_path);
}

static void fz_setup(void)
{
	struct err err;
	char yaml[sizeof(conf_fmt) + 128];
	const char *tmp = getenv("TMPDIR");
	signal(SIGPIPE, SIG_IGN); /* as gateway/main.c: a write to a gone client is an EPIPE, not a death */
	fz.dump = getenv("LLMGW_FUZZ_DUMP") != NULL;
	log_init("fuzz_http_srv", fz.dump ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	snprintf(fz.spans_path, sizeof(fz.spans_path), "%s/llmgw-fuzz-spans.%ld.sock",
		 tmp != NULL && strlen(tmp) < 48 ? tmp : "/tmp", (long)getpid());
	char url[128];
	snprintf(url, sizeof(url), "ipc://%s", fz.spans_path);
	fz.spans = nn_socket(AF_SP, NN_PULL);
	if (fz.spans < 0 || nn_bind(fz.spans, url) < 0)
		abort();
	int n = snprintf(yaml, sizeof(yaml), conf_fmt, url);
	struct gw_conf *conf = gw_conf_parse(yaml, (size_t)n, "fuzz.yaml", &err);
	if (conf == NULL || gw_init(&fz.g, conf, &err) != 0) {
		fprintf(stderr, "fuzz_http_srv: %s\n", err.msg);
		abort();
	}
	struct gw_worker *w = &fz.w;
	w->gw = &fz.g;
	w->listen_fd = -1;
	TAILQ_INIT(&w->reqs);
	log_ratelimit_init(&w->warn_rl, 10, 1000000000u);
	if (ids_rng_init(&w->rng, &err) != 0 || (w->base = event_base_new()) == NULL)
		abort();
	const struct gw_conf *c = fz.g.conf;
	/* as http_srv_start, without the listening socket: connections come from socketpairs */
	const struct http_limits lim = {HTTP_PARSE_MAX_LINE_DEFAULT, (size_t)c->max_header_bytes, c->max_headers,
					c->max_body};
	w->max_conns = 1;
	if (http_conn_env_init(&w->conns, w->base, &fz_ops, w, &lim, c->request_timeout_ms, c->idle_timeout_ms,
			       c->write_timeout_ms, (size_t)c->max_pending_write) != 0)
		abort();
	w->conns_ready = true;
	if (timeout_metrics(w, &err) != 0)
		abort();
	w->ready = true;
	if (span_batch_init(&w->spans, w->base, &fz.g.span_out, &err) != 0 || (fz.rx = malloc(RX_MAX + 1)) == NULL)
		abort();
	/* the PUSH side connects in the background: records sent before that would be dropped */
	const struct timespec ms = {0, 1000 * 1000};
	for (int i = 0; i < 5000 && nn_get_statistic(fz.spans, NN_STAT_CURRENT_CONNECTIONS) < 1; i++)
		nanosleep(&ms, NULL);
	atexit(fz_cleanup);
}

/* Moves what the server wrote into rx. */
static size_t client_read(void)
{
	char tmp[65536];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fz.cli, tmp, sizeof(tmp));
		if (n <= 0)
			return got;
		got += (size_t)n;
		size_t keep = RX_MAX - fz.rxlen < (size_t)n ? RX_MAX - fz.rxlen : (size_t)n;
		memcpy(fz.rx + fz.rxlen, tmp, keep);
		fz.rxlen += keep;
		fz.rx_cut |= keep < (size_t)n;
	}
}

/* Bytes the server has not read yet (0 once its connection is gone). */
static int server_unread(void)
{
	int n = 0;
	if (fz.w.conns.nconns == 0 || ioctl(fz.srv, FIONREAD, &n) != 0)
		return 0;
	return n;
}

/* Runs the loop until the server has read everything and answered what it can. */
static void settle(void)
{
	unsigned quiet = 0;
	for (int i = 0; i < SPIN_MAX && fz.w.conns.nconns > 0; i++) {
		event_base_loop(fz.w.base, EVLOOP_NONBLOCK);
		size_t got = client_read();
		if (got == 0 && fz.w.nreqs == 0 && server_unread() == 0)
			quiet++;
		else
			quiet = 0;
		if (quiet >= 3)
			return;
	}
}

/* ---- checks on what the client received ------------------------------------------ */

static bool ctype_is(const struct http_msg *m, const char *want)
{
	const struct http_hdr *h = http_parse_header(m, "Content-Type");
	size_t n = strlen(want);
	return h != NULL && h->value_len >= n && strncasecmp(h->value, want, n) == 0;
}

static void check_json_body(int status, const char *p, size_t n)
{
	json_t *j = json_loadb(p, n, 0, NULL);
	if (!json_is_object(j))
		abort();
	if (status >= 400 && !json_is_string(json_object_get(json_object_get(j, "error"), "message")))
		abort();
	json_decref(j);
}

/* An SSE body: lines of "data: <JSON object>|[DONE]" or ": comment", events ended by a blank line. */
static void check_sse_body(const char *p, size_t n, bool complete)
{
	size_t at = 0;
	while (at < n) {
		const char *nl = memchr(p + at, '\n', n - at);
		if (nl == NULL) {
			if (complete)
				abort();
			return;
		}
		size_t len = (size_t)(nl - (p + at));
		const char *line = p + at;
		if (len > 6 && memcmp(line, "data: ", 6) == 0) {
			if (!(len == 12 && memcmp(line + 6, "[DONE]", 6) == 0)) {
				json_t *j = json_loadb(line + 6, len - 6, 0, NULL);
				if (!json_is_object(j))
					abort();
				json_decref(j);
			}
		} else if (len != 0 && line[0] != ':') {
			abort();
		}
		at += len + 1;
	}
}

/* One response's head and body, judged when it is complete. */
static void check_response(const struct http_msg *m, const char *body, size_t n, bool complete)
{
	if (m->status < 200 || m->status > 599 || http_parse_header(m, "x-request-id") == NULL)
		abort();
	if (ctype_is(m, "text/event-stream"))
		check_sse_body(body, n, complete);
	else if (complete && n > 0 && ctype_is(m, "application/json"))
		check_json_body(m->status, body, n);
}

/* Splits rx into responses; aborts on anything that is not HTTP/1.1 as a client would read it. */
static void check_rx(bool closed)
{
	static const struct http_limits lim = {8192, 65536, 64, RX_MAX};
	struct http_parser p;
	struct http_hdr hdrs[64];
	struct buf body;
	size_t at = 0, nresp = 0;
	bool head = fz.nseen > 0 && fz.seen[0] == HTTP_METHOD_HEAD;
	buf_init(&body, RX_MAX);
	http_parse_init_response(&p, &lim, hdrs, 64, head);
	for (;;) {
		size_t used = 0;
		struct http_slice d = {NULL, 0};
		enum http_parse_status st = http_parse_feed(&p, fz.rx + at, fz.rxlen - at, &used, &d);
		at += used;
		if (st == HTTP_PARSE_ERROR)
			abort();
		if (st == HTTP_PARSE_DATA && buf_append(&body, d.p, d.n) < 0)
			abort();
		if (st == HTTP_PARSE_DONE || (st == HTTP_PARSE_AGAIN && at == fz.rxlen)) {
			bool done = st == HTTP_PARSE_DONE;
			if (!done && closed && http_parse_eof(&p) == HTTP_PARSE_DONE)
				done = true;
			if (p.head_done)
				check_response(&p.msg, body.data, body.len, done);
			if (!done)
				break;
			nresp++;
			buf_reset(&body);
			head = nresp < fz.nseen && nresp < SEEN_MAX && fz.seen[nresp] == HTTP_METHOD_HEAD;
			http_parse_next(&p, head);
			if (at == fz.rxlen)
				break;
		}
	}
	if (nresp > fz.nseen + fz.nreject)
		abort();
	buf_fini(&body);
}

/* Every record the gateway sent so far must be one the exporter accepts. Returns how many arrived. */
static size_t check_spans(void)
{
	size_t good = 0;
	for (;;) {
		void *msg = NULL;
		int len = nn_recv(fz.spans, &msg, NN_MSG, NN_DONTWAIT);
		if (len < 0)
			return good;
		const unsigned char *p = msg;
		size_t left = (size_t)len;
		while (left > 0) {
			struct spanrec rec;
			struct err err;
			size_t n = spanrec_frame_len(p, left);
			if (n == 0 || spanrec_validate(p, n, &rec, &err) != SPANREC_OK) {
				fprintf(stderr, "fuzz_http_srv: invalid span record: %s\n", err.msg);
				abort();
			}
			p += n;
			left -= n;
			good++;
		}
		nn_freemsg(msg);
	}
}

/* ---- one input --------------------------------------------------------------------- */

/* Writes all of p (the socket buffer takes it: inputs are far below its size). */
static void client_write(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fz.cli, p, n);
		if (k <= 0) {
			/* the server closed (a rejection) or its buffer is full: let it run, then go on */
			settle();
			if (fz.w.conns.nconns == 0)
				return;
			continue;
		}
		p += k;
		n -= (size_t)k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (fz.rx == NULL)
		fz_setup();
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		return 0;
	fz.cli = sv[0];
	fz.srv = sv[1];
	fz.rxlen = 0;
	fz.rx_cut = false;
	fz.nseen = fz.nreject = 0;
	if (http_conn_new(&fz.w.conns, sv[1]) == NULL) {
		close(sv[0]);
		return 0;
	}
	metric_gauge_add(fz.g.conns_open, 1); /* as accept_cb does: on_closed takes it back */
	const uint8_t *in = data + 1;
	size_t n = size - 1, cut = n * data[0] / 256;
	client_write(in, cut);
	settle();
	client_write(in + cut, n - cut);
	settle();
	bool server_closed = fz.w.conns.nconns == 0;
	client_read();

	/* The client goes away: everything must be released without any timer firing. */
	close(fz.cli);
	for (int i = 0; i < SPIN_MAX && (fz.w.conns.nconns > 0 || fz.w.nreqs > 0); i++)
		event_base_loop(fz.w.base, EVLOOP_NONBLOCK);
	if (fz.w.conns.nconns > 0 || fz.w.nreqs > 0) {
		fprintf(stderr, "fuzz_http_srv: %zu connection(s), %u request(s) left after the client closed\n",
			fz.w.conns.nconns, fz.w.nreqs);
		abort();
	}
	if (fz.dump)
		fprintf(stderr, "---- %zu request(s), %zu rejected, server %s; received %zu bytes:\n%.*s\n----\n",
			fz.nseen, fz.nreject, server_closed ? "closed" : "open", fz.rxlen, (int)fz.rxlen, fz.rx);
	if (!fz.rx_cut)
		check_rx(server_closed);
	span_batch_flush(&fz.w.spans); /* records arrive asynchronously: checked now or with the next input */
	size_t spans = check_spans();
	if (fz.dump)
		fprintf(stderr, "---- %zu span record(s) received, all valid\n", spans);
	return 0;
}
