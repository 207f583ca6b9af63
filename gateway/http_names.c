/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lookups on parsed HTTP messages that are not parsing: a header by name
 * (case-insensitive, first match) and the reason phrase of a status code.
 * Kept apart from http_parse.c, whose job is the byte-level state machine.
 */
#include <string.h>
#include <strings.h>

#include "gateway/http_parse.h"

const struct http_hdr *http_parse_header(const struct http_msg *m, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];
		if (h->name_len != n)
			continue;
		if (strncasecmp(h->name, name, n) == 0)
			return h;
	}
	return NULL;
}

static const struct {
	int status;
	const char *phrase;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {424, "Failed Dependency"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {499, "Client Closed Request"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {529, "Site Overloaded"},
};

const char *http_parse_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].phrase;
	return "Unknown";
}
