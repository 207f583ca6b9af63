/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exporter.yaml: defaults -> file (via common/yamlcfg) -> OTEL_* overlay
 * (ex_env.c) -> validation -> immutable struct ex_conf.
 *
 * The schema is the list of allowed keys per section plus one parse
 * function per section. Unknown keys are errors so a typo ("endpiont")
 * fails loudly at start-up instead of silently exporting to the default.
 * Values are checked where they are read, so errors carry the file
 * position; the few cross-field rules run at the end. The exporter's
 * configuration is tiny, so a table of bindings would be more machinery
 * than the straight-line code it replaces.
 */
#include "exporter/ex_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/yamlcfg.h"
#include "exporter/compress.h"
#include "exporter/ex_env.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)
#define HOUR_MS (3600ll * 1000)

static const char *const ex_top_keys[] = {"receive", "export",	      "batch", "resource", "queue",
					  "admin",   "drain_timeout", "log",   NULL};
static const char *const ex_receive_keys[] = {"url", "rcvbuf", NULL};
static const char *const ex_export_keys[] = {"endpoint",
					     "protocol",
					     "compression",
					     "compression_level",
					     "timeout",
					     "headers",
					     "ca_file",
					     "retry",
					     "max_pending",
					     "max_pending_bytes",
					     "concurrency",
					     "client_cert",
					     "client_key",
					     "http2",
					     "insecure_skip_verify",
					     NULL};
static const char *const ex_queue_keys[] = {"dir", "max_bytes", "segment_bytes", "fsync", NULL};
static const char *const ex_retry_keys[] = {"initial", "max", "max_elapsed", NULL};
static const char *const ex_batch_keys[] = {"max_spans", "max_bytes", "timeout", NULL};
static const char *const ex_resource_keys[] = {"service_name", "attributes", NULL};
static const char *const ex_admin_keys[] = {"listen", "ready_queue_percent", "ready_failing_for", NULL};
static const char *const ex_log_keys[] = {"level", NULL};

/* ---- endpoint ------------------------------------------------------------- */

void ex_endpoint_fini(struct ex_endpoint *ep)
{
	free(ep->url);
	url_fini(&ep->http);
	free(ep->target);
	free(ep->file_path);
	memset(ep, 0, sizeof(*ep));
}

/* url_parse() plus the exporter's policy: hints that name the exporter's alternatives, OTLP's empty path. */
static int ex_endpoint_http(struct ex_endpoint *ep, const char *s, struct err *err)
{
	struct err e;
	if (url_parse(s, &ep->http, &e) != 0) {
		if (e.code == EPROTONOSUPPORT)
			return err_set(err, e.code, "%s (or use stdout / file:PATH)", e.msg);
		if (e.code == EPERM)
			return err_set(err, e.code, "%s; use export.headers", e.msg);
		return err_set(err, e.code, "%s", e.msg);
	}
	ep->kind = EX_SINK_HTTP;
	const char *path = ep->http.path, *query = ep->http.query;
	size_t tlen = strlen(path) + (query != NULL ? strlen(query) + 1 : 0) + 2;
	if ((ep->target = malloc(tlen)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	/* OTLP spec: an empty path is "/" (the variable is used as-is otherwise). */
	snprintf(ep->target, tlen, "%s%s%s", path[0] != '\0' ? path : "/", query != NULL ? "?" : "",
		 query != NULL ? query : "");
	return 0;
}

int ex_conf_endpoint_parse(struct ex_endpoint *ep, const char *s, struct err *err)
{
	struct ex_endpoint n;
	memset(&n, 0, sizeof(n));
	if (s == NULL || s[0] == '\0')
		return err_set(err, EINVAL, "empty endpoint");
	if (strcmp(s, "stdout") == 0) {
		n.kind = EX_SINK_STDOUT;
	} else if (strncmp(s, "file:", 5) == 0) {
		if (s[5] == '\0')
			return err_set(err, EINVAL, "file: needs a path (file:/var/log/spans.jsonl)");
		n.kind = EX_SINK_FILE;
		n.file_path = strdup(s + 5);
		if (n.file_path == NULL)
			return err_set(err, ENOMEM, "out of memory");
	} else if (ex_endpoint_http(&n, s, err) != 0) {
		ex_endpoint_fini(&n);
		return -1;
	}
	if (n.url == NULL && (n.url = strdup(s)) == NULL) {
		ex_endpoint_fini(&n);
		return err_set(err, ENOMEM, "out of memory");
	}
	ex_endpoint_fini(ep);
	*ep = n;
	return 0;
}

/* ---- checks shared with the env overlay ------------------------------------ */

static bool ex_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int ex_conf_header_check(const char *name, const char *value, struct err *err)
{
	/* The exporter owns the framing headers; letting config override them breaks the request. */
	static const char *const reserved[] = {
	    "Content-Type", "Content-Encoding", "Content-Length", "Host", "Transfer-Encoding", "Connection", NULL};
	if (name[0] == '\0')
		return err_set(err, EINVAL, "empty header name");
	for (const char *p = name; *p; p++) {
		if (!ex_tchar((unsigned char)*p))
			return err_set(err, EINVAL, "header name \"%.64s\" is not an HTTP token", name);
	}
	for (size_t i = 0; reserved[i]; i++) {
		if (strcasecmp(name, reserved[i]) == 0)
			return err_set(err, EINVAL, "header %s is set by the exporter and cannot be configured", name);
	}
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return err_set(err, EINVAL, "value of header %.64s contains a control character", name);
	}
	return 0;
}

int ex_conf_file_check(const char *path, struct err *err)
{
	if (access(path, R_OK) != 0)
		return err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
	return 0;
}

/* ---- sections ------------------------------------------------------------- */

static int ex_set_str(char **dst, const char *v, struct err *err)
{
	char *n = strdup(v);
	if (n == NULL)
		return err_set(err, ENOMEM, "out of memory");
	free(*dst);
	*dst = n;
	return 0;
}

static int ex_parse_receive(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	const char *url;
	if (ycfg_check_keys(y, m, "receive", ex_receive_keys, err) != 0)
		return -1;
	if (ycfg_get_str(y, m, "url", c->receive_url, &url, err) != 0 ||
	    ycfg_get_size(y, m, "rcvbuf", 4096, 256 * MiB, c->rcvbuf, &c->rcvbuf, err) != 0)
		return -1;
	if ((strncmp(url, "ipc://", 6) != 0 || url[6] == '\0') && (strncmp(url, "tcp://", 6) != 0 || url[6] == '\0'))
		return ycfg_error(y, ycfg_get(m, "url"), "url", err, "want ipc://PATH or tcp://HOST:PORT");
	return ex_set_str(&c->receive_url, url, err);
}

static int ex_parse_headers(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *h, struct err *err)
{
	if (h == NULL)
		return 0;
	if (ycfg_type(h) != YCFG_MAP)
		return ycfg_error(y, h, "headers", err, "must be a mapping of header name to value");
	for (size_t i = 0; i < ycfg_len(h); i++) {
		const char *name = ycfg_key_at(h, i);
		const struct ycfg_node *vn = ycfg_at(h, i);
		const char *v = ycfg_scalar(vn);
		struct err e;
		if (v == NULL)
			return ycfg_error(y, vn, name, err, "header value must be a string");
		if (ex_conf_header_check(name, v, &e) != 0)
			return ycfg_error(y, vn, name, err, "%s", e.msg);
		if (kvlist_set(&c->headers, name, v, true) != 0)
			return ycfg_error(y, vn, name, err, "too many headers (max %d)", KVLIST_MAX);
	}
	return 0;
}

static int ex_parse_retry(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	if (m == NULL)
		return 0;
	if (ycfg_check_keys(y, m, "retry", ex_retry_keys, err) != 0)
		return -1;
	if (ycfg_get_duration_ms(y, m, "initial", 1, HOUR_MS, c->retry_initial_ms, &c->retry_initial_ms, err) != 0 ||
	    ycfg_get_duration_ms(y, m, "max", 1, HOUR_MS, c->retry_max_ms, &c->retry_max_ms, err) != 0 ||
	    ycfg_get_duration_ms(y, m, "max_elapsed", 0, 24 * HOUR_MS, c->retry_max_elapsed_ms,
				 &c->retry_max_elapsed_ms, err) != 0)
		return -1;
	if (c->retry_max_ms < c->retry_initial_ms)
		return ycfg_error(y, m, "retry", err, "max (%lldms) must not be below initial (%lldms)",
				  (long long)c->retry_max_ms, (long long)c->retry_initial_ms);
	return 0;
}

static int ex_parse_enum(const struct ycfg *y, const struct ycfg_node *m, const char *key, const char *a, const char *b,
			 int *out, struct err *err)
{
	const char *v;
	if (ycfg_get_str(y, m, key, NULL, &v, err) != 0)
		return -1;
	if (v == NULL)
		return 0;
	if (strcmp(v, a) == 0)
		*out = 0;
	else if (strcmp(v, b) == 0)
		*out = 1;
	else if (strcmp(key, "protocol") == 0 && strcmp(v, "grpc") == 0)
		return ycfg_error(y, ycfg_get(m, key), key, err, "grpc is not supported (OTLP/HTTP only): use %s or %s",
				  a, b);
	else
		return ycfg_error(y, ycfg_get(m, key), key, err, "want %s or %s", a, b);
	return 0;
}

/* An optional readable file path at key into *out (NULL when absent or ""). */
static int ex_parse_file(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, const char *key,
			 char **out, struct err *err)
{
	const char *v;
	struct err e;
	(void)c;
	if (ycfg_get_str(y, m, key, "", &v, err) != 0)
		return -1;
	if (v[0] == '\0')
		return 0;
	if (ex_conf_file_check(v, &e) != 0)
		return ycfg_error(y, ycfg_get(m, key), key, err, "%s", e.msg);
	return ex_set_str(out, v, err);
}

static int ex_parse_export(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	int n2 = c->http2 ? 1 : 0; /* export.http2 absent: keep the default (auto) */
	const char *ep, *ca;
	int proto = (int)c->protocol, comp = (int)c->compression;
	int64_t n;
	struct err e;
	if (ycfg_check_keys(y, m, "export", ex_export_keys, err) != 0)
		return -1;
	if (ycfg_get_str(y, m, "endpoint", NULL, &ep, err) != 0)
		return -1;
	if (ep != NULL) {
		if (ex_conf_endpoint_parse(&c->endpoint, ep, &e) != 0)
			return ycfg_error(y, ycfg_get(m, "endpoint"), "endpoint", err, "%s", e.msg);
		c->endpoint_from = "file";
	}
	if (ex_parse_enum(y, m, "protocol", "http/protobuf", "http/json", &proto, err) != 0 ||
	    ex_parse_enum(y, m, "compression", "none", "gzip", &comp, err) != 0)
		return -1;
	c->protocol = (enum ex_protocol)proto;
	c->compression = (enum ex_compression)comp;
	if (ycfg_get_int(y, m, "compression_level", COMPRESS_LEVEL_MIN, COMPRESS_LEVEL_MAX, c->compression_level, &n,
			 err) != 0)
		return -1;
	c->compression_level = (int)n;
	if (ycfg_get_duration_ms(y, m, "timeout", 0, HOUR_MS, c->timeout_ms, &c->timeout_ms, err) != 0 ||
	    ex_parse_headers(c, y, ycfg_get(m, "headers"), err) != 0 ||
	    ex_parse_retry(c, y, ycfg_get(m, "retry"), err) != 0)
		return -1;
	if (ycfg_get_str(y, m, "ca_file", "", &ca, err) != 0)
		return -1;
	if (ca[0] != '\0') {
		if (ex_conf_file_check(ca, &e) != 0)
			return ycfg_error(y, ycfg_get(m, "ca_file"), "ca_file", err, "%s", e.msg);
		if (ex_set_str(&c->ca_file, ca, err) != 0)
			return -1;
	}
	if (ycfg_get_int(y, m, "max_pending", 1, 1000000, c->max_pending, &n, err) != 0 ||
	    ycfg_get_size(y, m, "max_pending_bytes", 1 * MiB, 64 * GiB, c->max_pending_bytes, &c->max_pending_bytes,
			  err) != 0)
		return -1;
	c->max_pending = (uint32_t)n;
	if (ycfg_get_int(y, m, "concurrency", 1, 64, c->concurrency, &n, err) != 0)
		return -1;
	c->concurrency = (uint32_t)n;
	if (ex_parse_file(c, y, m, "client_cert", &c->client_cert, err) != 0 ||
	    ex_parse_file(c, y, m, "client_key", &c->client_key, err) != 0)
		return -1;
	if ((c->client_cert == NULL) != (c->client_key == NULL))
		return ycfg_error(y, m, "client_cert", err, "client_cert and client_key go together");
	if (ex_parse_enum(y, m, "http2", "off", "auto", &n2, err) != 0)
		return -1;
	c->http2 = n2 == 1;
	/* the only way to stop verifying the backend; checked against the endpoint after the overlay */
	return ycfg_get_bool(y, m, "insecure_skip_verify", false, &c->insecure_skip_verify, err);
}

static int ex_parse_queue(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	const char *dir;
	if (ycfg_check_keys(y, m, "queue", ex_queue_keys, err) != 0 || ycfg_get_str(y, m, "dir", "", &dir, err) != 0)
		return -1;
	if (dir[0] != '\0' && ex_set_str(&c->queue_dir, dir, err) != 0)
		return -1;
	if (ycfg_get_size(y, m, "max_bytes", 1 * MiB, 1024 * GiB, c->queue_max_bytes, &c->queue_max_bytes, err) != 0 ||
	    ycfg_get_size(y, m, "segment_bytes", 64 * 1024, 1 * GiB, c->queue_segment_bytes, &c->queue_segment_bytes,
			  err) != 0 ||
	    ycfg_get_bool(y, m, "fsync", c->queue_fsync, &c->queue_fsync, err) != 0)
		return -1;
	if (c->queue_segment_bytes > c->queue_max_bytes)
		return ycfg_error(y, ycfg_get(m, "segment_bytes"), "segment_bytes", err, "must not exceed max_bytes");
	return 0;
}

static int ex_parse_batch(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	int64_t n;
	if (ycfg_check_keys(y, m, "batch", ex_batch_keys, err) != 0)
		return -1;
	if (ycfg_get_int(y, m, "max_spans", 1, 16384, c->batch_max_spans, &n, err) != 0 ||
	    ycfg_get_size(y, m, "max_bytes", 4096, EX_MAX_REQUEST_BYTES, c->batch_max_bytes, &c->batch_max_bytes,
			  err) != 0 ||
	    ycfg_get_duration_ms(y, m, "timeout", 1, 60000, c->batch_timeout_ms, &c->batch_timeout_ms, err) != 0)
		return -1;
	c->batch_max_spans = (uint32_t)n;
	return 0;
}

static int ex_parse_resource(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	const char *sn;
	if (ycfg_check_keys(y, m, "resource", ex_resource_keys, err) != 0)
		return -1;
	if (ycfg_get_str(y, m, "service_name", NULL, &sn, err) != 0)
		return -1;
	if (sn != NULL) {
		if (sn[0] == '\0')
			return ycfg_error(y, ycfg_get(m, "service_name"), "service_name", err, "must not be empty");
		if (ex_set_str(&c->service_name, sn, err) != 0)
			return -1;
	}
	const struct ycfg_node *a = ycfg_get(m, "attributes");
	if (a == NULL)
		return 0;
	if (ycfg_type(a) != YCFG_MAP)
		return ycfg_error(y, a, "attributes", err, "must be a mapping of attribute name to value");
	for (size_t i = 0; i < ycfg_len(a); i++) {
		const char *k = ycfg_key_at(a, i), *v = ycfg_scalar(ycfg_at(a, i));
		if (v == NULL)
			return ycfg_error(y, ycfg_at(a, i), k, err, "attribute value must be a scalar");
		if (k[0] == '\0')
			return ycfg_error(y, ycfg_at(a, i), k, err, "empty attribute name");
		if (strcmp(k, "service.name") == 0)
			return ycfg_error(y, ycfg_at(a, i), k, err, "set resource.service_name instead");
		if (kvlist_set(&c->resource_attrs, k, v, false) != 0)
			return ycfg_error(y, ycfg_at(a, i), k, err, "too many attributes (max %d)", KVLIST_MAX);
	}
	return 0;
}

/* "host:port" or "[v6]:port"; "" disables the listener. */
static int ex_parse_admin(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	const char *l;
	int64_t pct;
	if (ycfg_check_keys(y, m, "admin", ex_admin_keys, err) != 0)
		return -1;
	if (ycfg_get_int(y, m, "ready_queue_percent", 1, 100, (int64_t)(c->ready_queue_ratio * 100 + 0.5), &pct, err) !=
		0 ||
	    ycfg_get_duration_ms(y, m, "ready_failing_for", 0, HOUR_MS, c->ready_failing_ms, &c->ready_failing_ms,
				 err) != 0)
		return -1;
	c->ready_queue_ratio = (double)pct / 100.0;
	if (ycfg_get_str(y, m, "listen", NULL, &l, err) != 0)
		return -1;
	if (l == NULL)
		return 0;
	free(c->admin_host);
	c->admin_host = NULL;
	if (l[0] == '\0')
		return 0;
	struct err e;
	if (url_split_hostport(l, strlen(l), URL_HP_PORT_REQUIRED | URL_HP_PORT_ZERO_OK, &c->admin_host, &c->admin_port,
			       &e) != 0) {
		if (e.code == ENOMEM)
			return err_set(err, ENOMEM, "out of memory");
		return ycfg_error(y, ycfg_get(m, "listen"), "listen", err,
				  "want HOST:PORT (e.g. 127.0.0.1:9464) or \"\" (%s)", e.msg);
	}
	return 0;
}

static int ex_parse_log(struct ex_conf *c, const struct ycfg *y, const struct ycfg_node *m, struct err *err)
{
	const char *lv;
	if (ycfg_check_keys(y, m, "log", ex_log_keys, err) != 0)
		return -1;
	if (ycfg_get_str(y, m, "level", NULL, &lv, err) != 0)
		return -1;
	if (lv != NULL && log_level_parse(lv, &c->log_level) != 0)
		return ycfg_error(y, ycfg_get(m, "level"), "level", err, "want debug, info, warn or error");
	return 0;
}

static int ex_conf_parse(struct ex_conf *c, const struct ycfg *y, struct err *err)
{
	const struct ycfg_node *root = ycfg_root(y), *s;
	if (ycfg_check_keys(y, root, "top level", ex_top_keys, err) != 0)
		return -1;
	if (((s = ycfg_get(root, "receive")) != NULL && ex_parse_receive(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "export")) != NULL && ex_parse_export(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "batch")) != NULL && ex_parse_batch(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "resource")) != NULL && ex_parse_resource(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "queue")) != NULL && ex_parse_queue(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "admin")) != NULL && ex_parse_admin(c, y, s, err) != 0) ||
	    ((s = ycfg_get(root, "log")) != NULL && ex_parse_log(c, y, s, err) != 0))
		return -1;
	return ycfg_get_duration_ms(y, root, "drain_timeout", 0, HOUR_MS, c->drain_timeout_ms, &c->drain_timeout_ms,
				    err);
}

/* ---- load ----------------------------------------------------------------- */

static int ex_conf_defaults(struct ex_conf *c, const char *path, struct err *err)
{
	kvlist_init(&c->headers);
	kvlist_init(&c->resource_attrs);
	c->rcvbuf = 1 * MiB;
	c->endpoint_from = "default";
	c->protocol = EX_PROTO_PROTOBUF;
	c->compression = EX_COMP_GZIP;
	c->compression_level = COMPRESS_LEVEL_DEFAULT;
	c->timeout_ms = 10000;
	c->retry_initial_ms = 1000;
	c->retry_max_ms = 30000;
	c->retry_max_elapsed_ms = 300000;
	c->max_pending = 64;
	c->max_pending_bytes = 64 * MiB;
	c->concurrency = 4;
	c->http2 = true;
	c->queue_max_bytes = 1 * GiB;
	c->queue_segment_bytes = 8 * MiB;
	c->ready_queue_ratio = 0.8;
	c->ready_failing_ms = 60000;
	c->batch_max_spans = 512;
	c->batch_max_bytes = 1 * MiB;
	c->batch_timeout_ms = 1000;
	c->admin_port = 9464;
	c->drain_timeout_ms = 10000;
	c->log_level = LOG_LVL_INFO;
	if (ex_set_str(&c->source, path ? path : "<defaults>", err) != 0 ||
	    ex_set_str(&c->receive_url, EX_DEFAULT_RECEIVE_URL, err) != 0 ||
	    ex_set_str(&c->admin_host, "127.0.0.1", err) != 0)
		return -1;
	return ex_conf_endpoint_parse(&c->endpoint, "stdout", err);
}

/* Cross-field rules, after the overlay. */
static int ex_conf_finish(struct ex_conf *c, struct err *err)
{
	/* insecure_skip_verify must mean what it says: refused where it would do nothing or contradict itself */
	if (c->insecure_skip_verify && (c->endpoint.kind != EX_SINK_HTTP || !c->endpoint.http.tls))
		return err_set(err, EINVAL,
			       "%s: export.insecure_skip_verify: only for https:// endpoints (endpoint from %s)",
			       c->source, c->endpoint_from);
	if (c->insecure_skip_verify && c->ca_file != NULL)
		return err_set(
		    err, EINVAL,
		    "%s: export.insecure_skip_verify: contradicts the CA file %s (which verifies against it); "
		    "drop one of them",
		    c->source, c->ca_file);
	if (c->endpoint.kind != EX_SINK_HTTP) {
		/* Local sinks are for people and jq: readable JSON lines, never gzip. */
		c->protocol = EX_PROTO_JSON;
		c->compression = EX_COMP_NONE;
	}
	return 0;
}

struct ex_conf *ex_conf_load(const char *path, ex_getenv_cb getenv_cb, void *ctx, struct err *err)
{
	struct ex_conf *c = calloc(1, sizeof(*c));
	struct ycfg *y = NULL;
	if (c == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (ex_conf_defaults(c, path, err) != 0)
		goto fail;
	if (path != NULL) {
		if ((y = ycfg_load_file(path, err)) == NULL || ex_conf_parse(c, y, err) != 0)
			goto fail;
	}
	if (ex_env_overlay(c, getenv_cb, ctx, err) != 0 || ex_conf_finish(c, err) != 0)
		goto fail;
	ycfg_free(y);
	return c;
fail:
	ycfg_free(y);
	ex_conf_free(c);
	return NULL;
}

void ex_conf_free(struct ex_conf *c)
{
	if (c == NULL)
		return;
	free(c->source);
	free(c->receive_url);
	ex_endpoint_fini(&c->endpoint);
	kvlist_fini(&c->headers);
	free(c->ca_file);
	free(c->client_cert);
	free(c->client_key);
	free(c->queue_dir);
	free(c->service_name);
	kvlist_fini(&c->resource_attrs);
	free(c->env_resource_attributes);
	free(c->env_service_name);
	free(c->admin_host);
	free(c);
}

/* Comma-separated header names into out; values are secrets and never logged. */
static void ex_conf_header_names(const struct kvlist *h, char *out, size_t outsz)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < h->n && o < outsz; i++) {
		int w = snprintf(out + o, outsz - o, "%s%s", i ? "," : "", h->items[i].key);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

void ex_conf_log(const struct ex_conf *c)
{
	char names[512], q1[600], q2[300];
	const struct ex_endpoint *ep = &c->endpoint;
	ex_conf_header_names(&c->headers, names, sizeof(names));
	log_msg(LOG_LVL_INFO, "config", "source=%s receive=%s rcvbuf=%llu", log_quote(c->source, q2, sizeof(q2)),
		c->receive_url, (unsigned long long)c->rcvbuf);
	/* The query string is left out: some backends take tokens there. */
	if (ep->kind == EX_SINK_HTTP)
		log_msg(LOG_LVL_INFO, "config_export",
			"endpoint=%s://%s%.*s endpoint_from=%s protocol=%s compression=%s compression_level=%d "
			"timeout_ms=%lld headers=%s "
			"ca_file=%s",
			ep->http.tls ? "https" : "http", ep->http.authority, (int)strcspn(ep->target, "?"), ep->target,
			c->endpoint_from, c->protocol == EX_PROTO_JSON ? "http/json" : "http/protobuf",
			c->compression == EX_COMP_GZIP ? "gzip" : "none", c->compression_level,
			(long long)c->timeout_ms, log_quote(names, q1, sizeof(q1)), c->ca_file ? c->ca_file : "system");
	else
		log_msg(LOG_LVL_INFO, "config_export", "endpoint=%s endpoint_from=%s protocol=http/json",
			log_quote(ep->url, q1, sizeof(q1)), c->endpoint_from);
	if (c->insecure_skip_verify)
		log_msg(LOG_LVL_WARN, "tls_verify_disabled",
			"endpoint=https://%s detail=\"tls verification disabled for the export endpoint "
			"(export.insecure_skip_verify: true): its certificate is not checked\"",
			ep->http.authority);
	/* The endpoint is used as-is (OTLP rule); "https://otlp.last9.io" alone would POST to "/". */
	if (ep->kind == EX_SINK_HTTP && strcmp(ep->target, "/") == 0)
		log_msg(LOG_LVL_WARN, "config_endpoint_path",
			"path=/ hint=\"traces usually go to /v1/traces; OTEL_EXPORTER_OTLP_ENDPOINT appends it\"");
	log_msg(LOG_LVL_INFO, "config_batch",
		"max_spans=%u max_bytes=%llu timeout_ms=%lld retry_initial_ms=%lld retry_max_ms=%lld "
		"retry_max_elapsed_ms=%lld max_pending=%u max_pending_bytes=%llu drain_timeout_ms=%lld",
		c->batch_max_spans, (unsigned long long)c->batch_max_bytes, (long long)c->batch_timeout_ms,
		(long long)c->retry_initial_ms, (long long)c->retry_max_ms, (long long)c->retry_max_elapsed_ms,
		c->max_pending, (unsigned long long)c->max_pending_bytes, (long long)c->drain_timeout_ms);
}
