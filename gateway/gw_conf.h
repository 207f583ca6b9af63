/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's configuration: gateway.yaml loaded through common/yamlcfg,
 * validated as a whole, and frozen into one immutable struct that every
 * worker reads without locks. Every problem is reported as
 * "file:line:col: key: reason" so main() can print it and exit 2.
 *
 * Secrets never live in the file: provider API keys are read from the
 * environment variable named by api_key_env at load time, and virtual keys
 * are stored as SHA-256 digests only.
 */
#ifndef LLMGW_GATEWAY_GW_CONF_H
#define LLMGW_GATEWAY_GW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "common/url.h"

struct guard_rule;

enum gw_provider_type {
	GW_PROVIDER_OPENAI = 0, /* and every OpenAI-compatible server */
	GW_PROVIDER_MOCK,
	GW_PROVIDER_AZURE,     /* "azure-openai" */
	GW_PROVIDER_ANTHROPIC, /* Messages API */
	GW_PROVIDER_GEMINI,    /* generateContent */
	GW_PROVIDER__COUNT
};

#define GW_WORKERS_MAX 64 /* server.workers upper bound (also for "auto") */

/* providers[].http2: how the upstream client picks HTTP/2. */
enum gw_http2 {
	GW_HTTP2_AUTO = 0,	  /* https: ALPN offers h2 and http/1.1; http: HTTP/1.1 */
	GW_HTTP2_OFF,		  /* HTTP/1.1 only */
	GW_HTTP2_PRIOR_KNOWLEDGE, /* http:// only: cleartext h2 (h2c) without negotiation */
};

/* Limits and budgets of a key or a tenant; 0 = none. */
struct gw_limits {
	uint64_t rpm;	       /* requests per minute */
	uint64_t tpm;	       /* tokens (input + output) per minute */
	int64_t daily_micro;   /* budget per UTC day, micro-USD */
	int64_t monthly_micro; /* budget per UTC month, micro-USD */
};

#define GW_TENANT_NONE SIZE_MAX

/* A tenant: every key with its tenant_id shares its limits and budgets. */
struct gw_tenant {
	char *id;
	struct gw_limits limits;
};

/*
 * keys[].mcp: the MCP servers and tools a key may use (gw_conf_mcp.c,
 * docs/mcp.md). A key without an mcp block may use no MCP server.
 */
struct gw_mcp_access {
	bool enabled;	/* the key has an mcp block */
	char **servers; /* globs of mcp_servers names */
	size_t nservers;
	char **tools; /* globs of tool names; "server/tool" globs name the server too */
	size_t ntools;
	bool all_tools; /* no tools list: every tool of the allowed servers */
};

/* A virtual key: the digest of the bearer token and who it belongs to. */
struct gw_key {
	char *name;
	uint8_t sha256[32];
	char *tenant_id; /* "" when not given */
	char *team;
	char *user;
	size_t tenant; /* index into gw_conf.tenants, GW_TENANT_NONE without tenant_id */
	char **models; /* globs of client-facing model names it may use; NULL = all */
	size_t nmodels;
	int64_t expires_at; /* unix seconds; 0 = never */
	struct gw_limits limits;
	struct gw_mcp_access mcp;
	uint64_t guards; /* keys[].guardrails: bit i = gw_conf.guards[i] (gw_conf_guard.c) */
};

/* Price of one provider model, micro-USD per million tokens. */
struct gw_price {
	size_t provider; /* index into gw_conf.providers */
	char *model;	 /* the provider's model name */
	uint64_t input;
	uint64_t output;
	uint64_t cached_input; /* = input when not given */
};

/* redis: shared limits and budgets (absent: in process only). */
struct gw_redis {
	char *url; /* as written, for logs (no password in it: that comes from password_env) */
	char *host;
	uint16_t port;
	char *unix_path; /* unix:///path instead of host:port, else NULL */
	unsigned db;
	char *username;	    /* Redis 6 ACL user, NULL for the default user */
	char *password;	    /* from $password_env; NULL when unset; never logged */
	int64_t timeout_ms; /* a reply later than this counts as Redis being down for that request */
	int64_t connect_timeout_ms;
	bool fail_closed; /* on_failure: reject (503) instead of local limits */
	char *prefix;	  /* of every key the gateway writes */
};

struct gw_provider {
	char *name;
	enum gw_provider_type type;
	char *base_url;	   /* as written ("" for mock) */
	struct url url;	   /* base_url split once at load (gw_url_parse): path without trailing '/', no query */
	char *api_key_env; /* NULL when not configured */
	char *api_key;	   /* value of $api_key_env, NULL when unset or empty; never logged */
	char *genai_name;  /* gen_ai.provider.name: gen_ai_provider or the type's default */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	char *ca_file; /* NULL: the system trust store */
	/*
	 * insecure_skip_verify: true (https only, never with ca_file): the
	 * certificate is not checked. Logged at WARN at start, on every
	 * reload and by --check-config; llmgw_upstream_tls_verify_disabled.
	 */
	bool insecure_skip_verify;
	/* upstream client (see upstream.h for what each bounds) */
	int64_t first_byte_timeout_ms; /* request sent -> response head; default timeout_ms */
	int64_t idle_timeout_ms;       /* between body pieces; 0 = off */
	int64_t pool_idle_timeout_ms;  /* an unused keep-alive connection is closed after this */
	unsigned max_connections;      /* per worker: h1 connections + h2 sessions, connecting included */
	enum gw_http2 http2;
	/*
	 * Wire-format knobs. azure-openai: api_version is the api-version
	 * query parameter (required). anthropic: api_version is the
	 * anthropic-version header (default "2023-06-01") and max_tokens the
	 * value sent when the client gave none (Anthropic requires it). NULL /
	 * 0 for the other types.
	 */
	char *api_version;
	uint32_t max_tokens;
};

/* A static header sent to an MCP server with every request. */
struct gw_mcp_header {
	char *name;
	char *value;
};

/*
 * mcp_servers[]: an MCP server (streamable HTTP transport) served at
 * /mcp/{name} (gw_conf_mcp.c, docs/mcp.md). Reloadable: requests use the
 * server list of their config generation.
 */
struct gw_mcp_server {
	char *name;
	char *url;	   /* as written */
	struct url parsed; /* url split once at load */
	char *target;	   /* request target upstream: the URL's path (or "/") and query */
	char *auth_header; /* name of the header that carries the secret ("Authorization") */
	char *auth_header_env;
	char *auth_value; /* $auth_header_env, the whole header value; NULL without; never logged */
	struct gw_mcp_header *headers;
	size_t nheaders;
	char *ca_file; /* NULL: the system trust store */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;	   /* one POST or DELETE exchange, response stream included */
	int64_t stream_timeout_ms; /* the longest a GET (server-to-client) stream stays open */
	int64_t idle_timeout_ms;   /* no bytes from the server for this long ends a response; 0 = off */
};

struct gw_target {
	size_t provider;	      /* index into gw_conf.providers */
	const struct gw_price *price; /* NULL: no price configured, the call costs nothing known */
	char *model;		      /* the provider's model name (azure-openai: the deployment) */
	char *label;		      /* "provider/model" for spans (llmgw.route.target) */
	uint32_t weight;	      /* weighted: share of traffic (default 1); 0 = only when the others failed */
	size_t index;		      /* health slot: one per distinct provider/model (0..gw_conf.ntargets-1) */
	size_t slot; /* one per target of every model (0..gw_conf.nslots-1): weighted round-robin state */
};

enum gw_strategy {
	GW_STRATEGY_WEIGHTED = 0, /* smooth weighted round robin */
	GW_STRATEGY_LEAST_LATENCY,
	GW_STRATEGY_PRIORITY, /* first healthy in config order */
};

/* When an attempt's failure moves on to another attempt (bit set). */
#define GW_RETRY_ON_429 (1u << 0)
#define GW_RETRY_ON_5XX (1u << 1)
#define GW_RETRY_ON_TIMEOUT (1u << 2)
#define GW_RETRY_ON_CONNECT (1u << 3) /* connect/TLS errors, connection reset before a response */
#define GW_RETRY_ON_ALL ((1u << 4) - 1)

struct gw_retry {
	unsigned on;		/* GW_RETRY_ON_* */
	uint32_t per_target;	/* attempts on one target before moving on (>= 1) */
	uint32_t max_attempts;	/* attempts per request in all, fallbacks included (>= 1) */
	int64_t backoff_ms;	/* before a retry on the same target; doubles each time, with jitter */
	int64_t max_backoff_ms; /* cap; a longer Retry-After moves on to the next target instead */
};

struct gw_cooldown {
	uint32_t failures; /* this many failures within window_ms... (0 = cooldown off) */
	int64_t window_ms;
	int64_t duration_ms; /* ...take the target out for this long, then let one probe through */
};

#define GW_MODEL_TARGETS_MAX 64 /* targets per model */

/* cache: the response cache (gw_conf_cache.c, docs/cache.md); restart-only. */
struct gw_cache {
	uint64_t max_bytes;	  /* in-process entries, keys and bookkeeping */
	int64_t default_ttl_ms;	  /* for models without their own ttl */
	uint64_t max_entry_bytes; /* a larger answer is not stored (also in Redis) */
	bool redis;		  /* entries in Redis (the redis: section) instead of in process */
};

/* models[].cache */
struct gw_model_cache {
	bool enabled;		     /* answers of this model are cached by default */
	int64_t ttl_ms;		     /* 0: cache.default_ttl */
	bool allow_nondeterministic; /* also cache temperature > 0 / n > 1 requests */
};

struct gw_model {
	char *name;
	struct gw_target *targets;
	size_t ntargets;
	enum gw_strategy strategy;
	struct gw_retry retry;	     /* routing.retry, overridden per model */
	struct gw_cooldown cooldown; /* routing.cooldown, overridden per model */
	size_t *fallbacks;	     /* indexes into gw_conf.models, tried in order after this model's targets */
	size_t nfallbacks;
	struct gw_model_cache cache; /* models[].cache (gw_conf_cache.c) */
	uint64_t guards;	     /* models[].guardrails: bit i = gw_conf.guards[i] (gw_conf_guard.c) */
};

struct gw_conf {
	char *path;

	/* server */
	char *listen_host; /* "127.0.0.1", "::", ... */
	uint16_t listen_port;
	uint64_t max_body;
	int64_t drain_timeout_ms;
	unsigned workers;	    /* event-loop threads; "auto" resolved at load (online CPUs, max 64) */
	uint64_t max_connections;   /* client connections in total; each worker takes ceil(total/workers) */
	uint64_t max_header_bytes;  /* request line + headers; more -> 431 */
	unsigned max_headers;	    /* header fields; more -> 431 */
	int64_t request_timeout_ms; /* first byte -> complete request; then 408 */
	int64_t idle_timeout_ms;    /* idle keep-alive connection is closed after this */
	int64_t write_timeout_ms;   /* no write progress for this long -> connection closed */
	uint64_t max_pending_write; /* queued streaming output per connection; more -> closed */

	/* admin.listen: /healthz, /readyz, /metrics there and not on listen; NULL = on listen (gateway/admin.h) */
	char *admin_host;
	uint16_t admin_port;

	/* telemetry */
	char *spans_url; /* "" = spans off */
	uint64_t spans_sndbuf;

	enum log_level log_level;

	/* governance (gw_conf_gov.c) */
	bool auth_enabled;    /* false only when the file says auth.enabled: false */
	bool allow_anonymous; /* requests without Authorization are served, with no key or tenant */
	struct gw_key *keys;
	size_t nkeys;
	struct gw_tenant *tenants; /* declared ones first, then the ones only keys name */
	size_t ntenants;
	struct gw_price *prices;
	size_t nprices;
	struct gw_redis *redis;	     /* NULL: state in process only */
	unsigned metrics_max_series; /* model x tenant label pairs in /metrics; beyond: tenant="_other" */

	struct gw_provider *providers;
	size_t nproviders;

	struct gw_model *models;
	size_t nmodels;
	size_t ntargets; /* distinct provider/model pairs (gw_target.index range) */
	size_t nslots;	 /* targets of every model (gw_target.slot range) */

	/* routing: least-latency */
	double ewma_alpha; /* weight of the newest sample (0..1] */
	double explore;	   /* share of least-latency picks that go to another target, to notice recovery */

	/* mcp_servers (gw_conf_mcp.c) */
	struct gw_mcp_server *mcp_servers;
	size_t nmcp_servers;

	/* response cache and guardrails (gw_conf_cache.c, gw_conf_guard.c) */
	struct gw_cache *cache;	   /* NULL: no response cache */
	struct guard_rule *guards; /* guardrails[] (gateway/guard.h), at most GUARD_RULES_MAX */
	size_t nguards;
};

/* Loads and validates a file. NULL with err ("file:line:col: key: reason"). */
struct gw_conf *gw_conf_load(const char *path, struct err *err);
/* Same from memory; name is used in error messages (tests, fuzzing). */
struct gw_conf *gw_conf_parse(const char *text, size_t len, const char *name, struct err *err);
/* Frees everything including the api_key copies; NULL is a no-op. */
void gw_conf_free(struct gw_conf *c);

/* Exact-match lookup of a client-facing model name; NULL when unknown. */
const struct gw_model *gw_conf_find_model(const struct gw_conf *c, const char *name);

/* Exact-match lookup of an MCP server by name; NULL when unknown. */
const struct gw_mcp_server *gw_conf_find_mcp_server(const struct gw_conf *c, const char *name);

/* True when key k may use the client-facing model name (its globs; all when it has none). */
bool gw_key_allows(const struct gw_key *k, const char *model);

/*
 * Why a new config cannot replace the running one by reload (SIGHUP): the
 * sections a reload does not apply (server, telemetry, providers, redis)
 * differ. 0 when they are equal; -1 with err naming the first difference.
 */
int gw_conf_reloadable(const struct gw_conf *old, const struct gw_conf *neu, struct err *err);

/* "openai", "mock", "azure-openai", "anthropic", "gemini"; NULL out of range. */
const char *gw_provider_type_name(enum gw_provider_type t);

/*
 * A provider base_url: url_parse() plus the gateway's policy on top. The
 * path has its trailing '/' removed ("" for the root) so request paths can
 * be appended; a query is refused (there is nowhere to keep it). Free u
 * with url_fini(). Exposed for unit tests.
 */
int gw_url_parse(const char *s, struct url *u, struct err *err);

#endif
