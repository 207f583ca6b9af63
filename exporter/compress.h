/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gzip for request bodies (Content-Encoding: gzip, which every OTLP/HTTP
 * server must accept). Spans are highly repetitive (same keys, models,
 * tenants), so a batch typically shrinks 10-30x, and even zlib's fastest
 * level gets most of that: level 1 is the default (export.compression_level).
 */
#ifndef LLMGW_EXPORTER_COMPRESS_H
#define LLMGW_EXPORTER_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define COMPRESS_LEVEL_MIN 1
#define COMPRESS_LEVEL_MAX 9
#define COMPRESS_LEVEL_DEFAULT 1 /* best speed: see docs/exporter-config.md for the measured trade-off */

/*
 * Appends the gzip (RFC 1952) encoding of in[0..len) to out at zlib level
 * level (COMPRESS_LEVEL_MIN..MAX; out of range means the default). -1 with
 * err on a zlib failure or when out's maximum is reached (EMSGSIZE); out
 * is then reset.
 */
int compress_gzip(const void *in, size_t len, int level, struct buf *out, struct err *err);

/* CRC-32 of data[0..len) as a gzip trailer holds it (zlib's crc32(0, ...)); 0 for no bytes. */
uint32_t compress_crc32(const void *data, size_t len);

#endif
