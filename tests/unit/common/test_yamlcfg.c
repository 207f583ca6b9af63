/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/yamlcfg: the tree (order, types, positions), every
 * typed getter with good, wrong-shape and out-of-range values (exact error
 * text), unknown keys, ${} expansion, and each thing the loader refuses:
 * duplicate keys, anchors/aliases/tags, several documents, a non-mapping
 * root, bad syntax, excessive nesting and size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/yamlcfg.h"

static struct ycfg *load(const char *text, struct err *err)
{
	return ycfg_load_string(text, strlen(text), "t.yaml", err);
}

/* Loading must fail with exactly this message. */
static void load_fails(const char *text, const char *want)
{
	struct err err = {0};
	struct ycfg *c = load(text, &err);
	if (c != NULL) {
		ycfg_free(c);
		fail_msg("loaded, expected error: %s", want);
	}
	if (strcmp(err.msg, want) != 0)
		fail_msg("error \"%s\", want \"%s\"", err.msg, want);
}

/* Loading must fail with a message containing this text. */
static void load_fails_with(const char *text, const char *part)
{
	struct err err = {0};
	struct ycfg *c = load(text, &err);
	if (c != NULL) {
		ycfg_free(c);
		fail_msg("loaded, expected error containing: %s", part);
	}
	if (strstr(err.msg, part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, part);
}

static const char nested[] = "# gateway\n"
			     "listen:\n"
			     "  addr: 127.0.0.1\n"
			     "  port: 8080\n"
			     "upstreams:\n"
			     "  - name: openai\n"
			     "    timeout: 30s\n"
			     "  - name: mock\n"
			     "flow: {a: 1, b: [x, \"y z\"]}\n"
			     "empty:\n";

static void test_tree(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load(nested, &err);
	assert_non_null(c);
	assert_string_equal(ycfg_name(c), "t.yaml");
	const struct ycfg_node *root = ycfg_root(c);
	assert_int_equal(ycfg_type(root), YCFG_MAP);
	assert_int_equal(ycfg_len(root), 4);
	assert_string_equal(ycfg_key_at(root, 0), "listen"); /* document order */
	assert_string_equal(ycfg_key_at(root, 1), "upstreams");
	assert_string_equal(ycfg_key_at(root, 2), "flow");
	assert_string_equal(ycfg_key_at(root, 3), "empty");
	assert_null(ycfg_key_at(root, 4));

	const struct ycfg_node *listen = ycfg_get(root, "listen");
	assert_int_equal(ycfg_type(listen), YCFG_MAP);
	assert_int_equal(ycfg_line(listen), 3);
	assert_int_equal(ycfg_col(listen), 3);
	const struct ycfg_node *port = ycfg_get(listen, "port");
	assert_string_equal(ycfg_scalar(port), "8080");
	assert_int_equal(ycfg_line(port), 4);
	assert_int_equal(ycfg_col(port), 9);
	assert_ptr_equal(ycfg_at(listen, 1), port);

	const struct ycfg_node *ups = ycfg_get(root, "upstreams");
	assert_int_equal(ycfg_type(ups), YCFG_SEQ);
	assert_int_equal(ycfg_len(ups), 2);
	assert_null(ycfg_key_at(ups, 0));
	assert_string_equal(ycfg_scalar(ycfg_get(ycfg_at(ups, 1), "name")), "mock");
	assert_int_equal(ycfg_line(ycfg_at(ups, 1)), 8);
	assert_null(ycfg_at(ups, 2));

	const struct ycfg_node *flow = ycfg_get(root, "flow");
	assert_string_equal(ycfg_scalar(ycfg_at(ycfg_get(flow, "b"), 1)), "y z");
	assert_string_equal(ycfg_scalar(ycfg_get(root, "empty")), "");

	/* Accessors on the wrong kind of node. */
	assert_null(ycfg_scalar(listen));
	assert_int_equal(ycfg_len(port), 0);
	assert_null(ycfg_get(port, "x"));
	assert_null(ycfg_get(root, "missing"));
	assert_null(ycfg_at(port, 0));
	assert_null(ycfg_get(NULL, "x"));
	assert_int_equal(ycfg_line(NULL), 0);
	ycfg_free(c);
	ycfg_free(NULL);
}

static void test_empty_documents(void **state)
{
	(void)state;
	static const char *const empties[] = {"", "# only a comment\n", "---\n", "--- \n...\n", "\n\n"};
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		struct err err = {0};
		struct ycfg *c = load(empties[i], &err);
		if (c == NULL)
			fail_msg("\"%s\": %s", empties[i], err.msg);
		assert_int_equal(ycfg_type(ycfg_root(c)), YCFG_MAP);
		assert_int_equal(ycfg_len(ycfg_root(c)), 0);
		ycfg_free(c);
	}
	struct err err = {0};
	struct ycfg *c = ycfg_load_string(NULL, 0, NULL, &err);
	assert_non_null(c);
	assert_string_equal(ycfg_name(c), "config");
	ycfg_free(c);
}

static void test_get_str_and_bool(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load("name: gw\nlist: [a]\n"
			      "b1: true\nb2: no\nb3: on\nb4: OFF\nb5: 1\nb6: yes\nb7: false\nb8: off\n",
			      &err);
	assert_non_null(c);
	const struct ycfg_node *r = ycfg_root(c);
	const char *s;
	assert_int_equal(ycfg_get_str(c, r, "name", "d", &s, &err), 0);
	assert_string_equal(s, "gw");
	assert_int_equal(ycfg_get_str(c, r, "absent", "d", &s, &err), 0);
	assert_string_equal(s, "d");
	assert_int_equal(ycfg_get_str(c, NULL, "name", "d", &s, &err), 0);
	assert_string_equal(s, "d");
	assert_int_equal(ycfg_get_str(c, r, "list", "d", &s, &err), -1);
	assert_string_equal(err.msg, "t.yaml:2:7: list: expected a string, got a list");
	assert_int_equal(ycfg_get_str(c, ycfg_get(r, "name"), "x", "d", &s, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:7: x: expected a mapping around this key, got a string");

	bool b;
	assert_int_equal(ycfg_get_bool(c, r, "b1", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(ycfg_get_bool(c, r, "b2", true, &b, &err), 0);
	assert_false(b);
	assert_int_equal(ycfg_get_bool(c, r, "b3", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(ycfg_get_bool(c, r, "b6", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(ycfg_get_bool(c, r, "b7", true, &b, &err), 0);
	assert_false(b);
	assert_int_equal(ycfg_get_bool(c, r, "b8", true, &b, &err), 0);
	assert_false(b);
	assert_int_equal(ycfg_get_bool(c, r, "none", true, &b, &err), 0);
	assert_true(b);
	assert_int_equal(ycfg_get_bool(c, r, "b4", false, &b, &err), -1);
	assert_string_equal(err.msg, "t.yaml:6:5: b4: expected true or false, got \"OFF\"");
	assert_int_equal(ycfg_get_bool(c, r, "b5", false, &b, &err), -1);
	assert_int_equal(ycfg_get_bool(c, r, "list", false, &b, &err), -1);
	assert_string_equal(err.msg, "t.yaml:2:7: list: expected true or false, got a list");
	ycfg_free(c);
}

static void test_get_int(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load("port: 8080\nneg: -5\nplus: +7\nbig: 70000\njunk: 12x\nhex: 0x10\nnul: \n"
			      "huge: 99999999999999999999\nmap: {a: 1}\noct: 010\nsp: ' 5'\n",
			      &err);
	assert_non_null(c);
	const struct ycfg_node *r = ycfg_root(c);
	int64_t v;
	assert_int_equal(ycfg_get_int(c, r, "port", 1, 65535, 0, &v, &err), 0);
	assert_int_equal(v, 8080);
	assert_int_equal(ycfg_get_int(c, r, "neg", -10, 10, 0, &v, &err), 0);
	assert_int_equal(v, -5);
	assert_int_equal(ycfg_get_int(c, r, "plus", 0, 10, 0, &v, &err), 0);
	assert_int_equal(v, 7);
	assert_int_equal(ycfg_get_int(c, r, "oct", 0, 100, 0, &v, &err), 0);
	assert_int_equal(v, 10);
	assert_int_equal(ycfg_get_int(c, r, "absent", 0, 10, 3, &v, &err), 0);
	assert_int_equal(v, 3);
	assert_int_equal(ycfg_get_int(c, r, "big", 1, 65535, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:4:6: big: \"70000\" is out of range [1, 65535]");
	assert_int_equal(ycfg_get_int(c, r, "neg", 0, 10, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_int(c, r, "junk", 0, 100, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:5:7: junk: expected an integer, got \"12x\"");
	assert_int_equal(ycfg_get_int(c, r, "hex", 0, 100, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_int(c, r, "nul", 0, 100, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_int(c, r, "sp", 0, 100, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_int(c, r, "huge", INT64_MIN, INT64_MAX, 0, &v, &err), -1);
	assert_non_null(strstr(err.msg, "out of range"));
	assert_int_equal(ycfg_get_int(c, r, "map", 0, 100, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:9:6: map: expected an integer, got a mapping");
	ycfg_free(c);
}

static void test_get_duration(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load("a: 250ms\nb: 30s\nc: 2m\nd: 1h\ne: 1500\nf: 1.5s\ng: 30 s\nh: -5s\ni: 2h\n"
			      "j: 99999999999999999h\nk: 5d\nl: s\n",
			      &err);
	assert_non_null(c);
	const struct ycfg_node *r = ycfg_root(c);
	int64_t v;
	const int64_t hour = 3600000;
	assert_int_equal(ycfg_get_duration_ms(c, r, "a", 0, hour, 0, &v, &err), 0);
	assert_int_equal(v, 250);
	assert_int_equal(ycfg_get_duration_ms(c, r, "b", 0, hour, 0, &v, &err), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(ycfg_get_duration_ms(c, r, "c", 0, hour, 0, &v, &err), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(ycfg_get_duration_ms(c, r, "d", 0, hour, 0, &v, &err), 0);
	assert_int_equal(v, hour);
	assert_int_equal(ycfg_get_duration_ms(c, r, "e", 0, hour, 0, &v, &err), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(ycfg_get_duration_ms(c, r, "zz", 0, hour, 42, &v, &err), 0);
	assert_int_equal(v, 42);
	static const char *const bad[] = {"f", "g", "h", "k", "l"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ycfg_get_duration_ms(c, r, bad[i], 0, hour, 0, &v, &err), -1);
		assert_non_null(strstr(err.msg, "expected a duration such as 250ms, 30s, 2m or 1h"));
	}
	assert_int_equal(ycfg_get_duration_ms(c, r, "i", 100, hour, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:9:4: i: duration \"2h\" is out of range [100ms, 1h]");
	assert_int_equal(ycfg_get_duration_ms(c, r, "j", 0, INT64_MAX, 0, &v, &err), -1);
	assert_non_null(strstr(err.msg, "out of range"));
	ycfg_free(c);
}

static void test_get_size(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load("a: 512\nb: 64KiB\nc: 4MiB\nd: 1GiB\ne: 10KB\nf: 1MB\ng: 2GB\n"
			      "h: 1kb\ni: 1.5MiB\nj: 8GiB\nk: 99999999999999999999GiB\nl: KiB\n",
			      &err);
	assert_non_null(c);
	const struct ycfg_node *r = ycfg_root(c);
	uint64_t v;
	const uint64_t max = UINT64_MAX;
	struct {
		const char *key;
		uint64_t want;
	} good[] = {{"a", 512},	  {"b", 65536},	  {"c", 4194304},   {"d", 1073741824},
		    {"e", 10000}, {"f", 1000000}, {"g", 2000000000}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(ycfg_get_size(c, r, good[i].key, 0, max, 0, &v, &err), 0);
		assert_int_equal(v, good[i].want);
	}
	assert_int_equal(ycfg_get_size(c, r, "none", 0, max, 77, &v, &err), 0);
	assert_int_equal(v, 77);
	assert_int_equal(ycfg_get_size(c, r, "h", 0, max, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:8:4: h: expected a size such as 512, 64KiB, 4MiB or 1GiB, got \"1kb\"");
	assert_int_equal(ycfg_get_size(c, r, "i", 0, max, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_size(c, r, "l", 0, max, 0, &v, &err), -1);
	assert_int_equal(ycfg_get_size(c, r, "j", 1024, 1ull << 32, 0, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:10:4: j: size \"8GiB\" is out of range [1024, 4294967296] bytes");
	assert_int_equal(ycfg_get_size(c, r, "k", 0, max, 0, &v, &err), -1);
	ycfg_free(c);
}

static void test_check_keys(void **state)
{
	(void)state;
	struct err err = {0};
	struct ycfg *c = load("listen:\n  addr: x\n  prot: 80\nlist: [1]\n", &err);
	assert_non_null(c);
	static const char *const listen_keys[] = {"addr", "port", NULL};
	static const char *const root_keys[] = {"listen", "list", NULL};
	const struct ycfg_node *r = ycfg_root(c);
	assert_int_equal(ycfg_check_keys(c, r, "", root_keys, &err), 0);
	assert_int_equal(ycfg_check_keys(c, ycfg_get(r, "listen"), "listen", listen_keys, &err), -1);
	assert_string_equal(err.msg, "t.yaml:3:3: listen.prot: unknown key");
	assert_int_equal(ycfg_check_keys(c, r, NULL, listen_keys, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:1: listen: unknown key");
	assert_int_equal(ycfg_check_keys(c, NULL, "absent", listen_keys, &err), 0);
	assert_int_equal(ycfg_check_keys(c, ycfg_get(r, "list"), "list", listen_keys, &err), -1);
	assert_string_equal(err.msg, "t.yaml:4:7: list: expected a mapping, got a list");

	/* ycfg_error formats. */
	assert_int_equal(ycfg_error(c, NULL, "k", &err, "bad %d", 1), -1);
	assert_string_equal(err.msg, "t.yaml: k: bad 1");
	assert_int_equal(ycfg_error(c, r, NULL, &err, "whole file"), -1);
	assert_string_equal(err.msg, "t.yaml:1:1: whole file");
	ycfg_free(c);
}

static void test_env_expansion(void **state)
{
	(void)state;
	setenv("LLMGW_T_A", "alpha", 1);
	setenv("LLMGW_T_EMPTY", "", 1);
	setenv("LLMGW_T_SECRET", "s3cr3t-value", 1);
	unsetenv("LLMGW_T_UNSET");
	struct err err = {0};
	struct ycfg *c = load("a: ${LLMGW_T_A}\n"
			      "b: pre-${LLMGW_T_A}-post\n"
			      "c: ${LLMGW_T_UNSET:-fallback}\n"
			      "d: ${LLMGW_T_EMPTY:-used-when-empty}\n"
			      "e: ${LLMGW_T_EMPTY}\n"
			      "f: cost $$5 and $ alone\n"
			      "g: ${LLMGW_T_UNSET:-}\n"
			      "port: ${LLMGW_T_SECRET}\n"
			      "${LLMGW_T_A}: keys are not expanded\n"
			      "list: ['${LLMGW_T_A}', x]\n",
			      &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	const struct ycfg_node *r = ycfg_root(c);
	assert_string_equal(ycfg_scalar(ycfg_get(r, "a")), "alpha");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "b")), "pre-alpha-post");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "c")), "fallback");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "d")), "used-when-empty");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "e")), "");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "f")), "cost $5 and $ alone");
	assert_string_equal(ycfg_scalar(ycfg_get(r, "g")), "");
	assert_non_null(ycfg_get(r, "${LLMGW_T_A}"));
	assert_string_equal(ycfg_scalar(ycfg_at(ycfg_get(r, "list"), 0)), "alpha");
	/* A value from the environment is never echoed in an error. */
	int64_t v;
	assert_int_equal(ycfg_get_int(c, r, "port", 1, 65535, 0, &v, &err), -1);
	assert_null(strstr(err.msg, "s3cr3t"));
	assert_string_equal(err.msg, "t.yaml:8:7: port: expected an integer, got (value from the environment)");
	ycfg_free(c);

	load_fails("a: 1\nkey: ${LLMGW_T_UNSET}\n", "t.yaml:2:6: key: environment variable LLMGW_T_UNSET is not set");
	load_fails("list:\n  - ok\n  - x${LLMGW_T_UNSET}\n",
		   "t.yaml:3:5: list[1]: environment variable LLMGW_T_UNSET is not set");
	load_fails("k: abc${LLMGW_T_A\n", "t.yaml:1:4: k: unterminated ${ (missing })");
	load_fails_with("k: ${1BAD}\n", "t.yaml:1:4: k: bad ${} expression");
	load_fails_with("k: ${}\n", "empty variable name");
	load_fails_with("k: ${A-b}\n", "expected ${NAME} or ${NAME:-default}");

	/* Expansion is bounded at 64 KiB. */
	char *big = malloc(70000);
	assert_non_null(big);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	setenv("LLMGW_T_BIG", big, 1);
	load_fails("k: ${LLMGW_T_BIG}\n", "t.yaml:1:4: k: value longer than 65536 bytes after ${} expansion");
	unsetenv("LLMGW_T_BIG");
	free(big);
}

static void test_expand_env_direct(void **state)
{
	(void)state;
	setenv("LLMGW_T_A", "alpha", 1);
	struct err err = {0};
	char out[16];
	assert_int_equal(ycfg_expand_env("x${LLMGW_T_A}y", out, sizeof(out), &err), 0);
	assert_string_equal(out, "xalphay");
	assert_int_equal(ycfg_expand_env("", out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	assert_int_equal(ycfg_expand_env("$$$$", out, sizeof(out), &err), 0);
	assert_string_equal(out, "$$");
	assert_int_equal(ycfg_expand_env("trailing $", out, sizeof(out), &err), 0);
	assert_string_equal(out, "trailing $");
	assert_int_equal(ycfg_expand_env("${LLMGW_T_A}${LLMGW_T_A}${LLMGW_T_A}", out, sizeof(out), &err), 0);
	assert_string_equal(out, "alphaalphaalpha"); /* exactly 15 bytes + NUL */
	assert_int_equal(ycfg_expand_env("${LLMGW_T_A}${LLMGW_T_A}${LLMGW_T_A}x", out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "longer than 15 bytes"));
	assert_string_equal(out, "");
	assert_int_equal(ycfg_expand_env("x", out, 0, &err), -1);
	assert_int_equal(ycfg_expand_env("${", out, sizeof(out), &err), -1);
	assert_int_equal(ycfg_expand_env("${X:-a}b}", out, sizeof(out), &err), 0); /* default ends at first } */
	assert_string_equal(out, "ab}");
}

static void test_rejections(void **state)
{
	(void)state;
	load_fails("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: a: duplicate key (first at line 1)");
	load_fails("m:\n  x: 1\n  y: 2\n  x: 3\n", "t.yaml:4:3: x: duplicate key (first at line 2)");
	load_fails("a: &anc 1\nb: 2\n", "t.yaml:1:4: a: anchors are not allowed (&anc)");
	load_fails("a: *ref\n", "t.yaml:1:4: a: aliases are not allowed (*ref)");
	load_fails_with("a: &x {k: 1}\nb: *x\n", "anchors are not allowed");
	load_fails("a: !!str 1\n", "t.yaml:1:4: a: tags are not allowed (tag:yaml.org,2002:str)");
	load_fails_with("a: !custom [1]\n", "tags are not allowed");
	load_fails_with("--- !!map\na: 1\n", "tags are not allowed");
	load_fails("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed");
	load_fails("- a\n- b\n", "t.yaml:1:1: the document must be a mapping (key: value), not a sequence");
	load_fails("just text\n", "t.yaml:1:1: the document must be a mapping (key: value), not a scalar");
	load_fails_with("~\n", "must be a mapping");
	load_fails_with("\"\"\n", "must be a mapping");
	load_fails("? [a, b]\n: 1\n", "t.yaml:1:3: mapping keys must be plain strings");
	load_fails_with("{a: 1}: 2\n", "mapping keys must be plain strings");
	load_fails("a: \"x\\0y\"\n", "t.yaml:1:4: a: value contains a NUL character");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	/* libyaml's own problem text with the position. */
	load_fails("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
	load_fails_with("a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']'");
	load_fails_with("a: \"open\n", "t.yaml:2:1: found unexpected end of stream while scanning a quoted scalar");
	load_fails_with("a:\n\tb: 1\n", "t.yaml:2:1: found character that cannot start any token");
	load_fails_with("a: 1\n b: 2\n", "t.yaml:2:3:");
	load_fails_with("a: \xff\xfe\n", "t.yaml: byte offset 3: invalid");
}

static void test_bounds(void **state)
{
	(void)state;
	/* Depth 32 (root map + 31 flow maps) loads; 33 does not. */
	char doc[512];
	for (int depth = 32; depth <= 33; depth++) {
		size_t o = 0;
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "a: ");
		for (int i = 1; i < depth; i++)
			o += (size_t)snprintf(doc + o, sizeof(doc) - o, "{b: ");
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "1");
		for (int i = 1; i < depth; i++)
			o += (size_t)snprintf(doc + o, sizeof(doc) - o, "}");
		snprintf(doc + o, sizeof(doc) - o, "\n");
		struct err err = {0};
		struct ycfg *c = load(doc, &err);
		if (depth == 32) {
			if (c == NULL)
				fail_msg("depth 32: %s", err.msg);
			ycfg_free(c);
		} else {
			assert_null(c);
			assert_non_null(strstr(err.msg, "nesting deeper than 32 levels"));
		}
	}
	/* Size cap: 4 MiB + 1 bytes is refused before parsing. */
	size_t n = (4u << 20) + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	struct err err = {0};
	assert_null(ycfg_load_string(big, n, "big.yaml", &err));
	assert_string_equal(err.msg, "big.yaml: larger than 4 MiB");
	/* Exactly 4 MiB of comment is fine. */
	struct ycfg *c = ycfg_load_string(big, n - 1, "big.yaml", &err);
	assert_non_null(c);
	ycfg_free(c);
	free(big);

	/* A long scalar (over 64 KiB) is refused. */
	n = 70000;
	big = malloc(n + 8);
	assert_non_null(big);
	memcpy(big, "k: ", 3);
	memset(big + 3, 'v', n);
	big[n + 3] = '\0';
	load_fails(big, "t.yaml:1:4: k: value longer than 65536 bytes");
	free(big);

	/* Many keys in one mapping: duplicate detection stays fast and finds the late one. */
	struct buf_local {
		char *p;
		size_t len;
	} b = {malloc(20 * 30000 + 32), 0};
	assert_non_null(b.p);
	for (int i = 0; i < 30000; i++)
		b.len += (size_t)snprintf(b.p + b.len, 32, "k%d: %d\n", i, i);
	b.len += (size_t)snprintf(b.p + b.len, 32, "k7: dup\n");
	c = ycfg_load_string(b.p, b.len, "t.yaml", &err);
	assert_null(c);
	assert_string_equal(err.msg, "t.yaml:30001:1: k7: duplicate key (first at line 8)");
	free(b.p);
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/llmgw-yamlcfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "server:\n  port: 99999\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct err err = {0};
	struct ycfg *c = ycfg_load_file(path, &err);
	assert_non_null(c);
	assert_string_equal(ycfg_name(c), path);
	int64_t v;
	assert_int_equal(ycfg_get_int(c, ycfg_get(ycfg_root(c), "server"), "port", 1, 65535, 0, &v, &err), -1);
	char want[256];
	snprintf(want, sizeof(want), "%s:2:9: port: \"99999\" is out of range [1, 65535]", path);
	assert_string_equal(err.msg, want);
	ycfg_free(c);
	unlink(path);

	assert_null(ycfg_load_file("/nonexistent/llmgw.yaml", &err));
	assert_string_equal(err.msg, "/nonexistent/llmgw.yaml: cannot open: No such file or directory");
	assert_null(ycfg_load_file("/tmp", &err));
	assert_string_equal(err.msg, "/tmp: is a directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree),
	    cmocka_unit_test(test_empty_documents),
	    cmocka_unit_test(test_get_str_and_bool),
	    cmocka_unit_test(test_get_int),
	    cmocka_unit_test(test_get_duration),
	    cmocka_unit_test(test_get_size),
	    cmocka_unit_test(test_check_keys),
	    cmocka_unit_test(test_env_expansion),
	    cmocka_unit_test(test_expand_env_direct),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
