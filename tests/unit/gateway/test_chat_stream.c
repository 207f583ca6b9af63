/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/chat_stream: pass-through is byte for byte at every
 * split point; the injected usage chunk is dropped and nothing else; span
 * facts (id, model, TTFT feed, finish reasons, usage) are the same whatever
 * the split and with or without the parse pre-check; the three ways a
 * stream ends (DONE, no DONE, cut short) and mid-stream failure; upstream
 * error events; oversize events; garbage; CR-only endings; the error event
 * itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "gateway/chat_stream.h"
#include "gateway/sse.h"

/* What the client received. */
struct sink {
	struct buf out;
	unsigned writes;
	int fail_after; /* fail the write after this many; -1 never */
};

static void sink_init(struct sink *s)
{
	buf_init(&s->out, 0);
	s->writes = 0;
	s->fail_after = -1;
}

static int sink_write(const char *p, size_t n, void *arg)
{
	struct sink *s = arg;
	if (s->fail_after >= 0 && (int)s->writes >= s->fail_after)
		return -1;
	s->writes++;
	assert_true(n > 0);
	return buf_append(&s->out, p, n);
}

#define ID "\"id\":\"chatcmpl-AbC\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,"
#define MODEL "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1\","
#define CH(delta, fin)                                                                                                 \
	"data: {" ID MODEL "\"choices\":[{\"index\":0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" fin    \
	"}],\"usage\":null}\n\n"
#define USAGE_EV                                                                                                       \
	"data: {" ID MODEL "\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"                  \
	"\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n"

/* An OpenAI stream with include_usage on: role chunk, content, finish, usage, [DONE]. */
static const char *const openai_parts[] = {
    CH("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null"),
    ": keep-alive\n\n",
    CH("{\"content\":\"Hello\"}", "null"),
    CH("{\"content\":\"!\"}", "null"),
    CH("{\"content\":\" How\"}", "null"),
    CH("{\"content\":\" can\"}", "null"),
    CH("{\"content\":\" I\"}", "null"),
    CH("{\"content\":\" help\"}", "null"),
    CH("{\"content\":\" you\"}", "null"),
    CH("{\"content\":\" today\"}", "null"),
    CH("{\"content\":\"? \\\"usage\\\" \\\"error\\\"\"}", "null"),
    CH("{\"content\":\" \xc3\xa9\"}", "null"),
    CH("{\"content\":\" a\"}", "null"),
    CH("{\"content\":\" b\"}", "null"),
    CH("{\"content\":\" c\"}", "null"),
    CH("{\"content\":\" d\"}", "null"),
    CH("{\"content\":\" e\"}", "null"),
    CH("{}", "\"stop\""),
    USAGE_EV,
    "data: [DONE]\n\n",
};
#define N_PARTS (sizeof(openai_parts) / sizeof(openai_parts[0]))
#define HELLO_PART 2
#define USAGE_PART 18

/* The stream joined, optionally without one part (-1: all); caller frees. */
static char *join(int skip, size_t *n, size_t *hello_end)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < N_PARTS; i++) {
		if ((int)i == skip)
			continue;
		buf_puts(&b, openai_parts[i]);
		if (i == HELLO_PART && hello_end != NULL)
			*hello_end = b.len;
	}
	return buf_take(&b, n);
}

/* Feeds s in pieces at cuts; the i-th feed gets now = 100 + i. Returns the feed rc. */
static int relay(struct chat_stream *cs, const char *s, size_t n, const size_t *cuts, size_t ncuts, struct sink *sk)
{
	size_t at = 0;
	struct err err;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		char *piece = malloc(to - at + 1);
		memcpy(piece, s + at, to - at);
		int rc = chat_stream_feed(cs, piece, to - at, 100 + i, sink_write, sk, &err);
		free(piece);
		if (rc < 0)
			return -1;
		at = to;
	}
	return 0;
}

static void check_facts(const struct chat_stream_info *in)
{
	assert_string_equal(in->resp.id, "chatcmpl-AbC");
	assert_string_equal(in->resp.model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(in->resp.finish_reason, "stop");
	assert_string_equal(in->finish_reasons[0], "stop");
	assert_true(in->resp.has_usage);
	assert_int_equal(in->resp.prompt_tokens, 19);
	assert_int_equal(in->resp.completion_tokens, 10);
	assert_int_equal(in->resp.cached_tokens, 3);
	assert_true(in->done);
	assert_false(in->upstream_error);
	assert_true(in->first_token);
	assert_int_equal(in->events, 19);
	assert_int_equal(in->comments, 1);
	assert_int_equal(in->non_json, 0);
}

/* Both ways of include_usage, every split point, with and without the pre-check. */
static void test_every_split(void **state)
{
	(void)state;
	size_t n, nd, hello_end;
	char *s = join(-1, &n, &hello_end);
	char *dropped = join(USAGE_PART, &nd, NULL);
	for (int drop = 0; drop <= 1; drop++) {
		for (int all = 0; all <= 1; all++) {
			for (size_t cut = 0; cut <= n; cut++) {
				struct chat_stream_opts o = {.drop_usage_chunk = drop, .parse_all = all};
				struct chat_stream *cs = chat_stream_new(&o);
				struct sink sk;
				sink_init(&sk);
				assert_int_equal(relay(cs, s, n, &cut, 1, &sk), 0);
				const struct chat_stream_info *in = chat_stream_info(cs);
				if (drop) {
					assert_int_equal(sk.out.len, nd);
					assert_memory_equal(sk.out.data, dropped, nd);
					assert_int_equal(in->usage_dropped, 1);
				} else {
					assert_int_equal(sk.out.len, n);
					assert_memory_equal(sk.out.data, s, n);
					assert_int_equal(in->usage_dropped, 0);
				}
				check_facts(in);
				/* the token arrived in the feed that completed the "Hello" event */
				assert_int_equal(in->first_token_ns, hello_end <= cut ? 100 : 101);
				assert_int_equal(in->bytes_in, n);
				assert_int_equal(in->bytes_out, sk.out.len);
				assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_DONE);
				assert_int_equal(sk.out.len, drop ? nd : n); /* nothing added */
				chat_stream_free(cs);
				buf_fini(&sk.out);
			}
		}
	}
	free(s);
	free(dropped);
}

static void test_byte_by_byte_and_crlf(void **state)
{
	(void)state;
	size_t n;
	char *s = join(-1, &n, NULL);
	/* CR-only and CRLF line endings: the JSON has no raw newlines, so swap every LF */
	for (int mode = 0; mode < 3; mode++) {
		struct buf b;
		buf_init(&b, 0);
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\n' && mode > 0)
				buf_puts(&b, mode == 1 ? "\r" : "\r\n");
			else
				buf_append(&b, &s[i], 1);
		}
		size_t *cuts = malloc(b.len * sizeof(*cuts));
		for (size_t i = 0; i < b.len; i++)
			cuts[i] = i + 1;
		struct chat_stream_opts o = {.drop_usage_chunk = true};
		struct chat_stream *cs = chat_stream_new(&o);
		struct sink sk;
		sink_init(&sk);
		assert_int_equal(relay(cs, b.data, b.len, cuts, b.len - 1, &sk), 0);
		check_facts(chat_stream_info(cs));
		assert_int_equal(chat_stream_info(cs)->usage_dropped, 1);
		assert_int_equal(sk.out.len + strlen(USAGE_EV) + (mode == 2 ? 2 : 0), b.len);
		assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_DONE);
		chat_stream_free(cs);
		buf_fini(&sk.out);
		buf_fini(&b);
		free(cuts);
	}
	free(s);
}

static void test_usage_chunk_kept_when_not_usage_only(void **state)
{
	(void)state;
	/* usage on a chunk with choices is not the injected usage-only chunk: keep it */
	const char s[] = "data: {\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},"
			 "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"
			 "data: {\"choices\":[],\"usage\":null}\n\n"
			 "data: [DONE]\n\n";
	struct chat_stream_opts o = {.drop_usage_chunk = true};
	struct chat_stream *cs = chat_stream_new(&o);
	struct sink sk;
	sink_init(&sk);
	assert_int_equal(relay(cs, s, strlen(s), NULL, 0, &sk), 0);
	assert_int_equal(sk.out.len, strlen(s));
	assert_int_equal(sk.writes, 1); /* one piece, all forwarded: one write */
	const struct chat_stream_info *in = chat_stream_info(cs);
	assert_true(in->resp.has_usage);
	assert_int_equal(in->resp.completion_tokens, 2);
	assert_int_equal(in->usage_dropped, 0);
	chat_stream_free(cs);
	buf_fini(&sk.out);
}

static void test_ends(void **state)
{
	(void)state;
	struct sink sk;
	struct chat_stream *cs;
	const char fin[] =
	    "data: {\"id\":\"a\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},"
	    "\"finish_reason\":\"length\"}]}\n\n";
	const char mid[] =
	    "data: {\"id\":\"a\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},"
	    "\"finish_reason\":null}]}\n\n";

	/* finished but no [DONE]: ended as is */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	relay(cs, fin, strlen(fin), NULL, 0, &sk);
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_NO_DONE);
	assert_int_equal(sk.out.len, strlen(fin));
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "length");
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_NO_DONE); /* idempotent */
	assert_int_equal(chat_stream_fail(cs, "late", sink_write, &sk), 0);
	assert_int_equal(sk.out.len, strlen(fin));
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* cut short, with half an event pending: error event after the last whole event */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	relay(cs, mid, strlen(mid), NULL, 0, &sk);
	relay(cs, "data: {\"choi", 12, NULL, 0, &sk);
	assert_int_equal(chat_stream_finish(cs, "provider 'p' closed the stream early", sink_write, &sk),
			 CHAT_STREAM_END_TRUNCATED);
	const char want_err[] = "data: {\"error\":{\"message\":\"provider 'p' closed the stream early\",\"type\":"
				"\"api_error\",\"param\":null,\"code\":\"upstream_stream_error\"}}\n\n";
	assert_int_equal(sk.out.len, strlen(mid) + strlen(want_err));
	assert_memory_equal(sk.out.data, mid, strlen(mid));
	assert_string_equal(sk.out.data + strlen(mid), want_err);
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "error");
	assert_int_equal(chat_stream_info(cs)->pending_at_end, 12);
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* n = 2: one choice finishing is not enough */
	struct chat_stream_opts o2 = {.n_choices = 2};
	cs = chat_stream_new(&o2);
	sink_init(&sk);
	relay(cs, fin, strlen(fin), NULL, 0, &sk);
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_TRUNCATED);
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "length"); /* choice 0 did finish */
	chat_stream_free(cs);
	buf_fini(&sk.out);

	cs = chat_stream_new(&o2);
	sink_init(&sk);
	const char two[] = "data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
			   "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n";
	relay(cs, two, strlen(two), NULL, 0, &sk);
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_NO_DONE);
	assert_string_equal(chat_stream_info(cs)->finish_reasons[1], "stop");
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "tool_calls");
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* nothing at all came */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_TRUNCATED);
	assert_non_null(strstr(sk.out.data, "before it was complete"));
	chat_stream_free(cs);
	buf_fini(&sk.out);
}

static void test_fail_mid_stream(void **state)
{
	(void)state;
	struct sink sk;
	const char mid[] = "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n";
	struct chat_stream *cs = chat_stream_new(NULL);
	sink_init(&sk);
	relay(cs, mid, strlen(mid), NULL, 0, &sk);
	assert_int_equal(chat_stream_fail(cs, NULL, sink_write, &sk), 1);
	assert_non_null(strstr(sk.out.data, "\"message\":\"the provider stream failed\""));
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "error");
	size_t len = sk.out.len;
	assert_int_equal(chat_stream_fail(cs, NULL, sink_write, &sk), 0); /* once */
	assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_TRUNCATED);
	struct err err;
	assert_int_equal(chat_stream_feed(cs, mid, strlen(mid), 1, sink_write, &sk, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(sk.out.len, len);
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* after [DONE] the client has everything: nothing to add */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	relay(cs, "data: [DONE]\n\n", 14, NULL, 0, &sk);
	assert_int_equal(chat_stream_fail(cs, "reset", sink_write, &sk), 0);
	assert_int_equal(sk.out.len, 14);
	assert_string_equal(chat_stream_info(cs)->resp.finish_reason, "");
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* the client is gone: the write failure is reported */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	sk.fail_after = 0;
	assert_int_equal(chat_stream_fail(cs, NULL, sink_write, &sk), -1);
	chat_stream_free(cs);
	buf_fini(&sk.out);
}

static void test_upstream_error_event(void **state)
{
	(void)state;
	const char s[] =
	    "data: {\"id\":\"a\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"
	    "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":null}}\n\n";
	for (int all = 0; all <= 1; all++) {
		struct chat_stream_opts o = {.parse_all = all};
		struct chat_stream *cs = chat_stream_new(&o);
		struct sink sk;
		sink_init(&sk);
		assert_int_equal(relay(cs, s, strlen(s), NULL, 0, &sk), 0);
		const struct chat_stream_info *in = chat_stream_info(cs);
		assert_true(in->upstream_error);
		assert_string_equal(in->upstream_error_code, "server_error");
		assert_int_equal(chat_stream_finish(cs, NULL, sink_write, &sk), CHAT_STREAM_END_UPSTREAM_ERROR);
		assert_int_equal(sk.out.len, strlen(s)); /* forwarded as is, nothing added */
		assert_memory_equal(sk.out.data, s, strlen(s));
		assert_string_equal(in->resp.finish_reason, "error");
		assert_int_equal(chat_stream_fail(cs, NULL, sink_write, &sk), 0);
		chat_stream_free(cs);
		buf_fini(&sk.out);
	}

	/* numeric code, named error event, error: null is no error */
	const char t[] = "data: {\"error\":{\"code\":503}}\n\n";
	struct chat_stream *cs = chat_stream_new(NULL);
	struct sink sk;
	sink_init(&sk);
	relay(cs, t, strlen(t), NULL, 0, &sk);
	assert_string_equal(chat_stream_info(cs)->upstream_error_code, "503");
	chat_stream_free(cs);
	cs = chat_stream_new(NULL);
	relay(cs, "event: error\ndata: oops\n\n", 25, NULL, 0, &sk);
	assert_true(chat_stream_info(cs)->upstream_error);
	assert_int_equal(chat_stream_info(cs)->non_json, 1);
	chat_stream_free(cs);
	cs = chat_stream_new(NULL);
	relay(cs, "data: {\"error\":null,\"choices\":[]}\n\n", 36, NULL, 0, &sk);
	assert_false(chat_stream_info(cs)->upstream_error);
	chat_stream_free(cs);
	buf_fini(&sk.out);
}

static void test_first_token_kinds(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\"}]}}]}\n\n",
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\"}}]}\n\n",
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
	    "data: {\"choices\":[{\"index\":0,\"text\":\"legacy\",\"finish_reason\":null}]}\n\n",
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"f\"}}}]}\n\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chat_stream *cs = chat_stream_new(NULL);
		struct sink sk;
		struct err err;
		sink_init(&sk);
		/* a role-only chunk and an empty tool_calls array are not tokens */
		const char pre[] =
		    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
		    "\"tool_calls\":[]}}]}\n\n";
		chat_stream_feed(cs, pre, strlen(pre), 5, sink_write, &sk, &err);
		assert_false(chat_stream_info(cs)->first_token);
		chat_stream_feed(cs, cases[i], strlen(cases[i]), 7, sink_write, &sk, &err);
		assert_true(chat_stream_info(cs)->first_token);
		assert_int_equal(chat_stream_info(cs)->first_token_ns, 7);
		chat_stream_free(cs);
		buf_fini(&sk.out);
	}
}

static void test_garbage_and_comments(void **state)
{
	(void)state;
	const char s[] =
	    ": ping\n"
	    "data: not json\n\n"
	    "data: [1,2]\n\n"
	    "data: {\"truncated\":\n\n"
	    "retry: 5\n\n"
	    "\n"
	    "data: {\"id\":\"g\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"
	    "data: {\"half\"\n\n"
	    "data: [DONE]\n\n";
	struct chat_stream *cs = chat_stream_new(NULL);
	struct sink sk;
	sink_init(&sk);
	assert_int_equal(relay(cs, s, strlen(s), NULL, 0, &sk), 0);
	assert_int_equal(sk.out.len, strlen(s));
	assert_memory_equal(sk.out.data, s, strlen(s));
	const struct chat_stream_info *in = chat_stream_info(cs);
	assert_int_equal(in->comments, 1);
	assert_int_equal(in->events, 6);
	assert_int_equal(in->non_json, 4); /* the unparsed one after the first token fails the shape check */
	assert_true(in->done);
	chat_stream_free(cs);
	buf_fini(&sk.out);
}

static void test_oversize_then_fail(void **state)
{
	(void)state;
	struct chat_stream_opts o = {.max_event = 128};
	struct chat_stream *cs = chat_stream_new(&o);
	struct sink sk;
	struct err err;
	char big[300];
	sink_init(&sk);
	const char ok[] = "data: {\"choices\":[]}\n\n";
	memcpy(big, ok, strlen(ok));
	memcpy(big + strlen(ok), "data: ", 6);
	memset(big + strlen(ok) + 6, 'x', sizeof(big) - strlen(ok) - 6);
	assert_int_equal(chat_stream_feed(cs, big, sizeof(big), 1, sink_write, &sk, &err), -1);
	assert_int_equal(err.code, EMSGSIZE);
	assert_int_equal(sk.out.len, strlen(ok)); /* what came before still went out */
	assert_int_equal(chat_stream_feed(cs, "\n\n", 2, 2, sink_write, &sk, &err), -1);
	assert_int_equal(chat_stream_fail(cs, "the provider sent an event over 128 bytes", sink_write, &sk), 1);
	assert_non_null(strstr(sk.out.data + strlen(ok), "over 128 bytes"));
	chat_stream_free(cs);
	buf_fini(&sk.out);

	/* write failure mid-feed */
	cs = chat_stream_new(NULL);
	sink_init(&sk);
	sk.fail_after = 0;
	assert_int_equal(chat_stream_feed(cs, ok, strlen(ok), 1, sink_write, &sk, &err), -1);
	assert_int_equal(err.code, EPIPE);
	chat_stream_free(cs);
	buf_fini(&sk.out);
	chat_stream_free(NULL);
}

static int parse_one(const struct sse_event *ev, void *arg)
{
	json_error_t jerr;
	if (ev->kind != SSE_EVENT)
		return 0;
	json_t *j = json_loadb(ev->data, ev->data_len, 0, &jerr);
	assert_non_null(j);
	*(json_t **)arg = j;
	return 0;
}

static void test_error_event_builder(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	/* quotes, a newline, a control byte and invalid UTF-8 still make one valid event */
	const char msg[] = "bad \"thing\"\nnext\x01 \xff end";
	assert_int_equal(chat_stream_error_event(&b, msg), 0);
	assert_int_equal(memcmp(b.data, "data: {", 7), 0);
	assert_int_equal(memcmp(b.data + b.len - 3, "}\n\n", 3), 0);
	assert_null(memchr(b.data, '\n', b.len - 2));
	struct sse *p = sse_new(0);
	json_t *j = NULL;
	struct err err;
	assert_int_equal(sse_feed(p, b.data, b.len, parse_one, &j, &err), 0);
	assert_int_equal(sse_pending(p), 0);
	assert_non_null(j);
	json_t *e = json_object_get(j, "error");
	assert_string_equal(json_string_value(json_object_get(e, "type")), "api_error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "upstream_stream_error");
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "bad \"thing\"\nnext"));
	json_decref(j);
	sse_free(p);
	buf_fini(&b);

	/* full buffer: unchanged */
	buf_init(&b, 32);
	buf_puts(&b, "keep");
	assert_int_equal(chat_stream_error_event(&b, "a message that will not fit in 32 bytes"), -1);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_byte_by_byte_and_crlf),
	    cmocka_unit_test(test_usage_chunk_kept_when_not_usage_only),
	    cmocka_unit_test(test_ends),
	    cmocka_unit_test(test_fail_mid_stream),
	    cmocka_unit_test(test_upstream_error_event),
	    cmocka_unit_test(test_first_token_kinds),
	    cmocka_unit_test(test_garbage_and_comments),
	    cmocka_unit_test(test_oversize_then_fail),
	    cmocka_unit_test(test_error_event_builder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
