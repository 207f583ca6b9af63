/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTEL_* environment overlay for the exporter configuration.
 *
 * Precedence follows the OpenTelemetry specification: the per-signal
 * variable (OTEL_EXPORTER_OTLP_TRACES_X) beats the generic one
 * (OTEL_EXPORTER_OTLP_X), and both beat exporter.yaml. The endpoint rules
 * differ on purpose: TRACES_ENDPOINT is used as-is, the generic ENDPOINT is
 * a base URL with "/v1/traces" appended.
 *
 * Headers from the environment are merged over the file's headers by name
 * (case-insensitively), so a file can carry static headers and the
 * Deployment inject the secret one. Their values are never quoted in errors.
 */
#include "exporter/ex_env.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ENV_PREFIX "OTEL_EXPORTER_OTLP_"
#define ENV_TRACES_PREFIX "OTEL_EXPORTER_OTLP_TRACES_"

/* Static names so ex_conf.endpoint_from can point at them. */
static const char ex_env_var_traces_endpoint[] = ENV_TRACES_PREFIX "ENDPOINT";
static const char ex_env_var_endpoint[] = ENV_PREFIX "ENDPOINT";

static const char *ex_env_default_get(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

struct ex_env {
	ex_getenv_cb get;
	void *ctx;
};

/* Value of name, NULL when unset or empty (spec: empty means unset). */
static const char *ex_env_raw(const struct ex_env *env, const char *name)
{
	const char *v = env->get(env->ctx, name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * The per-signal variable if set, else the generic one. The name that was
 * looked up last is copied to which (64 bytes), for error messages.
 */
static const char *ex_env_pick(const struct ex_env *env, const char *suffix, char *which)
{
	char name[64];
	snprintf(name, sizeof(name), ENV_TRACES_PREFIX "%s", suffix);
	const char *v = ex_env_raw(env, name);
	if (v == NULL) {
		snprintf(name, sizeof(name), ENV_PREFIX "%s", suffix);
		v = ex_env_raw(env, name);
	}
	memcpy(which, name, sizeof(name));
	return v;
}

char *ex_env_join_traces_path(const char *base)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	size_t sz = n + sizeof("/v1/traces");
	char *out = malloc(sz);
	if (out == NULL)
		return NULL;
	snprintf(out, sz, "%.*s/v1/traces", (int)n, base);
	return out;
}

static int ex_env_endpoint(struct ex_conf *c, const struct ex_env *env, struct err *err)
{
	struct err e;
	const char *v = ex_env_raw(env, ex_env_var_traces_endpoint);
	if (v != NULL) {
		if (ex_conf_endpoint_parse(&c->endpoint, v, &e) != 0)
			return err_set(err, EINVAL, "env %s: %s", ex_env_var_traces_endpoint, e.msg);
		c->endpoint_from = ex_env_var_traces_endpoint;
		return 0;
	}
	v = ex_env_raw(env, ex_env_var_endpoint);
	if (v == NULL)
		return 0;
	char *joined = ex_env_join_traces_path(v);
	if (joined == NULL)
		return err_set(err, ENOMEM, "out of memory");
	int rc = ex_conf_endpoint_parse(&c->endpoint, joined, &e);
	free(joined);
	if (rc != 0)
		return err_set(err, EINVAL, "env %s: %s", ex_env_var_endpoint, e.msg);
	if (c->endpoint.kind != EX_SINK_HTTP)
		return err_set(err, EINVAL, "env %s: must be an http:// or https:// base URL", ex_env_var_endpoint);
	c->endpoint_from = ex_env_var_endpoint;
	return 0;
}

static int ex_env_headers(struct ex_conf *c, const struct ex_env *env, struct err *err)
{
	char which[64];
	const char *v = ex_env_pick(env, "HEADERS", which);
	struct kvlist h;
	struct err e;
	int rc = -1;
	if (v == NULL)
		return 0;
	kvlist_init(&h);
	if (kvlist_parse(v, KVLIST_ICASE, &h, &e) != 0) {
		err_set(err, EINVAL, "env %s: %s", which, e.msg);
		goto out;
	}
	for (size_t i = 0; i < h.n; i++) {
		if (ex_conf_header_check(h.items[i].key, h.items[i].value, &e) != 0) {
			err_set(err, EINVAL, "env %s: %s", which, e.msg);
			goto out;
		}
	}
	if (kvlist_merge(&c->headers, &h, true) != 0) {
		err_set(err, ENOSPC, "env %s: too many headers", which);
		goto out;
	}
	rc = 0;
out:
	kvlist_fini(&h);
	return rc;
}

static int ex_env_scalars(struct ex_conf *c, const struct ex_env *env, struct err *err)
{
	char which[64];
	const char *v;
	if ((v = ex_env_pick(env, "COMPRESSION", which)) != NULL) {
		if (strcmp(v, "gzip") == 0)
			c->compression = EX_COMP_GZIP;
		else if (strcmp(v, "none") == 0)
			c->compression = EX_COMP_NONE;
		else
			return err_set(err, EINVAL, "env %s: want gzip or none", which);
	}
	if ((v = ex_env_pick(env, "TIMEOUT", which)) != NULL) {
		char *end;
		errno = 0;
		long long ms = strtoll(v, &end, 10);
		if (errno != 0 || *end != '\0' || end == v || ms < 0 || ms > 3600000)
			return err_set(err, EINVAL, "env %s: want integer milliseconds 0..3600000 (0 = no limit)",
				       which);
		c->timeout_ms = ms;
	}
	if ((v = ex_env_pick(env, "PROTOCOL", which)) != NULL) {
		if (strcmp(v, "http/protobuf") == 0)
			c->protocol = EX_PROTO_PROTOBUF;
		else if (strcmp(v, "http/json") == 0)
			c->protocol = EX_PROTO_JSON;
		else if (strcmp(v, "grpc") == 0)
			return err_set(err, EINVAL,
				       "env %s: grpc is not supported (llmgw-exporter speaks OTLP/HTTP): "
				       "use http/protobuf or http/json",
				       which);
		else
			return err_set(err, EINVAL, "env %s: want http/protobuf or http/json", which);
	}
	if ((v = ex_env_pick(env, "CERTIFICATE", which)) != NULL) {
		struct err e;
		if (ex_conf_file_check(v, &e) != 0)
			return err_set(err, EINVAL, "env %s: %s", which, e.msg);
		char *n = strdup(v);
		if (n == NULL)
			return err_set(err, ENOMEM, "out of memory");
		free(c->ca_file);
		c->ca_file = n;
	}
	return 0;
}

static int ex_env_resource(struct ex_conf *c, const struct ex_env *env, struct err *err)
{
	const char *ra = ex_env_raw(env, "OTEL_RESOURCE_ATTRIBUTES");
	const char *sn = ex_env_raw(env, "OTEL_SERVICE_NAME");
	/* Parsed (and, if malformed, discarded with a log line) by enrich, as the resource SDK spec says. */
	if (ra != NULL && (c->env_resource_attributes = strdup(ra)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (sn != NULL && (c->env_service_name = strdup(sn)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE / CLIENT_KEY: mTLS, both or neither once overlaid. */
static int ex_env_client_tls(struct ex_conf *c, struct ex_env *env, struct err *err)
{
	static const struct {
		const char *what;
		size_t off;
	} vars[] = {{"CLIENT_CERTIFICATE", offsetof(struct ex_conf, client_cert)},
		    {"CLIENT_KEY", offsetof(struct ex_conf, client_key)}};
	char which[64];
	struct err e;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = ex_env_pick(env, vars[i].what, which);
		char **dst = (char **)(void *)((char *)c + vars[i].off);
		if (v == NULL)
			continue;
		if (ex_conf_file_check(v, &e) != 0)
			return err_set(err, EINVAL, "env %s: %s", which, e.msg);
		free(*dst);
		if ((*dst = strdup(v)) == NULL)
			return err_set(err, ENOMEM, "out of memory");
	}
	if ((c->client_cert == NULL) != (c->client_key == NULL))
		return err_set(err, EINVAL, "mTLS needs both a client certificate and a client key (%s)",
			       c->client_cert == NULL ? "no certificate" : "no key");
	return 0;
}

int ex_env_overlay(struct ex_conf *c, ex_getenv_cb getenv_cb, void *ctx, struct err *err)
{
	struct ex_env env = {getenv_cb ? getenv_cb : ex_env_default_get, ctx};
	if (ex_env_endpoint(c, &env, err) != 0 || ex_env_headers(c, &env, err) != 0 ||
	    ex_env_scalars(c, &env, err) != 0 || ex_env_resource(c, &env, err) != 0)
		return -1;
	return ex_env_client_tls(c, &env, err);
}
