/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual key lookup: an open-addressing hash table keyed by the SHA-256
 * digest of each key (the first 8 digest bytes are already uniformly
 * distributed, so they are the hash). A probe compares full digests with
 * CRYPTO_memcmp so the time taken does not depend on how many leading bytes
 * of a guessed digest match a stored one.
 */
#include "gateway/auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "gateway/gw_conf.h"

struct auth_slot {
	uint8_t digest[32];
	struct auth_identity id;
	bool used;
};

struct auth {
	struct auth_slot *slots;
	size_t mask; /* capacity - 1, capacity a power of two */
	size_t nkeys;
};

static size_t slot_of(const uint8_t digest[32], size_t mask)
{
	uint64_t h;
	memcpy(&h, digest, sizeof(h));
	return (size_t)h & mask;
}

struct auth *auth_new(const struct gw_conf *conf, struct err *err)
{
	struct auth *a = calloc(1, sizeof(*a));
	size_t cap = 8;
	if (a == NULL)
		goto nomem;
	/* load factor <= 1/2 keeps probe chains short */
	while (cap < conf->nkeys * 2)
		cap *= 2;
	a->slots = calloc(cap, sizeof(*a->slots));
	if (a->slots == NULL)
		goto nomem;
	a->mask = cap - 1;
	a->nkeys = conf->nkeys;
	for (size_t i = 0; i < conf->nkeys; i++) {
		const struct gw_key *k = &conf->keys[i];
		size_t s = slot_of(k->sha256, a->mask);
		while (a->slots[s].used)
			s = (s + 1) & a->mask;
		memcpy(a->slots[s].digest, k->sha256, 32);
		a->slots[s].id.key_name = k->name;
		a->slots[s].id.tenant_id = k->tenant_id;
		a->slots[s].id.team = k->team;
		a->slots[s].id.user = k->user;
		a->slots[s].id.key = k;
		a->slots[s].id.index = i;
		a->slots[s].used = true;
	}
	return a;
nomem:
	auth_free(a);
	err_set(err, ENOMEM, "out of memory building the key table");
	return NULL;
}

void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	free(a->slots);
	free(a);
}

static bool b64token_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/';
}

int auth_parse_bearer(const char *header, const char **tok, size_t *len)
{
	size_t n, eq = 0;
	if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return -1;
	header += 6;
	while (*header == ' ')
		header++;
	for (n = 0; header[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)header[n];
		if (ch == '=') {
			eq++; /* b64token allows trailing '=' padding only */
			continue;
		}
		if (eq > 0 || !b64token_char(ch))
			break;
	}
	/* trailing spaces are tolerated (some clients add them), anything else is not */
	size_t end = n;
	while (header[end] == ' ')
		end++;
	if (n == 0 || n > AUTH_TOKEN_MAX || header[end] != '\0' || n == eq)
		return -1;
	*tok = header;
	*len = n;
	return 0;
}

enum auth_result auth_check(const struct auth *a, const char *header, const struct auth_identity **id)
{
	const char *tok;
	size_t len;
	uint8_t digest[32];
	*id = NULL;
	/*
	 * No virtual keys configured: the gateway is not doing authentication,
	 * and SDK clients always send some key (often a dummy), so the header is
	 * not judged. It is still never forwarded upstream.
	 */
	if (header == NULL || a->nkeys == 0)
		return AUTH_NONE;
	if (auth_parse_bearer(header, &tok, &len) < 0)
		return AUTH_MALFORMED;
	/* SHA256() is OpenSSL's one-shot: no per-call algorithm fetch as with EVP_Digest (about 1 us saved) */
	if (SHA256((const unsigned char *)tok, len, digest) == NULL)
		return AUTH_MALFORMED;
	for (size_t s = slot_of(digest, a->mask);; s = (s + 1) & a->mask) {
		const struct auth_slot *sl = &a->slots[s];
		if (!sl->used)
			return AUTH_UNKNOWN;
		if (CRYPTO_memcmp(sl->digest, digest, 32) == 0) {
			*id = &sl->id;
			return AUTH_OK;
		}
	}
}

const char *auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_NONE:
		return "none";
	case AUTH_OK:
		return "ok";
	case AUTH_MALFORMED:
		return "malformed";
	case AUTH_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}
