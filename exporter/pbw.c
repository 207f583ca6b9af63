/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checked, buffer-level half of the protobuf writer: envelopes whose
 * size is only known once their contents are written (ResourceSpans and
 * ScopeSpans around a whole group of spans).
 *
 * The length is back-patched rather than computed by a sizing pass over
 * every span, which would mean building every span's view twice. A minimal
 * varint is required for the canonical bytes, so pbw_open() guesses its
 * width: PBW_LEN_GUESS (3) bytes cover bodies of 16 KiB to 2 MiB, which is
 * where a full batch (512 spans of 0.5-1 KiB) lands; a smaller group pays
 * a memmove of under 16 KiB, a larger one of its body, once.
 */
#include "exporter/pbw.h"

int pbw_open(struct buf *b, unsigned field, size_t *mark)
{
	if (buf_reserve(b, pbw_tag_size(field) + PBW_LEN_GUESS) != 0)
		return -1;
	uint8_t *p = (uint8_t *)b->data + b->len;
	uint8_t *q = pbw_put_tag(p, field, PBW_LEN);
	b->len += (size_t)(q - p);
	*mark = b->len;
	b->len += PBW_LEN_GUESS;
	b->data[b->len] = '\0';
	return 0;
}

int pbw_close(struct buf *b, size_t mark)
{
	size_t body = b->len - mark - PBW_LEN_GUESS;
	size_t need = pbw_varint_size(body);
	if (need > PBW_LEN_GUESS && buf_reserve(b, need - PBW_LEN_GUESS) != 0)
		return -1;
	uint8_t *slot = (uint8_t *)b->data + mark;
	if (need != PBW_LEN_GUESS)
		memmove(slot + need, slot + PBW_LEN_GUESS, body);
	pbw_put_varint(slot, body);
	b->len = mark + need + body;
	b->data[b->len] = '\0';
	return 0;
}

int pbw_append_bytes(struct buf *b, unsigned field, const void *d, size_t n)
{
	if (buf_reserve(b, pbw_len_size(field, n)) != 0)
		return -1;
	uint8_t *p = (uint8_t *)b->data + b->len;
	uint8_t *q = pbw_put_bytes(p, field, d, n);
	b->len += (size_t)(q - p);
	b->data[b->len] = '\0';
	return 0;
}
