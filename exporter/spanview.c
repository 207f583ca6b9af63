/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record -> OTLP span mapping (docs/span-schema.md), shared by both encoders.
 *
 * The record is fixed-size and validated, so building a view is a handful
 * of comparisons and pointer stores: strings are used in place unless they
 * are not valid UTF-8 (the gateway cuts at character boundaries, but the
 * socket is untrusted input), in which case a repaired copy goes into the
 * view's own buffer. Attributes appear in the order of the schema table so
 * output is stable and diffable.
 */
#include "exporter/spanview.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/spanrec.h"

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length of the well-formed sequence at s (n bytes left), 0 if none starts there. */
static size_t spanview_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0; /* continuation byte, overlong 2-byte lead, or beyond U+10FFFF */
	size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xf0 && s[1] < 0x90))
		return 0; /* overlong */
	if ((c == 0xed && s[1] >= 0xa0) || (c == 0xf4 && s[1] >= 0x90))
		return 0; /* UTF-16 surrogates, > U+10FFFF */
	return len;
}

bool spanview_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = spanview_utf8_seq(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

size_t spanview_utf8_fix(char *s, size_t n)
{
	unsigned char *p = (unsigned char *)s;
	size_t fixed = 0;
	for (size_t i = 0; i < n;) {
		size_t l = spanview_utf8_seq(p + i, n - i);
		if (l == 0) {
			p[i++] = '?';
			fixed++;
		} else {
			i += l;
		}
	}
	return fixed;
}

/*
 * Length of the string in s[0..cap) (up to its NUL, or cap) and whether it
 * is all ASCII, eight bytes at a time: a record's string fields are sized
 * in multiples of 8, and reading all cap bytes is safe because they belong
 * to the field. A word with a zero byte or a byte >= 0x80 is finished one
 * byte at a time. This is the one place a record string is measured.
 */
static size_t spanview_scan(const char *s, size_t cap, bool *ascii)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
	for (; i + 8 <= cap; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, sizeof(w));
		/* (w - ones) sets a byte's top bit for a zero byte (borrows only start at one) */
		if (((w - ones) | w) & highs)
			break;
	}
	unsigned char hi = 0;
	for (; i < cap && s[i] != '\0'; i++)
		hi |= (unsigned char)s[i];
	*ascii = hi < 0x80;
	return i;
}

/*
 * s (a string of at most cap bytes) itself when valid UTF-8, else a
 * repaired copy in v->fix_buf (sized for every string of a record); its
 * length goes to *len.
 */
static const char *spanview_str(struct spanview *v, const char *s, size_t cap, size_t *len)
{
	bool ascii;
	size_t n = spanview_scan(s, cap, &ascii);
	*len = n;
	if (ascii || spanview_utf8_valid(s, n))
		return s;
	if (v->fix_len + n + 1 > sizeof(v->fix_buf)) {
		*len = 1;
		return "?"; /* unreachable for a validated record: its strings total < SPANREC_SIZE */
	}
	char *d = v->fix_buf + v->fix_len;
	memcpy(d, s, n);
	d[n] = '\0';
	spanview_utf8_fix(d, n);
	v->fix_len += n + 1;
	return d;
}

/* ---- attributes ----------------------------------------------------------- */

/* A string literal as (pointer, length) arguments. */
#define SV_LIT(s) (s), (sizeof(s) - 1)
/* A record string field as (pointer, capacity) arguments. */
#define SV_FIELD(r, f) (r)->f, sizeof((r)->f)

static struct spanview_attr *spanview_add(struct spanview *v, const char *key, size_t klen, enum spanview_type t)
{
	if (v->nattrs >= SPANVIEW_MAX_ATTRS) {
		v->dropped_attrs++;
		return NULL;
	}
	struct spanview_attr *a = &v->attrs[v->nattrs++];
	a->key = key;
	a->klen = (uint32_t)klen;
	a->slen = 0;
	a->type = t;
	return a;
}

/* A string attribute whose value is known valid (a literal, a name from a table). */
static void spanview_add_strn(struct spanview *v, const char *key, size_t klen, const char *s, size_t slen)
{
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_STR);
	if (a != NULL) {
		a->u.s = s;
		a->slen = (uint32_t)slen;
	}
}

/* A string attribute from record field s (cap bytes), when non-empty (the record's "not set"). */
static void spanview_add_field(struct spanview *v, const char *key, size_t klen, const char *s, size_t cap)
{
	if (s[0] == '\0')
		return;
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_STR);
	if (a != NULL) {
		size_t n;
		a->u.s = spanview_str(v, s, cap, &n);
		a->slen = (uint32_t)n;
	}
}

static void spanview_add_int(struct spanview *v, const char *key, size_t klen, int64_t i)
{
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_INT);
	if (a != NULL)
		a->u.i = i;
}

static void spanview_add_double(struct spanview *v, const char *key, size_t klen, double d)
{
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_DOUBLE);
	if (a != NULL)
		a->u.d = d;
}

static void spanview_add_bool(struct spanview *v, const char *key, size_t klen, bool b)
{
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_BOOL);
	if (a != NULL)
		a->u.b = b;
}

static void spanview_add_arr(struct spanview *v, const char *key, size_t klen, const char *const *arr, size_t n)
{
	struct spanview_attr *a = spanview_add(v, key, klen, SPANVIEW_STRARR);
	if (a != NULL) {
		a->u.arr.v = arr;
		a->u.arr.n = n;
	}
}

/* MCP spans (execute_tool, mcp): their own fields plus three reused ones (docs/span-schema.md, "MCP spans"). */
static bool spanview_is_mcp(const struct spanrec *r)
{
	return r->op == SPANREC_OP_EXECUTE_TOOL || r->op == SPANREC_OP_MCP;
}

/* http.request.method and http.route of the gateway's own (SERVER) span, by operation. */
static void spanview_server_http(struct spanview *v, const struct spanrec *r)
{
	if (r->kind == SPANREC_KIND_SERVER && spanview_is_mcp(r)) {
		spanview_add_field(v, SV_LIT("http.request.method"), SV_FIELD(r, provider));
		spanview_add_strn(v, SV_LIT("http.route"), SV_LIT("/mcp/{server}"));
		return;
	}
	static const struct {
		const char *method;
		const char *route;
	} routes[SPANREC_OP__COUNT] = {
	    [SPANREC_OP_CHAT] = {"POST", "/v1/chat/completions"},
	    [SPANREC_OP_TEXT_COMPLETION] = {"POST", "/v1/completions"},
	    [SPANREC_OP_EMBEDDINGS] = {"POST", "/v1/embeddings"},
	    [SPANREC_OP_EXECUTE_TOOL] = {"POST", NULL},
	    [SPANREC_OP_MODELS] = {"GET", "/v1/models"},
	};
	if (r->kind != SPANREC_KIND_SERVER || r->op >= SPANREC_OP__COUNT || routes[r->op].method == NULL)
		return;
	const char *m = routes[r->op].method, *route = routes[r->op].route;
	spanview_add_strn(v, SV_LIT("http.request.method"), m, strlen(m));
	if (route != NULL)
		spanview_add_strn(v, SV_LIT("http.route"), route, strlen(route));
}

static void spanview_genai(struct spanview *v, const struct spanrec *r)
{
	const char *op = spanrec_op_name((enum spanrec_op)r->op);
	if (op != NULL)
		spanview_add_strn(v, SV_LIT("gen_ai.operation.name"), op, strlen(op));
	spanview_add_field(v, SV_LIT("gen_ai.provider.name"), SV_FIELD(r, provider));
	spanview_add_field(v, SV_LIT("gen_ai.request.model"), SV_FIELD(r, request_model));
	spanview_add_field(v, SV_LIT("gen_ai.response.model"), SV_FIELD(r, response_model));
	spanview_add_field(v, SV_LIT("gen_ai.response.id"), SV_FIELD(r, response_id));
	if (r->finish_reason[0] != '\0') {
		size_t n;
		v->finish_reasons[0] = spanview_str(v, SV_FIELD(r, finish_reason), &n);
		spanview_add_arr(v, SV_LIT("gen_ai.response.finish_reasons"), v->finish_reasons, 1);
	}
	if (r->flags & SPANREC_F_HAS_USAGE) {
		spanview_add_int(v, SV_LIT("gen_ai.usage.input_tokens"), r->input_tokens);
		spanview_add_int(v, SV_LIT("gen_ai.usage.output_tokens"), r->output_tokens);
	}
	if (r->cache_read_tokens > 0)
		spanview_add_int(v, SV_LIT("gen_ai.usage.cache_read.input_tokens"), r->cache_read_tokens);
	if (r->ttft_ns > 0)
		spanview_add_double(v, SV_LIT("gen_ai.response.time_to_first_chunk"), (double)r->ttft_ns / 1e9);
	if (r->flags & SPANREC_F_STREAM)
		spanview_add_bool(v, SV_LIT("gen_ai.request.stream"), true);
}

/* The OpenTelemetry MCP conventions' attributes of an MCP span. */
static void spanview_mcp(struct spanview *v, const struct spanrec *r)
{
	bool tool = r->op == SPANREC_OP_EXECUTE_TOOL;
	/* the conventions set gen_ai.operation.name on tool calls only */
	if (tool)
		spanview_add_strn(v, SV_LIT("gen_ai.operation.name"), SV_LIT("execute_tool"));
	spanview_add_field(v, SV_LIT("mcp.method.name"), SV_FIELD(r, mcp_method));
	if (tool)
		spanview_add_field(v, SV_LIT("gen_ai.tool.name"), SV_FIELD(r, tool_name));
	else
		spanview_add_field(v, SV_LIT("gen_ai.prompt.name"), SV_FIELD(r, tool_name));
	spanview_add_field(v, SV_LIT("mcp.session.id"), SV_FIELD(r, mcp_session_id));
	spanview_add_field(v, SV_LIT("jsonrpc.request.id"), SV_FIELD(r, jsonrpc_id));
	spanview_add_field(v, SV_LIT("mcp.protocol.version"), SV_FIELD(r, fallback_reason));
	spanview_add_field(v, SV_LIT("llmgw.mcp.server"), SV_FIELD(r, target));
	if (r->flags & SPANREC_F_JSONRPC_ERROR) {
		int n = snprintf(v->rpc_code, sizeof(v->rpc_code), "%d", (int)r->jsonrpc_error_code);
		spanview_add_strn(v, SV_LIT("rpc.response.status_code"), v->rpc_code, (size_t)n);
		spanview_add_int(v, SV_LIT("rpc.jsonrpc.error_code"), r->jsonrpc_error_code);
	}
}

static void spanview_network(struct spanview *v, const struct spanrec *r)
{
	spanview_add_field(v, SV_LIT("server.address"), SV_FIELD(r, server_address));
	if (r->server_port != 0)
		spanview_add_int(v, SV_LIT("server.port"), r->server_port);
	if (r->http_status != 0)
		spanview_add_int(v, SV_LIT("http.response.status_code"), r->http_status);
	spanview_server_http(v, r);
	spanview_add_field(v, SV_LIT("error.type"), SV_FIELD(r, error_type));
}

/* Caller metadata slot i as "llmgw.meta.<key>" = value. */
static void spanview_meta(struct spanview *v, const struct spanrec_meta *m, size_t i)
{
	static const char prefix[] = "llmgw.meta.";
	size_t kn, vn;
	const char *k = spanview_str(v, SV_FIELD(m, key), &kn);
	char *dst = v->meta_keys[i];
	static_assert(sizeof(v->meta_keys[i]) >= sizeof(prefix) + sizeof(m->key) - 1, "room for prefix + key");
	memcpy(dst, prefix, sizeof(prefix) - 1);
	memcpy(dst + sizeof(prefix) - 1, k, kn);
	dst[sizeof(prefix) - 1 + kn] = '\0';
	struct spanview_attr *a = spanview_add(v, dst, sizeof(prefix) - 1 + kn, SPANVIEW_STR);
	if (a != NULL) {
		a->u.s = spanview_str(v, SV_FIELD(m, value), &vn);
		a->slen = (uint32_t)vn;
	}
}

/* Response cache and guardrails (docs/span-schema.md): hit only when consulted; rule names, never text. */
static void spanview_cache_guard(struct spanview *v, const struct spanrec *r)
{
	if (r->flags & (SPANREC_F_CACHE_HIT | SPANREC_F_CACHE_LOOKUP))
		spanview_add_bool(v, SV_LIT("llmgw.cache.hit"), (r->flags & SPANREC_F_CACHE_HIT) != 0);
	spanview_add_field(v, SV_LIT("llmgw.guardrail.rules"), SV_FIELD(r, guardrails));
	if (r->flags & SPANREC_F_GUARD_DENIED)
		spanview_add_strn(v, SV_LIT("llmgw.guardrail.action"), SV_LIT("deny"));
	else if (r->flags & SPANREC_F_GUARD_REDACTED)
		spanview_add_strn(v, SV_LIT("llmgw.guardrail.action"), SV_LIT("redact"));
}

static void spanview_llmgw(struct spanview *v, const struct spanrec *r)
{
	if (r->flags & SPANREC_F_HAS_COST)
		spanview_add_double(v, SV_LIT("llmgw.cost_usd"), (double)r->cost_micro_usd / 1e6);
	spanview_add_field(v, SV_LIT("user.id"), SV_FIELD(r, user));
	spanview_add_field(v, SV_LIT("llmgw.key.name"), SV_FIELD(r, key_name));
	/* CLIENT: which attempt this is; SERVER: how many there were */
	if (r->attempt > 0) {
		if (r->kind == SPANREC_KIND_CLIENT)
			spanview_add_int(v, SV_LIT("llmgw.attempt"), r->attempt);
		else
			spanview_add_int(v, SV_LIT("llmgw.attempts"), r->attempt);
	}
	if (!spanview_is_mcp(r)) { /* MCP spans carry other facts there (spanview_mcp) */
		spanview_add_field(v, SV_LIT("llmgw.route.target"), SV_FIELD(r, target));
		spanview_add_field(v, SV_LIT("llmgw.route.fallback_reason"), SV_FIELD(r, fallback_reason));
	}
	spanview_add_field(v, SV_LIT("llmgw.request.id"), SV_FIELD(r, request_id));
	spanview_cache_guard(v, r);
	for (size_t i = 0; i < SPANREC_META_MAX; i++) {
		if (r->meta[i].key[0] != '\0')
			spanview_meta(v, &r->meta[i], i);
	}
	if (r->flags & SPANREC_F_META_FULL)
		v->dropped_attrs++;
}

static void spanview_truncation(struct spanview *v, const struct spanrec *r)
{
	size_t n = 0;
	if (!(r->flags & SPANREC_F_TRUNCATED) && r->trunc_mask == 0)
		return;
	for (unsigned i = 0; i < SPANVIEW_MAX_TRUNC; i++) {
		const char *f = spanrec_str_field_name(i);
		if (f == NULL)
			break;
		if (r->trunc_mask & (1u << i))
			v->trunc_fields[n++] = f;
	}
	spanview_add_bool(v, SV_LIT("llmgw.truncated"), true);
	if (n > 0)
		spanview_add_arr(v, SV_LIT("llmgw.truncated_fields"), v->trunc_fields, n);
}

/* The record's name, else "{operation} {model}" as the schema names spans; never empty (OTLP requires one). */
static const char *spanview_name(struct spanview *v, const struct spanrec *r, size_t *len)
{
	if (r->name[0] != '\0')
		return spanview_str(v, SV_FIELD(r, name), len);
	const char *op = spanrec_op_name((enum spanrec_op)r->op);
	if (op == NULL)
		op = "llmgw";
	if (r->request_model[0] != '\0') {
		size_t n;
		const char *model = spanview_str(v, SV_FIELD(r, request_model), &n);
		snprintf(v->name_buf, sizeof(v->name_buf), "%s %.*s", op, (int)n, model);
	} else {
		snprintf(v->name_buf, sizeof(v->name_buf), "%s", op);
	}
	/* snprintf may have cut a character in half. */
	*len = strlen(v->name_buf);
	spanview_utf8_fix(v->name_buf, *len);
	return v->name_buf;
}

void spanview_build(struct spanview *v, const struct spanrec *r)
{
	v->nattrs = 0;
	v->dropped_attrs = 0;
	v->fix_len = 0;
	v->trace_id = r->trace_id;
	v->span_id = r->span_id;
	v->parent_span_id = ids_is_zero(r->parent_span_id, sizeof(r->parent_span_id)) ? NULL : r->parent_span_id;
	v->name = spanview_name(v, r, &v->name_len);
	v->kind = r->kind;
	v->start_ns = r->start_ns;
	v->end_ns = r->end_ns;
	/* The gateway always knows whether the parent was remote, so HAS_IS_REMOTE is always set. */
	v->flags = r->trace_flags | SPANVIEW_FLAG_HAS_IS_REMOTE;
	if (r->flags & SPANREC_F_PARENT_REMOTE)
		v->flags |= SPANVIEW_FLAG_IS_REMOTE;
	v->status_code = r->status;
	v->status_message = "";
	v->status_message_len = 0;
	if (r->status == SPANREC_STATUS_ERROR && r->error_type[0] != '\0')
		v->status_message = spanview_str(v, SV_FIELD(r, error_type), &v->status_message_len);
	if (spanview_is_mcp(r))
		spanview_mcp(v, r);
	else
		spanview_genai(v, r);
	spanview_network(v, r);
	spanview_llmgw(v, r);
	spanview_truncation(v, r);
}

const struct spanview_attr *spanview_attr(const struct spanview *v, const char *key)
{
	for (size_t i = 0; i < v->nattrs; i++) {
		if (strcmp(v->attrs[i].key, key) == 0)
			return &v->attrs[i];
	}
	return NULL;
}
