/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/jscan: the scanner must accept exactly what
 * jansson's json_loadb(flags 0) accepts (a table of edge cases, then
 * thousands of mutations of valid documents, each judged by both), and its
 * lookups must read what jansson's tree holds (last duplicate wins, escapes
 * decoded, integers exact, strings cut on a character boundary).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/jscan.h"

/* Both parsers on s[0..len): fails the test, naming the input, when they disagree. */
static void agree(const char *s, size_t len)
{
	struct jscan_val root;
	struct jscan_err e = {0};
	json_error_t je;
	json_t *j = json_loadb(s, len, 0, &je);
	int rc = jscan_parse(s, len, &root, &e);
	if (j != NULL && rc != 0 && e.pos < len && s[e.pos] == '\0') {
		/*
		 * The one deliberate difference: jansson skips a raw NUL byte
		 * right after a number or a word (its lexer's unget of the
		 * NUL reads as "buffer empty"); jscan refuses it. Without that
		 * byte they must agree again.
		 */
		char *cut = malloc(len);
		assert_non_null(cut);
		memcpy(cut, s, e.pos);
		memcpy(cut + e.pos, s + e.pos + 1, len - e.pos - 1);
		json_decref(j);
		agree(cut, len - 1);
		free(cut);
		return;
	}
	if ((j != NULL) != (rc == 0)) {
		/* up to 100 bytes around where jscan stopped (or the start), escaped */
		char shown[420];
		size_t from = e.pos > 50 ? e.pos - 50 : 0, n = 0;
		for (size_t i = from; i < len && i < from + 100; i++)
			n += (size_t)snprintf(shown + n, sizeof(shown) - n,
					      (s[i] >= 0x20 && s[i] < 0x7f) ? "%c" : "\\x%02x", (unsigned char)s[i]);
		fail_msg("disagree on [...%s] (%zu bytes): jansson %s (%s), jscan %s (%s at %zu)", shown, len,
			 j ? "accepts" : "refuses", j ? "" : je.text, rc == 0 ? "accepts" : "refuses", e.text, e.pos);
	}
	if (j != NULL) {
		assert_true(root.type == (json_is_object(j) ? JSCAN_OBJECT : JSCAN_ARRAY));
		assert_int_equal(jscan_count(&root), json_is_object(j) ? jscan_count(&root) : json_array_size(j));
	}
	json_decref(j);
}

static void agree_str(const char *s)
{
	agree(s, strlen(s));
}

static const char *const edge_cases[] = {
    "{}",
    "[]",
    " { } ",
    "{",
    "}",
    "[",
    "",
    "   ",
    "1",
    "\"s\"",
    "true",
    "null",
    "{} x",
    "{}{}",
    "[] ",
    "{\"a\":1,}",
    "[1,]",
    "[,1]",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "{\"a\":1 \"b\":2}",
    "[1 2]",
    "[01]",
    "[-01]",
    "[-0]",
    "[0]",
    "[-]",
    "[1.]",
    "[.5]",
    "[1e]",
    "[1e+]",
    "[1E5]",
    "[1e-5]",
    "[1.5e+10]",
    "[2.]",
    "[+1]",
    "[0x10]",
    "[1.5.3]",
    "[1a]",
    "[tru]",
    "[truex]",
    "[True]",
    "[NaN]",
    "[Infinity]",
    "[9223372036854775807]",
    "[9223372036854775808]",
    "[-9223372036854775808]",
    "[-9223372036854775809]",
    "[99999999999999999999]",
    "[1e308]",
    "[1e309]",
    "[1.7976931348623157e308]",
    "[1.8e308]",
    "[-1e309]",
    "[1e-400]",
    "[0.0000001e-400]",
    "[1e400]",
    "[0e400]",
    "[0.0e99999]",
    "[123456789012345678901234567890.5e290]",
    "[\"\\u0000\"]",
    "[\"a\\u0000b\"]",
    "{\"\\u0000\":1}",
    "[\"\\uD800\"]",
    "[\"\\uD800\\u0041\"]",
    "[\"\\uDC00\"]",
    "[\"\\uD83D\\uDE00\"]",
    "[\"\\uD83D\"]",
    "[\"\\uD83D\\\"]",
    "[\"\\x\"]",
    "[\"\\u12G4\"]",
    "[\"\\u12\"]",
    "[\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"]",
    "[\"\\'\"]",
    "[\"a\tb\"]",
    "[\"a\nb\"]",
    "[\"\x7f\"]",
    "[\"unterminated]",
    "[\"\xc3\xa9\"]",
    "[\"\xc0\x80\"]",
    "[\"\xc1\xbf\"]",
    "[\"\xe0\x80\x80\"]",
    "[\"\xe0\xa0\x80\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xed\x9f\xbf\"]",
    "[\"\xf0\x90\x80\x80\"]",
    "[\"\xf0\x8f\xbf\xbf\"]",
    "[\"\xf4\x8f\xbf\xbf\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xf5\x80\x80\x80\"]",
    "[\"\x80\"]",
    "[\"\xe2\x82\"]",
    "[\"\xe2\x82\xac\"]",
    "[\"\xff\"]",
    "\xef\xbb\xbf{}",
    "[\xc3\xa9]",
    "{\"a\":1,\"a\":2}",
    "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
    "[[[[[[[[]]]]]]]]",
    "[[[[[[[[]]]]]]]",
    "[{\"a\":[{\"b\":{}}]}]",
    "{\"a\":[}",
    "{\"a\":{]}",
    "[\"\\u00e9\\u20AC\"]",
    "[1,\"2\",[3],{\"4\":5},true,false,null]",
    "[1]\x00",
    "[\"a\x00\"]",
};

static void test_edge_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
		agree_str(edge_cases[i]);
	/* embedded NULs need explicit lengths */
	agree("[1]\0", 4);
	agree("[\"a\0b\"]", 7);
	agree("{\"a\":\0}", 7);
}

/* Nesting right at jansson's limit and one past it, with and without a scalar inside. */
static void test_depth(void **state)
{
	(void)state;
	size_t n = JSCAN_MAX_DEPTH + 2;
	char *s = malloc(6 * n + 8); /* room for the object case: 5 bytes a level */
	assert_non_null(s);
	for (size_t depth = JSCAN_MAX_DEPTH - 2; depth <= JSCAN_MAX_DEPTH + 1; depth++) {
		for (int inner = 0; inner < 2; inner++) {
			size_t len = 0;
			for (size_t i = 0; i < depth; i++)
				s[len++] = '[';
			if (inner)
				s[len++] = '1';
			for (size_t i = 0; i < depth; i++)
				s[len++] = ']';
			agree(s, len);
		}
	}
	/* objects count the same way */
	size_t len = 0;
	for (size_t i = 0; i < JSCAN_MAX_DEPTH; i++) {
		memcpy(s + len, "{\"\":", 4);
		len += 4;
	}
	s[len++] = '1';
	for (size_t i = 0; i < JSCAN_MAX_DEPTH; i++)
		s[len++] = '}';
	agree(s, len);
	free(s);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static const char *const seeds[] = {
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \\\"w\\\"\"}],"
    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"n\":2,\"temperature\":0.7}",
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":1}}}",
    "[1,-2.5e3,\"\xc3\xa9\\uD83D\\uDE00\",[],{},true,false,null,{\"a\":{\"b\":[0]}}]",
};

/* Random edits of valid documents: both parsers must still agree on every result. */
static void test_mutations(void **state)
{
	(void)state;
	static const char alphabet[] = "{}[]\",:\\u0123456789abcdefEe+-. \t\n\x00\x80\xc3\xa9\xed\xf4\xff";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char buf[512];
	for (int round = 0; round < 60000; round++) {
		const char *seed = seeds[round % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(seed);
		memcpy(buf, seed, len);
		int edits = 1 + (int)(rnd(&x) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = len > 0 ? (size_t)(rnd(&x) % len) : 0;
			char c = alphabet[rnd(&x) % (sizeof(alphabet) - 1)];
			switch (rnd(&x) % 3) {
			case 0: /* replace */
				if (len > 0)
					buf[at] = c;
				break;
			case 1: /* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = c;
					len++;
				}
				break;
			default: /* delete */
				if (len > 0) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			}
		}
		agree(buf, len);
	}
}

static void test_lookups_match_jansson(void **state)
{
	(void)state;
	const char *s = "{\"model\":\"first\",\"n\":-42,\"mod\\u0065l\":\"last \\u00e9\\n\\uD83D\\uDE00\","
			"\"usage\":{\"prompt_tokens\":9223372036854775807},\"arr\":[10,[20],{\"x\":30}],"
			"\"t\":0.5,\"b\":false,\"z\":null}";
	struct jscan_val root, v, u, w;
	assert_int_equal(jscan_parse(s, strlen(s), &root, NULL), 0);
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);

	char out[64];
	assert_true(jscan_get(&root, "model", &v)); /* the escaped duplicate is the last one */
	assert_int_equal(v.type, JSCAN_STRING);
	size_t full = jscan_str(&v, out, sizeof(out));
	assert_string_equal(out, json_string_value(json_object_get(j, "model")));
	assert_int_equal(full, json_string_length(json_object_get(j, "model")));

	int64_t n;
	assert_true(jscan_get(&root, "n", &v));
	assert_true(jscan_int(&v, &n));
	assert_int_equal(n, -42);
	assert_true(jscan_get(&root, "usage", &u));
	assert_true(jscan_get(&u, "prompt_tokens", &v));
	assert_true(jscan_int(&v, &n));
	assert_int_equal(n, INT64_MAX);

	assert_true(jscan_get(&root, "arr", &v));
	assert_int_equal(jscan_count(&v), 3);
	assert_true(jscan_index(&v, 2, &w));
	assert_int_equal(w.type, JSCAN_OBJECT);
	assert_false(jscan_index(&v, 3, &w));
	assert_int_equal(w.type, JSCAN_NONE);

	assert_true(jscan_get(&root, "t", &v));
	assert_int_equal(v.type, JSCAN_REAL);
	assert_false(jscan_int(&v, &n));
	assert_true(jscan_get(&root, "b", &v));
	assert_int_equal(v.type, JSCAN_FALSE);
	assert_true(jscan_get(&root, "z", &v));
	assert_int_equal(v.type, JSCAN_NULL);
	assert_false(jscan_get(&root, "absent", &v));
	assert_int_equal(v.type, JSCAN_NONE);
	assert_false(jscan_get(&u, "model", &v) && v.type == JSCAN_STRING);
	assert_false(jscan_get(&w, "x", &v)); /* w is NONE now */
	json_decref(j);
}

/* A cut string keeps whole characters only, like the jansson-based copy it replaces. */
static void test_str_cut(void **state)
{
	(void)state;
	const char *s = "[\"ab\xc3\xa9\\u20ac!\"]"; /* a b é € ! = 1+1+2+3+1 bytes */
	struct jscan_val root, v;
	char out[8];
	assert_int_equal(jscan_parse(s, strlen(s), &root, NULL), 0);
	assert_true(jscan_index(&root, 0, &v));
	for (size_t cap = 1; cap <= sizeof(out); cap++) {
		size_t full = jscan_str(&v, out, cap);
		assert_int_equal(full, 8);
		size_t got = strlen(out);
		assert_true(got < cap);
		static const size_t boundaries[] = {0, 1, 2, 4, 7, 8};
		size_t want = 0;
		for (size_t b = 0; b < sizeof(boundaries) / sizeof(boundaries[0]); b++)
			if (boundaries[b] < cap)
				want = boundaries[b];
		assert_int_equal(got, want);
	}
	assert_int_equal(jscan_str(&root, out, sizeof(out)), 0); /* not a string */
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edge_cases), cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_mutations),  cmocka_unit_test(test_lookups_match_jansson),
	    cmocka_unit_test(test_str_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
