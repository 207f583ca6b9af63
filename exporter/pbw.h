/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pbw: a tiny protobuf wire-format writer, just what the OTLP encoder needs
 * (varints, tags, fixed64/fixed32, length-delimited fields).
 *
 * Two ways to frame a length-delimited field:
 *  - known size: the caller computes the body's exact size first (the
 *    pbw_*_size helpers), reserves room once, and writes tag, length and
 *    body with the unchecked pbw_put_* helpers, which advance a pointer;
 *  - unknown size (an envelope around many spans): pbw_open() writes the
 *    tag and reserves PBW_LEN_GUESS bytes for the length, pbw_close()
 *    writes the minimal varint there and shifts the body only when the
 *    guess was wrong (a body under 16 KiB or over 2 MiB).
 * Either way the output is the canonical encoding (minimal varints), the
 * same bytes a protobuf-c pack of the same message gives.
 *
 * The pbw_put_* helpers never check for room: the caller has reserved it.
 */
#ifndef LLMGW_EXPORTER_PBW_H
#define LLMGW_EXPORTER_PBW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

enum pbw_wire {
	PBW_VARINT = 0,
	PBW_I64 = 1,
	PBW_LEN = 2,
	PBW_I32 = 5,
};

#define PBW_VARINT_MAX 10 /* bytes of the longest varint (a 64-bit value) */
#define PBW_LEN_GUESS 3	  /* length bytes pbw_open() reserves: bodies of 16 KiB .. 2 MiB */

/* Bytes of v as a varint (1..10). */
static inline size_t pbw_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes of the tag of field number field (any wire type). */
static inline size_t pbw_tag_size(unsigned field)
{
	return pbw_varint_size((uint64_t)field << 3);
}

/* Bytes of a whole length-delimited field whose body is n bytes. */
static inline size_t pbw_len_size(unsigned field, size_t n)
{
	return pbw_tag_size(field) + pbw_varint_size(n) + n;
}

static inline uint8_t *pbw_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *pbw_put_tag(uint8_t *p, unsigned field, enum pbw_wire wt)
{
	return pbw_put_varint(p, ((uint64_t)field << 3) | (uint64_t)wt);
}

/* Little-endian whatever the host's order (the wire format's byte order). */
static inline uint8_t *pbw_put_fixed64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static inline uint8_t *pbw_put_fixed32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static inline uint8_t *pbw_put_double(uint8_t *p, double d)
{
	uint64_t v;
	memcpy(&v, &d, sizeof(v));
	return pbw_put_fixed64(p, v);
}

/* Tag and length of a length-delimited field; the n-byte body follows. */
static inline uint8_t *pbw_put_len(uint8_t *p, unsigned field, size_t n)
{
	return pbw_put_varint(pbw_put_tag(p, field, PBW_LEN), n);
}

/* A whole length-delimited field: tag, length, the n bytes of d. */
static inline uint8_t *pbw_put_bytes(uint8_t *p, unsigned field, const void *d, size_t n)
{
	p = pbw_put_len(p, field, n);
	if (n > 0)
		memcpy(p, d, n);
	return p + n;
}

/*
 * Starts a length-delimited field of unknown size at the end of b: writes
 * the tag and leaves PBW_LEN_GUESS bytes for the length; *mark remembers
 * where. -1 (errno EMSGSIZE or ENOMEM) when b cannot grow.
 */
int pbw_open(struct buf *b, unsigned field, size_t *mark);

/*
 * Ends the field pbw_open() started at mark: everything appended to b
 * since is its body. Writes the length as a minimal varint, moving the
 * body when it needs more or fewer bytes than guessed. -1 (errno) when b
 * cannot grow by the extra bytes.
 */
int pbw_close(struct buf *b, size_t mark);

/*
 * Appends a whole length-delimited field to b (the checked counterpart of
 * pbw_put_bytes, for cold paths). -1 (errno) when b cannot grow.
 */
int pbw_append_bytes(struct buf *b, unsigned field, const void *d, size_t n);

#endif
