/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/buf: appends keep data NUL-terminated, growth is
 * geometric but never passes max, and a failed append leaves the buffer as
 * it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

static void test_append_terminates(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_null(b.data);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_append(&b, " world!!", 6), 0);
	assert_int_equal(b.len, 11);
	assert_string_equal(b.data, "hello world");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_fini(&b);
	assert_null(b.data);
	buf_fini(&b); /* twice is fine */
}

static void test_growth_is_geometric(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	size_t reallocs = 0, cap = 0;
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(buf_append(&b, "x", 1), 0);
		if (b.cap != cap) {
			reallocs++;
			cap = b.cap;
		}
	}
	assert_int_equal(b.len, 100000);
	assert_true(reallocs < 20);
	assert_true(b.cap > b.len);
	buf_fini(&b);
}

static void test_max_enforced(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "0123456789"), 0);
	assert_int_equal(buf_puts(&b, "a"), -1);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	assert_true(b.cap <= 11); /* never allocates past max + NUL */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b, "0123456789A"), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_reserve(&b, 10), 0);
	assert_int_equal(buf_reserve(&b, 11), -1);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	buf_fini(&b);
}

static void test_printf(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	char big[300];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "[%s]", big), 0); /* forces the grow-and-retry path */
	assert_int_equal(b.len, 4 + 2 + 299);
	assert_memory_equal(b.data, "42-x[zz", 7);
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	buf_fini(&b);

	buf_init(&b, 8);
	assert_int_equal(buf_printf(&b, "%s", "1234"), 0);
	assert_int_equal(buf_printf(&b, "%s", "56789"), -1);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "1234");
	assert_int_equal(buf_printf(&b, "%s", "5678"), 0);
	assert_string_equal(b.data, "12345678");
	buf_fini(&b);
}

static void test_take(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	size_t len = 99;
	char *p = buf_take(&b, &len); /* never appended: still a string */
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);

	assert_int_equal(buf_puts(&b, "abc"), 0);
	p = buf_take(&b, &len);
	assert_string_equal(p, "abc");
	assert_int_equal(len, 3);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);
	assert_int_equal(buf_puts(&b, "again"), 0); /* usable after take */
	assert_string_equal(b.data, "again");
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_terminates),
	    cmocka_unit_test(test_growth_is_geometric),
	    cmocka_unit_test(test_max_enforced),
	    cmocka_unit_test(test_printf),
	    cmocka_unit_test(test_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
