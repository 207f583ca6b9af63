/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the two halves of the config loader: gw_conf.c (server,
 * telemetry, keys, providers) and gw_conf_models.c (models, targets and
 * routing). Not for other modules.
 */
#ifndef LLMGW_GATEWAY_GW_CONF_INT_H
#define LLMGW_GATEWAY_GW_CONF_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"
#include "common/yamlcfg.h"
#include "gateway/gw_conf.h"

#define GW_NAME_MAX 64
#define GW_MODEL_NAME_MAX 128

/* "providers[1]" + "type" -> "providers[1].type" for error messages. */
#define KP(buf, at, key) (snprintf((buf), sizeof(buf), "%s.%s", (at), (key)), (buf))

/* strdup that sets err on ENOMEM; NULL s duplicates "". */
char *gwc_strdup(const char *s, struct err *err);
/* 1-GW_NAME_MAX of [A-Za-z0-9._-]: names that become labels, Redis keys, span attributes. */
bool gwc_name_ok(const char *s);
/* Zeroes a secret string, then frees it; NULL is a no-op. */
void gwc_free_secret(char *s);
/* 1-GW_MODEL_NAME_MAX printable characters without spaces, quotes or backslashes. */
bool gwc_model_name_ok(const char *s);
/* A required, non-empty string; its absence is reported at the map. */
int gwc_get_required(const struct ycfg *c, const struct ycfg_node *map, const char *at, const char *key,
		     const char **out, struct err *err);
/* The sequence under key, NULL when absent; *rc -1 (err set) when it is not a sequence. */
const struct ycfg_node *gwc_get_seq(const struct ycfg *c, const struct ycfg_node *map, const char *key, struct err *err,
				    int *rc);

/* models[] and routing (gw_conf_models.c); needs the providers loaded. */
int gwc_load_models(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err);
/* Frees what gwc_load_models allocated. */
void gwc_free_models(struct gw_conf *g);

/* mcp_servers[] (gw_conf_mcp.c); loaded before the keys, whose mcp blocks name them. */
int gwc_load_mcp_servers(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err);
void gwc_free_mcp_servers(struct gw_conf *g);
/* keys[i].mcp (gw_conf_mcp.c), called by the key loader; needs mcp_servers loaded. */
int gwc_load_key_mcp(const struct ycfg *c, const struct ycfg_node *key, const char *at, const struct gw_conf *g,
		     struct gw_key *k, struct err *err);
void gwc_free_key_mcp(struct gw_key *k);

/*
 * guardrails[] and the models[].guardrails / keys[].guardrails sets
 * (gw_conf_guard.c); cache and models[].cache (gw_conf_cache.c). Both run
 * last: they read the models and keys sections again by index.
 */
int gwc_load_guard(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err);
void gwc_free_guard(struct gw_conf *g);
int gwc_load_cache(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err);
void gwc_free_cache(struct gw_conf *g);
/* A reload may not change cache: (the in-process cache is sized at start). 0, or -1 with err. */
int gwc_cache_reloadable(const struct gw_conf *old, const struct gw_conf *neu, struct err *err);

/* auth, keys, tenants, prices, redis, metrics (gw_conf_gov.c); needs providers and models loaded. */
int gwc_load_gov(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err);
void gwc_free_gov(struct gw_conf *g);

#endif
