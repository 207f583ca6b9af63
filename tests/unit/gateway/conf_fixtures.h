/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the gateway's config unit tests (test_gw_conf*.c): load a
 * config text the way the gateway loads its file, require that it loads,
 * or require that a table of bad texts each fails with a message holding
 * an expected fragment. Header-only (static inline): each test file is its
 * own binary and uses what it needs.
 */
#ifndef LLMGW_TESTS_UNIT_GATEWAY_CONF_FIXTURES_H
#define LLMGW_TESTS_UNIT_GATEWAY_CONF_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "gateway/gw_conf.h"

/* One bad config and a fragment its error must contain. */
struct bad_case {
	const char *text;
	const char *want;
};

static inline struct gw_conf *load(const char *text, struct err *err)
{
	err_clear(err);
	return gw_conf_parse(text, strlen(text), "gw.yaml", err);
}

/* Loads text or fails the test with the loader's message. */
static inline struct gw_conf *load_ok(const char *text)
{
	struct err err;
	struct gw_conf *c = load(text, &err);
	if (c == NULL)
		fail_msg("did not load: %s", err.msg);
	return c;
}

/* Every case must fail to load with its fragment in the message; all are tried, then the failures counted. */
static inline void expect_bad_cases(const struct bad_case *cases, size_t n, const char *what)
{
	int failures = 0;
	for (size_t i = 0; i < n; i++) {
		struct err err;
		struct gw_conf *c = load(cases[i].text, &err);
		if (c != NULL || strstr(err.msg, cases[i].want) == NULL) {
			print_error("%s case %zu: want \"%s\", got \"%s\"\n", what, i, cases[i].want,
				    c != NULL ? "(loaded)" : err.msg);
			gw_conf_free(c);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

#endif
