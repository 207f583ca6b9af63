/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable byte buffer with a hard maximum. Every buffer fed by input has a
 * max, and growing past it is an error the caller maps to a specific outcome
 * (413, a counted drop): input can never cause unbounded growth.
 */
#ifndef LLMGW_COMMON_BUF_H
#define LLMGW_COMMON_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* owned; always NUL-terminated after a successful append */
	size_t len;
	size_t cap;
	size_t max; /* largest len allowed; 0 = SIZE_MAX/2 */
};

/* Initialises an empty buffer (no allocation yet) limited to max bytes. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; b can be re-initialised. */
void buf_fini(struct buf *b);
/* Empties b, keeping its storage. */
void buf_reset(struct buf *b);
/* Appends n bytes. Returns -1 (b unchanged) if len would pass max or on ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
/* printf-style append; -1 like buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures room for n more bytes (for writers filling data+len directly). */
int buf_reserve(struct buf *b, size_t n);
/* Hands the storage to the caller (who frees it) and leaves b empty. */
char *buf_take(struct buf *b, size_t *len);

#endif
