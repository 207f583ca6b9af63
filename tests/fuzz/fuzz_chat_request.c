/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the client-facing request parsers: chat_request_parse()
 * on any body, and the header policy (req_hdr_*) and bearer parser on the
 * same bytes read as a header value. Checks: a rejection explains itself and
 * owns nothing; an accepted request has a bounded model string and a
 * non-empty messages array; the error body built from the message is valid
 * JSON in OpenAI's shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/auth.h"
#include "gateway/chat_parse.h"
#include "gateway/oai_err.h"
#include "gateway/req_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error_body(const char *msg, const char *param)
{
	struct buf b;
	json_error_t jerr;
	buf_init(&b, 0);
	if (oai_err_format(&b, msg, "invalid_request_error", param, "invalid_request") != 0)
		abort();
	json_t *j = json_loadb(b.data, b.len, 0, &jerr);
	if (j == NULL || !json_is_string(json_object_get(json_object_get(j, "error"), "message")))
		abort();
	json_decref(j);
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size heap copy: ASan catches any read past size */
	char *body = malloc(size > 0 ? size : 1);
	if (body == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);

	struct chat_request req;
	struct chat_parse_err e;
	enum chat_perr rc = chat_request_parse(body, size, &req, &e);
	if (rc == CHAT_OK) {
		size_t ml = strlen(req.model);
		/* accepted by the scan: jansson must build the same request's tree */
		if (ml == 0 || ml > CHAT_MODEL_MAX || chat_request_tree(&req) == NULL || !json_is_array(req.messages) ||
		    json_array_size(req.messages) == 0)
			abort();
	} else {
		if (req.root != NULL || e.msg[0] == '\0' || strlen(e.model) > CHAT_MODEL_MAX)
			abort();
		check_error_body(e.msg, e.param);
		check_error_body(e.model, NULL);
	}
	chat_request_fini(&req);

	/* the same bytes as a NUL-terminated header value */
	char *hdr = malloc(size + 1);
	if (hdr != NULL) {
		if (size > 0)
			memcpy(hdr, data, size);
		hdr[size] = '\0';
		const char *tok;
		size_t tlen;
		if (auth_parse_bearer(hdr, &tok, &tlen) == 0 && (tlen == 0 || tlen > AUTH_TOKEN_MAX))
			abort();
		char key[32];
		if (req_hdr_meta_key(hdr, key, sizeof(key)) == 1 && strlen(key) >= sizeof(key))
			abort();
		(void)req_hdr_forwardable(hdr, hdr);
		if (req_hdr_request_id_ok(hdr) && strlen(hdr) > REQ_ID_MAX)
			abort();
		free(hdr);
	}
	free(body);
	return 0;
}
