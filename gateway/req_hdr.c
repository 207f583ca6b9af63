/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header policy tables and checks. Lists are short and static, so a linear
 * case-insensitive scan is faster than anything cleverer. The metadata
 * header is parsed with jansson, which already refuses invalid UTF-8,
 * \u0000 and (with JSON_REJECT_DUPLICATES) repeated keys, and bounds
 * nesting depth; what is left here is the shape and size policy.
 */
#include "gateway/req_hdr.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/spanrec-t.h"

/* Whatever the header accepts fits the span record as is. */
static_assert(REQ_META_MAX == SPANREC_META_MAX, "one record slot per metadata pair");
static_assert(sizeof(((struct spanrec_meta *)0)->key) == REQ_META_KEY_MAX, "metadata key fits the record");
static_assert(sizeof(((struct spanrec_meta *)0)->value) == REQ_META_VALUE_MAX, "metadata value fits the record");

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

/* ---- x-llmgw-metadata ------------------------------------------------------------------------ */

#define META_HDR "x-llmgw-metadata"

static int meta_fail(char *why, size_t whycap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int meta_fail(char *why, size_t whycap, const char *fmt, ...)
{
	va_list ap;
	if (why == NULL || whycap == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(why, whycap, fmt, ap);
	va_end(ap);
	return -1;
}

static bool meta_key_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/*
 * A key as it may appear in an error message: at most 15 bytes, anything
 * but [A-Za-z0-9._-] shown as '?', "..." when cut. The caller's bytes never
 * reach a log line or an error body unfiltered.
 */
static void meta_key_show(const char *key, char out[REQ_META_KEY_MAX + 3])
{
	size_t i;
	for (i = 0; key[i] != '\0' && i < REQ_META_KEY_MAX - 1; i++) {
		unsigned char ch = (unsigned char)key[i];
		out[i] = (meta_key_char(ch) || (ch >= 'A' && ch <= 'Z')) ? (char)ch : '?';
	}
	if (key[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static bool meta_key_ok(const char *key)
{
	size_t n;
	for (n = 0; key[n] != '\0'; n++)
		if (!meta_key_char((unsigned char)key[n]) || n + 1 >= REQ_META_KEY_MAX)
			return false;
	return n > 0;
}

/* One value into dst as text; -1 with why set. */
static int meta_value(const char *shown, const json_t *v, char dst[REQ_META_VALUE_MAX], char *why, size_t whycap)
{
	size_t n;
	switch (json_typeof(v)) {
	case JSON_STRING:
		n = json_string_length(v);
		if (n >= REQ_META_VALUE_MAX)
			return meta_fail(why, whycap, META_HDR ": value of '%s' is longer than %d bytes", shown,
					 REQ_META_VALUE_MAX - 1);
		memcpy(dst, json_string_value(v), n + 1);
		if (!req_hdr_meta_value_ok(dst))
			return meta_fail(why, whycap, META_HDR ": value of '%s' must be printable ASCII", shown);
		return 0;
	case JSON_INTEGER:
		snprintf(dst, REQ_META_VALUE_MAX, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	case JSON_REAL:
		/* 15 significant digits: 0.1 stays "0.1"; at most 22 bytes ("-1.23456789012345e-308") */
		snprintf(dst, REQ_META_VALUE_MAX, "%.15g", json_real_value(v));
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(dst, REQ_META_VALUE_MAX, "%s", json_is_true(v) ? "true" : "false");
		return 0;
	default:
		return meta_fail(why, whycap, META_HDR ": value of '%s' must be a string, number or boolean", shown);
	}
}

/* Why jansson refused the text, in the client's terms (never its own text: that quotes the input). */
static int meta_json_error(const json_error_t *je, char *why, size_t whycap)
{
	switch (json_error_code(je)) {
	case json_error_duplicate_key:
		return meta_fail(why, whycap, META_HDR ": duplicate key (at byte %d)", je->position);
	case json_error_invalid_utf8:
		return meta_fail(why, whycap, META_HDR ": invalid UTF-8 (at byte %d)", je->position);
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return meta_fail(why, whycap, META_HDR ": \\u0000 is not allowed (at byte %d)", je->position);
	case json_error_numeric_overflow:
		return meta_fail(why, whycap, META_HDR ": number out of range (at byte %d)", je->position);
	default:
		return meta_fail(why, whycap,
				 META_HDR ": not valid JSON (at byte %d); expected an object like "
					  "{\"feature\":\"search\"}",
				 je->position);
	}
}

int req_hdr_metadata_parse(const char *value, struct req_meta *out, char *why, size_t whycap)
{
	json_error_t je;
	json_t *root = NULL, *v;
	const char *key;
	size_t len;
	int rc = -1;

	out->n = 0;
	if (why != NULL && whycap > 0)
		why[0] = '\0';
	if (value == NULL)
		return meta_fail(why, whycap, META_HDR ": missing");
	len = strnlen(value, REQ_META_HEADER_MAX + 1);
	if (len > REQ_META_HEADER_MAX)
		return meta_fail(why, whycap, META_HDR ": longer than %d bytes", REQ_META_HEADER_MAX);
	root = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return meta_json_error(&je, why, whycap);
	if (!json_is_object(root)) {
		meta_fail(why, whycap, META_HDR ": must be a JSON object like {\"feature\":\"search\"}");
		goto out;
	}
	if (json_object_size(root) > REQ_META_MAX) {
		meta_fail(why, whycap, META_HDR ": at most %d keys, got %zu", REQ_META_MAX, json_object_size(root));
		goto out;
	}
	/* jansson keeps insertion order, so pairs come out in header order */
	json_object_foreach(root, key, v)
	{
		char shown[REQ_META_KEY_MAX + 3];
		struct req_meta_pair *p = &out->pair[out->n];
		meta_key_show(key, shown);
		if (!meta_key_ok(key)) {
			meta_fail(why, whycap, META_HDR ": key '%s' must be 1-%d characters of [a-z0-9._-]", shown,
				  REQ_META_KEY_MAX - 1);
			goto out;
		}
		if (meta_value(shown, v, p->value, why, whycap) < 0)
			goto out;
		memcpy(p->key, key, strlen(key) + 1);
		out->n++;
	}
	rc = 0;
out:
	if (rc < 0)
		out->n = 0;
	json_decref(root);
	return rc;
}
