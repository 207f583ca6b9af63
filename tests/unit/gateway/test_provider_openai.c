/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gateway/provider_openai: each endpoint goes to
 * {base path}/<endpoint>; the client's bytes are forwarded unchanged when
 * the model needs no rename; a rename re-encodes with the provider's model
 * and, for a stream whose client did not ask for usage, asks for it; the
 * answer's span facts come from the chat or the embeddings shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/provider.h"

static struct gw_provider prov = {.name = "local", .type = GW_PROVIDER_OPENAI, .url = {.path = "/v1"}};

/* Encodes a chat (or completions) body for provider model pm; the parsed request stays in *req. */
static int encode_chat(enum provider_op op, const char *body, const char *pm, struct chat_request *req,
		       struct provider_http *ph, struct err *err)
{
	struct chat_parse_err pe;
	enum chat_perr rc = op == PROVIDER_OP_CHAT ? chat_request_parse(body, strlen(body), req, &pe)
						   : chat_legacy_request_parse(body, strlen(body), req, &pe);
	assert_int_equal(rc, CHAT_OK);
	struct provider_chat_in in = {op, req, NULL, body, strlen(body), req->model, pm, "rid", 0};
	memset(ph, 0, sizeof(*ph));
	buf_init(&ph->body, 1 << 20);
	return provider_openai.encode(&prov, &in, ph, err);
}

static void test_paths_and_pass_through(void **state)
{
	(void)state;
	struct chat_request req;
	struct provider_http ph;
	struct err err;
	assert_int_equal(encode_chat(PROVIDER_OP_CHAT,
				     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "m",
				     &req, &ph, &err),
			 0);
	assert_string_equal(ph.path, "/v1/chat/completions");
	assert_true(ph.use_client_body);
	chat_request_fini(&req);
	buf_fini(&ph.body);
	assert_int_equal(
	    encode_chat(PROVIDER_OP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"x\"}", "m", &req, &ph, &err), 0);
	assert_string_equal(ph.path, "/v1/completions");
	assert_true(ph.use_client_body);
	chat_request_fini(&req);
	buf_fini(&ph.body);

	struct embed_request er;
	struct chat_parse_err pe;
	const char *eb = "{\"model\":\"e\",\"input\":\"x\"}";
	assert_int_equal(embed_request_parse(eb, strlen(eb), &er, &pe), CHAT_OK);
	struct provider_chat_in in = {PROVIDER_OP_EMBEDDINGS, NULL, &er, eb, strlen(eb), er.model, "e-2", "rid", 0};
	memset(&ph, 0, sizeof(ph));
	buf_init(&ph.body, 1 << 20);
	assert_int_equal(provider_openai.encode(&prov, &in, &ph, &err), 0);
	assert_string_equal(ph.path, "/v1/embeddings");
	assert_false(ph.use_client_body);
	assert_non_null(strstr(ph.body.data, "\"model\":\"e-2\""));
	embed_request_fini(&er);
	buf_fini(&ph.body);
}

static void test_rename_asks_for_stream_usage(void **state)
{
	(void)state;
	struct chat_request req;
	struct provider_http ph;
	struct err err;
	assert_int_equal(
	    encode_chat(PROVIDER_OP_CHAT,
			"{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
			"real-model", &req, &ph, &err),
	    0);
	assert_false(ph.use_client_body);
	assert_non_null(strstr(ph.body.data, "\"model\":\"real-model\""));
	assert_non_null(strstr(ph.body.data, "\"stream_options\":{\"include_usage\":true}"));
	assert_false(req.include_usage); /* still what the client asked: the relay drops the usage chunk */
	chat_request_fini(&req);
	buf_fini(&ph.body);
	/* not a stream: nothing added */
	assert_int_equal(encode_chat(PROVIDER_OP_CHAT,
				     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
				     "real-model", &req, &ph, &err),
			 0);
	assert_null(strstr(ph.body.data, "stream_options"));
	chat_request_fini(&req);
	buf_fini(&ph.body);
}

static void test_decode(void **state)
{
	(void)state;
	struct chat_response_info info;
	struct buf out;
	bool relay = false;
	struct err err;
	const char *chat = "{\"id\":\"c1\",\"model\":\"m-1\",\"choices\":[{\"finish_reason\":\"stop\"}],"
			   "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
	const char *emb =
	    "{\"object\":\"list\",\"data\":[],\"model\":\"e-1\",\"usage\":{\"prompt_tokens\":6,\"total_tokens\":6}}";
	buf_init(&out, 1024);
	assert_int_equal(provider_openai.decode(&prov, &(struct provider_chat_in){.op = PROVIDER_OP_CHAT}, chat,
						strlen(chat), &info, &out, &relay, &err),
			 0);
	assert_true(relay);
	assert_string_equal(info.id, "c1");
	assert_int_equal(info.completion_tokens, 4);
	assert_int_equal(provider_openai.decode(&prov, &(struct provider_chat_in){.op = PROVIDER_OP_EMBEDDINGS}, emb,
						strlen(emb), &info, &out, &relay, &err),
			 0);
	assert_string_equal(info.model, "e-1");
	assert_int_equal(info.prompt_tokens, 6);
	assert_int_equal(info.completion_tokens, 0);
	assert_true(info.has_usage);
	assert_int_equal(provider_openai.decode(&prov, &(struct provider_chat_in){.op = PROVIDER_OP_EMBEDDINGS}, "[1]",
						3, &info, &out, &relay, &err),
			 -1);
	assert_int_equal(provider_openai.decode(&prov, &(struct provider_chat_in){.op = PROVIDER_OP_COMPLETIONS},
						"nope", 4, &info, &out, &relay, &err),
			 -1);
	buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_and_pass_through),
	    cmocka_unit_test(test_rename_asks_for_stream_usage),
	    cmocka_unit_test(test_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
