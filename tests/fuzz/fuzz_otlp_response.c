/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what comes back from an OTLP endpoint (or a proxy in
 * front of it): response bodies (ExportTraceServiceResponse for 2xx,
 * google.rpc.Status otherwise, protobuf or JSON or text) and Retry-After
 * header values. Byte 0 picks the status and body kind, the rest is the
 * body. Invariants: no crash, no leak, the decoded message is NUL-terminated
 * valid UTF-8 (it goes into log lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/send_outcome.h"
#include "exporter/spanview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {200, 202, 400, 413, 429, 500, 503, 504};
	if (size == 0)
		return 0;
	int status = statuses[data[0] & 7];
	enum send_body_kind kind = (enum send_body_kind)((data[0] >> 3) % 3);
	struct send_response r;
	(void)send_outcome_decode(status, data + 1, size - 1, kind, &r);
	size_t n = strnlen(r.message, sizeof(r.message));
	if (n == sizeof(r.message) || !spanview_utf8_valid(r.message, n))
		abort();

	/* The same bytes as a Retry-After header value (headers are NUL-free strings). */
	if (size < 128) {
		char hv[128];
		memcpy(hv, data + 1, size - 1);
		hv[size - 1] = '\0';
		int64_t ms;
		if (send_outcome_retry_after(hv, 1700000000, &ms) == 0 &&
		    (ms < 0 || ms > (int64_t)SEND_RETRY_AFTER_MAX_S * 1000))
			abort();
	}
	return 0;
}
