/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request header policy, as pure functions: which client headers travel
 * upstream, which x-request-id a client may choose, and which headers are
 * caller metadata for spans. Kept apart from the HTTP plumbing so the
 * policy is one readable place and unit-testable without sockets.
 */
#ifndef LLMGW_GATEWAY_REQ_HDR_H
#define LLMGW_GATEWAY_REQ_HDR_H

#include <stdbool.h>
#include <stddef.h>

#define REQ_ID_MAX 64 /* longest client-chosen x-request-id we keep */

/*
 * True if a client-chosen x-request-id is sane: 1..REQ_ID_MAX characters
 * of [A-Za-z0-9._:-]. Anything else is replaced by a generated id.
 */
bool req_hdr_request_id_ok(const char *v);

/*
 * True if the client header `name` is end-to-end and may be forwarded
 * upstream. False for credentials and things the gateway sets itself
 * (Authorization, Cookie, Host, Content-Length, Content-Type,
 * Accept-Encoding, x-api-key, api-key, traceparent, x-request-id), for
 * hop-by-hop headers (Connection, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade, Expect) and for x-llmgw-*. `connection` is
 * the client's Connection header value (may be NULL): headers it lists are
 * hop-by-hop too (RFC 9110 7.6.1).
 */
bool req_hdr_forwardable(const char *name, const char *connection);

/*
 * Recognises "x-llmgw-meta-<key>" (any case). Returns 1 and writes the
 * lower-cased key into out (NUL-terminated) when the key is 1..cap-1
 * characters of [a-z0-9._-]; 0 when name is not a meta header; -1 when it
 * is one with an unusable key.
 */
int req_hdr_meta_key(const char *name, char *out, size_t cap);

/* True if a metadata value is printable ASCII (it becomes a span attribute). */
bool req_hdr_meta_value_ok(const char *v);

#endif
