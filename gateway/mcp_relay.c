/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An MCP server's answer on its way to the client.
 *
 * The response head decides: a 2xx text/event-stream answer is relayed as
 * a stream, anything else is buffered and relayed whole with its status
 * (so a server's 4xx, e.g. 404 for an unknown session, reaches the client
 * as the server sent it). Streams come in three kinds:
 *   - GET (the server-to-client stream): bytes through unread, for as
 *     long as the server keeps it open (stream_timeout ends it cleanly);
 *   - POST, inspected: every piece goes out the moment it arrives and is
 *     read on the side (an SSE parser, bounded) only to find the answer to
 *     the request and note its error code for the span;
 *   - POST tools/list, filtered: events go out as they complete, and the
 *     one event that answers the request is held (bounded by
 *     MCP_SSE_FILTER_MAX), cut down to the key's tools and rewritten.
 * A stream that ends before answering the request (the server failed, or
 * closed without one) gets a JSON-RPC error event for it, so the client's
 * request fails at once instead of waiting for its own timeout; not when
 * the server numbers its events, since the client can then resume.
 *
 * An answer the filter cannot read is never relayed: the client gets a
 * JSON-RPC error instead (fail closed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/gw_conf.h"
#include "gateway/http_srv.h"
#include "gateway/mcp_access.h"
#include "gateway/mcp_int.h"
#include "gateway/sse.h"

#define CTYPE_MAX 128

static bool hdr_is(const struct http_hdr *h, const char *name)
{
	return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* The value of a response header as a C string in out (cap bytes); false when absent or too long. */
static bool hdr_value(const struct http_hdr *h, size_t n, const char *name, char *out, size_t cap)
{
	for (size_t i = 0; i < n; i++)
		if (hdr_is(&h[i], name)) {
			if (h[i].value_len >= cap)
				return false;
			memcpy(out, h[i].value, h[i].value_len);
			out[h[i].value_len] = '\0';
			return true;
		}
	return false;
}

static bool is_event_stream(const struct http_hdr *h, size_t n)
{
	char ct[CTYPE_MAX];
	return hdr_value(h, n, "content-type", ct, sizeof(ct)) && strncasecmp(ct, "text/event-stream", 17) == 0;
}

/* Response headers the client needs: the session id (both ways), Retry-After, Allow. */
static void relay_headers(struct gw_req *r, struct mcp_req *m, const struct http_hdr *h, size_t n)
{
	char v[MCP_SESSION_MAX];
	if (hdr_value(h, n, "mcp-session-id", v, sizeof(v)) && v[0] != '\0' && strpbrk(v, " \t") == NULL) {
		http_srv_add_header(r, "Mcp-Session-Id", v);
		if (m->session[0] == '\0') /* initialize: the session starts here */
			snprintf(m->session, sizeof(m->session), "%s", v);
	}
	if (hdr_value(h, n, "retry-after", v, sizeof(v)))
		http_srv_add_header(r, "Retry-After", v);
	if (hdr_value(h, n, "allow", v, sizeof(v)))
		http_srv_add_header(r, "Allow", v);
}

/* The answer to the request went by: its facts onto the span and the outcome. */
static void note_answer(struct gw_req *r, struct mcp_req *m, const struct mcp_resp_facts *f)
{
	m->resp_seen = true;
	if (f->protocol[0] != '\0') /* initialize: the version the server agreed to */
		snprintf(m->protocol, sizeof(m->protocol), "%s", f->protocol);
	if (f->has_error) {
		m->outcome = MCP_OUT_ERROR;
		m->has_rpc_code = true;
		m->rpc_code = f->error_code;
		/* OpenTelemetry MCP: error.type is the JSON-RPC code */
		snprintf(r->span.error_type, sizeof(r->span.error_type), "%lld", (long long)f->error_code);
	} else if (f->tool_error) {
		m->outcome = MCP_OUT_TOOL_ERROR;
		snprintf(r->span.error_type, sizeof(r->span.error_type), "tool_error");
	}
}

/* Facts of one server message, when the request is one that gets an answer. */
static void read_message(struct gw_req *r, struct mcp_req *m, const char *json, size_t len, struct mcp_resp_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (!m->has_msg || m->msg.kind != MCP_MSG_REQUEST || m->resp_seen)
		return;
	mcp_rpc_facts(json, len, &m->msg.id, f);
	if (f->answer)
		note_answer(r, m, f);
}

static void log_failure(struct gw_req *r, const struct mcp_req *m, const char *outcome, const char *detail)
{
	uint64_t suppressed = 0;
	char qd[200];
	if (log_enabled(LOG_LVL_WARN) && log_ratelimit_ok(&r->w->warn_rl, clock_mono_ns(), &suppressed))
		log_msg(LOG_LVL_WARN, "mcp_upstream_failed",
			"server=%s outcome=%s detail=%s request_id=%s suppressed=%llu", m->srv->name, outcome,
			log_quote(detail != NULL ? detail : "", qd, sizeof(qd)), r->span.request_id,
			(unsigned long long)suppressed);
}

void mcp_relay_client_gone(struct gw_req *r)
{
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	http_srv_abandon(r);
}

void mcp_relay_fini(struct mcp_req *m)
{
	sse_free(m->sse);
	m->sse = NULL;
	buf_fini(&m->out);
}

/* ---- streams ------------------------------------------------------------------------------------ */

/* A JSON-RPC error event answering the request, for a stream that will not answer it. */
static void add_error_event(struct mcp_req *m, struct buf *out, const char *msg)
{
	struct buf body;
	buf_init(&body, 4096);
	if (mcp_rpc_error_body(&body, &m->msg.id, MCP_RPC_INTERNAL_ERROR, msg) == 0 && body.data != NULL)
		mcp_rpc_sse_event(out, body.data, body.len);
	buf_fini(&body);
	m->resp_seen = true;
}

static int inspect_cb(const struct sse_event *ev, void *arg)
{
	struct gw_req *r = arg;
	struct mcp_req *m = r->mcp;
	struct mcp_resp_facts f;
	if (ev->kind != SSE_EVENT)
		return 0;
	if (ev->id != NULL)
		m->event_ids = true;
	read_message(r, m, ev->data, ev->data_len, &f);
	return 0;
}

/* One tools/list answer event, filtered into m->out; false when it could not be checked. */
static bool filter_event(struct mcp_req *m, const struct sse_event *ev)
{
	struct buf json;
	size_t removed;
	buf_init(&json, MCP_SSE_FILTER_MAX);
	int rc = mcp_access_filter_tools(ev->data, ev->data_len, m->access, m->srv->name, &json, &removed);
	if (rc == 1)
		rc = mcp_rpc_sse_replace_data(&m->out, ev->raw, ev->raw_len, json.data, json.len);
	else if (rc == 0)
		rc = buf_append(&m->out, ev->raw, ev->raw_len);
	buf_fini(&json);
	return rc >= 0;
}

/* Filter mode: one upstream piece, event by event, into one client write. -1: r is finished. */
static int filter_piece(struct gw_req *r, struct mcp_req *m, const char *data, size_t len)
{
	struct sse_event ev;
	struct mcp_resp_facts f;
	struct err err;
	enum sse_rc rc;
	bool broken = false;
	buf_reset(&m->out);
	sse_push(m->sse, data, len);
	while ((rc = sse_next(m->sse, &ev, &err)) == SSE_ITEM) {
		bool was_seen = m->resp_seen;
		memset(&f, 0, sizeof(f));
		if (ev.kind == SSE_EVENT) {
			if (ev.id != NULL)
				m->event_ids = true;
			read_message(r, m, ev.data, ev.data_len, &f);
		}
		if (ev.kind != SSE_EVENT || was_seen || !f.answer || f.has_error) {
			if (buf_append(&m->out, ev.raw, ev.raw_len) < 0)
				broken = true;
		} else if (!filter_event(m, &ev)) {
			/* fail closed: the list could not be checked, so it does not go out */
			snprintf(r->span.error_type, sizeof(r->span.error_type), "upstream_invalid_response");
			m->outcome = MCP_OUT_UNAVAILABLE;
			add_error_event(m, &m->out, "the MCP server's tools/list answer could not be checked");
		}
		if (broken)
			break;
	}
	if (rc == SSE_ERROR || broken) {
		/* the answer is over the bound: end here rather than relay what cannot be checked */
		if (r->call != NULL) {
			upstream_call_cancel(r->call);
			r->call = NULL;
		}
		snprintf(r->span.error_type, sizeof(r->span.error_type), "too_large");
		m->outcome = MCP_OUT_UNAVAILABLE;
		if (!m->resp_seen)
			add_error_event(m, &m->out, "the MCP server's answer is over the gateway's size limit");
		http_srv_stream_write(r, m->out.data, m->out.len);
		http_srv_stream_end(r);
		return -1;
	}
	if (m->out.len > 0 && http_srv_stream_write(r, m->out.data, m->out.len) < 0) {
		mcp_relay_client_gone(r);
		return -1;
	}
	return 0;
}

static int stream_begin(struct gw_req *r, struct mcp_req *m, int status)
{
	if (m->hm == HTTP_METHOD_POST) {
		m->sse = sse_new(m->filter ? MCP_SSE_FILTER_MAX : MCP_SSE_INSPECT_MAX);
		buf_init(&m->out, MCP_OUT_MAX);
		if (m->sse == NULL) {
			mcp_reply_error(r, 500, GWE_INTERNAL, NULL, MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR,
					"out of memory");
			return -1;
		}
	} else {
		m->raw = true;
	}
	http_srv_add_header(r, "Cache-Control", "no-cache");
	http_srv_add_header(r, "X-Accel-Buffering", "no"); /* proxies in front must not hold events back */
	if (http_srv_stream_start(r, status, "text/event-stream") < 0) {
		mcp_relay_client_gone(r);
		return -1;
	}
	m->stream = true;
	if (m->hm == HTTP_METHOD_GET) {
		TAILQ_INSERT_TAIL(&r->w->mcp->streams, m, link);
		m->listed = true;
	}
	return 0;
}

static void stream_done(struct gw_req *r, struct mcp_req *m, const struct upstream_result *res)
{
	char msg[256];
	bool failed = res->outcome != UPSTREAM_OK;
	/* a GET stream at stream_timeout ends like any stream: the client opens the next one */
	if (failed && !(m->raw && res->outcome == UPSTREAM_TOTAL_TIMEOUT)) {
		snprintf(r->span.error_type, sizeof(r->span.error_type), "%s", upstream_outcome_name(res->outcome));
		m->outcome = upstream_outcome_is_timeout(res->outcome) ? MCP_OUT_TIMEOUT : MCP_OUT_UNAVAILABLE;
		log_failure(r, m, upstream_outcome_name(res->outcome), res->detail);
	}
	if (!m->raw && m->msg.kind == MCP_MSG_REQUEST && !m->resp_seen && !m->event_ids && !m->inspect_off) {
		struct buf out;
		if (failed)
			snprintf(msg, sizeof(msg), "the stream from MCP server '%s' broke off: %s", m->srv->name,
				 res->detail);
		else
			snprintf(msg, sizeof(msg), "MCP server '%s' ended the stream without answering", m->srv->name);
		if (!failed) {
			snprintf(r->span.error_type, sizeof(r->span.error_type), "stream_truncated");
			m->outcome = MCP_OUT_UNAVAILABLE;
		}
		buf_init(&out, 8192);
		add_error_event(m, &out, msg);
		if (out.len > 0)
			http_srv_stream_write(r, out.data, out.len);
		buf_fini(&out);
	}
	http_srv_stream_end(r);
}

/* ---- whole answers ------------------------------------------------------------------------------ */

static void transport_failed(struct gw_req *r, struct mcp_req *m, const struct upstream_result *res)
{
	enum upstream_outcome o = res->outcome;
	bool timeout = upstream_outcome_is_timeout(o);
	enum gw_error e = timeout					       ? GWE_UPSTREAM_TIMEOUT
			  : o == UPSTREAM_TLS_ERROR			       ? GWE_UPSTREAM_TLS
			  : o == UPSTREAM_CONNECT_ERROR || o == UPSTREAM_RESET ? GWE_UPSTREAM_CONNECT
									       : GWE_UPSTREAM_INVALID;
	log_failure(r, m, upstream_outcome_name(o), res->detail);
	/* like the LLM spans: which deadline, or reset, rather than the class */
	mcp_reply_error(r, oai_err_def(e)->status, e, timeout || o == UPSTREAM_RESET ? upstream_outcome_name(o) : NULL,
			timeout ? MCP_OUT_TIMEOUT : MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR, "MCP server '%s': %s",
			m->srv->name, res->detail);
}

static void whole_done(struct gw_req *r, struct mcp_req *m, const struct upstream_result *res)
{
	char ctype[CTYPE_MAX];
	struct mcp_resp_facts f;
	int status = res->status;
	if (res->outcome != UPSTREAM_OK) {
		transport_failed(r, m, res);
		return;
	}
	if (!hdr_value(res->headers, res->nheaders, "content-type", ctype, sizeof(ctype)))
		snprintf(ctype, sizeof(ctype), "application/json");
	if (status == 401 || status == 407) {
		/* the gateway's credential, not the client's: the client cannot fix it, and must not start OAuth */
		log_failure(r, m, "unauthorized", "the server refused the gateway's credential (auth_header_env)");
		mcp_reply_error(r, 502, GWE_UPSTREAM_INVALID, "upstream_unauthorized", MCP_OUT_HTTP_ERROR,
				MCP_RPC_INTERNAL_ERROR, "MCP server '%s' refused the gateway's credential (HTTP %d)",
				m->srv->name, status);
		return;
	}
	read_message(r, m, res->body, res->body_len, &f);
	if (status < 200 || status > 299) {
		/* relayed as sent (404: unknown session, 400, 405, ...); a JSON-RPC code in it stays on the span */
		m->outcome = MCP_OUT_HTTP_ERROR;
		snprintf(r->span.error_type, sizeof(r->span.error_type), "%d", status);
	} else if (m->filter && f.answer && !f.has_error) {
		struct buf out;
		size_t removed;
		buf_init(&out, UPSTREAM_MAX_RESPONSE);
		int rc = mcp_access_filter_tools(res->body, res->body_len, m->access, m->srv->name, &out, &removed);
		if (rc == 1)
			http_srv_reply_body(r, status, ctype, out.data, out.len);
		else if (rc < 0)
			mcp_reply_error(r, 502, GWE_UPSTREAM_INVALID, NULL, MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR,
					"MCP server '%s' sent a tools/list answer the gateway cannot check",
					m->srv->name);
		buf_fini(&out);
		if (rc != 0)
			return;
	}
	http_srv_reply_body(r, status, ctype, res->body_len > 0 ? res->body : NULL, res->body_len);
}

/* ---- upstream callbacks ------------------------------------------------------------------------- */

static enum upstream_body_mode on_head(struct upstream_call *call, const struct upstream_head *h, void *arg)
{
	struct gw_req *r = arg;
	struct mcp_req *m = r->mcp;
	(void)call;
	relay_headers(r, m, h->headers, h->nheaders);
	if (h->status < 200 || h->status > 299 || !is_event_stream(h->headers, h->nheaders))
		return UPSTREAM_BODY_BUFFER;
	/* on failure r is finished and the call cancelled: what is returned no longer matters */
	return stream_begin(r, m, h->status) == 0 ? UPSTREAM_BODY_STREAM : UPSTREAM_BODY_BUFFER;
}

static void on_data(struct upstream_call *call, const char *data, size_t len, void *arg)
{
	struct gw_req *r = arg;
	struct mcp_req *m = r->mcp;
	struct err err;
	(void)call;
	if (m->filter) {
		filter_piece(r, m, data, len);
		return;
	}
	if (http_srv_stream_write(r, data, len) < 0) {
		mcp_relay_client_gone(r);
		return;
	}
	if (!m->raw && !m->inspect_off && sse_feed(m->sse, data, len, inspect_cb, r, &err) < 0)
		m->inspect_off = true; /* an event over the bound: relayed all the same, unread */
}

static void on_done(struct upstream_call *call, const struct upstream_result *res, void *arg)
{
	struct gw_req *r = arg;
	struct mcp_req *m = r->mcp;
	(void)call;
	r->call = NULL; /* the pool frees the handle after this callback */
	if (m->stream)
		stream_done(r, m, res);
	else
		whole_done(r, m, res);
}

const struct upstream_handlers mcp_relay_handlers = {on_head, on_data, on_done};
