/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The governance half of gateway.yaml: auth, keys, tenants, prices, redis
 * and metrics. Loaded after providers and models so prices can name a
 * provider and be attached to every target that uses that provider model.
 *
 * Auth is on unless the file says `auth: { enabled: false }`, and then no
 * key may be configured: a config cannot end up open by forgetting a line,
 * and a config with keys cannot be half-open by a stray flag.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "gateway/gov_math.h"
#include "gateway/gw_conf_int.h"

static const char *const auth_keys[] = {"enabled", "allow_anonymous", NULL};
static const char *const key_keys[] = {"name",	     "sha256", "tenant_id", "team", "user",	  "models",
				       "expires_at", "limits", "budget",    "mcp",  "guardrails", NULL};
static const char *const tenant_keys[] = {"id", "limits", "budget", NULL};
static const char *const limits_keys[] = {"requests_per_minute", "tokens_per_minute", NULL};
static const char *const budget_keys[] = {"daily_usd", "monthly_usd", NULL};
static const char *const price_keys[] = {"provider", "model", "input", "output", "cached_input", NULL};
static const char *const redis_keys[] = {
    "url", "username", "password_env", "timeout", "connect_timeout", "on_failure", "prefix", NULL};
static const char *const metrics_keys[] = {"max_series", NULL};

#define BUDGET_MAX_MICRO (INT64_C(1000000000) * 1000000) /* $1e9 */

/* ---- limits and budgets ------------------------------------------------------------------ */

static int load_usd(const struct ycfg *c, const struct ycfg_node *m, const char *at, const char *key, int64_t max,
		    int64_t *out, struct err *err)
{
	const struct ycfg_node *n = ycfg_get(m, key);
	const char *s = n != NULL ? ycfg_scalar(n) : NULL;
	char kb[128];
	*out = 0;
	if (n == NULL)
		return 0;
	if (s == NULL || gov_parse_usd(s, max, out) < 0)
		return ycfg_error(c, n, KP(kb, at, key), err,
				  "must be a decimal USD amount like 0.15 (at most 6 decimals, at most %lld)",
				  (long long)(max / 1000000));
	return 0;
}

static int load_limits(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_limits *l,
		       struct err *err)
{
	const struct ycfg_node *lim = ycfg_get(m, "limits"), *bud = ycfg_get(m, "budget");
	char kl[96], kb[96];
	int64_t v;
	memset(l, 0, sizeof(*l));
	KP(kl, at, "limits");
	KP(kb, at, "budget");
	if (lim != NULL) {
		if (ycfg_check_keys(c, lim, kl, limits_keys, err) < 0)
			return -1;
		if (ycfg_get_int(c, lim, "requests_per_minute", 1, (int64_t)GOV_LIMIT_MAX, 0, &v, err) < 0)
			return -1;
		l->rpm = (uint64_t)v;
		if (ycfg_get_int(c, lim, "tokens_per_minute", 1, (int64_t)GOV_LIMIT_MAX, 0, &v, err) < 0)
			return -1;
		l->tpm = (uint64_t)v;
	}
	if (bud != NULL) {
		if (ycfg_check_keys(c, bud, kb, budget_keys, err) < 0 ||
		    load_usd(c, bud, kb, "daily_usd", BUDGET_MAX_MICRO, &l->daily_micro, err) < 0 ||
		    load_usd(c, bud, kb, "monthly_usd", BUDGET_MAX_MICRO, &l->monthly_micro, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- tenants ------------------------------------------------------------------------------ */

static size_t tenant_find(const struct gw_conf *g, const char *id)
{
	for (size_t i = 0; i < g->ntenants; i++)
		if (strcmp(g->tenants[i].id, id) == 0)
			return i;
	return GW_TENANT_NONE;
}

static int load_tenants(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, size_t extra,
			struct err *err)
{
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "tenants", err, &rc);
	size_t n = seq != NULL ? ycfg_len(seq) : 0;
	if (rc < 0)
		return -1;
	/* room for the tenants only keys name */
	if ((g->tenants = calloc(n + extra + 1, sizeof(*g->tenants))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		const char *id;
		char at[32], kb[96];
		snprintf(at, sizeof(at), "tenants[%zu]", i);
		if (ycfg_check_keys(c, m, at, tenant_keys, err) < 0 || gwc_get_required(c, m, at, "id", &id, err) < 0)
			return -1;
		if (!gwc_name_ok(id))
			return ycfg_error(c, ycfg_get(m, "id"), KP(kb, at, "id"), err, "use 1-%d of [A-Za-z0-9._-]",
					  GW_NAME_MAX);
		if (tenant_find(g, id) != GW_TENANT_NONE)
			return ycfg_error(c, ycfg_get(m, "id"), KP(kb, at, "id"), err, "duplicate tenant '%s'", id);
		struct gw_tenant *t = &g->tenants[g->ntenants];
		if ((t->id = gwc_strdup(id, err)) == NULL)
			return -1;
		g->ntenants++;
		if (load_limits(c, m, at, &t->limits, err) < 0)
			return -1;
	}
	return 0;
}

/* The tenant of a key: declared, or added with no limits of its own. */
static int tenant_intern(struct gw_conf *g, const char *id, size_t *out, struct err *err)
{
	*out = GW_TENANT_NONE;
	if (id[0] == '\0')
		return 0;
	size_t i = tenant_find(g, id);
	if (i == GW_TENANT_NONE) {
		i = g->ntenants; /* load_tenants made room for one per key */
		if ((g->tenants[i].id = gwc_strdup(id, err)) == NULL)
			return -1;
		g->ntenants++;
	}
	*out = i;
	return 0;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static int load_key_models(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_key *k,
			   struct err *err)
{
	int rc;
	char kb[96];
	const struct ycfg_node *seq = gwc_get_seq(c, m, "models", err, &rc);
	if (rc < 0 || seq == NULL)
		return rc;
	KP(kb, at, "models");
	if (ycfg_len(seq) == 0)
		return ycfg_error(c, seq, kb, err, "is empty: the key could use no model (leave it out for all)");
	if ((k->models = calloc(ycfg_len(seq), sizeof(*k->models))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const struct ycfg_node *n = ycfg_at(seq, i);
		const char *s = ycfg_scalar(n);
		if (s == NULL || !gwc_model_name_ok(s))
			return ycfg_error(c, n, kb, err, "entries are model names or globs ('gpt-4o*', '*')");
		if ((k->models[i] = gwc_strdup(s, err)) == NULL)
			return -1;
		k->nmodels++;
	}
	return 0;
}

static int load_key(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_conf *g,
		    struct gw_key *k, struct err *err)
{
	const char *name, *hex, *tenant, *team, *user, *exp;
	char kb[96];
	if (ycfg_check_keys(c, m, at, key_keys, err) < 0 || gwc_get_required(c, m, at, "name", &name, err) < 0)
		return -1;
	if (!gwc_name_ok(name))
		return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err, "use 1-%d of [A-Za-z0-9._-]",
				  GW_NAME_MAX);
	if (gwc_get_required(c, m, at, "sha256", &hex, err) < 0)
		return -1;
	if (strlen(hex) != 64 || ids_unhex(hex, 32, k->sha256) < 0)
		return ycfg_error(c, ycfg_get(m, "sha256"), KP(kb, at, "sha256"), err,
				  "must be 64 hex digits (llmgw-gateway --hash-key), not the key itself");
	if (ycfg_get_str(c, m, "tenant_id", "", &tenant, err) < 0 || ycfg_get_str(c, m, "team", "", &team, err) < 0 ||
	    ycfg_get_str(c, m, "user", "", &user, err) < 0 || ycfg_get_str(c, m, "expires_at", "", &exp, err) < 0)
		return -1;
	if (tenant[0] != '\0' && !gwc_name_ok(tenant))
		return ycfg_error(c, ycfg_get(m, "tenant_id"), KP(kb, at, "tenant_id"), err,
				  "use 1-%d of [A-Za-z0-9._-]", GW_NAME_MAX);
	if (exp[0] != '\0' && (gov_parse_time(exp, &k->expires_at) < 0 || k->expires_at <= 0))
		return ycfg_error(c, ycfg_get(m, "expires_at"), KP(kb, at, "expires_at"), err,
				  "must be an RFC 3339 time (2027-01-31T00:00:00Z) or a date (2027-01-31)");
	k->name = gwc_strdup(name, err);
	k->tenant_id = gwc_strdup(tenant, err);
	k->team = gwc_strdup(team, err);
	k->user = gwc_strdup(user, err);
	if (!k->name || !k->tenant_id || !k->team || !k->user)
		return -1;
	if (tenant_intern(g, tenant, &k->tenant, err) < 0 || load_key_models(c, m, at, k, err) < 0 ||
	    gwc_load_key_mcp(c, m, at, g, k, err) < 0)
		return -1;
	return load_limits(c, m, at, &k->limits, err);
}

static int load_keys(const struct ycfg *c, const struct ycfg_node *seq, struct gw_conf *g, struct err *err)
{
	g->nkeys = ycfg_len(seq);
	if (g->nkeys == 0)
		return 0;
	if ((g->keys = calloc(g->nkeys, sizeof(*g->keys))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nkeys; i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		char at[32], kb[96];
		snprintf(at, sizeof(at), "keys[%zu]", i);
		g->keys[i].tenant = GW_TENANT_NONE;
		if (load_key(c, m, at, g, &g->keys[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(g->keys[j].name, g->keys[i].name) == 0)
				return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
						  "duplicate key name '%s'", g->keys[i].name);
			if (memcmp(g->keys[j].sha256, g->keys[i].sha256, 32) == 0)
				return ycfg_error(c, ycfg_get(m, "sha256"), KP(kb, at, "sha256"), err,
						  "same digest as key '%s'", g->keys[j].name);
		}
	}
	return 0;
}

static int load_auth(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *a = ycfg_get(root, "auth");
	int rc;
	const struct ycfg_node *keys = gwc_get_seq(c, root, "keys", err, &rc);
	size_t nkeys = keys != NULL ? ycfg_len(keys) : 0;
	if (rc < 0)
		return -1;
	if (a != NULL && ycfg_check_keys(c, a, "auth", auth_keys, err) < 0)
		return -1;
	if (ycfg_get_bool(c, a, "enabled", true, &g->auth_enabled, err) < 0 ||
	    ycfg_get_bool(c, a, "allow_anonymous", false, &g->allow_anonymous, err) < 0)
		return -1;
	if (!g->auth_enabled && nkeys > 0)
		return ycfg_error(c, ycfg_get(a, "enabled"), "auth.enabled", err,
				  "is false but keys are configured: remove the keys or turn auth on");
	if (!g->auth_enabled && g->allow_anonymous)
		return ycfg_error(c, ycfg_get(a, "allow_anonymous"), "auth.allow_anonymous", err,
				  "only means something with auth enabled");
	if (g->auth_enabled && nkeys == 0)
		return ycfg_error(c, a != NULL ? a : keys, "keys", err,
				  "no virtual keys are configured and auth is on: add keys, or set "
				  "auth: { enabled: false } to serve everyone (demos only)");
	if (load_tenants(c, root, g, nkeys, err) < 0)
		return -1;
	return keys != NULL ? load_keys(c, keys, g, err) : 0;
}

/* ---- prices ---------------------------------------------------------------------------------- */

static int load_price_value(const struct ycfg *c, const struct ycfg_node *m, const char *at, const char *key,
			    bool required, uint64_t *out, struct err *err)
{
	int64_t v;
	char kb[96];
	if (ycfg_get(m, key) == NULL && required)
		return ycfg_error(c, m, KP(kb, at, key), err, "missing (USD per million tokens)");
	if (load_usd(c, m, at, key, GOV_PRICE_MAX, &v, err) < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int load_prices(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "prices", err, &rc);
	if (rc < 0 || seq == NULL || ycfg_len(seq) == 0)
		return rc;
	if ((g->prices = calloc(ycfg_len(seq), sizeof(*g->prices))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		struct gw_price *p = &g->prices[i];
		const char *prov, *model;
		char at[32], kb[96];
		snprintf(at, sizeof(at), "prices[%zu]", i);
		if (ycfg_check_keys(c, m, at, price_keys, err) < 0 ||
		    gwc_get_required(c, m, at, "provider", &prov, err) < 0 ||
		    gwc_get_required(c, m, at, "model", &model, err) < 0)
			return -1;
		p->provider = SIZE_MAX;
		for (size_t j = 0; j < g->nproviders; j++)
			if (strcmp(g->providers[j].name, prov) == 0)
				p->provider = j;
		if (p->provider == SIZE_MAX)
			return ycfg_error(c, ycfg_get(m, "provider"), KP(kb, at, "provider"), err,
					  "no provider named '%s'", prov);
		if ((p->model = gwc_strdup(model, err)) == NULL)
			return -1;
		g->nprices++;
		if (load_price_value(c, m, at, "input", true, &p->input, err) < 0 ||
		    load_price_value(c, m, at, "output", false, &p->output, err) < 0)
			return -1;
		p->cached_input = p->input;
		if (load_price_value(c, m, at, "cached_input", false, &p->cached_input, err) < 0)
			return -1;
		if (ycfg_get(m, "cached_input") == NULL)
			p->cached_input = p->input;
		for (size_t j = 0; j < i; j++)
			if (g->prices[j].provider == p->provider && strcmp(g->prices[j].model, p->model) == 0)
				return ycfg_error(c, m, at, err, "a second price for %s/%s", prov, model);
	}
	/* every target gets its price once, here, so the request path never searches */
	for (size_t mi = 0; mi < g->nmodels; mi++)
		for (size_t ti = 0; ti < g->models[mi].ntargets; ti++) {
			struct gw_target *t = &g->models[mi].targets[ti];
			for (size_t j = 0; j < g->nprices; j++)
				if (g->prices[j].provider == t->provider && strcmp(g->prices[j].model, t->model) == 0)
					t->price = &g->prices[j];
		}
	return 0;
}

/* ---- redis ------------------------------------------------------------------------------------ */

/* redis://host[:port][/db] or unix:///path[?db=N]; credentials never in the URL. */
static int redis_url(struct gw_redis *r, const char *s, struct err *err)
{
	char *end;
	if (strncmp(s, "unix://", 7) == 0) {
		const char *path = s + 7, *q = strchr(path, '?');
		size_t n = q != NULL ? (size_t)(q - path) : strlen(path);
		if (n == 0 || path[0] != '/' || n > 107)
			return err_set(err, EINVAL, "unix:// needs an absolute socket path");
		if ((r->unix_path = strndup(path, n)) == NULL)
			return err_set(err, ENOMEM, "out of memory");
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0)
				return err_set(err, EINVAL, "the only query parameter is db=N");
			unsigned long db = strtoul(q + 4, &end, 10);
			if (end == q + 4 || *end != '\0' || db > 1000)
				return err_set(err, EINVAL, "db must be 0-1000");
			r->db = (unsigned)db;
		}
		return 0;
	}
	if (strncmp(s, "rediss://", 9) == 0)
		return err_set(err, EINVAL, "TLS to Redis (rediss://) is not supported: use a local TLS proxy");
	if (strncmp(s, "redis://", 8) != 0)
		return err_set(err, EINVAL, "must be redis://HOST[:PORT][/DB] or unix:///PATH");
	const char *h = s + 8, *hend;
	if (strchr(h, '@') != NULL)
		return err_set(err, EINVAL, "no credentials in the URL: use username and password_env");
	if (*h == '[') {
		hend = strchr(h, ']');
		if (hend == NULL)
			return err_set(err, EINVAL, "unterminated [IPv6] host");
		r->host = strndup(h + 1, (size_t)(hend - h - 1));
		hend++;
	} else {
		hend = h + strcspn(h, ":/");
		r->host = strndup(h, (size_t)(hend - h));
	}
	if (r->host == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (r->host[0] == '\0')
		return err_set(err, EINVAL, "missing host");
	for (const char *p = r->host; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-' || *p == '_' || (*p == ':' && *h == '[')))
			return err_set(err, EINVAL, "the host must be a name, an IPv4 address or [IPv6]");
	r->port = 6379;
	if (*hend == ':') {
		unsigned long port = strtoul(hend + 1, &end, 10);
		if (end == hend + 1 || port == 0 || port > 65535)
			return err_set(err, EINVAL, "port must be 1-65535");
		r->port = (uint16_t)port;
		hend = end;
	}
	if (*hend == '/' && hend[1] != '\0') {
		unsigned long db = strtoul(hend + 1, &end, 10);
		if (end == hend + 1 || *end != '\0' || db > 1000)
			return err_set(err, EINVAL, "the path is the database number, 0-1000");
		r->db = (unsigned)db;
	} else if (*hend != '\0' && strcmp(hend, "/") != 0) {
		return err_set(err, EINVAL, "must be redis://HOST[:PORT][/DB]");
	}
	return 0;
}

static int load_redis(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *m = ycfg_get(root, "redis");
	const char *url, *user, *penv, *onf, *prefix;
	struct gw_redis *r;
	struct err e2;
	if (m == NULL)
		return 0;
	if (ycfg_check_keys(c, m, "redis", redis_keys, err) < 0 ||
	    gwc_get_required(c, m, "redis", "url", &url, err) < 0)
		return -1;
	if ((r = g->redis = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if ((r->url = gwc_strdup(url, err)) == NULL)
		return -1;
	if (redis_url(r, url, &e2) < 0)
		return ycfg_error(c, ycfg_get(m, "url"), "redis.url", err, "%s", e2.msg);
	if (ycfg_get_str(c, m, "username", "", &user, err) < 0 ||
	    ycfg_get_str(c, m, "password_env", "", &penv, err) < 0 ||
	    ycfg_get_str(c, m, "on_failure", "local", &onf, err) < 0 ||
	    ycfg_get_str(c, m, "prefix", "llmgw:", &prefix, err) < 0)
		return -1;
	if (user[0] != '\0' && (r->username = gwc_strdup(user, err)) == NULL)
		return -1;
	if (penv[0] != '\0') {
		const char *v = getenv(penv);
		if (v != NULL && v[0] != '\0' && (r->password = gwc_strdup(v, err)) == NULL)
			return -1;
		if (r->password == NULL)
			return ycfg_error(c, ycfg_get(m, "password_env"), "redis.password_env", err,
					  "$%s is unset or empty", penv);
	} else if (r->username != NULL) {
		return ycfg_error(c, ycfg_get(m, "username"), "redis.username", err, "needs password_env as well");
	}
	if (strcmp(onf, "local") == 0)
		r->fail_closed = false;
	else if (strcmp(onf, "reject") == 0)
		r->fail_closed = true;
	else
		return ycfg_error(c, ycfg_get(m, "on_failure"), "redis.on_failure", err,
				  "must be local (keep serving with in-process limits) or reject (503)");
	if (strlen(prefix) > 32 || strpbrk(prefix, " \t\r\n") != NULL)
		return ycfg_error(c, ycfg_get(m, "prefix"), "redis.prefix", err, "at most 32 bytes, no spaces");
	if ((r->prefix = gwc_strdup(prefix, err)) == NULL)
		return -1;
	if (ycfg_get_duration_ms(c, m, "timeout", 1, 10000, 50, &r->timeout_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "connect_timeout", 1, 60000, 1000, &r->connect_timeout_ms, err) < 0)
		return -1;
	return 0;
}

/* ---- entry points ------------------------------------------------------------------------------- */

int gwc_load_gov(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *mt = ycfg_get(root, "metrics");
	int64_t v;
	if (load_auth(c, root, g, err) < 0 || load_prices(c, root, g, err) < 0 || load_redis(c, root, g, err) < 0)
		return -1;
	if (mt != NULL && ycfg_check_keys(c, mt, "metrics", metrics_keys, err) < 0)
		return -1;
	if (ycfg_get_int(c, mt, "max_series", 1, 5000, 1000, &v, err) < 0)
		return -1;
	g->metrics_max_series = (unsigned)v;
	return 0;
}

void gwc_free_gov(struct gw_conf *g)
{
	for (size_t i = 0; i < g->nkeys; i++) {
		struct gw_key *k = &g->keys[i];
		free(k->name);
		free(k->tenant_id);
		free(k->team);
		free(k->user);
		for (size_t j = 0; j < k->nmodels; j++)
			free(k->models[j]);
		free(k->models);
		gwc_free_key_mcp(k);
	}
	free(g->keys);
	for (size_t i = 0; i < g->ntenants; i++)
		free(g->tenants[i].id);
	free(g->tenants);
	for (size_t i = 0; i < g->nprices; i++)
		free(g->prices[i].model);
	free(g->prices);
	if (g->redis != NULL) {
		free(g->redis->url);
		free(g->redis->host);
		free(g->redis->unix_path);
		free(g->redis->username);
		gwc_free_secret(g->redis->password);
		free(g->redis->prefix);
		free(g->redis);
	}
}

bool gw_key_allows(const struct gw_key *k, const char *model)
{
	if (k->nmodels == 0)
		return true;
	for (size_t i = 0; i < k->nmodels; i++)
		if (gov_glob_match(k->models[i], model))
			return true;
	return false;
}
