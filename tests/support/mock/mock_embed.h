/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/embeddings for llmgw-mock, in OpenAI's shape. The vector of a
 * text is deterministic (a hash of the text spread over the dimensions and
 * scaled to unit length), so a test can compute it again, and a float
 * answer equals the base64 one decoded (float32, little-endian, as OpenAI
 * encodes it; the official npm SDK asks for base64 by default).
 */
#ifndef LLMGW_TESTS_MOCK_EMBED_H
#define LLMGW_TESTS_MOCK_EMBED_H

#include <stddef.h>

#include "tests/support/mock/mock-t.h"

#define MOCK_EMBED_DIMS 8	 /* without "dimensions" */
#define MOCK_EMBED_MAX_DIMS 4096 /* largest "dimensions" accepted */

void mock_embed_handle(struct mock *m, struct mock_req *r, const struct mock_fault *f);

/* The embedding of text[0..len): dims floats of unit length. */
void mock_embed_vector(const char *text, size_t len, float *out, size_t dims);

#endif
