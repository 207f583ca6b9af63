/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config generations: everything a config reload (SIGHUP) may replace —
 * the config itself, the key table, routing state and the limits table —
 * bundled in one immutable struct gw_gen that a request pins for its whole
 * life. A reload builds the next generation on the main thread, publishes
 * it with one atomic store and wakes the workers; a generation is freed
 * once no worker uses it any more.
 *
 * No shared counter is touched per request: each worker counts its own
 * requests per generation (gen->inflight[worker], written only by that
 * worker) and releases an old generation once, when it has moved on and
 * its count there is zero. A generation starts with one hold per worker
 * plus one for being current; the last release frees it. Generations a
 * worker never adopted (two reloads in quick succession) are released by
 * walking the `older` chain, which stays valid because the worker still
 * holds the oldest of them.
 *
 * What a reload cannot change (server, telemetry, providers, redis: they
 * own sockets, pools and threads) must be equal in the new file, or the
 * reload is refused and the running generation stays (gw_conf_reloadable).
 */
#ifndef LLMGW_GATEWAY_GW_GEN_H
#define LLMGW_GATEWAY_GW_GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct gw;
struct gw_conf;
struct gw_worker;
struct auth;
struct router;
struct router_local;
struct gov;
struct gw_usage_series;
struct mcp_gen;

struct gw_gen {
	struct gw_conf *conf; /* owned, except the first generation's (gw.conf) */
	bool owns_conf;
	unsigned id; /* 1 for the config the process started with */
	struct auth *auth;
	struct router *router;
	struct router_local **route; /* [nworkers]: each worker's round-robin state */
	struct gov *gov;
	struct mcp_gen *mcp; /* TLS contexts of the https MCP servers (gateway/mcp_pool.h) */
	/* /metrics series per (model, tenant): [(nmodels + 1) * (ntenants + 1)], filled on first use */
	_Atomic(struct gw_usage_series *) *usage;
	size_t nusage;
	struct gw_gen *older; /* the generation this one replaced (see the header comment) */
	atomic_uint holds;
	unsigned *inflight; /* [nworkers], each written by its worker only */
	unsigned nworkers;
};

/*
 * Builds a generation for conf (owned when owns is true, also on failure)
 * for nworkers workers; prev (the running one, may be NULL) hands over the
 * limit states of keys and tenants that stay.
 */
struct gw_gen *gw_gen_new(struct gw *g, struct gw_conf *conf, bool owns, const struct gw_gen *prev, unsigned nworkers,
			  struct err *err);
/* Drops one hold; the last frees the generation. */
void gw_gen_release(struct gw_gen *gen);

/* Worker side: the generation a new request runs in (adopts the newest first), counted until gw_gen_leave. */
struct gw_gen *gw_gen_enter(struct gw_worker *w);
void gw_gen_leave(struct gw_worker *w, struct gw_gen *gen);
/* Worker side: moves to the newest generation now (on the reload wake-up, and at exit with last = true). */
void gw_gen_adopt(struct gw_worker *w, bool last);

/*
 * Main thread: loads path and, when it is valid and reloadable, makes it
 * the current generation and wakes the workers. -1 with err (the running
 * generation stays).
 */
int gw_reload(struct gw *g, const char *path, struct err *err);

/* The usage series of (model index or nmodels for unknown, tenant index or GW_TENANT_NONE). */
struct gw_usage_series *gw_gen_usage(struct gw *g, struct gw_gen *gen, size_t model, size_t tenant);

#endif
