/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the relay's filter hook (gateway/chat_stream.h, used by
 * the output guardrails): a replaced event goes out instead of the
 * original and in its place, a pass forwards the bytes unchanged, the
 * flush call comes right before [DONE] and its events precede it, a deny
 * fails the feed with EACCES without forwarding the event, and
 * chat_stream_deny writes the guardrail_denied error event. Every split
 * point of the upstream bytes gives the same client bytes; the guardrails
 * filter itself runs under real rules at every split too.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/chat_stream.h"
#include "gateway/guard_json.h"

#define EV(content, fin)                                                                                               \
	"data: "                                                                                                       \
	"{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"  \
	"\"delta\":{\"content\":\"" content "\"},\"finish_reason\":" fin "}]}\n\n"

static const char upstream[] =
    EV("keep", "null") EV("swap", "null") EV("gone", "null") ": ka\n\n" EV("x", "\"stop\"") "data: [DONE]\n\n";

struct sink {
	struct buf out;
};

static int sink_write(const char *p, size_t n, void *arg)
{
	return buf_append(&((struct sink *)arg)->out, p, n);
}

static bool has(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(h + i, needle, k) == 0)
			return true;
	return false;
}

/* swap -> REPLACE with "data: SWAPPED\n\n", gone -> REPLACE with nothing (dropped), flush -> "data: HELD\n\n" */
static int test_filter(void *arg, const char *data, size_t len, struct buf *out)
{
	int *deny_at = arg;
	if (data == NULL)
		return buf_puts(out, "data: HELD\n\n") < 0 ? -1 : CHAT_STREAM_FILTER_REPLACE;
	if (*deny_at == 1 && has(data, len, "\"x\""))
		return CHAT_STREAM_FILTER_DENY;
	if (has(data, len, "swap"))
		return buf_puts(out, "data: SWAPPED\n\n") < 0 ? -1 : CHAT_STREAM_FILTER_REPLACE;
	if (has(data, len, "gone"))
		return CHAT_STREAM_FILTER_REPLACE;
	return CHAT_STREAM_FILTER_PASS;
}

static void feed_split(size_t cut, int deny, struct sink *s, int *rc_out, int *errno_out)
{
	int deny_at = deny;
	struct chat_stream_opts o = {.filter = test_filter, .filter_arg = &deny_at};
	struct chat_stream *cs = chat_stream_new(&o);
	struct err err;
	size_t n = sizeof(upstream) - 1;
	int rc = chat_stream_feed(cs, upstream, cut, 1, sink_write, s, &err);
	if (rc == 0)
		rc = chat_stream_feed(cs, upstream + cut, n - cut, 2, sink_write, s, &err);
	*rc_out = rc;
	*errno_out = rc < 0 ? err.code : 0;
	if (rc == 0)
		chat_stream_finish(cs, NULL, sink_write, s);
	else if (err.code == EACCES)
		assert_int_equal(chat_stream_deny(cs, "stopped by guardrail 'r'", sink_write, s), 1);
	chat_stream_free(cs);
}

static void test_replace_pass_flush(void **state)
{
	(void)state;
	static const char want[] =
	    EV("keep", "null") "data: SWAPPED\n\n: ka\n\n" EV("x", "\"stop\"") "data: HELD\n\ndata: [DONE]\n\n";
	for (size_t cut = 0; cut < sizeof(upstream); cut++) {
		struct sink s;
		int rc, e;
		buf_init(&s.out, 0);
		feed_split(cut, 0, &s, &rc, &e);
		assert_int_equal(rc, 0);
		if (strcmp(s.out.data, want) != 0)
			fail_msg("cut %zu: got\n%s", cut, s.out.data);
		buf_fini(&s.out);
	}
}

static void test_deny(void **state)
{
	(void)state;
	for (size_t cut = 0; cut < sizeof(upstream); cut++) {
		struct sink s;
		int rc, e;
		buf_init(&s.out, 0);
		feed_split(cut, 1, &s, &rc, &e);
		assert_int_equal(rc, -1);
		assert_int_equal(e, EACCES);
		assert_null(strstr(s.out.data, "\"x\""));
		assert_null(strstr(s.out.data, "[DONE]"));
		assert_non_null(strstr(s.out.data, "\"code\":\"guardrail_denied\""));
		assert_non_null(strstr(s.out.data, "\"type\":\"invalid_request_error\""));
		buf_fini(&s.out);
	}
}

/* The guardrails' own filter over a real stream at every split: the address never reaches the client. */
static struct guard_sse *gsse;

static int guard_filter(void *arg, const char *data, size_t len, struct buf *out)
{
	struct guard_verdict v;
	(void)arg;
	guard_verdict_init(&v);
	int rc = data != NULL ? guard_sse_chunk(gsse, data, len, out, &v) : guard_sse_flush(gsse, out, &v);
	return rc < 0 ? -1 : rc == GUARD_JSON_PASS ? CHAT_STREAM_FILTER_PASS : CHAT_STREAM_FILTER_REPLACE;
}

static void test_guard_filter(void **state)
{
	(void)state;
	static const char up[] =
	    EV("mail bob", "null") EV("@ex", "null") EV("ample.org now", "null") "data: [DONE]\n\n";
	struct guard_rule rule = {0};
	struct err err;
	rule.name = strdup("mail");
	rule.kind = GUARD_KIND_EMAIL;
	rule.stages = GUARD_STAGE_OUTPUT;
	assert_int_equal(guard_rule_init(&rule, 1, &err), 0);
	const struct guard_ctx ctx = {&rule, 1, 1, 0};
	for (size_t cut = 0; cut < sizeof(up); cut++) {
		struct sink s;
		struct chat_stream_opts o = {.filter = guard_filter};
		buf_init(&s.out, 0);
		gsse = guard_sse_new(&ctx);
		struct chat_stream *cs = chat_stream_new(&o);
		assert_int_equal(chat_stream_feed(cs, up, cut, 1, sink_write, &s, &err), 0);
		assert_int_equal(chat_stream_feed(cs, up + cut, sizeof(up) - 1 - cut, 2, sink_write, &s, &err), 0);
		assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &s), CHAT_STREAM_END_DONE);
		assert_null(strstr(s.out.data, "example"));
		assert_non_null(strstr(s.out.data, "[REDACTED:email]"));
		assert_non_null(strstr(s.out.data, "now"));
		assert_int_equal(strncmp(s.out.data + s.out.len - 14, "data: [DONE]\n\n", 14), 0);
		chat_stream_free(cs);
		guard_sse_free(gsse);
		buf_fini(&s.out);
	}
	guard_rule_fini(&rule);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replace_pass_flush),
	    cmocka_unit_test(test_deny),
	    cmocka_unit_test(test_guard_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
