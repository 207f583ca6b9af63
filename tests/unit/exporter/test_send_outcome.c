/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send_outcome: the OTLP/HTTP status table, Retry-After in both forms
 * (delay-seconds and all three HTTP-date formats), backoff bounds with
 * jitter, and response body decoding (partial success, google.rpc.Status,
 * JSON, text, garbage).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "exporter/send_outcome.h"

static void test_classify(void **state)
{
	(void)state;
	static const struct {
		int status;
		enum send_outcome want;
	} table[] = {
	    {200, SEND_OK},    {202, SEND_OK},	  {204, SEND_OK},    {0, SEND_RETRY},  {429, SEND_RETRY},
	    {502, SEND_RETRY}, {503, SEND_RETRY}, {504, SEND_RETRY}, {400, SEND_DROP}, {401, SEND_DROP},
	    {403, SEND_DROP},  {404, SEND_DROP},  {408, SEND_DROP},  {413, SEND_DROP}, {500, SEND_DROP},
	    {501, SEND_DROP},  {505, SEND_DROP},  {301, SEND_DROP},  {100, SEND_DROP},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (send_outcome_classify(table[i].status) != table[i].want)
			fail_msg("status %d: got %s", table[i].status,
				 send_outcome_name(send_outcome_classify(table[i].status)));
	}
	assert_string_equal(send_outcome_drop_reason(413), "too_large");
	assert_string_equal(send_outcome_drop_reason(400), "rejected_by_backend");
	assert_int_equal(send_outcome_body_kind(NULL), SEND_BODY_PROTOBUF);
	assert_int_equal(send_outcome_body_kind("application/x-protobuf"), SEND_BODY_PROTOBUF);
	assert_int_equal(send_outcome_body_kind("application/json; charset=utf-8"), SEND_BODY_JSON);
	assert_int_equal(send_outcome_body_kind("text/html"), SEND_BODY_TEXT);
}

static void test_retry_after(void **state)
{
	(void)state;
	const time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
	int64_t ms = -1;
	assert_int_equal(send_outcome_retry_after("120", now, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(send_outcome_retry_after(" 0 ", now, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(send_outcome_retry_after("99999999999999999999", now, &ms), 0);
	assert_int_equal(ms, (int64_t)SEND_RETRY_AFTER_MAX_S * 1000);
	/* The three HTTP-date forms, 30 s in the future. */
	assert_int_equal(send_outcome_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(send_outcome_retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now, &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(send_outcome_retry_after("Sun Nov  6 08:50:07 1994", now, &ms), 0);
	assert_int_equal(ms, 30000);
	/* A date in the past means "now". */
	assert_int_equal(send_outcome_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now, &ms), 0);
	assert_int_equal(ms, 0);
	const char *bad[] = {NULL,
			     "",
			     "-1",
			     "1.5",
			     "12abc",
			     "soon",
			     "Sun, 06 Nov 1994 08:49:37",
			     "Sun, 6 Nov 1994 08:49:37 GMT",
			     "Sun, 06 Foo 1994 08:49:37 GMT",
			     "Sun, 06 Nov 1994 25:49:37 GMT",
			     "Sun Nov 6 08:49:37 1994 x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (send_outcome_retry_after(bad[i], now, &ms) == 0)
			fail_msg("accepted bad Retry-After \"%s\"", bad[i] ? bad[i] : "(null)");
	}
	time_t t;
	assert_int_equal(send_outcome_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(send_outcome_http_date("Sun, 31 Feb 1994 08:49:37 GMT", &t), -1); /* no such day */
	assert_int_equal(send_outcome_http_date("Thu, 29 Feb 2024 00:00:00 GMT", &t), 0);  /* a leap day */
}

/* Dates relative to a "now" in 2026: clamping both ways, and RFC 850's two-digit years. */
static void test_retry_after_dates_2026(void **state)
{
	(void)state;
	const time_t now = 1767225600; /* Thu, 01 Jan 2026 00:00:00 GMT */
	int64_t ms = -1;
	assert_int_equal(send_outcome_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(send_outcome_retry_after("\tThu, 01 Jan 2026 00:02:00 GMT  ", now, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(send_outcome_retry_after("Fri, 02 Jan 2026 00:00:01 GMT", now, &ms), 0);
	assert_int_equal(ms, (int64_t)SEND_RETRY_AFTER_MAX_S * 1000); /* more than a day: clamped */
	assert_int_equal(send_outcome_retry_after("Wed, 31 Dec 2025 23:59:59 GMT", now, &ms), 0);
	assert_int_equal(ms, 0); /* just past: now */
	/* RFC 850: "26" is 2026; "76" would be 50 years ahead (allowed); "77" is 1977, in the past */
	assert_int_equal(send_outcome_retry_after("Thursday, 01-Jan-26 00:00:05 GMT", now, &ms), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(send_outcome_retry_after("Wednesday, 01-Jan-76 00:00:00 GMT", now, &ms), 0);
	assert_int_equal(ms, (int64_t)SEND_RETRY_AFTER_MAX_S * 1000);
	assert_int_equal(send_outcome_retry_after("Saturday, 01-Jan-77 00:00:00 GMT", now, &ms), 0);
	assert_int_equal(ms, 0);
	/* asctime, single-digit day padded with a space */
	assert_int_equal(send_outcome_retry_after("Thu Jan  1 00:00:42 2026", now, &ms), 0);
	assert_int_equal(ms, 42000);
}

static void test_backoff_bounds(void **state)
{
	(void)state;
	const uint64_t rnds[] = {0, 1, 499, 500, 999, 123456789, UINT64_MAX};
	for (unsigned attempt = 1; attempt <= 40; attempt++) {
		int64_t base = 1000;
		for (unsigned i = 1; i < attempt && base < 30000; i++)
			base = base * 2 > 30000 ? 30000 : base * 2;
		for (size_t j = 0; j < sizeof(rnds) / sizeof(rnds[0]); j++) {
			int64_t d = send_outcome_backoff_ms(attempt, 1000, 30000, rnds[j]);
			int64_t hi = base + base / 2 > 30000 ? 30000 : base + base / 2;
			if (d < base / 2 || d > hi)
				fail_msg("attempt %u rnd %zu: %lld not in [%lld, %lld]", attempt, j, (long long)d,
					 (long long)base / 2, (long long)hi);
		}
	}
	/* Jitter actually spreads values, and the exponent grows. */
	assert_int_equal(send_outcome_backoff_ms(1, 1000, 30000, 0), 500);
	assert_int_equal(send_outcome_backoff_ms(1, 1000, 30000, 999), 1499);
	assert_int_equal(send_outcome_backoff_ms(3, 1000, 30000, 0), 2000);
	assert_int_equal(send_outcome_backoff_ms(100, 1000, 30000, 0), 15000);
	assert_true(send_outcome_backoff_ms(1, 1, 1, 0) >= 1);
}

static void test_decode_partial_success_pb(void **state)
{
	(void)state;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	ps.rejected_spans = 3;
	ps.error_message = "3 spans had no name";
	resp.partial_success = &ps;
	uint8_t buf[256];
	size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, buf);
	struct send_response r;
	assert_int_equal(send_outcome_decode(200, buf, n, SEND_BODY_PROTOBUF, &r), 0);
	assert_true(r.partial);
	assert_int_equal(r.rejected_spans, 3);
	assert_string_equal(r.message, "3 spans had no name");
	/* Full success: empty body, or a response without partial_success. */
	assert_int_equal(send_outcome_decode(200, "", 0, SEND_BODY_PROTOBUF, &r), 0);
	assert_false(r.partial);
	resp.partial_success = NULL;
	n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, buf);
	assert_int_equal(send_outcome_decode(200, buf, n, SEND_BODY_PROTOBUF, &r), 0);
	assert_false(r.partial);
}

static void test_decode_status_pb(void **state)
{
	(void)state;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	st.code = 3;
	st.message = "invalid trace id";
	uint8_t buf[128];
	size_t n = google__rpc__status__pack(&st, buf);
	struct send_response r;
	assert_int_equal(send_outcome_decode(400, buf, n, SEND_BODY_PROTOBUF, &r), 0);
	assert_string_equal(r.message, "invalid trace id");
	assert_false(r.partial);
	/* Garbage: a truncated varint. */
	const uint8_t junk[] = {0x08, 0xff, 0xff};
	assert_int_equal(send_outcome_decode(400, junk, sizeof(junk), SEND_BODY_PROTOBUF, &r), -1);
	assert_string_equal(r.message, "");
}

static void test_decode_json_and_text(void **state)
{
	(void)state;
	struct send_response r;
	const char *ok = "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":\"dup\"},\"unknown\":1}";
	assert_int_equal(send_outcome_decode(200, ok, strlen(ok), SEND_BODY_JSON, &r), 0);
	assert_true(r.partial);
	assert_int_equal(r.rejected_spans, 2);
	assert_string_equal(r.message, "dup");
	const char *num = "{\"partialSuccess\":{\"rejectedSpans\":5}}";
	assert_int_equal(send_outcome_decode(200, num, strlen(num), SEND_BODY_JSON, &r), 0);
	assert_int_equal(r.rejected_spans, 5);
	const char *st = "{\"code\":8,\"message\":\"slow down\"}";
	assert_int_equal(send_outcome_decode(429, st, strlen(st), SEND_BODY_JSON, &r), 0);
	assert_string_equal(r.message, "slow down");
	assert_int_equal(send_outcome_decode(200, "{nope", 5, SEND_BODY_JSON, &r), -1);
	const char *html = "<html>\r\n<h1>413 Request Entity Too Large</h1>\xff</html>";
	assert_int_equal(send_outcome_decode(413, html, strlen(html), SEND_BODY_TEXT, &r), 0);
	assert_null(strchr(r.message, '\n'));
	assert_non_null(strstr(r.message, "413 Request Entity Too Large"));
	assert_int_equal(send_outcome_decode(200, "x", SEND_RESPONSE_MAX + 1, SEND_BODY_PROTOBUF, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_retry_after_dates_2026),
	    cmocka_unit_test(test_backoff_bounds),
	    cmocka_unit_test(test_decode_partial_success_pb),
	    cmocka_unit_test(test_decode_status_pb),
	    cmocka_unit_test(test_decode_json_and_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
