/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 server connections of llmgw-mock on nghttp2 (TLS with ALPN "h2",
 * or cleartext prior knowledge with --h2c). Every endpoint works as over
 * HTTP/1.1, SSE streams included (DATA frames as events are produced);
 * x-mock-fail-after ends a stream with RST_STREAM(INTERNAL_ERROR).
 */
#ifndef LLMGW_TESTS_MOCK_H2_H
#define LLMGW_TESTS_MOCK_H2_H

#include <stdbool.h>

#include "tests/support/mock/mock-t.h"

struct bufferevent;

/*
 * Serves HTTP/2 on bev (taken: freed with the connection), starting with
 * whatever bev already read (the client preface included). -1 on ENOMEM
 * (bev then still the caller's).
 */
int mock_h2_start(struct mock *m, struct bufferevent *bev, bool tls);

#endif
