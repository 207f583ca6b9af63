/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span record helpers: building a record safely on the gateway side and
 * validating one read from the socket on the exporter side.
 */
#ifndef LLMGW_COMMON_SPANREC_H
#define LLMGW_COMMON_SPANREC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/spanrec-t.h"

/* Why a buffer is not a valid record; names are metric label values. */
enum spanrec_verdict {
	SPANREC_OK = 0,
	SPANREC_BAD_SIZE,    /* "bad_size": length != record size of its version */
	SPANREC_BAD_MAGIC,   /* "bad_magic" */
	SPANREC_BAD_VERSION, /* "bad_version": not current nor previous */
	SPANREC_BAD_STRING,  /* "bad_string": a string field without its NUL */
	SPANREC_BAD_FIELD,   /* "bad_field": kind/status/op/flags out of range, zero ids */
	SPANREC_VERDICT__COUNT
};

/* Zeroes r and writes the header (magic, version, size) and kind. */
void spanrec_init(struct spanrec *r, enum spanrec_kind kind);

/*
 * Copies src (len bytes, or up to its NUL when len is (size_t)-1) into the
 * string field dst of r, which must point into r (use SPANREC_SET). A value
 * longer than the field is cut at a UTF-8 character boundary and marks the
 * field in trunc_mask and SPANREC_F_TRUNCATED. NULL src stores "".
 */
void spanrec_set_str(struct spanrec *r, char *dst, size_t cap, const char *src, size_t len);
#define SPANREC_SET(r, field, s) spanrec_set_str((r), (r)->field, sizeof((r)->field), (s), (size_t)-1)
#define SPANREC_SETN(r, field, s, n) spanrec_set_str((r), (r)->field, sizeof((r)->field), (s), (n))

/*
 * Adds one caller metadata key/value in the next free slot (both cut to fit,
 * marking truncation). Returns -1 and sets SPANREC_F_META_FULL when all
 * SPANREC_META_MAX slots are used.
 */
int spanrec_add_meta(struct spanrec *r, const char *key, const char *value);

/*
 * Checks len bytes read from an untrusted source. On SPANREC_OK, *out holds
 * the record upgraded to the current version (buf may be unaligned and may
 * alias nothing). Otherwise *out is unspecified and err says why, naming the
 * field where one is at fault.
 */
enum spanrec_verdict spanrec_validate(const void *buf, size_t len, struct spanrec *out, struct err *err);

/*
 * A pipeline message carries one record or several back to back (the
 * gateway batches them: one send per batch instead of one per record).
 * Returns the length of the record at the front of buf (len bytes left in
 * the message): the size its header declares, when the magic and version
 * are known, the declared size is that version's and len holds it all;
 * else 0, and the caller validates the whole rest as one record to learn
 * what is wrong with it.
 */
size_t spanrec_frame_len(const void *buf, size_t len);

/* "ok", "bad_size", ... for metric labels and logs. */
const char *spanrec_verdict_name(enum spanrec_verdict v);

/* "chat", "embeddings", ...; NULL for SPANREC_OP_NONE or out of range. */
const char *spanrec_op_name(enum spanrec_op op);

/* Name of string field i as used in trunc_mask ("name", "request_model", ...); NULL past the end. */
const char *spanrec_str_field_name(unsigned i);

#endif
