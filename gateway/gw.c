/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building and tearing down the process context and the workers, the
 * worker threads, and the graceful drain. Teardown order matters with
 * libevent: requests (which may hold upstream calls) and connections
 * before the upstream pool, the pool before the DNS base its connections
 * resolve through, everything before the base.
 */
#include "gateway/gw.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "common/metrics.h"
#include "common/tls.h"
#include "gateway/admin.h"
#include "gateway/api_cache.h"
#include "gateway/api_guard.h"
#include "gateway/gov_redis.h"
#include "gateway/gw_gen.h"
#include "gateway/gw_usage.h"
#include "gateway/http_srv.h"
#include "gateway/mcp.h"
#include "gateway/mcp_metrics.h"
#include "gateway/mcp_pool.h"
#include "gateway/provider.h"
#include "gateway/upstream.h"

static int tls_contexts(struct gw *g, struct err *err)
{
	const struct gw_conf *conf = g->conf;
	g->tls = calloc(conf->nproviders > 0 ? conf->nproviders : 1, sizeof(*g->tls));
	if (g->tls == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < conf->nproviders; i++) {
		const struct gw_provider *p = &conf->providers[i];
		if (p->type == GW_PROVIDER_MOCK || !p->url.tls)
			continue;
		struct err e2;
		if ((g->tls[i] = tls_client_ctx_new(p->ca_file, (const unsigned char *)UPSTREAM_ALPN,
						    sizeof(UPSTREAM_ALPN) - 1, &e2)) == NULL)
			return err_set(err, e2.code, "provider %s: %s", p->name, e2.msg);
		/* the one call that turns verification off, and only on the config's explicit word */
		if (p->insecure_skip_verify)
			tls_client_ctx_skip_verify(g->tls[i]);
	}
	return 0;
}

size_t gw_warn_insecure(const struct gw_conf *conf)
{
	size_t n = 0;
	for (size_t i = 0; i < conf->nproviders; i++) {
		const struct gw_provider *p = &conf->providers[i];
		if (!p->insecure_skip_verify)
			continue;
		n++;
		log_msg(LOG_LVL_WARN, "tls_verify_disabled",
			"provider=%s base_url=%s detail=\"tls verification disabled for provider %s "
			"(insecure_skip_verify: true): its certificate is not checked\"",
			p->name, p->base_url, p->name);
	}
	return n;
}

/* llmgw_upstream_tls_verify_disabled{provider}: 1 while a provider's certificate is not checked. */
static int tls_metrics(struct gw *g, struct err *err)
{
	const struct gw_conf *conf = g->conf;
	g->tls_insecure = calloc(conf->nproviders > 0 ? conf->nproviders : 1, sizeof(*g->tls_insecure));
	if (g->tls_insecure == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < conf->nproviders; i++) {
		const struct gw_provider *p = &conf->providers[i];
		char label[96];
		if (p->type == GW_PROVIDER_MOCK)
			continue;
		snprintf(label, sizeof(label), "provider=\"%s\"", p->name);
		g->tls_insecure[i] = metrics_gauge(
		    g->metrics.reg, "llmgw_upstream_tls_verify_disabled",
		    "1 while the provider's TLS certificate is not verified (insecure_skip_verify)", label);
		if (g->tls_insecure[i] == NULL)
			return err_set(err, ENOMEM, "cannot register TLS metrics");
		metric_set(g->tls_insecure[i], p->insecure_skip_verify ? 1 : 0);
	}
	return 0;
}

static int server_metrics(struct gw *g, struct err *err)
{
	struct metrics *reg = g->metrics.reg;
	g->conns_open = metrics_gauge(reg, "llmgw_connections_open", "Client connections open", NULL);
	g->conns_accepted =
	    metrics_counter(reg, "llmgw_connections_accepted_total", "Client connections accepted and served", NULL);
	g->conns_rejected = metrics_counter(reg, "llmgw_connections_rejected_total",
					    "Client connections closed at once: server.max_connections reached", NULL);
	if (g->conns_open == NULL || g->conns_rejected == NULL || g->conns_accepted == NULL)
		return err_set(err, ENOMEM, "cannot register connection metrics");
	return 0;
}

static int gov_metrics(struct gw *g, struct err *err)
{
	struct metrics *reg = g->metrics.reg;
	g->reloads[0] =
	    metrics_counter(reg, "llmgw_config_reloads_total", "Config reloads (SIGHUP) by result", "result=\"ok\"");
	g->reloads[1] =
	    metrics_counter(reg, "llmgw_config_reloads_total", "Config reloads (SIGHUP) by result", "result=\"error\"");
	g->generation = metrics_gauge(reg, "llmgw_config_generation",
				      "Config generation in use: 1 at start, +1 per successful reload", NULL);
	if (g->reloads[0] == NULL || g->reloads[1] == NULL || g->generation == NULL)
		return err_set(err, ENOMEM, "cannot register config metrics");
	metric_set(g->generation, 1);
	if ((g->usage = gw_usage_new(reg, g->conf->metrics_max_series, err)) == NULL)
		return -1;
	if (g->conf->redis != NULL && (g->redis_metrics = gov_redis_metrics_new(reg, err)) == NULL)
		return -1;
	return 0;
}

int gw_init(struct gw *g, struct gw_conf *conf, struct err *err)
{
	memset(g, 0, sizeof(*g));
	g->conf = conf;
	g->started_unix = (int64_t)time(NULL);
	atomic_init(&g->exited, 0);
	if (gw_metrics_init(&g->metrics, conf, err) < 0 || server_metrics(g, err) < 0)
		goto fail;
	if ((g->up_metrics = upstream_metrics_new(g->metrics.reg, conf, err)) == NULL)
		goto fail;
	if (tls_contexts(g, err) < 0 || tls_metrics(g, err) < 0 || gov_metrics(g, err) < 0)
		goto fail;
	if ((g->mcp_metrics = mcp_metrics_new(g->metrics.reg, err)) == NULL)
		goto fail;
	if (api_cache_init(g, err) < 0 || api_guard_init(g, err) < 0)
		goto fail;
	struct gw_gen *gen = gw_gen_new(g, conf, false, NULL, conf->workers > 0 ? conf->workers : 1, err);
	if (gen == NULL)
		goto fail;
	atomic_init(&g->gen, gen);
	if (conf->spans_url[0] != '\0') {
		struct err e2;
		g->spans = spanpipe_open(conf->spans_url, (size_t)conf->spans_sndbuf, &e2);
		if (g->spans == NULL) {
			err_set(err, e2.code, "telemetry.spans_url %s: %s", conf->spans_url, e2.msg);
			goto fail;
		}
	}
	g->span_out.pipe = g->spans;
	g->span_out.sent = g->metrics.spans_sent;
	g->span_out.dropped_full = g->metrics.spans_dropped_full;
	g->span_out.dropped_error = g->metrics.spans_dropped_error;
	return 0;
fail:
	gw_fini(g);
	return -1;
}

void gw_fini(struct gw *g)
{
	if (g == NULL)
		return;
	gw_workers_join(g);
	spanpipe_close(g->spans);
	if (g->tls != NULL && g->conf != NULL)
		for (size_t i = 0; i < g->conf->nproviders; i++)
			SSL_CTX_free(g->tls[i]);
	free(g->tls);
	free(g->tls_insecure);
	gw_gen_release(atomic_load(&g->gen)); /* the "current" hold: the workers have released theirs */
	gw_usage_free(g->usage);
	gov_redis_metrics_free(g->redis_metrics);
	upstream_metrics_free(g->up_metrics);
	mcp_metrics_free(g->mcp_metrics);
	api_cache_fini(g);
	api_guard_fini(g);
	gw_metrics_fini(&g->metrics);
	gw_conf_free(g->conf);
	memset(g, 0, sizeof(*g));
}

/* ---- one worker ------------------------------------------------------------------- */

/* Leaves the loop soon: responses queued in this iteration still need a write. */
static void worker_exit_soon(struct gw_worker *w)
{
	const struct timeval flush = {0, 100 * 1000};
	event_base_loopexit(w->base, &flush);
}

static void drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_worker *w = arg;
	(void)fd;
	(void)what;
	log_msg(LOG_LVL_WARN, "drain_deadline", "worker=%u aborted=%u", w->id, w->nreqs);
	http_srv_abort_all(w);
	worker_exit_soon(w);
}

/* Messages from the main thread (signals are handled there only). */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_worker *w = arg;
	char cmd[16];
	(void)what;
	ssize_t n = read(fd, cmd, sizeof(cmd));
	for (ssize_t i = 0; i < n; i++) {
		if (cmd[i] == 'd')
			gw_worker_drain(w);
		else if (cmd[i] == 's')
			gw_worker_stop_now(w);
		else if (cmd[i] == 'r')
			gw_gen_adopt(w, false);
	}
}

static int worker_wake_init(struct gw_worker *w, struct err *err)
{
	if (pipe(w->wake) < 0)
		return err_set(err, errno, "pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(w->wake[i], F_SETFL, fcntl(w->wake[i], F_GETFL) | O_NONBLOCK);
		fcntl(w->wake[i], F_SETFD, FD_CLOEXEC);
	}
	w->wake_ev = event_new(w->base, w->wake[0], EV_READ | EV_PERSIST, wake_cb, w);
	if (w->wake_ev == NULL || event_add(w->wake_ev, NULL) < 0)
		return err_set(err, ENOMEM, "event_new failed");
	return 0;
}

int gw_worker_init(struct gw_worker *w, struct gw *g, unsigned id, struct err *err)
{
	memset(w, 0, sizeof(*w));
	w->gw = g;
	w->id = id;
	w->listen_fd = -1;
	w->wake[0] = w->wake[1] = -1;
	TAILQ_INIT(&w->reqs);
	log_ratelimit_init(&w->warn_rl, 10, 1000000000u);
	if (ids_rng_init(&w->rng, err) < 0)
		return -1;
	if ((w->base = event_base_new()) == NULL)
		return err_set(err, ENOMEM, "event_base_new failed");
	w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) {
		/* no usable resolv.conf: IP literals still work, names will fail per request */
		if (id == 0)
			log_msg(LOG_LVL_WARN, "dns_init", "reason=\"no nameservers configured\"");
		w->dns = evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (w->dns == NULL)
		return err_set(err, ENOMEM, "evdns_base_new failed");
	if ((w->pool = upstream_pool_new(w->base, w->dns, g->conf, g->tls, err)) == NULL)
		return -1;
	upstream_pool_set_metrics(w->pool, g->up_metrics);
	if ((w->mcp = mcp_worker_new(w, err)) == NULL)
		return -1;
	w->gen = atomic_load(&g->gen);
	if (g->conf->redis != NULL &&
	    (w->redis = gov_redis_new(w->base, g->conf->redis, g->redis_metrics, id, err)) == NULL)
		return -1;
	if (span_batch_init(&w->spans, w->base, &g->span_out, err) < 0)
		return -1;
	if ((w->drain_timer = evtimer_new(w->base, drain_deadline_cb, w)) == NULL)
		return err_set(err, ENOMEM, "evtimer_new failed");
	if (worker_wake_init(w, err) < 0)
		return -1;
	if (http_srv_start(w, err) < 0)
		return -1;
	if (g->conf->admin_host != NULL && (w->admin = admin_new(w, err)) == NULL)
		return -1;
	w->ready = true;
	return 0;
}

void gw_worker_fini(struct gw_worker *w)
{
	if (w == NULL || w->base == NULL)
		return;
	/* requests left when the loop ended: answer (best effort) and free them, then the connections */
	http_srv_abort_all(w);
	http_srv_free(w);
	admin_free(w->admin);
	span_batch_fini(&w->spans); /* after the last request's records */
	mcp_worker_free(w->mcp);    /* its pools: every MCP request has ended above */
	upstream_pool_free(w->pool);
	gov_redis_free(w->redis);
	if (w->gen != NULL)
		gw_gen_adopt(w, true);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->wake_ev != NULL)
		event_free(w->wake_ev);
	for (int i = 0; i < 2; i++)
		if (w->wake[i] >= 0)
			close(w->wake[i]);
	event_base_free(w->base);
	memset(w, 0, sizeof(*w));
}

void gw_worker_drain(struct gw_worker *w)
{
	const struct gw_conf *c = w->gw->conf;
	if (w->draining)
		return;
	w->draining = true;
	w->ready = false;
	http_srv_stop_accepting(w);
	mcp_worker_drain(w); /* GET streams end now: their clients reconnect elsewhere */
	if (w->id == 0)
		log_msg(LOG_LVL_INFO, "draining", "workers=%u deadline_ms=%lld", w->gw->nworkers,
			(long long)c->drain_timeout_ms);
	if (w->nreqs == 0 && w->conns.nconns == 0) {
		worker_exit_soon(w);
		return;
	}
	struct timeval tv = {(time_t)(c->drain_timeout_ms / 1000), (suseconds_t)((c->drain_timeout_ms % 1000) * 1000)};
	evtimer_add(w->drain_timer, &tv);
}

void gw_worker_stop_now(struct gw_worker *w)
{
	w->draining = true;
	w->ready = false;
	http_srv_stop_accepting(w);
	evtimer_del(w->drain_timer);
	http_srv_abort_all(w);
	worker_exit_soon(w);
}

void gw_worker_request_done(struct gw_worker *w)
{
	if (w->draining && w->nreqs == 0 && w->conns.nconns == 0)
		worker_exit_soon(w);
}

/* ---- the set of workers ---------------------------------------------------------------- */

int gw_workers_init(struct gw *g, struct err *err)
{
	unsigned n = g->conf->workers > 0 ? g->conf->workers : 1;
	g->workers = calloc(n, sizeof(*g->workers));
	if (g->workers == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		if (gw_worker_init(&g->workers[i], g, i, err) < 0) {
			gw_worker_fini(&g->workers[i]);
			return -1;
		}
		g->nworkers = i + 1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct gw_worker *w = arg;
	event_base_dispatch(w->base);
	atomic_fetch_add(&w->gw->exited, 1);
	return NULL;
}

int gw_workers_start(struct gw *g, struct err *err)
{
	for (unsigned i = 0; i < g->nworkers; i++) {
		int rc = pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]);
		if (rc != 0)
			return err_set(err, rc, "cannot start worker thread: %s", strerror(rc));
		g->workers[i].started = true;
	}
	return 0;
}

void gw_workers_signal(struct gw *g, bool stop_now)
{
	gw_workers_wake(g, stop_now ? 's' : 'd');
}

void gw_workers_wake(struct gw *g, char cmd)
{
	for (unsigned i = 0; i < g->nworkers; i++)
		if (g->workers[i].wake[1] >= 0 && write(g->workers[i].wake[1], &cmd, 1) < 0)
			log_msg(LOG_LVL_WARN, "wake_failed", "worker=%u", i);
}

bool gw_workers_done(struct gw *g)
{
	unsigned started = 0;
	for (unsigned i = 0; i < g->nworkers; i++)
		started += g->workers[i].started;
	return atomic_load(&g->exited) >= started;
}

void gw_workers_join(struct gw *g)
{
	if (g->workers == NULL)
		return;
	for (unsigned i = 0; i < g->nworkers; i++)
		if (g->workers[i].started) {
			pthread_join(g->workers[i].thread, NULL);
			g->workers[i].started = false;
		}
	for (unsigned i = 0; i < g->nworkers; i++)
		gw_worker_fini(&g->workers[i]);
	free(g->workers);
	g->workers = NULL;
	g->nworkers = 0;
}
