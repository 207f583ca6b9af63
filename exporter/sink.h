/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where encoded batches go. A sink is a table of callbacks (Fluent Bit
 * style): otlp_http (send.c) POSTs to an OTLP/HTTP endpoint; stdout and
 * file (sink_file.c) write one OTLP/JSON line per batch. retry.c drives a
 * sink one payload at a time and turns its outcomes into retries, drops and
 * metrics, so a sink only reports what happened.
 */
#ifndef LLMGW_EXPORTER_SINK_H
#define LLMGW_EXPORTER_SINK_H

#include <stdint.h>

#include <event2/event.h>

#include "common/err.h"
#include "exporter/ex_conf.h"
#include "exporter/queue.h"
#include "exporter/send_outcome.h"

/* The result of one attempt, valid only during the done callback. */
struct sink_result {
	enum send_outcome outcome;
	int status;		/* HTTP status; 0 = no response (or a local sink) */
	int64_t retry_after_ms; /* server's Retry-After, -1 when absent */
	int64_t rejected_spans; /* partial success: spans the backend refused */
	int drop_status;	/* for SEND_DROP: status used to pick the drop reason (413 = too large) */
};

typedef void (*sink_done_cb)(void *arg, const struct sink_result *res);

struct sink;

struct sink_ops {
	const char *name;
	struct sink *(*create)(struct event_base *evb, const struct ex_conf *c, struct err *err);
	/*
	 * Starts delivering p (which stays owned by the caller and unchanged
	 * until done is called). done runs exactly once, later, from the event
	 * loop, never from inside submit. Up to export.concurrency payloads
	 * may be in flight at once (each with its own arg); done calls may
	 * come in any order. -1 if the sink cannot even start this one (its
	 * done is then not called).
	 */
	int (*submit)(struct sink *s, const struct payload *p, sink_done_cb done, void *arg);
	/* Abandons every payload in flight; their done is never called. */
	void (*cancel)(struct sink *s);
	void (*destroy)(struct sink *s);
};

/* Every sink starts with this header. */
struct sink {
	const struct sink_ops *ops;
};

extern const struct sink_ops sink_otlp_http_ops;
extern const struct sink_ops sink_stdout_ops;
extern const struct sink_ops sink_file_ops;

/* Creates the sink the endpoint asks for. NULL with err on failure. */
struct sink *sink_create(struct event_base *evb, const struct ex_conf *c, struct err *err);
int sink_submit(struct sink *s, const struct payload *p, sink_done_cb done, void *arg);
void sink_cancel(struct sink *s);
/* NULL is a no-op; cancels first. */
void sink_destroy(struct sink *s);
const char *sink_name(const struct sink *s);

#endif
