/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for gateway/jscan, differential against jansson: both
 * must accept and refuse the same texts (save the one documented
 * difference, a raw NUL byte jansson skips after a number or a word), and
 * on an accepted object the span facts read by scanning
 * (chat_response_extract) must equal those read from jansson's tree
 * (chat_response_extract_json). Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/chat_parse.h"
#include "gateway/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct jscan_val root;
	struct jscan_err e = {0};
	json_error_t je;
	json_t *j = json_loadb(s, size, 0, &je);
	int rc = jscan_parse(s, size, &root, &e);
	bool nul_quirk = j != NULL && rc != 0 && e.pos < size && s[e.pos] == '\0';
	if (!nul_quirk && (j != NULL) != (rc == 0))
		abort();
	if (j != NULL && rc == 0) {
		struct chat_response_info a, b;
		if (jscan_count(&root) != (json_is_object(j) ? json_object_size(j) : json_array_size(j)) &&
		    json_is_array(j))
			abort();
		int xr = chat_response_extract(s, size, &a);
		chat_response_extract_json(j, &b);
		if ((xr == 0) != json_is_object(j) || memcmp(&a, &b, sizeof(a)) != 0)
			abort();
	}
	json_decref(j);
	return 0;
}
