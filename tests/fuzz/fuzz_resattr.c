/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the "k=v,k2=v2" parser behind OTEL_RESOURCE_ATTRIBUTES
 * and OTEL_EXPORTER_OTLP_HEADERS (kvlist_parse via enrich_parse_resattr),
 * and for building a resource from the result (percent-decoded bytes are
 * repaired to UTF-8 there). Invariants: no crash, no leak; on success every
 * key is non-empty and every string is NUL-terminated within bounds; the
 * resource's strings are valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "exporter/enrich.h"
#include "exporter/kvlist.h"
#include "exporter/spanview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_init("fuzz_resattr", LOG_LVL_ERROR); /* discarded-variable warnings would flood */
		quiet = 1;
	}
	if (size > KVLIST_INPUT_MAX + 16)
		return 0;
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	struct kvlist l;
	struct err err;
	kvlist_init(&l);
	if (enrich_parse_resattr(s, &l, &err) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			if (l.items[i].key[0] == '\0')
				abort();
		}
	}
	kvlist_fini(&l);

	kvlist_init(&l);
	(void)kvlist_parse(s, KVLIST_ICASE, &l, &err); /* the header flavour */
	kvlist_fini(&l);

	struct enrich *e = enrich_new(NULL, NULL, s, NULL, &err);
	if (e != NULL) {
		size_t n;
		const struct enrich_attr *a = enrich_static(e, &n);
		for (size_t i = 0; i < n; i++) {
			if (!spanview_utf8_valid(a[i].key, strlen(a[i].key)) ||
			    !spanview_utf8_valid(a[i].value, strlen(a[i].value)))
				abort();
		}
		enrich_free(e);
	}
	free(s);
	return 0;
}
