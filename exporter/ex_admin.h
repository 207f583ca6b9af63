/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exporter's admin listener (admin.listen, 127.0.0.1:9464 by default):
 *   GET /healthz  200 "ok" while the event loop runs (liveness)
 *   GET /readyz   200 "ready", or 503 "not ready: <reason>" while the
 *                 ready callback says so (socket not bound yet, draining,
 *                 queue over its high-water mark, exports failing)
 *   GET /metrics  Prometheus text format 0.0.4
 * Served by libevent's evhttp on the exporter's own loop: scrapes are rare
 * and cheap, and sharing the loop means /healthz proves the loop is alive.
 */
#ifndef LLMGW_EXPORTER_EX_ADMIN_H
#define LLMGW_EXPORTER_EX_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/metrics.h"

struct ex_admin;

/* true when ready; else false with a short reason (one line, no secrets) written to why. */
typedef bool (*ex_admin_ready_cb)(void *arg, char *why, size_t whylen);

/*
 * Binds host:port (port 0 picks a free one; the bound port is logged as
 * event=admin_listening and returned by ex_admin_port). Borrows reg.
 */
struct ex_admin *ex_admin_new(struct event_base *evb, const char *host, uint16_t port, const struct metrics *reg,
			      ex_admin_ready_cb ready, void *arg, struct err *err);
void ex_admin_free(struct ex_admin *a);
uint16_t ex_admin_port(const struct ex_admin *a);

#endif
