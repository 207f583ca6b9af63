/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.yaml -> struct gw_conf. The schema is the key tables below; each
 * section is read with the common/yamlcfg typed getters (which position
 * their own errors), then cross-references are checked (targets name a
 * configured provider, names are unique) so that a config that loads is a
 * config that runs. Unknown keys are errors at every level: a typo must
 * never silently become a default.
 */
#include "gateway/gw_conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ids.h"
#include "common/yamlcfg.h"
#include "gateway/gw_conf_int.h"

static const char *const top_keys[] = {"server",  "telemetry",	 "log",	    "auth",	  "keys",      "tenants",
				       "prices",  "redis",	 "metrics", "admin",	  "providers", "models",
				       "routing", "mcp_servers", "cache",   "guardrails", NULL};
static const char *const server_keys[] = {"listen",	     "max_body",	 "drain_timeout",     "workers",
					  "max_connections", "max_header_bytes", "max_headers",	      "request_timeout",
					  "idle_timeout",    "write_timeout",	 "max_pending_write", NULL};
static const char *const telemetry_keys[] = {"spans_url", "sndbuf", NULL};
static const char *const log_keys[] = {"level", NULL};
static const char *const admin_keys[] = {"listen", NULL};
static const char *const provider_keys[] = {"name",
					    "type",
					    "base_url",
					    "api_key_env",
					    "gen_ai_provider",
					    "connect_timeout",
					    "timeout",
					    "ca_file",
					    "first_byte_timeout",
					    "idle_timeout",
					    "pool_idle_timeout",
					    "max_connections",
					    "http2",
					    "api_version",
					    "max_tokens",
					    "insecure_skip_verify",
					    NULL};

/* Default gen_ai.provider.name per type (OpenTelemetry GenAI well-known values). */
static const struct {
	const char *type;
	const char *genai;
	const char *base_url; /* default base_url; NULL: required */
} provider_types[GW_PROVIDER__COUNT] = {
    [GW_PROVIDER_OPENAI] = {"openai", "openai", "https://api.openai.com/v1"},
    [GW_PROVIDER_MOCK] = {"mock", "mock", ""},
    [GW_PROVIDER_AZURE] = {"azure-openai", "azure.ai.openai", NULL},
    [GW_PROVIDER_ANTHROPIC] = {"anthropic", "anthropic", "https://api.anthropic.com/v1"},
    [GW_PROVIDER_GEMINI] = {"gemini", "gcp.gemini", "https://generativelanguage.googleapis.com/v1beta"},
};

const char *gw_provider_type_name(enum gw_provider_type t)
{
	return (unsigned)t < GW_PROVIDER__COUNT ? provider_types[t].type : NULL;
}

/* ---- small helpers ------------------------------------------------------- */

char *gwc_strdup(const char *s, struct err *err)
{
	char *d = strdup(s != NULL ? s : "");
	if (d == NULL)
		err_set(err, ENOMEM, "out of memory");
	return d;
}

/* Names become metric label values, Redis keys and span attributes: keep them plain. */
bool gwc_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > GW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_' || ch == '.';
		if (!ok)
			return false;
	}
	return true;
}

/* Model names may carry '/', ':' and the like ("meta-llama/Llama-3-8B"), never controls. */
bool gwc_model_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > GW_MODEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* A required, non-empty string; its absence is reported at the map. */
int gwc_get_required(const struct ycfg *c, const struct ycfg_node *map, const char *at, const char *key,
		     const char **out, struct err *err)
{
	char k[96];
	if (ycfg_get_str(c, map, key, NULL, out, err) < 0)
		return -1;
	if (*out == NULL || (*out)[0] == '\0')
		return ycfg_error(c, map, KP(k, at, key), err, "missing or empty (required)");
	return 0;
}

const struct ycfg_node *gwc_get_seq(const struct ycfg *c, const struct ycfg_node *map, const char *key, struct err *err,
				    int *rc)
{
	const struct ycfg_node *n = ycfg_get(map, key);
	*rc = 0;
	if (n != NULL && ycfg_type(n) != YCFG_SEQ) {
		*rc = ycfg_error(c, n, key, err, "must be a list");
		return NULL;
	}
	return n;
}

/* ---- URLs ---------------------------------------------------------------- */

int gw_url_parse(const char *s, struct url *u, struct err *err)
{
	if (url_parse(s, u, err) < 0) {
		if (err != NULL && err->code == EPERM) {
			struct err e = *err;
			err_set(err, e.code, "%s; use api_key_env", e.msg);
		}
		return -1;
	}
	if (u->query != NULL) {
		url_fini(u);
		return err_set(err, EINVAL, "a query is not allowed in a base URL");
	}
	size_t n = strlen(u->path);
	while (n > 0 && u->path[n - 1] == '/')
		n--;
	u->path[n] = '\0';
	return 0;
}

/* ---- sections ------------------------------------------------------------ */

/* server.workers: "auto" (online CPUs) or 1..64. */
static int load_workers(const struct ycfg *c, const struct ycfg_node *m, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *n = m != NULL ? ycfg_get(m, "workers") : NULL;
	const char *s = n != NULL ? ycfg_scalar(n) : NULL;
	int64_t v;
	if (n == NULL || (s != NULL && strcmp(s, "auto") == 0)) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		g->workers = cpus < 1 ? 1u : cpus > GW_WORKERS_MAX ? GW_WORKERS_MAX : (unsigned)cpus;
		return 0;
	}
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return ycfg_error(c, n, "server.workers", err, "must be auto or a number 1-%d", GW_WORKERS_MAX);
	if (ycfg_get_int(c, m, "workers", 1, GW_WORKERS_MAX, 1, &v, err) < 0)
		return -1;
	g->workers = (unsigned)v;
	return 0;
}

/* The HTTP server's limits and timeouts (see docs/gateway-config.md). */
static int load_server_limits(const struct ycfg *c, const struct ycfg_node *m, struct gw_conf *g, struct err *err)
{
	int64_t v;
	if (load_workers(c, m, g, err) < 0)
		return -1;
	if (ycfg_get_int(c, m, "max_connections", 1, 1000000, 10000, &v, err) < 0)
		return -1;
	g->max_connections = (uint64_t)v;
	if (ycfg_get_size(c, m, "max_header_bytes", 1024, (uint64_t)1 << 20, (uint64_t)32 << 10, &g->max_header_bytes,
			  err) < 0)
		return -1;
	if (ycfg_get_int(c, m, "max_headers", 8, 10000, 100, &v, err) < 0)
		return -1;
	g->max_headers = (unsigned)v;
	if (ycfg_get_duration_ms(c, m, "request_timeout", 100, 3600 * 1000, 30000, &g->request_timeout_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "idle_timeout", 100, 3600 * 1000, 75000, &g->idle_timeout_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "write_timeout", 100, 3600 * 1000, 30000, &g->write_timeout_ms, err) < 0)
		return -1;
	return ycfg_get_size(c, m, "max_pending_write", 4096, (uint64_t)1 << 30, (uint64_t)1 << 20,
			     &g->max_pending_write, err);
}

static int load_server(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *m = ycfg_get(root, "server");
	const char *listen;
	struct err e2;
	if (m != NULL && ycfg_check_keys(c, m, "server", server_keys, err) < 0)
		return -1;
	if (ycfg_get_str(c, m, "listen", "127.0.0.1:8080", &listen, err) < 0)
		return -1;
	if (url_split_hostport(listen, strlen(listen), URL_HP_PORT_REQUIRED, &g->listen_host, &g->listen_port, &e2) < 0)
		return ycfg_error(c, m != NULL ? ycfg_get(m, "listen") : NULL, "server.listen", err, "%s", e2.msg);
	if (ycfg_get_size(c, m, "max_body", 1024, (uint64_t)1 << 30, (uint64_t)4 << 20, &g->max_body, err) < 0)
		return -1;
	if (ycfg_get_duration_ms(c, m, "drain_timeout", 0, 3600 * 1000, 25000, &g->drain_timeout_ms, err) < 0)
		return -1;
	return load_server_limits(c, m, g, err);
}

/*
 * admin.listen: where /healthz, /readyz and /metrics are served instead of
 * server.listen, so the API port can face callers while probes and
 * scrapes stay on an internal address. "" (the default) keeps them on
 * server.listen. Port 0 is refused: every worker binds the same port.
 */
static int load_admin(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *m = ycfg_get(root, "admin");
	const char *listen;
	struct err e2;
	if (m != NULL && ycfg_check_keys(c, m, "admin", admin_keys, err) < 0)
		return -1;
	if (ycfg_get_str(c, m, "listen", "", &listen, err) < 0)
		return -1;
	if (listen[0] == '\0')
		return 0;
	if (url_split_hostport(listen, strlen(listen), URL_HP_PORT_REQUIRED, &g->admin_host, &g->admin_port, &e2) < 0)
		return ycfg_error(c, ycfg_get(m, "listen"), "admin.listen", err, "%s", e2.msg);
	/* both sockets use SO_REUSEPORT: on one port the kernel would mix API and admin connections */
	if (g->admin_port == g->listen_port)
		return ycfg_error(c, ycfg_get(m, "listen"), "admin.listen", err,
				  "same port as server.listen; use another port (or \"\" to serve both there)");
	return 0;
}

static int load_misc(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *t = ycfg_get(root, "telemetry");
	const struct ycfg_node *l = ycfg_get(root, "log");
	const char *s;
	if (t != NULL && ycfg_check_keys(c, t, "telemetry", telemetry_keys, err) < 0)
		return -1;
	if (ycfg_get_str(c, t, "spans_url", "", &s, err) < 0)
		return -1;
	if (s[0] != '\0' && strncmp(s, "ipc://", 6) != 0 && strncmp(s, "tcp://", 6) != 0)
		return ycfg_error(c, ycfg_get(t, "spans_url"), "telemetry.spans_url", err,
				  "must be ipc://PATH or tcp://HOST:PORT (or empty for no spans)");
	if ((g->spans_url = gwc_strdup(s, err)) == NULL)
		return -1;
	if (ycfg_get_size(c, t, "sndbuf", 4096, (uint64_t)256 << 20, (uint64_t)1 << 20, &g->spans_sndbuf, err) < 0)
		return -1;
	if (l != NULL && ycfg_check_keys(c, l, "log", log_keys, err) < 0)
		return -1;
	if (ycfg_get_str(c, l, "level", "info", &s, err) < 0)
		return -1;
	if (log_level_parse(s, &g->log_level) < 0)
		return ycfg_error(c, ycfg_get(l, "level"), "log.level", err, "must be debug, info, warn or error");
	return 0;
}

/*
 * insecure_skip_verify: the only way to stop checking a provider's
 * certificate, and only spelled out per provider. Refused where it could
 * not mean anything (http://) or contradicts itself (a ca_file to verify
 * with), so a config that says it is also a config that does it.
 */
static int load_provider_insecure(const struct ycfg *c, const struct ycfg_node *m, const char *at,
				  struct gw_provider *p, struct err *err)
{
	char kb[96];
	if (ycfg_get_bool(c, m, "insecure_skip_verify", false, &p->insecure_skip_verify, err) < 0)
		return -1;
	if (!p->insecure_skip_verify)
		return 0;
	if (!p->url.tls)
		return ycfg_error(c, ycfg_get(m, "insecure_skip_verify"), KP(kb, at, "insecure_skip_verify"), err,
				  "only for https:// base URLs");
	if (p->ca_file != NULL)
		return ycfg_error(c, ycfg_get(m, "insecure_skip_verify"), KP(kb, at, "insecure_skip_verify"), err,
				  "contradicts ca_file (which verifies against that CA); drop one of them");
	return 0;
}

static int load_provider_net(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_provider *p,
			     struct err *err)
{
	const char *s;
	struct err e2;
	char kb[96];
	if (p->type == GW_PROVIDER_MOCK) {
		if (ycfg_get(m, "insecure_skip_verify") != NULL)
			return ycfg_error(c, ycfg_get(m, "insecure_skip_verify"), KP(kb, at, "insecure_skip_verify"),
					  err, "only for https:// base URLs (a mock provider has no network)");
		if (ycfg_get_str(c, m, "base_url", "", &s, err) < 0)
			return -1;
		p->base_url = gwc_strdup(s, err);
		return p->base_url != NULL ? 0 : -1;
	}
	if (provider_types[p->type].base_url == NULL) {
		if (gwc_get_required(c, m, at, "base_url", &s, err) < 0)
			return -1;
	} else if (ycfg_get_str(c, m, "base_url", provider_types[p->type].base_url, &s, err) < 0) {
		return -1;
	}
	if (gw_url_parse(s, &p->url, &e2) < 0)
		return ycfg_error(c, ycfg_get(m, "base_url"), KP(kb, at, "base_url"), err, "%s", e2.msg);
	if ((p->base_url = gwc_strdup(s, err)) == NULL)
		return -1;
	if (ycfg_get_str(c, m, "api_key_env", "", &s, err) < 0)
		return -1;
	if (s[0] != '\0') {
		const char *v = getenv(s);
		if ((p->api_key_env = gwc_strdup(s, err)) == NULL)
			return -1;
		if (v != NULL && v[0] != '\0' && (p->api_key = gwc_strdup(v, err)) == NULL)
			return -1;
		if (p->api_key != NULL && strpbrk(p->api_key, "\r\n") != NULL)
			return ycfg_error(c, ycfg_get(m, "api_key_env"), KP(kb, at, "api_key_env"), err,
					  "$%s contains a line break", s);
	}
	if (ycfg_get_str(c, m, "ca_file", "", &s, err) < 0)
		return -1;
	if (s[0] != '\0') {
		if (access(s, R_OK) != 0)
			return ycfg_error(c, ycfg_get(m, "ca_file"), KP(kb, at, "ca_file"), err, "cannot read %s: %s",
					  s, strerror(errno));
		if ((p->ca_file = gwc_strdup(s, err)) == NULL)
			return -1;
	}
	return load_provider_insecure(c, m, at, p, err);
}

/* The upstream client's knobs: timeouts beyond connect/total, the pool, HTTP/2. */
static int load_provider_client(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_provider *p,
				struct err *err)
{
	static const char *const h2_names[] = {
	    [GW_HTTP2_AUTO] = "auto", [GW_HTTP2_OFF] = "off", [GW_HTTP2_PRIOR_KNOWLEDGE] = "prior_knowledge"};
	const char *s;
	char kb[96];
	int64_t maxc;
	if (ycfg_get_duration_ms(c, m, "first_byte_timeout", 1, 3600000, p->timeout_ms, &p->first_byte_timeout_ms,
				 err) < 0 ||
	    ycfg_get_duration_ms(c, m, "idle_timeout", 0, 3600000, 30000, &p->idle_timeout_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "pool_idle_timeout", 1, 3600000, 50000, &p->pool_idle_timeout_ms, err) < 0 ||
	    ycfg_get_int(c, m, "max_connections", 1, 65536, 256, &maxc, err) < 0)
		return -1;
	p->max_connections = (unsigned)maxc;
	/* YAML 1.1 readers see `off` as a boolean; the scalar text is what counts here */
	if (ycfg_get_str(c, m, "http2", "auto", &s, err) < 0)
		return -1;
	p->http2 = GW_HTTP2_AUTO;
	bool known = false;
	for (size_t i = 0; i < sizeof(h2_names) / sizeof(h2_names[0]); i++)
		if (strcmp(s, h2_names[i]) == 0) {
			p->http2 = (enum gw_http2)i;
			known = true;
		}
	if (!known)
		return ycfg_error(c, ycfg_get(m, "http2"), KP(kb, at, "http2"), err,
				  "must be auto, off or prior_knowledge");
	if (p->http2 == GW_HTTP2_PRIOR_KNOWLEDGE && p->type != GW_PROVIDER_MOCK && p->url.tls)
		return ycfg_error(c, ycfg_get(m, "http2"), KP(kb, at, "http2"), err,
				  "prior_knowledge is cleartext h2c for http:// base URLs; https negotiates h2 with "
				  "auto");
	return 0;
}

/* The wire-format knobs of azure-openai (api-version) and anthropic (anthropic-version, max_tokens). */
static int load_provider_wire(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_provider *p,
			      struct err *err)
{
	const char *s;
	char kb[96];
	int64_t mt;
	if (p->type != GW_PROVIDER_AZURE && p->type != GW_PROVIDER_ANTHROPIC) {
		bool v = ycfg_get(m, "api_version") != NULL;
		const char *k = v ? "api_version" : "max_tokens";
		if (ycfg_get(m, k) != NULL)
			return ycfg_error(c, ycfg_get(m, k), KP(kb, at, k), err,
					  v ? "only for azure-openai and anthropic providers"
					    : "only for anthropic providers");
		return 0;
	}
	if (p->type == GW_PROVIDER_AZURE) {
		if (ycfg_get(m, "max_tokens") != NULL)
			return ycfg_error(c, ycfg_get(m, "max_tokens"), KP(kb, at, "max_tokens"), err,
					  "only for anthropic providers");
		if (gwc_get_required(c, m, at, "api_version", &s, err) < 0)
			return -1;
	} else if (ycfg_get_str(c, m, "api_version", "2023-06-01", &s, err) < 0 ||
		   ycfg_get_int(c, m, "max_tokens", 1, 1000000, 4096, &mt, err) < 0) {
		return -1;
	} else {
		p->max_tokens = (uint32_t)mt;
	}
	/* it goes into a query string or a header as is */
	for (const char *q = s; *q != '\0'; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
		      *q == '.' || *q == '_'))
			return ycfg_error(c, ycfg_get(m, "api_version"), KP(kb, at, "api_version"), err,
					  "use [A-Za-z0-9._-], e.g. 2024-10-21");
	p->api_version = gwc_strdup(s, err);
	return p->api_version != NULL ? 0 : -1;
}

static int load_provider(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_provider *p,
			 struct err *err)
{
	const char *name, *type, *genai;
	char kb[96];
	if (ycfg_check_keys(c, m, at, provider_keys, err) < 0 || gwc_get_required(c, m, at, "name", &name, err) < 0)
		return -1;
	if (!gwc_name_ok(name))
		return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err, "use 1-%d of [A-Za-z0-9._-]",
				  GW_NAME_MAX);
	if ((p->name = gwc_strdup(name, err)) == NULL || gwc_get_required(c, m, at, "type", &type, err) < 0)
		return -1;
	p->type = GW_PROVIDER__COUNT;
	for (int t = 0; t < GW_PROVIDER__COUNT; t++)
		if (strcmp(type, provider_types[t].type) == 0)
			p->type = (enum gw_provider_type)t;
	if (p->type == GW_PROVIDER__COUNT)
		return ycfg_error(c, ycfg_get(m, "type"), KP(kb, at, "type"), err,
				  "unknown provider type '%s' (openai, azure-openai, anthropic, gemini, mock)", type);
	if (load_provider_net(c, m, at, p, err) < 0 || load_provider_wire(c, m, at, p, err) < 0)
		return -1;
	if (ycfg_get_str(c, m, "gen_ai_provider", provider_types[p->type].genai, &genai, err) < 0)
		return -1;
	if (genai[0] == '\0' || strlen(genai) > 23)
		return ycfg_error(c, ycfg_get(m, "gen_ai_provider"), KP(kb, at, "gen_ai_provider"), err,
				  "must be 1-23 characters");
	if ((p->genai_name = gwc_strdup(genai, err)) == NULL)
		return -1;
	if (ycfg_get_duration_ms(c, m, "connect_timeout", 1, 600000, 5000, &p->connect_timeout_ms, err) < 0 ||
	    ycfg_get_duration_ms(c, m, "timeout", 1, 3600000, 60000, &p->timeout_ms, err) < 0)
		return -1;
	return load_provider_client(c, m, at, p, err);
}

static int load_providers(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "providers", err, &rc);
	if (rc < 0)
		return -1;
	g->nproviders = seq != NULL ? ycfg_len(seq) : 0;
	if (g->nproviders == 0)
		return ycfg_error(c, seq, "providers", err, "at least one provider is required");
	if ((g->providers = calloc(g->nproviders, sizeof(*g->providers))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nproviders; i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		char at[32], kb[96];
		snprintf(at, sizeof(at), "providers[%zu]", i);
		if (load_provider(c, m, at, &g->providers[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->providers[j].name, g->providers[i].name) == 0)
				return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
						  "duplicate provider name '%s'", g->providers[i].name);
	}
	return 0;
}

/* ---- entry points -------------------------------------------------------- */

static struct gw_conf *gw_conf_build(struct ycfg *y, struct err *err)
{
	struct gw_conf *g = calloc(1, sizeof(*g));
	const struct ycfg_node *root = ycfg_root(y);
	if (g == NULL) {
		err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if ((g->path = gwc_strdup(ycfg_name(y), err)) == NULL)
		goto fail;
	if (ycfg_check_keys(y, root, "", top_keys, err) < 0 || load_server(y, root, g, err) < 0 ||
	    load_admin(y, root, g, err) < 0 || load_misc(y, root, g, err) < 0 || load_providers(y, root, g, err) < 0 ||
	    gwc_load_models(y, root, g, err) < 0 || gwc_load_mcp_servers(y, root, g, err) < 0 ||
	    gwc_load_gov(y, root, g, err) < 0 || gwc_load_guard(y, root, g, err) < 0 ||
	    gwc_load_cache(y, root, g, err) < 0)
		goto fail;
	ycfg_free(y);
	return g;
fail:
	ycfg_free(y);
	gw_conf_free(g);
	return NULL;
}

struct gw_conf *gw_conf_load(const char *path, struct err *err)
{
	struct ycfg *y = ycfg_load_file(path, err);
	return y != NULL ? gw_conf_build(y, err) : NULL;
}

struct gw_conf *gw_conf_parse(const char *text, size_t len, const char *name, struct err *err)
{
	struct ycfg *y = ycfg_load_string(text, len, name, err);
	return y != NULL ? gw_conf_build(y, err) : NULL;
}

void gwc_free_secret(char *s)
{
	if (s == NULL)
		return;
	/* Do not leave the provider key in freed heap memory. */
	volatile char *p = s;
	while (*p != '\0')
		*p++ = '\0';
	free(s);
}

void gw_conf_free(struct gw_conf *c)
{
	if (c == NULL)
		return;
	gwc_free_gov(c);
	gwc_free_mcp_servers(c);
	gwc_free_guard(c);
	gwc_free_cache(c);
	for (size_t i = 0; i < c->nproviders; i++) {
		struct gw_provider *p = &c->providers[i];
		free(p->name);
		free(p->base_url);
		url_fini(&p->url);
		free(p->api_key_env);
		gwc_free_secret(p->api_key);
		free(p->genai_name);
		free(p->ca_file);
		free(p->api_version);
	}
	gwc_free_models(c);
	free(c->providers);
	free(c->spans_url);
	free(c->listen_host);
	free(c->admin_host);
	free(c->path);
	free(c);
}

/* ---- reload ------------------------------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool provider_eq(const struct gw_provider *a, const struct gw_provider *b)
{
	return str_eq(a->name, b->name) && a->type == b->type && str_eq(a->base_url, b->base_url) &&
	       str_eq(a->api_key_env, b->api_key_env) && str_eq(a->api_key, b->api_key) &&
	       str_eq(a->genai_name, b->genai_name) && a->connect_timeout_ms == b->connect_timeout_ms &&
	       a->timeout_ms == b->timeout_ms && str_eq(a->ca_file, b->ca_file) &&
	       a->first_byte_timeout_ms == b->first_byte_timeout_ms && a->idle_timeout_ms == b->idle_timeout_ms &&
	       a->pool_idle_timeout_ms == b->pool_idle_timeout_ms && a->max_connections == b->max_connections &&
	       a->http2 == b->http2 && str_eq(a->api_version, b->api_version) && a->max_tokens == b->max_tokens &&
	       a->insecure_skip_verify == b->insecure_skip_verify;
}

static bool redis_eq(const struct gw_redis *a, const struct gw_redis *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_eq(a->url, b->url) && str_eq(a->username, b->username) && str_eq(a->password, b->password) &&
	       a->timeout_ms == b->timeout_ms && a->connect_timeout_ms == b->connect_timeout_ms &&
	       a->fail_closed == b->fail_closed && str_eq(a->prefix, b->prefix);
}

int gw_conf_reloadable(const struct gw_conf *o, const struct gw_conf *n, struct err *err)
{
	if (!str_eq(o->listen_host, n->listen_host) || o->listen_port != n->listen_port || o->max_body != n->max_body ||
	    o->drain_timeout_ms != n->drain_timeout_ms || o->workers != n->workers ||
	    o->max_connections != n->max_connections || o->max_header_bytes != n->max_header_bytes ||
	    o->max_headers != n->max_headers || o->request_timeout_ms != n->request_timeout_ms ||
	    o->idle_timeout_ms != n->idle_timeout_ms || o->write_timeout_ms != n->write_timeout_ms ||
	    o->max_pending_write != n->max_pending_write)
		return err_set(err, EINVAL, "server: changed; server settings apply on restart only");
	if (!str_eq(o->admin_host, n->admin_host) || o->admin_port != n->admin_port)
		return err_set(err, EINVAL, "admin: changed; admin.listen applies on restart only");
	if (!str_eq(o->spans_url, n->spans_url) || o->spans_sndbuf != n->spans_sndbuf)
		return err_set(err, EINVAL, "telemetry: changed; telemetry settings apply on restart only");
	if (o->nproviders != n->nproviders)
		return err_set(err, EINVAL, "providers: %zu before, %zu now; providers change on restart only",
			       o->nproviders, n->nproviders);
	for (size_t i = 0; i < o->nproviders; i++)
		if (!provider_eq(&o->providers[i], &n->providers[i]))
			return err_set(err, EINVAL, "providers[%zu] ('%s'): changed; providers change on restart only",
				       i, n->providers[i].name);
	if (!redis_eq(o->redis, n->redis))
		return err_set(err, EINVAL, "redis: changed; redis settings apply on restart only");
	return gwc_cache_reloadable(o, n, err);
}
