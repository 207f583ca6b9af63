/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process context (struct gw: config, metrics, auth table, TLS
 * contexts, span pipe; read-only once built, shared by all workers) and
 * the workers (struct gw_worker: one thread each with its own event loop,
 * DNS, listening socket (SO_REUSEPORT: the kernel spreads connections),
 * connections, id generator and upstream pool). Nothing on the request
 * path takes a lock: workers share only read-only config, atomic metrics
 * and the span pipe (nanomsg sockets are thread-safe).
 *
 * The main thread owns the signals: it blocks them before the workers
 * start (they inherit the mask) and forwards a drain or an immediate stop
 * to every worker through the worker's wake-up pipe.
 */
#ifndef LLMGW_GATEWAY_GW_H
#define LLMGW_GATEWAY_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#include "common/err.h"
#include "common/ids.h"
#include "common/log.h"
#include "gateway/gw_conf.h"
#include "gateway/gw_metrics.h"
#include "gateway/http_conn.h"
#include "gateway/span_batch.h"
#include "gateway/span_emit.h"

struct event_base;
struct evdns_base;
struct event;
struct metric;
struct upstream_pool;
struct upstream_metrics;
struct gw_gen;
struct gw_usage;
struct gov_redis;
struct gov_redis_metrics;
struct gw_req;
struct gw_worker;
struct admin;
struct mcp_metrics;
struct mcp_worker;
struct api_cache_g;
struct api_guard_metrics;

struct gw {
	/*
	 * The config the process started with (owned): server, telemetry,
	 * providers and redis come from here for the life of the process.
	 * What a reload replaces (keys, limits, prices, models) is read from
	 * the request's generation, r->gen->conf, never from here.
	 */
	struct gw_conf *conf;
	_Atomic(struct gw_gen *) gen; /* the current generation (gw_gen.h) */
	struct gw_metrics metrics;
	struct gw_usage *usage;			 /* usage by model and tenant */
	struct gov_redis_metrics *redis_metrics; /* NULL without redis */
	struct metric *reloads[2];		 /* llmgw_config_reloads_total{result="ok"|"error"} */
	struct metric *generation;		 /* llmgw_config_generation */
	SSL_CTX **tls;				 /* [conf->nproviders], NULL entries for non-TLS providers */
	struct spanpipe *spans;
	struct span_out span_out;
	int64_t started_unix; /* "created" of /v1/models entries */
	struct upstream_metrics *up_metrics;
	struct metric *conns_open;	 /* llmgw_connections_open */
	struct metric *conns_rejected;	 /* llmgw_connections_rejected_total */
	struct metric *conns_accepted;	 /* llmgw_connections_accepted_total */
	struct metric **tls_insecure;	 /* [nproviders] llmgw_upstream_tls_verify_disabled{provider}; NULL for mock */
	struct mcp_metrics *mcp_metrics; /* llmgw_mcp_* (gateway/mcp_metrics.h) */
	struct api_cache_g *rcache;	 /* response cache store, llmgw_cache_* (gateway/api_cache.h); NULL without */
	struct api_guard_metrics *guard_metrics; /* llmgw_guardrail_actions_total (gateway/api_guard.h) */

	struct gw_worker *workers; /* [nworkers] */
	unsigned nworkers;
	atomic_uint exited; /* workers whose loop has ended */
};

TAILQ_HEAD(gw_req_list, gw_req);

struct gw_worker {
	struct gw *gw;
	unsigned id;
	struct event_base *base;
	struct evdns_base *dns;
	struct upstream_pool *pool;
	struct gw_gen *gen;	 /* the newest generation this worker adopted */
	struct gov_redis *redis; /* shared limits; NULL without redis */
	struct ids_rng rng;
	struct log_ratelimit warn_rl; /* upstream failure lines */
	struct span_batch spans;      /* this worker's records on their way to the pipe */
	struct gw_req_list reqs;      /* requests being handled */
	unsigned nreqs;
	bool ready;    /* listening and not draining */
	bool draining; /* SIGTERM seen: no new connections, exit when idle */
	struct event *drain_timer;

	/* HTTP server (http_srv.c) */
	int listen_fd;
	struct event *accept_ev;
	struct event *accept_pause; /* re-enables accepting after EMFILE */
	size_t max_conns;	    /* this worker's share of server.max_connections */
	struct http_conn_env conns;
	bool conns_ready;	/* conns initialised */
	struct admin *admin;	/* admin.listen (gateway/admin.h); NULL when unset */
	struct mcp_worker *mcp; /* MCP upstream pools and GET streams (gateway/mcp_pool.h) */

	/* thread */
	pthread_t thread;
	bool started;
	int wake[2]; /* main -> worker: 'd' drain, 's' stop now */
	struct event *wake_ev;
};

/*
 * Builds the process context from conf (adopted: freed by gw_fini): metrics,
 * key table, TLS contexts for https providers, and the span pipe when
 * telemetry.spans_url is set. -1 with err (g is then finalised).
 */
int gw_init(struct gw *g, struct gw_conf *conf, struct err *err);
void gw_fini(struct gw *g);

/*
 * Creates conf->workers workers (loop, DNS, upstream pool, listening socket
 * each) on the calling thread, so a bind failure is reported before any
 * thread runs. -1 with err (workers made so far are freed by gw_fini).
 */
int gw_workers_init(struct gw *g, struct err *err);
/* Starts one thread per worker. Block the signals first: the threads inherit the mask. */
int gw_workers_start(struct gw *g, struct err *err);
/*
 * WARN event=tls_verify_disabled for each provider with
 * insecure_skip_verify: true; returns how many. main() calls it at start,
 * after every reload and for --check-config, so the setting can never go
 * unnoticed in the logs.
 */
size_t gw_warn_insecure(const struct gw_conf *conf);

/* From the main thread: asks every worker to drain (stop_now false) or to stop at once. */
void gw_workers_signal(struct gw *g, bool stop_now);
/* From the main thread: sends cmd to every worker ('d' drain, 's' stop now, 'r' adopt the new generation). */
void gw_workers_wake(struct gw *g, char cmd);
/* True once every worker loop has ended. */
bool gw_workers_done(struct gw *g);
/* Joins the threads and frees the workers. */
void gw_workers_join(struct gw *g);

/* One worker (also used directly by tests): loop, DNS, upstream pool, HTTP server. */
int gw_worker_init(struct gw_worker *w, struct gw *g, unsigned id, struct err *err);
void gw_worker_fini(struct gw_worker *w);

/*
 * Graceful stop (on the worker's thread): close the listener (readyz turns
 * 503) and idle keep-alive connections, let requests in flight finish
 * (their responses carry Connection: close), then leave the loop; at
 * server.drain_timeout the ones still running are answered 503 and the
 * loop ends anyway.
 */
void gw_worker_drain(struct gw_worker *w);

/* Stops at once: answers 503 to requests in flight, flushes briefly, leaves the loop. */
void gw_worker_stop_now(struct gw_worker *w);

/* Called by the HTTP layer when a request or a connection ends; leaves the loop when draining and idle. */
void gw_worker_request_done(struct gw_worker *w);

#endif
