/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MCP SERVER span record (field reuse in mcp_span.h). Every string
 * goes through spanrec_set_str, which cuts at a UTF-8 boundary and flags
 * the cut, so no client-sent name can overflow the record.
 */
#include "gateway/mcp_span.h"

#include <stdio.h>
#include <string.h>

#include "common/spanrec.h"

static const char *nz(const char *s)
{
	return s != NULL ? s : "";
}

static void span_name(struct spanrec *r, const struct mcp_span_facts *f)
{
	char name[sizeof(r->name) * 2];
	const char *method = nz(f->method), *target = nz(f->name);
	if (method[0] != '\0' && target[0] != '\0')
		snprintf(name, sizeof(name), "%s %s", method, target);
	else if (method[0] != '\0')
		snprintf(name, sizeof(name), "%s", method);
	else /* HTTP's own naming ({method} {route}) for what is not an MCP method */
		snprintf(name, sizeof(name), "%s /mcp/{server}", f->http_method != NULL ? f->http_method : "HTTP");
	SPANREC_SET(r, name, name);
}

static void span_status(struct spanrec *r, const struct span_req *q)
{
	char code[8];
	if (q->http_status < 400 && q->error_type[0] == '\0')
		return;
	r->status = SPANREC_STATUS_ERROR;
	snprintf(code, sizeof(code), "%u", (unsigned)q->http_status);
	SPANREC_SET(r, error_type, q->error_type[0] != '\0' ? q->error_type : code);
}

void mcp_span_build(struct spanrec *r, const struct span_req *q, const struct mcp_span_facts *f)
{
	spanrec_init(r, SPANREC_KIND_SERVER);
	r->op = (uint8_t)(f->tool_call ? SPANREC_OP_EXECUTE_TOOL : SPANREC_OP_MCP);
	r->trace_flags = q->trace.flags;
	memcpy(r->trace_id, q->trace.trace_id, sizeof(r->trace_id));
	memcpy(r->span_id, q->trace.span_id, sizeof(r->span_id));
	if (q->trace.parent_remote) {
		memcpy(r->parent_span_id, q->trace.parent_id, sizeof(r->parent_span_id));
		r->flags |= SPANREC_F_PARENT_REMOTE;
	}
	r->start_ns = q->start_ns;
	r->end_ns = q->end_ns >= q->start_ns ? q->end_ns : q->start_ns;
	r->http_status = q->http_status;
	span_name(r, f);
	SPANREC_SET(r, mcp_method, nz(f->method));
	SPANREC_SET(r, tool_name, nz(f->name));
	SPANREC_SET(r, mcp_session_id, nz(f->session));
	SPANREC_SET(r, jsonrpc_id, nz(f->rpc_id));
	SPANREC_SET(r, fallback_reason, nz(f->protocol));
	SPANREC_SET(r, target, nz(f->server));
	SPANREC_SET(r, provider, nz(f->http_method));
	SPANREC_SET(r, request_id, q->request_id);
	if (f->has_rpc_code) {
		r->flags |= SPANREC_F_JSONRPC_ERROR;
		r->jsonrpc_error_code = (int32_t)(f->rpc_code < INT32_MIN   ? INT32_MIN
						  : f->rpc_code > INT32_MAX ? INT32_MAX
									    : f->rpc_code);
	}
	if (q->ident != NULL) {
		SPANREC_SET(r, tenant_id, q->ident->tenant_id);
		SPANREC_SET(r, team, q->ident->team);
		SPANREC_SET(r, user, q->ident->user);
		SPANREC_SET(r, key_name, q->ident->key_name);
	}
	span_status(r, q);
	for (unsigned i = 0; i < q->nmeta && i < SPANREC_META_MAX; i++)
		spanrec_add_meta(r, q->meta[i].key, q->meta[i].value);
	if (q->meta_overflow)
		r->flags |= SPANREC_F_META_FULL;
}
