/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning an OTLP/HTTP trace export body into the sink's JSON record:
 * gunzip (bounded), then protobuf (protobuf-c) or OTLP/JSON into one shape,
 *
 *   [{resource:{k:v}, scope:{name,version}, spans:[{trace_id, span_id,
 *     parent_span_id, name, kind, flags, start_time_unix_nano,
 *     end_time_unix_nano, status:{code,message}, attributes:{k:v}, ...}]}]
 *
 * so tests assert on plain JSON whatever encoding the exporter chose.
 * Ids are lower-case hex ("" when empty), 64-bit times are decimal strings
 * (JavaScript numbers cannot hold them), attribute values become JSON
 * string / bool / integer / double / array / object.
 */
#ifndef LLMGW_TESTS_OTLPSINK_DECODE_H
#define LLMGW_TESTS_OTLPSINK_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

enum otlpsink_gunzip_result {
	OTLPSINK_GUNZIP_OK = 0,
	OTLPSINK_GUNZIP_TOO_BIG, /* more than max bytes once inflated: 413 */
	OTLPSINK_GUNZIP_BAD,	 /* not a complete gzip stream: 400 */
};

/*
 * Inflates a gzip body (one or more members) into a new malloc'd buffer
 * (*out, caller frees) of at most max bytes.
 */
enum otlpsink_gunzip_result otlpsink_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len,
					    struct err *err);

/* Counts of things in a decoded body worth reporting in /_sink/stats. */
struct otlpsink_decode_stats {
	size_t spans;
	size_t invalid_utf8; /* strings that were not UTF-8 (recorded as "\ufffd<invalid utf-8>") */
};

/*
 * Decodes a binary ExportTraceServiceRequest. Returns the resource_spans
 * array (caller owns it) or NULL with err when protobuf-c rejects the body.
 */
json_t *otlpsink_decode_proto(const uint8_t *p, size_t len, struct otlpsink_decode_stats *st, struct err *err);

/*
 * Converts a parsed OTLP/JSON ExportTraceServiceRequest (lowerCamelCase
 * keys, hex ids, integer enums, 64-bit ints as strings or numbers) into the
 * same shape. NULL with err if root is not an object or resourceSpans is
 * not an array.
 */
json_t *otlpsink_decode_json(const json_t *root, struct otlpsink_decode_stats *st, struct err *err);

#endif
