/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual keys. A client sends `Authorization: Bearer <key>`; the gateway
 * hashes the key with SHA-256, finds the digest in a table built from the
 * config and compares the full 32 bytes in constant time (CRYPTO_memcmp).
 * The key itself is never stored, logged, copied into a span or echoed in
 * an error; only the key's configured name travels on.
 *
 * The table is immutable after auth_new(), so worker threads may share it.
 */
#ifndef LLMGW_GATEWAY_AUTH_H
#define LLMGW_GATEWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct gw_conf;
struct auth;

/* Who a request belongs to; points into the config, lives as long as it. */
struct gw_key;

struct auth_identity {
	const char *key_name;
	const char *tenant_id; /* "" when not configured */
	const char *team;
	const char *user;
	const struct gw_key *key; /* models, expiry, limits */
	size_t index;		  /* into gw_conf.keys */
};

enum auth_result {
	AUTH_NONE = 0,	/* no Authorization header */
	AUTH_OK,	/* known key: *id is set */
	AUTH_MALFORMED, /* not "Bearer <token>", or a bad token */
	AUTH_UNKNOWN,	/* well-formed but no such key */
};

/* Builds the lookup table from conf->keys (borrowed: conf must outlive it). */
struct auth *auth_new(const struct gw_conf *conf, struct err *err);
void auth_free(struct auth *a);

/*
 * Checks one Authorization header value (NULL when absent). On AUTH_OK *id
 * points at the key's identity. Accepts "Bearer" in any case followed by
 * one or more spaces and a token of RFC 6750 b64token characters, at most
 * AUTH_TOKEN_MAX bytes.
 */
#define AUTH_TOKEN_MAX 512
enum auth_result auth_check(const struct auth *a, const char *header, const struct auth_identity **id);

/* Lower-case label for logs and metrics: "none", "ok", "malformed", "unknown". */
const char *auth_result_name(enum auth_result r);

/*
 * Extracts the token from "Bearer <token>" (pure; exposed for tests and
 * reuse by other auth schemes). Returns 0 and sets *tok and *len, or -1.
 */
int auth_parse_bearer(const char *header, const char **tok, size_t *len);

#endif
