/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the gemini provider: everything a Gemini server (or
 * a client, for the request side) sends goes through its translators.
 * Input: byte 0 = where to split the stream (as a share of the rest), the
 * rest = one body used five ways: as a generateContent answer (decode), as
 * an error body (decode_error), as an SSE stream fed whole and in two
 * pieces (stream_feed / stream_finish), and as an OpenAI chat request
 * (encode, when it parses as one).
 * Checks: a decoded answer and a translated error are JSON objects with
 * the OpenAI members; an error that is refused leaves the output empty;
 * the stream gives the same bytes and the same result whichever way it
 * is split; an encoded request is a JSON object with contents.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct gw_provider prov = {.name = "g", .type = GW_PROVIDER_GEMINI, .url = {.path = "/v1beta"}};

static void check_json(const struct buf *b, const char *member)
{
	json_t *v = json_loadb(b->data, b->len, 0, NULL);
	if (!json_is_object(v) || json_object_get(v, member) == NULL)
		abort();
	json_decref(v);
}

static void fuzz_decode(const char *body, size_t n)
{
	struct provider_chat_in in = {.op = PROVIDER_OP_CHAT, .client_model = "c", .provider_model = "gemini-x"};
	struct chat_response_info info;
	struct buf out;
	struct err err;
	bool relay = true;

	buf_init(&out, 1 << 20);
	if (provider_gemini.decode(&prov, &in, body, n, &info, &out, &relay, &err) == 0) {
		if (relay)
			abort();
		check_json(&out, "choices");
	}
	buf_reset(&out);
	if (provider_gemini.decode_error(&prov, 400 + (int)(n % 200), body, n, &out) == 0)
		check_json(&out, "error");
	else if (out.len != 0)
		abort();
	buf_fini(&out);
}

/* Feeds body in pieces ending at cut (cut == n: whole); returns the feed result, output in out. */
static int stream(const char *body, size_t n, size_t cut, struct buf *out)
{
	struct provider_chat_in in = {.op = PROVIDER_OP_CHAT, .provider_model = "gemini-x", .created = 1};
	struct provider_stream *s = provider_gemini.stream_new(&prov, &in);
	struct err err;
	int rc;
	if (s == NULL)
		abort();
	rc = provider_gemini.stream_feed(s, body, cut, out, &err);
	if (rc == 0)
		rc = provider_gemini.stream_feed(s, body + cut, n - cut, out, &err);
	if (rc == 0 && provider_gemini.stream_finish(s, out, &err) < 0)
		rc = -2;
	provider_gemini.stream_free(s);
	return rc;
}

static void fuzz_stream(const char *body, size_t n, uint8_t split)
{
	struct buf whole, parts;
	buf_init(&whole, 0);
	buf_init(&parts, 0);
	int a = stream(body, n, n, &whole), b = stream(body, n, n * split / 255, &parts);
	if (a != b || whole.len != parts.len || (whole.len > 0 && memcmp(whole.data, parts.data, whole.len) != 0))
		abort();
	buf_fini(&whole);
	buf_fini(&parts);
}

static void fuzz_encode(const char *body, size_t n)
{
	struct chat_request req;
	struct chat_parse_err pe;
	struct provider_http ph;
	struct err err;
	if (chat_request_parse(body, n, &req, &pe) != CHAT_OK)
		return;
	struct provider_chat_in in = {PROVIDER_OP_CHAT, &req, NULL, body, n, req.model, "gemini-2.5-flash", "r", 1};
	buf_init(&ph.body, 1 << 20);
	if (provider_gemini.encode(&prov, &in, &ph, &err) == 0)
		check_json(&ph.body, "contents");
	buf_fini(&ph.body);
	chat_request_fini(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t n = size - 1;
	/* an exact-size copy so ASan sees reads past the end */
	char *body = malloc(n > 0 ? n : 1);
	if (body == NULL)
		return 0;
	if (n > 0)
		memcpy(body, data + 1, n);
	fuzz_decode(body, n);
	fuzz_stream(body, n, data[0]);
	fuzz_encode(body, n);
	free(body);
	return 0;
}
