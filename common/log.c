/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: one logfmt line per event on stderr.
 *
 * Every line is built in a stack buffer and handed to the kernel with a
 * single write(2), so lines from different threads never interleave and a
 * log call never allocates. Lines are capped at LOG_LINE_MAX bytes; a longer
 * tail is cut (the line still ends in a newline). Timestamps are RFC 3339
 * UTC with milliseconds, which every log pipeline parses.
 *
 * The program name and minimum level are the module's only statics. They are
 * written once by log_init() from main() before any thread starts and only
 * read afterwards, which is why they need no lock (this is the one deliberate
 * exception to "no mutable globals": threading a logger through every call
 * would cost more clarity than it buys).
 *
 * The rate limiter is a fixed-window counter: cheap, and good enough to turn
 * a flood of garbage input into one line per interval plus a count of what
 * was suppressed.
 */
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LOG_PROG_MAX 64

/*
 * log_prog is set once by log_init() before threads start and read-only
 * afterwards. The level may change at run time (a config reload), so it
 * is an atomic read with relaxed order: a line racing the change may go
 * either way, and nothing else depends on it.
 */
static char log_prog[LOG_PROG_MAX] = "llmgw";
static _Atomic int log_min = LOG_LVL_INFO;

static const char *const log_level_names[] = {
    [LOG_LVL_DEBUG] = "debug",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_ERROR] = "error",
};

void log_init(const char *prog, enum log_level min)
{
	if (prog != NULL)
		snprintf(log_prog, sizeof(log_prog), "%s", prog);
	log_set_level(min);
}

void log_set_level(enum log_level min)
{
	if ((unsigned)min <= LOG_LVL_ERROR)
		atomic_store_explicit(&log_min, (int)min, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} names[] = {
	    {"debug", LOG_LVL_DEBUG},  {"info", LOG_LVL_INFO},	 {"warn", LOG_LVL_WARN},
	    {"warning", LOG_LVL_WARN}, {"error", LOG_LVL_ERROR},
	};
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return -1;
}

bool log_enabled(enum log_level lvl)
{
	return (int)lvl >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

/* "2026-11-23T10:00:00.123Z" into out (at least 25 bytes). */
static void log_timestamp(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, outsz - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
}

/* One write(2); a short write to stderr is not worth a second syscall that could interleave. */
static void log_write(const char *line, size_t len)
{
	ssize_t rc;
	do {
		rc = write(STDERR_FILENO, line, len);
	} while (rc < 0 && errno == EINTR);
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
	if (!log_enabled(lvl) || (unsigned)lvl > LOG_LVL_ERROR)
		return;
	int saved_errno = errno; /* callers often log and then inspect errno */

	char line[LOG_LINE_MAX];
	char ts[32];
	log_timestamp(ts, sizeof(ts));
	/*
	 * Text may fill all but the last byte (where snprintf puts its NUL);
	 * that byte then takes the newline, so a full line is exactly
	 * LOG_LINE_MAX bytes and a cut one still ends in '\n'.
	 */
	const size_t room = sizeof(line);
	int n = snprintf(line, room, "ts=%s level=%s prog=%s event=%s", ts, log_level_names[lvl], log_prog,
			 event != NULL ? event : "unknown");
	size_t len = n < 0 ? 0 : (size_t)n >= room ? room - 1 : (size_t)n;

	if (fmt != NULL && fmt[0] != '\0' && len + 1 < room - 1) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		n = vsnprintf(line + len, room - len, fmt, ap);
		va_end(ap);
		if (n <= 0)
			len--; /* empty or unformattable tail: drop the separator */
		else if ((size_t)n >= room - len)
			len = room - 1;
		else
			len += (size_t)n;
	}
	line[len++] = '\n';
	log_write(line, len);
	errno = saved_errno;
}

/* True if s must be quoted to stay one logfmt value. */
static bool log_needs_quote(const char *s)
{
	if (s[0] == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			return true;
	}
	return false;
}

/* Escape for one byte into esc (at most 7 bytes incl. NUL); returns its length. */
static size_t log_escape_byte(unsigned char c, char *esc)
{
	switch (c) {
	case '"':
		return (size_t)snprintf(esc, 8, "\\\"");
	case '\\':
		return (size_t)snprintf(esc, 8, "\\\\");
	case '\n':
		return (size_t)snprintf(esc, 8, "\\n");
	case '\r':
		return (size_t)snprintf(esc, 8, "\\r");
	case '\t':
		return (size_t)snprintf(esc, 8, "\\t");
	default:
		if (c < 0x20 || c == 0x7f)
			return (size_t)snprintf(esc, 8, "\\u%04x", c);
		esc[0] = (char)c;
		esc[1] = '\0';
		return 1;
	}
}

/*
 * Returns the length of out[0..len) without a trailing incomplete UTF-8
 * sequence, never going below floor. Complete characters are kept.
 */
static size_t log_utf8_trim(const char *out, size_t len, size_t floor)
{
	size_t lead = len;
	size_t back = 0;
	while (lead > floor && back < 4 && ((unsigned char)out[lead - 1] & 0xc0) == 0x80) {
		lead--;
		back++;
	}
	if (lead == floor)
		return len;
	unsigned char c = (unsigned char)out[lead - 1];
	size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (want > 1 && back + 1 < want)
		return lead - 1;
	return len;
}

/*
 * Values that need no quoting are copied as they are (cut to fit). Others
 * are wrapped in quotes with \" \\ \n \r \t and \u00XX escapes (what Go's and
 * most logfmt parsers read back); when out is too small the value is cut at
 * an escape and UTF-8 boundary and still closed with a quote. NULL is "".
 */
const char *log_quote(const char *s, char *out, unsigned outsz)
{
	if (outsz == 0)
		return out;
	if (s == NULL)
		s = "";
	if (!log_needs_quote(s)) {
		snprintf(out, outsz, "%s", s);
		return out;
	}
	if (outsz < 3) {
		out[0] = '\0';
		return out;
	}
	size_t o = 0;
	out[o++] = '"';
	const unsigned char *p = (const unsigned char *)s;
	for (; *p != '\0'; p++) {
		char esc[8];
		size_t n = log_escape_byte(*p, esc);
		if (o + n + 2 > outsz) /* closing quote and NUL must still fit */
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	if (*p != '\0')
		o = log_utf8_trim(out, o, 1);
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void log_ratelimit_init(struct log_ratelimit *rl, uint32_t burst, uint64_t interval_ns)
{
	rl->interval_ns = interval_ns;
	rl->burst = burst == 0 ? 1 : burst; /* a limiter that never lets a line through hides problems */
	rl->used = 0;
	rl->window_start_ns = 0;
	rl->suppressed = 0;
}

/*
 * Fixed window: the first call, and the first call at least interval_ns after
 * the window opened, start a new window. Up to burst lines pass per window;
 * the rest are counted. The first line that passes after some were
 * suppressed reports that count in *suppressed (else 0) and resets it.
 */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_mono_ns, uint64_t *suppressed)
{
	if (suppressed != NULL)
		*suppressed = 0;
	bool fresh = rl->used == 0 && rl->suppressed == 0 && rl->window_start_ns == 0;
	if (fresh || now_mono_ns < rl->window_start_ns || now_mono_ns - rl->window_start_ns >= rl->interval_ns) {
		rl->window_start_ns = now_mono_ns;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	if (suppressed != NULL)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
