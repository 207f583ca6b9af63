/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Caller-owned error detail. Functions return 0 / -1 (or NULL) and, on
 * failure, describe the problem here. Never allocates, so it is safe on
 * every path including out-of-memory.
 */
#ifndef LLMGW_COMMON_ERR_H
#define LLMGW_COMMON_ERR_H

#include <stdarg.h>
#include <stdio.h>

struct err {
	int code;      /* errno-style or module-specific; 0 when unset */
	char msg[256]; /* human-readable, NUL-terminated, never a secret */
};

/* Formats msg (truncated to fit) and sets code; returns -1 for tail calls. */
static inline int __attribute__((format(printf, 3, 4))) err_set(struct err *e, int code, const char *fmt, ...)
{
	if (e == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return -1;
}

static inline void err_clear(struct err *e)
{
	if (e != NULL) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

#endif
