/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the gateway's whole config loader: arbitrary text
 * through gw_conf_parse(), which validates every section (server,
 * providers, models and routing, auth, keys with globs and expiry,
 * tenants, prices as decimal USD, redis URLs). A config that loads is then
 * checked against itself for reload and its keys' globs are matched, so the
 * cross-reference and glob code run too. Must never crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/gw_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct gw_conf *c = gw_conf_parse((const char *)data, size, "fuzz.yaml", &err);
	if (c == NULL)
		return 0;
	if (gw_conf_reloadable(c, c, &err) != 0)
		abort(); /* a config is always reloadable into itself */
	for (size_t i = 0; i < c->nkeys; i++)
		for (size_t m = 0; m < c->nmodels; m++)
			(void)gw_key_allows(&c->keys[i], c->models[m].name);
	gw_conf_free(c);
	return 0;
}
