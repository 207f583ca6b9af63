/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault modes of otlp-sink: parsing the control queries that arm them and
 * handing out, export by export, the ones that apply. Kept apart from the
 * HTTP plumbing so the rules ("count=0 disarms", "slow without count lasts
 * until reset", a date computed at answer time, not at arming time) live
 * in one place a test author can read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tests/support/sink/otlpsink_fault.h"

#define FAULT_MAX_COUNT 100000000L
#define FAULT_MAX_SLOW_MS 600000L
#define FAULT_MAX_DATE_S (10L * 365 * 86400)

struct otlpsink_faults {
	struct {
		int status;
		long count;
		char retry_after[64];
		bool date; /* retry_after_date given */
		long date_s;
	} fail;
	struct {
		long ms;
		long count; /* -1 = unbounded */
	} slow;
	struct {
		long count;
	} drop;
	struct {
		long count;
		int64_t rejected;
		char message[256];
	} partial;
};

int otlpsink_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	if (s == NULL)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

struct otlpsink_faults *otlpsink_faults_new(void)
{
	return calloc(1, sizeof(struct otlpsink_faults));
}

void otlpsink_faults_free(struct otlpsink_faults *f)
{
	free(f);
}

void otlpsink_faults_clear(struct otlpsink_faults *f)
{
	memset(f, 0, sizeof(*f));
}

/* An optional integer parameter: absent keeps *out, present must parse. */
static int opt_long(const struct evkeyvalq *q, const char *key, long min, long max, long *out)
{
	const char *v = evhttp_find_header(q, key);
	return v == NULL ? 0 : otlpsink_parse_long(v, min, max, out);
}

static json_t *arm_fail(struct otlpsink_faults *f, const struct evkeyvalq *q)
{
	long status = 503, count = 1, date_s = 0;
	const char *ra = evhttp_find_header(q, "retry_after");
	const char *rad = evhttp_find_header(q, "retry_after_date");
	if (opt_long(q, "status", 100, 599, &status) != 0 || opt_long(q, "count", 0, FAULT_MAX_COUNT, &count) != 0 ||
	    opt_long(q, "retry_after_date", -FAULT_MAX_DATE_S, FAULT_MAX_DATE_S, &date_s) != 0 ||
	    (ra != NULL && strlen(ra) >= sizeof(f->fail.retry_after)) || (ra != NULL && rad != NULL))
		return NULL;
	f->fail.status = (int)status;
	f->fail.count = count;
	f->fail.date = rad != NULL;
	f->fail.date_s = date_s;
	snprintf(f->fail.retry_after, sizeof(f->fail.retry_after), "%s", ra != NULL ? ra : "");
	return json_pack("{s:i, s:I, s:s, s:o}", "status", (int)status, "count", (json_int_t)count, "retry_after",
			 f->fail.retry_after, "retry_after_date", rad != NULL ? json_integer(date_s) : json_null());
}

static json_t *arm_slow(struct otlpsink_faults *f, const struct evkeyvalq *q)
{
	long ms = -1, count = -1;
	if (otlpsink_parse_long(evhttp_find_header(q, "ms"), 0, FAULT_MAX_SLOW_MS, &ms) != 0 ||
	    opt_long(q, "count", 0, FAULT_MAX_COUNT, &count) != 0)
		return NULL;
	f->slow.ms = ms;
	f->slow.count = ms > 0 ? count : 0;
	return json_pack("{s:I, s:I}", "ms", (json_int_t)ms, "count", (json_int_t)f->slow.count);
}

static json_t *arm_drop(struct otlpsink_faults *f, const struct evkeyvalq *q)
{
	long count = 1;
	if (opt_long(q, "count", 0, FAULT_MAX_COUNT, &count) != 0)
		return NULL;
	f->drop.count = count;
	return json_pack("{s:I}", "count", (json_int_t)count);
}

static json_t *arm_partial(struct otlpsink_faults *f, const struct evkeyvalq *q)
{
	long rejected = 1, count = 1;
	const char *msg = evhttp_find_header(q, "message");
	if (opt_long(q, "rejected", 0, FAULT_MAX_COUNT, &rejected) != 0 ||
	    opt_long(q, "count", 0, FAULT_MAX_COUNT, &count) != 0 ||
	    (msg != NULL && strlen(msg) >= sizeof(f->partial.message)))
		return NULL;
	f->partial.count = count;
	f->partial.rejected = rejected;
	snprintf(f->partial.message, sizeof(f->partial.message), "%s", msg != NULL ? msg : "otlp-sink partial");
	return json_pack("{s:I, s:I, s:s}", "rejected", (json_int_t)rejected, "count", (json_int_t)count, "message",
			 f->partial.message);
}

static const struct {
	const char *kind;
	json_t *(*arm)(struct otlpsink_faults *f, const struct evkeyvalq *q);
	const char *usage;
} fault_kinds[] = {
    {"fail", arm_fail, "POST /_sink/fail?status=100-599&count=N[&retry_after=TEXT|&retry_after_date=SECONDS]"},
    {"slow", arm_slow, "POST /_sink/slow?ms=0-600000[&count=N]"},
    {"drop", arm_drop, "POST /_sink/drop?count=N"},
    {"partial", arm_partial, "POST /_sink/partial?rejected=N&message=TEXT&count=N"},
};

json_t *otlpsink_faults_arm(struct otlpsink_faults *f, const char *kind, const char *query, struct err *err)
{
	struct evkeyvalq params;
	TAILQ_INIT(&params);
	for (size_t i = 0; i < sizeof(fault_kinds) / sizeof(fault_kinds[0]); i++) {
		if (strcmp(kind, fault_kinds[i].kind) != 0)
			continue;
		json_t *v = NULL;
		if (query == NULL || evhttp_parse_query_str(query, &params) == 0)
			v = fault_kinds[i].arm(f, &params);
		evhttp_clear_headers(&params);
		if (v == NULL)
			err_set(err, EINVAL, "usage: %s", fault_kinds[i].usage);
		return v;
	}
	err_set(err, ENOENT, "unknown fault kind %s", kind);
	return NULL;
}

json_t *otlpsink_faults_json(const struct otlpsink_faults *f)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "fail", (json_int_t)f->fail.count, "slow", (json_int_t)f->slow.count,
			 "drop", (json_int_t)f->drop.count, "partial", (json_int_t)f->partial.count);
}

long otlpsink_faults_fail_pending(const struct otlpsink_faults *f)
{
	return f->fail.count;
}

bool otlpsink_faults_take_drop(struct otlpsink_faults *f)
{
	if (f->drop.count <= 0)
		return false;
	f->drop.count--;
	return true;
}

long otlpsink_faults_take_slow(struct otlpsink_faults *f)
{
	if (f->slow.count == 0 || f->slow.ms <= 0)
		return 0;
	if (f->slow.count > 0)
		f->slow.count--;
	return f->slow.ms;
}

bool otlpsink_faults_take_fail(struct otlpsink_faults *f, time_t now, struct otlpsink_fail_answer *out)
{
	if (f->fail.count <= 0)
		return false;
	f->fail.count--;
	out->status = f->fail.status;
	if (f->fail.date)
		otlpsink_http_date(now + (time_t)f->fail.date_s, out->retry_after, sizeof(out->retry_after));
	else
		snprintf(out->retry_after, sizeof(out->retry_after), "%s", f->fail.retry_after);
	return true;
}

bool otlpsink_faults_take_partial(struct otlpsink_faults *f, struct otlpsink_partial_answer *out)
{
	if (f->partial.count <= 0)
		return false;
	f->partial.count--;
	out->rejected = f->partial.rejected;
	snprintf(out->message, sizeof(out->message), "%s", f->partial.message);
	return true;
}

void otlpsink_http_date(time_t t, char *buf, size_t n)
{
	/* Spelled out rather than strftime("%a %b"), which follows the locale. */
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, n, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
