/* SPDX-License-Identifier: Apache-2.0 */
/*
 * llmgw-exporter: the OTLP sidecar.
 *
 *   llmgw-exporter [-c FILE] [--check-config] [--version] [--help]
 *
 * main() builds the process context (struct ex: config, metrics, resource,
 * sink, delivery loop, pipeline, PULL socket, admin listener) on one
 * libevent loop and runs it. Data flows
 *   receive -> ex_pipe (batch, encode, gzip) -> retry (queue, backoff) -> sink
 *
 * Shutdown (SIGTERM/SIGINT): /readyz turns 503, intake stops (reading what
 * the socket holds until it has been quiet for 100 ms, at most 1 s, then
 * closing it), the partial batch is flushed, and delivery goes on until
 * nothing is pending or drain_timeout (counted from the signal) passes.
 * What is left then stays in the disk queue for the next run (queue.dir),
 * or is dropped and counted, reason shutdown (memory queue); either way it
 * is logged as event=shutdown_left. A second signal skips the rest of the
 * drain. The last line, event=stopped, gives the exit code and the run's
 * span counts: delivered, persisted, lost, dropped.
 *
 * Exit codes say whether anything was left behind, so a supervisor (or a
 * person) can tell without reading logs:
 *   0  nothing left: every span read was delivered or dropped for a reason
 *      counted while running (backend refusal, retry.max_elapsed, ...)
 *   1  start-up failure (bind, sink, queue directory)
 *   2  configuration error (message "file:line:col: key: reason" on stderr)
 *   3  spans were lost at shutdown: the memory queue still held batches at
 *      the deadline, or the queue dropped batches during the drain
 *      (queue_full, disk_error). Wins over 4 when both happen.
 *   4  spans were left in the disk queue; nothing was lost: the next start
 *      on the same queue.dir delivers them
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "exporter/enrich.h"
#include "exporter/ex_admin.h"
#include "exporter/ex_conf.h"
#include "exporter/ex_metrics.h"
#include "exporter/ex_pipe.h"
#include "exporter/receive.h"
#include "exporter/retry.h"
#include "exporter/sink.h"

#define EX_PROG "llmgw-exporter"
#define EX_EXIT_LOST 3	    /* spans lost at shutdown */
#define EX_EXIT_PERSISTED 4 /* spans left in the disk queue for the next start, none lost */

/* The process context: the only mutable state outside the modules' own objects. */
struct ex {
	struct ex_conf *conf;
	struct event_base *evb;
	struct metrics *reg;
	struct ex_metrics m;
	struct ids_rng rng;
	struct enrich *enrich;
	struct sink *sink;
	struct retry *retry;
	struct ex_pipe *pipe;
	struct receive *recv;
	struct ex_admin *admin;
	struct event *sig_term;
	struct event *sig_int;
	struct event *drain_timer;
	bool draining;
	bool stopped; /* retry_stop done: nothing more is delivered */
	uint64_t drain_start_ns;
	uint64_t queue_drops_at_drain; /* queue_full + disk_error drops when the drain began */
	uint64_t left_persisted;       /* spans left in the disk queue at the stop */
	uint64_t left_lost;	       /* spans the shutdown cost (see the exit codes) */
};

static void ex_usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-c FILE] [--check-config] [--version] [--help]\n"
		"  -c, --config FILE   exporter.yaml (default: built-in defaults; OTEL_* env vars apply either way)\n"
		"      --check-config  load and validate the configuration and TLS files, then exit (0 ok, 2 error)\n"
		"      --version       print the version and exit\n"
		"  -h, --help          this text\n"
		"Exit status: 0 ok (nothing left behind), 1 start-up failure, 2 configuration error,\n"
		"  3 spans lost at shutdown, 4 spans left in the disk queue for the next start (none lost).\n"
		"See docs/exporter-config.md for every key and environment variable.\n",
		EX_PROG);
}

/* ---- shutdown ----------------------------------------------------------------- */

static void ex_drained(void *arg)
{
	struct ex *ex = arg;
	log_msg(LOG_LVL_INFO, "drained", "elapsed_ms=%llu",
		(unsigned long long)((clock_mono_ns() - ex->drain_start_ns) / 1000000));
	event_base_loopexit(ex->evb, NULL);
}

/* Spans the delivery queue dropped because it could not keep them (full, or the disk failed). */
static uint64_t ex_queue_drops(const struct ex *ex)
{
	return (uint64_t)metric_get(ex->m.dropped[EX_DROP_QUEUE_FULL]) +
	       (uint64_t)metric_get(ex->m.dropped[EX_DROP_DISK_ERROR]);
}

/*
 * Ends delivery now and notes what was left: kept in the disk queue, or
 * lost (the memory queue's leftovers, and what the queue dropped since the
 * drain began, e.g. the last batch pushing the oldest out of a full queue).
 */
static void ex_stop_delivery(struct ex *ex)
{
	struct retry_left left;
	if (ex->stopped)
		return;
	ex->stopped = true;
	ex_pipe_flush(ex->pipe); /* a batch still open (intake cut short) is queued: kept or counted below */
	retry_stop(ex->retry, &left);
	if (left.persisted)
		ex->left_persisted += left.spans;
	else
		ex->left_lost += left.spans;
	if (ex->draining)
		ex->left_lost += ex_queue_drops(ex) - ex->queue_drops_at_drain;
}

/* 3 when anything was lost (it wins), else 4 when something waits on disk, else 0. */
static int ex_exit_code(const struct ex *ex)
{
	if (ex->left_lost > 0)
		return EX_EXIT_LOST;
	return ex->left_persisted > 0 ? EX_EXIT_PERSISTED : 0;
}

/* The last line: exit code and the run's counts (numbers only, nothing from the config). */
static void ex_log_stopped(const struct ex *ex, int code)
{
	uint64_t dropped = 0;
	for (int i = 0; i < EX_DROP__COUNT; i++)
		dropped += (uint64_t)metric_get(ex->m.dropped[i]);
	log_msg(code == 0 ? LOG_LVL_INFO : LOG_LVL_WARN, "stopped",
		"exit_code=%d delivered=%llu persisted=%llu lost=%llu dropped=%llu", code,
		(unsigned long long)metric_get(ex->m.exported), (unsigned long long)ex->left_persisted,
		(unsigned long long)ex->left_lost, (unsigned long long)dropped);
}

static void ex_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ex *ex = arg;
	(void)fd;
	(void)what;
	log_msg(LOG_LVL_WARN, "drain_deadline", "pending_batches=%zu in_flight=%u", retry_pending(ex->retry),
		retry_inflight(ex->retry));
	ex_stop_delivery(ex);
	event_base_loopexit(ex->evb, NULL);
}

/* The socket is read empty and closed: flush the last batch and deliver until idle or the deadline. */
static void ex_intake_done(void *arg)
{
	struct ex *ex = arg;
	if (ex->stopped)
		return;
	ex_pipe_flush(ex->pipe);
	retry_drain(ex->retry, ex_drained, ex);
}

static void ex_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ex *ex = arg;
	(void)what;
	if (ex->draining) {
		log_msg(LOG_LVL_WARN, "signal_again", "signal=%d action=exit_now pending_batches=%zu", (int)sig,
			retry_pending(ex->retry));
		ex_stop_delivery(ex);
		event_base_loopexit(ex->evb, NULL);
		return;
	}
	ex->draining = true;
	ex->drain_start_ns = clock_mono_ns();
	ex->queue_drops_at_drain = ex_queue_drops(ex);
	log_msg(LOG_LVL_INFO, "draining", "signal=%d pending_batches=%zu drain_timeout_ms=%lld", (int)sig,
		retry_pending(ex->retry), (long long)ex->conf->drain_timeout_ms);
	int64_t ms = ex->conf->drain_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ex->drain_timer, &tv);
	receive_stop(ex->recv, ex_intake_done, ex);
}

static bool ex_ready(void *arg, char *why, size_t whylen)
{
	struct ex *ex = arg;
	if (ex->draining) {
		snprintf(why, whylen, "draining");
		return false;
	}
	if (!receive_ready(ex->recv)) {
		snprintf(why, whylen, "pipeline socket not bound");
		return false;
	}
	return retry_ready(ex->retry, why, whylen);
}

/* ---- start-up / teardown -------------------------------------------------------- */

static int ex_signals(struct ex *ex, struct err *err)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL); /* a closed peer is an error return, not a death */
	ex->sig_term = evsignal_new(ex->evb, SIGTERM, ex_on_signal, ex);
	ex->sig_int = evsignal_new(ex->evb, SIGINT, ex_on_signal, ex);
	ex->drain_timer = evtimer_new(ex->evb, ex_drain_deadline, ex);
	if (ex->sig_term == NULL || ex->sig_int == NULL || ex->drain_timer == NULL ||
	    event_add(ex->sig_term, NULL) != 0 || event_add(ex->sig_int, NULL) != 0)
		return err_set(err, ENOMEM, "cannot install signal handlers");
	return 0;
}

static int ex_start(struct ex *ex, struct err *err)
{
	const struct ex_conf *c = ex->conf;
	if ((ex->evb = event_base_new()) == NULL)
		return err_set(err, ENOMEM, "cannot create the event loop");
	if ((ex->reg = metrics_new()) == NULL || ex_metrics_init(&ex->m, ex->reg, err) != 0 ||
	    ids_rng_init(&ex->rng, err) != 0)
		return -1;
	struct metric *insecure = metrics_gauge(ex->reg, "llmgw_exporter_tls_verify_disabled",
						"1 while the export endpoint's TLS certificate is not verified", NULL);
	if (insecure == NULL)
		return err_set(err, ENOMEM, "cannot register metrics");
	metric_set(insecure, c->insecure_skip_verify ? 1 : 0);
	if ((ex->enrich = enrich_new(&c->resource_attrs, c->service_name, c->env_resource_attributes,
				     c->env_service_name, err)) == NULL ||
	    (ex->sink = sink_create(ex->evb, c, err)) == NULL ||
	    (ex->retry = retry_new(ex->evb, c, ex->sink, &ex->m, &ex->rng, err)) == NULL ||
	    (ex->pipe = ex_pipe_new(ex->evb, c, ex->enrich, ex->retry, &ex->m, err)) == NULL ||
	    ex_signals(ex, err) != 0)
		return -1;
	if (c->admin_host != NULL &&
	    (ex->admin = ex_admin_new(ex->evb, c->admin_host, c->admin_port, ex->reg, ex_ready, ex, err)) == NULL)
		return -1;
	/* Bind last: once the gateway can reach us, everything behind the socket is ready. */
	ex->recv = receive_new(ex->evb, c->receive_url, c->rcvbuf, &ex->m, ex_pipe_record, ex->pipe, err);
	return ex->recv ? 0 : -1;
}

static void ex_stop(struct ex *ex)
{
	receive_free(ex->recv);
	ex_admin_free(ex->admin);
	ex_pipe_free(ex->pipe);
	retry_free(ex->retry);
	sink_destroy(ex->sink);
	enrich_free(ex->enrich);
	if (ex->drain_timer != NULL)
		event_free(ex->drain_timer);
	if (ex->sig_term != NULL)
		event_free(ex->sig_term);
	if (ex->sig_int != NULL)
		event_free(ex->sig_int);
	metrics_free(ex->reg);
	if (ex->evb != NULL)
		event_base_free(ex->evb);
	ex_conf_free(ex->conf);
}

/*
 * --check-config for an https endpoint: builds the otlp_http sink on a
 * throwaway loop, which makes the TLS client context exactly as start-up
 * does (CA bundle, client certificate and key), so a CA file that is not
 * PEM or a key that does not belong to its certificate fails here rather
 * than at the first export. Nothing connects. Other endpoints have
 * nothing more to check (the file sink would create its file: not done).
 */
static int ex_check_tls(const struct ex_conf *c, struct err *err)
{
	struct event_base *evb;
	struct sink *s;
	if (c->endpoint.kind != EX_SINK_HTTP || !c->endpoint.http.tls)
		return 0;
	if ((evb = event_base_new()) == NULL)
		return err_set(err, ENOMEM, "cannot create the event loop");
	s = sink_create(evb, c, err);
	sink_destroy(s);
	event_base_free(evb);
	return s != NULL ? 0 : -1;
}

/* Parses argv; returns -1 to exit with *code. */
static int ex_args(int argc, char **argv, const char **path, bool *check, int *code)
{
	enum { OPT_CHECK = 256, OPT_VERSION };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			*path = optarg;
			break;
		case OPT_CHECK:
			*check = true;
			break;
		case OPT_VERSION:
			printf("%s %s\n", EX_PROG, LLMGW_VERSION);
			*code = 0;
			return -1;
		case 'h':
			ex_usage(stdout);
			*code = 0;
			return -1;
		default:
			ex_usage(stderr);
			*code = 2;
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument: %s\n", EX_PROG, argv[optind]);
		*code = 2;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ex ex;
	struct err err;
	const char *path = NULL;
	bool check = false;
	int code = 0;
	memset(&ex, 0, sizeof(ex));
	err_clear(&err);
	if (ex_args(argc, argv, &path, &check, &code) != 0)
		return code;
	log_init(EX_PROG, LOG_LVL_INFO);
	if ((ex.conf = ex_conf_load(path, NULL, NULL, &err)) == NULL) {
		fprintf(stderr, "%s: %s\n", EX_PROG, err.msg);
		return 2;
	}
	log_init(EX_PROG, ex.conf->log_level);
	if (check) {
		struct enrich *e = enrich_new(&ex.conf->resource_attrs, ex.conf->service_name,
					      ex.conf->env_resource_attributes, ex.conf->env_service_name, &err);
		ex_conf_log(ex.conf);
		enrich_free(e);
		if (ex_check_tls(ex.conf, &err) != 0) {
			fprintf(stderr, "%s: export: %s\n", EX_PROG, err.msg); /* file names and OpenSSL reasons only */
			ex_conf_free(ex.conf);
			return 2;
		}
		printf("%s: configuration ok (%s)\n", EX_PROG, path ? path : "built-in defaults");
		if (ex.conf->insecure_skip_verify)
			printf("%s: warning: tls verification disabled for the export endpoint "
			       "(export.insecure_skip_verify: true)\n",
			       EX_PROG);
		ex_conf_free(ex.conf);
		return 0;
	}
	ex_conf_log(ex.conf);
	if (ex_start(&ex, &err) != 0) {
		char q[300];
		log_msg(LOG_LVL_ERROR, "startup_failed", "error=%s", log_quote(err.msg, q, sizeof(q)));
		ex_stop(&ex);
		return 1;
	}
	log_msg(LOG_LVL_INFO, "started", "version=%s sink=%s", LLMGW_VERSION, sink_name(ex.sink));
	event_base_dispatch(ex.evb);
	ex_stop_delivery(&ex); /* counts a memory queue's leftovers if the loop ended some other way */
	code = ex_exit_code(&ex);
	ex_log_stopped(&ex, code);
	ex_stop(&ex);
	return code;
}
