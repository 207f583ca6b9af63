/* SPDX-License-Identifier: Apache-2.0 */
/* OpenAI chat completion stream events for translating providers (see oai_sse.h). */
#include "gateway/oai_sse.h"

#include <errno.h>
#include <stdlib.h>

/* Puts out back to len bytes after a partial append. */
static int rewind_full(struct buf *out, size_t len, struct err *err)
{
	out->len = len;
	if (out->data != NULL)
		out->data[len] = '\0';
	return err_set(err, EMSGSIZE, "the translated stream does not fit the output buffer");
}

int oai_sse_put(struct buf *out, json_t *v, struct err *err)
{
	char *txt = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	size_t saved = out->len;
	json_decref(v);
	if (txt == NULL)
		return err_set(err, ENOMEM, "out of memory translating the stream");
	int rc = buf_puts(out, "data: ") < 0 || buf_puts(out, txt) < 0 || buf_puts(out, "\n\n") < 0 ? -1 : 0;
	free(txt);
	return rc == 0 ? 0 : rewind_full(out, saved, err);
}

int oai_sse_put_chunk(struct buf *out, const struct oai_chunk_head *h, unsigned index, json_t *delta,
		      const char *finish, struct err *err)
{
	if (delta == NULL)
		return err_set(err, ENOMEM, "out of memory translating the stream");
	return oai_sse_put(out,
			   json_pack("{s:s,s:s,s:I,s:s,s:[{s:I,s:o,s:n,s:s?}]}", "id", h->id, "object",
				     "chat.completion.chunk", "created", (json_int_t)h->created, "model", h->model,
				     "choices", "index", (json_int_t)index, "delta", delta, "logprobs", "finish_reason",
				     finish),
			   err);
}

int oai_sse_put_end(struct buf *out, const struct oai_chunk_head *h, const json_t *usage, struct err *err)
{
	size_t saved = out->len;
	if (usage != NULL &&
	    oai_sse_put(out,
			json_pack("{s:s,s:s,s:I,s:s,s:[],s:O}", "id", h->id, "object", "chat.completion.chunk",
				  "created", (json_int_t)h->created, "model", h->model, "choices", "usage", usage),
			err) < 0)
		return -1;
	if (buf_puts(out, "data: [DONE]\n\n") < 0)
		return rewind_full(out, saved, err);
	return 0;
}
