/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAI chat request -> Gemini generateContent request, as pure functions
 * over jansson values: the URL path for a model and the
 * GenerateContentRequest body (contents, systemInstruction,
 * generationConfig, tools, toolConfig). provider_gemini.c calls these from
 * its encode hook; the unit tests and the fuzzer call them directly.
 *
 * Every rejection is EINVAL with a client-facing message (the gateway
 * answers it as a 400 invalid_request_error): it names the offending field
 * and never quotes a secret.
 */
#ifndef LLMGW_GATEWAY_GEMINI_REQ_H
#define LLMGW_GATEWAY_GEMINI_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

/*
 * Writes base + "/models/" + model + ":generateContent" (stream:
 * ":streamGenerateContent?alt=sse") to out. model may carry the "models/"
 * prefix Google uses in resource names (stripped); what is left must be
 * 1-255 characters of [A-Za-z0-9._-], anything else is EINVAL (it would
 * change the URL's meaning). EINVAL too when the path does not fit outsz.
 */
int gemini_req_path(const char *base, const char *model, bool stream, char *out, size_t outsz, struct err *err);

/*
 * Translates an OpenAI chat.completions request (root: the parsed client
 * body) into a new GenerateContentRequest object the caller owns
 * (json_decref). root is not modified, but the result shares (increfs)
 * some of its values (parameters, schemas), so do not edit root while
 * the result lives. NULL with err (EINVAL: the request cannot be
 * expressed for Gemini or is malformed; ENOMEM).
 */
json_t *gemini_req_encode(json_t *root, struct err *err);

#endif
