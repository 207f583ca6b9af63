/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /mcp/{server}: from the routed, authenticated request to the upstream
 * call, and from the finished request to its span and metrics (the
 * contract is in mcp.h; the answer's way back is mcp_relay.c).
 *
 * Order of decisions for a POST: the body must be one JSON-RPC message
 * (else 400 with a JSON-RPC error), the path must name a configured
 * server (else 404), the key must be allowed that server (else 403), and
 * a tools/call must name a tool the key may call (else a JSON-RPC error
 * with the request's id, HTTP 200). The body is parsed first so that even
 * a refused request's span says which method it was.
 *
 * Every MCP request owns a struct mcp_req (r->mcp) from the first line of
 * mcp_handle to mcp_req_end, which http_srv calls exactly once whichever
 * way r finishes (answered, abandoned, aborted by the drain deadline).
 */
#include "gateway/mcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/gw.h"
#include "gateway/gw_conf.h"
#include "gateway/gw_gen.h"
#include "gateway/http_srv.h"
#include "gateway/mcp_access.h"
#include "gateway/mcp_int.h"
#include "gateway/mcp_span.h"
#include "gateway/oai_err.h"
#include "gateway/req_hdr.h"
#include "gateway/upstream.h"

#define MCP_PREFIX "/mcp/"
#define EXTRA_HDRS 4 /* Content-Type, traceparent, x-request-id, the credential */

/* ---- the gateway's own answers ------------------------------------------------------------- */

void mcp_reply_error(struct gw_req *r, int status, enum gw_error e, const char *span_type, enum mcp_outcome o,
		     int rpc_code, const char *fmt, ...)
{
	struct mcp_req *m = r->mcp;
	char msg[384];
	struct buf out;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->span.error_type, sizeof(r->span.error_type), "%s",
		 span_type != NULL ? span_type : oai_err_def(e)->span_type);
	metric_inc(r->w->gw->metrics.errors[e]);
	if (m != NULL) {
		m->outcome = o;
		m->has_rpc_code = true;
		m->rpc_code = rpc_code;
	}
	buf_init(&out, 4096);
	if (mcp_rpc_error_body(&out, m != NULL && m->has_msg ? &m->msg.id : NULL, rpc_code, msg) < 0)
		buf_reset(&out);
	http_srv_reply_json(r, status, out.data != NULL ? out.data : "", out.len);
	buf_fini(&out);
}

/* ---- request headers ----------------------------------------------------------------------- */

/* Mcp-Session-Id: 1-127 visible ASCII characters (MCP: "only visible ASCII"). */
static bool session_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= MCP_SESSION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* A protocol version worth a span attribute ("2025-06-18"); others go upstream unrecorded. */
static bool protocol_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < MCP_PROTO_MAX &&
	       strspn(s, "0123456789-.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") == n;
}

/* Is header name one the server config sets itself (static headers, the credential)? */
static bool config_sets(const struct gw_mcp_server *s, const char *name)
{
	if (s->auth_value != NULL && strcasecmp(name, s->auth_header) == 0)
		return true;
	for (size_t i = 0; i < s->nheaders; i++)
		if (strcasecmp(name, s->headers[i].name) == 0)
			return true;
	return false;
}

/*
 * What goes upstream: the client's end-to-end headers (never its key, its
 * cookies or hop-by-hop fields: req_hdr_forwardable), then ours. tp holds
 * the traceparent text while the call starts (the client copies it).
 */
static struct http_hdr *build_headers(struct gw_req *r, const struct mcp_req *m, bool body, char *tp, size_t *n)
{
	const struct gw_mcp_server *s = m->srv;
	size_t nin, k = 0;
	const struct http_hdr *in = http_srv_headers(r, &nin);
	const char *conn = http_srv_header(r, "Connection");
	struct http_hdr *h = calloc(nin + s->nheaders + EXTRA_HDRS, sizeof(*h));
	if (h == NULL)
		return NULL;
	for (size_t i = 0; i < nin; i++) {
		if (!req_hdr_forwardable(in[i].name, conn) || config_sets(s, in[i].name))
			continue;
		/* W3C: tracestate without a valid traceparent is discarded */
		if (!m->header_parent && strcasecmp(in[i].name, "tracestate") == 0)
			continue;
		h[k++] = in[i];
	}
	if (body)
		h[k++] = (struct http_hdr){"Content-Type", "application/json", 12, 16};
	ids_traceparent_format(r->span.trace.trace_id, r->span.trace.span_id, r->span.trace.flags, tp);
	h[k++] = (struct http_hdr){"traceparent", tp, 11, TRACEPARENT_LEN};
	h[k++] = (struct http_hdr){"x-request-id", r->span.request_id, 12, strlen(r->span.request_id)};
	for (size_t i = 0; i < s->nheaders; i++)
		h[k++] = (struct http_hdr){s->headers[i].name, s->headers[i].value, strlen(s->headers[i].name),
					   strlen(s->headers[i].value)};
	if (s->auth_value != NULL)
		h[k++] =
		    (struct http_hdr){s->auth_header, s->auth_value, strlen(s->auth_header), strlen(s->auth_value)};
	*n = k;
	return h;
}

static void on_client_close(struct gw_req *r, void *arg)
{
	(void)arg;
	mcp_relay_client_gone(r);
}

/* Starts the upstream call; finishes r itself when it cannot. */
static void send_upstream(struct gw_req *r, struct mcp_req *m, enum mcp_target t, const char *method)
{
	char tp[TRACEPARENT_LEN + 1];
	size_t n = 0, len = 0;
	const char *body = m->hm == HTTP_METHOD_POST ? http_srv_body(r, &len) : NULL;
	struct err err;
	if ((m->up = mcp_pool_get(r->w->mcp, r->gen, m->srv_index, &err)) == NULL) {
		mcp_reply_error(r, 500, GWE_INTERNAL, NULL, MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR, "%s", err.msg);
		return;
	}
	struct http_hdr *h = build_headers(r, m, body != NULL, tp, &n);
	if (h == NULL) {
		mcp_reply_error(r, 500, GWE_INTERNAL, NULL, MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR,
				"out of memory");
		return;
	}
	const struct upstream_request rq = {
	    .method = method, .path = m->srv->target, .headers = h, .nheaders = n, .body = body, .body_len = len};
	r->call = upstream_call_start(mcp_upstream_pool(m->up), t, &rq, &mcp_relay_handlers, r, &err);
	free(h);
	if (r->call == NULL) {
		mcp_reply_error(r, 500, GWE_INTERNAL, NULL, MCP_OUT_UNAVAILABLE, MCP_RPC_INTERNAL_ERROR,
				"could not start the request to MCP server '%s'", m->srv->name);
		return;
	}
	http_srv_on_client_close(r, on_client_close, NULL);
}

/* ---- decisions ----------------------------------------------------------------------------- */

/* The key's mcp block; NULL (open) when auth is off; an empty one (nothing) for anonymous callers. */
static const struct gw_mcp_access *req_access(const struct gw_req *r)
{
	static const struct gw_mcp_access none;
	if (!r->gen->conf->auth_enabled)
		return NULL;
	return r->span.ident != NULL ? &r->span.ident->key->mcp : &none;
}

/* The server named by the path, the key's right to it; answers r and returns -1 when refused. */
static int check_server(struct gw_req *r, struct mcp_req *m, const char *name)
{
	if (m->srv == NULL) {
		mcp_reply_error(r, 404, GWE_NOT_FOUND, "mcp_server_not_found", MCP_OUT_INVALID, MCP_RPC_INVALID_REQUEST,
				"unknown MCP server '%.64s' (see mcp_servers in the gateway config)", name);
		return -1;
	}
	if (!mcp_access_server(m->access, m->srv->name)) {
		mcp_reply_error(r, 403, GWE_MCP_NOT_ALLOWED, "mcp_server_not_allowed", MCP_OUT_DENIED, MCP_RPC_DENIED,
				"this key may not use MCP server '%s'", m->srv->name);
		return -1;
	}
	return 0;
}

/* tools/call: the tool must be one the key may call; refused calls never reach the server. */
static int check_tool(struct gw_req *r, struct mcp_req *m)
{
	const struct mcp_msg *msg = &m->msg;
	if (!mcp_msg_is(msg, "tools/call"))
		return 0;
	if (mcp_access_tool(m->access, m->srv->name, msg->has_name ? msg->name : NULL, msg->name_cut)) {
		m->tool_allowed = msg->has_name && !msg->name_cut;
		return 0;
	}
	mcp_reply_error(r, msg->kind == MCP_MSG_REQUEST ? 200 : 403, GWE_MCP_NOT_ALLOWED, "mcp_tool_not_allowed",
			MCP_OUT_DENIED, MCP_RPC_DENIED, "tool '%.128s' is not allowed for this key on MCP server '%s'",
			msg->has_name ? msg->name : "", m->srv->name);
	return -1;
}

static void handle_post(struct gw_req *r, struct mcp_req *m, const char *name)
{
	size_t len;
	const char *body = http_srv_body(r, &len);
	struct mcp_rpc_err pe;
	if (mcp_rpc_parse(body, len, &m->msg, &pe) < 0) {
		mcp_reply_error(r, 400, GWE_INVALID_REQUEST, pe.batch ? "mcp_batch_not_supported" : NULL,
				MCP_OUT_INVALID, pe.code, "%s", pe.msg);
		return;
	}
	m->has_msg = true;
	snprintf(r->span.request_model, sizeof(r->span.request_model), "%s", m->msg.method); /* the access log */
	if (m->protocol[0] == '\0' && protocol_ok(m->msg.protocol))
		snprintf(m->protocol, sizeof(m->protocol), "%s", m->msg.protocol);
	/* MCP's own trace context (params._meta) when the HTTP request carried none */
	if (!r->span.trace.parent_remote && m->msg.traceparent[0] != '\0')
		span_trace_init(&r->span.trace, &r->w->rng, m->msg.traceparent);
	if (check_server(r, m, name) < 0 || check_tool(r, m) < 0)
		return;
	m->filter = m->msg.kind == MCP_MSG_REQUEST && mcp_msg_is(&m->msg, "tools/list") &&
		    !mcp_access_all_tools(m->access, m->srv->name);
	send_upstream(r, m, MCP_TARGET_CALL, "POST");
}

/* The server name in the path: "/mcp/{name}" with an optional trailing '/'. */
static bool path_name(const char *path, char *name, size_t cap)
{
	const char *p = path + sizeof(MCP_PREFIX) - 1;
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= cap || (p[n] == '/' && p[n + 1] != '\0'))
		return false;
	memcpy(name, p, n);
	name[n] = '\0';
	return true;
}

void mcp_handle(struct gw_req *r)
{
	char name[128];
	const char *sid = http_srv_header(r, "Mcp-Session-Id"), *ver = http_srv_header(r, "MCP-Protocol-Version");
	struct mcp_req *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory");
		return;
	}
	r->mcp = m;
	r->no_span = true; /* mcp_req_end emits the MCP span instead */
	m->r = r;
	m->hm = http_srv_method(r);
	m->header_parent = r->span.trace.parent_remote;
	m->access = req_access(r);
	if (!path_name(http_srv_path(r), name, sizeof(name))) {
		mcp_reply_error(r, 404, GWE_NOT_FOUND, "mcp_server_not_found", MCP_OUT_INVALID, MCP_RPC_INVALID_REQUEST,
				"use /mcp/{server}, with a server name from mcp_servers");
		return;
	}
	if ((m->srv = gw_conf_find_mcp_server(r->gen->conf, name)) != NULL)
		m->srv_index = (size_t)(m->srv - r->gen->conf->mcp_servers);
	if (sid != NULL && !session_ok(sid)) {
		mcp_reply_error(r, 400, GWE_INVALID_REQUEST, NULL, MCP_OUT_INVALID, MCP_RPC_INVALID_REQUEST,
				"Mcp-Session-Id must be 1-%d visible ASCII characters", MCP_SESSION_MAX - 1);
		return;
	}
	if (sid != NULL)
		snprintf(m->session, sizeof(m->session), "%s", sid);
	if (ver != NULL && protocol_ok(ver))
		snprintf(m->protocol, sizeof(m->protocol), "%s", ver);
	if (m->hm == HTTP_METHOD_POST) {
		handle_post(r, m, name);
		return;
	}
	if (check_server(r, m, name) < 0)
		return;
	if (m->hm == HTTP_METHOD_GET)
		send_upstream(r, m, MCP_TARGET_STREAM, "GET");
	else
		send_upstream(r, m, MCP_TARGET_CALL, "DELETE");
}

/* ---- the end of a request ------------------------------------------------------------------- */

static const char *method_label(const struct mcp_req *m)
{
	if (m->hm == HTTP_METHOD_GET)
		return "GET";
	if (m->hm == HTTP_METHOD_DELETE)
		return "DELETE";
	if (!m->has_msg)
		return "_other";
	return m->msg.kind == MCP_MSG_RESPONSE ? "_response" : mcp_metrics_method_label(m->msg.method);
}

static void emit_span(struct gw_req *r, const struct mcp_req *m)
{
	bool named = m->has_msg && (mcp_msg_is(&m->msg, "tools/call") || mcp_msg_is(&m->msg, "prompts/get"));
	bool rpc_id = m->has_msg && (m->msg.id.type == MCP_ID_STRING || m->msg.id.type == MCP_ID_NUMBER);
	const struct mcp_span_facts f = {
	    .http_method = http_parse_method_name(m->hm),
	    .server = m->srv != NULL ? m->srv->name : NULL,
	    .method = m->has_msg && m->msg.kind != MCP_MSG_RESPONSE ? m->msg.method : "",
	    .name = named && m->msg.has_name ? m->msg.name : "",
	    .tool_call = m->has_msg && mcp_msg_is(&m->msg, "tools/call"),
	    .session = m->session,
	    .rpc_id = rpc_id ? m->msg.id.text : "",
	    .protocol = m->protocol,
	    .has_rpc_code = m->has_rpc_code,
	    .rpc_code = m->rpc_code,
	};
	mcp_span_build(span_batch_slot(&r->w->spans), &r->span, &f);
	span_batch_commit(&r->w->spans);
}

void mcp_req_end(struct gw_req *r, int status)
{
	struct mcp_req *m = r->mcp;
	struct gw_worker *w = r->w;
	if (m == NULL)
		return;
	r->mcp = NULL;
	if (r->call != NULL) {
		upstream_call_cancel(r->call);
		r->call = NULL;
	}
	if (status == 499)
		m->outcome = MCP_OUT_CLIENT_CLOSED;
	else if (status >= 400 && m->outcome == MCP_OUT_OK)
		m->outcome = status >= 500 ? MCP_OUT_UNAVAILABLE : MCP_OUT_INVALID;
	if (m->listed)
		TAILQ_REMOVE(&w->mcp->streams, m, link);
	emit_span(r, m);
	mcp_metrics_count(w->gw->mcp_metrics, r->gen->conf->metrics_max_series, m->srv != NULL ? m->srv->name : NULL,
			  method_label(m), m->tool_allowed ? m->msg.name : NULL, m->outcome,
			  (double)(clock_mono_ns() - r->start_mono_ns) / 1e9);
	mcp_relay_fini(m);
	mcp_pool_put(w->mcp, m->up);
	free(m);
}

void mcp_worker_drain(struct gw_worker *w)
{
	struct mcp_req *m;
	if (w->mcp == NULL)
		return;
	while ((m = TAILQ_FIRST(&w->mcp->streams)) != NULL) {
		struct gw_req *r = m->r;
		TAILQ_REMOVE(&w->mcp->streams, m, link);
		m->listed = false;
		if (r->call != NULL) {
			upstream_call_cancel(r->call);
			r->call = NULL;
		}
		http_srv_stream_end(r); /* a clean end: the client reconnects, to another replica */
	}
}
