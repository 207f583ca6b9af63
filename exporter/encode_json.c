/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch -> OTLP/JSON with jansson, walking the same spanview and resource
 * grouping as the protobuf encoder, so the two outputs always agree.
 *
 * jansson builds a tree and then serialises it; that costs more than the
 * protobuf path, which is fine: JSON is for stdout/file debugging and the
 * rare backend that cannot take protobuf. Strings are already valid UTF-8
 * (spanview, enrich), so the *_nocheck constructors are safe and skip a
 * second validation.
 */
#include "exporter/encode_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "exporter/encode_otlp.h"
#include "exporter/spanview.h"

/* jansson reports allocation failure as NULL everywhere; one flag keeps the builders linear. */
struct jctx {
	bool oom;
};

static json_t *j_chk(struct jctx *c, json_t *v)
{
	if (v == NULL)
		c->oom = true;
	return v;
}

static void j_set(struct jctx *c, json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new_nocheck(obj, key, v) != 0)
		c->oom = true;
}

static void j_push(struct jctx *c, json_t *arr, json_t *v)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		c->oom = true;
}

static json_t *j_str(struct jctx *c, const char *s)
{
	return j_chk(c, json_string_nocheck(s));
}

/* 64-bit integers are decimal strings in OTLP/JSON (JavaScript numbers lose precision). */
static json_t *j_u64(struct jctx *c, uint64_t v)
{
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	return j_str(c, tmp);
}

static json_t *j_hex(struct jctx *c, const uint8_t *id, size_t n)
{
	char tmp[33];
	ids_hex(id, n, tmp);
	return j_str(c, tmp);
}

static json_t *j_any_str(struct jctx *c, const char *s)
{
	json_t *o = j_chk(c, json_object());
	if (o != NULL)
		j_set(c, o, "stringValue", j_str(c, s));
	return o;
}

static json_t *j_value(struct jctx *c, const struct spanview_attr *a)
{
	json_t *o = j_chk(c, json_object());
	if (o == NULL)
		return NULL;
	switch (a->type) {
	case SPANVIEW_STR:
		j_set(c, o, "stringValue", j_str(c, a->u.s));
		break;
	case SPANVIEW_INT: {
		char tmp[24];
		snprintf(tmp, sizeof(tmp), "%" PRId64, a->u.i);
		j_set(c, o, "intValue", j_str(c, tmp));
		break;
	}
	case SPANVIEW_DOUBLE:
		j_set(c, o, "doubleValue", j_chk(c, json_real(a->u.d)));
		break;
	case SPANVIEW_BOOL:
		j_set(c, o, "boolValue", j_chk(c, json_boolean(a->u.b)));
		break;
	case SPANVIEW_STRARR: {
		json_t *vals = j_chk(c, json_array()), *arr = j_chk(c, json_object());
		for (size_t i = 0; vals != NULL && i < a->u.arr.n; i++)
			j_push(c, vals, j_any_str(c, a->u.arr.v[i]));
		if (arr != NULL)
			j_set(c, arr, "values", vals);
		else
			json_decref(vals);
		j_set(c, o, "arrayValue", arr);
		break;
	}
	}
	return o;
}

static json_t *j_kv(struct jctx *c, const char *key, json_t *value)
{
	json_t *o = j_chk(c, json_object());
	if (o == NULL) {
		json_decref(value);
		return NULL;
	}
	j_set(c, o, "key", j_str(c, key));
	j_set(c, o, "value", value);
	return o;
}

static json_t *j_span(struct jctx *c, const struct spanview *v)
{
	json_t *s = j_chk(c, json_object()), *attrs = j_chk(c, json_array()), *st = j_chk(c, json_object());
	if (s == NULL || attrs == NULL || st == NULL) {
		json_decref(s);
		json_decref(attrs);
		json_decref(st);
		return NULL;
	}
	j_set(c, s, "traceId", j_hex(c, v->trace_id, 16));
	j_set(c, s, "spanId", j_hex(c, v->span_id, 8));
	if (v->parent_span_id != NULL)
		j_set(c, s, "parentSpanId", j_hex(c, v->parent_span_id, 8));
	j_set(c, s, "flags", j_chk(c, json_integer(v->flags)));
	j_set(c, s, "name", j_str(c, v->name));
	j_set(c, s, "kind", j_chk(c, json_integer(v->kind)));
	j_set(c, s, "startTimeUnixNano", j_u64(c, v->start_ns));
	j_set(c, s, "endTimeUnixNano", j_u64(c, v->end_ns));
	for (size_t i = 0; i < v->nattrs; i++)
		j_push(c, attrs, j_kv(c, v->attrs[i].key, j_value(c, &v->attrs[i])));
	j_set(c, s, "attributes", attrs);
	if (v->dropped_attrs)
		j_set(c, s, "droppedAttributesCount", j_chk(c, json_integer(v->dropped_attrs)));
	if (v->status_message[0] != '\0')
		j_set(c, st, "message", j_str(c, v->status_message));
	if (v->status_code != 0)
		j_set(c, st, "code", j_chk(c, json_integer(v->status_code)));
	j_set(c, s, "status", st);
	return s;
}

static json_t *j_resource(struct jctx *c, const struct enrich *e, const struct enrich_group *g)
{
	struct enrich_attr *ra = calloc(enrich_max_attrs(e), sizeof(*ra));
	json_t *res = j_chk(c, json_object()), *attrs = j_chk(c, json_array());
	if (ra == NULL || res == NULL || attrs == NULL) {
		c->oom = true;
		free(ra);
		json_decref(res);
		json_decref(attrs);
		return NULL;
	}
	size_t n = enrich_resource(e, g, ra);
	for (size_t i = 0; i < n; i++)
		j_push(c, attrs, j_kv(c, ra[i].key, j_any_str(c, ra[i].value)));
	j_set(c, res, "attributes", attrs);
	free(ra);
	return res;
}

/* One element of resourceSpans. */
static json_t *j_group(struct jctx *c, const struct enrich *e, const struct spanrec *recs, const uint32_t *order,
		       const struct enrich_group *g, struct spanview *v)
{
	json_t *rs = j_chk(c, json_object()), *sss = j_chk(c, json_array()), *ss = j_chk(c, json_object());
	json_t *scope = j_chk(c, json_object()), *spans = j_chk(c, json_array());
	if (rs == NULL || sss == NULL || ss == NULL || scope == NULL || spans == NULL) {
		json_decref(rs);
		json_decref(sss);
		json_decref(ss);
		json_decref(scope);
		json_decref(spans);
		return NULL;
	}
	for (size_t i = 0; i < g->n && !c->oom; i++) {
		spanview_build(v, &recs[order[g->start + i]]);
		j_push(c, spans, j_span(c, v));
	}
	j_set(c, scope, "name", j_str(c, ENCODE_SCOPE_NAME));
	j_set(c, scope, "version", j_str(c, encode_scope_version()));
	j_set(c, ss, "scope", scope);
	j_set(c, ss, "spans", spans);
	j_push(c, sss, ss);
	j_set(c, rs, "resource", j_resource(c, e, g));
	j_set(c, rs, "scopeSpans", sss);
	return rs;
}

/* jansson's dump callback: append to the bounded buffer. */
static int j_dump_cb(const char *p, size_t n, void *data)
{
	return buf_append(data, p, n);
}

int encode_json(const struct enrich *e, const struct spanrec *recs, size_t n, struct buf *out, struct err *err)
{
	struct jctx c = {false};
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	struct enrich_group *groups = malloc((n ? n : 1) * sizeof(*groups));
	struct spanview *v = malloc(sizeof(*v));
	json_t *root = j_chk(&c, json_object()), *rss = j_chk(&c, json_array());
	int rc = -1;
	if (order == NULL || groups == NULL || v == NULL || root == NULL || rss == NULL) {
		json_decref(rss);
		goto oom;
	}
	size_t ng = enrich_group(recs, n, order, groups);
	for (size_t i = 0; i < ng && !c.oom; i++)
		j_push(&c, rss, j_group(&c, e, recs, order, &groups[i], v));
	j_set(&c, root, "resourceSpans", rss);
	if (c.oom)
		goto oom;
	errno = 0;
	if (json_dump_callback(root, j_dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
		if (errno == EMSGSIZE)
			err_set(err, EMSGSIZE, "request larger than %zu bytes", out->max);
		else
			err_set(err, ENOMEM, "out of memory");
		buf_reset(out);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	err_set(err, ENOMEM, "out of memory");
	buf_reset(out);
out:
	json_decref(root);
	free(order);
	free(groups);
	free(v);
	return rc;
}
