/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests of llmgw-mock, independent of the wire protocol.
 *
 * Ownership is single and simple: the transport (mock_h1 / mock_h2) owns
 * a request from its first byte until it calls mock_req_detach(). All
 * async work a handler starts (a latency timer, a stream in progress) is
 * stored on the request, so detaching stops it; the memory itself goes to
 * the reaper and is freed from a later loop iteration, which lets a
 * handler that is halfway through a callback keep using r safely.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/log.h"
#include "tests/support/mock/mock_conn.h"
#include "tests/support/mock/mock_fault.h"
#include "tests/support/mock/mock_req.h"

static void req_free(struct mock_reap *self)
{
	struct mock_req *r = (struct mock_req *)self;
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->job_free != NULL)
		r->job_free(r->job);
	evhttp_clear_headers(&r->in_headers);
	evhttp_clear_headers(&r->out_headers);
	if (r->body != NULL)
		evbuffer_free(r->body);
	json_decref(r->logent);
	free(r->target);
	free(r->path);
	free(r);
}

struct mock_req *mock_req_new(struct mock *m, const struct mock_req_ops *ops, void *conn)
{
	struct mock_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->body = evbuffer_new();
	if (r->body == NULL) {
		free(r);
		return NULL;
	}
	r->reap.free = req_free;
	r->m = m;
	r->ops = ops;
	r->conn = conn;
	r->http_version = "1.1";
	/* TAILQ_INIT by hand: <sys/queue.h> is not guaranteed to come with keyvalq_struct.h. */
	r->in_headers.tqh_first = NULL;
	r->in_headers.tqh_last = &r->in_headers.tqh_first;
	r->out_headers.tqh_first = NULL;
	r->out_headers.tqh_last = &r->out_headers.tqh_first;
	return r;
}

int mock_req_set_target(struct mock_req *r, const char *target, size_t len)
{
	if (len == 0)
		return -1;
	size_t plen = 0;
	while (plen < len && target[plen] != '?')
		plen++;
	char *t = malloc(len + 1), *p = malloc(plen + 1);
	if (t == NULL || p == NULL) {
		free(t);
		free(p);
		return -1;
	}
	memcpy(t, target, len);
	t[len] = '\0';
	memcpy(p, target, plen);
	p[plen] = '\0';
	free(r->target);
	free(r->path);
	r->target = t;
	r->path = p;
	return 0;
}

void mock_req_detach(struct mock_req *r, bool client_left)
{
	if (r->ops == NULL)
		return;
	r->ops = NULL;
	r->conn = NULL;
	if (r->timer != NULL)
		event_del(r->timer);
	if (client_left && r->recorded && !r->done) {
		r->m->stats.client_closed++;
		if (r->logent != NULL)
			json_object_set_new(r->logent, "client_closed", json_true());
		log_msg(LOG_LVL_INFO, "client_closed", "path=%s", r->path != NULL ? r->path : "-");
	}
	mock_conn_reap_later(r->m, &r->reap);
}

bool mock_req_attached(const struct mock_req *r)
{
	return r->ops != NULL;
}

const char *mock_req_header(const struct mock_req *r, const char *name)
{
	return evhttp_find_header(&r->in_headers, name);
}

const char *mock_req_body(struct mock_req *r, size_t *len)
{
	*len = evbuffer_get_length(r->body);
	return (const char *)evbuffer_pullup(r->body, -1);
}

int mock_req_add_header(struct mock_req *r, const char *name, const char *value)
{
	return evhttp_add_header(&r->out_headers, name, value);
}

void mock_req_respond(struct mock_req *r, int status, const char *ctype, struct evbuffer *body)
{
	if (r->ops == NULL || r->head_sent)
		goto out;
	size_t len = evbuffer_get_length(body);
	evhttp_add_header(&r->out_headers, "Content-Type", ctype);
	if (r->fault != MOCK_FAULT_NONE && mock_fault_whole(r, status, body))
		goto out;
	r->head_sent = true;
	if (r->ops->head(r, status, (long)len) != 0)
		goto out;
	/* The transport may detach r when the client is gone: check before each step. */
	if (len > 0 && r->ops != NULL && r->ops->body(r, evbuffer_pullup(body, -1), len) != 0)
		goto out;
	if (r->ops != NULL) {
		r->done = true;
		r->ops->end(r);
	}
out:
	evbuffer_free(body);
}

int mock_req_stream_head(struct mock_req *r, int status, const char *ctype)
{
	if (r->ops == NULL || r->head_sent)
		return -1;
	evhttp_add_header(&r->out_headers, "Content-Type", ctype);
	evhttp_add_header(&r->out_headers, "Cache-Control", "no-cache");
	r->head_sent = true;
	return r->ops->head(r, status, -1);
}

int mock_req_stream_write(struct mock_req *r, const void *p, size_t n)
{
	if (r->ops == NULL || !r->head_sent)
		return -1;
	return r->ops->body(r, p, n);
}

void mock_req_stream_end(struct mock_req *r)
{
	if (r->ops == NULL || !r->head_sent)
		return;
	r->done = true;
	r->ops->end(r);
}

void mock_req_reset(struct mock_req *r)
{
	if (r->ops == NULL)
		return;
	/* Not a client leaving: the mock cut it on purpose, so it is "done" for the log. */
	r->done = true;
	r->ops->reset(r);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct mock_req *r = arg;
	(void)fd;
	(void)what;
	if (r->ops != NULL && r->timer_cb != NULL)
		r->timer_cb(r);
}

int mock_req_after(struct mock_req *r, int ms, void (*cb)(struct mock_req *r))
{
	if (r->ops == NULL)
		return -1;
	if (r->timer == NULL) {
		r->timer = evtimer_new(r->m->base, timer_fire, r);
		if (r->timer == NULL)
			return -1;
	}
	r->timer_cb = cb;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return evtimer_add(r->timer, &tv);
}

void mock_req_set_job(struct mock_req *r, void *job, void (*job_free)(void *job))
{
	if (r->job_free != NULL)
		r->job_free(r->job);
	r->job = job;
	r->job_free = job_free;
}
