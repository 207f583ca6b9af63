/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's Prometheus series, all registered at start-up (the common
 * registry does not grow afterwards) with fixed label sets: status classes
 * instead of raw codes, one row per configured provider and outcome, one
 * per gateway error type. Updates are lock-free, so worker threads share it.
 */
#ifndef LLMGW_GATEWAY_GW_METRICS_H
#define LLMGW_GATEWAY_GW_METRICS_H

#include <stddef.h>

#include "common/err.h"
#include "gateway/oai_err.h"

struct metrics;
struct metric;
struct gw_conf;

enum gw_upstream_outcome {
	GW_UP_OK = 0,	     /* 2xx with a usable body */
	GW_UP_ERROR,	     /* 4xx/5xx, unusable body, protocol error */
	GW_UP_TIMEOUT,	     /* connect or total timeout */
	GW_UP_CONNECT_ERROR, /* DNS, refused, reset, TLS */
	GW_UP__COUNT
};

struct gw_metrics {
	struct metrics *reg;
	struct metric *requests[3]; /* code_class 2xx, 4xx, 5xx */
	struct metric *duration;
	struct metric *in_flight;
	struct metric *errors[GWE__COUNT]; /* by span error type */
	struct metric *upstream_relayed_errors;
	struct metric **upstream; /* nproviders * GW_UP__COUNT */
	size_t nproviders;
	struct metric *spans_sent;
	struct metric *spans_dropped_full;
	struct metric *spans_dropped_error;
};

/* Registers every series for conf's providers. -1 with err on failure. */
int gw_metrics_init(struct gw_metrics *gm, const struct gw_conf *conf, struct err *err);
void gw_metrics_fini(struct gw_metrics *gm);

/* One finished API request: status sent and seconds taken. */
void gw_metrics_request(const struct gw_metrics *gm, int status, double seconds);
void gw_metrics_upstream(const struct gw_metrics *gm, size_t provider, enum gw_upstream_outcome o);

const char *gw_upstream_outcome_name(enum gw_upstream_outcome o);

#endif
