/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one list of provider tables, indexed by config type (gw_conf rejects
 * unknown types, so a lookup never misses at run time), and the small
 * steps every provider's encode shares.
 */
#include "gateway/provider.h"

#include <errno.h>
#include <stdlib.h>

static const struct provider_ops *const registry[GW_PROVIDER__COUNT] = {
    [GW_PROVIDER_OPENAI] = &provider_openai, [GW_PROVIDER_MOCK] = &provider_mock,
    [GW_PROVIDER_AZURE] = &provider_azure,   [GW_PROVIDER_ANTHROPIC] = &provider_anthropic,
    [GW_PROVIDER_GEMINI] = &provider_gemini,
};

int provider_put_json(struct provider_http *out, const json_t *v, struct err *err)
{
	char *s = json_dumps(v, JSON_COMPACT);
	if (s == NULL)
		return err_set(err, ENOMEM, "cannot encode the request");
	int rc = buf_puts(&out->body, s);
	free(s);
	if (rc < 0)
		return err_set(err, ENOMEM, "encoded request too large");
	out->use_client_body = false;
	return 0;
}

const struct provider_ops *provider_ops_for(enum gw_provider_type t)
{
	return (unsigned)t < GW_PROVIDER__COUNT ? registry[t] : NULL;
}
