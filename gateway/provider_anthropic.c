/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `anthropic` provider table: OpenAI chat completions served by
 * Anthropic's Messages API, POST {base_url}/messages with the x-api-key and
 * anthropic-version headers. Every request is re-encoded and every answer
 * translated (the wire formats differ); the translation itself is in
 * anthropic_req.c, anthropic_resp.c and anthropic_stream.c, pure functions
 * the unit tests and the fuzz target call directly. Only chat is served:
 * Anthropic has no legacy completions or embeddings endpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/provider.h"
#include "gateway/provider_anthropic.h"

/* provider_stream is opaque in provider.h; for this provider it is the translator itself. */
struct provider_stream {
	struct anthropic_stream *as;
};

static int anthropic_encode(const struct gw_provider *p, const struct provider_chat_in *in, struct provider_http *out,
			    struct err *err)
{
	json_t *body;
	if (in->op != PROVIDER_OP_CHAT || in->req == NULL)
		return err_set(err, EINVAL, "provider %s serves chat completions only", p->name);
	int n = snprintf(out->path, sizeof(out->path), "%s/messages", p->url.path != NULL ? p->url.path : "");
	if (n < 0 || (size_t)n >= sizeof(out->path))
		return err_set(err, ENAMETOOLONG, "provider %s: base path too long", p->name);
	json_t *tree = chat_request_tree(in->req);
	if (tree == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (anthropic_request_from_openai(tree, in->provider_model, p->max_tokens, &body, err) < 0)
		return -1;
	int rc = provider_put_json(out, body, err);
	json_decref(body);
	return rc;
}

static void anthropic_auth_headers(const struct gw_provider *p, struct evkeyvalq *h)
{
	/* the key goes straight from the config into the header list: no copy to scrub */
	if (p->api_key != NULL)
		evhttp_add_header(h, "x-api-key", p->api_key);
	evhttp_add_header(h, "anthropic-version", p->api_version != NULL ? p->api_version : ANTHROPIC_VERSION_DEFAULT);
}

static int anthropic_decode(const struct gw_provider *p, const struct provider_chat_in *in, const char *body,
			    size_t len, struct chat_response_info *info, struct buf *client_body, bool *relay,
			    struct err *err)
{
	*relay = true;
	if (anthropic_response_to_openai(body, len, in->created, client_body, info, err) < 0) {
		if (err != NULL && err->code == EINVAL)
			err_set(err, EINVAL, "provider %s returned a body that is not a Messages response", p->name);
		return -1;
	}
	*relay = false;
	return 0;
}

static int anthropic_decode_error(const struct gw_provider *p, int status, const char *body, size_t len,
				  struct buf *out)
{
	(void)p;
	return anthropic_error_to_openai(status, body, len, out);
}

static struct provider_stream *anthropic_stream_open(const struct gw_provider *p, const struct provider_chat_in *in)
{
	(void)p;
	struct provider_stream *s = malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	s->as = anthropic_stream_new(in->created, in->provider_model);
	if (s->as == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

static int anthropic_stream_piece(struct provider_stream *s, const char *data, size_t len, struct buf *out,
				  struct err *err)
{
	return anthropic_stream_feed(s->as, data, len, out, err);
}

static int anthropic_stream_end(struct provider_stream *s, struct buf *out, struct err *err)
{
	/* message_stop already completed the client's stream; without it the relay reports the truncation */
	(void)s;
	(void)out;
	(void)err;
	return 0;
}

static void anthropic_stream_close(struct provider_stream *s)
{
	if (s == NULL)
		return;
	anthropic_stream_free(s->as);
	free(s);
}

const struct provider_ops provider_anthropic = {
    .name = "anthropic",
    .in_process = false,
    .endpoints = PROVIDER_EP(PROVIDER_OP_CHAT),
    .encode = anthropic_encode,
    .auth_headers = anthropic_auth_headers,
    .decode = anthropic_decode,
    .decode_error = anthropic_decode_error,
    .stream_new = anthropic_stream_open,
    .stream_feed = anthropic_stream_piece,
    .stream_finish = anthropic_stream_end,
    .stream_free = anthropic_stream_close,
    .answer = NULL,
};
