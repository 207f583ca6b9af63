/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/auth: bearer parsing, digest lookup (including
 * many keys and colliding hash slots), unknown and malformed keys, and that
 * identities come from the config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "gateway/auth.h"
#include "gateway/gw_conf.h"

static void sha256(const char *s, uint8_t out[32])
{
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL), 1);
}

/* A config with `n` keys "sk-<i>" named "key-<i>", tenant "t<i % 3>". */
static struct gw_conf *conf_with_keys(size_t n)
{
	struct gw_conf *c = calloc(1, sizeof(*c));
	c->nkeys = n;
	c->keys = calloc(n > 0 ? n : 1, sizeof(*c->keys));
	for (size_t i = 0; i < n; i++) {
		char key[32], buf[32];
		snprintf(key, sizeof(key), "sk-%zu", i);
		sha256(key, c->keys[i].sha256);
		snprintf(buf, sizeof(buf), "key-%zu", i);
		c->keys[i].name = strdup(buf);
		snprintf(buf, sizeof(buf), "t%zu", i % 3);
		c->keys[i].tenant_id = strdup(buf);
		c->keys[i].team = strdup("team");
		c->keys[i].user = strdup("");
	}
	return c;
}

static void test_parse_bearer(void **state)
{
	(void)state;
	const char *tok;
	size_t len;
	assert_int_equal(auth_parse_bearer("Bearer abc", &tok, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(tok, "abc", 3);
	assert_int_equal(auth_parse_bearer("bearer   sk-proj_A.b~c+d/e==", &tok, &len), 0);
	assert_int_equal(len, 19);
	assert_int_equal(auth_parse_bearer("BEARER x ", &tok, &len), 0); /* trailing space tolerated */
	assert_int_equal(len, 1);
	assert_int_equal(auth_parse_bearer("Basic dXNlcjpwdw==", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer ", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearerabc", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer a b", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer a=b", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer ==", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer \"quoted\"", &tok, &len), -1);
	assert_int_equal(auth_parse_bearer("Bearer caf\xc3\xa9", &tok, &len), -1);
	char big[AUTH_TOKEN_MAX + 16];
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', AUTH_TOKEN_MAX + 1);
	big[7 + AUTH_TOKEN_MAX + 1] = '\0';
	assert_int_equal(auth_parse_bearer(big, &tok, &len), -1);
	big[7 + AUTH_TOKEN_MAX] = '\0';
	assert_int_equal(auth_parse_bearer(big, &tok, &len), 0);
}

static void test_lookup(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = conf_with_keys(3);
	struct auth *a = auth_new(c, &err);
	const struct auth_identity *id;
	assert_non_null(a);

	assert_int_equal(auth_check(a, "Bearer sk-1", &id), AUTH_OK);
	assert_non_null(id);
	assert_string_equal(id->key_name, "key-1");
	assert_string_equal(id->tenant_id, "t1");
	assert_string_equal(id->team, "team");
	assert_string_equal(id->user, "");

	assert_int_equal(auth_check(a, "Bearer sk-3", &id), AUTH_UNKNOWN);
	assert_null(id);
	assert_int_equal(auth_check(a, "Bearer sk-1x", &id), AUTH_UNKNOWN);
	assert_int_equal(auth_check(a, "Bearer SK-1", &id), AUTH_UNKNOWN); /* keys are case-sensitive */
	assert_int_equal(auth_check(a, "Token sk-1", &id), AUTH_MALFORMED);
	assert_int_equal(auth_check(a, "", &id), AUTH_MALFORMED);
	assert_int_equal(auth_check(a, NULL, &id), AUTH_NONE);
	assert_string_equal(auth_result_name(AUTH_UNKNOWN), "unknown");
	assert_string_equal(auth_result_name(AUTH_MALFORMED), "malformed");
	auth_free(a);
	gw_conf_free(c);
}

static void test_many_keys(void **state)
{
	(void)state;
	struct err err;
	/* enough keys that probe chains and wrap-around are exercised */
	struct gw_conf *c = conf_with_keys(1000);
	struct auth *a = auth_new(c, &err);
	assert_non_null(a);
	for (size_t i = 0; i < 1000; i++) {
		char hdr[48], name[32];
		const struct auth_identity *id;
		snprintf(hdr, sizeof(hdr), "Bearer sk-%zu", i);
		snprintf(name, sizeof(name), "key-%zu", i);
		assert_int_equal(auth_check(a, hdr, &id), AUTH_OK);
		assert_string_equal(id->key_name, name);
	}
	for (size_t i = 1000; i < 1100; i++) {
		char hdr[48];
		const struct auth_identity *id;
		snprintf(hdr, sizeof(hdr), "Bearer sk-%zu", i);
		assert_int_equal(auth_check(a, hdr, &id), AUTH_UNKNOWN);
	}
	auth_free(a);
	gw_conf_free(c);
}

static void test_no_keys(void **state)
{
	(void)state;
	struct err err;
	struct gw_conf *c = conf_with_keys(0);
	struct auth *a = auth_new(c, &err);
	const struct auth_identity *id = (const void *)1;
	assert_non_null(a);
	/*
	 * No keys configured = no authentication: SDKs always send some key,
	 * so the header is not judged (and is still never forwarded).
	 */
	assert_int_equal(auth_check(a, "Bearer sk-anything", &id), AUTH_NONE);
	assert_null(id);
	assert_int_equal(auth_check(a, "Token not-even-bearer", &id), AUTH_NONE);
	assert_int_equal(auth_check(a, NULL, &id), AUTH_NONE);
	auth_free(a);
	auth_free(NULL);
	gw_conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_bearer),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_no_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
