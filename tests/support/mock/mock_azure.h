/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure OpenAI's URL scheme in front of the OpenAI wire format:
 *   POST /openai/deployments/{deployment}/chat/completions?api-version=V
 * (and /completions, /embeddings). Azure wants the key in `api-key` (401
 * without it) and an api-version query parameter (404 "Resource not
 * found" without it, as Azure answers); then the OpenAI handlers answer.
 */
#ifndef LLMGW_TESTS_MOCK_AZURE_H
#define LLMGW_TESTS_MOCK_AZURE_H

#include "tests/support/mock/mock-t.h"

void mock_azure_chat(struct mock *m, struct mock_req *r, const struct mock_fault *f);
void mock_azure_completions(struct mock *m, struct mock_req *r, const struct mock_fault *f);
void mock_azure_embeddings(struct mock *m, struct mock_req *r, const struct mock_fault *f);

#endif
