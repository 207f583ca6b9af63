/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/span_emit: SERVER and CLIENT records built from a
 * request context carry the right ids (caller -> SERVER -> CLIENT), flags,
 * names, tenancy, usage, metadata and errors; long values are cut and
 * flagged; every record passes spanrec_validate, the exporter's check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/metrics.h"
#include "common/spanrec.h"
#include "gateway/span_emit.h"

static const struct auth_identity ident = {
    .key_name = "acme-search", .tenant_id = "acme", .team = "search", .user = "alice"};

static void valid_or_fail(const struct spanrec *r)
{
	struct spanrec out;
	struct err err;
	err_clear(&err);
	if (spanrec_validate(r, sizeof(*r), &out, &err) != SPANREC_OK)
		fail_msg("spanrec_validate: %s", err.msg);
}

/* A finished, successful chat request with a remote parent. */
static void fill_request(struct span_req *q, struct ids_rng *rng)
{
	memset(q, 0, sizeof(*q));
	q->op = SPANREC_OP_CHAT;
	q->method = "POST";
	span_trace_init(&q->trace, rng, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	q->start_ns = 1000;
	q->end_ns = 5000;
	snprintf(q->request_model, sizeof(q->request_model), "gpt-4o-mini");
	q->ident = &ident;
	snprintf(q->request_id, sizeof(q->request_id), "req-1");
	q->http_status = 200;
	snprintf(q->resp.model, sizeof(q->resp.model), "gpt-4o-mini-2024-07-18");
	snprintf(q->resp.id, sizeof(q->resp.id), "chatcmpl-1");
	snprintf(q->resp.finish_reason, sizeof(q->resp.finish_reason), "stop");
	q->resp.has_usage = true;
	q->resp.prompt_tokens = 12;
	q->resp.completion_tokens = 34;
	q->resp.cached_tokens = 5;
	q->provider = "openai";
	q->target = "local/gpt-4o-mini-2024-07-18";
}

/* A first attempt at "p/m" that got status. */
static void fill_attempt(struct span_attempt *a, struct ids_rng *rng, uint16_t status)
{
	memset(a, 0, sizeof(*a));
	ids_rng_fill(rng, a->span_id, sizeof(a->span_id));
	a->attempt = 1;
	a->provider_model = "m";
	a->provider = "openai";
	a->target = "p/m";
	a->http_status = status;
}

static void test_trace_init(void **state)
{
	(void)state;
	struct ids_rng rng;
	struct err err;
	struct span_trace t;
	assert_int_equal(ids_rng_init(&rng, &err), 0);

	span_trace_init(&t, &rng, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
	assert_true(t.parent_remote);
	assert_int_equal(t.flags, 0);
	assert_int_equal(t.trace_id[0], 0x0a);
	assert_int_equal(t.parent_id[7], 0x31);
	assert_false(ids_is_zero(t.span_id, 8));

	/* invalid traceparents start a new, sampled trace */
	static const char *const bad[] = {NULL,
					  "",
					  "garbage",
					  "00-00000000000000000000000000000000-b7ad6b7169203331-01",
					  "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
					  "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		span_trace_init(&t, &rng, bad[i]);
		assert_false(t.parent_remote);
		assert_int_equal(t.flags, 1);
		assert_true(ids_is_zero(t.parent_id, 8));
		assert_false(ids_is_zero(t.trace_id, 16));
	}
}

static void test_server_and_client(void **state)
{
	(void)state;
	struct ids_rng rng;
	struct err err;
	struct span_req q;
	struct span_attempt a;
	struct spanrec s, c;
	assert_int_equal(ids_rng_init(&rng, &err), 0);
	fill_request(&q, &rng);
	assert_int_equal(span_req_add_meta(&q, "feature", "search"), 0);

	memset(&a, 0, sizeof(a));
	ids_rng_fill(&rng, a.span_id, sizeof(a.span_id));
	a.start_ns = 2000;
	a.end_ns = 4000;
	a.attempt = 1;
	a.provider_model = "gpt-4o-mini-2024-07-18";
	a.provider = "openai";
	a.target = "local/gpt-4o-mini-2024-07-18";
	a.server_address = "api.openai.com";
	a.server_port = 443;
	a.http_status = 200;
	a.resp = &q.resp;

	span_emit_build_server(&s, &q);
	span_emit_build_client(&c, &q, &a);
	valid_or_fail(&s);
	valid_or_fail(&c);

	/* ids: caller -> SERVER -> CLIENT, one trace */
	assert_int_equal(s.kind, SPANREC_KIND_SERVER);
	assert_int_equal(c.kind, SPANREC_KIND_CLIENT);
	assert_memory_equal(s.trace_id, q.trace.trace_id, 16);
	assert_memory_equal(c.trace_id, q.trace.trace_id, 16);
	assert_memory_equal(s.parent_span_id, q.trace.parent_id, 8);
	assert_memory_equal(s.span_id, q.trace.span_id, 8);
	assert_memory_equal(c.parent_span_id, s.span_id, 8);
	assert_memory_equal(c.span_id, a.span_id, 8);
	assert_true(s.flags & SPANREC_F_PARENT_REMOTE);
	assert_false(c.flags & SPANREC_F_PARENT_REMOTE);
	assert_int_equal(s.trace_flags, 1);

	assert_string_equal(s.name, "chat gpt-4o-mini");
	assert_string_equal(c.name, "chat gpt-4o-mini-2024-07-18");
	assert_int_equal(s.op, SPANREC_OP_CHAT);
	assert_int_equal(s.status, SPANREC_STATUS_UNSET);
	assert_int_equal(c.status, SPANREC_STATUS_UNSET);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(s.start_ns, 1000);
	assert_int_equal(s.end_ns, 5000);
	assert_int_equal(c.start_ns, 2000);
	assert_int_equal(c.end_ns, 4000);

	for (int i = 0; i < 2; i++) {
		const struct spanrec *r = i == 0 ? &s : &c;
		assert_string_equal(r->request_model, "gpt-4o-mini");
		assert_string_equal(r->response_model, "gpt-4o-mini-2024-07-18");
		assert_string_equal(r->response_id, "chatcmpl-1");
		assert_string_equal(r->finish_reason, "stop");
		assert_true(r->flags & SPANREC_F_HAS_USAGE);
		assert_int_equal(r->input_tokens, 12);
		assert_int_equal(r->output_tokens, 34);
		assert_int_equal(r->cache_read_tokens, 5);
		assert_string_equal(r->tenant_id, "acme");
		assert_string_equal(r->team, "search");
		assert_string_equal(r->user, "alice");
		assert_string_equal(r->key_name, "acme-search");
		assert_string_equal(r->request_id, "req-1");
		assert_string_equal(r->provider, "openai");
		assert_string_equal(r->target, "local/gpt-4o-mini-2024-07-18");
		assert_false(r->flags & SPANREC_F_TRUNCATED);
	}
	assert_int_equal(c.attempt, 1);
	assert_string_equal(c.server_address, "api.openai.com");
	assert_int_equal(c.server_port, 443);
	assert_string_equal(s.server_address, "");
	assert_string_equal(s.meta[0].key, "feature");
	assert_string_equal(s.meta[0].value, "search");
	assert_string_equal(c.meta[0].key, ""); /* metadata is on the SERVER span */
	assert_false(s.flags & SPANREC_F_STREAM);
	assert_int_equal(s.ttft_ns, 0);

	/* the same as a stream: the flag and TTFT on both spans */
	q.stream = true;
	q.ttft_ns = 7000;
	a.ttft_ns = 6000;
	span_emit_build_server(&s, &q);
	span_emit_build_client(&c, &q, &a);
	valid_or_fail(&s);
	valid_or_fail(&c);
	assert_true(s.flags & SPANREC_F_STREAM);
	assert_true(c.flags & SPANREC_F_STREAM);
	assert_int_equal(s.ttft_ns, 7000);
	assert_int_equal(c.ttft_ns, 6000);
	assert_int_equal(s.status, SPANREC_STATUS_UNSET);

	/* the provider reset the stream mid-way: the client saw 200, the spans say why it failed */
	snprintf(q.error_type, sizeof(q.error_type), "reset");
	snprintf(q.resp.finish_reason, sizeof(q.resp.finish_reason), "error");
	snprintf(a.error_type, sizeof(a.error_type), "reset");
	span_emit_build_server(&s, &q);
	span_emit_build_client(&c, &q, &a);
	valid_or_fail(&s);
	valid_or_fail(&c);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(s.status, SPANREC_STATUS_ERROR);
	assert_string_equal(s.error_type, "reset");
	assert_string_equal(s.finish_reason, "error");
	assert_int_equal(c.status, SPANREC_STATUS_ERROR);
	assert_string_equal(c.error_type, "reset");
}

static void test_errors(void **state)
{
	(void)state;
	struct ids_rng rng;
	struct err err;
	struct span_req q;
	struct span_attempt a;
	struct spanrec s, c;
	assert_int_equal(ids_rng_init(&rng, &err), 0);

	/* a relayed upstream 429 */
	fill_request(&q, &rng);
	memset(&q.resp, 0, sizeof(q.resp));
	q.http_status = 429;
	snprintf(q.error_type, sizeof(q.error_type), "429");
	fill_attempt(&a, &rng, 429);
	span_emit_build_server(&s, &q);
	span_emit_build_client(&c, &q, &a);
	valid_or_fail(&s);
	valid_or_fail(&c);
	assert_int_equal(s.status, SPANREC_STATUS_ERROR);
	assert_string_equal(s.error_type, "429");
	assert_int_equal(c.status, SPANREC_STATUS_ERROR);
	assert_string_equal(c.error_type, "429"); /* defaults to the status code */
	assert_false(s.flags & SPANREC_F_HAS_USAGE);

	/* a connect error: no response at all */
	snprintf(a.error_type, sizeof(a.error_type), "upstream_connect_error");
	a.http_status = 0;
	span_emit_build_client(&c, &q, &a);
	valid_or_fail(&c);
	assert_string_equal(c.error_type, "upstream_connect_error");
	assert_int_equal(c.http_status, 0);

	/* a 404 for an unknown path before routing: SERVER span only, named by method */
	memset(&q, 0, sizeof(q));
	q.op = SPANREC_OP_NONE;
	q.method = "GET";
	span_trace_init(&q.trace, &rng, NULL);
	q.http_status = 404;
	snprintf(q.error_type, sizeof(q.error_type), "not_found");
	span_emit_build_server(&s, &q);
	valid_or_fail(&s);
	assert_string_equal(s.name, "GET");
	assert_true(ids_is_zero(s.parent_span_id, 8));
	assert_false(s.flags & SPANREC_F_PARENT_REMOTE);
	assert_string_equal(s.error_type, "not_found");

	/* a 400 without a readable model: "chat"; end before start is clamped */
	q.op = SPANREC_OP_CHAT;
	q.http_status = 400;
	q.stream = true;
	q.start_ns = 10;
	q.end_ns = 5;
	span_emit_build_server(&s, &q);
	valid_or_fail(&s);
	assert_string_equal(s.name, "chat");
	assert_true(s.flags & SPANREC_F_STREAM);
	assert_int_equal(s.end_ns, s.start_ns);
}

static void test_truncation_and_meta_overflow(void **state)
{
	(void)state;
	struct ids_rng rng;
	struct err err;
	struct span_req q;
	struct spanrec s;
	assert_int_equal(ids_rng_init(&rng, &err), 0);
	fill_request(&q, &rng);
	memset(q.request_model, 'm', 200);
	q.request_model[200] = '\0';
	memset(q.resp.id, 'i', 100);
	q.resp.id[100] = '\0';
	assert_int_equal(span_req_add_meta(&q, "a", "1"), 0);
	assert_int_equal(span_req_add_meta(&q, "b", "2"), 0);
	assert_int_equal(span_req_add_meta(&q, "a-rather-long-metadata-key", "v"), 0);
	assert_int_equal(span_req_add_meta(&q, "d", "a value that is longer than forty bytes for sure"), 0);
	assert_int_equal(span_req_add_meta(&q, "e", "5"), -1);
	assert_true(q.meta_overflow);

	span_emit_build_server(&s, &q);
	valid_or_fail(&s);
	assert_true(s.flags & SPANREC_F_TRUNCATED);
	assert_true(s.flags & SPANREC_F_META_FULL);
	assert_int_equal(strlen(s.request_model), sizeof(s.request_model) - 1);
	assert_int_equal(strlen(s.name), sizeof(s.name) - 1);
	assert_int_equal(strlen(s.response_id), sizeof(s.response_id) - 1);
	assert_string_equal(s.meta[1].key, "b");
	assert_int_equal(strlen(s.meta[2].key), sizeof(s.meta[2].key) - 1);
	assert_int_equal(strlen(s.meta[3].value), sizeof(s.meta[3].value) - 1);
	assert_true(s.trunc_mask != 0);
}

static void test_send_without_pipe(void **state)
{
	(void)state;
	struct spanrec s;
	struct span_out o = {NULL, NULL, NULL, NULL};
	spanrec_init(&s, SPANREC_KIND_SERVER);
	/* spans off: nothing to send, nothing to count, no crash */
	assert_int_equal(span_emit_send(&o, &s), SPANPIPE_SENT);
	assert_int_equal(span_emit_send(NULL, &s), SPANPIPE_SENT);
}

static void test_send_counts_drops(void **state)
{
	(void)state;
	struct err err;
	struct metrics *m = metrics_new();
	struct span_out o;
	struct spanrec s;
	char url[96];
	snprintf(url, sizeof(url), "ipc:///tmp/llmgw-test-span-emit-%d.sock", (int)getpid());
	o.pipe = spanpipe_open(url, 0, &err);
	assert_non_null(o.pipe);
	o.sent = metrics_counter(m, "llmgw_spans_sent_total", "h", NULL);
	o.dropped_full = metrics_counter(m, "llmgw_spans_dropped_total", "h", "reason=\"pipe_full\"");
	o.dropped_error = metrics_counter(m, "llmgw_spans_dropped_total", "h", "reason=\"pipe_error\"");
	spanrec_init(&s, SPANREC_KIND_SERVER);
	/* nobody listens: the record is dropped and counted, and the call returns at once */
	assert_int_equal(span_emit_send(&o, &s), SPANPIPE_FULL);
	assert_int_equal(metric_get(o.dropped_full), 1);
	assert_int_equal(metric_get(o.sent), 0);
	spanpipe_close(o.pipe);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trace_init),
	    cmocka_unit_test(test_server_and_client),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_truncation_and_meta_overflow),
	    cmocka_unit_test(test_send_without_pipe),
	    cmocka_unit_test(test_send_counts_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
