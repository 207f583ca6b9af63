/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building and tearing down the process context and a worker, and the
 * graceful drain. Teardown order matters with libevent: requests (which
 * may hold upstream calls) before the upstream pool, the pool before the
 * DNS base its bufferevents resolve through, everything before the base.
 */
#include "gateway/gw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/tls.h"
#include "gateway/auth.h"
#include "gateway/http_srv.h"
#include "gateway/upstream.h"

int gw_init(struct gw *g, struct gw_conf *conf, struct err *err)
{
	memset(g, 0, sizeof(*g));
	g->conf = conf;
	g->started_unix = (int64_t)time(NULL);
	if (gw_metrics_init(&g->metrics, conf, err) < 0)
		goto fail;
	if ((g->auth = auth_new(conf, err)) == NULL)
		goto fail;
	g->tls = calloc(conf->nproviders, sizeof(*g->tls));
	if (g->tls == NULL) {
		err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < conf->nproviders; i++) {
		const struct gw_provider *p = &conf->providers[i];
		if (p->type == GW_PROVIDER_MOCK || !p->url.tls)
			continue;
		struct err e2;
		if ((g->tls[i] = tls_client_ctx_new(p->ca_file, (const unsigned char *)UPSTREAM_ALPN,
						    sizeof(UPSTREAM_ALPN) - 1, &e2)) == NULL) {
			err_set(err, e2.code, "provider %s: %s", p->name, e2.msg);
			goto fail;
		}
	}
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
	spanpipe_close(g->spans);
	if (g->tls != NULL && g->conf != NULL)
		for (size_t i = 0; i < g->conf->nproviders; i++)
			SSL_CTX_free(g->tls[i]);
	free(g->tls);
	auth_free(g->auth);
	gw_metrics_fini(&g->metrics);
	gw_conf_free(g->conf);
	memset(g, 0, sizeof(*g));
}

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
	log_msg(LOG_LVL_WARN, "drain_deadline", "aborted=%u", w->nreqs);
	http_srv_abort_all(w);
	worker_exit_soon(w);
}

int gw_worker_init(struct gw_worker *w, struct gw *g, struct err *err)
{
	memset(w, 0, sizeof(*w));
	w->gw = g;
	TAILQ_INIT(&w->reqs);
	log_ratelimit_init(&w->warn_rl, 10, 1000000000u);
	if (ids_rng_init(&w->rng, err) < 0)
		return -1;
	if ((w->base = event_base_new()) == NULL)
		return err_set(err, ENOMEM, "event_base_new failed");
	w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) {
		/* no usable resolv.conf: IP literals still work, names will fail per request */
		log_msg(LOG_LVL_WARN, "dns_init", "reason=\"no nameservers configured\"");
		w->dns = evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (w->dns == NULL)
		return err_set(err, ENOMEM, "evdns_base_new failed");
	if ((w->pool = upstream_pool_new(w->base, w->dns, g->conf, g->tls, err)) == NULL)
		return -1;
	if ((w->drain_timer = evtimer_new(w->base, drain_deadline_cb, w)) == NULL)
		return err_set(err, ENOMEM, "evtimer_new failed");
	if (http_srv_start(w, err) < 0)
		return -1;
	w->ready = true;
	return 0;
}

void gw_worker_fini(struct gw_worker *w)
{
	if (w == NULL || w->base == NULL)
		return;
	/* requests left when the loop ended: answer (best effort) and free them */
	if (w->http != NULL)
		http_srv_abort_all(w);
	upstream_pool_free(w->pool);
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
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
	log_msg(LOG_LVL_INFO, "draining", "in_flight=%u deadline_ms=%lld", w->nreqs, (long long)c->drain_timeout_ms);
	if (w->nreqs == 0) {
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
	if (w->draining && w->nreqs == 0)
		worker_exit_soon(w);
}
