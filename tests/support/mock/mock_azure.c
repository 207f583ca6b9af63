/* SPDX-License-Identifier: Apache-2.0 */
/* Azure OpenAI's deployment URLs and key header over the OpenAI handlers (see mock_azure.h). */
#include "tests/support/mock/mock_azure.h"

#include <string.h>

#include "tests/support/mock/mock_embed.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"
#include "tests/support/mock/mock_req.h"

/* The query has a non-empty api-version parameter. */
static bool has_api_version(const char *target)
{
	const char *q = strchr(target, '?');
	for (const char *p = q; p != NULL; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, "api-version=", 12) == 0 && p[13] != '\0' && p[13] != '&')
			return true;
	return false;
}

/* true when r may go on to the OpenAI handler; otherwise answered as Azure does. */
static bool azure_ok(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	const char *key = mock_req_header(r, "api-key");
	if (key == NULL || key[0] == '\0') {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 401, f->latency_ms, "invalid_request_error", "401",
				     "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
				     "to provide a valid key for an active subscription and use a correct regional "
				     "API endpoint for your resource.");
		return false;
	}
	if (!has_api_version(r->target)) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 404, f->latency_ms, "invalid_request_error", "404", "Resource not found");
		return false;
	}
	return true;
}

void mock_azure_chat(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	if (azure_ok(m, r, f))
		mock_openai_chat(m, r, f);
}

void mock_azure_completions(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	if (azure_ok(m, r, f))
		mock_openai_completions(m, r, f);
}

void mock_azure_embeddings(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	if (azure_ok(m, r, f))
		mock_embed_handle(m, r, f);
}
