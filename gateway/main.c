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

#include "common/err.h"
#include "common/log.h"
#include "gateway/gw.h"
#include "gateway/gw_conf.h"

#ifndef LLMGW_VERSION
#define LLMGW_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
	fputs("usage: llmgw-gateway -c FILE [--check-config]\n"
	      "       llmgw-gateway --version | --help\n"
	      "\n"
	      "  -c, --config FILE   gateway.yaml (see docs/gateway-config.md)\n"
	      "      --check-config  validate the configuration and exit (0 ok, 2 error)\n"
	      "  -V, --version       print the version and exit\n"
	      "  -h, --help          print this help and exit\n",
	      f);
}

struct cli {
	const char *config;
	int check;
};

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

/*
 * Signals are handled here, on the main thread only: they are blocked
 * before the workers start (so every worker inherits the mask) and taken
 * with sigtimedwait, which also lets this thread notice when every worker
 * has finished draining.
 */
static void wait_for_workers(struct gw *g, const sigset_t *set)
{
	unsigned nsig = 0;
	while (!gw_workers_done(g)) {
		const struct timespec tick = {0, 100 * 1000 * 1000};
		int sig = sigtimedwait(set, NULL, &tick);
		if (sig <= 0)
			continue;
		nsig++;
		if (nsig == 1)
			log_msg(LOG_LVL_INFO, "signal", "signal=%d action=drain", sig);
		else
			log_msg(LOG_LVL_WARN, "signal", "signal=%d action=stop_now", sig);
		gw_workers_signal(g, nsig > 1);
	}
}

static int run(struct gw_conf *conf)
{
	struct gw g;
	struct err err;
	sigset_t set;
	int rc = 1;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
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
	wait_for_workers(&g, &set);
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
		printf("%s: configuration ok (%zu providers, %zu models, %zu keys)\n", cli.config, conf->nproviders,
		       conf->nmodels, conf->nkeys);
		gw_conf_free(conf);
		return 0;
	}
	log_init("llmgw-gateway", conf->log_level);
	warn_missing_keys(conf);
	/* a client closing mid-response must cost an EPIPE, not the process */
	signal(SIGPIPE, SIG_IGN);
	return run(conf);
}
