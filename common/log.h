/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: one line per event on stderr, logfmt (key=value), e.g.
 *   ts=2026-11-23T10:00:00.123Z level=warn prog=llmgw-exporter event=bad_record reason=bad_magic
 * The level and program name are set once at start-up by main(); after that
 * the logger only reads them, so worker threads may log freely (each line is
 * one write(2), so lines from threads never interleave).
 *
 * Never log a secret: callers pass key names, never keys or auth headers.
 */
#ifndef LLMGW_COMMON_LOG_H
#define LLMGW_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
};

/* Sets program name (copied) and minimum level. Call once from main(). */
void log_init(const char *prog, enum log_level min);
/* "debug", "info", "warn"/"warning", "error" (case-insensitive); -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
/* Changes the minimum level from any thread (config reload). */
void log_set_level(enum log_level min);
bool log_enabled(enum log_level lvl);

/*
 * Writes one line: ts, level, prog, event=<event>, then the formatted tail
 * (which should itself be key=value pairs). Values with spaces or quotes
 * should be passed through log_quote(). Lines are capped at 2 KiB.
 */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Quotes s for logfmt into out (always NUL-terminated): wraps in "" and
 * escapes \ " and control characters if needed. Returns out.
 */
const char *log_quote(const char *s, char *out, unsigned outsz);

/*
 * Token bucket for log lines about bad input, so a flood of garbage costs a
 * counter bump, not a disk. burst lines per interval_ns; log_ratelimit_ok()
 * returns true if this line may be written and, when it is the first after
 * a quiet spell, reports how many were suppressed meanwhile.
 * Not thread-safe: keep one per thread or per loop.
 */
struct log_ratelimit {
	uint64_t interval_ns;
	uint32_t burst;
	uint32_t used;
	uint64_t window_start_ns;
	uint64_t suppressed;
};
void log_ratelimit_init(struct log_ratelimit *rl, uint32_t burst, uint64_t interval_ns);
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_mono_ns, uint64_t *suppressed);

#endif
