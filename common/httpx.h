/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers on top of libevent's evhttp that more than one program
 * needs: the gateway (span method names) and the test tools (the mock
 * provider and the OTLP sink record what they received as JSON).
 */
#ifndef LLMGW_COMMON_HTTPX_H
#define LLMGW_COMMON_HTTPX_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

/* "GET", "POST", ... for a libevent method; "OTHER" for anything unknown. Static strings. */
const char *httpx_method_name(enum evhttp_cmd_type m);

/*
 * Headers as a JSON object of strings: names lower-cased (HTTP names are
 * case-insensitive, so readers should not care how the sender spelled
 * them; names longer than 255 bytes are cut), a repeated header joined
 * with ", " as RFC 9110 allows. New reference for the caller; NULL when
 * out of memory.
 */
json_t *httpx_headers_to_json(const struct evkeyvalq *hdrs);

#endif
