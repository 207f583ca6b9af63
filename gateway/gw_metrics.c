/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration of the gateway's series. Label values come from the config
 * (provider names, already restricted to [A-Za-z0-9._-]) or from static
 * tables, so no escaping is needed and cardinality is fixed at start-up.
 */
#include "gateway/gw_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "gateway/gw_conf.h"

static const char *const outcome_names[GW_UP__COUNT] = {
    [GW_UP_OK] = "ok",
    [GW_UP_ERROR] = "error",
    [GW_UP_TIMEOUT] = "timeout",
    [GW_UP_CONNECT_ERROR] = "connect_error",
};

/* Seconds: from a cached in-process answer to a long completion. */
static const double duration_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					 0.5,	1,	2.5,   5,    10,    30,	  60,  120};

const char *gw_upstream_outcome_name(enum gw_upstream_outcome o)
{
	return (unsigned)o < GW_UP__COUNT ? outcome_names[o] : "error";
}

static int reg_fixed(struct gw_metrics *gm, struct err *err)
{
	static const char *const classes[3] = {"code_class=\"2xx\"", "code_class=\"4xx\"", "code_class=\"5xx\""};
	char labels[96];
	for (int i = 0; i < 3; i++)
		gm->requests[i] = metrics_counter(gm->reg, "llmgw_requests_total",
						  "API requests answered, by HTTP status class", classes[i]);
	gm->duration = metrics_histogram(gm->reg, "llmgw_request_duration_seconds",
					 "Time from request received to response queued (API requests)", NULL,
					 duration_bounds, sizeof(duration_bounds) / sizeof(duration_bounds[0]));
	gm->in_flight = metrics_gauge(gm->reg, "llmgw_requests_in_flight", "API requests being handled", NULL);
	for (int e = 0; e < GWE__COUNT; e++) {
		snprintf(labels, sizeof(labels), "error_type=\"%s\"", oai_err_def((enum gw_error)e)->span_type);
		gm->errors[e] =
		    metrics_counter(gm->reg, "llmgw_request_errors_total",
				    "Error responses produced by the gateway itself, by error type", labels);
		if (gm->errors[e] == NULL)
			return err_set(err, ENOMEM, "cannot register llmgw_request_errors_total");
	}
	gm->upstream_relayed_errors = metrics_counter(gm->reg, "llmgw_upstream_errors_relayed_total",
						      "Upstream 4xx/5xx responses relayed to the client", NULL);
	gm->spans_sent =
	    metrics_counter(gm->reg, "llmgw_spans_sent_total", "Span records queued to the exporter", NULL);
	gm->spans_dropped_full = metrics_counter(gm->reg, "llmgw_spans_dropped_total",
						 "Span records dropped instead of blocking", "reason=\"pipe_full\"");
	gm->spans_dropped_error = metrics_counter(gm->reg, "llmgw_spans_dropped_total",
						  "Span records dropped instead of blocking", "reason=\"pipe_error\"");
	if (gm->requests[0] == NULL || gm->requests[1] == NULL || gm->requests[2] == NULL || gm->duration == NULL ||
	    gm->in_flight == NULL || gm->upstream_relayed_errors == NULL || gm->spans_sent == NULL ||
	    gm->spans_dropped_full == NULL || gm->spans_dropped_error == NULL)
		return err_set(err, ENOMEM, "cannot register gateway metrics");
	return 0;
}

int gw_metrics_init(struct gw_metrics *gm, const struct gw_conf *conf, struct err *err)
{
	char labels[160];
	memset(gm, 0, sizeof(*gm));
	if ((gm->reg = metrics_new()) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (reg_fixed(gm, err) < 0)
		goto fail;
	gm->nproviders = conf->nproviders;
	gm->upstream = calloc(conf->nproviders * GW_UP__COUNT, sizeof(*gm->upstream));
	if (gm->upstream == NULL) {
		err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t p = 0; p < conf->nproviders; p++)
		for (int o = 0; o < GW_UP__COUNT; o++) {
			snprintf(labels, sizeof(labels), "provider=\"%s\",outcome=\"%s\"", conf->providers[p].name,
				 outcome_names[o]);
			/* llmgw_upstream_requests_total (transport outcomes) belongs to upstream.c */
			gm->upstream[p * GW_UP__COUNT + (size_t)o] =
			    metrics_counter(gm->reg, "llmgw_upstream_attempts_total",
					    "Upstream attempts by provider and gateway result", labels);
			if (gm->upstream[p * GW_UP__COUNT + (size_t)o] == NULL) {
				err_set(err, ENOMEM, "cannot register llmgw_upstream_attempts_total");
				goto fail;
			}
		}
	return 0;
fail:
	gw_metrics_fini(gm);
	return -1;
}

void gw_metrics_fini(struct gw_metrics *gm)
{
	if (gm == NULL)
		return;
	metrics_free(gm->reg);
	free(gm->upstream);
	memset(gm, 0, sizeof(*gm));
}

void gw_metrics_request(const struct gw_metrics *gm, int status, double seconds)
{
	if (status >= 200 && status < 300)
		metric_inc(gm->requests[0]);
	else if (status >= 400 && status < 500)
		metric_inc(gm->requests[1]);
	else if (status >= 500)
		metric_inc(gm->requests[2]);
	metric_observe(gm->duration, seconds);
}

void gw_metrics_upstream(const struct gw_metrics *gm, size_t provider, enum gw_upstream_outcome o)
{
	if (gm->upstream == NULL || provider >= gm->nproviders || (unsigned)o >= GW_UP__COUNT)
		return;
	metric_inc(gm->upstream[provider * GW_UP__COUNT + (size_t)o]);
}
