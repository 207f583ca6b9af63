/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource enrichment: the static resource built once at start-up, and the
 * per-batch grouping of spans by (tenant_id, team).
 *
 * OTEL_RESOURCE_ATTRIBUTES is parsed here rather than in the config loader
 * because the resource SDK spec says a malformed value is discarded and
 * reported, not fatal: the exporter still runs, without those attributes,
 * and says so in the log.
 *
 * Grouping sorts span indices by (tenant, team, arrival) so that each
 * distinct resource becomes one ResourceSpans and spans keep their order
 * within it. Sorting keys, not records, keeps it cheap: a 512-span batch is
 * one small malloc and a qsort of 24-byte entries; a batch already in that
 * order (one tenant and team: the common case) is not sorted at all.
 */
#include "exporter/enrich.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/spanview.h"

struct enrich {
	struct kvlist attrs;	  /* service.name first, all valid UTF-8 */
	struct enrich_attr *view; /* attrs as enrich_attr, for the encoders */
	size_t n;
};

int enrich_parse_resattr(const char *s, struct kvlist *out, struct err *err)
{
	return kvlist_parse(s, KVLIST_DECODE_KEYS, out, err);
}

/* Parses env into out; on error logs, empties out and carries on (spec: discard the whole variable). */
static void enrich_env_attrs(const char *env, struct kvlist *out)
{
	struct err e;
	err_clear(&e);
	if (env == NULL || enrich_parse_resattr(env, out, &e) == 0)
		return;
	char q[300];
	log_msg(LOG_LVL_WARN, "resource_attributes_discarded", "var=OTEL_RESOURCE_ATTRIBUTES reason=%s",
		log_quote(e.msg, q, sizeof(q)));
	kvlist_fini(out);
	kvlist_init(out);
}

/* Copies src into dst except service.name (decided separately). */
static int enrich_merge(struct kvlist *dst, const struct kvlist *src)
{
	for (size_t i = 0; src != NULL && i < src->n; i++) {
		if (strcmp(src->items[i].key, ENRICH_KEY_SERVICE) == 0)
			continue;
		if (kvlist_set(dst, src->items[i].key, src->items[i].value, false) != 0)
			return -1;
	}
	return 0;
}

static int enrich_build_view(struct enrich *e)
{
	e->view = calloc(e->attrs.n ? e->attrs.n : 1, sizeof(*e->view));
	if (e->view == NULL)
		return -1;
	for (size_t i = 0; i < e->attrs.n; i++) {
		struct kv *kv = &e->attrs.items[i];
		/* Environment values are percent-decoded bytes: make them valid protobuf strings. */
		spanview_utf8_fix(kv->key, strlen(kv->key));
		spanview_utf8_fix(kv->value, strlen(kv->value));
		e->view[i].key = kv->key;
		e->view[i].value = kv->value;
	}
	e->n = e->attrs.n;
	return 0;
}

struct enrich *enrich_new(const struct kvlist *file_attrs, const char *file_service_name, const char *env_resattr,
			  const char *env_service_name, struct err *err)
{
	struct enrich *e = calloc(1, sizeof(*e));
	struct kvlist env;
	kvlist_init(&env);
	if (e == NULL)
		goto nomem;
	kvlist_init(&e->attrs);
	enrich_env_attrs(env_resattr, &env);

	const char *svc = env_service_name;
	if (svc == NULL || svc[0] == '\0')
		svc = kvlist_get(&env, ENRICH_KEY_SERVICE, false);
	if ((svc == NULL || svc[0] == '\0') && file_service_name != NULL)
		svc = file_service_name;
	if (svc == NULL || svc[0] == '\0')
		svc = EX_DEFAULT_SERVICE_NAME;
	if (kvlist_set(&e->attrs, ENRICH_KEY_SERVICE, svc, false) != 0 || enrich_merge(&e->attrs, file_attrs) != 0 ||
	    enrich_merge(&e->attrs, &env) != 0 || enrich_build_view(e) != 0)
		goto nomem;
	kvlist_fini(&env);
	return e;
nomem:
	kvlist_fini(&env);
	enrich_free(e);
	err_set(err, ENOMEM, "out of memory building the resource");
	return NULL;
}

void enrich_free(struct enrich *e)
{
	if (e == NULL)
		return;
	kvlist_fini(&e->attrs);
	free(e->view);
	free(e);
}

const struct enrich_attr *enrich_static(const struct enrich *e, size_t *n)
{
	*n = e->n;
	return e->view;
}

size_t enrich_max_attrs(const struct enrich *e)
{
	return e->n + 2;
}

/* ---- grouping ------------------------------------------------------------- */

struct enrich_key {
	const char *tenant;
	const char *team;
	uint32_t idx;
};

static int enrich_key_cmp(const void *a, const void *b)
{
	const struct enrich_key *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);
	if (c == 0)
		c = strcmp(x->team, y->team);
	if (c == 0)
		c = x->idx < y->idx ? -1 : x->idx > y->idx;
	return c;
}

static void enrich_group_init(struct enrich_group *g, const struct spanrec *r, size_t start)
{
	memcpy(g->tenant_id, r->tenant_id, sizeof(g->tenant_id));
	memcpy(g->team, r->team, sizeof(g->team));
	g->tenant_id[sizeof(g->tenant_id) - 1] = '\0';
	g->team[sizeof(g->team) - 1] = '\0';
	spanview_utf8_fix(g->tenant_id, strlen(g->tenant_id));
	spanview_utf8_fix(g->team, strlen(g->team));
	g->start = start;
	g->n = 0;
}

/* Same (tenant_id, team)? Equal field bytes settle it without a scan (the usual case: one tenant). */
static bool enrich_same(const struct spanrec *a, const struct spanrec *b)
{
	if (memcmp(a->tenant_id, b->tenant_id, sizeof(a->tenant_id)) == 0 &&
	    memcmp(a->team, b->team, sizeof(a->team)) == 0)
		return true;
	return strcmp(a->tenant_id, b->tenant_id) == 0 && strcmp(a->team, b->team) == 0;
}

/*
 * When the records already arrive in (tenant_id, team) order, which is
 * always the case for a single-tenant batch, the sort would return arrival
 * order: describe the runs directly, without allocating or sorting.
 * Returns the number of groups, or 0 when the records are not in order.
 */
static size_t enrich_group_sorted(const struct spanrec *recs, size_t n, uint32_t *order, struct enrich_group *groups)
{
	size_t ng = 1;
	for (size_t i = 1; i < n; i++) {
		if (enrich_same(&recs[i - 1], &recs[i]))
			continue;
		int c = strcmp(recs[i - 1].tenant_id, recs[i].tenant_id);
		if (c > 0 || (c == 0 && strcmp(recs[i - 1].team, recs[i].team) > 0))
			return 0;
		ng++;
	}
	ng = 0;
	for (size_t i = 0; i < n; i++) {
		order[i] = (uint32_t)i;
		if (i == 0 || !enrich_same(&recs[i - 1], &recs[i]))
			enrich_group_init(&groups[ng++], &recs[i], i);
		groups[ng - 1].n++;
	}
	return ng;
}

size_t enrich_group(const struct spanrec *recs, size_t n, uint32_t *order, struct enrich_group *groups)
{
	if (n == 0)
		return 0;
	size_t ng = enrich_group_sorted(recs, n, order, groups);
	if (ng > 0)
		return ng;
	struct enrich_key *keys = malloc(n * sizeof(*keys));
	if (keys == NULL) {
		/* Out of memory: one resource per span is still correct OTLP, just less compact. */
		for (size_t i = 0; i < n; i++) {
			order[i] = (uint32_t)i;
			enrich_group_init(&groups[i], &recs[i], i);
			groups[i].n = 1;
		}
		return n;
	}
	for (size_t i = 0; i < n; i++)
		keys[i] = (struct enrich_key){recs[i].tenant_id, recs[i].team, (uint32_t)i};
	qsort(keys, n, sizeof(*keys), enrich_key_cmp);
	for (size_t i = 0; i < n; i++) {
		order[i] = keys[i].idx;
		if (i == 0 || strcmp(keys[i].tenant, keys[i - 1].tenant) != 0 ||
		    strcmp(keys[i].team, keys[i - 1].team) != 0)
			enrich_group_init(&groups[ng++], &recs[keys[i].idx], i);
		groups[ng - 1].n++;
	}
	free(keys);
	return ng;
}

size_t enrich_resource(const struct enrich *e, const struct enrich_group *g, struct enrich_attr *out)
{
	size_t n = 0;
	bool team_done = false, tenant_done = false;
	for (size_t i = 0; i < e->n; i++) {
		out[n] = e->view[i];
		if (g->team[0] != '\0' && strcmp(out[n].key, ENRICH_KEY_TEAM) == 0) {
			out[n].value = g->team;
			team_done = true;
		} else if (g->tenant_id[0] != '\0' && strcmp(out[n].key, ENRICH_KEY_TENANT) == 0) {
			out[n].value = g->tenant_id;
			tenant_done = true;
		}
		n++;
	}
	if (g->tenant_id[0] != '\0' && !tenant_done)
		out[n++] = (struct enrich_attr){ENRICH_KEY_TENANT, g->tenant_id};
	if (g->team[0] != '\0' && !team_done)
		out[n++] = (struct enrich_attr){ENRICH_KEY_TEAM, g->team};
	return n;
}
