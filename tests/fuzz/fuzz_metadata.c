/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for req_hdr_metadata_parse(), the x-llmgw-metadata
 * header: any bytes give 0 or -1 without reading past the string. What is
 * accepted must already be span-safe (at most REQ_META_MAX pairs, keys of
 * [a-z0-9._-], printable ASCII values that fit the record); what is refused
 * must leave no pairs and a printable reason naming the header. The input
 * is cut at its first NUL, as an HTTP header value would be.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/req_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort(); /* not NUL-terminated */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void check_ok(const struct req_meta *m)
{
	if (m->n > REQ_META_MAX)
		abort();
	for (unsigned i = 0; i < m->n; i++) {
		const char *k = m->pair[i].key;
		size_t kn = strnlen(k, REQ_META_KEY_MAX);
		if (kn == 0 || kn == REQ_META_KEY_MAX)
			abort();
		for (size_t j = 0; j < kn; j++)
			if (!((k[j] >= 'a' && k[j] <= 'z') || (k[j] >= '0' && k[j] <= '9') || k[j] == '.' ||
			      k[j] == '_' || k[j] == '-'))
				abort();
		for (unsigned j = 0; j < i; j++)
			if (strcmp(m->pair[j].key, k) == 0)
				abort(); /* duplicates must have been refused */
		check_printable(m->pair[i].value, REQ_META_VALUE_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy lets ASan catch any read past the NUL. */
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, n);
	s[n] = '\0';
	struct req_meta m;
	char why[128];
	if (req_hdr_metadata_parse(s, &m, why, sizeof(why)) == 0) {
		check_ok(&m);
	} else {
		if (m.n != 0 || strncmp(why, "x-llmgw-metadata: ", 18) != 0)
			abort();
		check_printable(why, sizeof(why));
	}
	/* A tiny reason buffer must be cut, not overrun. */
	char tiny[5];
	if (req_hdr_metadata_parse(s, &m, tiny, sizeof(tiny)) != 0 && strnlen(tiny, sizeof(tiny)) == sizeof(tiny))
		abort();
	free(s);
	return 0;
}
