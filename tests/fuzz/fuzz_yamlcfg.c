/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the config loader: arbitrary text through
 * ycfg_load_string(), then every node of the tree visited and every typed
 * getter called on every key, so the getters' parsing and error formatting
 * run on whatever the loader let through. ycfg_expand_env() also runs on
 * the raw input. Must never crash, leak or hang.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/yamlcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct ycfg *c, const struct ycfg_node *n, unsigned depth)
{
	static const char *const allowed[] = {"listen", "port", "timeout", "size", "enabled", "name", NULL};
	struct err err;
	if (n == NULL || depth > 40)
		abort(); /* the loader caps nesting at 32 */
	(void)ycfg_line(n);
	(void)ycfg_col(n);
	switch (ycfg_type(n)) {
	case YCFG_SCALAR:
		if (ycfg_scalar(n) == NULL || ycfg_len(n) != 0)
			abort();
		return;
	case YCFG_SEQ:
		for (size_t i = 0; i < ycfg_len(n); i++)
			walk(c, ycfg_at(n, i), depth + 1);
		return;
	case YCFG_MAP:
		break;
	}
	(void)ycfg_check_keys(c, n, "fuzz", allowed, &err);
	for (size_t i = 0; i < ycfg_len(n); i++) {
		const char *key = ycfg_key_at(n, i);
		if (key == NULL || ycfg_get(n, key) == NULL)
			abort();
		const char *s;
		int64_t iv;
		uint64_t uv;
		bool b;
		(void)ycfg_get_str(c, n, key, "", &s, &err);
		(void)ycfg_get_int(c, n, key, INT64_MIN, INT64_MAX, 0, &iv, &err);
		(void)ycfg_get_int(c, n, key, 1, 65535, 0, &iv, &err);
		(void)ycfg_get_bool(c, n, key, false, &b, &err);
		(void)ycfg_get_duration_ms(c, n, key, 0, INT64_MAX, 0, &iv, &err);
		(void)ycfg_get_duration_ms(c, n, key, 1, 60000, 0, &iv, &err);
		(void)ycfg_get_size(c, n, key, 0, UINT64_MAX, 0, &uv, &err);
		(void)ycfg_get_size(c, n, key, 1024, 1u << 20, 0, &uv, &err);
		(void)ycfg_error(c, ycfg_at(n, i), key, &err, "fuzz %zu", i);
		walk(c, ycfg_at(n, i), depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct ycfg *c = ycfg_load_string((const char *)data, size, "fuzz.yaml", &err);
	if (c != NULL) {
		const struct ycfg_node *root = ycfg_root(c);
		if (ycfg_type(root) != YCFG_MAP)
			abort();
		walk(c, root, 0);
		ycfg_free(c);
	} else if (strlen(err.msg) == 0) {
		abort(); /* every failure explains itself */
	}

	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char out[256];
	(void)ycfg_expand_env(s, out, sizeof(out), &err);
	free(s);
	return 0;
}
