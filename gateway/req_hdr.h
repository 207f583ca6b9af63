/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request header policy, as pure functions: which client headers travel
 * upstream, which x-request-id a client may choose, and which headers are
 * caller metadata for spans. Kept apart from the HTTP plumbing so the
 * policy is one readable place and unit-testable without sockets.
 *
 * Caller metadata is what the caller says about itself (feature, run id,
 * ...) and only ever becomes span attributes. Tenancy never comes from
 * here: tenant_id, team, user and the key name are taken from the virtual
 * key. Metadata keys that look like tenancy ("tenant_id", "team", "user",
 * "key") are accepted as plain metadata pairs and cannot override it.
 */
#ifndef LLMGW_GATEWAY_REQ_HDR_H
#define LLMGW_GATEWAY_REQ_HDR_H

#include <stdbool.h>
#include <stddef.h>

#define REQ_ID_MAX 64 /* longest client-chosen x-request-id we keep */

/*
 * x-llmgw-metadata bounds; they match the span record's caller metadata
 * slots (spanrec_meta, checked in req_hdr.c) so nothing accepted here is
 * cut later.
 */
#define REQ_META_MAX 4		 /* pairs */
#define REQ_META_KEY_MAX 16	 /* key bytes incl. NUL: 1-15 characters */
#define REQ_META_VALUE_MAX 40	 /* value bytes incl. NUL: at most 39 */
#define REQ_META_HEADER_MAX 1024 /* header value bytes */

struct req_meta_pair {
	char key[REQ_META_KEY_MAX];
	char value[REQ_META_VALUE_MAX];
};

/* Caller metadata in header order; owned by the caller (usually embedded). */
struct req_meta {
	struct req_meta_pair pair[REQ_META_MAX];
	unsigned n;
};

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

/*
 * Parses an x-llmgw-metadata header value: a JSON object such as
 * {"feature":"search","run":42} of at most REQ_META_HEADER_MAX bytes and
 * REQ_META_MAX members, no duplicate keys. Keys are 1-15 characters of
 * [a-z0-9._-] (not lower-cased: a caller sending "Feature" is told, not
 * silently changed). Values are strings of printable ASCII, at most 39
 * bytes, or numbers and booleans, stored as their JSON text ("42",
 * "0.5", "true"); null, objects and arrays are refused.
 *
 * Returns 0 with *out filled (out->n pairs, in header order), or -1 with
 * out->n = 0 and a client-facing reason in why (NUL-terminated, cut to
 * whycap; why may be NULL). The reason never repeats the header, only the
 * offending key's name, cut and with unsafe characters replaced by '?'.
 */
int req_hdr_metadata_parse(const char *value, struct req_meta *out, char *why, size_t whycap);

#endif
