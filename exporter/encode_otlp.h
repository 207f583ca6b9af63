/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/protobuf encoding of a batch: one ExportTraceServiceRequest with one
 * ResourceSpans per distinct resource (enrich_group), each with one
 * ScopeSpans (scope "llmgw", version LLMGW_VERSION) holding its spans as
 * mapped by spanview (docs/span-schema.md).
 */
#ifndef LLMGW_EXPORTER_ENCODE_OTLP_H
#define LLMGW_EXPORTER_ENCODE_OTLP_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/spanrec-t.h"
#include "exporter/enrich.h"

#define ENCODE_SCOPE_NAME "llmgw"

/*
 * Appends the encoded request for recs[0..n) to out. Returns -1 with err
 * (code EMSGSIZE) when the request would pass out's maximum, or ENOMEM;
 * out is then reset. n == 0 gives an empty (valid) request.
 */
int encode_otlp(const struct enrich *e, const struct spanrec *recs, size_t n, struct buf *out, struct err *err);

/* The instrumentation scope version: LLMGW_VERSION, or "dev" when built without it. */
const char *encode_scope_version(void);

#endif
