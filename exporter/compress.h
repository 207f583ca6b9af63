/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gzip for request bodies (Content-Encoding: gzip, which every OTLP/HTTP
 * server must accept). Spans are highly repetitive (same keys, models,
 * tenants), so a batch typically shrinks 10-30x.
 */
#ifndef LLMGW_EXPORTER_COMPRESS_H
#define LLMGW_EXPORTER_COMPRESS_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * Appends the gzip (RFC 1952) encoding of in[0..len) to out at zlib's
 * default level. -1 with err on a zlib failure or when out's maximum is
 * reached (EMSGSIZE); out is then reset.
 */
int compress_gzip(const void *in, size_t len, struct buf *out, struct err *err);

#endif
