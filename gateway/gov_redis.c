/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits and budgets shared through Redis (see gov_redis.h): one hiredis
 * asynchronous connection per worker on the worker's libevent loop. This
 * file keeps the connection, its handshake, the deadlines and the tickets;
 * what goes on the wire (the Lua scripts, their arguments, the admit
 * reply) is in gov_redis_cmd.c, behind gov_redis_int.h.
 *
 * hiredis 0.14 has neither command nor connect timeouts, so both are ours:
 * every command sent once the connection is up sits in a list ordered by
 * deadline (= send order, one timeout for all), watched by one timer; a
 * command past its deadline answers its admit with rc -1 and stays with
 * hiredis until its late reply (ignored) or the disconnect. The connect
 * timer covers DNS, TCP and the handshake (AUTH, SELECT, SCRIPT LOAD).
 *
 * hiredis frees a context by itself after an I/O error: it first calls every
 * pending reply callback with a NULL reply, then the disconnect callback.
 * So each callback compares the context it is called for with rd->ac: the
 * first one to see the current context dying forgets it (rd_lost); calls
 * for a context already forgotten only finish their own command. When we
 * close a context ourselves (rd_drop: timeouts, handshake errors, free) we
 * forget it first and then redisAsyncFree it, which runs the same NULL
 * callbacks. Reconnecting always goes through the backoff timer, never from
 * inside a hiredis callback.
 */
#include "gateway/gov_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gateway/gov_redis_int.h"
#include "gateway/gw_conf.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define TIMEOUTS_TO_DROP 3 /* consecutive command timeouts that close the connection */
#define HS_MAX 4

struct gov_redis_metrics {
	struct metric *up, *ok, *error, *timeout, *fallbacks, *reconnects;
};

enum rd_state { RD_WAIT = 0 /* backoff before the next attempt */, RD_CONNECTING, RD_UP };
enum hs_step { HS_AUTH = 0, HS_SELECT, HS_LOAD_ADMIT, HS_LOAD_SETTLE };
enum op_kind { OP_ADMIT = 0, OP_SETTLE, OP_RAW /* gov_redis_command (the response cache) */ };
enum op_result { RES_OK = 0, RES_ERROR, RES_TIMEOUT };

/* One admit or settle: the ticket of an admit. Freed by its hiredis reply callback. */
struct gov_redis_ticket {
	struct gov_redis *rd;
	redisAsyncContext *ac; /* the connection it went out on */
	enum op_kind kind;
	bool done;   /* outcome counted, callback called (unless cancelled) */
	bool linked; /* in rd's deadline list */
	bool evaled; /* re-sent as EVAL after NOSCRIPT */
	struct gov_redis_ticket *prev, *next;
	uint64_t deadline_ns;
	gov_redis_cb cb;	/* NULL once called or cancelled */
	gov_redis_reply_cb rcb; /* OP_RAW's, likewise */
	void *arg;
	union {
		struct gov_ask ask;
		struct gov_settle settle;
	} u;
};

/* A DNS lookup in flight; rd is cleared when the lookup is abandoned (evdns owns the request until it ends). */
struct rd_dns {
	struct gov_redis *rd;
};

struct gov_redis {
	struct event_base *base;
	const struct gw_redis *conf;
	struct gov_redis_metrics *m;
	unsigned worker;
	enum rd_state state;
	int logged; /* -1 nothing yet, 0 down, 1 up: each transition is logged once */
	bool freeing;
	redisAsyncContext *ac;	/* current connection, NULL when none */
	struct evdns_base *dns; /* only when the host is a name */
	struct rd_dns *dnsjob;
	struct event *retry_ev, *conn_ev, *cmd_ev;
	int64_t backoff_ms;
	unsigned timeouts; /* consecutive */
	unsigned fails;	   /* connection attempts failed since the last up */
	enum hs_step hs[HS_MAX];
	unsigned hs_n, hs_done;
	char sha_admit[41], sha_settle[41];
	struct gov_redis_ticket *head, *tail; /* awaiting a reply, oldest deadline first */
	struct log_ratelimit rl;
};

static void rd_connect(struct gov_redis *rd);

/* ---- metrics ------------------------------------------------------------------------------------------ */

struct gov_redis_metrics *gov_redis_metrics_new(struct metrics *reg, struct err *err)
{
	struct gov_redis_metrics *m = calloc(1, sizeof(*m));
	const char *ch = "Redis commands (admit and settle scripts) by outcome";
	if (m == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	m->up = metrics_gauge(reg, "llmgw_redis_up", "Gateway workers whose Redis connection is up", NULL);
	m->ok = metrics_counter(reg, "llmgw_redis_commands_total", ch, "result=\"ok\"");
	m->error = metrics_counter(reg, "llmgw_redis_commands_total", ch, "result=\"error\"");
	m->timeout = metrics_counter(reg, "llmgw_redis_commands_total", ch, "result=\"timeout\"");
	m->fallbacks = metrics_counter(reg, "llmgw_redis_fallbacks_total",
				       "Requests whose limits were decided without Redis", NULL);
	m->reconnects = metrics_counter(reg, "llmgw_redis_reconnects_total", "Redis reconnection attempts", NULL);
	if (m->up == NULL || m->ok == NULL || m->error == NULL || m->timeout == NULL || m->fallbacks == NULL ||
	    m->reconnects == NULL) {
		free(m);
		err_set(err, ENOMEM, "cannot register the llmgw_redis_* metrics");
		return NULL;
	}
	return m;
}

void gov_redis_metrics_free(struct gov_redis_metrics *m)
{
	free(m); /* the series belong to the registry */
}

void gov_redis_count_fallback(struct gov_redis_metrics *m)
{
	if (m != NULL)
		metric_inc(m->fallbacks);
}

static void count(struct gov_redis *rd, enum op_result r)
{
	if (rd->m != NULL)
		metric_inc(r == RES_OK ? rd->m->ok : r == RES_ERROR ? rd->m->error : rd->m->timeout);
}

/* ---- connection state ------------------------------------------------------------------------------------ */

static void rd_log(struct gov_redis *rd, bool up, const char *reason)
{
	char u[300], q[300];
	if (rd->freeing || rd->logged == (up ? 1 : 0))
		return;
	rd->logged = up ? 1 : 0;
	log_quote(rd->conf->url != NULL ? rd->conf->url : "", u, sizeof(u));
	if (up)
		log_msg(LOG_LVL_INFO, "redis_up", "worker=%u url=%s", rd->worker, u);
	else
		log_msg(LOG_LVL_WARN, "redis_down", "worker=%u url=%s reason=%s", rd->worker, u,
			log_quote(reason, q, sizeof(q)));
}

static void timer_ms(struct event *ev, int64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static void rd_up(struct gov_redis *rd)
{
	rd->state = RD_UP;
	rd->backoff_ms = BACKOFF_MIN_MS;
	rd->timeouts = 0;
	rd->fails = 0;
	evtimer_del(rd->conn_ev);
	if (rd->m != NULL)
		metric_gauge_add(rd->m->up, 1);
	rd_log(rd, true, NULL);
}

/* The connection is gone (rd->ac already forgotten): log, then retry after the backoff. */
static void rd_down(struct gov_redis *rd, const char *reason)
{
	if (rd->state == RD_UP && rd->m != NULL)
		metric_gauge_add(rd->m->up, -1);
	rd->state = RD_WAIT;
	if (rd->conn_ev != NULL)
		evtimer_del(rd->conn_ev);
	if (rd->dnsjob != NULL) { /* evdns finishes the lookup by itself; cancelling defers a callback past free */
		rd->dnsjob->rd = NULL;
		rd->dnsjob = NULL;
	}
	rd->fails++;
	rd_log(rd, false, reason);
	if (rd->freeing || rd->retry_ev == NULL)
		return;
	timer_ms(rd->retry_ev, rd->backoff_ms);
	rd->backoff_ms = rd->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rd->backoff_ms * 2;
}

/* hiredis is freeing the current context after an error: forget it. */
static void rd_lost(struct gov_redis *rd, const redisAsyncContext *ac)
{
	const char *why = ac->c.errstr[0] != '\0' ? ac->c.errstr : "connection closed";
	char reason[128];
	snprintf(reason, sizeof(reason), "%s", why);
	rd->ac = NULL;
	rd_down(rd, reason);
}

/* We close the current connection: pending commands get their NULL reply now (or when the callback returns). */
static void rd_drop(struct gov_redis *rd, const char *reason)
{
	redisAsyncContext *ac = rd->ac;
	rd->ac = NULL;
	rd_down(rd, reason);
	if (ac != NULL)
		redisAsyncFree(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct gov_redis *rd = ac->data;
	if (status != REDIS_OK && ac == rd->ac)
		rd_lost(rd, ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct gov_redis *rd = ac->data;
	(void)status;
	if (ac == rd->ac)
		rd_lost(rd, ac);
}

static void hs_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct gov_redis *rd = privdata;
	const redisReply *r = reply;
	static const char *const names[] = {"AUTH", "SELECT", "SCRIPT LOAD", "SCRIPT LOAD"};
	char reason[160];
	if (ac != rd->ac)
		return;
	if (r == NULL) {
		rd_lost(rd, ac);
		return;
	}
	if (rd->hs_done >= rd->hs_n)
		return;
	enum hs_step step = rd->hs[rd->hs_done++];
	if (r->type == REDIS_REPLY_ERROR) {
		/* Redis' own message: never the password (AUTH answers WRONGPASS/NOAUTH without echoing it) */
		snprintf(reason, sizeof(reason), "%s: %.120s", names[step], r->str);
		rd_drop(rd, reason);
		return;
	}
	if (step == HS_LOAD_ADMIT || step == HS_LOAD_SETTLE) {
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			rd_drop(rd, "SCRIPT LOAD: unexpected reply");
			return;
		}
		memcpy(step == HS_LOAD_ADMIT ? rd->sha_admit : rd->sha_settle, r->str, 40);
	}
	if (rd->hs_done == rd->hs_n)
		rd_up(rd);
}

static int __attribute__((format(printf, 3, 4))) hs_cmd(struct gov_redis *rd, enum hs_step step, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = redisvAsyncCommand(rd->ac, hs_reply, rd, fmt, ap);
	va_end(ap);
	rd->hs[rd->hs_n++] = step;
	return rc == REDIS_OK ? 0 : -1;
}

/* Queues the handshake; hiredis writes it once connected. Up after the last reply. */
static int hs_send(struct gov_redis *rd)
{
	const struct gw_redis *c = rd->conf;
	int rc = 0;
	rd->hs_n = rd->hs_done = 0;
	if (c->password != NULL && c->username != NULL)
		rc |= hs_cmd(rd, HS_AUTH, "AUTH %s %s", c->username, c->password);
	else if (c->password != NULL)
		rc |= hs_cmd(rd, HS_AUTH, "AUTH %s", c->password);
	if (c->db != 0)
		rc |= hs_cmd(rd, HS_SELECT, "SELECT %u", c->db);
	rc |= hs_cmd(rd, HS_LOAD_ADMIT, "SCRIPT LOAD %s", gov_redis_admit_lua);
	rc |= hs_cmd(rd, HS_LOAD_SETTLE, "SCRIPT LOAD %s", gov_redis_settle_lua);
	return rc;
}

/* Opens a connection to addr (a numeric address, or NULL for the unix socket) and queues the handshake. */
static void rd_open(struct gov_redis *rd, const char *addr)
{
	char reason[160];
	redisAsyncContext *ac =
	    addr == NULL ? redisAsyncConnectUnix(rd->conf->unix_path) : redisAsyncConnect(addr, rd->conf->port);
	if (ac == NULL) {
		rd_down(rd, "out of memory");
		return;
	}
	if (ac->err != 0) {
		snprintf(reason, sizeof(reason), "%s", ac->errstr != NULL ? ac->errstr : "connect failed");
		redisAsyncFree(ac);
		rd_down(rd, reason);
		return;
	}
	ac->data = rd;
	if (redisLibeventAttach(ac, rd->base) != REDIS_OK) {
		redisAsyncFree(ac);
		rd_down(rd, "cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rd->ac = ac;
	if (hs_send(rd) < 0)
		rd_drop(rd, "cannot queue the handshake");
}

static void dns_done(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct rd_dns *job = arg;
	struct gov_redis *rd = job->rd;
	char addr[INET6_ADDRSTRLEN + 1] = "", reason[160];
	size_t n = 0;
	free(job);
	for (const struct evutil_addrinfo *p = ai; p != NULL; p = p->ai_next)
		n++;
	if (rd != NULL && n > 0) {
		/* one address per attempt, the next one after each failure: a dead address is not retried forever */
		const struct evutil_addrinfo *p = ai;
		for (size_t i = rd->fails % n; i > 0; i--)
			p = p->ai_next;
		const void *a = p->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr
							 : (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr;
		if (evutil_inet_ntop(p->ai_family, a, addr, sizeof(addr)) == NULL)
			addr[0] = '\0';
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (rd == NULL) /* abandoned (connect timeout, free) */
		return;
	rd->dnsjob = NULL;
	if (result != 0 || addr[0] == '\0') {
		snprintf(reason, sizeof(reason), "cannot resolve %s: %s", rd->conf->host,
			 result != 0 ? evutil_gai_strerror(result) : "no address");
		rd_down(rd, reason);
		return;
	}
	rd_open(rd, addr);
}

static void rd_connect(struct gov_redis *rd)
{
	struct evutil_addrinfo hints;
	struct rd_dns *job;
	rd->state = RD_CONNECTING;
	timer_ms(rd->conn_ev, rd->conf->connect_timeout_ms);
	if (rd->conf->unix_path != NULL) {
		rd_open(rd, NULL);
		return;
	}
	if (rd->dns == NULL) {
		rd_open(rd, rd->conf->host);
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		rd_down(rd, "out of memory");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	job->rd = rd;
	rd->dnsjob = job;
	/* /etc/hosts answers before this returns: dns_done has then run (and freed job) already */
	evdns_getaddrinfo(rd->dns, rd->conf->host, NULL, &hints, dns_done, job);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_redis *rd = arg;
	(void)fd;
	(void)what;
	if (rd->m != NULL)
		metric_inc(rd->m->reconnects);
	rd_connect(rd);
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_redis *rd = arg;
	(void)fd;
	(void)what;
	if (rd->state == RD_CONNECTING)
		rd_drop(rd, "connect timeout");
}

/* ---- commands ------------------------------------------------------------------------------------------- */

static void op_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int op_send(struct gov_redis *rd, struct gov_redis_ticket *t, bool eval)
{
	struct gov_redis_argv a;
	a.n = a.nnum = 0;
	if (t->kind == OP_ADMIT)
		gov_redis_cmd_admit(&a, eval ? NULL : rd->sha_admit, &t->u.ask);
	else
		gov_redis_cmd_settle(&a, eval ? NULL : rd->sha_settle, &t->u.settle);
	t->evaled = eval;
	return redisAsyncCommandArgv(t->ac, op_reply, t, a.n, a.v, a.len) == REDIS_OK ? 0 : -1;
}

static void cmd_timer_arm(struct gov_redis *rd)
{
	uint64_t now = clock_mono_ns(), d;
	if (rd->head == NULL || evtimer_pending(rd->cmd_ev, NULL))
		return;
	d = rd->head->deadline_ns > now ? rd->head->deadline_ns - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(d / 1000000000u), .tv_usec = (suseconds_t)(d % 1000000000u / 1000 + 1)};
	evtimer_add(rd->cmd_ev, &tv);
}

static void op_link(struct gov_redis *rd, struct gov_redis_ticket *t)
{
	t->deadline_ns = clock_mono_ns() + (uint64_t)rd->conf->timeout_ms * 1000000u;
	t->prev = rd->tail;
	t->next = NULL;
	if (rd->tail != NULL)
		rd->tail->next = t;
	else
		rd->head = t;
	rd->tail = t;
	t->linked = true;
	cmd_timer_arm(rd);
}

/* Lazy about the timer: when it fires for a command already answered it re-arms for the new head. */
static void op_unlink(struct gov_redis *rd, struct gov_redis_ticket *t)
{
	if (!t->linked)
		return;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		rd->head = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		rd->tail = t->prev;
	t->prev = t->next = NULL;
	t->linked = false;
}

/* Counts the outcome and calls the admit's (or the raw command's) callback, once. */
static void op_finish(struct gov_redis_ticket *t, enum op_result r, const struct gov_verdict *v, const redisReply *raw)
{
	gov_redis_cb cb = t->cb;
	gov_redis_reply_cb rcb = t->rcb;
	if (t->done)
		return;
	t->done = true;
	t->cb = NULL;
	t->rcb = NULL;
	op_unlink(t->rd, t);
	count(t->rd, r);
	if (cb != NULL)
		cb(t->arg, v != NULL ? 0 : -1, v);
	if (rcb != NULL)
		rcb(t->arg, r == RES_OK ? raw : NULL);
}

static void cmd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gov_redis *rd = arg;
	struct gov_redis_ticket *t;
	uint64_t now = clock_mono_ns();
	(void)fd;
	(void)what;
	/* re-read head each time: a callback may admit or cancel */
	while ((t = rd->head) != NULL && t->deadline_ns <= now) {
		rd->timeouts++;
		op_finish(t, RES_TIMEOUT, NULL, NULL); /* the command stays with hiredis until its reply */
	}
	if (rd->timeouts >= TIMEOUTS_TO_DROP && rd->ac != NULL)
		rd_drop(rd, "commands timed out");
	cmd_timer_arm(rd);
}

/* Error replies that say this connection cannot serve us any more (not the request's fault). */
static bool conn_error(const char *s)
{
	static const char *const pfx[] = {"READONLY", "LOADING", "MASTERDOWN", "NOAUTH", "WRONGPASS", NULL};
	for (int i = 0; pfx[i] != NULL; i++)
		if (strncmp(s, pfx[i], strlen(pfx[i])) == 0)
			return true;
	return false;
}

static void op_error_reply(struct gov_redis *rd, struct gov_redis_ticket *t, const redisReply *r)
{
	uint64_t supp = 0;
	char q[200], msg[140];
	snprintf(msg, sizeof(msg), "%.*s", (int)(r->len < 120 ? r->len : 120), r->str);
	if (log_ratelimit_ok(&rd->rl, clock_mono_ns(), &supp))
		log_msg(LOG_LVL_WARN, "redis_error", "worker=%u script=%s reply=%s suppressed=%llu", rd->worker,
			t->kind == OP_ADMIT    ? "admit"
			: t->kind == OP_SETTLE ? "settle"
					       : "command",
			log_quote(msg, q, sizeof(q)), (unsigned long long)supp);
	op_finish(t, RES_ERROR, NULL, NULL);
	if (t->ac == rd->ac && conn_error(r->str))
		rd_drop(rd, msg);
}

static void op_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct gov_redis_ticket *t = privdata;
	struct gov_redis *rd = t->rd;
	const redisReply *r = reply;
	struct gov_verdict v;
	if (r == NULL) { /* the connection is going away */
		if (ac == rd->ac)
			rd_lost(rd, ac);
		op_finish(t, RES_ERROR, NULL, NULL);
		free(t);
		return;
	}
	if (t->done) { /* a late reply after the timeout */
		free(t);
		return;
	}
	if (ac == rd->ac)
		rd->timeouts = 0;
	if (r->type == REDIS_REPLY_ERROR && t->kind != OP_RAW && !t->evaled && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		/* SCRIPT FLUSH or a restart: send the script itself, and load it again for the next ones */
		redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %s",
				  t->kind == OP_ADMIT ? gov_redis_admit_lua : gov_redis_settle_lua);
		if (op_send(rd, t, true) == 0)
			return; /* same ticket, same deadline */
	}
	if (r->type == REDIS_REPLY_ERROR)
		op_error_reply(rd, t, r);
	else if (t->kind == OP_RAW)
		op_finish(t, RES_OK, NULL, r);
	else if (t->kind == OP_SETTLE)
		op_finish(t, RES_OK, NULL, NULL);
	else if (gov_redis_cmd_verdict(r, &t->u.ask, &v) == 0)
		op_finish(t, RES_OK, &v, NULL);
	else
		op_finish(t, RES_ERROR, NULL, NULL);
	free(t);
}

/* ---- public -------------------------------------------------------------------------------------------- */

static bool is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct gov_redis *gov_redis_new(struct event_base *base, const struct gw_redis *rc, struct gov_redis_metrics *m,
				unsigned worker_id, struct err *err)
{
	struct gov_redis *rd;
	if (base == NULL || rc == NULL || (rc->unix_path == NULL && (rc->host == NULL || rc->host[0] == '\0')) ||
	    rc->timeout_ms <= 0 || rc->connect_timeout_ms <= 0) {
		err_set(err, EINVAL, "redis: no address or timeout configured");
		return NULL;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	rd->base = base;
	rd->conf = rc;
	rd->m = m;
	rd->worker = worker_id;
	rd->logged = -1;
	rd->backoff_ms = BACKOFF_MIN_MS;
	log_ratelimit_init(&rd->rl, 5, 10000000000u);
	rd->retry_ev = evtimer_new(base, retry_cb, rd);
	rd->conn_ev = evtimer_new(base, conn_timeout_cb, rd);
	rd->cmd_ev = evtimer_new(base, cmd_timeout_cb, rd);
	if (rd->retry_ev == NULL || rd->conn_ev == NULL || rd->cmd_ev == NULL)
		goto fail;
	if (rc->unix_path == NULL && !is_address(rc->host)) {
		rd->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (rd->dns == NULL) /* no resolv.conf: /etc/hosts may still know the name */
			rd->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (rd->dns == NULL)
			goto fail;
	}
	rd_connect(rd);
	return rd;
fail:
	err_set(err, ENOMEM, "redis: cannot create the client's events");
	gov_redis_free(rd);
	return NULL;
}

void gov_redis_free(struct gov_redis *rd)
{
	if (rd == NULL)
		return;
	rd->freeing = true;
	if (rd->ac != NULL)
		rd_drop(rd, "shutdown"); /* runs every pending callback with rc -1; no retry while freeing */
	else
		rd_down(rd, "shutdown");
	if (rd->retry_ev != NULL)
		event_free(rd->retry_ev);
	if (rd->conn_ev != NULL)
		event_free(rd->conn_ev);
	if (rd->cmd_ev != NULL)
		event_free(rd->cmd_ev);
	if (rd->dns != NULL)
		evdns_base_free(rd->dns, 1); /* an abandoned lookup ends with DNS_ERR_SHUTDOWN, never touching rd */
	free(rd);
}

bool gov_redis_up(const struct gov_redis *rd)
{
	return rd != NULL && rd->state == RD_UP && rd->ac != NULL;
}

static bool keys_ok(const char *k)
{
	size_t n = strnlen(k, GOV_RKEY_MAX);
	return n > 0 && n < GOV_RKEY_MAX;
}

/* Sends a filled ticket; a ticket that cannot be sent is counted and freed. */
static int op_start(struct gov_redis *rd, struct gov_redis_ticket *t)
{
	t->rd = rd;
	t->ac = rd->ac;
	if (op_send(rd, t, false) < 0) {
		count(rd, RES_ERROR);
		free(t);
		return -1;
	}
	op_link(rd, t);
	return 0;
}

int gov_redis_admit(struct gov_redis *rd, const struct gov_ask *ask, gov_redis_cb cb, void *arg,
		    struct gov_redis_ticket **ticket)
{
	struct gov_redis_ticket *t;
	if (!gov_redis_up(rd) || ask->nbuckets > GOV_BUCKETS_MAX || ask->nbudgets > GOV_BUDGETS_MAX)
		return -1;
	for (size_t i = 0; i < ask->nbuckets; i++)
		if (!keys_ok(ask->b[i].rkey))
			return -1;
	for (size_t i = 0; i < ask->nbudgets; i++)
		if (!keys_ok(ask->g[i].rkey))
			return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->kind = OP_ADMIT;
	t->cb = cb;
	t->arg = arg;
	t->u.ask = *ask;
	if (op_start(rd, t) < 0)
		return -1;
	*ticket = t;
	return 0;
}

void gov_redis_cancel(struct gov_redis_ticket *ticket)
{
	/* the command itself stays with hiredis; its reply only frees the ticket */
	if (ticket != NULL) {
		ticket->cb = NULL;
		ticket->rcb = NULL;
	}
}

int gov_redis_command(struct gov_redis *rd, int argc, const char **argv, const size_t *argvlen, gov_redis_reply_cb cb,
		      void *arg, struct gov_redis_ticket **ticket)
{
	struct gov_redis_ticket *t;
	if (!gov_redis_up(rd) || (t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->kind = OP_RAW;
	t->rcb = cb;
	t->arg = arg;
	t->rd = rd;
	t->ac = rd->ac;
	if (redisAsyncCommandArgv(t->ac, op_reply, t, argc, argv, argvlen) != REDIS_OK) {
		count(rd, RES_ERROR);
		free(t);
		return -1;
	}
	op_link(rd, t);
	if (ticket != NULL)
		*ticket = t;
	return 0;
}

int gov_redis_settle(struct gov_redis *rd, const struct gov_settle *s)
{
	struct gov_redis_ticket *t;
	size_t nb, ng;
	if (s->nbuckets > GOV_BUCKETS_MAX || s->nbudgets > GOV_BUDGETS_MAX)
		return -1;
	if (gov_redis_cmd_settle_keys(s, &nb, &ng) == 0)
		return 0; /* nothing to change */
	for (size_t i = 0; i < s->nbuckets; i++)
		if (!keys_ok(s->b[i].rkey))
			return -1;
	for (size_t i = 0; i < s->nbudgets; i++)
		if (!keys_ok(s->g[i].rkey))
			return -1;
	if (!gov_redis_up(rd) || (t = calloc(1, sizeof(*t))) == NULL) {
		if (rd != NULL)
			count(rd, RES_ERROR); /* a settlement lost */
		return -1;
	}
	t->kind = OP_SETTLE;
	t->u.settle = *s;
	return op_start(rd, t);
}
