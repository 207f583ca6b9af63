/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch -> ExportTraceServiceRequest (protobuf).
 *
 * Every message with content (Span, Resource, InstrumentationScope) is
 * packed by protobuf-c from stack-allocated structs, one span at a time.
 * Only the three enclosing envelopes (request.resource_spans = 1,
 * ResourceSpans.resource = 1 / .scope_spans = 2, ScopeSpans.scope = 1 /
 * .spans = 2) are framed here, as tag + varint length: that is the whole
 * of their encoding, and it spares building a tree of every span of the
 * batch (about 3 KiB of small allocations per span) just to serialise it.
 * The unit test decodes the result with protobuf-c's own unpack.
 */
#include "exporter/encode_otlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "exporter/spanview.h"

typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__ArrayValue pb_arr;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;

#define TAG_LEN(field) ((uint8_t)(((field) << 3) | 2)) /* wire type 2: length-delimited */
#define MAX_ARRAYS 2				       /* finish_reasons, truncated_fields */

/* protobuf-c structs for one span, filled from a spanview; lives on the stack. */
struct pb_span_storage {
	pb_span span;
	pb_status status;
	pb_kv kv[SPANVIEW_MAX_ATTRS];
	pb_any av[SPANVIEW_MAX_ATTRS];
	pb_kv *kvp[SPANVIEW_MAX_ATTRS];
	pb_arr arr[MAX_ARRAYS];
	pb_any arr_items[MAX_ARRAYS][SPANVIEW_MAX_TRUNC];
	pb_any *arr_ptrs[MAX_ARRAYS][SPANVIEW_MAX_TRUNC];
};

/* Per-call scratch: one span's view and protobuf structs (~20 KiB, kept off the stack). */
struct encode_scratch {
	struct spanview v;
	struct pb_span_storage s;
};

const char *encode_scope_version(void)
{
#ifdef LLMGW_VERSION
	return LLMGW_VERSION;
#else
	return "dev";
#endif
}

static void pb_fill_array(struct pb_span_storage *s, size_t slot, const struct spanview_attr *a, pb_any *av)
{
	pb_arr *arr = &s->arr[slot];
	size_t n = a->u.arr.n < SPANVIEW_MAX_TRUNC ? a->u.arr.n : SPANVIEW_MAX_TRUNC;
	opentelemetry__proto__common__v1__array_value__init(arr);
	for (size_t j = 0; j < n; j++) {
		pb_any *it = &s->arr_items[slot][j];
		opentelemetry__proto__common__v1__any_value__init(it);
		it->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		it->string_value = (char *)a->u.arr.v[j]; /* protobuf-c only reads it */
		s->arr_ptrs[slot][j] = it;
	}
	arr->n_values = n;
	arr->values = s->arr_ptrs[slot];
	av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
	av->array_value = arr;
}

static void pb_fill_attrs(struct pb_span_storage *s, const struct spanview *v)
{
	size_t arrays = 0, n = 0;
	for (size_t i = 0; i < v->nattrs; i++) {
		const struct spanview_attr *a = &v->attrs[i];
		pb_kv *kv = &s->kv[n];
		pb_any *av = &s->av[n];
		opentelemetry__proto__common__v1__key_value__init(kv);
		opentelemetry__proto__common__v1__any_value__init(av);
		kv->key = (char *)a->key;
		kv->value = av;
		switch (a->type) {
		case SPANVIEW_STR:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av->string_value = (char *)a->u.s;
			break;
		case SPANVIEW_INT:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			av->int_value = a->u.i;
			break;
		case SPANVIEW_DOUBLE:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
			av->double_value = a->u.d;
			break;
		case SPANVIEW_BOOL:
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
			av->bool_value = a->u.b;
			break;
		case SPANVIEW_STRARR:
			if (arrays >= MAX_ARRAYS)
				continue; /* spanview emits at most two arrays */
			pb_fill_array(s, arrays++, a, av);
			break;
		}
		s->kvp[n++] = kv;
	}
	s->span.n_attributes = n;
	s->span.attributes = s->kvp;
}

static void pb_fill_span(struct pb_span_storage *s, const struct spanview *v)
{
	pb_span *sp = &s->span;
	opentelemetry__proto__trace__v1__span__init(sp);
	opentelemetry__proto__trace__v1__status__init(&s->status);
	sp->trace_id.data = (uint8_t *)v->trace_id;
	sp->trace_id.len = 16;
	sp->span_id.data = (uint8_t *)v->span_id;
	sp->span_id.len = 8;
	if (v->parent_span_id != NULL) {
		sp->parent_span_id.data = (uint8_t *)v->parent_span_id;
		sp->parent_span_id.len = 8;
	}
	sp->name = (char *)v->name;
	sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)v->kind;
	sp->start_time_unix_nano = v->start_ns;
	sp->end_time_unix_nano = v->end_ns;
	sp->flags = v->flags;
	sp->dropped_attributes_count = v->dropped_attrs;
	s->status.code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)v->status_code;
	s->status.message = (char *)v->status_message;
	sp->status = &s->status;
	pb_fill_attrs(s, v);
}

/* ---- wire framing --------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Appends tag + varint(len) for a length-delimited field. */
static int put_header(struct buf *b, unsigned field, uint64_t len)
{
	uint8_t tmp[11];
	size_t n = 0;
	tmp[n++] = TAG_LEN(field);
	do {
		uint8_t byte = len & 0x7f;
		len >>= 7;
		tmp[n++] = (uint8_t)(byte | (len ? 0x80 : 0));
	} while (len);
	return buf_append(b, tmp, n);
}

/* Appends field `field` holding message m (already sized as sz) packed by protobuf-c. */
static int put_message(struct buf *b, unsigned field, const ProtobufCMessage *m, size_t sz)
{
	if (put_header(b, field, sz) != 0 || buf_reserve(b, sz) != 0)
		return -1;
	protobuf_c_message_pack(m, (uint8_t *)b->data + b->len);
	b->len += sz;
	b->data[b->len] = '\0';
	return 0;
}

/* ScopeSpans body of one group: the scope, then each span. */
static int encode_scope_spans(const struct spanrec *recs, const uint32_t *order, const struct enrich_group *g,
			      struct buf *sb, struct spanview *v, struct pb_span_storage *s)
{
	pb_scope scope;
	opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
	scope.name = ENCODE_SCOPE_NAME;
	scope.version = (char *)encode_scope_version();
	if (put_message(sb, 1, &scope.base, protobuf_c_message_get_packed_size(&scope.base)) != 0)
		return -1;
	for (size_t i = 0; i < g->n; i++) {
		spanview_build(v, &recs[order[g->start + i]]);
		pb_fill_span(s, v);
		if (put_message(sb, 2, &s->span.base, protobuf_c_message_get_packed_size(&s->span.base)) != 0)
			return -1;
	}
	return 0;
}

/* One ResourceSpans (request field 1) for group g. */
static int encode_group(const struct enrich *e, const struct spanrec *recs, const uint32_t *order,
			const struct enrich_group *g, struct buf *out, struct buf *sb, struct encode_scratch *scr)
{
	size_t na = enrich_max_attrs(e);
	struct enrich_attr *ra = calloc(na, sizeof(*ra));
	pb_kv *kv = calloc(na, sizeof(*kv));
	pb_any *av = calloc(na, sizeof(*av));
	pb_kv **kvp = calloc(na, sizeof(*kvp));
	pb_resource res;
	int rc = -1;
	if (ra == NULL || kv == NULL || av == NULL || kvp == NULL) {
		errno = ENOMEM;
		goto out;
	}
	opentelemetry__proto__resource__v1__resource__init(&res);
	res.n_attributes = enrich_resource(e, g, ra);
	for (size_t i = 0; i < res.n_attributes; i++) {
		opentelemetry__proto__common__v1__key_value__init(&kv[i]);
		opentelemetry__proto__common__v1__any_value__init(&av[i]);
		av[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		av[i].string_value = (char *)ra[i].value;
		kv[i].key = (char *)ra[i].key;
		kv[i].value = &av[i];
		kvp[i] = &kv[i];
	}
	res.attributes = kvp;
	buf_reset(sb);
	if (encode_scope_spans(recs, order, g, sb, &scr->v, &scr->s) != 0)
		goto out;
	size_t rsz = protobuf_c_message_get_packed_size(&res.base);
	uint64_t body = 1 + varint_len(rsz) + rsz + 1 + varint_len(sb->len) + sb->len;
	if (put_header(out, 1, body) != 0 || put_message(out, 1, &res.base, rsz) != 0 ||
	    put_header(out, 2, sb->len) != 0 || buf_append(out, sb->data, sb->len) != 0)
		goto out;
	rc = 0;
out:
	free(ra);
	free(kv);
	free(av);
	free(kvp);
	return rc;
}

int encode_otlp(const struct enrich *e, const struct spanrec *recs, size_t n, struct buf *out, struct err *err)
{
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	struct enrich_group *groups = malloc((n ? n : 1) * sizeof(*groups));
	struct encode_scratch *scratch = malloc(sizeof(*scratch));
	struct buf sb;
	int rc = -1;
	buf_init(&sb, out->max);
	errno = ENOMEM;
	if (order == NULL || groups == NULL || scratch == NULL)
		goto out;
	size_t ng = enrich_group(recs, n, order, groups);
	for (size_t i = 0; i < ng; i++) {
		if (encode_group(e, recs, order, &groups[i], out, &sb, scratch) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		if (errno == EMSGSIZE)
			err_set(err, EMSGSIZE, "request larger than %zu bytes", out->max);
		else
			err_set(err, ENOMEM, "out of memory");
		buf_reset(out);
	}
	buf_fini(&sb);
	free(order);
	free(groups);
	free(scratch);
	return rc;
}
