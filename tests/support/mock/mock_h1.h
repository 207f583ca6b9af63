/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 server connections of llmgw-mock (plain or TLS): request
 * parsing (Content-Length and chunked bodies, keep-alive, pipelining,
 * Expect: 100-continue) and responses with Content-Length or chunked for
 * streams. A client that disconnects while its request is waiting or
 * streaming is noticed at once (reading stays on) and reported to the
 * request.
 */
#ifndef LLMGW_TESTS_MOCK_H1_H
#define LLMGW_TESTS_MOCK_H1_H

#include <stdbool.h>

#include "tests/support/mock/mock-t.h"

struct bufferevent;

/*
 * Serves HTTP/1.1 on bev (taken: freed with the connection), starting with
 * whatever bev already read. -1 on ENOMEM (bev then still the caller's).
 */
int mock_h1_start(struct mock *m, struct bufferevent *bev, bool tls);

#endif
