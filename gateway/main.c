/* SPDX-License-Identifier: Apache-2.0 */
/*
 * llmgw-gateway: command line, start-up and signals. Builds the process
 * context (struct gw) and the workers (server.workers threads, one event
 * loop each), and turns SIGTERM/SIGINT into a graceful drain of every
 * worker (a second signal stops at once).
 *
 * Exit codes: 0 clean stop or config OK, 1 runtime failure (e.g. cannot
 * listen), 2 usage or configuration error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/ids.h"
#include "common/log.h"
#include "gateway/auth.h"
#include "gateway/gw.h"
#include "gateway/gw_gen.h"
#include "gateway/gw_conf.h"

#ifndef LLMGW_VERSION
#define LLMGW_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
	fputs("usage: llmgw-gateway -c FILE [--check-config]\n"
	      "       llmgw-gateway --hash-key < KEYFILE | --gen-key\n"
	      "       llmgw-gateway --version | --help\n"
	      "\n"
	      "  -c, --config FILE   gateway.yaml (see docs/gateway-config.md)\n"
	      "      --check-config  validate the configuration and exit (0 ok, 2 error)\n"
	      "      --hash-key      read a virtual key (one line) from stdin and print its\n"
	      "                      SHA-256 in hex, the value for keys[].sha256\n"
	      "      --gen-key       print a new random virtual key, then its SHA-256 on a\n"
	      "                      second line (give the key to the caller, the hash to the config)\n"
	      "  -V, --version       print the version and exit\n"
	      "  -h, --help          print this help and exit\n",
	      f);
}

struct cli {
	const char *config;
	int check;
};

/*
 * --hash-key: the SHA-256 of one line read from stdin (stdin, not argv, so
 * the key stays out of ps and shell history). One trailing "\n" or "\r\n"
 * is stripped; the rest must be a token auth_check() would accept. Errors
 * exit 2 and never print the key. Returns the exit code.
 */
static int hash_key_cmd(void)
{
	char line[sizeof("Bearer ") - 1 + AUTH_TOKEN_MAX + 2]; /* + '\r' + NUL */
	size_t n = sizeof("Bearer ") - 1, len;
	uint8_t d[32];
	char hex[65];
	const char *tok, *bad = NULL;
	int ch;

	memcpy(line, "Bearer ", n);
	while ((ch = getchar()) != EOF && ch != '\n') {
		if (n >= sizeof(line) - 1) {
			bad = "is longer than 512 bytes";
			break;
		}
		line[n++] = ch == '\0' ? '\001' : (char)ch; /* a NUL would hide the rest: keep it refusable */
	}
	line[n] = '\0';
	if (ch == '\n' && n > 7 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (bad == NULL && ferror(stdin))
		bad = "could not be read from stdin";
	else if (bad == NULL && n == 7)
		bad = "is empty (give it on stdin: llmgw-gateway --hash-key < keyfile)";
	else if (bad == NULL && n - 7 > AUTH_TOKEN_MAX)
		bad = "is longer than 512 bytes";
	else if (bad == NULL && (auth_parse_bearer(line, &tok, &len) < 0 || tok != line + 7 || len != n - 7))
		bad =
		    "has characters a Bearer token cannot carry (allowed: A-Z a-z 0-9 - . _ ~ + / and '=' at the end)";
	if (bad == NULL && EVP_Digest(line + 7, n - 7, d, NULL, EVP_sha256(), NULL) != 1)
		bad = "could not be hashed (OpenSSL error)";
	OPENSSL_cleanse(line, sizeof(line));
	if (bad != NULL) {
		fprintf(stderr, "llmgw-gateway: --hash-key: the key %s\n", bad);
		return 2;
	}
	ids_hex(d, sizeof(d), hex);
	printf("%s\n", hex);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * --gen-key: "llmgw-" + 32 random bytes in unpadded base64url (43
 * characters, all valid in a Bearer token), then its SHA-256 on a second
 * line. Returns the exit code.
 */
static int gen_key_cmd(void)
{
	unsigned char raw[32], b64[48];
	char key[64], hex[65];
	uint8_t d[32];
	size_t k = 6;
	int rc = 1;

	memcpy(key, "llmgw-", k);
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		fprintf(stderr, "llmgw-gateway: --gen-key: no random bytes from OpenSSL\n");
		goto out;
	}
	int nb = EVP_EncodeBlock(b64, raw, sizeof(raw));
	for (int i = 0; i < nb && b64[i] != '='; i++)
		key[k++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	key[k] = '\0';
	if (EVP_Digest(key, k, d, NULL, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "llmgw-gateway: --gen-key: could not hash the key (OpenSSL error)\n");
		goto out;
	}
	ids_hex(d, sizeof(d), hex);
	printf("%s\n%s\n", key, hex);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Returns -1 to exit with `*code`, 0 to run. */
static int parse_args(int argc, char **argv, struct cli *cli, int *code)
{
	memset(cli, 0, sizeof(*cli));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "llmgw-gateway: %s needs a file\n", a);
				*code = 2;
				return -1;
			}
			cli->config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			cli->config = a + 9;
		} else if (strcmp(a, "--check-config") == 0) {
			cli->check = 1;
		} else if (strcmp(a, "--hash-key") == 0) {
			*code = hash_key_cmd();
			return -1;
		} else if (strcmp(a, "--gen-key") == 0) {
			*code = gen_key_cmd();
			return -1;
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("llmgw-gateway %s\n", LLMGW_VERSION);
			*code = 0;
			return -1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			*code = 0;
			return -1;
		} else {
			fprintf(stderr, "llmgw-gateway: unknown argument '%s'\n", a);
			usage(stderr);
			*code = 2;
			return -1;
		}
	}
	if (cli->config == NULL) {
		fprintf(stderr, "llmgw-gateway: -c FILE is required\n");
		usage(stderr);
		*code = 2;
		return -1;
	}
	return 0;
}

/* Keys configured by env var but missing: worth a line, not a refusal (local servers need none). */
static void warn_missing_keys(const struct gw_conf *c)
{
	for (size_t i = 0; i < c->nproviders; i++) {
		const struct gw_provider *p = &c->providers[i];
		if (p->api_key_env != NULL && p->api_key == NULL)
			log_msg(LOG_LVL_WARN, "api_key_missing",
				"provider=%s env=%s detail=\"sending no Authorization\"", p->name, p->api_key_env);
	}
}

/* --check-config: what an operator must not miss, on stdout after the "ok" line. */
static void check_report(const struct gw_conf *c, const char *path)
{
	for (size_t i = 0; i < c->nproviders; i++)
		if (c->providers[i].insecure_skip_verify)
			printf("%s: warning: tls verification disabled for provider %s (insecure_skip_verify: true)\n",
			       path, c->providers[i].name);
	if (c->admin_host != NULL)
		printf("%s: admin endpoints (/healthz, /readyz, /metrics) on %s:%u, not on server.listen\n", path,
		       c->admin_host, (unsigned)c->admin_port);
}

/*
 * Signals are handled here, on the main thread only: they are blocked
 * before the workers start (so every worker inherits the mask) and taken
 * with sigtimedwait, which also lets this thread notice when every worker
 * has finished draining.
 */
static void wait_for_workers(struct gw *g, const sigset_t *set, const char *path)
{
	unsigned nsig = 0;
	while (!gw_workers_done(g)) {
		const struct timespec tick = {0, 100 * 1000 * 1000};
		struct err err;
		int sig = sigtimedwait(set, NULL, &tick);
		if (sig <= 0)
			continue;
		if (sig == SIGHUP) {
			/* a bad file is reported and changes nothing: the running generation stays */
			if (nsig == 0 && gw_reload(g, path, &err) < 0)
				log_msg(LOG_LVL_ERROR, "config_reload_failed", "reason=\"%s\"", err.msg);
			/* providers only change on restart: the running ones are what is still unverified */
			if (nsig == 0)
				gw_warn_insecure(g->conf);
			continue;
		}
		nsig++;
		if (nsig == 1)
			log_msg(LOG_LVL_INFO, "signal", "signal=%d action=drain", sig);
		else
			log_msg(LOG_LVL_WARN, "signal", "signal=%d action=stop_now", sig);
		gw_workers_signal(g, nsig > 1);
	}
}

static int run(struct gw_conf *conf, const char *path)
{
	struct gw g;
	struct err err;
	sigset_t set;
	int rc = 1;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (gw_init(&g, conf, &err) < 0) {
		log_msg(LOG_LVL_ERROR, "start_failed", "reason=\"%s\"", err.msg);
		return 1;
	}
	if (gw_workers_init(&g, &err) < 0 || gw_workers_start(&g, &err) < 0) {
		log_msg(LOG_LVL_ERROR, "start_failed", "reason=\"%s\"", err.msg);
		gw_workers_signal(&g, true);
		goto out;
	}
	log_msg(LOG_LVL_INFO, "listening",
		"addr=%s:%u version=%s workers=%u providers=%zu models=%zu keys=%zu spans=%s", g.conf->listen_host,
		(unsigned)g.conf->listen_port, LLMGW_VERSION, g.nworkers, g.conf->nproviders, g.conf->nmodels,
		g.conf->nkeys, g.conf->spans_url[0] != '\0' ? g.conf->spans_url : "off");
	if (g.conf->admin_host != NULL)
		log_msg(LOG_LVL_INFO, "admin_listening", "addr=%s:%u paths=\"/healthz /readyz /metrics\"",
			g.conf->admin_host, (unsigned)g.conf->admin_port);
	if (!g.conf->auth_enabled)
		log_msg(LOG_LVL_WARN, "auth_disabled",
			"detail=\"auth.enabled is false: every caller is served anonymously; for demos only\"");
	wait_for_workers(&g, &set, path);
	log_msg(LOG_LVL_INFO, "stopped", "workers=%u", g.nworkers);
	rc = 0;
out:
	gw_fini(&g);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct err err;
	struct gw_conf *conf;
	int code = 0;

	if (parse_args(argc, argv, &cli, &code) < 0)
		return code;
	log_init("llmgw-gateway", LOG_LVL_INFO);
	err_clear(&err);
	conf = gw_conf_load(cli.config, &err);
	if (conf == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (cli.check) {
		warn_missing_keys(conf);
		gw_warn_insecure(conf);
		printf("%s: configuration ok (%zu providers, %zu models, %zu keys)\n", cli.config, conf->nproviders,
		       conf->nmodels, conf->nkeys);
		check_report(conf, cli.config);
		gw_conf_free(conf);
		return 0;
	}
	log_init("llmgw-gateway", conf->log_level);
	warn_missing_keys(conf);
	gw_warn_insecure(conf);
	/* a client closing mid-response must cost an EPIPE, not the process */
	signal(SIGPIPE, SIG_IGN);
	return run(conf, cli.config);
}
