/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure delivery policy for OTLP/HTTP (see send_outcome.h).
 *
 * The response decoders face bytes from the network (or from whatever
 * proxy sits in front of the backend), so they are bounded, never trust a
 * length, and are fuzzed (tests/fuzz/fuzz_otlp_response.c). Messages copied
 * out of a response are cut to a fixed buffer and repaired to valid UTF-8
 * before they can reach a log line.
 */
#include "exporter/send_outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "exporter/spanview.h"

enum send_outcome send_outcome_classify(int status)
{
	if (status >= 200 && status <= 299)
		return SEND_OK;
	switch (status) {
	case 0:	  /* no response at all: connect error, reset, timeout */
	case 429: /* throttled */
	case 502:
	case 503:
	case 504:
		return SEND_RETRY;
	default:
		return SEND_DROP; /* OTLP: all other 4xx/5xx MUST NOT be retried */
	}
}

const char *send_outcome_drop_reason(int status)
{
	return status == 413 ? "too_large" : "rejected_by_backend";
}

const char *send_outcome_name(enum send_outcome o)
{
	static const char *const names[] = {[SEND_OK] = "ok", [SEND_RETRY] = "retry", [SEND_DROP] = "drop"};
	return (unsigned)o <= SEND_DROP ? names[o] : "?";
}

enum send_body_kind send_outcome_body_kind(const char *ct)
{
	if (ct == NULL || ct[0] == '\0')
		return SEND_BODY_PROTOBUF;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", 16) == 0)
		return SEND_BODY_JSON;
	if (strncasecmp(ct, "application/x-protobuf", 22) == 0 || strncasecmp(ct, "application/protobuf", 20) == 0)
		return SEND_BODY_PROTOBUF;
	return SEND_BODY_TEXT;
}

/* ---- HTTP-date -------------------------------------------------------------- */

/* Reads exactly n digits. */
static int hd_num(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int hd_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

static int hd_month(const char **p, int *mon)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++) {
		if (strncmp(*p, months + 3 * i, 3) == 0) {
			*mon = i;
			*p += 3;
			return 0;
		}
	}
	return -1;
}

/* "HH:MM:SS" */
static int hd_time(const char **p, struct tm *tm)
{
	if (hd_num(p, 2, &tm->tm_hour) || hd_lit(p, ":") || hd_num(p, 2, &tm->tm_min) || hd_lit(p, ":") ||
	    hd_num(p, 2, &tm->tm_sec))
		return -1;
	return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

/*
 * After "Day, ": "06 Nov 1994 08:49:37 GMT" (IMF-fixdate) or
 * "06-Nov-94 08:49:37 GMT" (RFC 850; tm_year is then the two-digit year
 * and *two_digit is set for the caller to place in a century).
 */
static int hd_after_comma(const char *p, struct tm *tm, bool *two_digit)
{
	int year;
	if (hd_num(&p, 2, &tm->tm_mday))
		return -1;
	if (*p == ' ') {
		p++;
		if (hd_month(&p, &tm->tm_mon) || hd_lit(&p, " ") || hd_num(&p, 4, &year) || hd_lit(&p, " "))
			return -1;
		tm->tm_year = year - 1900;
	} else {
		if (hd_lit(&p, "-") || hd_month(&p, &tm->tm_mon) || hd_lit(&p, "-") || hd_num(&p, 2, &year) ||
		    hd_lit(&p, " "))
			return -1;
		tm->tm_year = year;
		*two_digit = true;
	}
	if (hd_time(&p, tm) || hd_lit(&p, " GMT"))
		return -1;
	return *p == '\0' ? 0 : -1;
}

/* asctime after "Sun ": "Nov  6 08:49:37 1994". */
static int hd_asctime(const char *p, struct tm *tm)
{
	int year;
	if (hd_month(&p, &tm->tm_mon) || hd_lit(&p, " "))
		return -1;
	if (*p == ' ') {
		p++;
		if (hd_num(&p, 1, &tm->tm_mday))
			return -1;
	} else if (hd_num(&p, 2, &tm->tm_mday)) {
		return -1;
	}
	if (hd_lit(&p, " ") || hd_time(&p, tm) || hd_lit(&p, " ") || hd_num(&p, 4, &year) || *p != '\0')
		return -1;
	tm->tm_year = year - 1900;
	return 0;
}

/*
 * RFC 9110 5.6.7: a two-digit year that would be more than 50 years in the
 * future is the most recent past year with those digits.
 */
static int hd_century(int yy, time_t now)
{
	struct tm nt;
	int now_year = gmtime_r(&now, &nt) != NULL ? nt.tm_year + 1900 : 1970;
	int year = now_year - now_year % 100 + yy;
	return year > now_year + 50 ? year - 100 : year;
}

/* An HTTP-date into unix seconds; now places RFC 850's two-digit years. */
static int hd_parse(const char *s, time_t now, time_t *out)
{
	struct tm tm;
	bool two_digit = false;
	memset(&tm, 0, sizeof(tm));
	const char *comma = strchr(s, ',');
	int rc;
	if (comma != NULL) {
		if (comma - s < 3 || comma - s > 9 || comma[1] != ' ')
			return -1;
		rc = hd_after_comma(comma + 2, &tm, &two_digit);
	} else {
		if (strlen(s) < 4 || s[3] != ' ')
			return -1;
		rc = hd_asctime(s + 4, &tm);
	}
	if (rc != 0 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	if (two_digit)
		tm.tm_year = hd_century(tm.tm_year, now) - 1900;
	int mday = tm.tm_mday, mon = tm.tm_mon;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	if (tm.tm_mday != mday || tm.tm_mon != mon)
		return -1; /* timegm normalised it: "31 Feb" is not a date */
	*out = t;
	return 0;
}

int send_outcome_http_date(const char *s, time_t *out)
{
	return hd_parse(s, time(NULL), out);
}

int send_outcome_retry_after(const char *value, time_t now, int64_t *delay_ms)
{
	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0)
		return -1;
	if (value[0] >= '0' && value[0] <= '9') {
		int64_t secs = 0;
		for (size_t i = 0; i < n; i++) {
			if (value[i] < '0' || value[i] > '9')
				return -1;
			if (secs < SEND_RETRY_AFTER_MAX_S)
				secs = secs * 10 + (value[i] - '0');
		}
		*delay_ms = (secs > SEND_RETRY_AFTER_MAX_S ? SEND_RETRY_AFTER_MAX_S : secs) * 1000;
		return 0;
	}
	char tmp[64];
	time_t when;
	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, value, n);
	tmp[n] = '\0';
	if (hd_parse(tmp, now, &when) != 0)
		return -1;
	int64_t d = when > now ? (int64_t)(when - now) : 0;
	*delay_ms = (d > SEND_RETRY_AFTER_MAX_S ? SEND_RETRY_AFTER_MAX_S : d) * 1000;
	return 0;
}

int64_t send_outcome_backoff_ms(unsigned attempt, int64_t initial_ms, int64_t max_ms, uint64_t rnd)
{
	if (initial_ms < 1)
		initial_ms = 1;
	if (max_ms < initial_ms)
		max_ms = initial_ms;
	int64_t base = initial_ms;
	for (unsigned i = 1; i < attempt && base < max_ms; i++)
		base = base > max_ms / 2 ? max_ms : base * 2;
	if (base > max_ms)
		base = max_ms;
	int64_t d = base / 2 + (int64_t)(rnd % (uint64_t)base); /* [base/2, base*3/2) */
	if (d > max_ms)
		d = max_ms;
	return d < 1 ? 1 : d;
}

/* ---- response bodies -------------------------------------------------------- */

static void resp_message(struct send_response *out, const char *s, size_t n)
{
	if (n >= sizeof(out->message))
		n = sizeof(out->message) - 1;
	memcpy(out->message, s, n);
	out->message[n] = '\0';
	n = strlen(out->message); /* stop at an embedded NUL */
	spanview_utf8_fix(out->message, n);
	/* Cutting may have split the last character: trailing '?'s are harmless. */
}

static int resp_decode_pb(int status, const uint8_t *body, size_t len, struct send_response *out)
{
	if (status >= 200 && status <= 299) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
		    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, len, body);
		if (r == NULL)
			return -1;
		if (r->partial_success != NULL) {
			out->partial = true;
			out->rejected_spans = r->partial_success->rejected_spans;
			if (r->partial_success->error_message != NULL)
				resp_message(out, r->partial_success->error_message,
					     strlen(r->partial_success->error_message));
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
		return 0;
	}
	Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, body);
	if (st == NULL)
		return -1;
	if (st->message != NULL)
		resp_message(out, st->message, strlen(st->message));
	google__rpc__status__free_unpacked(st, NULL);
	return 0;
}

/* An int64 that JSON may carry as a number or (OTLP/JSON) a decimal string. */
static int resp_json_i64(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long long x = strtoll(s, &end, 10);
		if (end == s || *end != '\0')
			return -1;
		*out = x;
		return 0;
	}
	return -1;
}

static int resp_decode_json(int status, const char *body, size_t len, struct send_response *out)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &je), *msg = NULL;
	int rc = -1;
	if (root == NULL || !json_is_object(root))
		goto out;
	if (status >= 200 && status <= 299) {
		json_t *ps = json_object_get(root, "partialSuccess");
		if (ps != NULL && json_is_object(ps)) {
			json_t *rej = json_object_get(ps, "rejectedSpans");
			out->partial = true;
			if (rej != NULL && resp_json_i64(rej, &out->rejected_spans) != 0)
				goto out;
			msg = json_object_get(ps, "errorMessage");
		}
	} else {
		msg = json_object_get(root, "message");
	}
	if (msg != NULL && json_is_string(msg))
		resp_message(out, json_string_value(msg), json_string_length(msg));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* A proxy's error page: keep the first line-ish, with control characters blanked for the log. */
static void resp_text(const char *body, size_t len, struct send_response *out)
{
	resp_message(out, body, len);
	for (char *p = out->message; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
}

int send_outcome_decode(int status, const void *body, size_t len, enum send_body_kind kind, struct send_response *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (len > SEND_RESPONSE_MAX)
		return -1;
	int rc;
	switch (kind) {
	case SEND_BODY_JSON:
		rc = resp_decode_json(status, body, len, out);
		break;
	case SEND_BODY_TEXT:
		resp_text(body, len, out);
		return 0;
	case SEND_BODY_PROTOBUF:
	default:
		rc = resp_decode_pb(status, body, len, out);
		break;
	}
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
