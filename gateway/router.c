/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing policy (see router.h for the model). The hot path of a healthy
 * request is route_first: a scan of the model's targets with one relaxed
 * atomic load each, a round-robin step in worker-local memory, and
 * route_succeeded: one atomic load (breaker closed?) and one CAS for the
 * EWMA. Failures take the target's mutex to count within the window.
 */
#include "gateway/router.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"

#define NS_PER_MS 1000000LL

/* One distinct provider/model: its breaker and latency. */
struct route_health {
	pthread_mutex_t mu;
	uint32_t fails;		       /* failures in the current window (under mu) */
	int64_t window_start_ns;       /* (under mu) */
	_Atomic int64_t open_until_ns; /* 0: closed; else cooling until then, then one probe re-arms it */
	_Atomic uint64_t ewma_ns;      /* 0: no sample yet */
	struct metric *cooldowns;      /* llmgw_route_cooldowns_total{target} */
	struct metric *available;      /* llmgw_route_target_available{target} */
	const char *label;
};

struct router {
	const struct gw_conf *conf;
	unsigned *endpoints;	     /* [nproviders] */
	struct route_health *health; /* [conf->ntargets] */
	/* llmgw_route_retries_total{kind, reason}: [0] same target, [1] fallback */
	struct metric *retries[2][ROUTE_FAIL__COUNT];
};

struct router_local {
	struct router *rt;
	int64_t *current; /* smooth weighted round robin, [conf->nslots] */
};

static const char *const fail_names[ROUTE_FAIL__COUNT] = {
    [ROUTE_FAIL_429] = "429",	      [ROUTE_FAIL_5XX] = "5xx",
    [ROUTE_FAIL_TIMEOUT] = "timeout", [ROUTE_FAIL_CONNECT] = "connect_error",
    [ROUTE_FAIL_OTHER] = "other",
};

static const unsigned fail_bits[ROUTE_FAIL__COUNT] = {
    [ROUTE_FAIL_429] = GW_RETRY_ON_429,
    [ROUTE_FAIL_5XX] = GW_RETRY_ON_5XX,
    [ROUTE_FAIL_TIMEOUT] = GW_RETRY_ON_TIMEOUT,
    [ROUTE_FAIL_CONNECT] = GW_RETRY_ON_CONNECT,
    [ROUTE_FAIL_OTHER] = 0,
};

const char *route_fail_name(enum route_fail f)
{
	return (unsigned)f < ROUTE_FAIL__COUNT ? fail_names[f] : "other";
}

/* ---- setup -------------------------------------------------------------------------------- */

static int register_metrics(struct router *rt, struct metrics *reg, struct err *err)
{
	static const char *const kinds[2] = {"same_target", "fallback"};
	char labels[320];
	for (int k = 0; k < 2; k++)
		for (int f = 0; f < ROUTE_FAIL_OTHER; f++) {
			snprintf(labels, sizeof(labels), "kind=\"%s\",reason=\"%s\"", kinds[k], fail_names[f]);
			rt->retries[k][f] = metrics_counter(reg, "llmgw_route_retries_total",
							    "Attempts after the first, by kind and by the failure "
							    "that caused them",
							    labels);
			if (rt->retries[k][f] == NULL)
				return err_set(err, ENOMEM, "cannot register router metrics");
		}
	for (size_t i = 0; i < rt->conf->ntargets; i++) {
		struct route_health *h = &rt->health[i];
		snprintf(labels, sizeof(labels), "target=\"%s\"", h->label);
		h->cooldowns =
		    metrics_counter(reg, "llmgw_route_cooldowns_total",
				    "Times a target was taken out of rotation by its circuit breaker", labels);
		h->available = metrics_gauge(reg, "llmgw_route_target_available",
					     "1 while the target's circuit breaker is closed, 0 while it is "
					     "cooling down or waiting for a successful probe",
					     labels);
		if (h->cooldowns == NULL || h->available == NULL)
			return err_set(err, ENOMEM, "cannot register router metrics");
		metric_set(h->available, 1);
	}
	return 0;
}

struct router *router_new(const struct gw_conf *conf, const unsigned *endpoints, struct metrics *reg, struct err *err)
{
	struct router *rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		goto nomem;
	rt->conf = conf;
	rt->endpoints = calloc(conf->nproviders > 0 ? conf->nproviders : 1, sizeof(*rt->endpoints));
	rt->health = calloc(conf->ntargets > 0 ? conf->ntargets : 1, sizeof(*rt->health));
	if (rt->endpoints == NULL || rt->health == NULL)
		goto nomem;
	memcpy(rt->endpoints, endpoints, conf->nproviders * sizeof(*endpoints));
	for (size_t i = 0; i < conf->ntargets; i++)
		pthread_mutex_init(&rt->health[i].mu, NULL);
	for (size_t m = 0; m < conf->nmodels; m++)
		for (size_t t = 0; t < conf->models[m].ntargets; t++)
			rt->health[conf->models[m].targets[t].index].label = conf->models[m].targets[t].label;
	if (reg != NULL && register_metrics(rt, reg, err) < 0) {
		router_free(rt);
		return NULL;
	}
	return rt;
nomem:
	router_free(rt);
	err_set(err, ENOMEM, "out of memory");
	return NULL;
}

void router_free(struct router *rt)
{
	if (rt == NULL)
		return;
	if (rt->health != NULL)
		for (size_t i = 0; i < rt->conf->ntargets; i++)
			pthread_mutex_destroy(&rt->health[i].mu);
	free(rt->health);
	free(rt->endpoints);
	free(rt);
}

struct router_local *router_local_new(struct router *rt)
{
	struct router_local *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->rt = rt;
	if ((rl->current = calloc(rt->conf->nslots > 0 ? rt->conf->nslots : 1, sizeof(*rl->current))) == NULL) {
		free(rl);
		return NULL;
	}
	return rl;
}

void router_local_free(struct router_local *rl)
{
	if (rl == NULL)
		return;
	free(rl->current);
	free(rl);
}

/* ---- health ------------------------------------------------------------------------------- */

bool router_cooling(const struct router *rt, size_t index, int64_t now_ns)
{
	int64_t until = atomic_load_explicit(&rt->health[index].open_until_ns, memory_order_relaxed);
	return until != 0 && now_ns < until;
}

uint64_t router_ewma_ns(const struct router *rt, size_t index)
{
	return atomic_load_explicit(&rt->health[index].ewma_ns, memory_order_relaxed);
}

static void ewma_add(struct router *rt, size_t index, uint64_t sample_ns)
{
	_Atomic uint64_t *e = &rt->health[index].ewma_ns;
	double alpha = rt->conf->ewma_alpha;
	uint64_t old = atomic_load_explicit(e, memory_order_relaxed), nv;
	if (sample_ns == 0)
		sample_ns = 1; /* 0 means "no sample" */
	do {
		nv = old == 0 ? sample_ns : (uint64_t)((double)old + alpha * ((double)sample_ns - (double)old));
		if (nv == 0)
			nv = 1;
	} while (!atomic_compare_exchange_weak_explicit(e, &old, nv, memory_order_relaxed, memory_order_relaxed));
}

/* Counts a failure in the window; opens the breaker at cooldown.failures. */
static void breaker_failure(struct router *rt, const struct gw_model *m, size_t index, int64_t now_ns)
{
	struct route_health *h = &rt->health[index];
	const struct gw_cooldown *cd = &m->cooldown;
	bool opened = false;
	if (cd->failures == 0)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->fails == 0 || now_ns - h->window_start_ns > cd->window_ms * NS_PER_MS) {
		h->window_start_ns = now_ns;
		h->fails = 0;
	}
	int64_t until = atomic_load_explicit(&h->open_until_ns, memory_order_relaxed);
	/* a failed probe (or any failure once open) keeps it out for another duration */
	if (until != 0 || ++h->fails >= cd->failures) {
		atomic_store_explicit(&h->open_until_ns, now_ns + cd->duration_ms * NS_PER_MS, memory_order_relaxed);
		opened = until == 0;
		h->fails = 0;
	}
	pthread_mutex_unlock(&h->mu);
	if (opened) {
		metric_inc(h->cooldowns);
		metric_set(h->available, 0);
		log_msg(LOG_LVL_WARN, "target_cooldown", "target=%s failures=%u window_ms=%lld duration_ms=%lld",
			h->label, cd->failures, (long long)cd->window_ms, (long long)cd->duration_ms);
	}
}

static void breaker_success(struct router *rt, size_t index)
{
	struct route_health *h = &rt->health[index];
	if (atomic_load_explicit(&h->open_until_ns, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&h->mu);
	atomic_store_explicit(&h->open_until_ns, 0, memory_order_relaxed);
	h->fails = 0;
	pthread_mutex_unlock(&h->mu);
	metric_set(h->available, 1);
	log_msg(LOG_LVL_INFO, "target_recovered", "target=%s", h->label);
}

/*
 * A cooled-down target whose time is up may take one request (the probe):
 * the first picker re-arms the cooldown with a CAS, so concurrent pickers
 * on other workers see it cooling again until the probe reports.
 */
static bool take_probe(struct router *rt, const struct gw_model *m, size_t index, int64_t now_ns)
{
	_Atomic int64_t *u = &rt->health[index].open_until_ns;
	int64_t until = atomic_load_explicit(u, memory_order_relaxed);
	if (until == 0)
		return true;
	if (now_ns < until)
		return false;
	return atomic_compare_exchange_strong_explicit(u, &until, now_ns + m->cooldown.duration_ms * NS_PER_MS,
						       memory_order_relaxed, memory_order_relaxed);
}

/* ---- strategies --------------------------------------------------------------------------- */

static uint64_t rand64(struct ids_rng *rng)
{
	uint64_t v;
	ids_rng_fill(rng, &v, sizeof(v));
	return v;
}

static bool tried(const struct route_plan *p, const struct gw_target *t)
{
	for (uint32_t i = 0; i < p->ntried; i++)
		if (p->tried[i] == t)
			return true;
	return false;
}

/* Candidates of m: serve the endpoint, untried, healthy (or, with panic, cooling too). */
static size_t candidates(struct router *rt, const struct route_plan *p, const struct gw_model *m, bool panic,
			 int64_t now_ns, const struct gw_target **out)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ntargets; i++) {
		const struct gw_target *t = &m->targets[i];
		if ((rt->endpoints[t->provider] & p->op_bit) == 0 || tried(p, t))
			continue;
		if (!panic && router_cooling(rt, t->index, now_ns))
			continue;
		out[n++] = t;
	}
	return n;
}

static const struct gw_target *pick_weighted(struct router_local *rl, const struct gw_target **c, size_t n)
{
	int64_t total = 0, best_cur = 0;
	const struct gw_target *best = NULL;
	for (size_t i = 0; i < n; i++)
		total += c[i]->weight;
	if (total == 0)
		return c[0]; /* only weight-0 targets left: config order */
	for (size_t i = 0; i < n; i++) {
		if (c[i]->weight == 0)
			continue;
		int64_t *cur = &rl->current[c[i]->slot];
		*cur += c[i]->weight;
		if (best == NULL || *cur > best_cur) {
			best = c[i];
			best_cur = *cur;
		}
	}
	rl->current[best->slot] -= total;
	return best;
}

static const struct gw_target *pick_least_latency(struct router_local *rl, const struct gw_target **c, size_t n,
						  struct ids_rng *rng)
{
	const struct gw_target *best = NULL;
	uint64_t best_ns = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t e = router_ewma_ns(rl->rt, c[i]->index);
		if (e == 0)
			return c[i]; /* never measured: measure it */
		if (best == NULL || e < best_ns) {
			best = c[i];
			best_ns = e;
		}
	}
	double explore = rl->rt->conf->explore;
	if (n > 1 && explore > 0 && (double)(rand64(rng) >> 11) * 0x1.0p-53 < explore) {
		size_t k = (size_t)(rand64(rng) % (n - 1));
		for (size_t i = 0; i < n; i++)
			if (c[i] != best && k-- == 0)
				return c[i];
	}
	return best;
}

static const struct gw_target *pick(struct router_local *rl, const struct gw_model *m, const struct gw_target **c,
				    size_t n, struct ids_rng *rng)
{
	switch (m->strategy) {
	case GW_STRATEGY_PRIORITY:
		return c[0];
	case GW_STRATEGY_LEAST_LATENCY:
		return pick_least_latency(rl, c, n, rng);
	case GW_STRATEGY_WEIGHTED:
	default:
		return pick_weighted(rl, c, n);
	}
}

/* The model of routing group g: 0 the requested model, then its fallbacks in order. */
static const struct gw_model *group_model(const struct router *rt, const struct gw_model *m, size_t g)
{
	return g == 0 ? m : &rt->conf->models[m->fallbacks[g - 1]];
}

/*
 * The next untried target over the groups: healthy ones first, group by
 * group; if there are none anywhere, cooling ones (panic). NULL when every
 * target was tried or none serves the endpoint.
 */
static const struct gw_target *choose(struct router_local *rl, struct route_plan *p, struct ids_rng *rng,
				      int64_t now_ns, const struct gw_model **model_out)
{
	struct router *rt = rl->rt;
	size_t ngroups = 1 + p->model->nfallbacks;
	for (int panic = 0; panic < 2; panic++)
		for (size_t g = 0; g < ngroups; g++) {
			const struct gw_model *m = group_model(rt, p->model, g);
			const struct gw_target *c[GW_MODEL_TARGETS_MAX];
			size_t n;
			while ((n = candidates(rt, p, m, panic, now_ns, c)) > 0) {
				const struct gw_target *t = pick(rl, m, c, n, rng);
				/* a probe slot taken by another worker meanwhile: pick again without it */
				if (!panic && !take_probe(rt, m, t->index, now_ns))
					continue;
				p->probe = !panic && atomic_load_explicit(&rt->health[t->index].open_until_ns,
									  memory_order_relaxed) != 0;
				*model_out = m;
				return t;
			}
		}
	return NULL;
}

/* ---- the plan ----------------------------------------------------------------------------- */

static void start_on(struct route_plan *p, const struct gw_target *t, const struct gw_model *m)
{
	if (p->cur != t)
		p->cur_tries = 0;
	p->cur = t;
	p->cur_model = m;
	p->cur_tries++;
	p->attempts++;
	if (!tried(p, t) && p->ntried < ROUTE_MAX_ATTEMPTS)
		p->tried[p->ntried++] = t;
}

/* Does any target of m serve the endpoint at all? */
static bool serves_op(const struct router *rt, const struct gw_model *m, unsigned op_bit)
{
	for (size_t i = 0; i < m->ntargets; i++)
		if ((rt->endpoints[m->targets[i].provider] & op_bit) != 0)
			return true;
	return false;
}

const struct gw_target *route_first(struct router_local *rl, struct route_plan *p, const struct gw_model *m,
				    unsigned op_bit, struct ids_rng *rng, int64_t now_ns, const char **reason)
{
	const struct gw_model *cm = m;
	memset(p, 0, sizeof(*p));
	p->model = m;
	p->op_bit = op_bit;
	const struct gw_target *t = choose(rl, p, rng, now_ns, &cm);
	*reason = "";
	if (t == NULL)
		return NULL;
	/* the model's own targets were passed over: say why on the span (cooling, not "none serves op") */
	if (cm != m && serves_op(rl->rt, m, op_bit))
		*reason = "cooldown";
	start_on(p, t, cm);
	return t;
}

void route_record_failure(struct router_local *rl, struct route_plan *p, enum route_fail f, uint64_t latency_ns,
			  int64_t now_ns)
{
	if (p->cur == NULL || f == ROUTE_FAIL_OTHER)
		return;
	/* slow failures count against least-latency: a timing-out target must not look fast */
	if (f == ROUTE_FAIL_TIMEOUT || f == ROUTE_FAIL_CONNECT)
		ewma_add(rl->rt, p->cur->index, latency_ns);
	breaker_failure(rl->rt, p->cur_model, p->cur->index, now_ns);
}

/* Backoff before retry number `tries` on the same target: base * 2^(tries-1), jittered into [d/2, d]. */
static int64_t backoff_ms(const struct gw_retry *r, uint32_t tries, struct ids_rng *rng)
{
	int64_t d = r->backoff_ms;
	for (uint32_t i = 1; i < tries && d < r->max_backoff_ms; i++)
		d *= 2;
	if (d > r->max_backoff_ms)
		d = r->max_backoff_ms;
	if (d <= 1)
		return d;
	return d / 2 + (int64_t)(rand64(rng) % (uint64_t)(d - d / 2 + 1));
}

void route_next(struct router_local *rl, struct route_plan *p, enum route_fail f, int64_t retry_after_ms,
		uint64_t latency_ns, struct ids_rng *rng, int64_t now_ns, struct route_next *next)
{
	const struct gw_retry *r = &p->model->retry;
	memset(next, 0, sizeof(*next));
	next->reason = route_fail_name(f);
	route_record_failure(rl, p, f, latency_ns, now_ns);
	if (p->cur == NULL || (r->on & fail_bits[f]) == 0 || p->attempts >= r->max_attempts ||
	    p->attempts >= ROUTE_MAX_ATTEMPTS)
		return;
	/* the same target again, unless it just went into cooldown or asked for a longer wait */
	if (p->cur_tries < r->per_target && !router_cooling(rl->rt, p->cur->index, now_ns) &&
	    (retry_after_ms < 0 || retry_after_ms <= r->max_backoff_ms)) {
		next->target = p->cur;
		next->model = p->cur_model;
		next->same_target = true;
		next->delay_ms = backoff_ms(r, p->cur_tries, rng);
		if (retry_after_ms > next->delay_ms)
			next->delay_ms = retry_after_ms;
		metric_inc(rl->rt->retries[0][f]);
		return;
	}
	if ((next->target = choose(rl, p, rng, now_ns, &next->model)) == NULL)
		return;
	metric_inc(rl->rt->retries[1][f]);
}

void route_advance(struct route_plan *p, const struct route_next *next)
{
	start_on(p, next->target, next->model);
}

void route_succeeded(struct router_local *rl, struct route_plan *p, uint64_t latency_ns)
{
	if (p->cur == NULL)
		return;
	ewma_add(rl->rt, p->cur->index, latency_ns);
	breaker_success(rl->rt, p->cur->index);
}
