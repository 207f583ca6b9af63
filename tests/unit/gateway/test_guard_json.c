/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/guard_json: which strings of a request, an answer
 * and a stream chunk the rules read, that nothing matching leaves the
 * bytes alone, that redaction rewrites only those strings (other members
 * and non-text parts kept), deny verdicts, logprobs dropped with redacted
 * text, and streams: a match cut across chunks is redacted, held text is
 * released at the finish chunk or flushed before [DONE], several choices
 * are held apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/guard_json.h"

static struct guard_rule rules[3];
static struct guard_ctx ctx;
static struct guard_scratch scratch;

static void rule(size_t i, const char *name, enum guard_kind kind, const char *pattern, enum guard_action action)
{
	struct err err;
	memset(&rules[i], 0, sizeof(rules[i]));
	rules[i].name = strdup(name);
	rules[i].kind = kind;
	rules[i].pattern = pattern != NULL ? strdup(pattern) : NULL;
	rules[i].action = action;
	rules[i].stages = GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT;
	assert_int_equal(guard_rule_init(&rules[i], 1, &err), 0);
}

static int setup(void **state)
{
	(void)state;
	rule(0, "mail", GUARD_KIND_EMAIL, NULL, GUARD_REDACT);
	rule(1, "pan", GUARD_KIND_CARD, NULL, GUARD_REDACT);
	rule(2, "stop", GUARD_KIND_REGEX, "forbidden", GUARD_DENY);
	ctx = (struct guard_ctx){rules, 3, 7, 0};
	memset(&scratch, 0, sizeof(scratch));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		guard_rule_fini(&rules[i]);
	guard_scratch_fini(&scratch);
	return 0;
}

static json_t *load(const struct buf *b)
{
	json_t *j = json_loadb(b->data, b->len, 0, NULL);
	assert_non_null(j);
	return j;
}

static const char *path_str(json_t *root, const char *fmt, ...)
{
	/* a tiny path walker: "messages.1.content.0.text" */
	char p[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	json_t *cur = root;
	for (char *save = NULL, *tok = strtok_r(p, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save))
		cur = (tok[0] >= '0' && tok[0] <= '9') ? json_array_get(cur, strtoul(tok, NULL, 10))
						       : json_object_get(cur, tok);
	return json_string_value(cur);
}

static void test_request_chat(void **state)
{
	(void)state;
	static const char body[] =
	    "{\"model\":\"m\",\"temperature\":0.25,\"messages\":[{\"role\":\"system\",\"content\":\"mail a@b.com\"},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"card 4111 1111 1111 1111\"},"
	    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/a@b.com\"}}]}],\"user\":\"u@v.com\"}";
	struct buf out;
	struct guard_verdict v;
	buf_init(&out, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_json_request(&ctx, &scratch, GUARD_JSON_CHAT, body, sizeof(body) - 1, &out, &v),
			 GUARD_JSON_REDACTED);
	assert_true(v.redacted);
	assert_int_equal(v.fired, 3);
	json_t *j = load(&out);
	assert_string_equal(path_str(j, "messages.0.content"), "mail [REDACTED:email]");
	assert_string_equal(path_str(j, "messages.1.content.0.text"), "card [REDACTED:card]");
	assert_string_equal(path_str(j, "messages.1.content.1.image_url.url"), "http://x/a@b.com");
	assert_string_equal(path_str(j, "user"), "u@v.com"); /* not text the provider answers */
	assert_true(json_real_value(json_object_get(j, "temperature")) == 0.25);
	json_decref(j);
	buf_fini(&out);
}

static void test_request_pass_and_deny(void **state)
{
	(void)state;
	static const char ok[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
	static const char bad[] =
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a@b.com is forbidden\"}]}";
	struct buf out;
	struct guard_verdict v;
	buf_init(&out, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_json_request(&ctx, &scratch, GUARD_JSON_CHAT, ok, sizeof(ok) - 1, &out, &v),
			 GUARD_JSON_PASS);
	assert_int_equal(out.len, 0);
	assert_int_equal(v.fired, 0);
	assert_int_equal(guard_json_request(&ctx, &scratch, GUARD_JSON_CHAT, bad, sizeof(bad) - 1, &out, &v),
			 GUARD_JSON_DENIED);
	assert_int_equal(v.deny_rule, 2);
	assert_int_equal(out.len, 0);
	/* no rules: nothing is even scanned */
	struct guard_ctx none = ctx;
	none.mask = 0;
	guard_verdict_init(&v);
	assert_int_equal(guard_json_request(&none, &scratch, GUARD_JSON_CHAT, bad, sizeof(bad) - 1, &out, &v),
			 GUARD_JSON_PASS);
	buf_fini(&out);
}

static void test_request_prompt_input(void **state)
{
	(void)state;
	static const char cmp[] = "{\"model\":\"m\",\"prompt\":[\"x\",\"to a@b.com\"]}";
	static const char emb[] = "{\"model\":\"m\",\"input\":\"4111111111111111\"}";
	struct buf out;
	struct guard_verdict v;
	buf_init(&out, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_json_request(&ctx, &scratch, GUARD_JSON_COMPLETIONS, cmp, sizeof(cmp) - 1, &out, &v),
			 GUARD_JSON_REDACTED);
	json_t *j = load(&out);
	assert_string_equal(path_str(j, "prompt.1"), "to [REDACTED:email]");
	assert_string_equal(path_str(j, "prompt.0"), "x");
	json_decref(j);
	buf_reset(&out);
	assert_int_equal(guard_json_request(&ctx, &scratch, GUARD_JSON_EMBEDDINGS, emb, sizeof(emb) - 1, &out, &v),
			 GUARD_JSON_REDACTED);
	j = load(&out);
	assert_string_equal(path_str(j, "input"), "[REDACTED:card]");
	json_decref(j);
	buf_fini(&out);
}

static void test_response(void **state)
{
	(void)state;
	static const char body[] =
	    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Reach me at "
	    "me@x.org\"},\"logprobs\":{\"content\":[]},\"finish_reason\":\"stop\"},"
	    "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"fine\"},\"logprobs\":{\"content\":[]},"
	    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3}}";
	static const char legacy[] = "{\"choices\":[{\"text\":\"me@x.org\",\"index\":0}]}";
	static const char denied[] = "{\"choices\":[{\"message\":{\"content\":\"forbidden\"}}]}";
	struct buf out;
	struct guard_verdict v;
	buf_init(&out, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_json_response(&ctx, &scratch, body, sizeof(body) - 1, &out, &v), GUARD_JSON_REDACTED);
	json_t *j = load(&out);
	assert_string_equal(path_str(j, "choices.0.message.content"), "Reach me at [REDACTED:email]");
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs")));
	assert_true(json_is_object(json_object_get(json_array_get(json_object_get(j, "choices"), 1), "logprobs")));
	assert_string_equal(path_str(j, "id"), "c1");
	json_decref(j);
	buf_reset(&out);
	assert_int_equal(guard_json_response(&ctx, &scratch, legacy, sizeof(legacy) - 1, &out, &v),
			 GUARD_JSON_REDACTED);
	j = load(&out);
	assert_string_equal(path_str(j, "choices.0.text"), "[REDACTED:email]");
	json_decref(j);
	buf_reset(&out);
	assert_int_equal(guard_json_response(&ctx, &scratch, denied, sizeof(denied) - 1, &out, &v), GUARD_JSON_DENIED);
	assert_int_equal(guard_json_response(&ctx, &scratch, "[1]", 3, &out, &v), GUARD_JSON_PASS);
	buf_fini(&out);
}

/* ---- streams ------------------------------------------------------------------------------------ */

#define CHUNK(i, content, fin)                                                                                         \
	"{\"id\":\"s1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m1\",\"choices\":[{"            \
	"\"index\":" i ",\"delta\":{\"content\":" content "},\"logprobs\":null,\"finish_reason\":" fin "}]}"

/* What the client reads out of one data payload (as forwarded or as rewritten). */
static void collect(const char *payload, size_t n, int rc, const struct buf *out, struct buf *text, size_t choice)
{
	json_t *j;
	if (rc == GUARD_JSON_PASS) {
		j = json_loadb(payload, n, 0, NULL);
	} else {
		assert_int_equal(rc, GUARD_JSON_REDACTED);
		assert_memory_equal(out->data, "data: ", 6);
		assert_memory_equal(out->data + out->len - 2, "\n\n", 2);
		j = json_loadb(out->data + 6, out->len - 8, 0, NULL);
	}
	assert_non_null(j);
	json_t *ch;
	size_t i;
	json_array_foreach(json_object_get(j, "choices"), i, ch)
	{
		json_t *idx = json_object_get(ch, "index");
		const char *s = json_string_value(json_object_get(json_object_get(ch, "delta"), "content"));
		if (s != NULL && (size_t)json_integer_value(idx) == choice)
			buf_puts(text, s);
		assert_true(json_is_null(json_object_get(ch, "logprobs")) || json_object_get(ch, "logprobs") == NULL);
	}
	json_decref(j);
}

static void test_sse_split_match(void **state)
{
	(void)state;
	const char *chunks[] = {CHUNK("0", "\"mail a\"", "null"), CHUNK("0", "\"@b.c\"", "null"),
				CHUNK("0", "\"om now\"", "null"), CHUNK("0", "null", "\"stop\"")};
	struct guard_sse *g = guard_sse_new(&ctx);
	struct buf out, text;
	struct guard_verdict v;
	buf_init(&out, 0);
	buf_init(&text, 0);
	guard_verdict_init(&v);
	for (size_t i = 0; i < 4; i++) {
		buf_reset(&out);
		int rc = guard_sse_chunk(g, chunks[i], strlen(chunks[i]), &out, &v);
		collect(chunks[i], strlen(chunks[i]), rc, &out, &text, 0);
	}
	buf_reset(&out);
	assert_int_equal(guard_sse_flush(g, &out, &v), GUARD_JSON_PASS); /* the finish chunk released everything */
	assert_string_equal(text.data, "mail [REDACTED:email] now");
	assert_null(strstr(text.data, "a@b"));
	guard_sse_free(g);
	buf_fini(&out);
	buf_fini(&text);
}

static void test_sse_flush_and_pass(void **state)
{
	(void)state;
	const char *plain = CHUNK("0", "\"hello \"", "null");
	const char *open = CHUNK("0", "\"write x@y.com\"", "null");
	struct guard_ctx builtin = ctx;
	builtin.mask = 3; /* the detectors hold back only the word being written (a regex rule holds max_match) */
	struct guard_sse *g = guard_sse_new(&builtin);
	struct buf out, text;
	struct guard_verdict v;
	buf_init(&out, 0);
	buf_init(&text, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_sse_chunk(g, plain, strlen(plain), &out, &v), GUARD_JSON_PASS);
	assert_int_equal(out.len, 0);
	assert_int_equal(guard_sse_chunk(g, open, strlen(open), &out, &v), GUARD_JSON_REDACTED);
	collect(open, strlen(open), GUARD_JSON_REDACTED, &out, &text, 0);
	assert_string_equal(text.data, "write ");
	/* [DONE] without a finish reason: the held address goes out redacted in a chunk of its own */
	buf_reset(&out);
	assert_int_equal(guard_sse_flush(g, &out, &v), GUARD_JSON_REDACTED);
	collect(NULL, 0, GUARD_JSON_REDACTED, &out, &text, 0);
	assert_string_equal(text.data, "write [REDACTED:email]");
	json_t *j = json_loadb(out.data + 6, out.len - 8, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "s1");
	assert_string_equal(json_string_value(json_object_get(j, "model")), "m1");
	assert_int_equal(json_integer_value(json_object_get(j, "created")), 7);
	json_decref(j);
	/* not JSON, no choices: untouched */
	assert_int_equal(guard_sse_chunk(g, "[DONE]", 6, &out, &v), GUARD_JSON_PASS);
	assert_int_equal(guard_sse_chunk(g, "{\"choices\":[],\"usage\":{}}", 26, &out, &v), GUARD_JSON_PASS);
	guard_sse_free(g);
	buf_fini(&out);
	buf_fini(&text);
}

static void test_sse_deny_and_choices(void **state)
{
	(void)state;
	const char *a = CHUNK("0", "\"this is forb\"", "null");
	const char *b = CHUNK("0", "\"idden\"", "\"stop\"");
	const char *two = "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b@c.\"}},{\"index\":0,\"delta\":{"
			  "\"content\":\"ok \"}}]}";
	const char *two_end = "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"io\"},\"finish_reason\":\"stop\"}]}";
	struct guard_sse *g = guard_sse_new(&ctx);
	struct buf out, t0, t1;
	struct guard_verdict v;
	buf_init(&out, 0);
	buf_init(&t0, 0);
	buf_init(&t1, 0);
	guard_verdict_init(&v);
	int rc = guard_sse_chunk(g, a, strlen(a), &out, &v);
	assert_true(rc == GUARD_JSON_PASS || rc == GUARD_JSON_REDACTED);
	assert_null(strstr(out.data != NULL ? out.data : "", "forb"));
	assert_int_equal(guard_sse_chunk(g, b, strlen(b), &out, &v), GUARD_JSON_DENIED);
	assert_int_equal(v.deny_rule, 2);
	guard_sse_free(g);
	/* two choices, each with its own hold */
	struct guard_ctx builtin = ctx;
	builtin.mask = 3;
	g = guard_sse_new(&builtin);
	guard_verdict_init(&v);
	buf_reset(&out);
	rc = guard_sse_chunk(g, two, strlen(two), &out, &v);
	collect(two, strlen(two), rc, &out, &t0, 0);
	collect(two, strlen(two), rc, &out, &t1, 1);
	buf_reset(&out);
	rc = guard_sse_chunk(g, two_end, strlen(two_end), &out, &v);
	collect(two_end, strlen(two_end), rc, &out, &t1, 1);
	assert_string_equal(t0.data, "ok ");
	assert_string_equal(t1.data, "[REDACTED:email]");
	/* a choice index past the bound is refused */
	static const char far[] = "{\"choices\":[{\"index\":500,\"delta\":{\"content\":\"x\"}}]}";
	assert_int_equal(guard_sse_chunk(g, far, sizeof(far) - 1, &out, &v), -1);
	guard_sse_free(g);
	buf_fini(&out);
	buf_fini(&t0);
	buf_fini(&t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request_chat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_pass_and_deny, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_prompt_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sse_split_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sse_flush_and_pass, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sse_deny_and_choices, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
