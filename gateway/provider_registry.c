/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one list of provider tables, indexed by config type. gw_conf rejects
 * unknown types, so a lookup never misses at run time.
 */
#include "gateway/provider.h"

static const struct provider_ops *const registry[GW_PROVIDER__COUNT] = {
    [GW_PROVIDER_OPENAI] = &provider_openai, [GW_PROVIDER_MOCK] = &provider_mock,
    [GW_PROVIDER_AZURE] = &provider_azure,   [GW_PROVIDER_ANTHROPIC] = &provider_anthropic,
    [GW_PROVIDER_GEMINI] = &provider_gemini,
};

const struct provider_ops *provider_ops_for(enum gw_provider_type t)
{
	return (unsigned)t < GW_PROVIDER__COUNT ? registry[t] : NULL;
}
