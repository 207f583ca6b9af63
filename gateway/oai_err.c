/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI-shaped error bodies and the table of gateway errors. Formatting is
 * done by hand into a bounded buffer (no allocation beyond the buffer, no
 * JSON library round trip) with a JSON string escaper that also repairs
 * invalid UTF-8, because messages may quote client input such as a model
 * name and must still be valid JSON.
 */
#include "gateway/oai_err.h"

#include <jansson.h>
#include <string.h>

static const struct oai_err_def defs[GWE__COUNT] = {
    [GWE_INVALID_REQUEST] = {400, "invalid_request_error", "invalid_request", "invalid_request"},
    [GWE_UNAUTHORIZED] = {401, "authentication_error", "invalid_api_key", "unauthorized"},
    [GWE_MODEL_NOT_FOUND] = {404, "invalid_request_error", "model_not_found", "model_not_found"},
    [GWE_NOT_FOUND] = {404, "not_found_error", "not_found", "not_found"},
    [GWE_METHOD_NOT_ALLOWED] = {405, "invalid_request_error", "method_not_allowed", "method_not_allowed"},
    [GWE_BODY_TOO_LARGE] = {413, "invalid_request_error", "request_too_large", "request_too_large"},
    [GWE_INTERNAL] = {500, "api_error", "internal_error", "internal"},
    [GWE_UPSTREAM_CONNECT] = {502, "api_error", "upstream_connect_error", "upstream_connect_error"},
    [GWE_UPSTREAM_TLS] = {502, "api_error", "tls_error", "tls_error"},
    [GWE_UPSTREAM_INVALID] = {502, "api_error", "upstream_invalid_response", "upstream_invalid_response"},
    [GWE_UNAVAILABLE] = {503, "api_error", "unavailable", "unavailable"},
    [GWE_UPSTREAM_TIMEOUT] = {504, "timeout_error", "timeout", "timeout"},
    [GWE_BAD_HTTP] = {400, "invalid_request_error", "bad_request", "bad_request"},
    [GWE_REQUEST_TIMEOUT] = {408, "invalid_request_error", "request_timeout", "request_timeout"},
    [GWE_URI_TOO_LONG] = {414, "invalid_request_error", "uri_too_long", "uri_too_long"},
    [GWE_EXPECTATION_FAILED] = {417, "invalid_request_error", "expectation_failed", "expectation_failed"},
    [GWE_HEADERS_TOO_LARGE] = {431, "invalid_request_error", "headers_too_large", "headers_too_large"},
    [GWE_NOT_IMPLEMENTED] = {501, "invalid_request_error", "not_implemented", "not_implemented"},
    [GWE_HTTP_VERSION] = {505, "invalid_request_error", "http_version_not_supported", "http_version"},
    [GWE_CLIENT_CLOSED] = {499, "invalid_request_error", "client_closed", "client_closed"},
    /* OpenAI's own shapes: type "requests"/"tokens" with code rate_limit_exceeded, and insufficient_quota */
    [GWE_MODEL_NOT_ALLOWED] = {403, "permission_error", "model_not_allowed", "model_not_allowed"},
    [GWE_RATE_LIMIT_REQUESTS] = {429, "requests", "rate_limit_exceeded", "rate_limited"},
    [GWE_RATE_LIMIT_TOKENS] = {429, "tokens", "rate_limit_exceeded", "rate_limited"},
    [GWE_QUOTA_EXCEEDED] = {429, "insufficient_quota", "insufficient_quota", "budget_exceeded"},
    [GWE_LIMITS_UNAVAILABLE] = {503, "api_error", "limits_unavailable", "limits_unavailable"},
    [GWE_MCP_NOT_ALLOWED] = {403, "permission_error", "mcp_not_allowed", "mcp_not_allowed"},
    [GWE_GUARDRAIL_DENIED] = {400, "invalid_request_error", "guardrail_denied", "guardrail_denied"},
};

const struct oai_err_def *oai_err_def(enum gw_error e)
{
	return (unsigned)e < GWE__COUNT ? &defs[e] : &defs[GWE_INTERNAL];
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need;
	unsigned cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are invalid */
	if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static int put_json_string(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	if (buf_append(out, "\"", 1) < 0)
		return -1;
	while (n > 0) {
		size_t run = 0;
		/* copy runs of plain characters in one append */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
			run++;
		if (run > 0) {
			if (buf_append(out, p, run) < 0)
				return -1;
			p += run;
			n -= run;
			continue;
		}
		int rc;
		if (*p == '"' || *p == '\\') {
			char esc[2] = {'\\', (char)*p};
			rc = buf_append(out, esc, 2);
			run = 1;
		} else if (*p < 0x20) {
			rc = buf_printf(out, "\\u%04x", *p);
			run = 1;
		} else if ((run = utf8_len(p, n)) > 0) {
			rc = buf_append(out, p, run);
		} else {
			rc = buf_puts(out, "\\ufffd");
			run = 1;
		}
		if (rc < 0)
			return -1;
		p += run;
		n -= run;
	}
	return buf_append(out, "\"", 1);
}

static int put_field(struct buf *out, const char *key, const char *val, bool comma)
{
	if (buf_printf(out, "%s\"%s\":", comma ? "," : "", key) < 0)
		return -1;
	return val != NULL ? put_json_string(out, val) : buf_puts(out, "null");
}

int oai_err_format(struct buf *out, const char *message, const char *type, const char *param, const char *code)
{
	if (buf_puts(out, "{\"error\":{") < 0 || put_field(out, "message", message != NULL ? message : "", false) < 0 ||
	    put_field(out, "type", type != NULL ? type : "api_error", true) < 0 ||
	    put_field(out, "param", param, true) < 0 || put_field(out, "code", code, true) < 0 ||
	    buf_puts(out, "}}") < 0)
		return -1;
	return 0;
}

const char *oai_err_type_for_status(int status)
{
	switch (status) {
	case 400:
	case 404:
	case 409:
	case 413:
	case 415:
	case 422:
		return status == 404 ? "not_found_error" : "invalid_request_error";
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 408:
	case 504:
		return "timeout_error";
	case 429:
		return "rate_limit_error";
	default:
		return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
	}
}

bool oai_err_is_openai_error(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *root, *e, *msg;
	bool ok;
	if (body == NULL || len == 0)
		return false;
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL)
		return false;
	e = json_object_get(root, "error");
	msg = json_is_object(e) ? json_object_get(e, "message") : NULL;
	ok = json_is_object(root) && json_is_string(msg);
	json_decref(root);
	return ok;
}

enum gw_error oai_err_for_reject(int status)
{
	switch (status) {
	case 408:
		return GWE_REQUEST_TIMEOUT;
	case 413:
		return GWE_BODY_TOO_LARGE;
	case 414:
		return GWE_URI_TOO_LONG;
	case 417:
		return GWE_EXPECTATION_FAILED;
	case 431:
		return GWE_HEADERS_TOO_LARGE;
	case 501:
		return GWE_NOT_IMPLEMENTED;
	case 505:
		return GWE_HTTP_VERSION;
	default:
		return GWE_BAD_HTTP;
	}
}
