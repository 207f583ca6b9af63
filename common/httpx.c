/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libevent HTTP helpers (see httpx.h). Kept apart from the daemons' own
 * HTTP code so the test tools can share them without linking a daemon.
 */
#include "common/httpx.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

const char *httpx_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "OTHER";
}

/* Adds name: value under the lower-cased name; a repeat is joined to the first with ", ". */
static int add_header(json_t *obj, const char *name, const char *value)
{
	char lname[256];
	size_t n = strlen(name);
	if (n >= sizeof(lname))
		n = sizeof(lname) - 1;
	for (size_t i = 0; i < n; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[n] = '\0';
	const char *old = json_string_value(json_object_get(obj, lname));
	if (old == NULL)
		return json_object_set_new(obj, lname, json_string(value));
	size_t ol = strlen(old), vl = strlen(value);
	char *joined = malloc(ol + vl + 3);
	if (joined == NULL)
		return -1;
	memcpy(joined, old, ol);
	memcpy(joined + ol, ", ", 2);
	memcpy(joined + ol + 2, value, vl + 1);
	int rc = json_object_set_new(obj, lname, json_string(joined));
	free(joined);
	return rc;
}

json_t *httpx_headers_to_json(const struct evkeyvalq *hdrs)
{
	json_t *h = json_object();
	const struct evkeyval *kv;
	if (h == NULL)
		return NULL;
	TAILQ_FOREACH(kv, hdrs, next)
	{
		if (add_header(h, kv->key, kv->value) != 0) {
			json_decref(h);
			return NULL;
		}
	}
	return h;
}
