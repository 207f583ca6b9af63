/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response-cache half of gateway.yaml: the top-level `cache` section
 * (size, default TTL, largest entry, Redis or in process) and each model's
 * `models[].cache` (opt in, its TTL, whether non-deterministic requests
 * are cached too). A model may only opt in when the cache exists; the
 * section itself is restart-only (it sizes the in-process cache), the
 * models' settings reload with the rest. Runs after the models are loaded
 * and reads their nodes again by index. docs/cache.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_conf_int.h"

#define TTL_MAX_MS ((int64_t)30 * 24 * 3600 * 1000)

static const char *const cache_keys[] = {"max_bytes", "default_ttl", "max_entry_bytes", "redis", NULL};
static const char *const model_cache_keys[] = {"enabled", "ttl", "allow_nondeterministic", NULL};

static int load_section(const struct ycfg *c, const struct ycfg_node *m, struct gw_conf *g, struct err *err)
{
	struct gw_cache *k;
	if (ycfg_type(m) != YCFG_MAP)
		return ycfg_error(c, m, "cache", err, "must be a mapping");
	if (ycfg_check_keys(c, m, "cache", cache_keys, err) < 0)
		return -1;
	if ((k = g->cache = calloc(1, sizeof(*g->cache))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (ycfg_get_size(c, m, "max_bytes", (uint64_t)64 << 10, (uint64_t)64 << 30, (uint64_t)64 << 20, &k->max_bytes,
			  err) < 0 ||
	    ycfg_get_duration_ms(c, m, "default_ttl", 1000, TTL_MAX_MS, 3600 * 1000, &k->default_ttl_ms, err) < 0 ||
	    ycfg_get_size(c, m, "max_entry_bytes", 1024, (uint64_t)1 << 30,
			  k->max_bytes < ((uint64_t)1 << 20) ? k->max_bytes : (uint64_t)1 << 20, &k->max_entry_bytes,
			  err) < 0 ||
	    ycfg_get_bool(c, m, "redis", false, &k->redis, err) < 0)
		return -1;
	if (k->max_entry_bytes > k->max_bytes)
		return ycfg_error(c, ycfg_get(m, "max_entry_bytes"), "cache.max_entry_bytes", err,
				  "larger than cache.max_bytes");
	if (k->redis && g->redis == NULL)
		return ycfg_error(c, ycfg_get(m, "redis"), "cache.redis", err,
				  "needs the redis: section (where to keep the entries)");
	return 0;
}

static int load_model_cache(const struct ycfg *c, const struct ycfg_node *model, const char *at, struct gw_conf *g,
			    struct gw_model_cache *mc, struct err *err)
{
	const struct ycfg_node *m = model != NULL ? ycfg_get(model, "cache") : NULL;
	char kb[96];
	memset(mc, 0, sizeof(*mc));
	if (m == NULL)
		return 0;
	if (ycfg_type(m) != YCFG_MAP)
		return ycfg_error(c, m, KP(kb, at, "cache"), err, "must be a mapping");
	if (ycfg_check_keys(c, m, KP(kb, at, "cache"), model_cache_keys, err) < 0)
		return -1;
	/* the block's presence says "cache this model"; enabled: false keeps the settings for x-llmgw-cache: on */
	if (ycfg_get_bool(c, m, "enabled", true, &mc->enabled, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "ttl", 1000, TTL_MAX_MS, 0, &mc->ttl_ms, err) < 0 ||
	    ycfg_get_bool(c, m, "allow_nondeterministic", false, &mc->allow_nondeterministic, err) < 0)
		return -1;
	if (g->cache == NULL)
		return ycfg_error(c, m, KP(kb, at, "cache"), err,
				  "there is no response cache: add the top-level cache: section");
	return 0;
}

int gwc_load_cache(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *m = ycfg_get(root, "cache"), *models = ycfg_get(root, "models");
	if (m != NULL && load_section(c, m, g, err) < 0)
		return -1;
	for (size_t i = 0; i < g->nmodels; i++) {
		char at[32];
		snprintf(at, sizeof(at), "models[%zu]", i);
		if (load_model_cache(c, ycfg_at(models, i), at, g, &g->models[i].cache, err) < 0)
			return -1;
	}
	return 0;
}

void gwc_free_cache(struct gw_conf *g)
{
	free(g->cache);
	g->cache = NULL;
}

int gwc_cache_reloadable(const struct gw_conf *o, const struct gw_conf *n, struct err *err)
{
	const struct gw_cache *a = o->cache, *b = n->cache;
	if (a == NULL && b == NULL)
		return 0;
	if (a == NULL || b == NULL || a->max_bytes != b->max_bytes || a->default_ttl_ms != b->default_ttl_ms ||
	    a->max_entry_bytes != b->max_entry_bytes || a->redis != b->redis)
		return err_set(err, EINVAL, "cache: changed; the cache section applies on restart only");
	return 0;
}
