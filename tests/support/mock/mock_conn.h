/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections of llmgw-mock: the listener, the first moments of each
 * connection (TLS handshake and ALPN, or sniffing the HTTP/2 client preface
 * for --h2c) and the hand-off to mock_h1 or mock_h2; the registry of open
 * connections (closed at shutdown) and the reaper that frees connections
 * and requests from a fresh loop iteration.
 */
#ifndef LLMGW_TESTS_MOCK_CONN_H
#define LLMGW_TESTS_MOCK_CONN_H

#include "common/err.h"
#include "tests/support/mock/mock-t.h"

/* Creates the reaper event and binds the listener on opts.listen_host:port. -1 with err. */
int mock_conn_listen(struct mock *m, struct err *err);

/* Stops listening, closes every connection and frees everything the reaper holds. */
void mock_conn_shutdown(struct mock *m);

/* Lists c among the open connections (c->close must be set). */
void mock_conn_register(struct mock *m, struct mock_conn *c);

/* Unlists c and queues it for c->reap.free from a later loop iteration. */
void mock_conn_defer_free(struct mock *m, struct mock_conn *c);

/* Queues any object for r->free from a later loop iteration. */
void mock_conn_reap_later(struct mock *m, struct mock_reap *r);

/* Sets SO_LINGER 0 on fd so that closing it sends a TCP RST instead of a FIN. */
void mock_conn_linger_rst(int fd);

#endif
