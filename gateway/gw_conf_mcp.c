/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MCP half of gateway.yaml: `mcp_servers[]` (where each MCP server
 * lives, how the gateway authenticates to it, its timeouts) and the `mcp`
 * block of a virtual key (which servers and tools that key may use).
 *
 * Secrets follow the providers' rule: the credential the gateway presents
 * to a server is read from the environment variable auth_header_env names,
 * never from the file, and well-known credential headers are refused in
 * the static `headers` map so a token cannot slip into the file that way.
 * A key's exact server names must exist (a typo would silently grant
 * nothing); globs may match none yet (servers come and go by reload).
 * Everything here is reloadable: a request reads the servers of its own
 * config generation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gateway/gw_conf_int.h"

#define MCP_SERVERS_MAX 256
#define MCP_HEADERS_MAX 32
#define MCP_HEADER_VALUE_MAX 4096
#define MCP_TOOL_GLOB_MAX 192

static const char *const server_keys[] = {"name",
					  "url",
					  "auth_header",
					  "auth_header_env",
					  "headers",
					  "ca_file",
					  "connect_timeout",
					  "timeout",
					  "stream_timeout",
					  "idle_timeout",
					  NULL};
static const char *const key_mcp_keys[] = {"servers", "tools", NULL};

/* Headers the gateway sets or that belong to one hop: never from the config. */
static const char *const reserved_headers[] = {
    "host",	     "content-length", "content-type",	   "transfer-encoding",
    "connection",    "keep-alive",     "proxy-connection", "te",
    "trailer",	     "upgrade",	       "expect",	   "traceparent",
    "tracestate",    "x-request-id",   "mcp-session-id",   "mcp-protocol-version",
    "last-event-id", "accept",	       "accept-encoding",
};

/* Credentials: they come from the environment (auth_header_env), never from the file. */
static const char *const secret_headers[] = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

/* An HTTP field name: 1-64 token characters (RFC 9110 5.6.2). */
static bool header_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL)
			return false;
	}
	return true;
}

static bool header_value_ok(const char *s)
{
	return strlen(s) <= MCP_HEADER_VALUE_MAX && strpbrk(s, "\r\n") == NULL;
}

/* A server name or a glob of them: [A-Za-z0-9._-] plus '*' and '?'. */
static bool server_glob_ok(const char *s, size_t n)
{
	if (n == 0 || n > GW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_' || ch == '.' || ch == '*' || ch == '?';
		if (!ok)
			return false;
	}
	return true;
}

static bool has_wildcard(const char *s, size_t n)
{
	return memchr(s, '*', n) != NULL || memchr(s, '?', n) != NULL;
}

static bool server_known(const struct gw_conf *g, const char *s, size_t n)
{
	for (size_t i = 0; i < g->nmcp_servers; i++)
		if (strlen(g->mcp_servers[i].name) == n && memcmp(g->mcp_servers[i].name, s, n) == 0)
			return true;
	return false;
}

const struct gw_mcp_server *gw_conf_find_mcp_server(const struct gw_conf *c, const char *name)
{
	/* Linear: a handful of servers per gateway. */
	for (size_t i = 0; i < c->nmcp_servers; i++)
		if (strcmp(c->mcp_servers[i].name, name) == 0)
			return &c->mcp_servers[i];
	return NULL;
}

/* ---- mcp_servers[] -------------------------------------------------------------------------- */

static int load_url(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_mcp_server *s,
		    struct err *err)
{
	const char *url;
	struct err e2;
	char kb[96];
	if (gwc_get_required(c, m, at, "url", &url, err) < 0)
		return -1;
	if (url_parse(url, &s->parsed, &e2) < 0)
		return ycfg_error(c, ycfg_get(m, "url"), KP(kb, at, "url"), err, "%s%s", e2.msg,
				  e2.code == EPERM ? "; put the credential in the variable auth_header_env names" : "");
	const char *path = s->parsed.path[0] != '\0' ? s->parsed.path : "/";
	size_t n = strlen(path) + (s->parsed.query != NULL ? strlen(s->parsed.query) + 1 : 0) + 1;
	if ((s->url = gwc_strdup(url, err)) == NULL)
		return -1;
	if ((s->target = malloc(n)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	snprintf(s->target, n, "%s%s%s", path, s->parsed.query != NULL ? "?" : "",
		 s->parsed.query != NULL ? s->parsed.query : "");
	return 0;
}

/* auth_header (the name) and auth_header_env (the variable holding the whole value). */
static int load_auth(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_mcp_server *s,
		     struct err *err)
{
	const char *name, *env;
	char kb[96];
	if (ycfg_get_str(c, m, "auth_header", "Authorization", &name, err) < 0 ||
	    ycfg_get_str(c, m, "auth_header_env", "", &env, err) < 0)
		return -1;
	if (!header_name_ok(name) || in_list(name, reserved_headers, sizeof(reserved_headers) / sizeof(char *)))
		return ycfg_error(c, ycfg_get(m, "auth_header"), KP(kb, at, "auth_header"), err,
				  "must be a header name the gateway does not set itself, e.g. Authorization");
	if ((s->auth_header = gwc_strdup(name, err)) == NULL)
		return -1;
	if (env[0] == '\0') {
		if (ycfg_get(m, "auth_header") != NULL)
			return ycfg_error(c, ycfg_get(m, "auth_header"), KP(kb, at, "auth_header"), err,
					  "needs auth_header_env (the variable holding the header's value)");
		return 0;
	}
	const char *v = getenv(env);
	if ((s->auth_header_env = gwc_strdup(env, err)) == NULL)
		return -1;
	if (v == NULL || v[0] == '\0')
		return ycfg_error(c, ycfg_get(m, "auth_header_env"), KP(kb, at, "auth_header_env"), err,
				  "$%s is unset or empty", env);
	if (strpbrk(v, "\r\n") != NULL)
		return ycfg_error(c, ycfg_get(m, "auth_header_env"), KP(kb, at, "auth_header_env"), err,
				  "$%s contains a line break", env);
	s->auth_value = gwc_strdup(v, err);
	return s->auth_value != NULL ? 0 : -1;
}

/* headers: {Name: value}: static, non-secret headers sent with every request. */
static int load_headers(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_mcp_server *s,
			struct err *err)
{
	const struct ycfg_node *h = ycfg_get(m, "headers");
	char kb[96];
	KP(kb, at, "headers");
	if (h == NULL)
		return 0;
	if (ycfg_type(h) != YCFG_MAP)
		return ycfg_error(c, h, kb, err, "must be a mapping of header names to values");
	if (ycfg_len(h) > MCP_HEADERS_MAX)
		return ycfg_error(c, h, kb, err, "at most %d headers", MCP_HEADERS_MAX);
	if (ycfg_len(h) > 0 && (s->headers = calloc(ycfg_len(h), sizeof(*s->headers))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(h); i++) {
		const char *name = ycfg_key_at(h, i), *value = ycfg_scalar(ycfg_at(h, i));
		if (!header_name_ok(name) || in_list(name, reserved_headers, sizeof(reserved_headers) / sizeof(char *)))
			return ycfg_error(c, ycfg_at(h, i), kb, err, "'%.64s' is not a header the config may set",
					  name);
		if (in_list(name, secret_headers, sizeof(secret_headers) / sizeof(char *)) ||
		    strcasecmp(name, s->auth_header) == 0)
			return ycfg_error(c, ycfg_at(h, i), kb, err,
					  "'%s' carries a credential: use auth_header and auth_header_env (secrets "
					  "come from the environment)",
					  name);
		if (value == NULL || !header_value_ok(value))
			return ycfg_error(c, ycfg_at(h, i), kb, err,
					  "the value of '%s' must be a string without line breaks (at most %d bytes)",
					  name, MCP_HEADER_VALUE_MAX);
		for (size_t j = 0; j < s->nheaders; j++)
			if (strcasecmp(s->headers[j].name, name) == 0)
				return ycfg_error(c, ycfg_at(h, i), kb, err, "'%s' is given twice", name);
		struct gw_mcp_header *x = &s->headers[s->nheaders];
		if ((x->name = gwc_strdup(name, err)) == NULL || (x->value = gwc_strdup(value, err)) == NULL)
			return -1;
		s->nheaders++;
	}
	return 0;
}

static int load_timeouts(const struct ycfg *c, const struct ycfg_node *m, struct gw_mcp_server *s, struct err *err)
{
	const int64_t day = 24 * 3600 * 1000;
	return ycfg_get_duration_ms(c, m, "connect_timeout", 1, 600000, 5000, &s->connect_timeout_ms, err) < 0 ||
		       ycfg_get_duration_ms(c, m, "timeout", 1, 3600000, 60000, &s->timeout_ms, err) < 0 ||
		       ycfg_get_duration_ms(c, m, "stream_timeout", 1000, day, 3600000, &s->stream_timeout_ms, err) <
			   0 ||
		       ycfg_get_duration_ms(c, m, "idle_timeout", 0, day, 300000, &s->idle_timeout_ms, err) < 0
		   ? -1
		   : 0;
}

static int load_server(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct gw_mcp_server *s,
		       struct err *err)
{
	const char *name, *ca;
	char kb[96];
	if (ycfg_check_keys(c, m, at, server_keys, err) < 0 || gwc_get_required(c, m, at, "name", &name, err) < 0)
		return -1;
	if (!gwc_name_ok(name))
		return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
				  "use 1-%d of [A-Za-z0-9._-] (it is the path /mcp/{name})", GW_NAME_MAX);
	if ((s->name = gwc_strdup(name, err)) == NULL || load_url(c, m, at, s, err) < 0 ||
	    load_auth(c, m, at, s, err) < 0 || load_headers(c, m, at, s, err) < 0 || load_timeouts(c, m, s, err) < 0)
		return -1;
	if (ycfg_get_str(c, m, "ca_file", "", &ca, err) < 0)
		return -1;
	if (ca[0] == '\0')
		return 0;
	if (!s->parsed.tls)
		return ycfg_error(c, ycfg_get(m, "ca_file"), KP(kb, at, "ca_file"), err, "only for https:// URLs");
	if (access(ca, R_OK) != 0)
		return ycfg_error(c, ycfg_get(m, "ca_file"), KP(kb, at, "ca_file"), err, "cannot read %s: %s", ca,
				  strerror(errno));
	s->ca_file = gwc_strdup(ca, err);
	return s->ca_file != NULL ? 0 : -1;
}

int gwc_load_mcp_servers(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "mcp_servers", err, &rc);
	if (rc < 0 || seq == NULL || ycfg_len(seq) == 0)
		return rc;
	if (ycfg_len(seq) > MCP_SERVERS_MAX)
		return ycfg_error(c, seq, "mcp_servers", err, "at most %d servers", MCP_SERVERS_MAX);
	if ((g->mcp_servers = calloc(ycfg_len(seq), sizeof(*g->mcp_servers))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		char at[40], kb[96];
		snprintf(at, sizeof(at), "mcp_servers[%zu]", i);
		/* counted first: gwc_free_mcp_servers frees a half-loaded entry too */
		g->nmcp_servers++;
		if (load_server(c, m, at, &g->mcp_servers[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->mcp_servers[j].name, g->mcp_servers[i].name) == 0)
				return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
						  "duplicate MCP server name '%s'", g->mcp_servers[i].name);
	}
	return 0;
}

void gwc_free_mcp_servers(struct gw_conf *g)
{
	for (size_t i = 0; i < g->nmcp_servers; i++) {
		struct gw_mcp_server *s = &g->mcp_servers[i];
		free(s->name);
		free(s->url);
		url_fini(&s->parsed);
		free(s->target);
		free(s->auth_header);
		free(s->auth_header_env);
		gwc_free_secret(s->auth_value);
		for (size_t j = 0; j < s->nheaders; j++) {
			free(s->headers[j].name);
			free(s->headers[j].value);
		}
		free(s->headers);
		free(s->ca_file);
	}
	free(g->mcp_servers);
	g->mcp_servers = NULL;
	g->nmcp_servers = 0;
}

/* ---- keys[].mcp ------------------------------------------------------------------------------ */

/* A server glob; an exact name must be a configured server. */
static int check_server_glob(const struct ycfg *c, const struct ycfg_node *n, const char *key, const struct gw_conf *g,
			     const char *s, size_t len, struct err *err)
{
	if (!server_glob_ok(s, len))
		return ycfg_error(c, n, key, err, "server names and globs use 1-%d of [A-Za-z0-9._-*?]", GW_NAME_MAX);
	if (!has_wildcard(s, len) && !server_known(g, s, len))
		return ycfg_error(c, n, key, err, "unknown MCP server '%.*s' (not in mcp_servers)", (int)len, s);
	return 0;
}

/* A tool glob: printable, no spaces or quotes; "server/tool" names the server as well. */
static int check_tool_glob(const struct ycfg *c, const struct ycfg_node *n, const char *key, const struct gw_conf *g,
			   const char *s, struct err *err)
{
	size_t len = strlen(s);
	const char *slash = strchr(s, '/');
	if (len == 0 || len > MCP_TOOL_GLOB_MAX || !gwc_model_name_ok(s))
		return ycfg_error(c, n, key, err,
				  "tool names and globs are 1-%d printable characters without spaces or quotes",
				  MCP_TOOL_GLOB_MAX);
	if (slash == NULL)
		return 0;
	if (strchr(slash + 1, '/') != NULL || slash[1] == '\0')
		return ycfg_error(c, n, key, err, "use 'tool' or 'server/tool' (one '/')");
	return check_server_glob(c, n, key, g, s, (size_t)(slash - s), err);
}

/* A list of strings into *out (owned), each checked by the caller's rule. */
static int load_globs(const struct ycfg *c, const struct ycfg_node *seq, const char *key, const struct gw_conf *g,
		      bool tools, char ***out, size_t *n, struct err *err)
{
	if ((*out = calloc(ycfg_len(seq) > 0 ? ycfg_len(seq) : 1, sizeof(**out))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const struct ycfg_node *e = ycfg_at(seq, i);
		const char *s = ycfg_scalar(e);
		if (s == NULL)
			return ycfg_error(c, e, key, err, "entries are names or globs");
		if ((tools ? check_tool_glob(c, e, key, g, s, err)
			   : check_server_glob(c, e, key, g, s, strlen(s), err)) < 0)
			return -1;
		if (((*out)[i] = gwc_strdup(s, err)) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

int gwc_load_key_mcp(const struct ycfg *c, const struct ycfg_node *key, const char *at, const struct gw_conf *g,
		     struct gw_key *k, struct err *err)
{
	const struct ycfg_node *m = ycfg_get(key, "mcp"), *seq;
	char kb[96], kt[128];
	int rc;
	if (m == NULL)
		return 0; /* no MCP access: deny by default */
	KP(kb, at, "mcp");
	if (ycfg_type(m) != YCFG_MAP)
		return ycfg_error(c, m, kb, err, "must be a mapping {servers: [...], tools: [...]}");
	if (ycfg_check_keys(c, m, kb, key_mcp_keys, err) < 0)
		return -1;
	k->mcp.enabled = true;
	seq = gwc_get_seq(c, m, "servers", err, &rc);
	KP(kt, kb, "servers");
	if (rc < 0)
		return -1;
	if (seq == NULL || ycfg_len(seq) == 0)
		return ycfg_error(c, seq != NULL ? seq : m, kt, err,
				  "list the MCP servers the key may use (names or globs; leave mcp out for none)");
	if (load_globs(c, seq, kt, g, false, &k->mcp.servers, &k->mcp.nservers, err) < 0)
		return -1;
	seq = gwc_get_seq(c, m, "tools", err, &rc);
	KP(kt, kb, "tools");
	if (rc < 0)
		return -1;
	if (seq == NULL) {
		k->mcp.all_tools = true; /* every tool of the servers above */
		return 0;
	}
	/* an empty list is allowed: the key may list tools and use the rest of MCP, but call none */
	return load_globs(c, seq, kt, g, true, &k->mcp.tools, &k->mcp.ntools, err);
}

void gwc_free_key_mcp(struct gw_key *k)
{
	for (size_t i = 0; i < k->mcp.nservers; i++)
		free(k->mcp.servers[i]);
	free(k->mcp.servers);
	for (size_t i = 0; i < k->mcp.ntools; i++)
		free(k->mcp.tools[i]);
	free(k->mcp.tools);
	memset(&k->mcp, 0, sizeof(k->mcp));
}
