/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace, span and request ids, and the W3C traceparent header.
 *
 * Ids come from a per-thread xoshiro256** generator seeded from getrandom(2):
 * a syscall per id would cost more than the rest of span building. Ids are
 * never all-zero (OTLP treats that as invalid).
 */
#ifndef LLMGW_COMMON_IDS_H
#define LLMGW_COMMON_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Generator state; one per thread (not thread-safe), embedded by the owner. */
struct ids_rng {
	uint64_t s[4];
};

/* Seeds from getrandom(2). Returns -1 only if the kernel gives no entropy. */
int ids_rng_init(struct ids_rng *rng, struct err *err);
/* Fills n random bytes, never all zero when n > 0. */
void ids_rng_fill(struct ids_rng *rng, void *dst, size_t n);

/* Lower-case hex of n bytes into out, which needs 2n+1 bytes. */
void ids_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into out. -1 on a bad digit. */
int ids_unhex(const char *in, size_t n, uint8_t *out);
int ids_is_zero(const uint8_t *id, size_t n);

/* A parsed W3C traceparent (version 00). */
struct traceparent {
	uint8_t trace_id[16];
	uint8_t parent_id[8];
	uint8_t flags;
};

#define TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/*
 * Parses a traceparent header value per W3C Trace Context level 1: version
 * 00 must be exactly 55 characters; a higher version may carry more after
 * the flags (forward compatibility); version ff, non-hex, upper-case hex,
 * and all-zero ids are invalid. Returns 0 or -1 (caller then starts a new
 * trace, as the spec says).
 */
int ids_traceparent_parse(const char *s, size_t len, struct traceparent *tp);
/* Writes "00-<trace>-<span>-<flags>" into out (TRACEPARENT_LEN + 1 bytes). */
void ids_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out);

#endif
