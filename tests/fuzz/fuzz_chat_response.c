/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the gateway reads from providers:
 * chat_response_extract() and embed_response_extract() (span facts from a
 * 2xx body) and oai_err_is_openai_error() (relay-or-wrap decision for
 * 4xx/5xx bodies).
 * Checks: extracted strings are NUL-terminated within their fields, usage
 * flags are consistent, the scanning extractor and the tree-reading one
 * agree on every fact they share, and a body judged an OpenAI error really
 * has the shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/chat_parse.h"
#include "gateway/embed_parse.h"
#include "gateway/oai_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size > 0 ? size : 1);
	if (body == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);

	struct chat_response_info info;
	int rc = chat_response_extract(body, size, &info);
	if (strnlen(info.model, sizeof(info.model)) == sizeof(info.model) ||
	    strnlen(info.id, sizeof(info.id)) == sizeof(info.id) ||
	    strnlen(info.finish_reason, sizeof(info.finish_reason)) == sizeof(info.finish_reason))
		abort();
	if (rc != 0 && (info.has_usage || info.model[0] != '\0'))
		abort();
	if (!info.has_usage && (info.prompt_tokens != 0 || info.completion_tokens != 0))
		abort();

	/* the embeddings flavour: the same facts but no finish_reason, plus data and total counts */
	struct embed_response_info ei;
	int erc = embed_response_extract(body, size, &ei);
	if (strnlen(ei.resp.model, sizeof(ei.resp.model)) == sizeof(ei.resp.model) ||
	    ei.resp.finish_reason[0] != '\0' ||
	    (erc != 0 && (ei.resp.has_usage || ei.data_count != 0 || ei.total_tokens != 0)))
		abort();
	/*
	 * chat_response_extract scans the bytes (jscan), embed_response_extract
	 * reads a jansson tree with chat_response_extract_json: when both read
	 * the body, the facts they share must be the same.
	 */
	if (rc == 0 && erc == 0 &&
	    (strcmp(info.model, ei.resp.model) != 0 || strcmp(info.id, ei.resp.id) != 0 ||
	     info.prompt_tokens != ei.resp.prompt_tokens || info.completion_tokens != ei.resp.completion_tokens ||
	     info.cached_tokens != ei.resp.cached_tokens || info.has_usage != ei.resp.has_usage))
		abort();

	if (oai_err_is_openai_error(body, size)) {
		json_error_t jerr;
		json_t *j = json_loadb(body, size, 0, &jerr);
		if (j == NULL || !json_is_string(json_object_get(json_object_get(j, "error"), "message")))
			abort();
		json_decref(j);
	}
	free(body);
	return 0;
}
