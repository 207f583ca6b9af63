/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ring of the last MOCK_REQLOG_MAX requests the mock received, each kept as
 * a ready-made JSON object so serving /_mock/requests is a copy. Header
 * names are lower-cased (HTTP names are case-insensitive and tests should
 * not care how the gateway spelled them); a repeated header is joined with
 * ", " as RFC 9110 allows. Bodies are kept as text, cut at 1 MiB.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "common/httpx.h"
#include "tests/support/mock/mock_reqlog.h"
#include "tests/support/mock/mock_req.h"

struct mock_reqlog {
	json_t *ring[MOCK_REQLOG_MAX];
	unsigned head; /* index of the oldest entry */
	unsigned count;
};

struct mock_reqlog *mock_reqlog_new(void)
{
	return calloc(1, sizeof(struct mock_reqlog));
}

void mock_reqlog_clear(struct mock_reqlog *l)
{
	for (unsigned i = 0; i < l->count; i++)
		json_decref(l->ring[(l->head + i) % MOCK_REQLOG_MAX]);
	l->head = 0;
	l->count = 0;
}

void mock_reqlog_free(struct mock_reqlog *l)
{
	if (l == NULL)
		return;
	mock_reqlog_clear(l);
	free(l);
}

/* Body as a JSON string; bytes that are not UTF-8 would make jansson refuse it, so fall back to a marker. */
static json_t *body_json(struct mock_req *r, int *cut)
{
	struct evbuffer *in = r->body;
	size_t len = evbuffer_get_length(in);
	*cut = len > MOCK_REQLOG_BODY_MAX;
	if (*cut)
		len = MOCK_REQLOG_BODY_MAX;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	json_t *s = json_stringn(p != NULL ? p : "", p != NULL ? len : 0);
	return s != NULL ? s : json_string("<non-utf8 body>");
}

json_t *mock_reqlog_add(struct mock_reqlog *l, struct mock_req *r)
{
	int cut = 0;
	json_t *body = body_json(r, &cut);
	json_t *e = json_pack("{s:s, s:s, s:o, s:o, s:b, s:s, s:b, s:b}", "method", r->method, "path", r->target,
			      "headers", httpx_headers_to_json(&r->in_headers), "body", body, "body_truncated", cut,
			      "http_version", r->http_version, "tls", (int)r->tls, "client_closed", 0);
	if (e == NULL)
		return NULL;
	json_incref(e);
	if (l->count == MOCK_REQLOG_MAX) {
		json_decref(l->ring[l->head]);
		l->ring[l->head] = e;
		l->head = (l->head + 1) % MOCK_REQLOG_MAX;
	} else {
		l->ring[(l->head + l->count) % MOCK_REQLOG_MAX] = e;
		l->count++;
	}
	return e;
}

json_t *mock_reqlog_json(const struct mock_reqlog *l)
{
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	for (unsigned i = 0; i < l->count; i++) {
		if (json_array_append(a, l->ring[(l->head + i) % MOCK_REQLOG_MAX]) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
