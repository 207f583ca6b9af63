/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A span record seen as an OTLP span: name, kind, ids, times, flags, status
 * and the attribute list of docs/span-schema.md, with every string valid
 * UTF-8. Both encoders (protobuf and JSON) walk this view, so the mapping
 * from record to OTLP exists exactly once.
 *
 * A view is a fixed-size value (no allocation) that points into the record
 * it was built from, plus its own storage for the strings it had to repair
 * or compose. The record must outlive the view. Every string is measured
 * and checked once, here: the view carries the lengths (klen, slen,
 * name_len, status_message_len) and the strings stay NUL-terminated.
 */
#ifndef LLMGW_EXPORTER_SPANVIEW_H
#define LLMGW_EXPORTER_SPANVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/spanrec-t.h"

#define SPANVIEW_MAX_ATTRS 48
#define SPANVIEW_MAX_TRUNC 32 /* one per trunc_mask bit */

/* OTLP Span.flags bits (trace.proto SpanFlags). */
#define SPANVIEW_FLAG_HAS_IS_REMOTE 0x100u
#define SPANVIEW_FLAG_IS_REMOTE 0x200u

enum spanview_type {
	SPANVIEW_STR = 0,
	SPANVIEW_INT,
	SPANVIEW_DOUBLE,
	SPANVIEW_BOOL,
	SPANVIEW_STRARR, /* array of strings */
};

struct spanview_attr {
	const char *key;
	uint32_t klen; /* strlen(key) */
	uint32_t slen; /* SPANVIEW_STR: strlen(u.s), so encoders need not measure again */
	enum spanview_type type;
	union {
		const char *s;
		int64_t i;
		double d;
		bool b;
		struct {
			const char *const *v;
			size_t n;
		} arr;
	} u;
};

struct spanview {
	const uint8_t *trace_id;       /* 16 bytes */
	const uint8_t *span_id;	       /* 8 bytes */
	const uint8_t *parent_span_id; /* 8 bytes, NULL for a root span */
	const char *name;	       /* never empty */
	size_t name_len;
	uint32_t kind; /* OTLP SpanKind */
	uint64_t start_ns, end_ns;
	uint32_t flags;		    /* W3C trace flags | SPANVIEW_FLAG_* */
	uint32_t status_code;	    /* OTLP StatusCode */
	const char *status_message; /* "" unless ERROR */
	size_t status_message_len;
	struct spanview_attr attrs[SPANVIEW_MAX_ATTRS];
	size_t nattrs;
	uint32_t dropped_attrs; /* 1 when the gateway had more metadata than slots */

	/* storage the pointers above may point into */
	const char *finish_reasons[1];
	const char *trunc_fields[SPANVIEW_MAX_TRUNC];
	char meta_keys[SPANREC_META_MAX][16 + sizeof("llmgw.meta.")];
	char name_buf[160];
	char rpc_code[12];	    /* MCP spans: rpc.response.status_code */
	char fix_buf[SPANREC_SIZE]; /* repaired copies of invalid UTF-8 strings */
	size_t fix_len;
};

/* Fills v from a validated record r (see spanrec_validate). */
void spanview_build(struct spanview *v, const struct spanrec *r);

/* Attribute by key, or NULL (tests, debugging). */
const struct spanview_attr *spanview_attr(const struct spanview *v, const char *key);

/* true if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool spanview_utf8_valid(const char *s, size_t n);
/*
 * Replaces every byte of s[0..n) that is not part of a well-formed UTF-8
 * sequence with '?', in place (length unchanged: protobuf strings must be
 * UTF-8, and a placeholder keeps the rest of the value readable). Returns the
 * number of bytes replaced.
 */
size_t spanview_utf8_fix(char *s, size_t n);

#endif
