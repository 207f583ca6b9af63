/* SPDX-License-Identifier: Apache-2.0 */
/*
 * llmgw-gateway: command line, start-up and signals. Builds the process
 * context (struct gw) and one worker, runs the event loop, and turns
 * SIGTERM/SIGINT into a graceful drain (a second signal stops at once).
 *
 * Exit codes: 0 clean stop or config OK, 1 runtime failure (e.g. cannot
 * listen), 2 usage or configuration error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

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

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gw_worker *w = arg;
	(void)what;
	if (!w->draining) {
		log_msg(LOG_LVL_INFO, "signal", "signal=%d action=drain", (int)sig);
		gw_worker_drain(w);
		return;
	}
	log_msg(LOG_LVL_WARN, "signal", "signal=%d action=stop_now in_flight=%u", (int)sig, w->nreqs);
	gw_worker_stop_now(w);
}

static int run(struct gw_conf *conf)
{
	struct gw g;
	struct gw_worker w;
	struct event *sigterm = NULL, *sigint = NULL;
	struct err err;
	int rc = 1;

	if (gw_init(&g, conf, &err) < 0) {
		log_msg(LOG_LVL_ERROR, "start_failed", "reason=\"%s\"", err.msg);
		return 1;
	}
	if (gw_worker_init(&w, &g, &err) < 0) {
		log_msg(LOG_LVL_ERROR, "start_failed", "reason=\"%s\"", err.msg);
		goto out;
	}
	sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
	sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
		log_msg(LOG_LVL_ERROR, "start_failed", "reason=\"cannot install signal handlers\"");
		goto out;
	}
	log_msg(LOG_LVL_INFO, "listening", "addr=%s:%u version=%s providers=%zu models=%zu keys=%zu spans=%s",
		g.conf->listen_host, (unsigned)g.conf->listen_port, LLMGW_VERSION, g.conf->nproviders, g.conf->nmodels,
		g.conf->nkeys, g.conf->spans_url[0] != '\0' ? g.conf->spans_url : "off");
	event_base_dispatch(w.base);
	log_msg(LOG_LVL_INFO, "stopped", "in_flight=%u", w.nreqs);
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	gw_worker_fini(&w);
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
