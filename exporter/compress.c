/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-shot gzip with zlib. The output space is reserved up front from
 * deflateBound(), so a single deflate(Z_FINISH) call always completes; no
 * streaming loop is needed.
 *
 * zlib deflates raw (windowBits -15) and the gzip member's 10-byte header
 * and 8-byte trailer (CRC-32, length) are written here, because zlib 1.2's
 * own CRC-32 runs at ~4 GB/s: a seventh of the exporter's gzip time at
 * level 1. On x86-64 CPUs with carry-less multiplication the CRC is folded
 * 64 bytes at a time instead (several times faster); elsewhere, and for
 * the tail, zlib's crc32 is used. The bytes are those zlib's own gzip
 * wrapper writes (same header fields, same trailer), which the unit test
 * checks against deflateInit2(windowBits 31).
 */
#include "exporter/compress.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#define GZIP_RAW_WINDOW_BITS (-15) /* raw deflate: the gzip wrapper is ours */
#define GZIP_MEM_LEVEL 8
#define GZIP_HEADER_LEN 10
#define GZIP_TRAILER_LEN 8
#define GZIP_OS_UNIX 3 /* what zlib writes on Unix (OS_CODE) */

/* ---- CRC-32 ------------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define COMPRESS_CLMUL 1
#include <immintrin.h>

/*
 * CRC-32 of p[0..len) (len >= 64, a multiple of 16) continuing from crc
 * (the inverted running value, as the folding works on), by folding with
 * carry-less multiplication: the method of Gopal et al., "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ Instruction" (Intel,
 * 2009), with the constants for gzip's bit-reflected polynomial 0x104C11DB7:
 * four 128-bit lanes fold forward 512 bits at a time (k1, k2), merge into
 * one (k3, k4), fold 128 bits at a time, reduce 128 -> 64 bits (k4, k5) and
 * finish with a Barrett reduction (P', mu) to 32 bits.
 */
__attribute__((target("pclmul,sse4.1"))) static uint32_t compress_crc32_clmul(const uint8_t *p, size_t len,
									      uint32_t crc)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641); /* mu, P' */
	const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
	__m128i lane[4];
	for (int i = 0; i < 4; i++)
		lane[i] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
	lane[0] = _mm_xor_si128(lane[0], _mm_cvtsi32_si128((int)crc));
	p += 64;
	len -= 64;
	for (; len >= 64; p += 64, len -= 64) {
		for (int i = 0; i < 4; i++) {
			__m128i lo = _mm_clmulepi64_si128(lane[i], k1k2, 0x00);
			__m128i hi = _mm_clmulepi64_si128(lane[i], k1k2, 0x11);
			__m128i next = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
			lane[i] = _mm_xor_si128(_mm_xor_si128(lo, hi), next);
		}
	}
	/* merge the lanes, then the remaining 16-byte blocks, into one */
	__m128i x = lane[0];
	for (int i = 1; i < 4; i++) {
		__m128i lo = _mm_clmulepi64_si128(x, k3k4, 0x00);
		__m128i hi = _mm_clmulepi64_si128(x, k3k4, 0x11);
		x = _mm_xor_si128(_mm_xor_si128(lo, hi), lane[i]);
	}
	for (; len >= 16; p += 16, len -= 16) {
		__m128i lo = _mm_clmulepi64_si128(x, k3k4, 0x00);
		__m128i hi = _mm_clmulepi64_si128(x, k3k4, 0x11);
		x = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)(const void *)p));
	}
	/* 128 -> 64 bits */
	__m128i t = _mm_clmulepi64_si128(x, k3k4, 0x10);
	x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
	t = _mm_srli_si128(x, 4);
	x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00), t);
	/* Barrett reduction to 32 bits */
	t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), poly, 0x10);
	t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly, 0x00);
	x = _mm_xor_si128(x, t);
	return (uint32_t)_mm_extract_epi32(x, 1);
}

static bool compress_clmul_ok(void)
{
	return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
#endif

uint32_t compress_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uLong crc = crc32_z(0L, Z_NULL, 0);
#ifdef COMPRESS_CLMUL
	if (len >= 64 && compress_clmul_ok()) {
		size_t n = len & ~(size_t)15;
		crc = ~compress_crc32_clmul(p, n, ~(uint32_t)crc) & 0xffffffffu;
		p += n;
		len -= n;
	}
#endif
	return (uint32_t)crc32_z(crc, p, len);
}

/* ---- gzip ---------------------------------------------------------------------- */

static uint8_t *put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

/* RFC 1952 member header: no name, no mtime, XFL as zlib sets it for the level, OS Unix. */
static void gzip_header(uint8_t *p, int level)
{
	static const uint8_t head[8] = {0x1f, 0x8b, 8 /* deflate */, 0 /* flags */, 0, 0, 0, 0 /* mtime */};
	memcpy(p, head, sizeof(head));
	p[8] = level == 9 ? 2 : level < 2 ? 4 : 0; /* "max compression" / "fastest" */
	p[9] = GZIP_OS_UNIX;
}

int compress_gzip(const void *in, size_t len, int level, struct buf *out, struct err *err)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (len > UINT32_MAX)
		return err_set(err, EMSGSIZE, "input too large for one gzip member");
	if (level < COMPRESS_LEVEL_MIN || level > COMPRESS_LEVEL_MAX)
		level = COMPRESS_LEVEL_DEFAULT;
	if (deflateInit2(&z, level, Z_DEFLATED, GZIP_RAW_WINDOW_BITS, GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		return err_set(err, ENOMEM, "gzip: deflateInit2 failed");
	int rc = -1;
	size_t bound = deflateBound(&z, (uLong)len);
	size_t room = GZIP_HEADER_LEN + bound + GZIP_TRAILER_LEN;
	if (buf_reserve(out, room) != 0) {
		err_set(err, errno == EMSGSIZE ? EMSGSIZE : ENOMEM, "gzip: no room for %zu bytes", room);
		goto out;
	}
	uint8_t *start = (uint8_t *)out->data + out->len;
	gzip_header(start, level);
	z.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-correct; it only reads */
	z.avail_in = (uInt)len;
	z.next_out = start + GZIP_HEADER_LEN;
	z.avail_out = (uInt)bound;
	int zr = deflate(&z, Z_FINISH);
	if (zr != Z_STREAM_END) {
		err_set(err, EIO, "gzip: deflate returned %d", zr);
		goto out;
	}
	uint8_t *p = start + GZIP_HEADER_LEN + (bound - z.avail_out);
	p = put_le32(p, len ? compress_crc32(in, len) : 0);
	p = put_le32(p, (uint32_t)len); /* ISIZE: the length mod 2^32 (len fits here) */
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
	rc = 0;
out:
	deflateEnd(&z);
	if (rc != 0)
		buf_reset(out);
	return rc;
}
