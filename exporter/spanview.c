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

/* s itself when valid, else a repaired copy in v->fix_buf (sized for every string of a record). */
static const char *spanview_str(struct spanview *v, const char *s)
{
	size_t n = strlen(s);
	if (spanview_utf8_valid(s, n))
		return s;
	if (v->fix_len + n + 1 > sizeof(v->fix_buf))
		return "?"; /* unreachable for a validated record: its strings total < SPANREC_SIZE */
	char *d = v->fix_buf + v->fix_len;
	memcpy(d, s, n + 1);
	spanview_utf8_fix(d, n);
	v->fix_len += n + 1;
	return d;
}

/* ---- attributes ----------------------------------------------------------- */

static struct spanview_attr *spanview_add(struct spanview *v, const char *key, enum spanview_type t)
{
	if (v->nattrs >= SPANVIEW_MAX_ATTRS) {
		v->dropped_attrs++;
		return NULL;
	}
	struct spanview_attr *a = &v->attrs[v->nattrs++];
	a->key = key;
	a->type = t;
	return a;
}

/* Adds a string attribute when s is non-empty (the record's "not set"). */
static void spanview_add_str(struct spanview *v, const char *key, const char *s)
{
	if (s[0] == '\0')
		return;
	struct spanview_attr *a = spanview_add(v, key, SPANVIEW_STR);
	if (a != NULL)
		a->u.s = spanview_str(v, s);
}

static void spanview_add_int(struct spanview *v, const char *key, int64_t i)
{
	struct spanview_attr *a = spanview_add(v, key, SPANVIEW_INT);
	if (a != NULL)
		a->u.i = i;
}

static void spanview_add_double(struct spanview *v, const char *key, double d)
{
	struct spanview_attr *a = spanview_add(v, key, SPANVIEW_DOUBLE);
	if (a != NULL)
		a->u.d = d;
}

static void spanview_add_bool(struct spanview *v, const char *key, bool b)
{
	struct spanview_attr *a = spanview_add(v, key, SPANVIEW_BOOL);
	if (a != NULL)
		a->u.b = b;
}

static void spanview_add_arr(struct spanview *v, const char *key, const char *const *arr, size_t n)
{
	struct spanview_attr *a = spanview_add(v, key, SPANVIEW_STRARR);
	if (a != NULL) {
		a->u.arr.v = arr;
		a->u.arr.n = n;
	}
}

/* http.request.method and http.route of the gateway's own (SERVER) span, by operation. */
static void spanview_server_http(struct spanview *v, const struct spanrec *r)
{
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
	spanview_add_str(v, "http.request.method", routes[r->op].method);
	if (routes[r->op].route != NULL)
		spanview_add_str(v, "http.route", routes[r->op].route);
}

static void spanview_genai(struct spanview *v, const struct spanrec *r)
{
	const char *op = spanrec_op_name((enum spanrec_op)r->op);
	if (op != NULL)
		spanview_add_str(v, "gen_ai.operation.name", op);
	spanview_add_str(v, "gen_ai.provider.name", r->provider);
	spanview_add_str(v, "gen_ai.request.model", r->request_model);
	spanview_add_str(v, "gen_ai.response.model", r->response_model);
	spanview_add_str(v, "gen_ai.response.id", r->response_id);
	if (r->finish_reason[0] != '\0') {
		v->finish_reasons[0] = spanview_str(v, r->finish_reason);
		spanview_add_arr(v, "gen_ai.response.finish_reasons", v->finish_reasons, 1);
	}
	if (r->flags & SPANREC_F_HAS_USAGE) {
		spanview_add_int(v, "gen_ai.usage.input_tokens", r->input_tokens);
		spanview_add_int(v, "gen_ai.usage.output_tokens", r->output_tokens);
	}
	if (r->cache_read_tokens > 0)
		spanview_add_int(v, "gen_ai.usage.cache_read.input_tokens", r->cache_read_tokens);
	if (r->ttft_ns > 0)
		spanview_add_double(v, "gen_ai.response.time_to_first_chunk", (double)r->ttft_ns / 1e9);
	if (r->flags & SPANREC_F_STREAM)
		spanview_add_bool(v, "gen_ai.request.stream", true);
}

static void spanview_network(struct spanview *v, const struct spanrec *r)
{
	spanview_add_str(v, "server.address", r->server_address);
	if (r->server_port != 0)
		spanview_add_int(v, "server.port", r->server_port);
	if (r->http_status != 0)
		spanview_add_int(v, "http.response.status_code", r->http_status);
	spanview_server_http(v, r);
	spanview_add_str(v, "error.type", r->error_type);
}

static void spanview_llmgw(struct spanview *v, const struct spanrec *r)
{
	if (r->flags & SPANREC_F_HAS_COST)
		spanview_add_double(v, "llmgw.cost_usd", (double)r->cost_micro_usd / 1e6);
	spanview_add_str(v, "user.id", r->user);
	spanview_add_str(v, "llmgw.key.name", r->key_name);
	/* CLIENT: which attempt this is; SERVER: how many there were */
	if (r->attempt > 0)
		spanview_add_int(v, r->kind == SPANREC_KIND_CLIENT ? "llmgw.attempt" : "llmgw.attempts", r->attempt);
	spanview_add_str(v, "llmgw.route.target", r->target);
	spanview_add_str(v, "llmgw.route.fallback_reason", r->fallback_reason);
	spanview_add_str(v, "llmgw.request.id", r->request_id);
	for (size_t i = 0; i < SPANREC_META_MAX; i++) {
		const struct spanrec_meta *m = &r->meta[i];
		if (m->key[0] == '\0')
			continue;
		snprintf(v->meta_keys[i], sizeof(v->meta_keys[i]), "llmgw.meta.%s", spanview_str(v, m->key));
		struct spanview_attr *a = spanview_add(v, v->meta_keys[i], SPANVIEW_STR);
		if (a != NULL)
			a->u.s = spanview_str(v, m->value);
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
	spanview_add_bool(v, "llmgw.truncated", true);
	if (n > 0)
		spanview_add_arr(v, "llmgw.truncated_fields", v->trunc_fields, n);
}

/* The record's name, else "{operation} {model}" as the schema names spans; never empty (OTLP requires one). */
static const char *spanview_name(struct spanview *v, const struct spanrec *r)
{
	if (r->name[0] != '\0')
		return spanview_str(v, r->name);
	const char *op = spanrec_op_name((enum spanrec_op)r->op);
	if (op == NULL)
		op = "llmgw";
	if (r->request_model[0] != '\0')
		snprintf(v->name_buf, sizeof(v->name_buf), "%s %s", op, spanview_str(v, r->request_model));
	else
		snprintf(v->name_buf, sizeof(v->name_buf), "%s", op);
	/* snprintf may have cut a character in half. */
	spanview_utf8_fix(v->name_buf, strlen(v->name_buf));
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
	v->name = spanview_name(v, r);
	v->kind = r->kind;
	v->start_ns = r->start_ns;
	v->end_ns = r->end_ns;
	/* The gateway always knows whether the parent was remote, so HAS_IS_REMOTE is always set. */
	v->flags = r->trace_flags | SPANVIEW_FLAG_HAS_IS_REMOTE;
	if (r->flags & SPANREC_F_PARENT_REMOTE)
		v->flags |= SPANVIEW_FLAG_IS_REMOTE;
	v->status_code = r->status;
	v->status_message = "";
	if (r->status == SPANREC_STATUS_ERROR && r->error_type[0] != '\0')
		v->status_message = spanview_str(v, r->error_type);
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
