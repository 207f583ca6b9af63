/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exporter's end of the span pipeline: a nanomsg PULL socket bound to
 * receive.url (the gateway's PUSH sockets connect to it), watched by the
 * libevent loop through NN_RCVFD. Each message is validated with
 * spanrec_validate(); valid records go to the callback, invalid ones are
 * counted by reason and logged at a limited rate.
 */
#ifndef LLMGW_EXPORTER_RECEIVE_H
#define LLMGW_EXPORTER_RECEIVE_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/spanrec-t.h"
#include "exporter/ex_metrics.h"

struct receive;

/* A valid record, upgraded to the current version; valid only during the call. */
typedef void (*receive_cb)(void *arg, const struct spanrec *r);

/*
 * Creates the socket, sets NN_RCVBUF to rcvbuf bytes, binds url and starts
 * watching. A leftover ipc:// socket file from a crashed run is taken over
 * (nanomsg removes it when nobody listens on it). NULL with err when the
 * bind fails (address in use, bad url, no permission).
 */
struct receive *receive_new(struct event_base *evb, const char *url, size_t rcvbuf, struct ex_metrics *m, receive_cb cb,
			    void *arg, struct err *err);
typedef void (*receive_stopped_cb)(void *arg);

/*
 * Stops intake: reads on what the socket holds until nothing has arrived
 * for 100 ms (bounded: at most 1 s and 65536 records), then closes it so
 * the gateway's sends start failing fast instead of filling a buffer nobody
 * reads, logs event=receive_stopped final_records=N, and calls done (from
 * the event loop; at once if the socket is already closed). Records read
 * meanwhile go to the callback as usual. receive_free before then cancels
 * it without calling done.
 */
void receive_stop(struct receive *r, receive_stopped_cb done, void *arg);
void receive_free(struct receive *r);
/* true while the socket is bound and watched (/readyz). */
bool receive_ready(const struct receive *r);

#endif
