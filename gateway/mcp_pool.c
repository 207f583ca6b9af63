/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream pools for MCP servers (see mcp_pool.h for the lifetime rules).
 *
 * The upstream client reads its targets as struct gw_provider records of
 * a struct gw_conf; a pool here owns a two-provider conf of its own, built
 * from the MCP server's settings, so nothing it reads belongs to a config
 * generation that a reload may free.
 */
#include "gateway/mcp_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/tls.h"
#include "gateway/gw.h"
#include "gateway/gw_conf.h"
#include "gateway/gw_gen.h"
#include "gateway/mcp_int.h"
#include "gateway/upstream.h"

#define POOL_IDLE_MS 50000 /* an unused keep-alive connection is closed after this */
#define CALL_CONNS 256	   /* per worker and server: POST and DELETE */
#define STREAM_CONNS 1024  /* per worker and server: GET streams, one connection each on HTTP/1.1 */

struct mcp_gen {
	SSL_CTX **tls; /* [n], NULL for http:// servers */
	size_t n;
};

struct mcp_upstream {
	struct mcp_upstream *next;
	/* what identifies the connection: equal in a later generation = same pool */
	char *url;
	char *ca_file;
	int64_t connect_ms, timeout_ms, stream_ms, idle_ms;
	/* what the upstream client reads */
	struct gw_conf conf;
	struct gw_provider prov[MCP_TARGET__COUNT];
	SSL_CTX *tls[MCP_TARGET__COUNT]; /* one reference, in both slots */
	struct upstream_pool *pool;
	unsigned inflight; /* requests using it */
	bool stale;	   /* the current generation no longer describes it */
};

/* ---- per generation ------------------------------------------------------------------------ */

struct mcp_gen *mcp_gen_new(const struct gw_conf *conf, struct err *err)
{
	struct mcp_gen *g = calloc(1, sizeof(*g));
	if (g == NULL || (conf->nmcp_servers > 0 && (g->tls = calloc(conf->nmcp_servers, sizeof(*g->tls))) == NULL)) {
		free(g);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	g->n = conf->nmcp_servers;
	for (size_t i = 0; i < g->n; i++) {
		const struct gw_mcp_server *s = &conf->mcp_servers[i];
		struct err e2;
		if (!s->parsed.tls)
			continue;
		g->tls[i] = tls_client_ctx_new(s->ca_file, (const unsigned char *)UPSTREAM_ALPN,
					       sizeof(UPSTREAM_ALPN) - 1, &e2);
		if (g->tls[i] == NULL) {
			err_set(err, e2.code, "MCP server %s: %s", s->name, e2.msg);
			mcp_gen_free(g);
			return NULL;
		}
	}
	return g;
}

void mcp_gen_free(struct mcp_gen *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		SSL_CTX_free(g->tls[i]);
	free(g->tls);
	free(g);
}

/* ---- pools ----------------------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_connection(const struct mcp_upstream *u, const struct gw_mcp_server *s)
{
	return strcmp(u->url, s->url) == 0 && str_eq(u->ca_file, s->ca_file) &&
	       u->connect_ms == s->connect_timeout_ms && u->timeout_ms == s->timeout_ms &&
	       u->stream_ms == s->stream_timeout_ms && u->idle_ms == s->idle_timeout_ms;
}

static void upstream_free(struct mcp_upstream *u)
{
	if (u == NULL)
		return;
	upstream_pool_free(u->pool);
	for (int t = 0; t < MCP_TARGET__COUNT; t++) {
		url_fini(&u->prov[t].url);
		free(u->prov[t].name);
	}
	SSL_CTX_free(u->tls[0]);
	free(u->url);
	free(u->ca_file);
	free(u);
}

/* Target t of u as the upstream client sees a provider. */
static int prov_init(struct mcp_upstream *u, const struct gw_mcp_server *s, enum mcp_target t, struct err *err)
{
	struct gw_provider *p = &u->prov[t];
	p->type = GW_PROVIDER_OPENAI; /* a network provider; the type's wire format is not used */
	if ((p->name = strdup(s->name)) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	if (url_parse(s->url, &p->url, err) < 0)
		return -1;
	p->connect_timeout_ms = s->connect_timeout_ms;
	p->timeout_ms = t == MCP_TARGET_STREAM ? s->stream_timeout_ms : s->timeout_ms;
	p->first_byte_timeout_ms = s->timeout_ms;
	p->idle_timeout_ms = s->idle_timeout_ms;
	p->pool_idle_timeout_ms = POOL_IDLE_MS;
	p->max_connections = t == MCP_TARGET_STREAM ? STREAM_CONNS : CALL_CONNS;
	p->http2 = GW_HTTP2_AUTO;
	return 0;
}

static struct mcp_upstream *upstream_new(struct mcp_worker *mw, const struct gw_gen *gen, size_t i, struct err *err)
{
	const struct gw_mcp_server *s = &gen->conf->mcp_servers[i];
	struct mcp_upstream *u = calloc(1, sizeof(*u));
	if (u == NULL || (u->url = strdup(s->url)) == NULL ||
	    (s->ca_file != NULL && (u->ca_file = strdup(s->ca_file)) == NULL)) {
		err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	u->connect_ms = s->connect_timeout_ms;
	u->timeout_ms = s->timeout_ms;
	u->stream_ms = s->stream_timeout_ms;
	u->idle_ms = s->idle_timeout_ms;
	for (int t = 0; t < MCP_TARGET__COUNT; t++)
		if (prov_init(u, s, (enum mcp_target)t, err) < 0)
			goto fail;
	if (gen->mcp != NULL && i < gen->mcp->n && gen->mcp->tls[i] != NULL) {
		SSL_CTX_up_ref(gen->mcp->tls[i]);
		u->tls[0] = u->tls[1] = gen->mcp->tls[i];
	}
	u->conf.providers = u->prov;
	u->conf.nproviders = MCP_TARGET__COUNT;
	if ((u->pool = upstream_pool_new(mw->w->base, mw->w->dns, &u->conf, u->tls, err)) == NULL)
		goto fail;
	return u;
fail:
	upstream_free(u);
	return NULL;
}

/* Frees the pools the current generation no longer describes and no request holds. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_worker *mw = arg;
	const struct gw_gen *gen = mw->w->gen;
	(void)fd;
	(void)what;
	if (gen == NULL)
		return;
	mw->swept_gen = gen->id;
	for (struct mcp_upstream **pp = &mw->ups; *pp != NULL;) {
		struct mcp_upstream *u = *pp;
		u->stale = true;
		for (size_t i = 0; i < gen->conf->nmcp_servers && u->stale; i++)
			u->stale = !same_connection(u, &gen->conf->mcp_servers[i]);
		if (u->stale && u->inflight == 0) {
			*pp = u->next;
			upstream_free(u);
		} else {
			pp = &u->next;
		}
	}
}

static void sweep_soon(struct mcp_worker *mw)
{
	event_active(mw->sweep, EV_TIMEOUT, 1);
}

struct mcp_worker *mcp_worker_new(struct gw_worker *w, struct err *err)
{
	struct mcp_worker *mw = calloc(1, sizeof(*mw));
	if (mw == NULL || (mw->sweep = event_new(w->base, -1, 0, sweep_cb, mw)) == NULL) {
		free(mw);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	mw->w = w;
	TAILQ_INIT(&mw->streams);
	return mw;
}

void mcp_worker_free(struct mcp_worker *mw)
{
	if (mw == NULL)
		return;
	while (mw->ups != NULL) {
		struct mcp_upstream *u = mw->ups;
		mw->ups = u->next;
		upstream_free(u);
	}
	event_free(mw->sweep);
	free(mw);
}

struct mcp_upstream *mcp_pool_get(struct mcp_worker *mw, const struct gw_gen *gen, size_t server, struct err *err)
{
	const struct gw_mcp_server *s = &gen->conf->mcp_servers[server];
	struct mcp_upstream *u;
	if (gen->id != mw->swept_gen)
		sweep_soon(mw); /* a new generation: some pools may have lost their server */
	for (u = mw->ups; u != NULL; u = u->next)
		if (same_connection(u, s))
			break;
	if (u == NULL) {
		if ((u = upstream_new(mw, gen, server, err)) == NULL)
			return NULL;
		u->next = mw->ups;
		mw->ups = u;
	}
	u->stale = false;
	u->inflight++;
	return u;
}

void mcp_pool_put(struct mcp_worker *mw, struct mcp_upstream *u)
{
	if (u == NULL)
		return;
	if (--u->inflight == 0 && u->stale)
		sweep_soon(mw);
}

struct upstream_pool *mcp_upstream_pool(const struct mcp_upstream *u)
{
	return u->pool;
}
