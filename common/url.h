/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http(s) URLs and "host:port" addresses, parsed once when a configuration
 * is loaded so that hot paths never parse them again. One parser serves the
 * gateway (provider base_url, server.listen) and the exporter
 * (export.endpoint, admin.listen); each caller applies its own policy on top
 * (the gateway trims a base path and refuses a query, the exporter turns an
 * empty path into "/").
 *
 * What is accepted is deliberately narrow: http and https only, no user
 * info (credentials in a URL end up in logs and process listings), no
 * fragment (never sent to a server, so writing one is a mistake), no control
 * characters, spaces or non-ASCII bytes anywhere.
 */
#ifndef LLMGW_COMMON_URL_H
#define LLMGW_COMMON_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define URL_HOST_MAX 255 /* longest host accepted (a DNS name is at most 253) */

/* A parsed http(s) URL; every string is heap-allocated and freed by url_fini(). */
struct url {
	bool tls;	 /* https:// */
	char *host;	 /* without brackets for IPv6 literals */
	uint16_t port;	 /* explicit or 80/443 */
	char *authority; /* Host header value: host[:port], brackets for IPv6, port only when not the default */
	char *path;	 /* as written ("" when absent, else starts with '/'); never holds '?' */
	char *query;	 /* after '?', NULL when there is no '?' ("" for a bare '?') */
};

/*
 * Parses "http[s]://host[:port][/path][?query]" (scheme case-insensitive)
 * into u. Rejects other schemes (err->code EPROTONOSUPPORT), user info
 * (EPERM), and with EINVAL: a missing host, a port outside 1-65535, an IPv6
 * literal without brackets, control characters, spaces or non-ASCII bytes,
 * a fragment. err->code lets callers add their own hint (which key to use
 * instead). On failure u holds nothing (url_fini is still harmless).
 */
int url_parse(const char *s, struct url *u, struct err *err);
/* Frees the strings and zeroes u; NULL and a zeroed url are no-ops. */
void url_fini(struct url *u);

/* Flags for url_split_hostport (OR them together). */
enum url_hostport_flags {
	URL_HP_PORT_OPTIONAL = 0, /* "host" alone is fine; *port keeps its value */
	URL_HP_PORT_REQUIRED = 1, /* "host" alone is an error ("missing :port") */
	URL_HP_PORT_ZERO_OK = 2,  /* ":0" is accepted (a listener on any free port) */
};

/*
 * Splits s[0..n) of the form "host", "host:port" or "[v6]:port" into a
 * heap-allocated host without brackets (*host, caller frees) and *port.
 * Host characters are limited to letters, digits and "-._~%" (plus ':'
 * inside brackets, which only IPv6 literals may use). -1 with a reason.
 */
int url_split_hostport(const char *s, size_t n, unsigned flags, char **host, uint16_t *port, struct err *err);

#endif
