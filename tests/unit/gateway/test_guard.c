/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/guard: the Luhn check, each detector (what it
 * takes and what it leaves), regex rules (case, anchors, UTF-8 edges,
 * empty and invalid patterns), merging several rules, deny verdicts, and
 * streaming redaction: at every split point of a text (one and two cuts,
 * and byte by byte) the released text equals the whole-text redaction,
 * and the hold-back keeps only what could still become a match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/guard.h"

static struct guard_rule rules[8];
static size_t nrules;

static unsigned add_rule(const char *name, enum guard_kind kind, const char *pattern, enum guard_action action,
			 const char *replacement)
{
	struct guard_rule *r = &rules[nrules];
	struct err err;
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->kind = kind;
	r->pattern = pattern != NULL ? strdup(pattern) : NULL;
	r->action = action;
	r->stages = GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT;
	r->replacement = replacement != NULL ? strdup(replacement) : NULL;
	assert_int_equal(guard_rule_init(r, 2, &err), 0);
	return (unsigned)nrules++;
}

static int setup(void **state)
{
	(void)state;
	nrules = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < nrules; i++)
		guard_rule_fini(&rules[i]);
	nrules = 0;
	return 0;
}

static struct guard_ctx ctx_of(guard_mask mask)
{
	return (struct guard_ctx){rules, nrules, mask, 1};
}

/* Whole-text result of mask over text: the redacted text, or the input itself when nothing matched. */
static char *whole(guard_mask mask, const char *text, struct guard_verdict *v)
{
	struct guard_ctx c = ctx_of(mask);
	struct guard_scratch s = {0};
	struct buf out;
	buf_init(&out, 0);
	guard_verdict_init(v);
	int rc = guard_text(&c, &s, text, strlen(text), &out, v);
	assert_true(rc >= 0);
	if (rc == 0 && v->deny_rule < 0)
		buf_puts(&out, text);
	guard_scratch_fini(&s);
	buf_puts(&out, "");
	return out.data;
}

static void expect_whole(guard_mask mask, const char *in, const char *want)
{
	struct guard_verdict v;
	char *got = whole(mask, in, &v);
	assert_string_equal(got, want);
	free(got);
}

/* ---- detectors ---------------------------------------------------------------------------------- */

static void test_luhn(void **state)
{
	(void)state;
	assert_true(guard_luhn("4111111111111111", 16));
	assert_true(guard_luhn("4111 1111 1111 1111", 19));
	assert_true(guard_luhn("5500-0055-5555-5559", 19));
	assert_true(guard_luhn("378282246310005", 15));
	assert_true(guard_luhn("6011111111111117", 16));
	assert_false(guard_luhn("4111111111111112", 16));
	assert_false(guard_luhn("1234567812345678", 16));
	assert_false(guard_luhn("", 0));
	assert_false(guard_luhn("--", 2));
}

static void test_email(void **state)
{
	(void)state;
	guard_mask m = (guard_mask)1 << add_rule("mail", GUARD_KIND_EMAIL, NULL, GUARD_REDACT, NULL);
	expect_whole(m, "write to jane.doe+x@mail.example.com today", "write to [REDACTED:email] today");
	expect_whole(m, "end: a@b.co.", "end: [REDACTED:email].");
	expect_whole(m, "two a@b.io,c_d@e-f.org", "two [REDACTED:email],[REDACTED:email]");
	expect_whole(m, "(x@y.info)", "([REDACTED:email])");
	/* not addresses */
	expect_whole(m, "a@b", "a@b");
	expect_whole(m, "user@localhost", "user@localhost");
	expect_whole(m, "@example.com", "@example.com");
	expect_whole(m, "a@b.c", "a@b.c");
	expect_whole(m, "a@b..com", "a@b..com");
	expect_whole(m, "a@b.c0m", "a@b.c0m");
	expect_whole(m, "no at sign here.com", "no at sign here.com");
	/* a leading dot is not part of the local part */
	expect_whole(m, ".x@y.com", ".[REDACTED:email]");
}

static void test_card(void **state)
{
	(void)state;
	guard_mask m = (guard_mask)1 << add_rule("pan", GUARD_KIND_CARD, NULL, GUARD_REDACT, "####");
	expect_whole(m, "card 4111111111111111 ok", "card #### ok");
	expect_whole(m, "card 4111 1111 1111 1111.", "card ####.");
	expect_whole(m, "card 5500-0055-5555-5559", "card ####");
	expect_whole(m, "amex 378282246310005!", "amex ####!");
	/* Luhn fails, too short, too long, double separators: left alone */
	expect_whole(m, "4111111111111112", "4111111111111112");
	expect_whole(m, "411111111111", "411111111111");
	expect_whole(m, "41111111111111111111111", "41111111111111111111111");
	expect_whole(m, "4111  1111  1111  1111", "4111  1111  1111  1111");
	/* a run joined to more digits by a separator is one longer run */
	expect_whole(m, "1 4111111111111111", "1 4111111111111111");
	expect_whole(m, "phone 555-0100 and 4111111111111111", "phone 555-0100 and ####");
}

static void test_api_key(void **state)
{
	(void)state;
	guard_mask m = (guard_mask)1 << add_rule("keys", GUARD_KIND_API_KEY, NULL, GUARD_REDACT, NULL);
	expect_whole(m, "key=sk-proj-abcdefghijklmnopqrstuvwx end", "key=[REDACTED:api_key] end");
	expect_whole(m, "AKIAIOSFODNN7EXAMPLE", "[REDACTED:api_key]");
	expect_whole(m, "use ghp_0123456789abcdefghijklmnopqrstuvwxyz.", "use [REDACTED:api_key].");
	expect_whole(m, "sk_live_0123456789abcdef0", "[REDACTED:api_key]");
	expect_whole(m, "xoxb-1234567890-abc", "[REDACTED:api_key]");
	/* too short, inside a longer word, or not a known prefix */
	expect_whole(m, "sk-short", "sk-short");
	expect_whole(m, "task-abcdefghijklmnopqrstuvwxyz", "task-abcdefghijklmnopqrstuvwxyz");
	expect_whole(m, "zz-abcdefghijklmnopqrstuvwxyzabc", "zz-abcdefghijklmnopqrstuvwxyzabc");
	/* longer than 256 bytes: not a key shape */
	char big[300];
	memcpy(big, "sk-", 3);
	memset(big + 3, 'a', 270);
	big[273] = '\0';
	expect_whole(m, big, big);
}

/* ---- regex rules -------------------------------------------------------------------------------- */

static void test_regex(void **state)
{
	(void)state;
	guard_mask m = (guard_mask)1 << add_rule("proj", GUARD_KIND_REGEX, "project-[0-9]+", GUARD_REDACT, NULL);
	expect_whole(m, "see project-42 and project-7", "see [REDACTED:proj] and [REDACTED:proj]");
	expect_whole(m, "Project-42", "Project-42");
	struct guard_rule *r = &rules[nrules];
	struct err err;
	memset(r, 0, sizeof(*r));
	r->name = strdup("ci");
	r->pattern = strdup("secret");
	r->icase = true;
	r->action = GUARD_REDACT;
	r->stages = GUARD_STAGE_INPUT;
	assert_int_equal(guard_rule_init(r, 1, &err), 0);
	guard_mask ci = (guard_mask)1 << nrules++;
	expect_whole(ci, "a SeCrEt b", "a [REDACTED:ci] b");
	/* anchors: ^ only at the start of the whole text */
	guard_mask a = (guard_mask)1 << add_rule("anch", GUARD_KIND_REGEX, "^hi", GUARD_REDACT, "X");
	expect_whole(a, "hi hi", "X hi");
}

static void test_regex_bad(void **state)
{
	(void)state;
	struct guard_rule r;
	struct err err;
	memset(&r, 0, sizeof(r));
	r.name = strdup("bad");
	r.pattern = strdup("a(");
	assert_int_equal(guard_rule_init(&r, 1, &err), -1);
	assert_non_null(strstr(err.msg, "invalid regular expression"));
	guard_rule_fini(&r);
	memset(&r, 0, sizeof(r));
	r.name = strdup("empty");
	r.pattern = strdup("x*");
	assert_int_equal(guard_rule_init(&r, 1, &err), -1);
	assert_non_null(strstr(err.msg, "empty string"));
	guard_rule_fini(&r);
}

static void test_regex_utf8(void **state)
{
	(void)state;
	/* the gateway runs in the C locale: '.' is one byte, so "x.y" does not span a two-byte character */
	guard_mask m = (guard_mask)1 << add_rule("dot", GUARD_KIND_REGEX, "x.y", GUARD_REDACT, "_");
	expect_whole(m, "ax\xc3\xa9y b", "ax\xc3\xa9y b");
	guard_mask m1 = (guard_mask)1 << add_rule("dots", GUARD_KIND_REGEX, "x..y", GUARD_REDACT, "_");
	expect_whole(m1, "ax\xc3\xa9y b", "a_ b");
	/* a match that starts or ends inside a character is widened to the whole character */
	guard_mask m2 = (guard_mask)1 << add_rule("hi", GUARD_KIND_REGEX, "\xa9", GUARD_REDACT, "_");
	expect_whole(m2, "caf\xc3\xa9!", "caf_!");
}

static void test_merge_and_deny(void **state)
{
	(void)state;
	unsigned e = add_rule("mail", GUARD_KIND_EMAIL, NULL, GUARD_REDACT, NULL);
	unsigned w = add_rule("word", GUARD_KIND_REGEX, "ample", GUARD_REDACT, "<w>");
	unsigned d = add_rule("stop", GUARD_KIND_REGEX, "forbidden", GUARD_DENY, NULL);
	guard_mask both = ((guard_mask)1 << e) | ((guard_mask)1 << w);
	/* the e-mail starts first and covers "ample": one replacement */
	expect_whole(both, "x@example.com, sample", "[REDACTED:email], s<w>");
	struct guard_verdict v;
	char *got = whole(both | ((guard_mask)1 << d), "a@b.com is forbidden", &v);
	assert_int_equal(v.deny_rule, (int)d);
	assert_true(v.fired & ((guard_mask)1 << e));
	assert_string_equal(got, "");
	free(got);
	got = whole(both, "nothing here", &v);
	assert_int_equal(v.fired, 0);
	assert_false(v.redacted);
	free(got);
	assert_int_equal(guard_mask_stage(rules, nrules, ~(guard_mask)0, GUARD_STAGE_OUTPUT), 7);
}

/* ---- streams ------------------------------------------------------------------------------------ */

/* Feeds text cut at the given points; returns what was released. */
static char *stream(guard_mask mask, const char *text, const size_t *cuts, size_t ncuts, struct guard_verdict *v)
{
	struct guard_ctx c = ctx_of(mask);
	struct guard_scratch s = {0};
	struct guard_hold h;
	struct buf out;
	size_t at = 0, n = strlen(text);
	guard_hold_init(&h);
	buf_init(&out, 0);
	guard_verdict_init(v);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		assert_int_equal(guard_stream_push(&c, &s, &h, text + at, to - at, i == ncuts, &out, v), 0);
		if (v->deny_rule >= 0)
			break;
		at = to;
	}
	guard_hold_fini(&h);
	guard_scratch_fini(&s);
	buf_puts(&out, "");
	return out.data;
}

static void check_all_splits(guard_mask mask, const char *text)
{
	struct guard_verdict vw, vs;
	char *want = whole(mask, text, &vw);
	size_t n = strlen(text);
	for (size_t i = 0; i <= n; i++) {
		char *got = stream(mask, text, &i, 1, &vs);
		if (vw.deny_rule < 0) {
			if (strcmp(got, want) != 0)
				fail_msg("split at %zu of \"%s\": got \"%s\", want \"%s\"", i, text, got, want);
		}
		assert_int_equal(vs.deny_rule, vw.deny_rule);
		free(got);
		for (size_t j = i; j <= n && n <= 80; j++) {
			size_t cuts[2] = {i, j};
			got = stream(mask, text, cuts, 2, &vs);
			if (vw.deny_rule < 0 && strcmp(got, want) != 0)
				fail_msg("splits at %zu,%zu of \"%s\": got \"%s\", want \"%s\"", i, j, text, got, want);
			free(got);
		}
	}
	size_t *bytes = calloc(n + 1, sizeof(*bytes));
	for (size_t i = 0; i < n; i++)
		bytes[i] = i + 1;
	char *got = stream(mask, text, bytes, n > 0 ? n - 1 : 0, &vs);
	if (vw.deny_rule < 0)
		assert_string_equal(got, want);
	free(got);
	free(bytes);
	free(want);
}

static void test_stream_splits(void **state)
{
	(void)state;
	unsigned e = add_rule("mail", GUARD_KIND_EMAIL, NULL, GUARD_REDACT, NULL);
	unsigned c = add_rule("pan", GUARD_KIND_CARD, NULL, GUARD_REDACT, "####");
	unsigned k = add_rule("key", GUARD_KIND_API_KEY, NULL, GUARD_REDACT, NULL);
	unsigned r = add_rule("proj", GUARD_KIND_REGEX, "project-[0-9]{1,4}", GUARD_REDACT, "P");
	const char *texts[] = {
	    "mail bob@corp.example.com now",
	    "a@b.io",
	    "pay 4111 1111 1111 1111 thanks",
	    "4111111111111111",
	    "key sk-abcdefghijklmnopqrstuvwxyz0123 done",
	    "see project-1234 and project-9",
	    "x@y.com 4111-1111-1111-1111 sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa project-77",
	    "caf\xc3\xa9 \xe2\x82\xac project-5 \xf0\x9f\x98\x80",
	    "no matches at all, just prose.",
	};
	guard_mask one[] = {(guard_mask)1 << e, (guard_mask)1 << c, (guard_mask)1 << k, (guard_mask)1 << r};
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		for (size_t i = 0; i < 4; i++)
			check_all_splits(one[i], texts[t]);
		check_all_splits(one[0] | one[1] | one[2] | one[3], texts[t]);
	}
}

static void test_stream_deny(void **state)
{
	(void)state;
	unsigned d = add_rule("stop", GUARD_KIND_REGEX, "forbidden", GUARD_DENY, NULL);
	check_all_splits((guard_mask)1 << d, "this is forbidden text");
	struct guard_verdict v;
	size_t cut = 12;
	char *got = stream((guard_mask)1 << d, "this is forbidden text", &cut, 1, &v);
	assert_int_equal(v.deny_rule, (int)d);
	assert_null(strstr(got, "forbidden")); /* the matched text never leaves */
	free(got);
}

/* What is held back: only the word being written for detectors, max_match for a regex. */
static void test_stream_hold(void **state)
{
	(void)state;
	unsigned e = add_rule("mail", GUARD_KIND_EMAIL, NULL, GUARD_REDACT, NULL);
	unsigned k = add_rule("key", GUARD_KIND_API_KEY, NULL, GUARD_REDACT, NULL);
	unsigned r = add_rule("proj", GUARD_KIND_REGEX, "p-[0-9]+", GUARD_REDACT, NULL);
	rules[r].max_match = 8;
	struct guard_ctx c = ctx_of(((guard_mask)1 << e) | ((guard_mask)1 << k));
	struct guard_scratch s = {0};
	struct guard_hold h;
	struct guard_verdict v;
	struct buf out;
	guard_hold_init(&h);
	buf_init(&out, 0);
	guard_verdict_init(&v);
	assert_int_equal(guard_stream_push(&c, &s, &h, "Hello there, ", 13, false, &out, &v), 0);
	assert_int_equal(out.len, 13); /* prose is released at once */
	assert_int_equal(guard_stream_push(&c, &s, &h, "mail me at bob", 14, false, &out, &v), 0);
	assert_string_equal(out.data, "Hello there, mail me at ");
	assert_string_equal(h.held.data, "bob");
	/* "hello" cannot start a key; "sk" can */
	assert_int_equal(guard_stream_push(&c, &s, &h, "@x.com sk", 9, false, &out, &v), 0);
	assert_string_equal(out.data, "Hello there, mail me at [REDACTED:email] ");
	assert_string_equal(h.held.data, "sk");
	assert_int_equal(guard_stream_push(&c, &s, &h, "y is blue", 9, true, &out, &v), 0);
	assert_string_equal(out.data, "Hello there, mail me at [REDACTED:email] sky is blue");
	assert_int_equal(h.held.len, 0);
	guard_hold_fini(&h);
	/* a regex rule holds max_match bytes, plus 3 for widening to whole characters */
	c = ctx_of((guard_mask)1 << r);
	guard_hold_init(&h);
	buf_reset(&out);
	assert_int_equal(guard_stream_push(&c, &s, &h, "0123456789abcdef", 16, false, &out, &v), 0);
	assert_int_equal(out.len, 5);
	assert_int_equal(h.held.len, 11);
	guard_hold_fini(&h);
	guard_scratch_fini(&s);
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_luhn),
	    cmocka_unit_test_setup_teardown(test_email, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_card, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_api_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_regex, setup, teardown),
	    cmocka_unit_test(test_regex_bad),
	    cmocka_unit_test_setup_teardown(test_regex_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_and_deny, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_splits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_deny, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_hold, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
