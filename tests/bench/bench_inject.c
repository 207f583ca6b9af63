/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-inject: the exporter benchmark's load generator. It pushes span
 * records shaped like the gateway's (a SERVER span and its CLIENT attempt
 * per chat request, every attribute the gateway fills for a governed,
 * priced request) into an exporter's PULL socket, for a fixed time:
 *
 *   bench-inject URL --rate N --seconds S     N records/s, paced every ms
 *   bench-inject URL --rate 0 --seconds S     saturation: as fast as taken
 *   [--sndbuf BYTES]  NN_SNDBUF, default 1 MiB like the gateway's telemetry.sndbuf
 *
 * It sends like the gateway does: records in batches of up to
 * SPANPIPE_BATCH_MAX per message (what is due each 1 ms tick, at a rate),
 * with NN_DONTWAIT, so a full pipe is a counted drop, never a wait: what the exporter cannot take
 * shows up as "dropped". At rate 0 every send blocks until the exporter
 * has room, so the run measures how many records the exporter absorbs.
 * It prints one machine-readable line at the end:
 *
 *   INJECT sent=.. dropped=.. skipped=.. seconds=.. rate=.. target_rate=..
 *
 * (rate = records taken per second; skipped = records the injector itself
 * was too late to attempt, so a loaded injector is told from a slow exporter)
 *
 * spanrec-inject (tests/support/inject) is for correctness tests (bad
 * records, exact counts); this tool exists because a benchmark needs a
 * paced rate and a realistic record. It is built by tests/bench/run.sh.
 * Exit 0 after the run, 1 on a socket failure, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/spanpipe.h"
#include "common/spanrec.h"

#define INJECT_MAX_RATE 100000000L
#define INJECT_MAX_SECONDS 3600L
#define INJECT_TICK_NS 1000000L	    /* pacing step: 1 ms */
#define INJECT_MAX_BACKLOG_TICKS 10 /* after a stall, catch up at most 10 ms worth */
#define INJECT_SNDTIMEO_MS 1000
#define INJECT_LINGER_MS 1000
#define INJECT_SETTLE_MS 200
#define INJECT_SNDBUF_DEFAULT (1024 * 1024) /* the gateway's telemetry.sndbuf default */

struct inject_opts {
	const char *url;
	long rate; /* records per second; 0 = saturation (blocking sends) */
	long seconds;
	long sndbuf; /* NN_SNDBUF bytes: how many records wait while the exporter is busy */
};

struct inject_state {
	struct ids_rng rng;
	struct spanrec server;
	struct spanrec client;
	unsigned long long seq;	    /* request number, for request_id */
	unsigned long long issued;  /* records due so far: sent + dropped + skipped */
	unsigned long long sent;    /* taken by the socket */
	unsigned long long dropped; /* pipe full (NN_DONTWAIT) or send timeout */
	unsigned long long skipped; /* never attempted: the injector itself fell behind */
};

/* The two templates every record is stamped from: what the gateway writes for
 * a 200 chat completion with usage, cost, a virtual key and a tenant. */
static void build_templates(struct inject_state *s)
{
	struct spanrec *v = &s->server, *c = &s->client;
	spanrec_init(v, SPANREC_KIND_SERVER);
	v->status = SPANREC_STATUS_UNSET;
	v->op = SPANREC_OP_CHAT;
	v->trace_flags = 1;
	v->flags = SPANREC_F_HAS_USAGE | SPANREC_F_HAS_COST;
	v->http_status = 200;
	v->attempt = 1;
	v->input_tokens = 87;
	v->output_tokens = 64;
	v->cost_micro_usd = 51;
	v->ttft_ns = 310000;
	SPANREC_SET(v, name, "chat gpt-4o-mini");
	SPANREC_SET(v, request_model, "gpt-4o-mini");
	SPANREC_SET(v, response_model, "gpt-4o-mini-2024-07-18");
	SPANREC_SET(v, response_id, "chatcmpl-bench0000000000000000000000001");
	SPANREC_SET(v, finish_reason, "stop");
	SPANREC_SET(v, provider, "openai");
	SPANREC_SET(v, target, "up/gpt-4o-mini");
	SPANREC_SET(v, tenant_id, "bench-tenant");
	SPANREC_SET(v, team, "bench");
	SPANREC_SET(v, user, "wrk");
	SPANREC_SET(v, key_name, "bench");
	*c = *v;
	c->kind = SPANREC_KIND_CLIENT;
	c->server_port = 18000;
	SPANREC_SET(c, server_address, "127.0.0.1");
}

/* Gives the next record fresh ids and times; SERVER and CLIENT alternate and
 * share a trace, the CLIENT span being the SERVER span's child. */
static const struct spanrec *next_record(struct inject_state *s)
{
	uint64_t now = clock_wall_ns();
	struct spanrec *r;
	if (s->issued % 2 == 0) {
		r = &s->server;
		s->seq++;
		ids_rng_fill(&s->rng, r->trace_id, sizeof(r->trace_id));
		ids_rng_fill(&s->rng, r->span_id, sizeof(r->span_id));
		snprintf(r->request_id, sizeof(r->request_id), "bench-%016llx", s->seq);
		r->start_ns = now - 700000;
	} else {
		r = &s->client;
		memcpy(r->trace_id, s->server.trace_id, sizeof(r->trace_id));
		memcpy(r->parent_span_id, s->server.span_id, sizeof(r->parent_span_id));
		memcpy(r->request_id, s->server.request_id, sizeof(r->request_id));
		ids_rng_fill(&s->rng, r->span_id, sizeof(r->span_id));
		r->start_ns = now - 600000;
	}
	r->end_ns = now;
	return r;
}

/*
 * Sends n (1..SPANPIPE_BATCH_MAX) records as one message, the way the
 * gateway's span_batch does; a full pipe under NN_DONTWAIT drops them all.
 * -1 on a real error.
 */
static int send_batch(int sock, struct inject_state *s, size_t n, int flags)
{
	static struct spanrec batch[SPANPIPE_BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		batch[i] = *next_record(s);
		s->issued++;
	}
	int len = (int)(n * sizeof(batch[0]));
	if (nn_send(sock, batch, (size_t)len, flags) == len) {
		s->sent += n;
		return 0;
	}
	if (nn_errno() == EAGAIN || nn_errno() == ETIMEDOUT) {
		s->dropped += n;
		return 0;
	}
	fprintf(stderr, "bench-inject: send: %s\n", nn_strerror(nn_errno()));
	return -1;
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(mono_ns / 1000000000u), .tv_nsec = (long)(mono_ns % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Paced run: every 1 ms tick sends what the rate owes so far. A stall of the
 * injector itself is made up for by at most INJECT_MAX_BACKLOG_TICKS worth
 * (counted as skipped), so it never turns into one huge burst. */
static int run_paced(int sock, struct inject_state *s, const struct inject_opts *o, uint64_t t0, uint64_t end)
{
	unsigned long long cap = (unsigned long long)o->rate * INJECT_MAX_BACKLOG_TICKS / 1000 + 1;
	uint64_t tick = t0;
	for (uint64_t now = clock_mono_ns(); now < end; now = clock_mono_ns()) {
		unsigned long long due = (unsigned long long)((double)(now - t0) * (double)o->rate / 1e9);
		if (due > s->issued + cap) {
			s->skipped += due - cap - s->issued;
			s->issued = due - cap;
		}
		while (s->issued < due) {
			unsigned long long n = due - s->issued;
			if (send_batch(sock, s, n < SPANPIPE_BATCH_MAX ? (size_t)n : SPANPIPE_BATCH_MAX, NN_DONTWAIT) <
			    0)
				return -1;
		}
		tick += INJECT_TICK_NS;
		if (tick > now)
			sleep_until(tick);
		else
			tick = now;
	}
	return 0;
}

/* Saturation run: blocking sends until the time is up. */
static int run_saturate(int sock, struct inject_state *s, uint64_t end)
{
	while (clock_mono_ns() < end) {
		for (int i = 0; i < 4; i++)
			if (send_batch(sock, s, SPANPIPE_BATCH_MAX, 0) < 0)
				return -1;
	}
	return 0;
}

static int open_socket(const char *url, long sndbuf)
{
	int timeo = INJECT_SNDTIMEO_MS, linger = INJECT_LINGER_MS, buf = (int)sndbuf;
	int sock = nn_socket(AF_SP, NN_PUSH);
	if (sock < 0) {
		fprintf(stderr, "bench-inject: nn_socket: %s\n", nn_strerror(nn_errno()));
		return -1;
	}
	if (nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeo, sizeof(timeo)) < 0 ||
	    nn_setsockopt(sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) < 0 ||
	    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof(buf)) < 0 || nn_connect(sock, url) < 0) {
		fprintf(stderr, "bench-inject: %s: %s\n", url, nn_strerror(nn_errno()));
		nn_close(sock);
		return -1;
	}
	return sock;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct inject_opts *o)
{
	o->url = NULL;
	o->rate = 0;
	o->seconds = 10;
	o->sndbuf = INJECT_SNDBUF_DEFAULT;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--rate") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], 0, INJECT_MAX_RATE, &o->rate) < 0)
				return -1;
		} else if (strcmp(a, "--seconds") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], 1, INJECT_MAX_SECONDS, &o->seconds) < 0)
				return -1;
		} else if (strcmp(a, "--sndbuf") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], 4096, 256L * 1024 * 1024, &o->sndbuf) < 0)
				return -1;
		} else if (a[0] != '-' && o->url == NULL) {
			o->url = a;
		} else {
			return -1;
		}
	}
	return o->url != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct inject_opts o;
	struct inject_state s;
	struct err e;
	if (parse_args(argc, argv, &o) < 0) {
		fputs("usage: bench-inject URL [--rate N (records/s, 0 = saturate)] [--seconds S] [--sndbuf BYTES]\n",
		      stderr);
		return 2;
	}
	memset(&s, 0, sizeof(s));
	if (ids_rng_init(&s.rng, &e) != 0) {
		fprintf(stderr, "bench-inject: %s\n", e.msg);
		return 1;
	}
	build_templates(&s);
	int sock = open_socket(o.url, o.sndbuf);
	if (sock < 0)
		return 1;
	uint64_t t0 = clock_mono_ns(), end = t0 + (uint64_t)o.seconds * 1000000000u;
	int rc = o.rate > 0 ? run_paced(sock, &s, &o, t0, end) : run_saturate(sock, &s, end);
	double secs = (double)(clock_mono_ns() - t0) / 1e9;
	printf("INJECT sent=%llu dropped=%llu skipped=%llu seconds=%.3f rate=%.0f target_rate=%ld\n", s.sent, s.dropped,
	       s.skipped, secs, (double)s.sent / secs, o.rate);
	fflush(stdout);
	/* nanomsg's close does not wait for queued messages; give them time to leave. */
	struct timespec ts = {.tv_sec = 0, .tv_nsec = INJECT_SETTLE_MS * 1000000L};
	nanosleep(&ts, NULL);
	nn_close(sock);
	return rc < 0 ? 1 : 0;
}
