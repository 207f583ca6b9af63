/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What makes two requests "the same" for the response cache, and which
 * requests and answers may be cached at all. Pure: unit tests and the
 * benchmark call it directly.
 *
 * The key is SHA-256 over one canonical JSON text:
 *
 *   ["llmgw-cache/1", scope, "/v1/chat/completions", [rule fingerprints],
 *    stream, include_usage, {request members}]
 *
 *  - scope: {"tenant": id} for a key with a tenant_id, {"key": name} for a
 *    key without one, null for anonymous callers: tenants never share an
 *    entry;
 *  - the endpoint (chat, completions and embeddings never share one);
 *  - the fingerprints of the guardrails that applied (guard.h): a rule
 *    added, removed or edited changes what an answer may contain;
 *  - stream and include_usage: a streamed answer is stored as the bytes the
 *    client got, so a stream with the usage chunk, one without, and a JSON
 *    answer are three entries;
 *  - every top-level member of the request except those that never change
 *    the answer: user, metadata, store, stream, stream_options,
 *    prompt_cache_key, safety_identifier. Unknown members are kept: a
 *    parameter the gateway does not know is a miss, never a wrong hit.
 *    model is the name the client asked for (before routing).
 *
 * Normalisation: object keys sorted (byte order), no whitespace, strings
 * re-escaped one way (\" \\ \b \f \n \r \t, other controls as \u00XX,
 * everything else as UTF-8: "\u00e9" and "é" are the same), integral
 * numbers as integers (1, 1.0 and 1e0 are the same; up to 2^53), other
 * numbers with 17 significant digits (0.7 and 0.70 are the same double).
 * Defaults are not filled in: "n": 1 and no n are two keys (a miss, never
 * a wrong answer).
 */
#ifndef LLMGW_GATEWAY_CACHE_KEY_H
#define LLMGW_GATEWAY_CACHE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "gateway/cache.h"

struct cache_key_in {
	const char *tenant;	 /* scope: a tenant_id, or NULL */
	const char *key_name;	 /* scope when there is no tenant: the key's name, or NULL (anonymous) */
	const char *endpoint;	 /* "/v1/chat/completions", ... */
	const uint8_t (*fps)[8]; /* fingerprints of the guardrails that applied, in config order */
	size_t nfps;
	bool stream;
	bool include_usage;
};

/*
 * The canonical text of request body (JSON, an object) appended to out.
 * -1 on ENOMEM, out full, or a body that is not JSON.
 */
int cache_key_canonical(const struct cache_key_in *in, const char *body, size_t len, struct buf *out);
/* SHA-256 of the canonical text into key. -1 as above. */
int cache_key_compute(const struct cache_key_in *in, const char *body, size_t len, uint8_t key[CACHE_KEY_LEN]);

/*
 * Whether a chat or completions request gives one answer for one input:
 * temperature present and 0 (absent means OpenAI's default 1) and n absent
 * or 1. body is valid JSON (parsed already).
 */
bool cache_key_deterministic(const char *body, size_t len);

/*
 * Whether a whole 2xx answer may be stored: chat and completions need at
 * least one choice and every finish_reason "stop" or "length";
 * embeddings need a "data" array.
 */
bool cache_key_answer_ok(const char *body, size_t len, bool embeddings);
/* The same for one streamed choice's finish reason. */
bool cache_key_finish_ok(const char *finish_reason);

#endif
