/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/provider_mock (the built-in in-process provider):
 * chat and legacy completions answers whole and as an SSE body that the
 * gateway's own stream relay accepts (usage chunk there for the span,
 * dropped for the client, content reassembles), and embeddings that are
 * deterministic, honour dimensions, and whose base64 form is the float32
 * little-endian bytes of the float form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "gateway/chat_stream.h"
#include "gateway/provider.h"

static const struct gw_provider prov = {.name = "builtin", .type = GW_PROVIDER_MOCK};

/* Answers body (a chat or completions request per op) into out; returns the provider's rc. */
static int answer(enum provider_op op, const char *body, struct buf *out, struct chat_response_info *info,
		  struct err *err)
{
	struct chat_request req;
	struct chat_parse_err pe;
	enum chat_perr rc = op == PROVIDER_OP_CHAT ? chat_request_parse(body, strlen(body), &req, &pe)
						   : chat_legacy_request_parse(body, strlen(body), &req, &pe);
	assert_int_equal(rc, CHAT_OK);
	struct provider_chat_in in = {op, &req, NULL, body, strlen(body), "mock-1", "mock-1", "rid-1", 0};
	int r = provider_mock.answer(&prov, &in, out, info, err);
	chat_request_fini(&req);
	return r;
}

static void test_chat_whole(void **state)
{
	(void)state;
	struct buf out;
	struct chat_response_info info;
	struct err err;
	buf_init(&out, 1 << 20);
	assert_int_equal(answer(PROVIDER_OP_CHAT,
				"{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
				"{\"role\":\"user\",\"content\":\"hello there you\"}]}",
				&out, &info, &err),
			 0);
	json_t *root = json_loadb(out.data, out.len, 0, NULL);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "object")), "chat.completion");
	const json_t *msg = json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
	assert_string_equal(json_string_value(json_object_get(msg, "content")), "hello there you");
	assert_true(info.has_usage);
	assert_int_equal(info.prompt_tokens, 5);
	assert_int_equal(info.completion_tokens, 3);
	assert_string_equal(info.model, "mock-1");
	assert_string_equal(info.id, "chatcmpl-mock-rid-1");
	assert_string_equal(info.finish_reason, "stop");
	json_decref(root);
	buf_fini(&out);
}

/* One answer and, for streams, what the relay passes on to the client. */
struct fx {
	struct buf out;
	struct chat_response_info info;
	struct err err;
	struct buf client;
	struct chat_stream *cs;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	buf_init(&f->out, 1 << 20);
	buf_init(&f->client, 1 << 20);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	buf_fini(&f->out);
	buf_fini(&f->client);
	chat_stream_free(f->cs);
	free(f);
	return 0;
}

static int client_write(const char *p, size_t n, void *arg)
{
	return buf_append(arg, p, n);
}

/* Feeds f->out through the relay as the gateway does; the client's bytes land in f->client. */
static const struct chat_stream_info *relay(struct fx *f, bool drop_usage)
{
	struct chat_stream_opts o = {.drop_usage_chunk = drop_usage};
	f->cs = chat_stream_new(&o);
	assert_non_null(f->cs);
	assert_int_equal(chat_stream_feed(f->cs, f->out.data, f->out.len, 42, client_write, &f->client, &f->err), 0);
	assert_int_equal(chat_stream_finish(f->cs, NULL, client_write, &f->client), CHAT_STREAM_END_DONE);
	return chat_stream_info(f->cs);
}

static void test_chat_stream_through_relay(void **state)
{
	struct fx *f = *state;
	assert_int_equal(answer(PROVIDER_OP_CHAT,
				"{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"one "
				"two  three\"}]}",
				&f->out, &f->info, &f->err),
			 0);
	assert_non_null(strstr(f->out.data, "\"choices\":[],\"usage\":{"));
	assert_non_null(strstr(f->out.data, "data: [DONE]\n\n"));
	const struct chat_stream_info *in = relay(f, true);
	assert_int_equal(in->usage_dropped, 1);
	assert_null(strstr(f->client.data, "\"usage\""));
	assert_true(in->resp.has_usage);
	assert_int_equal(in->resp.prompt_tokens, 3);
	assert_int_equal(in->resp.completion_tokens, 3);
	assert_true(in->first_token);
	assert_string_equal(in->resp.finish_reason, "stop");
	/* content pieces join to the reply, double space included */
	json_t *root;
	struct buf content;
	buf_init(&content, 0);
	for (const char *p = strstr(f->client.data, "data: {"); p != NULL; p = strstr(p + 1, "data: {")) {
		root = json_loadb(p + 6, (size_t)(strstr(p, "\n\n") - p - 6), 0, NULL);
		assert_non_null(root);
		const json_t *c = json_object_get(
		    json_object_get(json_array_get(json_object_get(root, "choices"), 0), "delta"), "content");
		if (json_is_string(c))
			buf_append(&content, json_string_value(c), json_string_length(c));
		json_decref(root);
	}
	assert_int_equal(content.len, strlen("one two  three"));
	assert_memory_equal(content.data, "one two  three", content.len);
	buf_fini(&content);
}

static void test_completions(void **state)
{
	struct fx *f = *state;
	assert_int_equal(answer(PROVIDER_OP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"first one\",\"echo me\"]}",
				&f->out, &f->info, &f->err),
			 0);
	assert_non_null(strstr(f->out.data, "\"object\":\"text_completion\""));
	assert_non_null(strstr(f->out.data, "\"text\":\"echo me\""));
	assert_int_equal(f->info.prompt_tokens, 4);
	assert_int_equal(f->info.completion_tokens, 2);
	assert_string_equal(f->info.id, "cmpl-mock-rid-1");
	buf_reset(&f->out);
	assert_int_equal(answer(PROVIDER_OP_COMPLETIONS,
				"{\"model\":\"m\",\"prompt\":\"echo me\",\"stream\":true,\"stream_options\":{\"include_"
				"usage\":true}}",
				&f->out, &f->info, &f->err),
			 0);
	const struct chat_stream_info *in = relay(f, false);
	assert_int_equal(in->usage_dropped, 0);
	assert_non_null(strstr(f->client.data, "\"usage\":{\"prompt_tokens\":2"));
	assert_true(in->first_token);
	assert_string_equal(in->resp.finish_reason, "stop");
}

static int embed(const char *body, struct buf *out, struct chat_response_info *info, struct err *err)
{
	struct embed_request req;
	struct chat_parse_err pe;
	assert_int_equal(embed_request_parse(body, strlen(body), &req, &pe), CHAT_OK);
	struct provider_chat_in in = {
	    PROVIDER_OP_EMBEDDINGS, NULL, &req, body, strlen(body), "mock-1", "mock-1", "rid", 0};
	int rc = provider_mock.answer(&prov, &in, out, info, err);
	embed_request_fini(&req);
	return rc;
}

static void test_embeddings(void **state)
{
	(void)state;
	struct buf f, b;
	struct chat_response_info info;
	struct err err;
	buf_init(&f, 1 << 20);
	buf_init(&b, 1 << 20);
	assert_int_equal(
	    embed("{\"model\":\"e\",\"input\":[\"alpha beta\",\"gamma\"],\"dimensions\":5}", &f, &info, &err), 0);
	assert_int_equal(info.prompt_tokens, 3);
	assert_true(info.has_usage);
	assert_int_equal(embed("{\"model\":\"e\",\"input\":[\"alpha beta\",\"gamma\"],\"dimensions\":5,\"encoding_"
			       "format\":\"base64\"}",
			       &b, &info, &err),
			 0);
	json_t *fr = json_loadb(f.data, f.len, 0, NULL), *br = json_loadb(b.data, b.len, 0, NULL);
	assert_non_null(fr);
	assert_non_null(br);
	for (size_t i = 0; i < 2; i++) {
		const json_t *fv = json_object_get(json_array_get(json_object_get(fr, "data"), i), "embedding");
		const char *b64 =
		    json_string_value(json_object_get(json_array_get(json_object_get(br, "data"), i), "embedding"));
		unsigned char raw[64];
		assert_int_equal(json_array_size(fv), 5);
		assert_non_null(b64);
		assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64)), 21); /* 20 + pad */
		for (size_t k = 0; k < 5; k++) {
			uint32_t u = (uint32_t)raw[k * 4] | (uint32_t)raw[k * 4 + 1] << 8 |
				     (uint32_t)raw[k * 4 + 2] << 16 | (uint32_t)raw[k * 4 + 3] << 24;
			float x;
			memcpy(&x, &u, sizeof(x));
			assert_true(x >= -1.0f && x < 1.0f);
			assert_true((double)x == json_real_value(json_array_get(fv, k)));
		}
	}
	json_decref(fr);
	json_decref(br);
	/* deterministic; token arrays are inputs too; too many dimensions is the client's error */
	buf_reset(&b);
	assert_int_equal(
	    embed("{\"model\":\"e\",\"input\":[\"alpha beta\",\"gamma\"],\"dimensions\":5}", &b, &info, &err), 0);
	assert_int_equal(b.len, f.len);
	assert_memory_equal(b.data, f.data, f.len);
	buf_reset(&b);
	assert_int_equal(embed("{\"model\":\"e\",\"input\":[[1,2,3],[4]]}", &b, &info, &err), 0);
	assert_int_equal(info.prompt_tokens, 4);
	buf_reset(&b);
	assert_int_equal(embed("{\"model\":\"e\",\"input\":\"x\",\"dimensions\":5000}", &b, &info, &err), -1);
	assert_int_equal(err.code, EINVAL);
	buf_fini(&f);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chat_whole),
	    cmocka_unit_test_setup_teardown(test_chat_stream_through_relay, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_completions, fx_setup, fx_teardown),
	    cmocka_unit_test(test_embeddings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
