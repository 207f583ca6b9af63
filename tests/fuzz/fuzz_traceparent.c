/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for ids_traceparent_parse(): any header value gets 0 or
 * -1 without reading past len. An accepted value must have non-zero ids, and
 * formatting what was parsed must parse back to the same ids and flags; for
 * version 00 the text must round-trip exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy lets ASan catch any read past len. */
	char *s = calloc(size > 0 ? size : 1, 1); /* zeroed: the empty input's byte is read by nobody, but defined */
	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	struct traceparent tp;
	if (ids_traceparent_parse(s, size, &tp) == 0) {
		if (ids_is_zero(tp.trace_id, 16) || ids_is_zero(tp.parent_id, 8))
			abort();
		char out[TRACEPARENT_LEN + 1];
		ids_traceparent_format(tp.trace_id, tp.parent_id, tp.flags, out);
		struct traceparent back;
		if (ids_traceparent_parse(out, strlen(out), &back) != 0 || memcmp(&tp, &back, sizeof(tp)) != 0)
			abort();
		if (s[0] == '0' && s[1] == '0' && memcmp(out, s, TRACEPARENT_LEN) != 0)
			abort();
	}
	/* The hex helpers on the same bytes. */
	uint8_t raw[32];
	size_t n = size / 2 < sizeof(raw) ? size / 2 : sizeof(raw);
	if (ids_unhex(s, n, raw) == 0) {
		char hex[2 * sizeof(raw) + 1];
		ids_hex(raw, n, hex);
		for (size_t i = 0; i < 2 * n; i++) {
			char c = s[i];
			if (c >= 'A' && c <= 'F')
				c = (char)(c - 'A' + 'a');
			if (hex[i] != c)
				abort();
		}
	}
	free(s);
	return 0;
}
