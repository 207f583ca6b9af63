/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encode_otlp: encode a batch, decode it back with protobuf-c's own unpack,
 * and check every field and attribute of docs/span-schema.md, the resource
 * grouping, truncation and remote-parent flags, and UTF-8 repair.
 *
 * encode_otlp writes the wire format itself; the reference for its bytes is
 * the same request built here as a protobuf-c message tree and packed by
 * protobuf-c (what the exporter did before). Many random batches (every
 * field kind, empty, full, cut and invalid strings, metadata, several
 * resources, a group past 2 MiB) must come out byte-identical.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <stdlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "common/log.h"
#include "exporter/encode_otlp.h"
#include "exporter/enrich.h"
#include "exporter/spanview.h"
#include "tests/unit/exporter/ex_fixtures.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_req;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_rs;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_ss;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__ArrayValue pb_arr;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;

static const pb_any *kv_get(pb_kv **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i]->key, key) == 0)
			return kv[i]->value;
	}
	return NULL;
}

static const pb_any *attr(const pb_span *s, const char *key)
{
	return kv_get(s->attributes, s->n_attributes, key);
}

static const char *attr_str(const pb_span *s, const char *key)
{
	const pb_any *v = attr(s, key);
	if (v == NULL)
		return NULL;
	assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
	return v->string_value;
}

static int64_t attr_int(const pb_span *s, const char *key)
{
	const pb_any *v = attr(s, key);
	assert_non_null(v);
	assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
	return v->int_value;
}

static double attr_double(const pb_span *s, const char *key)
{
	const pb_any *v = attr(s, key);
	assert_non_null(v);
	assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE);
	return v->double_value;
}

static pb_req *encode_decode(const struct spanrec *recs, size_t n, const struct enrich *e)
{
	struct buf out;
	struct err err;
	buf_init(&out, 64u << 20);
	assert_int_equal(encode_otlp(e, recs, n, &out, &err), 0);
	pb_req *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
	    NULL, out.len, (const uint8_t *)out.data);
	assert_non_null(req);
	buf_fini(&out);
	return req;
}

/* The span with this first span-id byte, searching every resource. */
static const pb_span *find_span(const pb_req *req, uint8_t first, const char **tenant)
{
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
		assert_int_equal(rs->n_scope_spans, 1);
		for (size_t j = 0; j < rs->scope_spans[0]->n_spans; j++) {
			const pb_span *s = rs->scope_spans[0]->spans[j];
			if (s->span_id.len == 8 && s->span_id.data[0] == first) {
				const pb_any *t =
				    kv_get(rs->resource->attributes, rs->resource->n_attributes, "tenant_id");
				*tenant = t ? t->string_value : NULL;
				return s;
			}
		}
	}
	fail_msg("span %u not found", first);
	return NULL;
}

static void test_server_span(void **state)
{
	(void)state;
	struct spanrec r;
	fx_record(&r, SPANREC_KIND_SERVER, 0x40, "acme", "search");
	r.flags |= SPANREC_F_PARENT_REMOTE | SPANREC_F_STREAM | SPANREC_F_HAS_COST;
	r.ttft_ns = 125000000;
	r.cost_micro_usd = 2500;
	r.cache_read_tokens = 7;
	SPANREC_SET(&r, finish_reason, "stop");
	SPANREC_SET(&r, response_id, "chatcmpl-1");
	SPANREC_SET(&r, user, "u-42");
	SPANREC_SET(&r, key_name, "ci-key");
	spanrec_add_meta(&r, "feature", "summarize");
	struct enrich *e = enrich_new(NULL, NULL, "deployment.environment.name=test", NULL, NULL);
	pb_req *req = encode_decode(&r, 1, e);
	const char *tenant;
	const pb_span *s = find_span(req, 0x41, &tenant);

	assert_string_equal(tenant, "acme");
	assert_int_equal(s->trace_id.len, 16);
	assert_memory_equal(s->trace_id.data, r.trace_id, 16);
	assert_memory_equal(s->span_id.data, r.span_id, 8);
	assert_int_equal(s->parent_span_id.len, 8);
	assert_memory_equal(s->parent_span_id.data, r.parent_span_id, 8);
	assert_string_equal(s->name, "chat gpt-4o-mini");
	assert_int_equal(s->kind, 2);
	assert_true(s->start_time_unix_nano == r.start_ns);
	assert_true(s->end_time_unix_nano == r.end_ns);
	assert_int_equal(s->flags, 0x301); /* HAS_IS_REMOTE | IS_REMOTE | sampled */
	assert_int_equal(s->status->code, 1);
	assert_string_equal(s->status->message, "");

	assert_string_equal(attr_str(s, "gen_ai.operation.name"), "chat");
	assert_string_equal(attr_str(s, "gen_ai.provider.name"), "openai");
	assert_string_equal(attr_str(s, "gen_ai.request.model"), "gpt-4o-mini");
	assert_string_equal(attr_str(s, "gen_ai.response.model"), "gpt-4o-mini-2024-07-18");
	assert_string_equal(attr_str(s, "gen_ai.response.id"), "chatcmpl-1");
	const pb_any *fr = attr(s, "gen_ai.response.finish_reasons");
	assert_non_null(fr);
	assert_int_equal(fr->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE);
	assert_int_equal(fr->array_value->n_values, 1);
	assert_string_equal(fr->array_value->values[0]->string_value, "stop");
	assert_int_equal(attr_int(s, "gen_ai.usage.input_tokens"), 12);
	assert_int_equal(attr_int(s, "gen_ai.usage.output_tokens"), 34);
	assert_int_equal(attr_int(s, "gen_ai.usage.cache_read.input_tokens"), 7);
	assert_float_equal(attr_double(s, "gen_ai.response.time_to_first_chunk"), 0.125, 1e-12);
	assert_true(attr(s, "gen_ai.request.stream")->bool_value);
	assert_int_equal(attr_int(s, "http.response.status_code"), 200);
	assert_string_equal(attr_str(s, "http.request.method"), "POST");
	assert_string_equal(attr_str(s, "http.route"), "/v1/chat/completions");
	assert_float_equal(attr_double(s, "llmgw.cost_usd"), 0.0025, 1e-12);
	assert_string_equal(attr_str(s, "user.id"), "u-42");
	assert_string_equal(attr_str(s, "llmgw.key.name"), "ci-key");
	assert_string_equal(attr_str(s, "llmgw.request.id"), "req-123");
	assert_string_equal(attr_str(s, "llmgw.meta.feature"), "summarize");
	assert_null(attr(s, "llmgw.attempt")); /* CLIENT only */
	assert_null(attr(s, "llmgw.truncated"));
	assert_null(attr(s, "error.type"));
	assert_null(attr(s, "server.address"));
	assert_int_equal(s->dropped_attributes_count, 0);

	const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
	assert_string_equal(rs->scope_spans[0]->scope->name, "llmgw");
	assert_string_equal(rs->scope_spans[0]->scope->version, encode_scope_version());
	const pb_any *svc = kv_get(rs->resource->attributes, rs->resource->n_attributes, "service.name");
	assert_string_equal(svc->string_value, "llmgw-gateway");
	const pb_any *env = kv_get(rs->resource->attributes, rs->resource->n_attributes, "deployment.environment.name");
	assert_string_equal(env->string_value, "test");
	const pb_any *team = kv_get(rs->resource->attributes, rs->resource->n_attributes, "team");
	assert_string_equal(team->string_value, "search");

	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	enrich_free(e);
}

static void test_client_error_truncated(void **state)
{
	(void)state;
	struct spanrec r;
	char longmodel[200];
	memset(longmodel, 'm', sizeof(longmodel) - 1);
	longmodel[sizeof(longmodel) - 1] = '\0';
	fx_record(&r, SPANREC_KIND_CLIENT, 0x50, NULL, NULL);
	r.status = SPANREC_STATUS_ERROR;
	r.http_status = 429;
	r.attempt = 2;
	r.flags &= ~SPANREC_F_HAS_USAGE;
	memset(r.parent_span_id, 0, sizeof(r.parent_span_id)); /* a root span */
	SPANREC_SET(&r, error_type, "429");
	SPANREC_SET(&r, server_address, "api.openai.com");
	r.server_port = 443;
	SPANREC_SET(&r, target, "openai/gpt-4o-mini");
	SPANREC_SET(&r, fallback_reason, "rate_limited");
	SPANREC_SET(&r, request_model, longmodel); /* cut: trunc bit 1 */
	for (int i = 0; i < 5; i++)
		spanrec_add_meta(&r, i == 4 ? "overflow" : (const char *[]){"a", "b", "c", "d"}[i], "v");
	struct enrich *e = enrich_new(NULL, NULL, NULL, NULL, NULL);
	pb_req *req = encode_decode(&r, 1, e);
	const char *tenant;
	const pb_span *s = find_span(req, 0x51, &tenant);

	assert_null(tenant);
	assert_int_equal(s->kind, 3);
	assert_int_equal(s->parent_span_id.len, 0);
	assert_int_equal(s->flags, 0x101); /* HAS_IS_REMOTE, parent not remote */
	assert_int_equal(s->status->code, 2);
	assert_string_equal(s->status->message, "429");
	assert_string_equal(attr_str(s, "error.type"), "429");
	assert_string_equal(attr_str(s, "server.address"), "api.openai.com");
	assert_int_equal(attr_int(s, "server.port"), 443);
	assert_int_equal(attr_int(s, "http.response.status_code"), 429);
	assert_int_equal(attr_int(s, "llmgw.attempt"), 2);
	assert_string_equal(attr_str(s, "llmgw.route.target"), "openai/gpt-4o-mini");
	assert_string_equal(attr_str(s, "llmgw.route.fallback_reason"), "rate_limited");
	assert_null(attr(s, "http.request.method")); /* SERVER only */
	assert_null(attr(s, "gen_ai.usage.input_tokens"));
	assert_int_equal(strlen(attr_str(s, "gen_ai.request.model")), 63);
	assert_true(attr(s, "llmgw.truncated")->bool_value);
	const pb_any *tf = attr(s, "llmgw.truncated_fields");
	assert_non_null(tf);
	assert_int_equal(tf->array_value->n_values, 1);
	assert_string_equal(tf->array_value->values[0]->string_value, "request_model");
	assert_int_equal(s->dropped_attributes_count, 1); /* META_FULL */
	assert_string_equal(attr_str(s, "llmgw.meta.d"), "v");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	enrich_free(e);
}

static void test_invalid_utf8_and_empty_name(void **state)
{
	(void)state;
	struct spanrec r;
	fx_record(&r, SPANREC_KIND_CLIENT, 0x60, NULL, NULL);
	memcpy(r.provider,
	       "op\xc3"
	       "en\x80",
	       7); /* truncated sequence, stray continuation byte */
	r.name[0] = '\0';
	r.op = SPANREC_OP_EMBEDDINGS;
	struct enrich *e = enrich_new(NULL, NULL, NULL, NULL, NULL);
	pb_req *req = encode_decode(&r, 1, e); /* protobuf-c would refuse invalid UTF-8 on unpack */
	const char *tenant;
	const pb_span *s = find_span(req, 0x61, &tenant);
	assert_string_equal(attr_str(s, "gen_ai.provider.name"), "op?en?");
	assert_string_equal(s->name, "embeddings gpt-4o-mini"); /* schema name when the record has none */
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	enrich_free(e);
}

static void test_resource_grouping(void **state)
{
	(void)state;
	struct spanrec recs[5];
	fx_record(&recs[0], SPANREC_KIND_SERVER, 0x00, "acme", NULL);
	fx_record(&recs[1], SPANREC_KIND_CLIENT, 0x10, "globex", "ml");
	fx_record(&recs[2], SPANREC_KIND_CLIENT, 0x20, "acme", NULL);
	fx_record(&recs[3], SPANREC_KIND_SERVER, 0x30, "globex", "ml");
	fx_record(&recs[4], SPANREC_KIND_SERVER, 0x70, "initech", NULL);
	struct enrich *e = enrich_new(NULL, NULL, NULL, NULL, NULL);
	pb_req *req = encode_decode(recs, 5, e);
	assert_int_equal(req->n_resource_spans, 3);
	size_t total = 0;
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
		const pb_any *t = kv_get(rs->resource->attributes, rs->resource->n_attributes, "tenant_id");
		assert_non_null(t);
		size_t want = strcmp(t->string_value, "initech") == 0 ? 1 : 2;
		assert_int_equal(rs->scope_spans[0]->n_spans, want);
		total += rs->scope_spans[0]->n_spans;
	}
	assert_int_equal(total, 5);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	enrich_free(e);
}

static void test_empty_and_too_large(void **state)
{
	(void)state;
	struct enrich *e = enrich_new(NULL, NULL, NULL, NULL, NULL);
	struct buf out;
	struct err err;
	buf_init(&out, 1024);
	assert_int_equal(encode_otlp(e, NULL, 0, &out, &err), 0);
	assert_int_equal(out.len, 0); /* an empty request is zero bytes of protobuf */
	struct spanrec recs[4];
	for (int i = 0; i < 4; i++)
		fx_record(&recs[i], SPANREC_KIND_CLIENT, (uint8_t)(i * 16), "t", NULL);
	assert_int_equal(encode_otlp(e, recs, 4, &out, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_int_equal(out.len, 0);
	buf_fini(&out);
	enrich_free(e);
}

/* ---- the protobuf-c reference ------------------------------------------------ */

/* One span's protobuf-c tree, filled from its own view (the view owns repaired strings). */
struct ref_span {
	struct spanview v;
	pb_span span;
	pb_status status;
	pb_kv kv[SPANVIEW_MAX_ATTRS];
	pb_any av[SPANVIEW_MAX_ATTRS];
	pb_kv *kvp[SPANVIEW_MAX_ATTRS];
	pb_arr arr[SPANVIEW_MAX_ATTRS];
	pb_any items[SPANVIEW_MAX_ATTRS][SPANVIEW_MAX_TRUNC];
	pb_any *itemp[SPANVIEW_MAX_ATTRS][SPANVIEW_MAX_TRUNC];
};

static void ref_attr(struct ref_span *s, size_t i)
{
	const struct spanview_attr *a = &s->v.attrs[i];
	pb_kv *kv = &s->kv[i];
	pb_any *av = &s->av[i];
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(av);
	kv->key = (char *)a->key;
	kv->value = av;
	assert_int_equal(a->klen, strlen(a->key));
	switch (a->type) {
	case SPANVIEW_STR:
		assert_int_equal(a->slen, strlen(a->u.s));
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
		opentelemetry__proto__common__v1__array_value__init(&s->arr[i]);
		for (size_t j = 0; j < a->u.arr.n; j++) {
			pb_any *it = &s->items[i][j];
			opentelemetry__proto__common__v1__any_value__init(it);
			it->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			it->string_value = (char *)a->u.arr.v[j];
			s->itemp[i][j] = it;
		}
		s->arr[i].n_values = a->u.arr.n;
		s->arr[i].values = s->itemp[i];
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
		av->array_value = &s->arr[i];
		break;
	}
	s->kvp[i] = kv;
}

static void ref_span_fill(struct ref_span *s, const struct spanrec *r)
{
	pb_span *sp = &s->span;
	const struct spanview *v = &s->v;
	spanview_build(&s->v, r);
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
	assert_int_equal(v->name_len, strlen(v->name));
	assert_int_equal(v->status_message_len, strlen(v->status_message));
	sp->name = (char *)v->name;
	sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)v->kind;
	sp->start_time_unix_nano = v->start_ns;
	sp->end_time_unix_nano = v->end_ns;
	sp->flags = v->flags;
	sp->dropped_attributes_count = v->dropped_attrs;
	s->status.code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)v->status_code;
	s->status.message = (char *)v->status_message;
	sp->status = &s->status;
	for (size_t i = 0; i < v->nattrs; i++)
		ref_attr(s, i);
	sp->n_attributes = v->nattrs;
	sp->attributes = s->kvp;
}

/* The reference tree of one group. */
struct ref_group {
	pb_rs rs;
	pb_resource res;
	pb_ss ss;
	pb_ss *ssp;
	pb_scope scope;
	struct enrich_attr *ra;
	pb_kv *kv;
	pb_any *av;
	pb_kv **kvp;
	pb_span **spans;
};

static void ref_group_fill(struct ref_group *rg, const struct enrich *e, const struct enrich_group *g,
			   struct ref_span *rspans, const uint32_t *order, const struct spanrec *recs)
{
	size_t na = enrich_max_attrs(e);
	rg->ra = calloc(na, sizeof(*rg->ra));
	rg->kv = calloc(na, sizeof(*rg->kv));
	rg->av = calloc(na, sizeof(*rg->av));
	rg->kvp = calloc(na, sizeof(*rg->kvp));
	rg->spans = calloc(g->n, sizeof(*rg->spans));
	assert_true(rg->ra && rg->kv && rg->av && rg->kvp && rg->spans);
	opentelemetry__proto__resource__v1__resource__init(&rg->res);
	rg->res.n_attributes = enrich_resource(e, g, rg->ra);
	for (size_t i = 0; i < rg->res.n_attributes; i++) {
		opentelemetry__proto__common__v1__key_value__init(&rg->kv[i]);
		opentelemetry__proto__common__v1__any_value__init(&rg->av[i]);
		rg->av[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		rg->av[i].string_value = (char *)rg->ra[i].value;
		rg->kv[i].key = (char *)rg->ra[i].key;
		rg->kv[i].value = &rg->av[i];
		rg->kvp[i] = &rg->kv[i];
	}
	rg->res.attributes = rg->kvp;
	opentelemetry__proto__common__v1__instrumentation_scope__init(&rg->scope);
	rg->scope.name = ENCODE_SCOPE_NAME;
	rg->scope.version = (char *)encode_scope_version();
	for (size_t i = 0; i < g->n; i++) {
		struct ref_span *rs = &rspans[g->start + i];
		ref_span_fill(rs, &recs[order[g->start + i]]);
		rg->spans[i] = &rs->span;
	}
	opentelemetry__proto__trace__v1__scope_spans__init(&rg->ss);
	rg->ss.scope = &rg->scope;
	rg->ss.n_spans = g->n;
	rg->ss.spans = rg->spans;
	rg->ssp = &rg->ss;
	opentelemetry__proto__trace__v1__resource_spans__init(&rg->rs);
	rg->rs.resource = &rg->res;
	rg->rs.n_scope_spans = 1;
	rg->rs.scope_spans = &rg->ssp;
}

static void ref_group_free(struct ref_group *rg)
{
	free(rg->ra);
	free(rg->kv);
	free(rg->av);
	free(rg->kvp);
	free(rg->spans);
}

/* recs[0..n) as a protobuf-c tree packed by protobuf-c; *len gets its size. Caller frees. */
static uint8_t *ref_encode(const struct enrich *e, const struct spanrec *recs, size_t n, size_t *len)
{
	uint32_t *order = calloc(n ? n : 1, sizeof(*order));
	struct enrich_group *groups = calloc(n ? n : 1, sizeof(*groups));
	struct ref_span *rspans = calloc(n ? n : 1, sizeof(*rspans));
	struct ref_group *rg = calloc(n ? n : 1, sizeof(*rg));
	pb_rs **rsp = calloc(n ? n : 1, sizeof(*rsp));
	assert_true(order && groups && rspans && rg && rsp);
	size_t ng = enrich_group(recs, n, order, groups);
	for (size_t i = 0; i < ng; i++) {
		ref_group_fill(&rg[i], e, &groups[i], rspans, order, recs);
		rsp[i] = &rg[i].rs;
	}
	pb_req req;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
	req.n_resource_spans = ng;
	req.resource_spans = rsp;
	*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
	uint8_t *out = malloc(*len ? *len : 1);
	assert_non_null(out);
	assert_int_equal(opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out),
			 *len);
	for (size_t i = 0; i < ng; i++)
		ref_group_free(&rg[i]);
	free(order);
	free(groups);
	free(rspans);
	free(rg);
	free(rsp);
	return out;
}

/* ---- random records ---------------------------------------------------------- */

static uint64_t rnd(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *st = x;
}

/* A random string of up to max bytes: ASCII, UTF-8, or (sometimes) invalid bytes. */
static size_t rnd_text(uint64_t *st, char *out, size_t max)
{
	static const char *const pieces[] = {
	    "gpt-4o-mini",	"é",	   "日本",	"🚀", "a", " ", "\xc3", "\x80", "\xed\xa0\x80",
	    "\xf4\x90\x80\x80", "openai/", "chatcmpl-", "-", "z"};
	size_t n = 0, want = (size_t)(rnd(st) % (max + 1));
	bool invalid_ok = rnd(st) % 8 == 0;
	while (n < want) {
		const char *p = pieces[rnd(st) % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t l = strlen(p);
		bool bad = (l == 1 && (unsigned char)p[0] >= 0x80) || (unsigned char)p[0] == 0xed ||
			   (unsigned char)p[0] == 0xf4;
		if (bad && !invalid_ok)
			continue;
		if (n + l > max)
			break;
		memcpy(out + n, p, l);
		n += l;
	}
	out[n] = '\0';
	return n;
}

/* A string field: empty, short, exactly full, cut (longer than the field), or raw bytes. */
static void rnd_field(uint64_t *st, struct spanrec *r, char *dst, size_t cap)
{
	char tmp[256];
	switch (rnd(st) % 6) {
	case 0:
		spanrec_set_str(r, dst, cap, "", 0);
		break;
	case 1: /* longer than the field: cut at a character boundary, trunc bit set */
		rnd_text(st, tmp, sizeof(tmp) - 1);
		spanrec_set_str(r, dst, cap, tmp, (size_t)-1);
		break;
	case 2: /* raw bytes straight into the record (an untrusted writer), NUL-terminated */
		rnd_text(st, dst, cap - 1);
		break;
	case 3: /* exactly full */
		memset(dst, 'x', cap - 1);
		dst[cap - 1] = '\0';
		break;
	default:
		rnd_text(st, tmp, cap - 1);
		spanrec_set_str(r, dst, cap, tmp, (size_t)-1);
		break;
	}
}

static void rnd_record(uint64_t *st, struct spanrec *r)
{
	static const char *const tenants[] = {"", "acme", "globex", "initech", "\xff\xfe"};
	static const char *const teams[] = {"", "search", "ml"};
	spanrec_init(r, (enum spanrec_kind)(rnd(st) % 4));
	r->status = (uint8_t)(rnd(st) % 3);
	r->op = (uint8_t)(rnd(st) % SPANREC_OP__COUNT);
	r->trace_flags = (uint8_t)rnd(st);
	r->flags = (uint32_t)rnd(st) & SPANREC_F__ALL;
	for (size_t i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(rnd(st) | 1);
	for (size_t i = 0; i < 8; i++) {
		r->span_id[i] = (uint8_t)(rnd(st) | 1);
		r->parent_span_id[i] = rnd(st) % 3 == 0 ? 0 : (uint8_t)rnd(st);
	}
	uint64_t pick = rnd(st);
	r->start_ns = pick % 5 == 0 ? 0 : rnd(st);
	r->end_ns = pick % 7 == 0 ? 0 : rnd(st);
	r->ttft_ns = pick % 3 == 0 ? 0 : rnd(st) >> (rnd(st) % 64);
	r->cost_micro_usd = pick % 4 == 0 ? 0 : (int64_t)rnd(st) >> (rnd(st) % 64);
	r->input_tokens = (uint32_t)(rnd(st) >> (rnd(st) % 64));
	r->output_tokens = (uint32_t)rnd(st);
	r->cache_read_tokens = pick % 2 ? 0 : (uint32_t)(rnd(st) >> (rnd(st) % 64));
	r->http_status = (uint16_t)(pick % 11 == 0 ? 0 : rnd(st) % 600);
	r->server_port = (uint16_t)(pick % 13 == 0 ? 0 : rnd(st));
	r->attempt = (uint8_t)(rnd(st) % 4 == 0 ? 0 : rnd(st));
	rnd_field(st, r, r->name, sizeof(r->name));
	rnd_field(st, r, r->request_model, sizeof(r->request_model));
	rnd_field(st, r, r->response_model, sizeof(r->response_model));
	rnd_field(st, r, r->provider, sizeof(r->provider));
	rnd_field(st, r, r->server_address, sizeof(r->server_address));
	rnd_field(st, r, r->error_type, sizeof(r->error_type));
	rnd_field(st, r, r->finish_reason, sizeof(r->finish_reason));
	rnd_field(st, r, r->user, sizeof(r->user));
	rnd_field(st, r, r->key_name, sizeof(r->key_name));
	rnd_field(st, r, r->target, sizeof(r->target));
	rnd_field(st, r, r->fallback_reason, sizeof(r->fallback_reason));
	rnd_field(st, r, r->request_id, sizeof(r->request_id));
	rnd_field(st, r, r->response_id, sizeof(r->response_id));
	SPANREC_SET(r, tenant_id, tenants[rnd(st) % 5]);
	SPANREC_SET(r, team, teams[rnd(st) % 3]);
	if (rnd(st) % 16 == 0)
		rnd_field(st, r, r->tenant_id, sizeof(r->tenant_id));
	for (size_t i = 0, nm = rnd(st) % 6; i < nm; i++) {
		char k[32], v[64];
		rnd_text(st, k, rnd(st) % 2 ? 5 : sizeof(k) - 1);
		rnd_text(st, v, rnd(st) % 2 ? 3 : sizeof(v) - 1);
		spanrec_add_meta(r, k[0] ? k : "k", v);
	}
	if (rnd(st) % 5 == 0)
		r->trunc_mask |= (uint32_t)rnd(st) & 0x3ff;
}

/* Encodes recs both ways and requires the same bytes, and a clean protobuf-c unpack. */
static void check_same(const struct enrich *e, const struct spanrec *recs, size_t n)
{
	struct buf out;
	struct err err;
	size_t rlen;
	buf_init(&out, 64u << 20);
	assert_int_equal(encode_otlp(e, recs, n, &out, &err), 0);
	uint8_t *ref = ref_encode(e, recs, n, &rlen);
	assert_int_equal(out.len, rlen);
	assert_memory_equal(out.data, ref, rlen);
	pb_req *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
	    NULL, out.len, (const uint8_t *)out.data);
	assert_non_null(req); /* also: every string is valid UTF-8 */
	size_t spans = 0;
	for (size_t i = 0; i < req->n_resource_spans; i++)
		spans += req->resource_spans[i]->scope_spans[0]->n_spans;
	assert_int_equal(spans, n);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	free(ref);
	buf_fini(&out);
}

/* A random batch of n validated records. */
static void rnd_batch(uint64_t *st, struct spanrec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct spanrec r;
		struct err err;
		do
			rnd_record(st, &r);
		while (spanrec_validate(&r, sizeof(r), &recs[i], &err) != SPANREC_OK);
	}
}

static void test_same_bytes_as_protobuf_c(void **state)
{
	(void)state;
	const char *const envs[] = {NULL, "deployment.environment.name=test,team=static,empty=",
				    "tenant_id=static,k%C3=%FFbad,cloud.region=eu-west-1"};
	struct kvlist file;
	kvlist_init(&file);
	assert_int_equal(kvlist_set(&file, "host.name", "", false), 0);
	uint64_t st = 0x9e3779b97f4a7c15ull;
	struct spanrec *recs = calloc(600, sizeof(*recs));
	assert_non_null(recs);
	for (size_t c = 0; c < 3; c++) {
		struct enrich *e = enrich_new(c == 1 ? &file : NULL, c == 2 ? "svc" : NULL, envs[c], NULL, NULL);
		assert_non_null(e);
		check_same(e, recs, 0);
		for (size_t round = 0; round < 60; round++) {
			size_t n = round < 40 ? 1 + rnd(&st) % 24 : rnd(&st) % 600;
			rnd_batch(&st, recs, n);
			check_same(e, recs, n);
		}
		enrich_free(e);
	}
	free(recs);
	kvlist_fini(&file);
}

/* The fixture spans (schema-shaped) too, and one group whose body passes 2 MiB (a longer length varint). */
static void test_same_bytes_large_group(void **state)
{
	(void)state;
	size_t n = 3200;
	struct spanrec *recs = calloc(n, sizeof(*recs));
	assert_non_null(recs);
	for (size_t i = 0; i < n; i++) {
		fx_record(&recs[i], i % 2 ? SPANREC_KIND_CLIENT : SPANREC_KIND_SERVER, (uint8_t)i, "acme", "search");
		SPANREC_SET(&recs[i], response_id, "chatcmpl-0123456789abcdef0123456789abcdef");
		SPANREC_SET(&recs[i], user, "someone@example.com");
		spanrec_add_meta(&recs[i], "feature", "summarize-long-documents-please");
		spanrec_add_meta(&recs[i], "empty", "");
	}
	struct enrich *e = enrich_new(NULL, NULL, NULL, NULL, NULL);
	check_same(e, recs, 1);
	check_same(e, recs, 20); /* a group under 16 KiB: its length needs fewer bytes than reserved */
	check_same(e, recs, n);	 /* one group over 2 MiB: more */
	enrich_free(e);
	free(recs);
}

int main(void)
{
	log_init("test_encode_otlp", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_span),
	    cmocka_unit_test(test_client_error_truncated),
	    cmocka_unit_test(test_invalid_utf8_and_empty_name),
	    cmocka_unit_test(test_resource_grouping),
	    cmocka_unit_test(test_empty_and_too_large),
	    cmocka_unit_test(test_same_bytes_as_protobuf_c),
	    cmocka_unit_test(test_same_bytes_large_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
