/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-process governance state (see gov.h). A key's or tenant's state is a
 * struct gov_state found by index from the generation's table, so the
 * request path never searches or hashes: it compares-and-swaps one TAT per
 * bucket. States are reference counted and named ("k:<key>", "t:<tenant>")
 * so that a reloaded config adopts the running counts of every key and
 * tenant it still has.
 */
#include "gateway/gov.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gov_math.h"
#include "gateway/gw_conf.h"

struct gov_state {
	char *name;
	atomic_uint refs;
	_Atomic int64_t tat[2]; /* [GOV_RPM], [GOV_TPM]: microseconds, monotonic clock */
	pthread_mutex_t mu;	/* budgets only */
	int64_t period[2];	/* [GOV_DAILY] day id, [GOV_MONTHLY] month id of spent[] */
	int64_t spent[2];	/* micro-USD */
};

struct gov {
	struct gov_state **keys; /* [nkeys] */
	struct gov_state **tenants;
	size_t nkeys, ntenants;
};

static struct gov_state *state_new(const char *kind, const char *name)
{
	struct gov_state *s = calloc(1, sizeof(*s));
	size_t n = strlen(kind) + strlen(name) + 1;
	if (s == NULL || (s->name = malloc(n)) == NULL) {
		free(s);
		return NULL;
	}
	snprintf(s->name, n, "%s%s", kind, name);
	atomic_init(&s->refs, 1);
	atomic_init(&s->tat[GOV_RPM], 0);
	atomic_init(&s->tat[GOV_TPM], 0);
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

static void state_unref(struct gov_state *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->name);
	free(s);
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct gov_state *const *)a)->name, (*(struct gov_state *const *)b)->name);
}

/* The state named kind+name: adopted from the sorted old states, or new. */
static struct gov_state *state_get(struct gov_state **old, size_t nold, const char *kind, const char *name)
{
	char full[96]; /* "k:" + a name of at most GW_NAME_MAX (64) */
	struct gov_state key = {.name = full}, *kp = &key, **hit;
	snprintf(full, sizeof(full), "%s%s", kind, name);
	hit = nold > 0 ? bsearch(&kp, old, nold, sizeof(*old), by_name) : NULL;
	if (hit != NULL) {
		atomic_fetch_add(&(*hit)->refs, 1);
		return *hit;
	}
	return state_new(kind, name);
}

struct gov *gov_new(const struct gw_conf *conf, const struct gov *prev, struct err *err)
{
	struct gov *g = calloc(1, sizeof(*g));
	struct gov_state **old = NULL;
	size_t nold = 0;
	if (g == NULL)
		goto nomem;
	g->keys = calloc(conf->nkeys + 1, sizeof(*g->keys));
	g->tenants = calloc(conf->ntenants + 1, sizeof(*g->tenants));
	if (g->keys == NULL || g->tenants == NULL)
		goto nomem;
	if (prev != NULL && prev->nkeys + prev->ntenants > 0) {
		if ((old = malloc((prev->nkeys + prev->ntenants) * sizeof(*old))) == NULL)
			goto nomem;
		memcpy(old, prev->keys, prev->nkeys * sizeof(*old));
		memcpy(old + prev->nkeys, prev->tenants, prev->ntenants * sizeof(*old));
		nold = prev->nkeys + prev->ntenants;
		qsort(old, nold, sizeof(*old), by_name);
	}
	for (size_t i = 0; i < conf->nkeys; i++, g->nkeys++)
		if ((g->keys[i] = state_get(old, nold, "k:", conf->keys[i].name)) == NULL)
			goto nomem;
	for (size_t i = 0; i < conf->ntenants; i++, g->ntenants++)
		if ((g->tenants[i] = state_get(old, nold, "t:", conf->tenants[i].id)) == NULL)
			goto nomem;
	free(old);
	return g;
nomem:
	free(old);
	gov_free(g);
	err_set(err, ENOMEM, "out of memory building the limits table");
	return NULL;
}

void gov_free(struct gov *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nkeys; i++)
		state_unref(g->keys[i]);
	for (size_t i = 0; i < g->ntenants; i++)
		state_unref(g->tenants[i]);
	free(g->keys);
	free(g->tenants);
	free(g);
}

/* ---- building the ask ----------------------------------------------------------------------------------- */

static void add_bucket(struct gov_call *c, enum gov_scope scope, enum gov_bucket_kind kind, uint64_t limit,
		       uint64_t cost, const char *prefix, const char *name)
{
	struct gov_bucket_ask *b;
	if (limit == 0)
		return;
	b = &c->ask.b[c->ask.nbuckets++];
	b->scope = scope;
	b->kind = kind;
	b->limit = limit;
	b->cost = cost;
	if (prefix == NULL)
		return; /* in process only: no Redis key to name */
	snprintf(b->rkey, sizeof(b->rkey), "%srl:%c:%s:%s", prefix, scope == GOV_SCOPE_KEY ? 'k' : 't', name,
		 kind == GOV_RPM ? "rpm" : "tpm");
}

static void add_budget(struct gov_call *c, enum gov_scope scope, enum gov_budget_kind kind, int64_t limit,
		       const char *prefix, const char *name, int64_t now)
{
	struct gov_budget_ask *g;
	char label[9];
	if (limit == 0)
		return;
	g = &c->ask.g[c->ask.nbudgets++];
	g->scope = scope;
	g->kind = kind;
	g->limit_micro = limit;
	if (prefix == NULL)
		return;
	if (kind == GOV_DAILY) {
		gov_day_label(now, label);
		g->ttl_s = gov_day_left(now) + 86400;
	} else {
		gov_month_label(now, label);
		g->ttl_s = gov_month_left(now) + 86400;
	}
	snprintf(g->rkey, sizeof(g->rkey), "%sbd:%c:%s:%c:%s", prefix, scope == GOV_SCOPE_KEY ? 'k' : 't', name,
		 kind == GOV_DAILY ? 'd' : 'm', label);
}

static void add_scope(struct gov_call *c, enum gov_scope scope, const struct gw_limits *l, const char *name,
		      const char *prefix, int64_t now)
{
	add_bucket(c, scope, GOV_RPM, l->rpm, 1, prefix, name);
	add_bucket(c, scope, GOV_TPM, l->tpm, c->est_tokens, prefix, name);
	add_budget(c, scope, GOV_DAILY, l->daily_micro, prefix, name, now);
	add_budget(c, scope, GOV_MONTHLY, l->monthly_micro, prefix, name, now);
}

bool gov_prepare(const struct gw_conf *conf, const struct gw_key *k, size_t key_index, uint64_t est_tokens,
		 const char *prefix, int64_t now_unix, struct gov_call *c)
{
	/* not a memset: the Redis key buffers are large and written only when used */
	c->ask.nbuckets = c->ask.nbudgets = 0;
	memset(&c->v, 0, sizeof(c->v));
	c->limited = c->admitted = c->remote = c->settled = false;
	c->tenant = NULL;
	c->key = k;
	c->key_index = key_index;
	c->tenant_index = GW_TENANT_NONE;
	c->est_tokens = est_tokens > 0 ? est_tokens : 1;
	c->v.refused_bucket = c->v.refused_budget = -1;
	c->v.ok = true;
	if (k == NULL)
		return false;
	add_scope(c, GOV_SCOPE_KEY, &k->limits, k->name, prefix, now_unix);
	if (k->tenant != GW_TENANT_NONE) {
		c->tenant_index = k->tenant;
		c->tenant = &conf->tenants[k->tenant];
		add_scope(c, GOV_SCOPE_TENANT, &c->tenant->limits, c->tenant->id, prefix, now_unix);
	}
	c->limited = c->ask.nbuckets + c->ask.nbudgets > 0;
	return c->limited;
}

/* ---- in process ------------------------------------------------------------------------------------------ */

static struct gov_state *state_of(struct gov *g, const struct gov_call *c, enum gov_scope scope)
{
	return scope == GOV_SCOPE_KEY ? g->keys[c->key_index] : g->tenants[c->tenant_index];
}

/* Budget spent in the period containing now (rolls the period over first). Under s->mu. */
static int64_t *budget_spent(struct gov_state *s, enum gov_budget_kind kind, int64_t now_unix)
{
	int64_t p = kind == GOV_DAILY ? gov_day_of(now_unix) : gov_month_of(now_unix);
	if (s->period[kind] != p) {
		s->period[kind] = p;
		s->spent[kind] = 0;
	}
	return &s->spent[kind];
}

static bool budgets_ok(struct gov *g, struct gov_call *c, int64_t now_unix)
{
	for (size_t i = 0; i < c->ask.nbudgets; i++) {
		const struct gov_budget_ask *a = &c->ask.g[i];
		struct gov_state *s = state_of(g, c, a->scope);
		pthread_mutex_lock(&s->mu);
		int64_t spent = *budget_spent(s, a->kind, now_unix);
		pthread_mutex_unlock(&s->mu);
		c->v.spent_micro[i] = spent;
		if (spent >= a->limit_micro) {
			c->v.ok = false;
			c->v.refused_budget = (int)i;
			c->v.retry_us =
			    (a->kind == GOV_DAILY ? gov_day_left(now_unix) : gov_month_left(now_unix)) * 1000000;
			return false;
		}
	}
	return true;
}

/* Takes bucket i; false when refused (c->v says why). */
static bool bucket_take(struct gov *g, struct gov_call *c, size_t i, int64_t now_us)
{
	const struct gov_bucket_ask *a = &c->ask.b[i];
	_Atomic int64_t *tat = &state_of(g, c, a->scope)->tat[a->kind];
	struct gcra_out o;
	int64_t cur = atomic_load_explicit(tat, memory_order_relaxed);
	for (;;) {
		gcra_take(cur, now_us, a->limit, GOV_WINDOW_US, a->cost, &o);
		if (!o.ok)
			break;
		if (atomic_compare_exchange_weak_explicit(tat, &cur, o.tat, memory_order_relaxed, memory_order_relaxed))
			break;
	}
	c->v.remaining[i] = o.remaining;
	c->v.reset_us[i] = o.reset_us;
	if (o.ok)
		return true;
	c->v.ok = false;
	c->v.never = o.never;
	c->v.refused_bucket = (int)i;
	c->v.retry_us = o.retry_us;
	return false;
}

/* A refused request's headers show every other bucket as it is, untouched by the request. */
static void peek_others(struct gov *g, struct gov_call *c, int64_t now_us)
{
	struct gcra_out o;
	for (size_t j = 0; j < c->ask.nbuckets; j++) {
		const struct gov_bucket_ask *a = &c->ask.b[j];
		if ((int)j == c->v.refused_bucket)
			continue;
		gcra_peek(atomic_load_explicit(&state_of(g, c, a->scope)->tat[a->kind], memory_order_relaxed), now_us,
			  a->limit, GOV_WINDOW_US, &o);
		c->v.remaining[j] = o.remaining;
		c->v.reset_us[j] = o.reset_us;
	}
}

void gov_admit_local(struct gov *g, struct gov_call *c, int64_t now_us, int64_t now_unix)
{
	c->v.ok = true;
	c->v.never = false;
	c->v.refused_bucket = c->v.refused_budget = -1;
	c->v.retry_us = 0;
	if (!budgets_ok(g, c, now_unix)) {
		peek_others(g, c, now_us);
		return;
	}
	for (size_t i = 0; i < c->ask.nbuckets; i++) {
		if (bucket_take(g, c, i, now_us))
			continue;
		/* all or nothing: give back what the earlier buckets took */
		for (size_t j = 0; j < i; j++) {
			const struct gov_bucket_ask *a = &c->ask.b[j];
			atomic_fetch_sub_explicit(&state_of(g, c, a->scope)->tat[a->kind],
						  gcra_span_us(a->cost, a->limit, GOV_WINDOW_US), memory_order_relaxed);
		}
		peek_others(g, c, now_us);
		return;
	}
	c->admitted = true;
	c->remote = false;
}

void gov_settle_prepare(const struct gov_call *c, uint64_t used_tokens, int64_t cost_micro, struct gov_settle *s)
{
	memset(s, 0, sizeof(*s));
	s->nbuckets = c->ask.nbuckets;
	for (size_t i = 0; i < c->ask.nbuckets; i++) {
		const struct gov_bucket_ask *a = &c->ask.b[i];
		memcpy(s->b[i].rkey, a->rkey, sizeof(s->b[i].rkey));
		s->b[i].limit = a->limit;
		if (a->kind == GOV_TPM)
			s->b[i].delta_us = gcra_settle_delta(a->cost, used_tokens, a->limit, GOV_WINDOW_US);
	}
	if (cost_micro <= 0)
		return;
	s->nbudgets = c->ask.nbudgets;
	for (size_t i = 0; i < c->ask.nbudgets; i++) {
		memcpy(s->g[i].rkey, c->ask.g[i].rkey, sizeof(s->g[i].rkey));
		s->g[i].cost_micro = cost_micro;
		s->g[i].ttl_s = c->ask.g[i].ttl_s;
	}
}

void gov_settle_local(struct gov *g, const struct gov_call *c, const struct gov_settle *s, int64_t now_unix)
{
	for (size_t i = 0; i < s->nbuckets && i < c->ask.nbuckets; i++)
		if (s->b[i].delta_us != 0)
			atomic_fetch_add_explicit(&state_of(g, c, c->ask.b[i].scope)->tat[c->ask.b[i].kind],
						  s->b[i].delta_us, memory_order_relaxed);
	for (size_t i = 0; i < s->nbudgets && i < c->ask.nbudgets; i++) {
		struct gov_state *st = state_of(g, c, c->ask.g[i].scope);
		pthread_mutex_lock(&st->mu);
		*budget_spent(st, c->ask.g[i].kind, now_unix) += s->g[i].cost_micro;
		pthread_mutex_unlock(&st->mu);
	}
}

const char *gov_refusal_name(const struct gov_call *c)
{
	if (c->v.refused_bucket >= 0)
		return c->ask.b[c->v.refused_bucket].kind == GOV_RPM ? "requests" : "tokens";
	if (c->v.refused_budget >= 0)
		return c->ask.g[c->v.refused_budget].kind == GOV_DAILY ? "daily_budget" : "monthly_budget";
	return "none";
}
