/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Delayed and immediate replies for llmgw-mock.
 *
 * A reply that must wait (x-mock-latency-ms, --latency-ms) becomes the
 * request's job: the finished body and status, sent by the request's timer.
 * If the client leaves first, the transport detaches the request, which
 * stops the timer and frees the job. Bodies are built before the wait, so
 * what a client receives after the delay is exactly what it would have got
 * at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"

/* A whole answer waiting for its latency timer, kept on the request as its job. */
struct delayed {
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

static void delayed_free(void *job)
{
	struct delayed *d = job;
	if (d->body != NULL)
		evbuffer_free(d->body);
	free(d);
}

static void delayed_fire(struct mock_req *r)
{
	struct delayed *d = r->job;
	struct evbuffer *body = d->body;
	d->body = NULL; /* the answer takes it */
	mock_req_respond(r, d->status, d->ctype, body);
}

void mock_reply_send(struct mock *m, struct mock_req *r, int status, const char *ctype, struct evbuffer *body,
		     int latency_ms)
{
	if (latency_ms <= 0)
		goto now;
	struct delayed *d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto now;
	d->body = body;
	d->status = status;
	snprintf(d->ctype, sizeof(d->ctype), "%s", ctype);
	mock_req_set_job(r, d, delayed_free);
	if (mock_req_after(r, latency_ms, delayed_fire) != 0) {
		log_msg(LOG_LVL_WARN, "oom", "what=latency_timer");
		return; /* the job frees the body with the request */
	}
	m->stats.delayed++;
	return;
now:
	/* Out of memory for the delay: answering early beats never answering. */
	mock_req_respond(r, status, ctype, body);
}

void mock_reply_json(struct mock *m, struct mock_req *r, int status, json_t *v, int latency_ms)
{
	struct evbuffer *body = evbuffer_new();
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (body == NULL || text == NULL) {
		log_msg(LOG_LVL_ERROR, "oom", "what=reply_json");
		free(text);
		if (body != NULL)
			mock_req_respond(r, 500, "text/plain", body); /* empty, but still an answer */
		return;
	}
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	free(text);
	mock_reply_send(m, r, status, "application/json", body, latency_ms);
}

void mock_reply_oai_error(struct mock *m, struct mock_req *r, int status, int latency_ms, const char *type,
			  const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *err = json_pack("{s:s, s:s, s:o, s:n}", "message", msg, "type", type, "code",
				code != NULL ? json_string(code) : json_null(), "param");
	mock_reply_json(m, r, status, json_pack("{s:o}", "error", err), latency_ms);
}
