/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /v1/models: the client-facing model names from the config, in
 * OpenAI's list shape, so SDK helpers like `client.models.list()` work.
 * The list never names providers' real models or endpoints beyond the
 * provider's configured name in owned_by, and shows a caller only the
 * models its key may use (keys[].models).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/gw_gen.h"
#include "gateway/http_srv.h"

void api_models_handle(struct gw_req *r)
{
	const struct gw *g = r->w->gw;
	const struct gw_conf *c = r->gen->conf;
	const struct gw_key *key = r->span.ident != NULL ? r->span.ident->key : NULL;
	json_t *data = json_array();
	json_t *root = json_pack("{s:s, s:o}", "object", "list", "data", data);
	char *s = NULL;

	if (root == NULL)
		goto fail;
	for (size_t i = 0; i < c->nmodels; i++) {
		const struct gw_model *m = &c->models[i];
		if (key != NULL && !gw_key_allows(key, m->name))
			continue;
		const char *owner = c->providers[m->targets[0].provider].name;
		json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "id", m->name, "object", "model", "created",
				      (json_int_t)g->started_unix, "owned_by", owner);
		if (e == NULL || json_array_append_new(data, e) != 0)
			goto fail;
	}
	if ((s = json_dumps(root, JSON_COMPACT)) == NULL)
		goto fail;
	json_decref(root);
	http_srv_reply_json(r, 200, s, strlen(s));
	free(s);
	return;
fail:
	json_decref(root);
	http_srv_reply_error(r, GWE_INTERNAL, NULL, "out of memory listing models");
}
