/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/url: the parts of accepted http(s) URLs (default
 * and explicit ports, IPv6 literals, path and query kept as written, the
 * Host header value), every class of refusal with its reason code, and
 * url_split_hostport as the listeners use it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "common/url.h"

struct good_case {
	const char *in;
	bool tls;
	const char *host;
	uint16_t port;
	const char *authority;
	const char *path;
	const char *query; /* NULL: none */
};

static const struct good_case good_cases[] = {
    {"http://example.com", false, "example.com", 80, "example.com", "", NULL},
    {"https://example.com", true, "example.com", 443, "example.com", "", NULL},
    {"HTTPS://Example.COM/V1", true, "Example.COM", 443, "Example.COM", "/V1", NULL},
    {"http://example.com:8080/v1", false, "example.com", 8080, "example.com:8080", "/v1", NULL},
    {"https://example.com:443/", true, "example.com", 443, "example.com", "/", NULL},
    {"http://example.com:443/", false, "example.com", 443, "example.com:443", "/", NULL},
    {"https://example.com:80", true, "example.com", 80, "example.com:80", "", NULL},
    {"http://127.0.0.1:1/", false, "127.0.0.1", 1, "127.0.0.1:1", "/", NULL},
    {"http://h:65535", false, "h", 65535, "h:65535", "", NULL},
    {"http://[::1]", false, "::1", 80, "[::1]", "", NULL},
    {"http://[::1]:9000/v1", false, "::1", 9000, "[::1]:9000", "/v1", NULL},
    {"https://[2001:db8::1]:443/x", true, "2001:db8::1", 443, "[2001:db8::1]", "/x", NULL},
    {"https://otlp.example.com/v1/traces/", true, "otlp.example.com", 443, "otlp.example.com", "/v1/traces/", NULL},
    {"https://h/openai/v1//", true, "h", 443, "h", "/openai/v1//", NULL},
    {"http://h/p?a=1&b=%20", false, "h", 80, "h", "/p", "a=1&b=%20"},
    {"http://h?x", false, "h", 80, "h", "", "x"},
    {"http://h/?", false, "h", 80, "h", "/", ""},
    {"http://h/a@b:c", false, "h", 80, "h", "/a@b:c", NULL},
    {"http://my_host-1.local~x", false, "my_host-1.local~x", 80, "my_host-1.local~x", "", NULL},
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *g = &good_cases[i];
		struct url u;
		struct err err = {0};
		if (url_parse(g->in, &u, &err) != 0)
			fail_msg("%s: %s", g->in, err.msg);
		assert_int_equal(u.tls, g->tls);
		assert_string_equal(u.host, g->host);
		assert_int_equal(u.port, g->port);
		assert_string_equal(u.authority, g->authority);
		assert_string_equal(u.path, g->path);
		if (g->query == NULL)
			assert_null(u.query);
		else
			assert_string_equal(u.query, g->query);
		url_fini(&u);
		assert_null(u.host); /* zeroed */
	}
}

struct bad_case {
	const char *in;
	int code;
	const char *want; /* substring of err.msg */
};

static const struct bad_case bad_cases[] = {
    {"ftp://x/", EPROTONOSUPPORT, "scheme must be http or https"},
    {"file:///etc/passwd", EPROTONOSUPPORT, "scheme"},
    {"ws://x/", EPROTONOSUPPORT, "scheme"},
    {"httpx://x/", EPROTONOSUPPORT, "scheme"},
    {"http:/x", EPROTONOSUPPORT, "scheme"},
    {"example.com:80", EPROTONOSUPPORT, "scheme"},
    {"", EPROTONOSUPPORT, "scheme"},
    {" http://x/", EPROTONOSUPPORT, "scheme"},
    {"http://user:pw@x/", EPERM, "user info in the URL is not allowed"},
    {"https://user@x", EPERM, "credentials in the URL"},
    {"http://@x", EPERM, "user info"},
    {"http://", EINVAL, "missing host"},
    {"http:///path", EINVAL, "missing host"},
    {"http://:80/", EINVAL, "missing host"},
    {"http://[]:80/", EINVAL, "missing host"},
    {"http://x:0/", EINVAL, "bad port (1-65535)"},
    {"http://x:65536/", EINVAL, "bad port"},
    {"http://x:99999", EINVAL, "bad port"},
    {"http://x:abc/", EINVAL, "bad port"},
    {"http://x:/", EINVAL, "bad port"},
    {"http://x:-1/", EINVAL, "bad port"},
    {"http://x:+80/", EINVAL, "bad port"},
    {"http://x:080000/", EINVAL, "bad port"},
    {"http://[::1/", EINVAL, "unterminated '['"},
    {"http://[::1]x/", EINVAL, "expected ':' after ']'"},
    {"http://[example.com]/", EINVAL, "brackets are only for IPv6"},
    {"http://::1/", EINVAL, "IPv6 addresses need brackets"},
    {"http://x\r\nHost: evil/", EINVAL, "control character"},
    {"http://x/a\tb", EINVAL, "control character"},
    {"http://x/\x7f", EINVAL, "control character"},
    {"http://x/a b", EINVAL, "bad character in path"},
    {"http://x/\xc3\xa9", EINVAL, "bad character in path"},
    {"http://x y/", EINVAL, "bad character in host"},
    {"http://x\"y/", EINVAL, "bad character in host"},
    {"http://x/a#frag", EINVAL, "fragment"},
    {"http://x#frag", EINVAL, "fragment"},
    {"http://x/?q#frag", EINVAL, "fragment"},
};

static void test_bad(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct url u;
		struct err err = {0};
		int rc = url_parse(b->in, &u, &err);
		if (rc != -1 || err.code != b->code || strstr(err.msg, b->want) == NULL) {
			print_error("case %zu: want %d \"%s\", got rc %d code %d \"%s\"\n", i, b->code, b->want, rc,
				    err.code, err.msg);
			failures++;
		}
		if (rc == -1 && (u.host != NULL || u.path != NULL || u.authority != NULL || u.query != NULL))
			failures++; /* nothing left behind on failure */
		url_fini(&u);
	}
	assert_int_equal(failures, 0);
}

static void test_long_host(void **state)
{
	(void)state;
	char in[URL_HOST_MAX + 32];
	struct url u;
	struct err err;
	memcpy(in, "http://", 7);
	memset(in + 7, 'a', URL_HOST_MAX);
	in[7 + URL_HOST_MAX] = '\0';
	assert_int_equal(url_parse(in, &u, &err), 0);
	assert_int_equal(strlen(u.host), URL_HOST_MAX);
	url_fini(&u);
	memcpy(in + 7 + URL_HOST_MAX, "a:1", 4);
	assert_int_equal(url_parse(in, &u, &err), -1);
	assert_non_null(strstr(err.msg, "host longer than"));
}

static void test_split_hostport(void **state)
{
	(void)state;
	char *host;
	uint16_t port = 7;
	struct err err;
	const char *s = "127.0.0.1:8080";
	assert_int_equal(url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED, &host, &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	free(host);
	s = "[::]:9464";
	assert_int_equal(url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED, &host, &port, &err), 0);
	assert_string_equal(host, "::");
	assert_int_equal(port, 9464);
	free(host);
	/* Only the first n bytes count. */
	s = "localhost:80/ignored";
	assert_int_equal(url_split_hostport(s, 12, URL_HP_PORT_REQUIRED, &host, &port, &err), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 80);
	free(host);
	/* Port optional: *port keeps its value. */
	port = 443;
	assert_int_equal(url_split_hostport("h", 1, URL_HP_PORT_OPTIONAL, &host, &port, &err), 0);
	assert_int_equal(port, 443);
	free(host);
	assert_int_equal(url_split_hostport("h", 1, URL_HP_PORT_REQUIRED, &host, &port, &err), -1);
	assert_null(host);
	assert_string_equal(err.msg, "missing :port");
	/* Port 0 (any free port) only when asked for. */
	s = "127.0.0.1:0";
	assert_int_equal(url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED, &host, &port, &err), -1);
	assert_string_equal(err.msg, "bad port (1-65535)");
	assert_int_equal(
	    url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED | URL_HP_PORT_ZERO_OK, &host, &port, &err), 0);
	assert_int_equal(port, 0);
	free(host);
	s = "::1:80";
	assert_int_equal(url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED, &host, &port, &err), -1);
	assert_non_null(strstr(err.msg, "brackets"));
	s = ":80";
	assert_int_equal(url_split_hostport(s, strlen(s), URL_HP_PORT_REQUIRED, &host, &port, &err), -1);
	assert_string_equal(err.msg, "missing host");
	assert_int_equal(url_split_hostport("", 0, URL_HP_PORT_OPTIONAL, &host, &port, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_long_host),
	    cmocka_unit_test(test_split_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
