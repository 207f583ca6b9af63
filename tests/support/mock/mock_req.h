/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport-neutral request of llmgw-mock. The HTTP/1.1 and HTTP/2
 * connections fill a struct mock_req and hand it to the router; handlers
 * read it and answer through the calls below, which forward to whichever
 * transport carries the request. A handler never needs to know whether the
 * client went away: once the transport detached the request, every answer
 * call is a no-op and its timer is cancelled.
 */
#ifndef LLMGW_TESTS_MOCK_REQ_H
#define LLMGW_TESTS_MOCK_REQ_H

#include "tests/support/mock/mock-t.h"

/* Largest request body accepted (HTTP/1.1 413, HTTP/2 RST_STREAM past it). */
#define MOCK_MAX_BODY (16 * 1024 * 1024)

/* New request attached to transport ops/conn; NULL on ENOMEM. Freed through mock_req_detach. */
struct mock_req *mock_req_new(struct mock *m, const struct mock_req_ops *ops, void *conn);

/*
 * Sets the target (copied; path is the part before '?'); -1 on ENOMEM or
 * an empty target.
 */
int mock_req_set_target(struct mock_req *r, const char *target, size_t len);

/*
 * The transport lets go of r: called once, when the response is complete,
 * the stream/connection closed, or the connection is torn down. client_left
 * says the client disconnected before the answer was complete; for a
 * recorded request that marks its log entry "client_closed": true. Timers
 * stop at once; r itself is freed from a later loop iteration.
 */
void mock_req_detach(struct mock_req *r, bool client_left);

/* Request header value (case-insensitive name) or NULL. */
const char *mock_req_header(const struct mock_req *r, const char *name);

/* The whole request body, contiguous (may be NULL when empty). */
const char *mock_req_body(struct mock_req *r, size_t *len);

/* Adds a response header (before the head is sent); -1 if it is not a valid header. */
int mock_req_add_header(struct mock_req *r, const char *name, const char *value);

/* Answers at once: status, Content-Type ctype, body (taken; freed here); an x-mock-fault may break it. */
void mock_req_respond(struct mock_req *r, int status, const char *ctype, struct evbuffer *body);

/* A streamed answer: head now, then pieces, then end (or reset). Each returns -1 once detached. */
int mock_req_stream_head(struct mock_req *r, int status, const char *ctype);
int mock_req_stream_write(struct mock_req *r, const void *p, size_t n);
void mock_req_stream_end(struct mock_req *r);
void mock_req_reset(struct mock_req *r);

/* true while the transport still holds r (the client has not gone and the answer is not complete). */
bool mock_req_attached(const struct mock_req *r);

/*
 * Runs cb(r) after ms milliseconds (an evtimer: never blocks), replacing any
 * earlier schedule. Cancelled when r is detached. -1 on ENOMEM.
 */
int mock_req_after(struct mock_req *r, int ms, void (*cb)(struct mock_req *r));

/*
 * Attaches handler state freed with r (job_free(job)); replaces and frees
 * any earlier job.
 */
void mock_req_set_job(struct mock_req *r, void *job, void (*job_free)(void *job));

#endif
