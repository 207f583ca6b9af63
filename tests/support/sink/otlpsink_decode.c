/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of OTLP/HTTP trace export bodies for otlp-sink.
 *
 * Binary bodies go through the protobuf-c generated unpacker, which checks
 * wire types and lengths; OTLP/JSON goes through jansson. Both end in the
 * same JSON record shape (see the header), so an exporter switched from
 * http/protobuf to http/json is tested by the same assertions. Strings that
 * are not UTF-8 (protobuf requires UTF-8 for string fields) are counted and
 * replaced by a marker rather than refused: a test can then assert that a
 * truncation never split a character.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/ids.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "tests/support/sink/otlpsink_decode.h"

#define PB_REQ Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
#define PB_RS Opentelemetry__Proto__Trace__V1__ResourceSpans
#define PB_SS Opentelemetry__Proto__Trace__V1__ScopeSpans
#define PB_SPAN Opentelemetry__Proto__Trace__V1__Span
#define PB_KV Opentelemetry__Proto__Common__V1__KeyValue
#define PB_ANY Opentelemetry__Proto__Common__V1__AnyValue
#define ANY_CASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

#define MAX_DEPTH 16 /* nesting of array/kvlist values we follow */
#define INVALID_UTF8 "\xef\xbf\xbd<invalid utf-8>"

/* Doubles buf up to max + 1 bytes (one past max is how "too big" is noticed). */
static int grow(uint8_t **buf, size_t *cap, size_t max)
{
	size_t ncap = *cap * 2 > max + 1 ? max + 1 : *cap * 2;
	uint8_t *nb = realloc(*buf, ncap);
	if (nb == NULL)
		return -1;
	*buf = nb;
	*cap = ncap;
	return 0;
}

enum otlpsink_gunzip_result otlpsink_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len,
					    struct err *err)
{
	z_stream zs;
	size_t cap = len * 4 + 4096 > max + 1 ? max + 1 : len * 4 + 4096, used = 0;
	uint8_t *buf = malloc(cap);
	memset(&zs, 0, sizeof(zs));
	if (buf == NULL || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		err_set(err, 0, "out of memory");
		return OTLPSINK_GUNZIP_BAD;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (used == cap && (cap > max || grow(&buf, &cap, max) != 0)) {
			inflateEnd(&zs);
			free(buf);
			err_set(err, 0, "body inflates to more than %zu bytes", max);
			return OTLPSINK_GUNZIP_TOO_BIG;
		}
		zs.next_out = buf + used;
		zs.avail_out = (uInt)(cap - used);
		int zrc = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
		if (zrc == Z_STREAM_END && zs.avail_in == 0)
			break;
		if (zrc == Z_STREAM_END) { /* another gzip member follows */
			inflateReset(&zs);
			continue;
		}
		if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
			continue; /* only short of output room */
		if (zrc != Z_OK || (zs.avail_in == 0 && zs.avail_out > 0)) {
			err_set(err, 0, "bad gzip body: %s", zs.msg != NULL ? zs.msg : "truncated stream");
			inflateEnd(&zs);
			free(buf);
			return OTLPSINK_GUNZIP_BAD;
		}
	}
	inflateEnd(&zs);
	if (used > max) {
		free(buf);
		err_set(err, 0, "body inflates to more than %zu bytes", max);
		return OTLPSINK_GUNZIP_TOO_BIG;
	}
	*out = buf;
	*out_len = used;
	return OTLPSINK_GUNZIP_OK;
}

static json_t *str_json(const char *s, struct otlpsink_decode_stats *st)
{
	json_t *j = json_string(s != NULL ? s : "");
	if (j == NULL) {
		st->invalid_utf8++;
		j = json_string(INVALID_UTF8);
	}
	return j;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char small[65];
	char *hex = n <= 32 ? small : malloc(2 * n + 1);
	if (hex == NULL)
		return NULL;
	ids_hex(p, n, hex);
	json_t *j = json_string(hex);
	if (hex != small)
		free(hex);
	return j;
}

static json_t *u64_json(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

static json_t *double_json(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

static json_t *pb_kvs_json(PB_KV **kvs, size_t n, int depth, struct otlpsink_decode_stats *st);

static json_t *pb_any_json(const PB_ANY *v, int depth, struct otlpsink_decode_stats *st)
{
	if (v == NULL || depth > MAX_DEPTH)
		return json_null();
	switch (v->value_case) {
	case ANY_CASE(STRING_VALUE):
		return str_json(v->string_value, st);
	case ANY_CASE(BOOL_VALUE):
		return json_boolean(v->bool_value);
	case ANY_CASE(INT_VALUE):
		return json_integer(v->int_value);
	case ANY_CASE(DOUBLE_VALUE):
		return double_json(v->double_value);
	case ANY_CASE(ARRAY_VALUE): {
		json_t *a = json_array();
		for (size_t i = 0; v->array_value != NULL && i < v->array_value->n_values; i++)
			json_array_append_new(a, pb_any_json(v->array_value->values[i], depth + 1, st));
		return a;
	}
	case ANY_CASE(KVLIST_VALUE):
		return v->kvlist_value != NULL
			   ? pb_kvs_json(v->kvlist_value->values, v->kvlist_value->n_values, depth + 1, st)
			   : json_object();
	case ANY_CASE(BYTES_VALUE):
		return hex_json(v->bytes_value.data, v->bytes_value.len);
	default:
		return json_null();
	}
}

static json_t *pb_kvs_json(PB_KV **kvs, size_t n, int depth, struct otlpsink_decode_stats *st)
{
	json_t *o = json_object();
	for (size_t i = 0; o != NULL && i < n; i++) {
		const char *k = kvs[i]->key != NULL ? kvs[i]->key : "";
		if (json_object_set_new(o, k, pb_any_json(kvs[i]->value, depth, st)) != 0) {
			st->invalid_utf8++;
			json_object_set_new(o, INVALID_UTF8, pb_any_json(kvs[i]->value, depth, st));
		}
	}
	return o;
}

static json_t *pb_span_json(const PB_SPAN *s, struct otlpsink_decode_stats *st)
{
	json_t *status = json_pack("{s:i, s:o}", "code", s->status != NULL ? (int)s->status->code : 0, "message",
				   str_json(s->status != NULL ? s->status->message : "", st));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:i, s:I, s:o, s:o, s:o, s:o, s:i, s:i, s:i}", "trace_id",
			 hex_json(s->trace_id.data, s->trace_id.len), "span_id",
			 hex_json(s->span_id.data, s->span_id.len), "parent_span_id",
			 hex_json(s->parent_span_id.data, s->parent_span_id.len), "trace_state",
			 str_json(s->trace_state, st), "name", str_json(s->name, st), "kind", (int)s->kind, "flags",
			 (json_int_t)s->flags, "start_time_unix_nano", u64_json(s->start_time_unix_nano),
			 "end_time_unix_nano", u64_json(s->end_time_unix_nano), "status", status, "attributes",
			 pb_kvs_json(s->attributes, s->n_attributes, 0, st), "events", (int)s->n_events, "links",
			 (int)s->n_links, "dropped_attributes_count", (int)s->dropped_attributes_count);
}

static json_t *pb_rs_json(const PB_RS *rs, struct otlpsink_decode_stats *st)
{
	json_t *spans = json_array();
	const Opentelemetry__Proto__Common__V1__InstrumentationScope *sc =
	    rs->n_scope_spans > 0 ? rs->scope_spans[0]->scope : NULL;
	json_t *scope = json_pack("{s:o, s:o}", "name", str_json(sc != NULL ? sc->name : "", st), "version",
				  str_json(sc != NULL ? sc->version : "", st));
	for (size_t i = 0; i < rs->n_scope_spans; i++) {
		const PB_SS *ss = rs->scope_spans[i];
		for (size_t j = 0; j < ss->n_spans; j++)
			json_array_append_new(spans, pb_span_json(ss->spans[j], st));
		st->spans += ss->n_spans;
	}
	json_t *res = rs->resource != NULL ? pb_kvs_json(rs->resource->attributes, rs->resource->n_attributes, 0, st)
					   : json_object();
	return json_pack("{s:o, s:o, s:i, s:o}", "resource", res, "scope", scope, "scope_spans_count",
			 (int)rs->n_scope_spans, "spans", spans);
}

json_t *otlpsink_decode_proto(const uint8_t *p, size_t len, struct otlpsink_decode_stats *st, struct err *err)
{
	PB_REQ *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len, p);
	if (req == NULL) {
		err_set(err, 0, "body is not a valid ExportTraceServiceRequest protobuf (%zu bytes)", len);
		return NULL;
	}
	json_t *out = json_array();
	for (size_t i = 0; out != NULL && i < req->n_resource_spans; i++)
		json_array_append_new(out, pb_rs_json(req->resource_spans[i], st));
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	if (out == NULL)
		err_set(err, 0, "out of memory");
	return out;
}

/* ---- OTLP/JSON ------------------------------------------------------------ */

static json_t *js_id(const json_t *v)
{
	char buf[129];
	const char *s = json_string_value(v);
	size_t n = s != NULL ? strlen(s) : 0;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	for (size_t i = 0; i < n; i++) /* OTLP/JSON ids are case-insensitive hex */
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[n] = '\0';
	return json_string(buf);
}

static json_int_t js_int(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return (json_int_t)strtoll(json_string_value(v), NULL, 10);
	return 0;
}

/* 64-bit numbers may come as strings (the spec's way) or numbers; keep them as decimal strings. */
static json_t *js_u64(const json_t *v)
{
	if (json_is_string(v))
		return json_string(json_string_value(v));
	return u64_json(json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0);
}

static json_t *js_kvs(const json_t *arr, int depth);

static json_t *js_any(const json_t *v, int depth)
{
	const json_t *x;
	if (!json_is_object(v) || depth > MAX_DEPTH)
		return json_null();
	if ((x = json_object_get(v, "stringValue")) != NULL)
		return json_copy((json_t *)x);
	if ((x = json_object_get(v, "boolValue")) != NULL)
		return json_boolean(json_is_true(x));
	if ((x = json_object_get(v, "intValue")) != NULL)
		return json_integer(js_int(x));
	if ((x = json_object_get(v, "doubleValue")) != NULL)
		return json_is_number(x) ? double_json(json_number_value(x)) : json_copy((json_t *)x);
	if ((x = json_object_get(v, "bytesValue")) != NULL)
		return json_copy((json_t *)x); /* base64 in OTLP/JSON; kept as sent */
	if ((x = json_object_get(v, "kvlistValue")) != NULL)
		return js_kvs(json_object_get(x, "values"), depth + 1);
	if ((x = json_object_get(v, "arrayValue")) != NULL) {
		json_t *a = json_array();
		size_t i;
		const json_t *e;
		json_array_foreach(json_object_get(x, "values"), i, e)
		{
			json_array_append_new(a, js_any(e, depth + 1));
		}
		return a;
	}
	return json_null();
}

static json_t *js_kvs(const json_t *arr, int depth)
{
	json_t *o = json_object();
	size_t i;
	const json_t *kv;
	json_array_foreach(arr, i, kv)
	{
		const char *k = json_string_value(json_object_get(kv, "key"));
		json_object_set_new(o, k != NULL ? k : "", js_any(json_object_get(kv, "value"), depth));
	}
	return o;
}

static json_t *js_span(const json_t *s)
{
	const json_t *status = json_object_get(s, "status");
	const char *msg = json_string_value(json_object_get(status, "message"));
	const char *ts = json_string_value(json_object_get(s, "traceState"));
	const char *name = json_string_value(json_object_get(s, "name"));
	return json_pack("{s:o, s:o, s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:{s:I, s:s}, s:o, s:i, s:i, s:I}", "trace_id",
			 js_id(json_object_get(s, "traceId")), "span_id", js_id(json_object_get(s, "spanId")),
			 "parent_span_id", js_id(json_object_get(s, "parentSpanId")), "trace_state",
			 ts != NULL ? ts : "", "name", name != NULL ? name : "", "kind",
			 js_int(json_object_get(s, "kind")), "flags", js_int(json_object_get(s, "flags")),
			 "start_time_unix_nano", js_u64(json_object_get(s, "startTimeUnixNano")), "end_time_unix_nano",
			 js_u64(json_object_get(s, "endTimeUnixNano")), "status", "code",
			 js_int(json_object_get(status, "code")), "message", msg != NULL ? msg : "", "attributes",
			 js_kvs(json_object_get(s, "attributes"), 0), "events",
			 (int)json_array_size(json_object_get(s, "events")), "links",
			 (int)json_array_size(json_object_get(s, "links")), "dropped_attributes_count",
			 js_int(json_object_get(s, "droppedAttributesCount")));
}

static json_t *js_rs(const json_t *rs, struct otlpsink_decode_stats *st)
{
	const json_t *sss = json_object_get(rs, "scopeSpans");
	const json_t *sc = json_object_get(json_array_get(sss, 0), "scope");
	const char *sname = json_string_value(json_object_get(sc, "name"));
	const char *sver = json_string_value(json_object_get(sc, "version"));
	json_t *spans = json_array();
	size_t i, j;
	const json_t *ss, *span;
	json_array_foreach(sss, i, ss)
	{
		json_array_foreach(json_object_get(ss, "spans"), j, span)
		{
			json_array_append_new(spans, js_span(span));
			st->spans++;
		}
	}
	return json_pack("{s:o, s:{s:s, s:s}, s:i, s:o}", "resource",
			 js_kvs(json_object_get(json_object_get(rs, "resource"), "attributes"), 0), "scope", "name",
			 sname != NULL ? sname : "", "version", sver != NULL ? sver : "", "scope_spans_count",
			 (int)json_array_size(sss), "spans", spans);
}

json_t *otlpsink_decode_json(const json_t *root, struct otlpsink_decode_stats *st, struct err *err)
{
	const json_t *rss = json_object_get(root, "resourceSpans");
	if (!json_is_object(root) || (rss != NULL && !json_is_array(rss))) {
		err_set(err, 0, "body is not an OTLP/JSON ExportTraceServiceRequest (resourceSpans must be an array)");
		return NULL;
	}
	json_t *out = json_array();
	size_t i;
	const json_t *rs;
	json_array_foreach(rss, i, rs)
	{
		json_array_append_new(out, js_rs(rs, st));
	}
	return out;
}
