/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one http(s) URL and host:port parser (see url.h for what it accepts).
 * Hand-written rather than evhttp_uri_parse(): the callers need exact,
 * explainable refusals ("bad port (1-65535)", "IPv6 addresses need
 * brackets") with a reason code they can attach their own hint to, the
 * bracket-free host for DNS and certificate checks, and the Host header
 * value built once. Everything here runs at configuration load, never on a
 * request path.
 */
#include "common/url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void url_fini(struct url *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->authority);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

/* Decimal digits only (no sign, no spaces), 1-65535 or 0-65535 with zero_ok. */
static int parse_port(const char *s, size_t n, bool zero_ok, uint16_t *out)
{
	unsigned long v = 0;
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if ((v == 0 && !zero_ok) || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/*
 * RFC 3986 reg-name letters without the sub-delims nobody puts in a host
 * name; ':' only inside brackets. Anything else ('/', '@', spaces, bytes
 * over 0x7f) is a typo or an injection attempt, never a host.
 */
static bool host_char_ok(unsigned char ch, bool bracketed)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '%' || (bracketed && ch == ':');
}

int url_split_hostport(const char *s, size_t n, unsigned flags, char **host, uint16_t *port, struct err *err)
{
	const char *h = s, *colon = NULL;
	size_t hl;
	bool bracketed = n > 0 && s[0] == '[';
	*host = NULL;
	if (bracketed) {
		const char *rb = memchr(s, ']', n);
		if (rb == NULL)
			return err_set(err, EINVAL, "unterminated '[' in address");
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return err_set(err, EINVAL, "expected ':' after ']'");
			colon = rb + 1;
		}
		if (hl > 0 && memchr(h, ':', hl) == NULL)
			return err_set(err, EINVAL, "brackets are only for IPv6 addresses");
	} else {
		colon = memchr(s, ':', n);
		if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)) != NULL)
			return err_set(err, EINVAL, "IPv6 addresses need brackets: [::1]:8080");
		hl = colon != NULL ? (size_t)(colon - s) : n;
	}
	if (hl == 0)
		return err_set(err, EINVAL, "missing host");
	if (hl > URL_HOST_MAX)
		return err_set(err, EINVAL, "host longer than %d characters", URL_HOST_MAX);
	for (size_t i = 0; i < hl; i++)
		if (!host_char_ok((unsigned char)h[i], bracketed))
			return err_set(err, EINVAL, "bad character in host");
	if (colon != NULL) {
		bool zero_ok = (flags & URL_HP_PORT_ZERO_OK) != 0;
		if (parse_port(colon + 1, (size_t)(s + n - colon - 1), zero_ok, port) < 0)
			return err_set(err, EINVAL, zero_ok ? "bad port (0-65535)" : "bad port (1-65535)");
	} else if ((flags & URL_HP_PORT_REQUIRED) != 0) {
		return err_set(err, EINVAL, "missing :port");
	}
	if ((*host = strndup(h, hl)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Length of a leading "http://" or "https://" (any case), 0 for anything else. */
static size_t scheme_len(const char *s, bool *tls)
{
	if (strncasecmp(s, "http://", 7) == 0) {
		*tls = false;
		return 7;
	}
	if (strncasecmp(s, "https://", 8) == 0) {
		*tls = true;
		return 8;
	}
	return 0;
}

/* Path and query go on the request line as written: no spaces, controls or raw non-ASCII. */
static bool text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* host[:port] with brackets for IPv6 and the port only when it is not the scheme's default. */
static int build_authority(struct url *u, struct err *err)
{
	bool v6 = strchr(u->host, ':') != NULL;
	bool dflt = u->port == (u->tls ? 443 : 80);
	size_t cap = strlen(u->host) + sizeof("[]:65535");
	if ((u->authority = malloc(cap)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (dflt)
		snprintf(u->authority, cap, v6 ? "[%s]" : "%s", u->host);
	else
		snprintf(u->authority, cap, v6 ? "[%s]:%u" : "%s:%u", u->host, (unsigned)u->port);
	return 0;
}

int url_parse(const char *s, struct url *u, struct err *err)
{
	memset(u, 0, sizeof(*u));
	size_t skip = scheme_len(s, &u->tls);
	if (skip == 0)
		return err_set(err, EPROTONOSUPPORT, "scheme must be http or https");
	if (has_control(s))
		return err_set(err, EINVAL, "control character in the URL");
	const char *auth = s + skip;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen) != NULL)
		return err_set(err, EPERM,
			       "user info in the URL is not allowed (credentials in the URL end up in logs)");
	const char *rest = auth + alen;
	if (strchr(rest, '#') != NULL)
		return err_set(err, EINVAL, "a fragment ('#') is not allowed in the URL");
	if (!text_ok(rest))
		return err_set(err, EINVAL, "bad character in path or query");
	u->port = u->tls ? 443 : 80;
	if (url_split_hostport(auth, alen, URL_HP_PORT_OPTIONAL, &u->host, &u->port, err) < 0)
		goto fail;
	size_t plen = strcspn(rest, "?");
	if ((u->path = strndup(rest, plen)) == NULL)
		goto nomem;
	if (rest[plen] == '?' && (u->query = strdup(rest + plen + 1)) == NULL)
		goto nomem;
	if (build_authority(u, err) < 0)
		goto fail;
	return 0;
nomem:
	err_set(err, ENOMEM, "out of memory");
fail:
	url_fini(u);
	return -1;
}
