/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header policy tables and checks. Lists are short and static, so a linear
 * case-insensitive scan is faster than anything cleverer.
 */
#include "gateway/req_hdr.h"

#include <string.h>
#include <strings.h>

#define META_PREFIX "x-llmgw-meta-"

/*
 * Never forwarded. Accept-Encoding is dropped because the gateway must read
 * the upstream body (usage, model) and only speaks identity encoding;
 * Content-Type is set by the gateway to what it actually sends.
 */
static const char *const blocked[] = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "accept-encoding",
    "content-encoding",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "anthropic-version", /* the gateway sets the provider's own */
    "traceparent",
    "x-request-id",
    /* hop-by-hop */
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
};

bool req_hdr_request_id_ok(const char *v)
{
	size_t n;
	if (v == NULL)
		return false;
	for (n = 0; v[n] != '\0'; n++) {
		char ch = v[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_' || ch == '.' || ch == ':';
		if (!ok || n >= REQ_ID_MAX)
			return false;
	}
	return n > 0;
}

/* True if the comma-separated token list `list` names `name` (any case). */
static bool in_token_list(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t tl = strcspn(p, ", \t");
		if (tl == nl && tl > 0 && strncasecmp(p, name, nl) == 0)
			return true;
		p += tl;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return false;
}

bool req_hdr_forwardable(const char *name, const char *connection)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (strcasecmp(name, blocked[i]) == 0)
			return false;
	if (strncasecmp(name, "proxy-", 6) == 0 || strncasecmp(name, "x-llmgw-", 8) == 0)
		return false;
	if (connection != NULL && in_token_list(connection, name))
		return false;
	return true;
}

int req_hdr_meta_key(const char *name, char *out, size_t cap)
{
	size_t plen = sizeof(META_PREFIX) - 1, i;
	if (name == NULL || strncasecmp(name, META_PREFIX, plen) != 0)
		return 0;
	name += plen;
	for (i = 0; name[i] != '\0'; i++) {
		char ch = name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
		if (!ok || i + 1 >= cap)
			return -1;
		out[i] = ch;
	}
	if (i == 0)
		return -1;
	out[i] = '\0';
	return 1;
}

bool req_hdr_meta_value_ok(const char *v)
{
	if (v == NULL)
		return false;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e)
			return false;
	return true;
}
