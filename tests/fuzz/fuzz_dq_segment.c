/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the durable queue's segment scan (what dq_open
 * runs over every segment file it finds after a crash). Byte 0 picks the
 * mode:
 *
 *  even: the rest is a segment file as found on disk. Invariants: no
 *        crash, every entry reported lies inside the buffer, offsets and
 *        entry numbers strictly grow, bodies match their CRC, and the file
 *        cut to the reported length scans again to the same entries with
 *        no torn tail (a cut is final).
 *  odd:  the rest describes a valid segment (1 length byte + body, per
 *        entry) that is built with dq_entry_header, then cut at a point
 *        taken from byte 1. Invariants: exactly the entries that end
 *        before the cut come back, a torn tail is counted iff the cut is
 *        not on an entry boundary, nothing is called corrupt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/dq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const uint8_t *buf;
	size_t len;
	size_t n;
	uint64_t last_off;
	uint64_t last_index;
};

static int on_entry(void *ctx, const struct dq_entry_info *e)
{
	struct seen *s = ctx;
	if (e->off > s->len || s->len - e->off < DQ_ENTRY_HDR || s->len - e->off - DQ_ENTRY_HDR < e->len)
		abort();
	if (s->n > 0 && (e->off <= s->last_off || e->index <= s->last_index))
		abort();
	if (dq_crc32c(0, s->buf + e->off + DQ_ENTRY_HDR, e->len) != e->crc)
		abort();
	s->n++;
	s->last_off = e->off;
	s->last_index = e->index;
	return 0;
}

static void scan_raw(const uint8_t *buf, size_t len)
{
	struct seen s = {.buf = buf, .len = len};
	struct dq_replay r = {0};
	uint64_t keep;
	if (dq_segment_scan(buf, len, on_entry, &s, &r, &keep) != 0 || keep > len)
		abort();
	struct seen s2 = {.buf = buf, .len = (size_t)keep};
	struct dq_replay r2 = {0};
	uint64_t keep2;
	if (dq_segment_scan(buf, (size_t)keep, on_entry, &s2, &r2, &keep2) != 0)
		abort();
	if (keep2 != keep || s2.n != s.n || r2.torn_tails != 0 || r2.corrupt_entries > r.corrupt_entries)
		abort();
}

static void build_and_cut(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	uint8_t cut_sel = data[0];
	data++;
	size--;
	/* Worst case every input byte becomes a 1-byte entry with its header. */
	size_t cap = size * (DQ_ENTRY_HDR + 1) + 1;
	uint8_t *seg = malloc(cap);
	uint64_t *ends = malloc((size + 1) * sizeof(*ends));
	if (seg == NULL || ends == NULL)
		goto out;
	size_t len = 0, n = 0;
	for (size_t i = 0; i < size; n++) {
		size_t blen = data[i++];
		if (blen > size - i)
			blen = size - i;
		dq_entry_header(seg + len, (uint32_t)n, data + i, (uint32_t)blen, (uint32_t)blen, PAYLOAD_F_GZIP,
				1700000000000ull + n);
		memcpy(seg + len + DQ_ENTRY_HDR, data + i, blen);
		i += blen;
		len += DQ_ENTRY_HDR + blen;
		ends[n] = len;
	}
	size_t cut = len > 0 ? (size_t)cut_sel * len / 255 : 0;
	size_t want = 0;
	while (want < n && ends[want] <= cut)
		want++;
	bool boundary = cut == 0 || (want > 0 && ends[want - 1] == cut);
	struct seen s = {.buf = seg, .len = cut};
	struct dq_replay r = {0};
	uint64_t keep;
	if (dq_segment_scan(seg, cut, on_entry, &s, &r, &keep) != 0)
		abort();
	if (s.n != want || r.corrupt_entries != 0 || r.torn_tails != (boundary ? 0u : 1u) ||
	    keep != (want > 0 ? ends[want - 1] : 0))
		abort();
out:
	free(seg);
	free(ends);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 1 << 16)
		return 0;
	if ((data[0] & 1) == 0)
		scan_raw(data + 1, size - 1);
	else
		build_and_cut(data + 1, size - 1);
	return 0;
}
