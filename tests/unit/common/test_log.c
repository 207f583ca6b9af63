/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/log: the rate limiter's windows and suppressed
 * count, logfmt quoting (escapes, truncation that never splits an escape or
 * a UTF-8 character), level parsing, and the shape and cap of a real line
 * captured from fd 2.
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

#include "common/log.h"

#define SEC 1000000000ull

static void test_ratelimit_burst_and_window(void **state)
{
	(void)state;
	struct log_ratelimit rl;
	uint64_t sup = 99;
	log_ratelimit_init(&rl, 3, 10 * SEC);
	uint64_t t = 1000 * SEC;
	for (int i = 0; i < 3; i++) {
		assert_true(log_ratelimit_ok(&rl, t + (uint64_t)i, &sup));
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 5; i++) {
		assert_false(log_ratelimit_ok(&rl, t + 5 * SEC, &sup));
		assert_int_equal(sup, 0);
	}
	/* Still inside the window. */
	assert_false(log_ratelimit_ok(&rl, t + 10 * SEC - 1, &sup));
	/* First line of the next window reports the six it swallowed. */
	assert_true(log_ratelimit_ok(&rl, t + 10 * SEC, &sup));
	assert_int_equal(sup, 6);
	assert_true(log_ratelimit_ok(&rl, t + 10 * SEC + 1, &sup));
	assert_int_equal(sup, 0);
	/* NULL suppressed pointer is allowed. */
	assert_true(log_ratelimit_ok(&rl, t + 10 * SEC + 2, NULL));
	assert_false(log_ratelimit_ok(&rl, t + 10 * SEC + 3, NULL));
}

static void test_ratelimit_edge_cases(void **state)
{
	(void)state;
	struct log_ratelimit rl;
	uint64_t sup;
	log_ratelimit_init(&rl, 0, SEC); /* burst 0 behaves as 1 */
	assert_true(log_ratelimit_ok(&rl, 0, &sup));
	assert_false(log_ratelimit_ok(&rl, 1, &sup));
	assert_true(log_ratelimit_ok(&rl, SEC, &sup));
	assert_int_equal(sup, 1);
	/* A clock that goes backwards opens a new window instead of stalling. */
	log_ratelimit_init(&rl, 1, SEC);
	assert_true(log_ratelimit_ok(&rl, 50 * SEC, &sup));
	assert_false(log_ratelimit_ok(&rl, 50 * SEC, &sup));
	assert_true(log_ratelimit_ok(&rl, 10 * SEC, &sup));
	assert_int_equal(sup, 1);
}

static void test_quote(void **state)
{
	(void)state;
	char out[64];
	assert_string_equal(log_quote("plain", out, sizeof(out)), "plain");
	assert_string_equal(log_quote("", out, sizeof(out)), "\"\"");
	assert_string_equal(log_quote(NULL, out, sizeof(out)), "\"\"");
	assert_string_equal(log_quote("two words", out, sizeof(out)), "\"two words\"");
	assert_string_equal(log_quote("a=b", out, sizeof(out)), "\"a=b\"");
	assert_string_equal(log_quote("say \"hi\"", out, sizeof(out)), "\"say \\\"hi\\\"\"");
	assert_string_equal(log_quote("back\\slash", out, sizeof(out)), "\"back\\\\slash\"");
	assert_string_equal(log_quote("l1\nl2\r\t", out, sizeof(out)), "\"l1\\nl2\\r\\t\"");
	assert_string_equal(log_quote("bell\x07", out, sizeof(out)), "\"bell\\u0007\"");
	assert_string_equal(log_quote("caf\xc3\xa9", out, sizeof(out)), "caf\xc3\xa9"); /* UTF-8 passes */
	assert_ptr_equal(log_quote("x", out, sizeof(out)), out);
}

static void test_quote_truncation(void **state)
{
	(void)state;
	char out[8];
	/* Quoted: cut content, still closed. */
	assert_string_equal(log_quote("a b c d e f", out, sizeof(out)), "\"a b c\"");
	/* Never half an escape: "ab\" + \" would need 2 bytes, only 1 left. */
	assert_string_equal(log_quote("abcd\"e f", out, sizeof(out)), "\"abcd\"");
	/* Never half a UTF-8 character: é is 2 bytes, only 1 left after "abcd". */
	assert_string_equal(log_quote("abc \xc3\xa9 x", out, sizeof(out)), "\"abc \"");
	/* Unquoted values are cut at the buffer. */
	assert_string_equal(log_quote("abcdefghij", out, sizeof(out)), "abcdefg");
	char tiny[2] = "x";
	assert_string_equal(log_quote("a b", tiny, sizeof(tiny)), "");
	char none[1] = {'z'};
	log_quote("a", none, 0); /* no room: untouched, no crash */
	assert_int_equal(none[0], 'z');
}

static void test_level_parse(void **state)
{
	(void)state;
	enum log_level l;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("INFO", &l), 0);
	assert_int_equal(l, LOG_LVL_INFO);
	assert_int_equal(log_level_parse("Warning", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_LVL_ERROR);
	assert_int_equal(log_level_parse("fatal", &l), -1);
	assert_int_equal(log_level_parse("", &l), -1);
	assert_int_equal(log_level_parse(NULL, &l), -1);
}

/* Runs fn with fd 2 redirected to a temp file and returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/llmgw-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	fn();
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	off_t n = lseek(fd, 0, SEEK_END);
	char *out = calloc(1, (size_t)n + 1);
	assert_non_null(out);
	assert_int_equal(pread(fd, out, (size_t)n, 0), n);
	close(fd);
	return out;
}

static void emit_lines(void)
{
	log_init("llmgw-test", LOG_LVL_INFO);
	log_msg(LOG_LVL_DEBUG, "hidden", "x=1");
	log_msg(LOG_LVL_WARN, "bad_record", "reason=%s n=%d", "bad_magic", 3);
	log_msg(LOG_LVL_ERROR, "no_tail", "%s", "");
}

static void test_line_format(void **state)
{
	(void)state;
	char *out = capture_stderr(emit_lines);
	/* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
	assert_memory_equal(out, "ts=", 3);
	assert_int_equal(out[7], '-');
	assert_int_equal(out[13], 'T');
	assert_int_equal(out[22], '.');
	assert_int_equal(out[26], 'Z');
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_string_equal(out + 27, " level=warn prog=llmgw-test event=bad_record reason=bad_magic n=3");
	char *second = nl + 1;
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(second, " level=error prog=llmgw-test event=no_tail\n"));
	assert_int_equal(second[strlen(second) - 1], '\n');
	assert_null(strstr(second, "no_tail \n")); /* no dangling separator */
	free(out);
}

static void emit_long(void)
{
	char big[5000];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("llmgw-test", LOG_LVL_DEBUG);
	assert_true(log_enabled(LOG_LVL_DEBUG));
	log_msg(LOG_LVL_INFO, "long", "value=%s", big);
	log_init("llmgw-test", LOG_LVL_INFO);
	assert_false(log_enabled(LOG_LVL_DEBUG));
}

static void test_line_cap(void **state)
{
	(void)state;
	char *out = capture_stderr(emit_long);
	size_t n = strlen(out);
	assert_int_equal(n, 2048);
	assert_int_equal(out[n - 1], '\n');
	assert_null(memchr(out, '\n', n - 1)); /* exactly one line */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratelimit_burst_and_window),
	    cmocka_unit_test(test_ratelimit_edge_cases),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_quote_truncation),
	    cmocka_unit_test(test_level_parse),
	    cmocka_unit_test(test_line_format),
	    cmocka_unit_test(test_line_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
