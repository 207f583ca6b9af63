/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ex_conf / ex_env: built-in defaults, every exporter.yaml key, every
 * OTEL_* override (endpoint slash joining, header decoding, precedence),
 * and bad values producing "file:line:col: key: reason" without secrets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/ex_env.h"
#include "tests/unit/exporter/ex_fixtures.h"

/* Writes text to a fresh temp file; returns its path (static buffer per call site is fine in tests). */
static char *write_yaml(const char *text)
{
	char *path = strdup("/tmp/test_ex_conf_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static struct ex_conf *load(const char *yaml, const char *const *env, struct err *err)
{
	struct fx_env fe = {env};
	char *path = yaml ? write_yaml(yaml) : NULL;
	err_clear(err);
	struct ex_conf *c = ex_conf_load(path, fx_getenv, &fe, err);
	if (path != NULL) {
		unlink(path);
		free(path);
	}
	return c;
}

static struct ex_conf *load_ok(const char *yaml, const char *const *env)
{
	struct err err;
	struct ex_conf *c = load(yaml, env, &err);
	if (c == NULL)
		fail_msg("unexpected config error: %s", err.msg);
	return c;
}

/* Loads, expects failure, and checks the message contains want. */
static void load_fails(const char *yaml, const char *const *env, const char *want)
{
	struct err err;
	struct ex_conf *c = load(yaml, env, &err);
	if (c != NULL) {
		ex_conf_free(c);
		fail_msg("accepted, want error containing \"%s\"", want);
	}
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void test_defaults(void **state)
{
	(void)state;
	struct ex_conf *c = load_ok(NULL, NULL);
	assert_string_equal(c->receive_url, "ipc:///tmp/llmgw-spans.sock");
	assert_int_equal(c->rcvbuf, 1024 * 1024);
	assert_int_equal(c->endpoint.kind, EX_SINK_STDOUT);
	assert_int_equal(c->protocol, EX_PROTO_JSON); /* forced for stdout */
	assert_int_equal(c->compression, EX_COMP_NONE);
	assert_int_equal(c->timeout_ms, 10000);
	assert_int_equal(c->headers.n, 0);
	assert_null(c->ca_file);
	assert_int_equal(c->retry_initial_ms, 1000);
	assert_int_equal(c->retry_max_ms, 30000);
	assert_int_equal(c->retry_max_elapsed_ms, 300000);
	assert_int_equal(c->max_pending, 64);
	assert_int_equal(c->batch_max_spans, 512);
	assert_int_equal(c->batch_max_bytes, 1024 * 1024);
	assert_int_equal(c->batch_timeout_ms, 1000);
	assert_null(c->service_name);
	assert_string_equal(c->admin_host, "127.0.0.1");
	assert_int_equal(c->admin_port, 9464);
	assert_int_equal(c->drain_timeout_ms, 10000);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	ex_conf_free(c);
}

static const char full_yaml[] = "receive:\n"
				"  url: tcp://127.0.0.1:5555\n"
				"  rcvbuf: 2MiB\n"
				"export:\n"
				"  endpoint: https://otlp.example.com:8443/v1/traces\n"
				"  protocol: http/json\n"
				"  compression: none\n"
				"  timeout: 2s\n"
				"  headers:\n"
				"    Authorization: \"Basic xyz\"\n"
				"    X-Tenant: llmgw\n"
				"  ca_file: \"\"\n"
				"  retry: { initial: 200ms, max: 5s, max_elapsed: 60s }\n"
				"  max_pending: 8\n"
				"  max_pending_bytes: 2MiB\n"
				"batch:\n"
				"  max_spans: 100\n"
				"  max_bytes: 256KiB\n"
				"  timeout: 250ms\n"
				"resource:\n"
				"  service_name: my-gw\n"
				"  attributes: { deployment.environment.name: prod, cloud.region: eu-west-1 }\n"
				"admin:\n"
				"  listen: \"[::1]:9999\"\n"
				"drain_timeout: 3s\n"
				"log: { level: debug }\n";

static void test_file_keys(void **state)
{
	(void)state;
	struct ex_conf *c = load_ok(full_yaml, NULL);
	assert_string_equal(c->receive_url, "tcp://127.0.0.1:5555");
	assert_int_equal(c->rcvbuf, 2 * 1024 * 1024);
	assert_int_equal(c->endpoint.kind, EX_SINK_HTTP);
	assert_true(c->endpoint.http.tls);
	assert_string_equal(c->endpoint.http.host, "otlp.example.com");
	assert_int_equal(c->endpoint.http.port, 8443);
	assert_string_equal(c->endpoint.target, "/v1/traces");
	assert_string_equal(c->endpoint.http.authority, "otlp.example.com:8443");
	assert_string_equal(c->endpoint_from, "file");
	assert_int_equal(c->protocol, EX_PROTO_JSON);
	assert_int_equal(c->compression, EX_COMP_NONE);
	assert_int_equal(c->timeout_ms, 2000);
	assert_string_equal(kvlist_get(&c->headers, "authorization", true), "Basic xyz");
	assert_string_equal(kvlist_get(&c->headers, "X-Tenant", true), "llmgw");
	assert_null(c->ca_file);
	assert_int_equal(c->retry_initial_ms, 200);
	assert_int_equal(c->retry_max_ms, 5000);
	assert_int_equal(c->retry_max_elapsed_ms, 60000);
	assert_int_equal(c->max_pending, 8);
	assert_int_equal(c->max_pending_bytes, 2 * 1024 * 1024);
	assert_int_equal(c->batch_max_spans, 100);
	assert_int_equal(c->batch_max_bytes, 256 * 1024);
	assert_int_equal(c->batch_timeout_ms, 250);
	assert_string_equal(c->service_name, "my-gw");
	assert_string_equal(kvlist_get(&c->resource_attrs, "cloud.region", false), "eu-west-1");
	assert_string_equal(c->admin_host, "::1");
	assert_int_equal(c->admin_port, 9999);
	assert_int_equal(c->drain_timeout_ms, 3000);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	ex_conf_free(c);

	c = load_ok("admin: { listen: \"\" }\nexport: { endpoint: \"file:/tmp/x.jsonl\", protocol: http/protobuf }\n",
		    NULL);
	assert_null(c->admin_host);
	assert_int_equal(c->endpoint.kind, EX_SINK_FILE);
	assert_string_equal(c->endpoint.file_path, "/tmp/x.jsonl");
	assert_int_equal(c->protocol, EX_PROTO_JSON);
	ex_conf_free(c);

	/* Port 0: the admin listener takes any free port. */
	c = load_ok("admin: { listen: \"127.0.0.1:0\" }\n", NULL);
	assert_string_equal(c->admin_host, "127.0.0.1");
	assert_int_equal(c->admin_port, 0);
	ex_conf_free(c);
}

static void test_env_endpoints(void **state)
{
	(void)state;
	struct ex_conf *c;
	/* Generic: "/v1/traces" appended with exactly one slash. */
	const char *e1[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/mycollector/", NULL};
	c = load_ok(NULL, e1);
	assert_string_equal(c->endpoint.target, "/mycollector/v1/traces");
	assert_string_equal(c->endpoint.http.host, "collector");
	assert_int_equal(c->endpoint.http.port, 4318);
	assert_string_equal(c->endpoint_from, "OTEL_EXPORTER_OTLP_ENDPOINT");
	assert_int_equal(c->protocol, EX_PROTO_PROTOBUF);
	assert_int_equal(c->compression, EX_COMP_GZIP);
	ex_conf_free(c);
	const char *e2[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.last9.io", NULL};
	c = load_ok("export: { endpoint: stdout }\n", e2);
	assert_int_equal(c->endpoint.kind, EX_SINK_HTTP); /* env beats the file */
	assert_string_equal(c->endpoint.target, "/v1/traces");
	assert_int_equal(c->endpoint.http.port, 443);
	assert_string_equal(c->endpoint.http.authority, "otlp.last9.io");
	ex_conf_free(c);
	/* Per-signal: used as-is (empty path becomes "/"), and wins over the generic one. */
	const char *e3[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.last9.io",
			    "OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318", NULL};
	c = load_ok(NULL, e3);
	assert_string_equal(c->endpoint.target, "/");
	assert_string_equal(c->endpoint.http.host, "otlp.last9.io");
	assert_string_equal(c->endpoint_from, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	ex_conf_free(c);
	/* Empty means unset. */
	const char *e4[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", NULL};
	c = load_ok(NULL, e4);
	assert_int_equal(c->endpoint.kind, EX_SINK_STDOUT);
	ex_conf_free(c);
	char *j = ex_env_join_traces_path("http://h:1///");
	assert_string_equal(j, "http://h:1/v1/traces");
	free(j);
	const char *bad[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x", NULL};
	load_fails(NULL, bad, "env OTEL_EXPORTER_OTLP_ENDPOINT: ");
	const char *cred[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://user:pw@h/v1/traces", NULL};
	load_fails(NULL, cred, "credentials in the URL");
}

static void test_env_headers(void **state)
{
	(void)state;
	struct ex_conf *c;
	const char *e1[] = {"OTEL_EXPORTER_OTLP_HEADERS",
			    "Authorization=Basic%20dXNlcjpwYXNz==, X-Scope = team a ,x-b=1", NULL};
	c = load_ok("export:\n  headers: { authorization: old, X-File: f }\n", e1);
	assert_string_equal(kvlist_get(&c->headers, "Authorization", true), "Basic dXNlcjpwYXNz==");
	assert_string_equal(kvlist_get(&c->headers, "X-Scope", true), "team a");
	assert_string_equal(kvlist_get(&c->headers, "x-b", true), "1");
	assert_string_equal(kvlist_get(&c->headers, "X-File", true), "f"); /* file headers merged */
	assert_int_equal(c->headers.n, 4);
	ex_conf_free(c);
	/* A literal space works too (Last9's examples). */
	const char *e2[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic abc",
			    "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization=Basic traces", NULL};
	c = load_ok(NULL, e2);
	assert_string_equal(kvlist_get(&c->headers, "authorization", true), "Basic traces"); /* per-signal wins */
	ex_conf_free(c);

	struct err err;
	const char *bad[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=sekrit%zz", NULL};
	assert_null(load(NULL, bad, &err));
	assert_non_null(strstr(err.msg, "env OTEL_EXPORTER_OTLP_HEADERS: "));
	assert_non_null(strstr(err.msg, "Authorization"));
	assert_null(strstr(err.msg, "sekrit")); /* values are secrets */
	const char *noeq[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization", NULL};
	load_fails(NULL, noeq, "missing '='");
	const char *reserved[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Content-Type=text/plain", NULL};
	load_fails(NULL, reserved, "set by the exporter");
	const char *crlf[] = {"OTEL_EXPORTER_OTLP_HEADERS", "X-A=a%0D%0AX-Injected: 1", NULL};
	assert_null(load(NULL, crlf, &err));
	assert_non_null(strstr(err.msg, "control character"));
	assert_null(strstr(err.msg, "Injected"));
}

static void test_env_scalars(void **state)
{
	(void)state;
	char *cert = write_yaml("not really a PEM, only needs to be readable\n");
	const char *e1[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			    "http://127.0.0.1:4318/v1/traces",
			    "OTEL_EXPORTER_OTLP_COMPRESSION",
			    "none",
			    "OTEL_EXPORTER_OTLP_TIMEOUT",
			    "2500",
			    "OTEL_EXPORTER_OTLP_PROTOCOL",
			    "http/json",
			    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
			    cert,
			    "OTEL_RESOURCE_ATTRIBUTES",
			    "a=b",
			    "OTEL_SERVICE_NAME",
			    "svc",
			    NULL};
	struct ex_conf *c = load_ok(NULL, e1);
	assert_int_equal(c->compression, EX_COMP_NONE);
	assert_int_equal(c->timeout_ms, 2500);
	assert_int_equal(c->protocol, EX_PROTO_JSON);
	assert_string_equal(c->ca_file, cert);
	assert_string_equal(c->env_resource_attributes, "a=b");
	assert_string_equal(c->env_service_name, "svc");
	ex_conf_free(c);
	/* Per-signal beats generic for every scalar. */
	const char *e2[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			    "http://h/v1/traces",
			    "OTEL_EXPORTER_OTLP_COMPRESSION",
			    "none",
			    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
			    "gzip",
			    "OTEL_EXPORTER_OTLP_TIMEOUT",
			    "0",
			    NULL};
	c = load_ok(NULL, e2);
	assert_int_equal(c->compression, EX_COMP_GZIP);
	assert_int_equal(c->timeout_ms, 0);
	ex_conf_free(c);
	unlink(cert);
	free(cert);

	const char *grpc[] = {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", NULL};
	load_fails(NULL, grpc, "grpc is not supported");
	const char *proto[] = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml", NULL};
	load_fails(NULL, proto, "env OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: want http/protobuf or http/json");
	const char *to[] = {"OTEL_EXPORTER_OTLP_TIMEOUT", "10s", NULL};
	load_fails(NULL, to, "env OTEL_EXPORTER_OTLP_TIMEOUT: want integer milliseconds");
	const char *comp[] = {"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", NULL};
	load_fails(NULL, comp, "want gzip or none");
	const char *crt[] = {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", NULL};
	load_fails(NULL, crt, "env OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read /nonexistent/ca.pem");
}

static void test_bad_file_values(void **state)
{
	(void)state;
	load_fails("export:\n  endpiont: x\n", NULL, ":2:3: export.endpiont: unknown key");
	load_fails("recieve: {}\n", NULL, ":1:1: ");
	load_fails("export:\n  endpoint: ftp://x/\n", NULL, ":2:13: endpoint: scheme must be http or https");
	load_fails("export:\n  timeout: soon\n", NULL, ":2:12: timeout: ");
	load_fails("export:\n  protocol: grpc\n", NULL, ":2:13: protocol: grpc is not supported");
	load_fails("export:\n  compression: br\n", NULL, "compression: want none or gzip");
	load_fails("export:\n  headers: { Content-Length: \"1\" }\n", NULL, "set by the exporter");
	load_fails("export:\n  headers: { \"bad name\": x }\n", NULL, "is not an HTTP token");
	load_fails("export:\n  retry: { initial: 10s, max: 1s }\n", NULL, "retry: max (1000ms) must not be below");
	load_fails("export:\n  ca_file: /nonexistent.pem\n", NULL, ":2:12: ca_file: cannot read");
	load_fails("batch:\n  max_spans: 0\n", NULL, ":2:14: max_spans: ");
	load_fails("batch:\n  max_bytes: 1GiB\n", NULL, "max_bytes");
	load_fails("receive:\n  url: http://x\n", NULL, ":2:8: url: want ipc://PATH or tcp://HOST:PORT");
	load_fails("resource:\n  attributes: { service.name: x }\n", NULL, "set resource.service_name instead");
	load_fails("admin:\n  listen: 9464\n", NULL, ":2:11: listen: want HOST:PORT");
	load_fails("admin:\n  listen: \"::1:9464\"\n", NULL,
		   "listen: want HOST:PORT (e.g. 127.0.0.1:9464) or \"\" (IPv6");
	load_fails("export:\n  endpoint: http://x/v1/traces#f\n", NULL, ":2:13: endpoint: a fragment");
	load_fails("export:\n  endpoint: localhost:4318\n", NULL, "(or use stdout / file:PATH)");
	load_fails("log:\n  level: loud\n", NULL, ":2:10: level: want debug, info, warn or error");
	load_fails("drain_timeout: forever\n", NULL, ":1:16: drain_timeout: ");
}

/* export.http2 defaults to auto even when an export: section leaves it out; off turns it off. */
static void test_http2_default(void **state)
{
	(void)state;
	struct ex_conf *c = load_ok(NULL, NULL);
	assert_true(c->http2);
	ex_conf_free(c);
	c = load_ok("export:\n  endpoint: https://otlp.example.com/v1/traces\n  timeout: 2s\n", NULL);
	assert_true(c->http2);
	ex_conf_free(c);
	c = load_ok("export:\n  endpoint: https://otlp.example.com/v1/traces\n  http2: off\n", NULL);
	assert_false(c->http2);
	ex_conf_free(c);
	c = load_ok("export:\n  http2: auto\n", NULL);
	assert_true(c->http2);
	ex_conf_free(c);
	load_fails("export:\n  http2: on\n", NULL, "http2: want off or auto");
}

/* mTLS needs both halves, whichever of the file and the environment each comes from. */
static void test_client_cert_needs_key(void **state)
{
	(void)state;
	char *pem = write_yaml("not read by the config loader, only checked for readability\n");
	char yaml[512];
	struct ex_conf *c;
	snprintf(yaml, sizeof(yaml), "export:\n  endpoint: https://x.example/v1/traces\n  client_cert: %s\n", pem);
	load_fails(yaml, NULL, ":2:3: client_cert: client_cert and client_key go together");
	snprintf(yaml, sizeof(yaml), "export:\n  client_key: %s\n", pem);
	load_fails(yaml, NULL, "client_cert and client_key go together");
	const char *env_key[] = {"OTEL_EXPORTER_OTLP_CLIENT_KEY", pem, NULL};
	load_fails(NULL, env_key, "mTLS needs both a client certificate and a client key (no certificate)");
	snprintf(yaml, sizeof(yaml), "export:\n  client_cert: %s\n  client_key: %s\n", pem, pem);
	c = load_ok(yaml, NULL);
	assert_string_equal(c->client_cert, pem);
	assert_string_equal(c->client_key, pem);
	ex_conf_free(c);
	unlink(pem);
	free(pem);
}

/*
 * export.insecure_skip_verify: off by default, on only when written out,
 * and refused where it would do nothing (not https, whichever of the file
 * and the environment set the endpoint) or contradict a CA file.
 */
static void test_insecure_skip_verify(void **state)
{
	(void)state;
	char *pem = write_yaml("not read by the config loader, only checked for readability\n");
	char yaml[512];
	struct ex_conf *c = load_ok("export:\n  endpoint: https://x.example/v1/traces\n", NULL);
	assert_false(c->insecure_skip_verify);
	ex_conf_free(c);
	c = load_ok("export:\n  endpoint: https://x.example/v1/traces\n  insecure_skip_verify: true\n", NULL);
	assert_true(c->insecure_skip_verify);
	ex_conf_free(c);
	load_fails("export:\n  endpoint: https://x.example/v1/traces\n  insecure_skip_verify: yes please\n", NULL,
		   "insecure_skip_verify");
	load_fails("export:\n  endpoint: http://x.example/v1/traces\n  insecure_skip_verify: true\n", NULL,
		   "export.insecure_skip_verify: only for https:// endpoints (endpoint from file)");
	load_fails("export:\n  insecure_skip_verify: true\n", NULL,
		   "only for https:// endpoints (endpoint from default)");
	const char *env_http[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces", NULL};
	load_fails("export:\n  endpoint: https://x.example/v1/traces\n  insecure_skip_verify: true\n", env_http,
		   "only for https:// endpoints (endpoint from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)");
	snprintf(yaml, sizeof(yaml),
		 "export:\n  endpoint: https://x.example/v1/traces\n  ca_file: %s\n"
		 "  insecure_skip_verify: true\n",
		 pem);
	load_fails(yaml, NULL, "export.insecure_skip_verify: contradicts the CA file");
	const char *env_ca[] = {"OTEL_EXPORTER_OTLP_CERTIFICATE", pem, NULL};
	load_fails("export:\n  endpoint: https://x.example/v1/traces\n  insecure_skip_verify: true\n", env_ca,
		   "contradicts the CA file");
	/* OTEL_EXPORTER_OTLP_INSECURE is gRPC's plaintext switch: it never turns verification off here */
	const char *env_insecure[] = {"OTEL_EXPORTER_OTLP_INSECURE", "true", NULL};
	c = load_ok("export:\n  endpoint: https://x.example/v1/traces\n", env_insecure);
	assert_false(c->insecure_skip_verify);
	ex_conf_free(c);
	unlink(pem);
	free(pem);
}

/* export.compression_level: gzip 1..9, default 1 (best speed); out of range is a positioned error. */
static void test_compression_level(void **state)
{
	(void)state;
	struct ex_conf *c = load_ok("export: { endpoint: \"http://127.0.0.1:4318/v1/traces\" }\n", NULL);
	assert_int_equal(c->compression, EX_COMP_GZIP);
	assert_int_equal(c->compression_level, 1);
	ex_conf_free(c);
	c = load_ok("export:\n  endpoint: \"http://127.0.0.1:4318/v1/traces\"\n  compression_level: 9\n", NULL);
	assert_int_equal(c->compression_level, 9);
	ex_conf_free(c);
	load_fails("export:\n  compression_level: 0\n", NULL, ":2:");
	load_fails("export:\n  compression_level: 10\n", NULL, "compression_level");
	load_fails("export:\n  compression_level: fast\n", NULL, "compression_level");
}

int main(void)
{
	log_init("test_ex_conf", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_file_keys),
	    cmocka_unit_test(test_env_endpoints),
	    cmocka_unit_test(test_env_headers),
	    cmocka_unit_test(test_env_scalars),
	    cmocka_unit_test(test_bad_file_values),
	    cmocka_unit_test(test_http2_default),
	    cmocka_unit_test(test_client_cert_needs_key),
	    cmocka_unit_test(test_insecure_skip_verify),
	    cmocka_unit_test(test_compression_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
