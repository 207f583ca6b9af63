/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the request side of every provider: a client body
 * parsed as the endpoint's handler parses it (chat, legacy completions or
 * embeddings), then the include_usage splice, and then each provider that
 * serves the endpoint building its upstream request (openai, azure-openai,
 * anthropic, gemini) or answering it in process (mock).
 * Input: byte 0 = bits 0-1 the endpoint (0 and 3 chat, 1 completions,
 * 2 embeddings), bit 2 the target renames the model; the rest = the body.
 * Checks:
 *  - the splice gives a body that parses to the client's object with
 *    stream_options.include_usage true (and nothing else changed);
 *  - openai forwards the client's bytes when the model is not renamed,
 *    else exactly the client's object with the model (and include_usage)
 *    changed; azure-openai always forwards the client's bytes;
 *  - anthropic and gemini build a JSON object with their required members
 *    or refuse with a reason; every encoded body is bounded by the input;
 *  - the mock's answer is a JSON object, or for a stream whole
 *    "data: <JSON>\n\n" events ending with [DONE].
 * A parser that rejects leaves nothing owned. Never crashes or leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "gateway/chat_parse.h"
#include "gateway/embed_parse.h"
#include "gateway/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX ((size_t)1 << 24)

/* The providers under test; url.path and api_version are what encode reads. */
static struct gw_provider prov(enum gw_provider_type t)
{
	struct gw_provider p = {.name = "p", .type = t, .max_tokens = 64};
	p.url.path = "/v1";
	p.api_version = "2024-06-01";
	return p;
}

/* One parsed request of any endpoint, as the handlers hold it. */
struct parsed {
	enum provider_op op;
	struct chat_request chat;
	struct embed_request embed;
	json_t *orig; /* deep copy of the client's object, never edited */
};

static int parse(enum provider_op op, const char *body, size_t n, struct parsed *p)
{
	struct chat_parse_err e;
	enum chat_perr rc;
	memset(p, 0, sizeof(*p));
	p->op = op;
	if (op == PROVIDER_OP_EMBEDDINGS)
		rc = embed_request_parse(body, n, &p->embed, &e);
	else if (op == PROVIDER_OP_COMPLETIONS)
		rc = chat_legacy_request_parse(body, n, &p->chat, &e);
	else
		rc = chat_request_parse(body, n, &p->chat, &e);
	if (rc != CHAT_OK) {
		if (p->chat.root != NULL || p->embed.root != NULL || e.msg[0] == '\0')
			abort();
		return -1;
	}
	/*
	 * The oracle is jansson on the raw bytes: whatever the parser accepted
	 * must load, and the chat tree stays unbuilt until a provider asks for
	 * it (chat_request_tree), as on the request path.
	 */
	p->orig = json_loadb(body, n, 0, NULL);
	if (!json_is_object(p->orig))
		abort();
	return 0;
}

static void parsed_fini(struct parsed *p)
{
	chat_request_fini(&p->chat);
	embed_request_fini(&p->embed);
	json_decref(p->orig);
}

/* orig with stream_options.include_usage set to true (a new reference). */
static json_t *with_usage(const json_t *orig)
{
	json_t *x = json_deep_copy(orig), *so = json_object_get(x, "stream_options");
	if (json_is_object(so)) {
		json_object_set_new(so, "include_usage", json_true());
	} else {
		json_object_set_new(x, "stream_options", json_pack("{s:b}", "include_usage", 1));
	}
	return x;
}

static void expect_json(const char *p, size_t n, const json_t *want)
{
	json_t *got = json_loadb(p, n, 0, NULL);
	if (got == NULL || !json_equal(got, want))
		abort();
	json_decref(got);
}

/* chat_request_inject_usage: the body a stream is forwarded with. */
static void check_splice(const char *body, size_t n)
{
	struct parsed p;
	struct buf out;
	struct err err;
	if (parse(PROVIDER_OP_CHAT, body, n, &p) < 0)
		return;
	bool wanted = p.chat.stream && !p.chat.include_usage;
	buf_init(&out, OUT_MAX);
	int rc = chat_request_inject_usage(&p.chat, body, n, &out, &err);
	if (rc != (wanted ? 1 : 0) || (rc == 0 && out.len != 0))
		abort();
	if (rc == 1) {
		json_t *want = with_usage(p.orig);
		expect_json(out.data, out.len, want);
		json_decref(want);
	}
	buf_fini(&out);
	parsed_fini(&p);
}

static void check_openai(const struct parsed *p, const struct provider_chat_in *in, const struct provider_http *ph)
{
	if (strcmp(in->client_model, in->provider_model) == 0) {
		if (!ph->use_client_body || ph->body.len != 0)
			abort();
		return;
	}
	json_t *want = p->op != PROVIDER_OP_EMBEDDINGS && p->chat.stream && !p->chat.include_usage
			   ? with_usage(p->orig)
			   : json_deep_copy(p->orig);
	json_object_set_new(want, "model", json_string(in->provider_model));
	if (ph->use_client_body)
		abort();
	expect_json(ph->body.data, ph->body.len, want);
	json_decref(want);
}

/* Anthropic and Gemini re-encode everything: a JSON object with what their API requires. */
static void check_translated(enum gw_provider_type t, const struct provider_chat_in *in, const struct buf *b)
{
	json_t *j = json_loadb(b->data, b->len, 0, NULL);
	if (!json_is_object(j))
		abort();
	if (t == GW_PROVIDER_ANTHROPIC) {
		const char *m = json_string_value(json_object_get(j, "model"));
		json_t *mt = json_object_get(j, "max_tokens");
		if (m == NULL || strcmp(m, in->provider_model) != 0 || !json_is_array(json_object_get(j, "messages")) ||
		    !json_is_integer(mt) || json_integer_value(mt) < 1 ||
		    json_is_true(json_object_get(j, "stream")) != in->req->stream)
			abort();
	} else if (!json_is_array(json_object_get(j, "contents"))) {
		abort();
	}
	json_decref(j);
}

/* The first "\n\n" in p[0..n), NULL if none (memmem is a GNU extension). */
static const char *blank_line(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\n' && p[i + 1] == '\n')
			return p + i;
	return NULL;
}

/* Every event is "data: <JSON object>\n\n" and the last one is "data: [DONE]\n\n". */
static void check_sse(const struct buf *b)
{
	static const char done[] = "data: [DONE]\n\n";
	size_t at = 0;
	bool ended = false;
	while (at < b->len) {
		const char *p = b->data + at, *end = blank_line(p, b->len - at);
		if (end == NULL || ended || strncmp(p, "data: ", 6) != 0)
			abort();
		size_t n = (size_t)(end - p) + 2;
		if (n == sizeof(done) - 1 && memcmp(p, done, n) == 0) {
			ended = true;
		} else {
			json_t *j = json_loadb(p + 6, n - 8, 0, NULL);
			if (!json_is_object(j))
				abort();
			json_decref(j);
		}
		at += n;
	}
	if (!ended)
		abort();
}

static void check_mock(const struct parsed *p, const struct provider_chat_in *in)
{
	struct buf out;
	struct chat_response_info info;
	struct err err;
	/* the mock's vectors are dims * inputs floats: keep the fuzzer's memory bounded */
	if (p->op == PROVIDER_OP_EMBEDDINGS && (size_t)p->embed.dimensions * p->embed.input_count > (1u << 16))
		return;
	buf_init(&out, OUT_MAX);
	if (provider_mock.answer(NULL, in, &out, &info, &err) == 0) {
		if (p->op != PROVIDER_OP_EMBEDDINGS && p->chat.stream) {
			check_sse(&out);
		} else {
			json_t *j = json_loadb(out.data, out.len, 0, NULL);
			if (!json_is_object(j) ||
			    json_object_get(j, p->op == PROVIDER_OP_EMBEDDINGS ? "data" : "choices") == NULL)
				abort();
			json_decref(j);
		}
	} else if (err.msg[0] == '\0') {
		abort();
	}
	buf_fini(&out);
}

/* One provider on a fresh parse (encode may edit the request it is given). */
static void run_provider(enum gw_provider_type t, enum provider_op op, const char *body, size_t n, bool rename)
{
	const struct provider_ops *ops = provider_ops_for(t);
	struct gw_provider pv = prov(t);
	struct parsed p;
	struct provider_http ph;
	struct err err;
	if ((ops->endpoints & PROVIDER_EP(op)) == 0 || parse(op, body, n, &p) < 0)
		return;
	/* a copy, as api_call keeps it: encode may rename the model inside root */
	char client[CHAT_MODEL_MAX + 1];
	snprintf(client, sizeof(client), "%s", op == PROVIDER_OP_EMBEDDINGS ? p.embed.model : p.chat.model);
	struct provider_chat_in in = {.op = op,
				      .req = op == PROVIDER_OP_EMBEDDINGS ? NULL : &p.chat,
				      .embed = op == PROVIDER_OP_EMBEDDINGS ? &p.embed : NULL,
				      .body = body,
				      .body_len = n,
				      .client_model = client,
				      .provider_model = rename || t == GW_PROVIDER_AZURE ? "dep-1.x_y" : client,
				      .request_id = "rid",
				      .created = 1};
	if (t == GW_PROVIDER_MOCK) {
		check_mock(&p, &in);
		parsed_fini(&p);
		return;
	}
	memset(&ph, 0, sizeof(ph));
	buf_init(&ph.body, OUT_MAX);
	if (ops->encode(&pv, &in, &ph, &err) == 0) {
		if (ph.body.len > 16 * n + 4096 || strnlen(ph.path, sizeof(ph.path)) == sizeof(ph.path))
			abort();
		if (t == GW_PROVIDER_OPENAI)
			check_openai(&p, &in, &ph);
		else if (t == GW_PROVIDER_AZURE && !ph.use_client_body)
			abort();
		else if (t == GW_PROVIDER_ANTHROPIC || t == GW_PROVIDER_GEMINI)
			check_translated(t, &in, &ph.body);
	} else if (err.msg[0] == '\0' || t == GW_PROVIDER_OPENAI || t == GW_PROVIDER_AZURE) {
		abort(); /* openai and azure have nothing to refuse in a parsed request */
	}
	buf_fini(&ph.body);
	parsed_fini(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum provider_op ops[4] = {PROVIDER_OP_CHAT, PROVIDER_OP_COMPLETIONS, PROVIDER_OP_EMBEDDINGS,
						PROVIDER_OP_CHAT};
	static const enum gw_provider_type types[] = {GW_PROVIDER_OPENAI, GW_PROVIDER_AZURE, GW_PROVIDER_ANTHROPIC,
						      GW_PROVIDER_GEMINI, GW_PROVIDER_MOCK};
	if (size < 1)
		return 0;
	size_t n = size - 1;
	/* an exact-size copy so ASan sees reads past the end */
	char *body = malloc(n > 0 ? n : 1);
	if (body == NULL)
		return 0;
	if (n > 0)
		memcpy(body, data + 1, n);
	enum provider_op op = ops[data[0] & 3];
	if (op == PROVIDER_OP_CHAT)
		check_splice(body, n);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		run_provider(types[i], op, body, n, (data[0] & 4) != 0);
	free(body);
	return 0;
}
