/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process context (struct gw: config, metrics, auth table, TLS
 * contexts, span pipe; read-only once built, shared by all workers) and
 * the per-event-loop worker (struct gw_worker: event base, DNS, HTTP
 * server, id generator, upstream pool). Today main() runs one worker on its
 * own thread; more workers are more gw_worker values, nothing else.
 */
#ifndef LLMGW_GATEWAY_GW_H
#define LLMGW_GATEWAY_GW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#include "common/err.h"
#include "common/ids.h"
#include "common/log.h"
#include "gateway/gw_conf.h"
#include "gateway/gw_metrics.h"
#include "gateway/span_emit.h"

struct auth;
struct event_base;
struct evdns_base;
struct evhttp;
struct evhttp_bound_socket;
struct event;
struct upstream_pool;
struct gw_req;

struct gw {
	struct gw_conf *conf; /* owned */
	struct gw_metrics metrics;
	struct auth *auth;
	SSL_CTX **tls; /* [conf->nproviders], NULL entries for non-TLS providers */
	struct spanpipe *spans;
	struct span_out span_out;
	int64_t started_unix; /* "created" of /v1/models entries */
};

TAILQ_HEAD(gw_req_list, gw_req);

struct gw_worker {
	struct gw *gw;
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	struct upstream_pool *pool;
	struct ids_rng rng;
	struct log_ratelimit warn_rl; /* upstream failure lines */
	struct gw_req_list reqs;      /* requests being handled */
	unsigned nreqs;
	bool ready;    /* listening and not draining */
	bool draining; /* SIGTERM seen: no new connections, exit when idle */
	struct event *drain_timer;
};

/*
 * Builds the process context from conf (adopted: freed by gw_fini): metrics,
 * key table, TLS contexts for https providers, and the span pipe when
 * telemetry.spans_url is set. -1 with err (g is then finalised).
 */
int gw_init(struct gw *g, struct gw_conf *conf, struct err *err);
void gw_fini(struct gw *g);

/* Creates the loop, DNS, upstream pool and the HTTP server bound to server.listen. */
int gw_worker_init(struct gw_worker *w, struct gw *g, struct err *err);
void gw_worker_fini(struct gw_worker *w);

/*
 * Graceful stop: close the listener (readyz turns 503, new requests on
 * kept-alive connections get Connection: close), let requests in flight
 * finish, then leave the loop; at server.drain_timeout the ones still
 * running are answered 503 and the loop ends anyway.
 */
void gw_worker_drain(struct gw_worker *w);

/* Stops at once: answers 503 to requests in flight, flushes briefly, leaves the loop. */
void gw_worker_stop_now(struct gw_worker *w);

/* Called by the HTTP layer when a request ends; leaves the loop when draining and idle. */
void gw_worker_request_done(struct gw_worker *w);

#endif
