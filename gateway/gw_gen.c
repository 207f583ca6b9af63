/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config generations and reload (see gw_gen.h for the lifetime rules).
 */
#include "gateway/gw_gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "gateway/auth.h"
#include "gateway/gov.h"
#include "gateway/gw.h"
#include "gateway/gw_conf.h"
#include "gateway/gw_usage.h"
#include "gateway/mcp_pool.h"
#include "gateway/provider.h"
#include "gateway/router.h"

#define USAGE_CACHE_MAX ((size_t)1 << 20) /* pointers per generation; more pairs are looked up each time */

static void gen_free(struct gw_gen *gen)
{
	if (gen == NULL)
		return;
	for (unsigned i = 0; gen->route != NULL && i < gen->nworkers; i++)
		router_local_free(gen->route[i]);
	free(gen->route);
	router_free(gen->router);
	auth_free(gen->auth);
	gov_free(gen->gov);
	mcp_gen_free(gen->mcp);
	free(gen->usage);
	free(gen->inflight);
	if (gen->owns_conf)
		gw_conf_free(gen->conf);
	free(gen);
}

/* The router, told which endpoints each configured provider serves. */
static struct router *gen_router(struct gw *g, const struct gw_conf *c, struct err *err)
{
	unsigned *ep = calloc(c->nproviders > 0 ? c->nproviders : 1, sizeof(*ep));
	struct router *rt;
	if (ep == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < c->nproviders; i++)
		ep[i] = provider_ops_for(c->providers[i].type)->endpoints;
	rt = router_new(c, ep, g->metrics.reg, err);
	free(ep);
	return rt;
}

struct gw_gen *gw_gen_new(struct gw *g, struct gw_conf *conf, bool owns, const struct gw_gen *prev, unsigned nworkers,
			  struct err *err)
{
	struct gw_gen *gen = calloc(1, sizeof(*gen));
	if (gen == NULL) {
		if (owns)
			gw_conf_free(conf);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	gen->conf = conf;
	gen->owns_conf = owns;
	gen->id = prev != NULL ? prev->id + 1 : 1;
	gen->nworkers = nworkers > 0 ? nworkers : 1;
	atomic_init(&gen->holds, gen->nworkers + 1);
	if ((gen->auth = auth_new(conf, err)) == NULL || (gen->router = gen_router(g, conf, err)) == NULL ||
	    (gen->gov = gov_new(conf, prev != NULL ? prev->gov : NULL, err)) == NULL ||
	    (gen->mcp = mcp_gen_new(conf, err)) == NULL)
		goto fail;
	gen->route = calloc(gen->nworkers, sizeof(*gen->route));
	gen->inflight = calloc(gen->nworkers, sizeof(*gen->inflight));
	if (gen->route == NULL || gen->inflight == NULL)
		goto nomem;
	for (unsigned i = 0; i < gen->nworkers; i++)
		if ((gen->route[i] = router_local_new(gen->router)) == NULL)
			goto nomem;
	gen->nusage = (conf->nmodels + 1) * (conf->ntenants + 1);
	if (gen->nusage <= USAGE_CACHE_MAX && (gen->usage = calloc(gen->nusage, sizeof(*gen->usage))) == NULL)
		goto nomem;
	if (gen->usage == NULL)
		gen->nusage = 0;
	return gen;
nomem:
	err_set(err, ENOMEM, "out of memory building the configuration");
fail:
	gen_free(gen);
	return NULL;
}

void gw_gen_release(struct gw_gen *gen)
{
	if (gen != NULL && atomic_fetch_sub_explicit(&gen->holds, 1, memory_order_acq_rel) == 1)
		gen_free(gen);
}

/* ---- worker side --------------------------------------------------------------------------------- */

void gw_gen_adopt(struct gw_worker *w, bool last)
{
	struct gw_gen *cur = atomic_load_explicit(&w->gw->gen, memory_order_acquire), *old = w->gen, *x, *next;
	if (cur != old) {
		/* generations published between old and cur that this worker never used */
		for (x = cur->older; x != NULL && x != old; x = next) {
			next = x->older;
			gw_gen_release(x);
		}
		w->gen = cur;
		if (old != NULL && old->inflight[w->id] == 0)
			gw_gen_release(old);
	}
	if (last) {
		w->gen = NULL;
		if (cur->inflight[w->id] == 0)
			gw_gen_release(cur);
	}
}

struct gw_gen *gw_gen_enter(struct gw_worker *w)
{
	if (atomic_load_explicit(&w->gw->gen, memory_order_acquire) != w->gen)
		gw_gen_adopt(w, false);
	w->gen->inflight[w->id]++;
	return w->gen;
}

void gw_gen_leave(struct gw_worker *w, struct gw_gen *gen)
{
	if (--gen->inflight[w->id] == 0 && gen != w->gen)
		gw_gen_release(gen);
}

/* ---- reload (main thread) ------------------------------------------------------------------------ */

int gw_reload(struct gw *g, const char *path, struct err *err)
{
	struct gw_conf *conf = gw_conf_load(path, err);
	struct gw_gen *cur = atomic_load_explicit(&g->gen, memory_order_acquire), *gen;
	if (conf == NULL)
		goto fail;
	if (gw_conf_reloadable(g->conf, conf, err) < 0) {
		gw_conf_free(conf);
		goto fail;
	}
	if ((gen = gw_gen_new(g, conf, true, cur, g->nworkers, err)) == NULL)
		goto fail;
	gen->older = cur;
	gw_usage_set_max_series(g->usage, conf->metrics_max_series);
	atomic_store_explicit(&g->gen, gen, memory_order_release);
	log_set_level(conf->log_level);
	gw_gen_release(cur); /* its "current" hold */
	gw_workers_wake(g, 'r');
	metric_inc(g->reloads[0]);
	metric_set(g->generation, gen->id);
	log_msg(LOG_LVL_INFO, "config_reloaded", "generation=%u keys=%zu tenants=%zu models=%zu", gen->id, conf->nkeys,
		conf->ntenants, conf->nmodels);
	return 0;
fail:
	metric_inc(g->reloads[1]);
	return -1;
}

struct gw_usage_series *gw_gen_usage(struct gw *g, struct gw_gen *gen, size_t model, size_t tenant)
{
	const struct gw_conf *c = gen->conf;
	size_t t = tenant == GW_TENANT_NONE || tenant >= c->ntenants ? c->ntenants : tenant;
	size_t m = model >= c->nmodels ? c->nmodels : model;
	size_t i = m * (c->ntenants + 1) + t;
	struct gw_usage_series *s;
	if (i < gen->nusage && (s = atomic_load_explicit(&gen->usage[i], memory_order_acquire)) != NULL)
		return s;
	s = gw_usage_series(g->usage, m < c->nmodels ? c->models[m].name : "", t < c->ntenants ? c->tenants[t].id : "");
	if (i < gen->nusage && s != NULL)
		atomic_store_explicit(&gen->usage[i], s, memory_order_release);
	return s;
}
