/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Embeddings for llmgw-mock.
 *
 * input is a string or an array of strings (one embedding each, in
 * order); encoding_format "float" (default) or "base64"; dimensions 1 to
 * MOCK_EMBED_MAX_DIMS (default MOCK_EMBED_DIMS). usage.prompt_tokens =
 * total_tokens = the word count of all inputs, the same rule as chat.
 * The values are float32 in both encodings, so a client decoding the
 * base64 form gets exactly the numbers of the float form.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tests/support/mock/mock_embed.h"
#include "tests/support/mock/mock_openai.h"
#include "tests/support/mock/mock_reply.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void mock_embed_vector(const char *text, size_t len, float *out, size_t dims)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
	double norm = 0;
	for (size_t i = 0; i < dims; i++) {
		/* 24 random bits: exact in a float, spread over [-1, 1). */
		out[i] = (float)((double)(splitmix64(&h) >> 40) / (double)(1u << 23) - 1.0);
		norm += (double)out[i] * (double)out[i];
	}
	if (norm > 0) {
		double k = 1.0 / sqrt(norm);
		for (size_t i = 0; i < dims; i++)
			out[i] = (float)((double)out[i] * k);
	}
}

/* float32 little-endian bytes of v, base64 (no line breaks); new JSON string. */
static json_t *base64_floats(const float *v, size_t dims)
{
	unsigned char *raw = malloc(dims * 4);
	char *b64 = malloc(4 * ((dims * 4 + 2) / 3) + 1);
	json_t *s = NULL;
	if (raw != NULL && b64 != NULL) {
		for (size_t i = 0; i < dims; i++) {
			uint32_t u;
			memcpy(&u, &v[i], 4);
			for (int b = 0; b < 4; b++)
				raw[i * 4 + (size_t)b] = (unsigned char)(u >> (8 * b));
		}
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)(dims * 4));
		s = json_string(b64);
	}
	free(raw);
	free(b64);
	return s;
}

static json_t *embedding(const json_t *text, size_t index, size_t dims, bool b64, float *vec)
{
	mock_embed_vector(json_string_value(text), json_string_length(text), vec, dims);
	json_t *e;
	if (b64) {
		e = base64_floats(vec, dims);
	} else {
		e = json_array();
		for (size_t i = 0; e != NULL && i < dims; i++)
			json_array_append_new(e, json_real((double)vec[i]));
	}
	return json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)index, "embedding", e);
}

/* Checks input, encoding_format and dimensions; NULL when fine, else the problem. */
static const char *check(const json_t *root, json_t **inputs, size_t *dims, bool *b64)
{
	const json_t *in = json_object_get(root, "input");
	const json_t *fmt = json_object_get(root, "encoding_format");
	const json_t *dm = json_object_get(root, "dimensions");
	size_t i;
	const json_t *v;
	if (json_is_string(in)) {
		*inputs = json_pack("[O]", in);
	} else if (json_is_array(in) && json_array_size(in) > 0) {
		json_array_foreach(in, i, v)
		{
			if (!json_is_string(v))
				return "input must be a string or an array of strings";
		}
		*inputs = json_incref((json_t *)in);
	} else {
		return "input must be a string or a non-empty array of strings";
	}
	*b64 = false;
	if (fmt != NULL && !json_is_null(fmt)) {
		const char *f = json_string_value(fmt);
		if (f == NULL || (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0))
			return "encoding_format must be \"float\" or \"base64\"";
		*b64 = strcmp(f, "base64") == 0;
	}
	*dims = MOCK_EMBED_DIMS;
	if (dm != NULL && !json_is_null(dm)) {
		json_int_t d = json_integer_value(dm);
		if (!json_is_integer(dm) || d < 1 || d > MOCK_EMBED_MAX_DIMS)
			return "dimensions must be an integer from 1 to 4096";
		*dims = (size_t)d;
	}
	return NULL;
}

void mock_embed_handle(struct mock *m, struct mock_req *r, const struct mock_fault *f)
{
	json_t *root = mock_openai_parse(m, r, f);
	if (root == NULL)
		return;
	json_t *inputs = NULL, *data = NULL;
	size_t dims = 0, words = 0, i;
	bool b64 = false;
	float *vec = NULL;
	const json_t *text;
	const char *problem = check(root, &inputs, &dims, &b64);
	if (problem != NULL) {
		m->stats.bad_requests++;
		mock_reply_oai_error(m, r, 400, f->latency_ms, "invalid_request_error", NULL, "%s", problem);
		goto out;
	}
	vec = malloc(dims * sizeof(*vec));
	data = json_array();
	if (vec == NULL || data == NULL || inputs == NULL) {
		mock_reply_oai_error(m, r, 500, 0, "server_error", NULL, "mock out of memory");
		goto out;
	}
	json_array_foreach(inputs, i, text)
	{
		words += mock_openai_count_words(json_string_value(text), json_string_length(text));
		json_array_append_new(data, embedding(text, i, dims, b64, vec));
	}
	char model[256];
	snprintf(model, sizeof(model), "%s-mock", json_string_value(json_object_get(root, "model")));
	m->stats.embeddings++;
	mock_reply_json(m, r, 200,
			json_pack("{s:s, s:O, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model", model,
				  "usage", "prompt_tokens", (json_int_t)words, "total_tokens", (json_int_t)words),
			f->latency_ms + f->first_byte_ms);
out:
	free(vec);
	json_decref(data);
	json_decref(inputs);
	json_decref(root);
}
