/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the anthropic provider's translators: everything
 * they read comes from the upstream. Input: bytes 0-1 = split point seed,
 * the rest = an upstream body, used three ways:
 *   - as a whole 2xx response for decode: on success the client body is a
 *     chat.completion object;
 *   - as an error body for decode_error: on success the output is an
 *     OpenAI error object with a string message;
 *   - as a stream, fed whole and then in two pieces cut at the seed: both
 *     runs must agree (same result, same bytes out), and what comes out is
 *     made of whole "data: ...\n\n" / ": ping\n\n" events.
 * Never crashes or leaks (ASan); aborts on a broken check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "gateway/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct gw_provider prov = {.name = "fuzz", .type = GW_PROVIDER_ANTHROPIC, .max_tokens = 16};

static void check_decode(const struct provider_chat_in *in, const char *body, size_t n)
{
	struct chat_response_info info;
	struct buf out;
	struct err err;
	bool relay = true;
	buf_init(&out, 1 << 22);
	if (provider_anthropic.decode(&prov, in, body, n, &info, &out, &relay, &err) == 0) {
		json_t *j = json_loadb(out.data, out.len, 0, NULL);
		if (relay || j == NULL ||
		    strcmp(json_string_value(json_object_get(j, "object")), "chat.completion") != 0)
			abort();
		if (strnlen(info.finish_reason, sizeof(info.finish_reason)) == sizeof(info.finish_reason))
			abort();
		json_decref(j);
	}
	buf_fini(&out);
}

static void check_error(const char *body, size_t n)
{
	struct buf out;
	buf_init(&out, 1 << 22);
	if (provider_anthropic.decode_error(&prov, 500, body, n, &out) == 0) {
		json_t *j = json_loadb(out.data, out.len, 0, NULL);
		if (!json_is_string(json_object_get(json_object_get(j, "error"), "message")))
			abort();
		json_decref(j);
	} else if (out.len != 0) {
		abort();
	}
	buf_fini(&out);
}

/* Feeds body in pieces cut at cut (n: whole); returns the feed result, output in out. */
static int stream(const struct provider_chat_in *in, const char *body, size_t n, size_t cut, struct buf *out)
{
	struct provider_stream *s = provider_anthropic.stream_new(&prov, in);
	struct err err;
	int rc;
	if (s == NULL)
		abort();
	rc = provider_anthropic.stream_feed(s, body, cut, out, &err);
	if (rc == 0 && cut < n) {
		/* a private copy: the translator must not keep pointers into an earlier piece */
		char *rest = malloc(n - cut);
		if (rest == NULL)
			abort();
		memcpy(rest, body + cut, n - cut);
		rc = provider_anthropic.stream_feed(s, rest, n - cut, out, &err);
		free(rest);
	}
	if (rc == 0 && provider_anthropic.stream_finish(s, out, &err) != 0)
		abort();
	provider_anthropic.stream_free(s);
	return rc;
}

/* Every output event is "data: <one line>\n\n" or ": ping\n\n". */
static void check_events(const struct buf *out)
{
	size_t at = 0;
	while (at < out->len) {
		const char *p = out->data + at, *end = strstr(p, "\n\n");
		if (end == NULL || (strncmp(p, "data: ", 6) != 0 && strncmp(p, ": ping\n\n", 8) != 0) ||
		    memchr(p, '\n', (size_t)(end - p)) != NULL)
			abort();
		at = (size_t)(end - out->data) + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t n = size - 2;
	char *body = malloc(n > 0 ? n : 1);
	if (body == NULL)
		return 0;
	if (n > 0)
		memcpy(body, data + 2, n);
	size_t cut = n > 0 ? ((size_t)data[0] << 8 | data[1]) % (n + 1) : 0;
	struct provider_chat_in in = {.op = PROVIDER_OP_CHAT, .client_model = "c", .provider_model = "c", .created = 1};

	check_decode(&in, body, n);
	check_error(body, n);

	struct buf whole, split;
	buf_init(&whole, 1 << 24);
	buf_init(&split, 1 << 24);
	int a = stream(&in, body, n, n, &whole);
	int b = stream(&in, body, n, cut, &split);
	if (a != b || whole.len != split.len || (whole.len > 0 && memcmp(whole.data, split.data, whole.len) != 0))
		abort();
	check_events(&whole);
	buf_fini(&whole);
	buf_fini(&split);
	free(body);
	return 0;
}
