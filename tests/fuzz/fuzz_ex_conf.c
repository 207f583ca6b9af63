/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the exporter's whole configuration load:
 * exporter.yaml through ex_conf_load() (schema, durations, sizes, the
 * endpoint URL, headers, files), the OTEL_* environment overlay (endpoint
 * variables, OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES
 * lists, timeouts, protocol, compression) and the cross-field rules.
 * Input: the YAML text, then optionally a NUL byte and "NAME=value" lines
 * that are the whole environment (nothing is read from the real one). An
 * empty YAML part loads the built-in defaults (path NULL).
 * Checks: a loaded config is coherent (an http endpoint has a host and a
 * request-target starting with '/', local sinks write JSON uncompressed,
 * concurrency within 1..64, every header passes ex_conf_header_check);
 * neither an error message nor the effective-config log line ever carries
 * a header value (they are secrets; see no_secret for how one is told
 * apart from a value quoted for another reason). Never crashes or leaks.
 * LLMGW_FUZZ_DUMP=1 in the environment prints each outcome.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/yamlcfg.h"
#include "exporter/ex_conf.h"
#include "exporter/kvlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fenv {
	const char *text; /* "NAME=value\n"..., NUL-terminated */
	char value[4096];
};

/* The value of NAME in the input's environment part (the last line wins); NULL when absent. */
static const char *fenv_get(void *ctx, const char *name)
{
	struct fenv *e = ctx;
	size_t nl = strlen(name);
	const char *found = NULL, *p = e->text;
	size_t flen = 0;
	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
		if (len > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			found = p + nl + 1;
			flen = len - nl - 1;
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	if (found == NULL || flen >= sizeof(e->value))
		return NULL;
	memcpy(e->value, found, flen);
	e->value[flen] = '\0';
	return e->value;
}

/* Occurrences of needle in hay (overlapping). */
static size_t count(const char *hay, size_t hn, const char *needle)
{
	size_t n = strlen(needle), c = 0;
	for (size_t i = 0; n > 0 && i + n <= hn; i++)
		if (memcmp(hay + i, needle, n) == 0)
			c++;
	return c;
}

/*
 * Aborts when text shows value, a header value marked as a secret: it holds
 * "SECRET" (the seeds' header values do), which occurs once in the whole
 * input, so no other setting can be what text quotes.
 */
static void no_secret(const char *text, const char *value, const uint8_t *data, size_t size)
{
	if (strstr(value, "SECRET") != NULL && count((const char *)data, size, "SECRET") == 1 &&
	    strstr(text, value) != NULL)
		abort();
}

/* Header values the input configures: export.headers in the YAML and the OTEL_*HEADERS lists. */
static void secrets(const char *yaml, size_t ylen, struct fenv *env, struct kvlist *out)
{
	static const char *const vars[] = {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"};
	struct err err;
	kvlist_init(out);
	struct ycfg *y = ylen > 0 ? ycfg_load_string(yaml, ylen, "f", &err) : NULL;
	const struct ycfg_node *h = y != NULL ? ycfg_get(ycfg_get(ycfg_root(y), "export"), "headers") : NULL;
	if (h != NULL && ycfg_type(h) == YCFG_MAP)
		for (size_t i = 0; i < ycfg_len(h); i++) {
			const char *v = ycfg_scalar(ycfg_at(h, i));
			if (v != NULL)
				(void)kvlist_set(out, ycfg_key_at(h, i), v, false);
		}
	ycfg_free(y);
	for (size_t i = 0; i < 2; i++) {
		const char *s = fenv_get(env, vars[i]);
		struct kvlist l;
		kvlist_init(&l);
		if (s != NULL && kvlist_parse(s, 0, &l, &err) == 0)
			(void)kvlist_merge(out, &l, false);
		kvlist_fini(&l);
	}
}

static void check_conf(const struct ex_conf *c)
{
	const struct ex_endpoint *ep = &c->endpoint;
	struct err err;
	if (ep->url == NULL)
		abort();
	if (ep->kind == EX_SINK_HTTP) {
		if (ep->target == NULL || ep->target[0] != '/' || ep->http.host == NULL || ep->http.host[0] == '\0')
			abort();
	} else if (c->protocol != EX_PROTO_JSON || c->compression != EX_COMP_NONE ||
		   (ep->kind == EX_SINK_FILE && (ep->file_path == NULL || ep->file_path[0] == '\0'))) {
		abort();
	}
	if (c->concurrency < 1 || c->concurrency > 64 || c->receive_url == NULL)
		abort();
	for (size_t i = 0; i < c->headers.n; i++)
		if (ex_conf_header_check(c->headers.items[i].key, c->headers.items[i].value, &err) != 0)
			abort();
}

/* What ex_conf_log writes, captured from stderr into a NUL-terminated malloc'd string. */
static char *capture_log(const struct ex_conf *c)
{
	FILE *f = tmpfile();
	char *text = NULL;
	long n;
	if (f == NULL)
		return NULL;
	fflush(stderr);
	int saved = dup(2);
	if (saved >= 0 && dup2(fileno(f), 2) >= 0) {
		ex_conf_log(c);
		fflush(stderr);
		dup2(saved, 2);
	}
	if (saved >= 0)
		close(saved);
	if ((n = ftell(f)) >= 0 && (text = malloc((size_t)n + 1)) != NULL) {
		rewind(f);
		size_t got = fread(text, 1, (size_t)n, f);
		text[got] = '\0';
	}
	fclose(f);
	return text;
}

/* The YAML part goes through a real file: ex_conf_load reads a path, as main() does. */
static const char *yaml_file(const char *yaml, size_t ylen)
{
	static char path[64];
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/llmgw-fuzz-exconf.%ld.yaml",
			 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp", (long)getpid());
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return NULL;
	size_t w = fwrite(yaml, 1, ylen, f);
	if (fclose(f) != 0 || w != ylen)
		return NULL;
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		log_init("fuzz_ex_conf", LOG_LVL_INFO); /* ex_conf_log writes at info */
		ready = 1;
	}
	const char *nul = memchr(data, '\0', size);
	size_t ylen = nul != NULL ? (size_t)(nul - (const char *)data) : size;
	size_t elen = nul != NULL ? size - ylen - 1 : 0;
	char *envtext = malloc(elen + 1);
	if (envtext == NULL)
		return 0;
	if (elen > 0)
		memcpy(envtext, nul + 1, elen);
	envtext[elen] = '\0';
	struct fenv env = {.text = envtext};

	const char *path = NULL;
	if (ylen > 0 && (path = yaml_file((const char *)data, ylen)) == NULL) {
		free(envtext);
		return 0;
	}
	struct kvlist sec;
	secrets((const char *)data, ylen, &env, &sec);
	struct err err;
	err.msg[0] = '\0';
	struct ex_conf *c = ex_conf_load(path, fenv_get, &env, &err);
	if (getenv("LLMGW_FUZZ_DUMP") != NULL)
		fprintf(stderr, "---- %s\n", c != NULL ? "loaded" : err.msg);
	if (c == NULL) {
		if (err.msg[0] == '\0')
			abort();
		for (size_t i = 0; i < sec.n; i++)
			no_secret(err.msg, sec.items[i].value, data, size);
	} else {
		check_conf(c);
		char *log = capture_log(c);
		for (size_t i = 0; log != NULL && i < c->headers.n; i++)
			no_secret(log, c->headers.items[i].value, data, size);
		free(log);
		ex_conf_free(c);
	}
	kvlist_fini(&sec);
	if (path != NULL)
		unlink(path);
	free(envtext);
	return 0;
}
