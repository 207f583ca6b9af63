/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MCP request metrics (see mcp_metrics.h for the series and the label
 * rules). Each count looks its series up in the registry, which finds an
 * existing (name, labels) pair through its own hash index; MCP requests
 * are tool calls across a network, so that lookup is noise next to them.
 * What the registry cannot do is bound a label that comes from requests:
 * the (server, tool) pairs seen are kept here, under one mutex, and pairs
 * past the cap count as tool="_other".
 */
#include "gateway/mcp_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#define TOOL_LABEL_MAX 128
#define SERVER_LABEL_MAX 64 /* configured names are at most this long (GW_NAME_MAX in gw_conf_int.h) */

static const char *const outcome_names[MCP_OUT__COUNT] = {
    [MCP_OUT_OK] = "ok",
    [MCP_OUT_ERROR] = "error",
    [MCP_OUT_TOOL_ERROR] = "tool_error",
    [MCP_OUT_DENIED] = "denied",
    [MCP_OUT_INVALID] = "invalid",
    [MCP_OUT_HTTP_ERROR] = "http_error",
    [MCP_OUT_TIMEOUT] = "timeout",
    [MCP_OUT_UNAVAILABLE] = "unavailable",
    [MCP_OUT_CLIENT_CLOSED] = "client_closed",
};

/* The methods of the MCP specification (and the OpenTelemetry MCP conventions' list). */
static const char *const methods[] = {
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "roots/list",
    "sampling/createMessage",
    "elicitation/create",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "GET",
    "DELETE",
    "_response",
};

/* Seconds: a cached answer to a long tool run (GET streams land in the last buckets). */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

struct mcp_metrics {
	struct metrics *reg;
	struct metric *overflow;
	pthread_mutex_t mu; /* guards the pair set */
	char **pairs;	    /* open addressing: "server\0tool" keys, NULL = free */
	size_t cap;	    /* slots, a power of two */
	size_t n;
};

const char *mcp_outcome_name(enum mcp_outcome o)
{
	return (unsigned)o < MCP_OUT__COUNT ? outcome_names[o] : "unknown";
}

const char *mcp_metrics_method_label(const char *method)
{
	for (size_t i = 0; method != NULL && i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i], method) == 0)
			return methods[i];
	return "_other";
}

struct mcp_metrics *mcp_metrics_new(struct metrics *reg, struct err *err)
{
	struct mcp_metrics *m = calloc(1, sizeof(*m));
	if (m == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	m->reg = reg;
	m->overflow =
	    metrics_counter(reg, "llmgw_mcp_series_overflow_total",
			    "MCP tool calls counted under tool=\"_other\" because metrics.max_series (server, "
			    "tool) pairs exist",
			    NULL);
	if (m->overflow == NULL) {
		mcp_metrics_free(m);
		err_set(err, ENOMEM, "cannot register llmgw_mcp_series_overflow_total");
		return NULL;
	}
	return m;
}

void mcp_metrics_free(struct mcp_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->pairs[i]);
	free(m->pairs);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* A tool name that can be a label value as it is. */
static bool tool_label_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOOL_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.' || ch == '/'))
			return false;
	}
	return true;
}

static uint64_t pair_hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	return h;
}

/* Bytes of a "server\0tool\0" key. */
static size_t pair_len(const char *p)
{
	size_t n = strlen(p) + 1;
	return n + strlen(p + n) + 1;
}

/* Slot of key (n bytes) in the table: its own, or the free one where it goes. */
static size_t pair_slot(char *const *t, size_t cap, const char *k, size_t n)
{
	size_t i = (size_t)pair_hash(k, n) & (cap - 1);
	while (t[i] != NULL && (pair_len(t[i]) != n || memcmp(t[i], k, n) != 0))
		i = (i + 1) & (cap - 1);
	return i;
}

static int pairs_grow(struct mcp_metrics *m)
{
	size_t cap = m->cap == 0 ? 64 : m->cap * 2;
	char **t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->pairs[i] != NULL)
			t[pair_slot(t, cap, m->pairs[i], pair_len(m->pairs[i]))] = m->pairs[i];
	free(m->pairs);
	m->pairs = t;
	m->cap = cap;
	return 0;
}

/* True when (server, tool) has, or may get, series of its own. */
static bool pair_admit(struct mcp_metrics *m, unsigned max_series, const char *server, const char *tool)
{
	char key[SERVER_LABEL_MAX + TOOL_LABEL_MAX + 3];
	size_t sl = strlen(server) + 1, n = sl + strlen(tool) + 1;
	bool ok = false;
	memcpy(key, server, sl);
	memcpy(key + sl, tool, n - sl);
	pthread_mutex_lock(&m->mu);
	if (m->cap > 0 && m->pairs[pair_slot(m->pairs, m->cap, key, n)] != NULL) {
		ok = true;
	} else if (m->n < max_series && ((m->n + 1) * 2 <= m->cap || pairs_grow(m) == 0)) {
		char *copy = malloc(n);
		if (copy != NULL) {
			memcpy(copy, key, n);
			m->pairs[pair_slot(m->pairs, m->cap, key, n)] = copy;
			m->n++;
			ok = true;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return ok;
}

void mcp_metrics_count(struct mcp_metrics *m, unsigned max_series, const char *server, const char *method,
		       const char *tool, enum mcp_outcome o, double seconds)
{
	char labels[512];
	if (m == NULL)
		return;
	if (server == NULL || strlen(server) > SERVER_LABEL_MAX)
		server = "_unknown";
	if (tool != NULL && (!tool_label_ok(tool) || !pair_admit(m, max_series, server, tool))) {
		metric_inc(m->overflow);
		tool = "_other";
	}
	if (tool != NULL)
		snprintf(labels, sizeof(labels), "server=\"%s\",method=\"%s\",tool=\"%s\",outcome=\"%s\"", server,
			 method, tool, mcp_outcome_name(o));
	else
		snprintf(labels, sizeof(labels), "server=\"%s\",method=\"%s\",outcome=\"%s\"", server, method,
			 mcp_outcome_name(o));
	metric_inc(
	    metrics_counter(m->reg, "llmgw_mcp_requests_total", "MCP requests by server, method and outcome", labels));
	snprintf(labels, sizeof(labels), "server=\"%s\",method=\"%s\"", server, method);
	metric_observe(metrics_histogram(m->reg, "llmgw_mcp_request_duration_seconds",
					 "Time from an MCP request received to its response (GET: stream) ended",
					 labels, bounds, sizeof(bounds) / sizeof(bounds[0])),
		       seconds);
}
