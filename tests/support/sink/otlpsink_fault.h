/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Failures otlp-sink stages on command, so tests can put an exporter
 * through what real backends do: refuse with a status (and Retry-After,
 * in seconds or as an HTTP-date), answer slowly, drop the connection
 * without a word, or accept only part of a batch (OTLP partial_success).
 *
 * Each kind is armed by a control request (POST /_sink/<kind>?query) and
 * applies to the next `count` exports; the sink asks at each export which
 * ones apply, and each "take" that says yes uses one count up.
 */
#ifndef LLMGW_TESTS_OTLPSINK_FAULT_H
#define LLMGW_TESTS_OTLPSINK_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"

struct otlpsink_faults;

/* An injected error answer. */
struct otlpsink_fail_answer {
	int status;
	char retry_after[64]; /* "" = no Retry-After header */
};

/* An injected partial_success answer (the spans are still recorded). */
struct otlpsink_partial_answer {
	int64_t rejected;
	char message[256];
};

/* NULL on ENOMEM. */
struct otlpsink_faults *otlpsink_faults_new(void);
/* NULL is a no-op. */
void otlpsink_faults_free(struct otlpsink_faults *f);

/*
 * Arms one kind from a control request's query string (NULL = no query):
 *
 *   fail     status=100-599 (503) count=N (1) retry_after=TEXT retry_after_date=SECONDS
 *   slow     ms=0-600000 (required) count=N (every export until reset; 0 disarms)
 *   drop     count=N (1)
 *   partial  rejected=N (1) message=TEXT ("otlp-sink partial") count=N (1)
 *
 * retry_after is sent as given; retry_after_date=S sends an IMF-fixdate S
 * seconds after the moment of each answer (S may be negative). Returns a
 * new JSON object echoing what is armed, or NULL with a usage line in err.
 */
json_t *otlpsink_faults_arm(struct otlpsink_faults *f, const char *kind, const char *query, struct err *err);

/* Disarms everything. */
void otlpsink_faults_clear(struct otlpsink_faults *f);

/* New JSON object of what is still armed: {fail, slow, drop, partial} counts (-1 = unbounded). */
json_t *otlpsink_faults_json(const struct otlpsink_faults *f);
/* Exports the armed failure will still answer (for the old stats key fail_pending). */
long otlpsink_faults_fail_pending(const struct otlpsink_faults *f);

/* True (one count used) when this export's connection is to be dropped. */
bool otlpsink_faults_take_drop(struct otlpsink_faults *f);
/* Milliseconds to hold this export's answer, 0 for none (one count used when > 0). */
long otlpsink_faults_take_slow(struct otlpsink_faults *f);
/* True (one count used, *out filled, dates computed from now) when this export gets an error. */
bool otlpsink_faults_take_fail(struct otlpsink_faults *f, time_t now, struct otlpsink_fail_answer *out);
/* True (one count used, *out filled) when this export gets a partial_success. */
bool otlpsink_faults_take_partial(struct otlpsink_faults *f, struct otlpsink_partial_answer *out);

/* t as an RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (buf of 30+ bytes). */
void otlpsink_http_date(time_t t, char *buf, size_t n);

/* Strict decimal in [min, max]; -1 for NULL, junk or out of range. */
int otlpsink_parse_long(const char *s, long min, long max, long *out);

#endif
