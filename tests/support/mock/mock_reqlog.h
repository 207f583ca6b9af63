/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mock's memory of what it received: the last MOCK_REQLOG_MAX requests
 * (method, path, lower-cased headers, body, protocol), served by GET
 * /_mock/requests so a test can check exactly what the gateway sent
 * upstream (forwarded and stripped headers, traceparent, the rewritten
 * body, HTTP/2 or not) and whether it hung up before the answer was done.
 */
#ifndef LLMGW_TESTS_MOCK_REQLOG_H
#define LLMGW_TESTS_MOCK_REQLOG_H

#include <jansson.h>

struct mock_reqlog;
struct mock_req;

#define MOCK_REQLOG_MAX 100
#define MOCK_REQLOG_BODY_MAX (1024 * 1024) /* longer bodies are cut and flagged */

struct mock_reqlog *mock_reqlog_new(void);
/* NULL is a no-op. */
void mock_reqlog_free(struct mock_reqlog *l);

/*
 * Records r (its body is read, not drained) as {method, path, headers,
 * body, body_truncated, http_version, tls, client_closed: false}. The
 * oldest entry goes when the log is full. Returns a new reference to the
 * entry, which the request keeps to set "client_closed" later; NULL on
 * ENOMEM (the request is then not recorded).
 */
json_t *mock_reqlog_add(struct mock_reqlog *l, struct mock_req *r);

/* Oldest first, as a new JSON array (caller owns it); NULL on ENOMEM. */
json_t *mock_reqlog_json(const struct mock_reqlog *l);

void mock_reqlog_clear(struct mock_reqlog *l);

#endif
