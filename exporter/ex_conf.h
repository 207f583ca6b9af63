/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exporter's configuration: exporter.yaml (schema in ex_conf.c, every
 * key documented in docs/exporter-config.md), overlaid by the standard
 * OTEL_* environment variables (ex_env.c), validated, then immutable for
 * the life of the process. Every module reads it through a const pointer.
 *
 * Errors read "file:line:col: key: reason" for the file and
 * "env OTEL_...: reason" for the environment; main() prints them and exits 2.
 */
#ifndef LLMGW_EXPORTER_EX_CONF_H
#define LLMGW_EXPORTER_EX_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "common/url.h"
#include "exporter/kvlist.h"

#define EX_DEFAULT_RECEIVE_URL "ipc:///tmp/llmgw-spans.sock"
#define EX_DEFAULT_SERVICE_NAME "llmgw-gateway"
#define EX_MAX_REQUEST_BYTES (64u * 1024 * 1024) /* OTLP: clients SHOULD NOT send more */

enum ex_sink_kind {
	EX_SINK_HTTP = 0, /* OTLP/HTTP POST to an http:// or https:// URL */
	EX_SINK_STDOUT,	  /* one OTLP/JSON line per batch on stdout */
	EX_SINK_FILE,	  /* one OTLP/JSON line per batch appended to a file */
};

enum ex_protocol {
	EX_PROTO_PROTOBUF = 0, /* http/protobuf */
	EX_PROTO_JSON,	       /* http/json */
};

enum ex_compression {
	EX_COMP_NONE = 0,
	EX_COMP_GZIP,
};

/* Where batches go, parsed from export.endpoint or the OTEL_* endpoint variables. */
struct ex_endpoint {
	enum ex_sink_kind kind;
	char *url;	 /* the endpoint as configured (no credentials can be in it: userinfo is refused) */
	struct url http; /* EX_SINK_HTTP: tls, host (no brackets), port, authority (Host header), path, query */
	char *target;	 /* EX_SINK_HTTP request-target: the path ("/" when empty) plus "?query" */
	char *file_path; /* EX_SINK_FILE */
};

struct ex_conf {
	char *source; /* config file path, or "<defaults>" */

	/* receive: */
	char *receive_url;
	uint64_t rcvbuf;

	/* export: */
	struct ex_endpoint endpoint;
	const char *endpoint_from;	 /* "file", "default", or the env variable that set it (static string) */
	enum ex_protocol protocol;	 /* forced to JSON for stdout/file */
	enum ex_compression compression; /* forced to none for stdout/file */
	int compression_level;		 /* gzip level 1..9 (export.compression_level, default 1) */
	int64_t timeout_ms;		 /* per request; 0 = no limit */
	struct kvlist headers;		 /* names compared case-insensitively; values are secrets */
	char *ca_file;			 /* NULL = system trust store */
	int64_t retry_initial_ms;
	int64_t retry_max_ms;
	int64_t retry_max_elapsed_ms; /* 0 = retry until the queue overflows */
	uint32_t max_pending;	      /* memory queue: batches waiting for delivery */
	uint64_t max_pending_bytes;   /* memory queue: their encoded bytes */
	uint32_t concurrency;	      /* export requests in flight at once (1..64) */
	char *client_cert;	      /* mTLS: PEM certificate chain, NULL = none */
	char *client_key;	      /* mTLS: PEM private key (both or neither) */
	bool http2;		      /* https: offer h2 by ALPN (export.http2: auto); false = HTTP/1.1 only */
	bool insecure_skip_verify;    /* https only, never with ca_file: the server certificate is not checked */
	/* queue: */
	char *queue_dir;	      /* durable queue directory; NULL = in memory (max_pending*) */
	uint64_t queue_max_bytes;     /* disk queue bound (entries' bytes); oldest dropped past it */
	uint64_t queue_segment_bytes; /* a segment file is sealed past this size */
	bool queue_fsync;	      /* fsync every append (power loss); else page cache (process crash) */

	/* batch: */
	uint32_t batch_max_spans;
	uint64_t batch_max_bytes;
	int64_t batch_timeout_ms;

	/* resource: */
	char *service_name;	       /* resource.service_name, NULL when absent */
	struct kvlist resource_attrs;  /* resource.attributes */
	char *env_resource_attributes; /* raw OTEL_RESOURCE_ATTRIBUTES (parsed by enrich), NULL when unset */
	char *env_service_name;	       /* OTEL_SERVICE_NAME, NULL when unset */

	/* admin: */
	char *admin_host; /* NULL = admin listener disabled */
	uint16_t admin_port;

	double ready_queue_ratio; /* admin.ready_queue_percent / 100: /readyz is 503 while the queue is fuller */
	int64_t ready_failing_ms; /* ... or while every export has failed for longer than this (0 = never) */
	int64_t drain_timeout_ms;
	enum log_level log_level;
};

/* Looks up an environment variable; tests pass a table instead of getenv. */
typedef const char *(*ex_getenv_cb)(void *ctx, const char *name);

/*
 * Loads path (NULL = built-in defaults), applies the OTEL_* overlay read
 * through getenv_cb (NULL = getenv(3)), validates, and returns the immutable
 * result, which the caller frees with ex_conf_free(). NULL with err on any
 * error; err->msg is the whole user-facing message.
 */
struct ex_conf *ex_conf_load(const char *path, ex_getenv_cb getenv_cb, void *ctx, struct err *err);
void ex_conf_free(struct ex_conf *c);

/*
 * Parses an endpoint string ("stdout", "file:PATH", "http[s]://host[:port][/path]")
 * into ep (freeing what it held). On error returns -1 with a reason (no
 * position) in err.
 */
int ex_conf_endpoint_parse(struct ex_endpoint *ep, const char *s, struct err *err);
void ex_endpoint_fini(struct ex_endpoint *ep);

/*
 * Logs the effective configuration at info level: header NAMES only, never
 * values; and at warn level event=tls_verify_disabled when
 * export.insecure_skip_verify is on (start-up and --check-config).
 */
void ex_conf_log(const struct ex_conf *c);

/*
 * Checks a configured header: name an RFC 9110 token and not one the
 * exporter sets itself, value free of control characters. The reason in
 * err names the header, never its value.
 */
int ex_conf_header_check(const char *name, const char *value, struct err *err);
/* -1 with a reason unless path names a readable file (ca_file, OTEL_..._CERTIFICATE). */
int ex_conf_file_check(const char *path, struct err *err);

#endif
