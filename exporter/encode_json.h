/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/JSON encoding of a batch (the same request as encode_otlp, in the
 * JSON mapping of the OTLP spec): lowerCamelCase keys, trace/span ids as
 * hex strings, enums as integers, 64-bit integers (times, intValue) as
 * decimal strings. Used for protocol http/json and the stdout/file sinks.
 */
#ifndef LLMGW_EXPORTER_ENCODE_JSON_H
#define LLMGW_EXPORTER_ENCODE_JSON_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/spanrec-t.h"
#include "exporter/enrich.h"

/*
 * Appends one compact JSON object (no newline) for recs[0..n) to out.
 * -1 with err (EMSGSIZE past out's maximum, or ENOMEM); out is then reset.
 */
int encode_json(const struct enrich *e, const struct spanrec *recs, size_t n, struct buf *out, struct err *err);

#endif
