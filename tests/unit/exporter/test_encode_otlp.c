/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encode_otlp: encode a batch, decode it back with protobuf-c's own unpack,
 * and check every field and attribute of docs/span-schema.md, the resource
 * grouping, truncation and remote-parent flags, and UTF-8 repair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "common/log.h"
#include "exporter/encode_otlp.h"
#include "exporter/enrich.h"
#include "tests/unit/exporter/ex_fixtures.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_req;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

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

int main(void)
{
	log_init("test_encode_otlp", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_span),
	    cmocka_unit_test(test_client_error_truncated),
	    cmocka_unit_test(test_invalid_utf8_and_empty_name),
	    cmocka_unit_test(test_resource_grouping),
	    cmocka_unit_test(test_empty_and_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
