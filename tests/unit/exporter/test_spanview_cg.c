/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the response-cache and guardrail rows of the span
 * mapping (gateway/span_emit.c -> exporter/spanview.c, docs/span-schema.md):
 * llmgw.cache.hit only when the cache was consulted (true on a hit, false
 * on a miss, absent otherwise), llmgw.guardrail.rules with the rule names,
 * llmgw.guardrail.action "deny" over "redact", a long list of names cut and
 * flagged, and the record still valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/spanrec.h"
#include "exporter/spanview.h"
#include "gateway/span_emit.h"

static struct spanview v;
static struct spanrec rec;

static void build(const struct span_req *q)
{
	struct err err;
	struct spanrec built;
	span_emit_build_server(&built, q);
	assert_int_equal(spanrec_validate(&built, sizeof(built), &rec, &err),
			 SPANREC_OK); /* flags known, strings ended */
	spanview_build(&v, &rec);
}

static void base(struct span_req *q)
{
	memset(q, 0, sizeof(*q));
	q->op = SPANREC_OP_CHAT;
	q->start_ns = 1;
	q->end_ns = 2;
	q->http_status = 200;
	memset(q->trace.trace_id, 0xab, sizeof(q->trace.trace_id));
	memset(q->trace.span_id, 0xcd, sizeof(q->trace.span_id));
	snprintf(q->request_model, sizeof(q->request_model), "m");
}

static void test_cache_hit(void **state)
{
	(void)state;
	struct span_req q;
	base(&q);
	build(&q);
	assert_null(spanview_attr(&v, "llmgw.cache.hit")); /* not consulted */
	q.cache_lookup = true;
	build(&q);
	assert_int_equal(spanview_attr(&v, "llmgw.cache.hit")->type, SPANVIEW_BOOL);
	assert_false(spanview_attr(&v, "llmgw.cache.hit")->u.b);
	q.cache_hit = true;
	build(&q);
	assert_true(spanview_attr(&v, "llmgw.cache.hit")->u.b);
	assert_true(rec.flags & SPANREC_F_CACHE_HIT);
}

static void test_guardrails(void **state)
{
	(void)state;
	struct span_req q;
	base(&q);
	build(&q);
	assert_null(spanview_attr(&v, "llmgw.guardrail.rules"));
	assert_null(spanview_attr(&v, "llmgw.guardrail.action"));
	snprintf(q.guardrails, sizeof(q.guardrails), "pii-email,no-keys");
	q.guard_redacted = true;
	build(&q);
	assert_string_equal(spanview_attr(&v, "llmgw.guardrail.rules")->u.s, "pii-email,no-keys");
	assert_string_equal(spanview_attr(&v, "llmgw.guardrail.action")->u.s, "redact");
	q.guard_denied = true;
	build(&q);
	assert_string_equal(spanview_attr(&v, "llmgw.guardrail.action")->u.s, "deny");
	/* more names than the record holds: cut and flagged, never overflowed */
	memset(q.guardrails, 'r', sizeof(q.guardrails) - 1);
	q.guardrails[sizeof(q.guardrails) - 1] = '\0';
	build(&q);
	assert_int_equal(strlen(spanview_attr(&v, "llmgw.guardrail.rules")->u.s), sizeof(rec.guardrails) - 1);
	assert_non_null(spanview_attr(&v, "llmgw.truncated"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cache_hit),
	    cmocka_unit_test(test_guardrails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
