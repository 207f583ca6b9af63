/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-shot gzip with zlib: windowBits 15 + 16 selects the gzip wrapper
 * (header and CRC32 trailer) instead of zlib's own. The output space is
 * reserved up front from deflateBound(), so a single deflate(Z_FINISH)
 * call always completes; no streaming loop is needed.
 */
#include "exporter/compress.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 8

int compress_gzip(const void *in, size_t len, struct buf *out, struct err *err)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (len > UINT32_MAX)
		return err_set(err, EMSGSIZE, "input too large for one gzip member");
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return err_set(err, ENOMEM, "gzip: deflateInit2 failed");
	int rc = -1;
	size_t bound = deflateBound(&z, (uLong)len);
	if (buf_reserve(out, bound) != 0) {
		err_set(err, errno == EMSGSIZE ? EMSGSIZE : ENOMEM, "gzip: no room for %zu bytes", bound);
		goto out;
	}
	z.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-correct; it only reads */
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->data + out->len;
	z.avail_out = (uInt)bound;
	int zr = deflate(&z, Z_FINISH);
	if (zr != Z_STREAM_END) {
		err_set(err, EIO, "gzip: deflate returned %d", zr);
		goto out;
	}
	out->len += bound - z.avail_out;
	out->data[out->len] = '\0';
	rc = 0;
out:
	deflateEnd(&z);
	if (rc != 0)
		buf_reset(out);
	return rc;
}
