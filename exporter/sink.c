/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sink registry: maps export.endpoint's kind to its ops table, and thin
 * wrappers so callers never reach into the table themselves.
 */
#include "exporter/sink.h"

#include <errno.h>

static const struct sink_ops *const sink_registry[] = {
    [EX_SINK_HTTP] = &sink_otlp_http_ops,
    [EX_SINK_STDOUT] = &sink_stdout_ops,
    [EX_SINK_FILE] = &sink_file_ops,
};

struct sink *sink_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	unsigned k = (unsigned)c->endpoint.kind;
	if (k >= sizeof(sink_registry) / sizeof(sink_registry[0]) || sink_registry[k] == NULL) {
		err_set(err, EINVAL, "no sink for endpoint kind %u", k);
		return NULL;
	}
	return sink_registry[k]->create(evb, c, err);
}

int sink_submit(struct sink *s, const struct payload *p, sink_done_cb done, void *arg)
{
	return s->ops->submit(s, p, done, arg);
}

void sink_cancel(struct sink *s)
{
	if (s != NULL)
		s->ops->cancel(s);
}

void sink_destroy(struct sink *s)
{
	if (s == NULL)
		return;
	s->ops->cancel(s);
	s->ops->destroy(s);
}

const char *sink_name(const struct sink *s)
{
	return s->ops->name;
}
