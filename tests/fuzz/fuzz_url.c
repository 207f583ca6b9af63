/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for url_parse() and url_split_hostport(): any input gets
 * 0 or -1 without reading past its end or leaking. An accepted URL must
 * obey the struct url contract: a non-empty bracket-free host, a non-zero
 * port, a path that is empty or starts with '/', nothing with control
 * characters, and an authority that parses back to the same host and port.
 * Failures must leave nothing allocated behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

static void check_url(const struct url *u)
{
	if (u->host == NULL || u->host[0] == '\0' || strchr(u->host, '[') != NULL || u->port == 0)
		abort();
	if (u->path == NULL || (u->path[0] != '\0' && u->path[0] != '/') || strchr(u->path, '?') != NULL)
		abort();
	check_clean(u->host);
	check_clean(u->authority);
	check_clean(u->path);
	if (u->query != NULL)
		check_clean(u->query);
	/* The Host header value is itself a host[:port] that splits back to the same parts. */
	char *h = NULL;
	uint16_t port = u->tls ? 443 : 80;
	struct err err;
	if (url_split_hostport(u->authority, strlen(u->authority), URL_HP_PORT_OPTIONAL, &h, &port, &err) != 0)
		abort();
	if (strcmp(h, u->host) != 0 || port != u->port)
		abort();
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy lets ASan catch any read past the end. */
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct url u;
	struct err err;
	if (url_parse(s, &u, &err) == 0)
		check_url(&u);
	else if (u.host != NULL || u.path != NULL || u.authority != NULL || u.query != NULL)
		abort();
	url_fini(&u);

	/* The listener form, on the raw bytes (embedded NULs included). */
	char *host = NULL;
	uint16_t port = 7; /* kept when no port is given */
	unsigned flags = size > 0 ? data[0] & 3u : 0;
	if (url_split_hostport(s, size, flags, &host, &port, &err) == 0) {
		if (host == NULL || host[0] == '\0' || strpbrk(host, "[]/@?#") != NULL)
			abort();
		check_clean(host);
		if (port == 0 && (flags & URL_HP_PORT_ZERO_OK) == 0)
			abort();
		free(host);
	} else if (host != NULL) {
		abort();
	}
	free(s);
	return 0;
}
