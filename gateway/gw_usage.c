/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Usage metrics by (model, tenant): the per-pair series behind
 * llmgw_usage_{requests,input_tokens,output_tokens,cost_usd,rejections}_total,
 * created the first time a pair is seen and kept for the life of the
 * process.
 *
 * Creation is rare (once per pair, and callers cache the returned pointer
 * per config generation) and may come from any worker thread, so it runs
 * under one mutex: a small chained hash table keyed by model "\0" tenant
 * finds the pair, and a miss registers its twelve series in the
 * thread-safe registry. Counting is then lock-free: every update is one
 * relaxed atomic add on a handle the pair holds.
 *
 * Label cardinality is what makes a per-tenant metric dangerous, so the
 * number of pairs is capped (metrics.max_series). A new pair past the cap,
 * or one the registry refuses (its own METRICS_MAX_SERIES, a label list too
 * long), counts under (model, "_other") instead; those fallback pairs are
 * bounded by the number of models in the config, so they are not counted
 * against the cap. llmgw_usage_series_overflow_total counts each such
 * mapping. Label values are escaped for the text format (\\ \" \n) and cut
 * at GW_USAGE_VALUE_MAX bytes so a long model name cannot push the label
 * list past the registry's limit; two names equal in their first 200 bytes
 * then share series, which is the lesser evil.
 */
#include "gateway/gw_usage.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#define GW_USAGE_VALUE_MAX 200 /* escaped bytes per label value; two fit in the registry's 512 */
#define GW_USAGE_LABELS_MAX 512

enum gw_usage_class { GW_CLASS_2XX = 0, GW_CLASS_4XX, GW_CLASS_5XX, GW_CLASS__COUNT };

static const char *const class_names[GW_CLASS__COUNT] = {"2xx", "4xx", "5xx"};

/* Label values for enum gw_usage_reject, in its order. */
static const char *const reject_names[] = {
    "requests", "tokens", "daily_budget", "monthly_budget", "model_not_allowed", "redis_unavailable",
};
_Static_assert(sizeof(reject_names) / sizeof(reject_names[0]) == GW_REJECT__COUNT,
	       "reject_names must follow enum gw_usage_reject");

struct gw_usage_series {
	struct gw_usage_series *next; /* hash chain */
	uint64_t hash;
	struct metric *requests[GW_CLASS__COUNT];
	struct metric *input_tokens, *output_tokens, *cost;
	struct metric *rejects[GW_REJECT__COUNT];
	size_t keylen;
	char key[]; /* model "\0" tenant */
};

struct gw_usage {
	pthread_mutex_t mu; /* guards everything below */
	struct metrics *reg;
	struct metric *overflow;
	unsigned max_series;
	size_t npairs;			/* pairs counted against max_series (not the _other ones) */
	struct gw_usage_series **table; /* nbuckets chains, a power of two */
	size_t nbuckets;
	size_t nentries; /* every pair in the table, _other ones included */
};

struct gw_usage *gw_usage_new(struct metrics *reg, unsigned max_series, struct err *err)
{
	if (reg == NULL || max_series == 0) {
		err_set(err, EINVAL, "gw_usage: %s", reg == NULL ? "no metrics registry" : "max_series must be >= 1");
		return NULL;
	}
	struct gw_usage *u = calloc(1, sizeof(*u));
	if (u == NULL || pthread_mutex_init(&u->mu, NULL) != 0) {
		free(u);
		err_set(err, ENOMEM, "gw_usage: out of memory");
		return NULL;
	}
	u->reg = reg;
	u->max_series = max_series;
	u->overflow = metrics_counter(reg, "llmgw_usage_series_overflow_total",
				      "Usage lookups for a new (model, tenant) pair counted under tenant=\"_other\" "
				      "because metrics.max_series pairs exist",
				      NULL);
	if (u->overflow == NULL) {
		gw_usage_free(u);
		err_set(err, ENOMEM, "gw_usage: cannot register llmgw_usage_series_overflow_total");
		return NULL;
	}
	return u;
}

void gw_usage_free(struct gw_usage *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->nbuckets; i++) {
		struct gw_usage_series *s = u->table[i];
		while (s != NULL) {
			struct gw_usage_series *next = s->next;
			free(s);
			s = next;
		}
	}
	free(u->table);
	pthread_mutex_destroy(&u->mu);
	free(u);
}

void gw_usage_set_max_series(struct gw_usage *u, unsigned max_series)
{
	if (u == NULL || max_series == 0)
		return;
	pthread_mutex_lock(&u->mu);
	u->max_series = max_series;
	pthread_mutex_unlock(&u->mu);
}

/* ---- the pair table ----------------------------------------------------------- */

static uint64_t usage_hash(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h;
}

static struct gw_usage_series *usage_find(const struct gw_usage *u, const char *key, size_t len, uint64_t h)
{
	if (u->nbuckets == 0)
		return NULL;
	for (struct gw_usage_series *s = u->table[h & (u->nbuckets - 1)]; s != NULL; s = s->next) {
		if (s->hash == h && s->keylen == len && memcmp(s->key, key, len) == 0)
			return s;
	}
	return NULL;
}

/* Room for one more entry at load <= 1; -1 on ENOMEM (table unchanged). */
static int usage_reserve(struct gw_usage *u)
{
	if (u->nentries < u->nbuckets)
		return 0;
	size_t n = u->nbuckets != 0 ? u->nbuckets * 2 : 64;
	struct gw_usage_series **t = calloc(n, sizeof(*t));
	if (t == NULL)
		return -1;
	for (size_t i = 0; i < u->nbuckets; i++) {
		struct gw_usage_series *s = u->table[i];
		while (s != NULL) {
			struct gw_usage_series *next = s->next;
			s->next = t[s->hash & (n - 1)];
			t[s->hash & (n - 1)] = s;
			s = next;
		}
	}
	free(u->table);
	u->table = t;
	u->nbuckets = n;
	return 0;
}

/* ---- registering one pair ----------------------------------------------------- */

/*
 * Appends v escaped for a label value (backslash, double quote, newline),
 * at most GW_USAGE_VALUE_MAX bytes: an escape is never split, and neither
 * is a UTF-8 sequence (Prometheus wants valid UTF-8).
 */
static size_t usage_escape(char *out, const char *v)
{
	size_t n = 0;
	for (const char *p = v; *p != '\0'; p++) {
		const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
		size_t len = esc != NULL ? 2 : 1;
		if (n + len > GW_USAGE_VALUE_MAX) {
			if (((unsigned char)*p & 0xC0) == 0x80) { /* cutting inside a UTF-8 sequence */
				while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
					n--;
				if (n > 0 && (unsigned char)out[n - 1] >= 0xC0)
					n--; /* its lead byte */
			}
			break;
		}
		memcpy(out + n, esc != NULL ? esc : p, len);
		n += len;
	}
	return n;
}

/* `model="…",tenant="…"` into out (GW_USAGE_LABELS_MAX bytes). */
static void usage_labels(char *out, const char *model, const char *tenant)
{
	char m[GW_USAGE_VALUE_MAX + 1], t[GW_USAGE_VALUE_MAX + 1];
	m[usage_escape(m, model)] = '\0';
	t[usage_escape(t, tenant)] = '\0';
	snprintf(out, GW_USAGE_LABELS_MAX, "model=\"%s\",tenant=\"%s\"", m, t);
}

/* Registers (or, after a reload, finds again) the pair's twelve series; -1 if any is refused. */
static int usage_register(struct metrics *reg, struct gw_usage_series *s, const char *base)
{
	char l[GW_USAGE_LABELS_MAX + 64];
	for (size_t c = 0; c < GW_CLASS__COUNT; c++) {
		snprintf(l, sizeof(l), "%s,code_class=\"%s\"", base, class_names[c]);
		s->requests[c] = metrics_counter(reg, "llmgw_usage_requests_total",
						 "Finished API requests by model, tenant and status class", l);
		if (s->requests[c] == NULL)
			return -1;
	}
	s->input_tokens =
	    metrics_counter(reg, "llmgw_usage_input_tokens_total", "Input (prompt) tokens by model and tenant", base);
	s->output_tokens = metrics_counter(reg, "llmgw_usage_output_tokens_total",
					   "Output (completion) tokens by model and tenant", base);
	s->cost =
	    metrics_counter_scaled(reg, "llmgw_usage_cost_usd_total", "Cost in USD by model and tenant", base, 1e-6);
	if (s->input_tokens == NULL || s->output_tokens == NULL || s->cost == NULL)
		return -1;
	for (size_t r = 0; r < GW_REJECT__COUNT; r++) {
		snprintf(l, sizeof(l), "%s,reason=\"%s\"", base, reject_names[r]);
		s->rejects[r] = metrics_counter(
		    reg, "llmgw_usage_rejections_total",
		    "Requests rejected by a limit, budget or access rule, by model, tenant and reason", l);
		if (s->rejects[r] == NULL)
			return -1;
	}
	return 0;
}

/*
 * Under u->mu: the pair (model, tenant), created and registered when absent
 * and create is set (*created then tells). NULL when absent and !create, on
 * ENOMEM, or when the registry refuses a series; series it did register
 * stay (they render as zeros and a retry finds them again).
 */
static struct gw_usage_series *usage_get(struct gw_usage *u, const char *model, const char *tenant, bool create,
					 bool *created)
{
	size_t ml = strlen(model), tl = strlen(tenant), len = ml + 1 + tl;
	char *key = malloc(len + 1);
	if (key == NULL)
		return NULL;
	memcpy(key, model, ml + 1);
	memcpy(key + ml + 1, tenant, tl + 1);
	uint64_t h = usage_hash(key, len);
	struct gw_usage_series *s = usage_find(u, key, len, h);
	if (s != NULL || !create || usage_reserve(u) < 0 || (s = calloc(1, sizeof(*s) + len + 1)) == NULL)
		goto out;
	memcpy(s->key, key, len + 1);
	s->keylen = len;
	s->hash = h;
	char base[GW_USAGE_LABELS_MAX];
	usage_labels(base, model, tenant);
	if (usage_register(u->reg, s, base) < 0) {
		free(s);
		s = NULL;
		goto out;
	}
	s->next = u->table[h & (u->nbuckets - 1)];
	u->table[h & (u->nbuckets - 1)] = s;
	u->nentries++;
	*created = true;
out:
	free(key);
	return s;
}

struct gw_usage_series *gw_usage_series(struct gw_usage *u, const char *model, const char *tenant)
{
	if (u == NULL)
		return NULL;
	if (model == NULL || model[0] == '\0')
		model = GW_USAGE_UNKNOWN_MODEL;
	if (tenant == NULL)
		tenant = "";
	bool created = false;
	pthread_mutex_lock(&u->mu);
	struct gw_usage_series *s = usage_get(u, model, tenant, u->npairs < u->max_series, &created);
	if (created)
		u->npairs++;
	if (s == NULL) {
		/* over the cap, or refused by the registry: the model's catch-all pair, outside the cap */
		metric_inc(u->overflow);
		s = usage_get(u, model, GW_USAGE_OTHER_TENANT, true, &created);
	}
	pthread_mutex_unlock(&u->mu);
	return s;
}

/* ---- counting (lock-free) ----------------------------------------------------- */

/*
 * 2xx and 5xx as sent; everything else is the caller's side of the
 * contract: 4xx, and 499 (client closed) too. 1xx/3xx never finish an API
 * request, so they cannot skew this.
 */
void gw_usage_request(struct gw_usage_series *s, int status, int has_usage, uint64_t input_tokens,
		      uint64_t output_tokens, int has_cost, int64_t cost_micro)
{
	if (s == NULL)
		return;
	enum gw_usage_class c = status >= 200 && status < 300	? GW_CLASS_2XX
				: status >= 500 && status < 600 ? GW_CLASS_5XX
								: GW_CLASS_4XX;
	metric_inc(s->requests[c]);
	if (has_usage) {
		metric_add(s->input_tokens, input_tokens);
		metric_add(s->output_tokens, output_tokens);
	}
	/* a counter never goes down: a negative cost would be a pricing bug, not a refund */
	if (has_cost && cost_micro > 0)
		metric_add(s->cost, (uint64_t)cost_micro);
}

void gw_usage_reject(struct gw_usage_series *s, enum gw_usage_reject why)
{
	if (s == NULL || (unsigned)why >= GW_REJECT__COUNT)
		return;
	metric_inc(s->rejects[why]);
}
