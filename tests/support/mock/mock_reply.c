/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delayed and immediate replies for llmgw-mock.
 *
 * A reply that must wait (x-mock-latency-ms, --latency-ms) becomes a
 * struct mock_pending holding the request, the finished body and a one-shot
 * timer. The pending list lets shutdown free the timers of replies that
 * never went out. Bodies are built before the wait, so what a client receives
 * after the delay is exactly what it would have got at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/log.h"
#include "tests/support/mock/mock_reply.h"

struct mock_pending {
	struct mock_pending *next;
	struct mock_pending **pprev; /* the pointer that points at us, for O(1) unlink */
	struct event *timer;
	struct evhttp_request *req;
	struct evbuffer *body;
	int status;
	char ctype[64];
};

static const struct {
	int status;
	const char *reason;
} reasons[] = {
    {200, "OK"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {529, "Overloaded"},
};

const char *mock_reply_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Mock Status";
}

static void send_now(struct evhttp_request *req, int status, const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_send_reply(req, status, mock_reply_reason(status), body);
}

static void pending_unlink(struct mock_pending *p)
{
	*p->pprev = p->next;
	if (p->next != NULL)
		p->next->pprev = p->pprev;
}

static void pending_free(struct mock_pending *p)
{
	event_free(p->timer);
	evbuffer_free(p->body);
	free(p);
}

static void pending_fire(evutil_socket_t fd, short what, void *arg)
{
	struct mock_pending *p = arg;
	(void)fd;
	(void)what;
	pending_unlink(p);
	send_now(p->req, p->status, p->ctype, p->body);
	/* The timer is not running any more (it fired), so freeing it here is safe. */
	pending_free(p);
}

void mock_reply_send(struct mock *m, struct evhttp_request *req, int status, const char *ctype, struct evbuffer *body,
		     int latency_ms)
{
	if (latency_ms <= 0)
		goto now;
	struct mock_pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto now;
	p->timer = evtimer_new(m->base, pending_fire, p);
	if (p->timer == NULL) {
		free(p);
		goto now;
	}
	p->req = req;
	p->body = body;
	p->status = status;
	snprintf(p->ctype, sizeof(p->ctype), "%s", ctype);
	p->next = m->pending;
	p->pprev = &m->pending;
	if (m->pending != NULL)
		m->pending->pprev = &p->next;
	m->pending = p;
	struct timeval tv = {.tv_sec = latency_ms / 1000, .tv_usec = (latency_ms % 1000) * 1000};
	evtimer_add(p->timer, &tv);
	m->stats.delayed++;
	return;
now:
	/* Out of memory for the timer: answering early beats never answering. */
	send_now(req, status, ctype, body);
	evbuffer_free(body);
}

void mock_reply_json(struct mock *m, struct evhttp_request *req, int status, json_t *v, int latency_ms)
{
	struct evbuffer *body = evbuffer_new();
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (body == NULL || text == NULL) {
		log_msg(LOG_LVL_ERROR, "oom", "what=reply_json");
		if (body != NULL)
			evbuffer_free(body);
		free(text);
		evhttp_send_error(req, 500, "mock out of memory");
		return;
	}
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	free(text);
	mock_reply_send(m, req, status, "application/json", body, latency_ms);
}

void mock_reply_oai_error(struct mock *m, struct evhttp_request *req, int status, int latency_ms, const char *type,
			  const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *err = json_pack("{s:s, s:s, s:o, s:n}", "message", msg, "type", type, "code",
				code != NULL ? json_string(code) : json_null(), "param");
	mock_reply_json(m, req, status, json_pack("{s:o}", "error", err), latency_ms);
}

void mock_reply_cancel_all(struct mock *m)
{
	while (m->pending != NULL) {
		struct mock_pending *p = m->pending;
		pending_unlink(p);
		pending_free(p);
	}
}
