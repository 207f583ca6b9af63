/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections to MCP servers, reload-safe.
 *
 * MCP servers come from the config generation (a reload may add, change or
 * drop them), while the upstream client (gateway/upstream.h) keeps its
 * targets for the life of a pool. So each worker keeps one small
 * upstream pool per distinct server *connection* (URL, CA file, timeouts),
 * created on first use and shared by every generation that describes the
 * server the same way: a reload that leaves a server alone keeps its
 * keep-alive connections. A pool no longer described by the worker's
 * current generation is freed once no request uses it (a long GET stream
 * keeps its pool until it ends), from the worker's own deferred event,
 * never inside an upstream callback.
 *
 * Each pool has two targets: MCP_TARGET_CALL for POST and DELETE (total
 * deadline: the server's timeout) and MCP_TARGET_STREAM for the GET
 * stream (total deadline: stream_timeout), both with the server's
 * idle_timeout between body pieces.
 *
 * TLS contexts for https servers are made per generation on the main
 * thread (struct mcp_gen, built with the generation), so no worker reads
 * a CA file on its event loop; a pool takes a reference to its context.
 */
#ifndef LLMGW_GATEWAY_MCP_POOL_H
#define LLMGW_GATEWAY_MCP_POOL_H

#include <stddef.h>

#include "common/err.h"

struct gw_conf;
struct gw_gen;
struct gw_worker;
struct upstream_pool;
struct mcp_gen;
struct mcp_worker;
struct mcp_upstream;

enum mcp_target {
	MCP_TARGET_CALL = 0, /* POST, DELETE */
	MCP_TARGET_STREAM,   /* GET */
	MCP_TARGET__COUNT
};

/* Per generation: TLS contexts of conf's https MCP servers. NULL with err (a CA file that cannot be read). */
struct mcp_gen *mcp_gen_new(const struct gw_conf *conf, struct err *err);
void mcp_gen_free(struct mcp_gen *g);

/* Per worker (gw_worker_init / gw_worker_fini); frees every pool. */
struct mcp_worker *mcp_worker_new(struct gw_worker *w, struct err *err);
void mcp_worker_free(struct mcp_worker *mw);

/*
 * The pool for MCP server `server` (index into gen->conf->mcp_servers), held
 * until mcp_pool_put. NULL with err on ENOMEM. Worker thread only.
 */
struct mcp_upstream *mcp_pool_get(struct mcp_worker *mw, const struct gw_gen *gen, size_t server, struct err *err);
void mcp_pool_put(struct mcp_worker *mw, struct mcp_upstream *u);
/* The upstream client of u, for upstream_call_start with an enum mcp_target as the provider index. */
struct upstream_pool *mcp_upstream_pool(const struct mcp_upstream *u);

#endif
