/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch -> ExportTraceServiceRequest (protobuf), written straight from the
 * span views into the output buffer with the pbw wire writer.
 *
 * protobuf-c would need a message tree per span (a KeyValue and an AnyValue
 * per attribute, pointers everywhere), a get_packed_size walk over it and a
 * pack walk: at the exporter's rates that was about a fifth of its CPU, for
 * a message whose shape is fixed. Here each span costs one sizing pass over
 * its attribute array (arithmetic on lengths the view already measured),
 * one buf_reserve and straight stores; nothing is allocated per span.
 *
 * The bytes are exactly what protobuf-c packs for the same message (fields
 * in number order, proto3 defaults omitted, minimal varints, oneof members
 * written even when zero or empty): tests/unit/exporter/test_encode_otlp.c
 * keeps a protobuf-c builder as the reference and compares byte for byte,
 * and decodes the result with protobuf-c's unpack.
 *
 * Field numbers (opentelemetry/proto/{collector/trace,trace,common,resource}/v1):
 *   ExportTraceServiceRequest.resource_spans = 1
 *   ResourceSpans: resource = 1, scope_spans = 2
 *   Resource: attributes = 1         ScopeSpans: scope = 1, spans = 2
 *   InstrumentationScope: name = 1, version = 2
 *   Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6,
 *         start 7 (fixed64), end 8 (fixed64), attributes 9, dropped 10,
 *         status 15, flags 16 (fixed32)
 *   Status: message 2, code 3        KeyValue: key 1, value 2
 *   AnyValue: string 1, bool 2, int 3, double 4 (fixed64), array 5
 *   ArrayValue: values 1
 */
#include "exporter/encode_otlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/pbw.h"
#include "exporter/spanview.h"

/* Per-call scratch: one span's view and its attributes' encoded sizes (kept off the stack). */
struct encode_scratch {
	struct spanview v;
	uint32_t kv_size[SPANVIEW_MAX_ATTRS];  /* KeyValue body */
	uint32_t av_size[SPANVIEW_MAX_ATTRS];  /* its AnyValue body */
	uint32_t arr_size[SPANVIEW_MAX_ATTRS]; /* SPANVIEW_STRARR: the ArrayValue body */
};

const char *encode_scope_version(void)
{
#ifdef LLMGW_VERSION
	return LLMGW_VERSION;
#else
	return "dev";
#endif
}

/* ---- sizes ---------------------------------------------------------------- */

/* A string field that proto3 omits when empty. */
static size_t opt_str_size(unsigned field, size_t n)
{
	return n ? pbw_len_size(field, n) : 0;
}

/* AnyValue{string_value} body (a oneof member: written even when empty). */
static size_t any_str_size(size_t n)
{
	return pbw_len_size(1, n);
}

/* ArrayValue body of string items. */
static size_t arr_size(const struct spanview_attr *a)
{
	size_t n = 0;
	for (size_t i = 0; i < a->u.arr.n; i++)
		n += pbw_len_size(1, any_str_size(strlen(a->u.arr.v[i])));
	return n;
}

/* AnyValue body of attribute a; *arr gets the ArrayValue body for arrays. */
static size_t any_size(const struct spanview_attr *a, size_t *arr)
{
	switch (a->type) {
	case SPANVIEW_STR:
		return any_str_size(a->slen);
	case SPANVIEW_INT:
		return 1 + pbw_varint_size((uint64_t)a->u.i);
	case SPANVIEW_DOUBLE:
		return 1 + 8;
	case SPANVIEW_BOOL:
		return 1 + 1;
	case SPANVIEW_STRARR:
		*arr = arr_size(a);
		return pbw_len_size(5, *arr);
	}
	return 0;
}

/* Status body. */
static size_t status_size(const struct spanview *v)
{
	return opt_str_size(2, v->status_message_len) + (v->status_code ? 1 + pbw_varint_size(v->status_code) : 0);
}

/* Span body; fills the scratch's per-attribute sizes for span_put(). */
static size_t span_size(struct encode_scratch *s)
{
	const struct spanview *v = &s->v;
	size_t n = pbw_len_size(1, 16) + pbw_len_size(2, 8);
	if (v->parent_span_id != NULL)
		n += pbw_len_size(4, 8);
	n += opt_str_size(5, v->name_len);
	if (v->kind)
		n += 1 + pbw_varint_size(v->kind);
	if (v->start_ns)
		n += 1 + 8;
	if (v->end_ns)
		n += 1 + 8;
	for (size_t i = 0; i < v->nattrs; i++) {
		const struct spanview_attr *a = &v->attrs[i];
		size_t arr = 0, av = any_size(a, &arr);
		size_t kv = opt_str_size(1, a->klen) + pbw_len_size(2, av);
		s->av_size[i] = (uint32_t)av;
		s->arr_size[i] = (uint32_t)arr;
		s->kv_size[i] = (uint32_t)kv;
		n += pbw_len_size(9, kv);
	}
	if (v->dropped_attrs)
		n += 1 + pbw_varint_size(v->dropped_attrs);
	n += pbw_len_size(15, status_size(v));
	if (v->flags)
		n += pbw_tag_size(16) + 4;
	return n;
}

/* ---- writers (room reserved by the caller) ---------------------------------- */

static uint8_t *put_opt_str(uint8_t *p, unsigned field, const char *s, size_t n)
{
	return n ? pbw_put_bytes(p, field, s, n) : p;
}

static uint8_t *put_any_str(uint8_t *p, const char *s, size_t n)
{
	return pbw_put_bytes(p, 1, s, n);
}

static uint8_t *put_any(uint8_t *p, const struct spanview_attr *a, size_t arr)
{
	switch (a->type) {
	case SPANVIEW_STR:
		return put_any_str(p, a->u.s, a->slen);
	case SPANVIEW_INT:
		return pbw_put_varint(pbw_put_tag(p, 3, PBW_VARINT), (uint64_t)a->u.i);
	case SPANVIEW_DOUBLE:
		return pbw_put_double(pbw_put_tag(p, 4, PBW_I64), a->u.d);
	case SPANVIEW_BOOL:
		return pbw_put_varint(pbw_put_tag(p, 2, PBW_VARINT), a->u.b ? 1 : 0);
	case SPANVIEW_STRARR:
		p = pbw_put_len(p, 5, arr);
		for (size_t i = 0; i < a->u.arr.n; i++) {
			size_t n = strlen(a->u.arr.v[i]);
			p = pbw_put_len(p, 1, any_str_size(n));
			p = put_any_str(p, a->u.arr.v[i], n);
		}
		return p;
	}
	return p;
}

/* The Span body described by the scratch (span_size() ran first). */
static uint8_t *span_put(uint8_t *p, const struct encode_scratch *s)
{
	const struct spanview *v = &s->v;
	p = pbw_put_bytes(p, 1, v->trace_id, 16);
	p = pbw_put_bytes(p, 2, v->span_id, 8);
	if (v->parent_span_id != NULL)
		p = pbw_put_bytes(p, 4, v->parent_span_id, 8);
	p = put_opt_str(p, 5, v->name, v->name_len);
	if (v->kind)
		p = pbw_put_varint(pbw_put_tag(p, 6, PBW_VARINT), v->kind);
	if (v->start_ns)
		p = pbw_put_fixed64(pbw_put_tag(p, 7, PBW_I64), v->start_ns);
	if (v->end_ns)
		p = pbw_put_fixed64(pbw_put_tag(p, 8, PBW_I64), v->end_ns);
	for (size_t i = 0; i < v->nattrs; i++) {
		const struct spanview_attr *a = &v->attrs[i];
		p = pbw_put_len(p, 9, s->kv_size[i]);
		p = put_opt_str(p, 1, a->key, a->klen);
		p = pbw_put_len(p, 2, s->av_size[i]);
		p = put_any(p, a, s->arr_size[i]);
	}
	if (v->dropped_attrs)
		p = pbw_put_varint(pbw_put_tag(p, 10, PBW_VARINT), v->dropped_attrs);
	p = pbw_put_len(p, 15, status_size(v));
	p = put_opt_str(p, 2, v->status_message, v->status_message_len);
	if (v->status_code)
		p = pbw_put_varint(pbw_put_tag(p, 3, PBW_VARINT), v->status_code);
	if (v->flags)
		p = pbw_put_fixed32(pbw_put_tag(p, 16, PBW_I32), v->flags);
	return p;
}

/* Appends ScopeSpans.spans (field 2) for record r. */
static int encode_span(struct buf *out, const struct spanrec *r, struct encode_scratch *s)
{
	spanview_build(&s->v, r);
	size_t body = span_size(s), total = pbw_len_size(2, body);
	if (buf_reserve(out, total) != 0)
		return -1;
	uint8_t *p = (uint8_t *)out->data + out->len;
	uint8_t *end = span_put(pbw_put_len(p, 2, body), s);
	if ((size_t)(end - p) != total) {
		/* span_size() and span_put() disagree: a bug, never a malformed request */
		errno = EPROTO;
		return -1;
	}
	out->len += total;
	out->data[out->len] = '\0';
	return 0;
}

/* ResourceSpans.resource (field 1): the group's resource attributes. */
static int encode_resource(struct buf *out, const struct enrich_attr *ra, size_t n)
{
	size_t body = 0;
	for (size_t i = 0; i < n; i++) {
		size_t kv = opt_str_size(1, strlen(ra[i].key)) + pbw_len_size(2, any_str_size(strlen(ra[i].value)));
		body += pbw_len_size(1, kv);
	}
	if (buf_reserve(out, pbw_len_size(1, body)) != 0)
		return -1;
	uint8_t *p = (uint8_t *)out->data + out->len;
	p = pbw_put_len(p, 1, body);
	for (size_t i = 0; i < n; i++) {
		size_t kn = strlen(ra[i].key), vn = strlen(ra[i].value);
		p = pbw_put_len(p, 1, opt_str_size(1, kn) + pbw_len_size(2, any_str_size(vn)));
		p = put_opt_str(p, 1, ra[i].key, kn);
		p = pbw_put_len(p, 2, any_str_size(vn));
		p = put_any_str(p, ra[i].value, vn);
	}
	out->len = (size_t)(p - (uint8_t *)out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* ScopeSpans.scope (field 1): InstrumentationScope{name, version}. */
static int encode_scope(struct buf *out)
{
	const char *ver = encode_scope_version();
	size_t nn = strlen(ENCODE_SCOPE_NAME), vn = strlen(ver);
	size_t body = opt_str_size(1, nn) + opt_str_size(2, vn);
	if (buf_reserve(out, pbw_len_size(1, body)) != 0)
		return -1;
	uint8_t *p = (uint8_t *)out->data + out->len;
	p = pbw_put_len(p, 1, body);
	p = put_opt_str(p, 1, ENCODE_SCOPE_NAME, nn);
	p = put_opt_str(p, 2, ver, vn);
	out->len = (size_t)(p - (uint8_t *)out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* One ResourceSpans (request field 1) for group g; ra has room for enrich_max_attrs(e). */
static int encode_group(const struct enrich *e, const struct spanrec *recs, const uint32_t *order,
			const struct enrich_group *g, struct buf *out, struct enrich_attr *ra, struct encode_scratch *s)
{
	size_t rs_mark, ss_mark;
	if (pbw_open(out, 1, &rs_mark) != 0 || encode_resource(out, ra, enrich_resource(e, g, ra)) != 0 ||
	    pbw_open(out, 2, &ss_mark) != 0 || encode_scope(out) != 0)
		return -1;
	for (size_t i = 0; i < g->n; i++) {
		if (encode_span(out, &recs[order[g->start + i]], s) != 0)
			return -1;
	}
	return pbw_close(out, ss_mark) != 0 || pbw_close(out, rs_mark) != 0 ? -1 : 0;
}

int encode_otlp(const struct enrich *e, const struct spanrec *recs, size_t n, struct buf *out, struct err *err)
{
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	struct enrich_group *groups = malloc((n ? n : 1) * sizeof(*groups));
	struct encode_scratch *scratch = malloc(sizeof(*scratch));
	struct enrich_attr *ra = calloc(enrich_max_attrs(e), sizeof(*ra));
	int rc = -1;
	errno = ENOMEM;
	if (order == NULL || groups == NULL || scratch == NULL || ra == NULL)
		goto out;
	size_t ng = enrich_group(recs, n, order, groups);
	for (size_t i = 0; i < ng; i++) {
		if (encode_group(e, recs, order, &groups[i], out, ra, scratch) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		if (errno == EMSGSIZE)
			err_set(err, EMSGSIZE, "request larger than %zu bytes", out->max);
		else if (errno == EPROTO)
			err_set(err, EPROTO, "protobuf encoder size mismatch (a bug)");
		else
			err_set(err, ENOMEM, "out of memory");
		buf_reset(out);
	}
	free(order);
	free(groups);
	free(scratch);
	free(ra);
	return rc;
}
