/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's admin listener (admin.listen): GET/HEAD /healthz,
 * /readyz and /metrics on an address of their own, so the API port can
 * face callers (or a load balancer) while probes and Prometheus scrapes
 * stay on an internal one. When admin.listen is set, server.listen no
 * longer serves these paths (404 in OpenAI's shape, like any unknown path).
 *
 * Every worker listens on the admin address too (SO_REUSEPORT, like the
 * API listener) and serves it from its own event loop with the same
 * HTTP/1.1 connection code (gateway/http_conn): nothing blocks, a
 * /healthz answer proves a worker loop is alive, /readyz is that worker's
 * readiness (503 while draining). Admin connections are few and bounded
 * (ADMIN_MAX_CONNS per worker), carry no spans and are not counted as
 * API requests; the listener stays open while the worker drains, so
 * probes see 503 instead of a refused connection.
 */
#ifndef LLMGW_GATEWAY_ADMIN_H
#define LLMGW_GATEWAY_ADMIN_H

#include "common/err.h"

struct gw_worker;
struct admin;

#define ADMIN_MAX_CONNS 64 /* per worker; more are closed at once */

/*
 * Listens on w->gw->conf->admin_host:admin_port on w's loop. NULL with
 * err ("admin: cannot listen on ...") when the address cannot be bound.
 * Free with admin_free before w's event base.
 */
struct admin *admin_new(struct gw_worker *w, struct err *err);
/* Closes the listener and every admin connection; NULL is a no-op. */
void admin_free(struct admin *a);

#endif
