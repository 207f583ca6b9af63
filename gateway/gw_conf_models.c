/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The routing half of gateway.yaml: `models[]` (client-facing names, their
 * targets and weights, strategy, fallbacks) and the `routing` defaults
 * (retry policy, cooldown, least-latency tuning) that every model inherits
 * and may override key by key. Cross-references are resolved here, once:
 * a target names a configured provider, a fallback names another model,
 * so the router never looks anything up by name at run time.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_conf_int.h"

/* cache and guardrails are read by gw_conf_cache.c and gw_conf_guard.c */
static const char *const model_keys[] = {"name",     "targets", "strategy",   "fallbacks", "retry",
					 "cooldown", "cache",	"guardrails", NULL};
static const char *const target_keys[] = {"provider", "model", "weight", NULL};
static const char *const routing_keys[] = {"strategy", "retry", "cooldown", "least_latency", NULL};
static const char *const retry_keys[] = {"on", "per_target", "max_attempts", "backoff", "max_backoff", NULL};
static const char *const cooldown_keys[] = {"failures", "window", "duration", NULL};
static const char *const ll_keys[] = {"ewma_alpha", "explore", NULL};

static const char *const strategy_names[] = {
    [GW_STRATEGY_WEIGHTED] = "weighted",
    [GW_STRATEGY_LEAST_LATENCY] = "least-latency",
    [GW_STRATEGY_PRIORITY] = "priority",
};

static const struct {
	const char *name;
	unsigned bit;
} retry_on_names[] = {
    {"429", GW_RETRY_ON_429},
    {"5xx", GW_RETRY_ON_5XX},
    {"timeout", GW_RETRY_ON_TIMEOUT},
    {"connect_error", GW_RETRY_ON_CONNECT},
};

/* What a model inherits when neither it nor `routing` says otherwise. */
struct route_defaults {
	enum gw_strategy strategy;
	struct gw_retry retry;
	struct gw_cooldown cooldown;
};

static int map_or_absent(const struct ycfg *c, const struct ycfg_node *n, const char *key, struct err *err)
{
	if (n != NULL && ycfg_type(n) != YCFG_MAP)
		return ycfg_error(c, n, key, err, "must be a mapping");
	return 0;
}

static int load_strategy(const struct ycfg *c, const struct ycfg_node *m, const char *at, enum gw_strategy *out,
			 struct err *err)
{
	const char *s;
	char kb[96];
	if (ycfg_get_str(c, m, "strategy", strategy_names[*out], &s, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++)
		if (strcmp(s, strategy_names[i]) == 0) {
			*out = (enum gw_strategy)i;
			return 0;
		}
	return ycfg_error(c, ycfg_get(m, "strategy"), KP(kb, at, "strategy"), err,
			  "must be weighted, least-latency or priority");
}

static int load_retry_on(const struct ycfg *c, const struct ycfg_node *seq, const char *key, unsigned *on,
			 struct err *err)
{
	if (ycfg_type(seq) != YCFG_SEQ)
		return ycfg_error(c, seq, key, err, "must be a list of 429, 5xx, timeout, connect_error");
	*on = 0;
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const char *s = ycfg_scalar(ycfg_at(seq, i));
		size_t j = 0;
		for (; j < sizeof(retry_on_names) / sizeof(retry_on_names[0]); j++)
			if (s != NULL && strcmp(s, retry_on_names[j].name) == 0)
				break;
		if (j == sizeof(retry_on_names) / sizeof(retry_on_names[0]))
			return ycfg_error(c, ycfg_at(seq, i), key, err,
					  "'%s' is not one of 429, 5xx, timeout, connect_error", s != NULL ? s : "");
		*on |= retry_on_names[j].bit;
	}
	return 0;
}

/* retry: {on, per_target, max_attempts, backoff, max_backoff}; absent keys keep r's values. */
static int load_retry(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_retry *r,
		      struct err *err)
{
	const struct ycfg_node *n = ycfg_get(m, "retry");
	char kb[96];
	int64_t pt, ma;
	if (n == NULL)
		return 0;
	if (map_or_absent(c, n, KP(kb, at, "retry"), err) < 0 || ycfg_check_keys(c, n, kb, retry_keys, err) < 0)
		return -1;
	if (ycfg_get(n, "on") != NULL && load_retry_on(c, ycfg_get(n, "on"), KP(kb, at, "retry.on"), &r->on, err) < 0)
		return -1;
	if (ycfg_get_int(c, n, "per_target", 1, 10, r->per_target, &pt, err) < 0 ||
	    ycfg_get_int(c, n, "max_attempts", 1, 20, r->max_attempts, &ma, err) < 0 ||
	    ycfg_get_duration_ms(c, n, "backoff", 0, 60000, r->backoff_ms, &r->backoff_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, n, "max_backoff", 0, 300000, r->max_backoff_ms, &r->max_backoff_ms, err) < 0)
		return -1;
	r->per_target = (uint32_t)pt;
	r->max_attempts = (uint32_t)ma;
	/* point at max_backoff, or at backoff when max_backoff is inherited */
	if (r->max_backoff_ms < r->backoff_ms)
		return ycfg_error(c, ycfg_get(n, ycfg_get(n, "max_backoff") != NULL ? "max_backoff" : "backoff"),
				  KP(kb, at, "retry.max_backoff"), err, "is shorter than backoff");
	return 0;
}

/* cooldown: {failures, window, duration}; failures 0 turns it off. */
static int load_cooldown(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_cooldown *cd,
			 struct err *err)
{
	const struct ycfg_node *n = ycfg_get(m, "cooldown");
	char kb[96];
	int64_t f;
	if (n == NULL)
		return 0;
	if (map_or_absent(c, n, KP(kb, at, "cooldown"), err) < 0 || ycfg_check_keys(c, n, kb, cooldown_keys, err) < 0)
		return -1;
	if (ycfg_get_int(c, n, "failures", 0, 1000, cd->failures, &f, err) < 0 ||
	    ycfg_get_duration_ms(c, n, "window", 1, 3600000, cd->window_ms, &cd->window_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, n, "duration", 1, 3600000, cd->duration_ms, &cd->duration_ms, err) < 0)
		return -1;
	cd->failures = (uint32_t)f;
	return 0;
}

/* A number in [min, max] written as 0.3, 30% or 1e-2. */
static int get_ratio(const struct ycfg *c, const struct ycfg_node *m, const char *at, const char *key, double min,
		     double max, double def, double *out, struct err *err)
{
	const struct ycfg_node *n = ycfg_get(m, key);
	const char *s = n != NULL ? ycfg_scalar(n) : NULL;
	char kb[96], *end;
	*out = def;
	if (n == NULL)
		return 0;
	errno = 0;
	double v = s != NULL ? strtod(s, &end) : NAN;
	if (s != NULL && end != s && *end == '%' && end[1] == '\0') {
		v /= 100.0;
		end++;
	}
	if (s == NULL || end == s || *end != '\0' || errno != 0 || !(v >= min && v <= max))
		return ycfg_error(c, n, KP(kb, at, key), err, "must be a number from %g to %g (or a percentage)", min,
				  max);
	*out = v;
	return 0;
}

static int load_routing(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct route_defaults *d,
			struct err *err)
{
	const struct ycfg_node *n = ycfg_get(root, "routing"), *ll;
	*d = (struct route_defaults){
	    .strategy = GW_STRATEGY_WEIGHTED,
	    .retry = {GW_RETRY_ON_ALL, 1, 3, 100, 2000},
	    .cooldown = {5, 30000, 30000},
	};
	g->ewma_alpha = 0.3;
	g->explore = 0.05;
	if (n == NULL)
		return 0;
	if (map_or_absent(c, n, "routing", err) < 0 || ycfg_check_keys(c, n, "routing", routing_keys, err) < 0 ||
	    load_strategy(c, n, "routing", &d->strategy, err) < 0 || load_retry(c, n, "routing", &d->retry, err) < 0 ||
	    load_cooldown(c, n, "routing", &d->cooldown, err) < 0)
		return -1;
	if ((ll = ycfg_get(n, "least_latency")) == NULL)
		return 0;
	if (map_or_absent(c, ll, "routing.least_latency", err) < 0 ||
	    ycfg_check_keys(c, ll, "routing.least_latency", ll_keys, err) < 0)
		return -1;
	if (get_ratio(c, ll, "routing.least_latency", "ewma_alpha", 0.01, 1.0, 0.3, &g->ewma_alpha, err) < 0 ||
	    get_ratio(c, ll, "routing.least_latency", "explore", 0.0, 0.5, 0.05, &g->explore, err) < 0)
		return -1;
	return 0;
}

static int load_target(const struct ycfg *c, const struct ycfg_node *m, const char *at, const struct gw_conf *g,
		       struct gw_target *t, struct err *err)
{
	const char *prov, *model;
	char label[GW_NAME_MAX + GW_MODEL_NAME_MAX + 2], kb[128];
	int64_t w;
	if (ycfg_check_keys(c, m, at, target_keys, err) < 0 || gwc_get_required(c, m, at, "provider", &prov, err) < 0 ||
	    gwc_get_required(c, m, at, "model", &model, err) < 0 ||
	    ycfg_get_int(c, m, "weight", 0, 1000000, 1, &w, err) < 0)
		return -1;
	t->weight = (uint32_t)w;
	if (!gwc_model_name_ok(model))
		return ycfg_error(c, ycfg_get(m, "model"), KP(kb, at, "model"), err,
				  "1-%d printable characters without spaces or quotes", GW_MODEL_NAME_MAX);
	t->provider = g->nproviders;
	for (size_t i = 0; i < g->nproviders; i++)
		if (strcmp(g->providers[i].name, prov) == 0)
			t->provider = i;
	if (t->provider == g->nproviders)
		return ycfg_error(c, ycfg_get(m, "provider"), KP(kb, at, "provider"), err,
				  "unknown provider '%s' (not in providers)", prov);
	/* Azure puts the deployment in the URL path, Gemini the model: keep them path-safe */
	if ((g->providers[t->provider].type == GW_PROVIDER_AZURE ||
	     g->providers[t->provider].type == GW_PROVIDER_GEMINI) &&
	    strspn(model, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != strlen(model))
		return ycfg_error(c, ycfg_get(m, "model"), KP(kb, at, "model"), err,
				  "a %s model goes into the URL path: use [A-Za-z0-9._/-]",
				  gw_provider_type_name(g->providers[t->provider].type));
	if (g->providers[t->provider].type == GW_PROVIDER_AZURE && strchr(model, '/') != NULL)
		return ycfg_error(c, ycfg_get(m, "model"), KP(kb, at, "model"), err,
				  "an azure-openai deployment name has no '/'");
	snprintf(label, sizeof(label), "%s/%s", prov, model);
	t->model = gwc_strdup(model, err);
	t->label = gwc_strdup(label, err);
	return (t->model != NULL && t->label != NULL) ? 0 : -1;
}

/* The health slot of md->targets[i]: shared by every model routing to the same provider/model. */
static size_t target_index(struct gw_conf *g, const struct gw_model *md, size_t i)
{
	for (const struct gw_model *o = g->models; o <= md; o++)
		for (size_t j = 0; j < (o == md ? i : o->ntargets); j++)
			if (strcmp(o->targets[j].label, md->targets[i].label) == 0)
				return o->targets[j].index;
	return g->ntargets++;
}

static int load_targets(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_conf *g,
			struct gw_model *md, struct err *err)
{
	char kb[96];
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, m, "targets", err, &rc);
	if (rc < 0)
		return -1;
	size_t n = seq != NULL ? ycfg_len(seq) : 0;
	if (n == 0 || n > GW_MODEL_TARGETS_MAX)
		return ycfg_error(c, seq != NULL ? seq : m, KP(kb, at, "targets"), err,
				  "model '%s' needs 1 to %d targets", md->name, GW_MODEL_TARGETS_MAX);
	/* ntargets only once targets exists: gwc_free_models walks it on the error path */
	if ((md->targets = calloc(n, sizeof(*md->targets))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	md->ntargets = n;
	uint64_t total = 0;
	for (size_t i = 0; i < md->ntargets; i++) {
		char tat[64];
		snprintf(tat, sizeof(tat), "%s.targets[%zu]", at, i);
		if (load_target(c, ycfg_at(seq, i), tat, g, &md->targets[i], err) < 0)
			return -1;
		md->targets[i].slot = g->nslots++;
		md->targets[i].index = target_index(g, md, i);
		total += md->targets[i].weight;
	}
	if (total == 0 && md->strategy == GW_STRATEGY_WEIGHTED)
		return ycfg_error(c, seq, KP(kb, at, "targets"), err, "every weight is 0: nothing would be routed");
	return 0;
}

static int load_model(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_conf *g,
		      const struct route_defaults *d, struct gw_model *md, struct err *err)
{
	const char *name;
	char kb[96];
	if (ycfg_check_keys(c, m, at, model_keys, err) < 0 || gwc_get_required(c, m, at, "name", &name, err) < 0)
		return -1;
	if (!gwc_model_name_ok(name))
		return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
				  "1-%d printable characters without spaces or quotes", GW_MODEL_NAME_MAX);
	if ((md->name = gwc_strdup(name, err)) == NULL)
		return -1;
	md->strategy = d->strategy;
	md->retry = d->retry;
	md->cooldown = d->cooldown;
	if (load_strategy(c, m, at, &md->strategy, err) < 0 || load_retry(c, m, at, &md->retry, err) < 0 ||
	    load_cooldown(c, m, at, &md->cooldown, err) < 0)
		return -1;
	return load_targets(c, m, at, g, md, err);
}

/* fallbacks: [model names], resolved once every model is known. */
static int load_fallbacks(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_conf *g,
			  size_t self, struct err *err)
{
	struct gw_model *md = &g->models[self];
	char kb[96];
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, m, "fallbacks", err, &rc);
	if (rc < 0 || seq == NULL)
		return rc;
	if (ycfg_len(seq) > 0 && (md->fallbacks = calloc(ycfg_len(seq), sizeof(*md->fallbacks))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const char *s = ycfg_scalar(ycfg_at(seq, i));
		size_t j = 0;
		while (j < g->nmodels && (s == NULL || strcmp(g->models[j].name, s) != 0))
			j++;
		if (j == g->nmodels || j == self)
			return ycfg_error(c, ycfg_at(seq, i), KP(kb, at, "fallbacks"), err,
					  j == self ? "'%s' is the model itself" : "unknown model '%s' (not in models)",
					  s != NULL ? s : "");
		for (size_t k = 0; k < md->nfallbacks; k++)
			if (md->fallbacks[k] == j)
				return ycfg_error(c, ycfg_at(seq, i), KP(kb, at, "fallbacks"), err,
						  "'%s' is listed twice", s);
		md->fallbacks[md->nfallbacks++] = j;
	}
	return 0;
}

int gwc_load_models(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	struct route_defaults d;
	int rc;
	if (load_routing(c, root, g, &d, err) < 0)
		return -1;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "models", err, &rc);
	if (rc < 0)
		return -1;
	g->nmodels = seq != NULL ? ycfg_len(seq) : 0;
	if (g->nmodels == 0)
		return ycfg_error(c, seq, "models", err, "at least one model is required");
	if ((g->models = calloc(g->nmodels, sizeof(*g->models))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nmodels; i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		char at[32], kb[96];
		snprintf(at, sizeof(at), "models[%zu]", i);
		if (load_model(c, m, at, g, &d, &g->models[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->models[j].name, g->models[i].name) == 0)
				return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
						  "duplicate model name '%s'", g->models[i].name);
	}
	for (size_t i = 0; i < g->nmodels; i++) {
		char at[32];
		snprintf(at, sizeof(at), "models[%zu]", i);
		if (load_fallbacks(c, ycfg_at(seq, i), at, g, i, err) < 0)
			return -1;
	}
	return 0;
}

void gwc_free_models(struct gw_conf *g)
{
	for (size_t i = 0; i < g->nmodels; i++) {
		for (size_t j = 0; j < g->models[i].ntargets; j++) {
			free(g->models[i].targets[j].model);
			free(g->models[i].targets[j].label);
		}
		free(g->models[i].targets);
		free(g->models[i].fallbacks);
		free(g->models[i].name);
	}
	free(g->models);
	g->models = NULL;
	g->nmodels = 0;
}

const struct gw_model *gw_conf_find_model(const struct gw_conf *c, const char *name)
{
	/* Linear: a handful of models per gateway; a hash when configs grow to hundreds. */
	for (size_t i = 0; i < c->nmodels; i++)
		if (strcmp(c->models[i].name, name) == 0)
			return &c->models[i];
	return NULL;
}
