/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable byte buffer with a hard maximum.
 *
 * Every byte that arrives from the network or a file ends up in one of these,
 * so the one property that matters is that growth is bounded: a caller sets
 * max when it creates the buffer and an append that would pass it fails
 * without touching the contents, which the caller turns into a specific
 * outcome (413, a counted drop). Storage grows geometrically so a long series
 * of small appends costs amortised O(1), and the data is kept NUL-terminated
 * (the terminator is not counted in len) so text can be handed to C string
 * functions without a copy.
 */
#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest allocation: most buffers hold a header or a short body. */
#define BUF_MIN_CAP 64

static size_t buf_limit(const struct buf *b)
{
	return b->max == 0 ? SIZE_MAX / 2 : b->max;
}

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_fini(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/*
 * Makes room for n more bytes plus the NUL terminator. cap counts the
 * terminator, so cap never needs to exceed limit + 1. Fails with errno
 * EMSGSIZE when len + n would pass the maximum (b untouched).
 */
int buf_reserve(struct buf *b, size_t n)
{
	size_t limit = buf_limit(b);
	if (n > limit || b->len > limit - n) {
		errno = EMSGSIZE;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;

	size_t ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
	/* Doubling past the maximum would allocate memory that can never be used. */
	if (ncap > limit + 1)
		ncap = limit + 1;

	char *p = realloc(b->data, ncap);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/*
 * Formats straight into the spare capacity; only when that is too small does
 * it grow once to the exact size and format again.
 */
int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	if (buf_reserve(b, 0) < 0)
		return -1;

	size_t room = b->cap - b->len;
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	if ((size_t)n >= room) {
		/* Did not fit: restore the terminator, grow, and format again. */
		b->data[b->len] = '\0';
		if (buf_reserve(b, (size_t)n) < 0)
			return -1;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

/*
 * The caller receives a NUL-terminated heap string even when nothing was
 * ever appended (so it never has to special-case NULL); NULL only on ENOMEM.
 */
char *buf_take(struct buf *b, size_t *len)
{
	char *p = b->data;
	size_t n = b->len;
	if (p == NULL) {
		p = malloc(1);
		if (p == NULL)
			return NULL;
		p[0] = '\0';
		n = 0;
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	if (len != NULL)
		*len = n;
	return p;
}
