/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/HTTP delivery decisions, free of I/O so they can be unit-tested and
 * fuzzed: what an HTTP status means (done, retry, drop), how long to wait
 * (exponential backoff with jitter, Retry-After in both of its forms), and
 * what the response body says (partial success, google.rpc.Status).
 */
#ifndef LLMGW_EXPORTER_SEND_OUTCOME_H
#define LLMGW_EXPORTER_SEND_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What became of one export attempt. */
enum send_outcome {
	SEND_OK = 0, /* delivered (possibly with a partial success) */
	SEND_RETRY,  /* transient: try the same bytes again later */
	SEND_DROP,   /* permanent: retrying cannot help, count and forget */
};

/* How a response body is encoded, from its Content-Type. */
enum send_body_kind {
	SEND_BODY_PROTOBUF = 0, /* application/x-protobuf (the OTLP default) */
	SEND_BODY_JSON,		/* application/json */
	SEND_BODY_TEXT,		/* anything else: a proxy's HTML or text error page */
};

#define SEND_RESPONSE_MAX (4u * 1024 * 1024) /* OTLP: clients cap response parsing at 4 MiB */
#define SEND_RETRY_AFTER_MAX_S 86400	     /* longer Retry-After values are clamped to a day */

/*
 * OTLP/HTTP rules: 2xx OK; 429, 502, 503, 504 and status 0 (no response:
 * connect failure, reset, timeout) RETRY; every other status DROP.
 */
enum send_outcome send_outcome_classify(int status);
/* Metric label for a dropped batch: "too_large" for 413, else "rejected_by_backend". */
const char *send_outcome_drop_reason(int status);
const char *send_outcome_name(enum send_outcome o); /* "ok", "retry", "drop" */

/* Body kind from a Content-Type header value (NULL = protobuf, the OTLP default). */
enum send_body_kind send_outcome_body_kind(const char *content_type);

/*
 * Parses an HTTP-date in any of the three forms RFC 9110 requires
 * recipients to accept (IMF-fixdate, RFC 850, asctime) into unix seconds.
 * RFC 850's two-digit year is placed in the century that puts it at most
 * 50 years after the current year. -1 if s is not one of them, or names a
 * day the month does not have.
 */
int send_outcome_http_date(const char *s, time_t *out);

/*
 * Retry-After as a delay from now (unix seconds): delay-seconds or an
 * HTTP-date in any of the three forms, relative to now (which also places
 * an RFC 850 two-digit year); a date in the past means 0. Clamped to
 * SEND_RETRY_AFTER_MAX_S.
 * -1 when value is NULL or malformed (the caller then uses its backoff).
 */
int send_outcome_retry_after(const char *value, time_t now, int64_t *delay_ms);

/*
 * Backoff before retry number `attempt` (1 = first retry): base =
 * initial_ms * 2^(attempt-1) capped at max_ms, then "equal jitter" spread
 * over [base/2, base*3/2), capped at max_ms again, at least 1 ms. rnd is a
 * uniformly random 64-bit value (the caller's generator; tests pass fixed
 * ones).
 */
int64_t send_outcome_backoff_ms(unsigned attempt, int64_t initial_ms, int64_t max_ms, uint64_t rnd);

/* What a response body said. */
struct send_response {
	bool partial;		/* 2xx with partial_success set */
	int64_t rejected_spans; /* from partial_success (0 = only a warning message) */
	char message[256];	/* partial_success.error_message, Status.message, or text body; valid UTF-8 */
};

/*
 * Decodes body (len <= SEND_RESPONSE_MAX) of a response with the given
 * status: ExportTraceServiceResponse for 2xx, google.rpc.Status otherwise,
 * in protobuf or JSON per kind; a text body is kept (cut) as the message.
 * An empty body decodes to "nothing to report". Returns 0, or -1 when the
 * body cannot be decoded (out then holds zeroes and an empty message).
 */
int send_outcome_decode(int status, const void *body, size_t len, enum send_body_kind kind, struct send_response *out);

#endif
