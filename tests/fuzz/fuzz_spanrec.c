/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for spanrec_validate(): arbitrary bytes from the socket
 * must get a verdict, never a crash or an out-of-bounds read. A record that
 * passes must have every string terminated inside its field and must pass
 * again when validated from its own (aligned) copy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/spanrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spanrec out;
	struct err err;
	enum spanrec_verdict v = spanrec_validate(data, size, &out, &err);
	if ((unsigned)v >= SPANREC_VERDICT__COUNT)
		abort();
	(void)spanrec_verdict_name(v);
	if (v != SPANREC_OK)
		return 0;

	/* The exporter reads these with strlen(); they must stop inside the field. */
	if (strnlen(out.name, sizeof(out.name)) == sizeof(out.name) ||
	    strnlen(out.response_id, sizeof(out.response_id)) == sizeof(out.response_id))
		abort();
	for (unsigned i = 0; i < SPANREC_META_MAX; i++) {
		if (strnlen(out.meta[i].key, sizeof(out.meta[i].key)) == sizeof(out.meta[i].key) ||
		    strnlen(out.meta[i].value, sizeof(out.meta[i].value)) == sizeof(out.meta[i].value))
			abort();
	}
	for (unsigned i = 0; i < 32; i++) {
		if ((out.trunc_mask >> i & 1u) && spanrec_str_field_name(i) == NULL)
			abort(); /* every truncation bit must name a field */
	}
	(void)spanrec_op_name((enum spanrec_op)out.op);

	struct spanrec again;
	if (spanrec_validate(&out, sizeof(out), &again, &err) != SPANREC_OK || memcmp(&out, &again, sizeof(out)) != 0)
		abort();
	return 0;
}
