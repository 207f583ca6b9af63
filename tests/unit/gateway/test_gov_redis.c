/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gov_redis against a real redis-server (/usr/bin/redis-server, started
 * per test on a free 127.0.0.1 port, killed by PID): the admit script's
 * arithmetic against gov_math.c, all-or-nothing, budgets, settlements,
 * NOSCRIPT recovery, command timeouts (SIGSTOP), a server that starts
 * late, cancel and free. Each test drives gov_redis on a private
 * event_base; every wait is bounded and nothing asserts a duration.
 * Without redis-server every test is skipped with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/gov_math.h"
#include "gateway/gov_redis.h"
#include "gateway/gw_conf.h"

#ifndef REDIS_BIN
#define REDIS_BIN "/usr/bin/redis-server"
#endif
#define WAIT_MS 10000 /* a bound for anything that should happen, never an expectation */
#define PASS "it-redis-pass-9c1e47"

struct fx {
	pid_t pid;
	uint16_t port;
	struct event_base *base;
	struct event *tick;
	struct metrics *reg;
	struct gov_redis_metrics *m;
	struct gw_redis conf;
	char host[16], url[64], prefix[8], pass[32], sock[64];
	struct gov_redis *rd;
	redisContext *sync; /* a blocking client to look at the keys (fine in a test) */
};

struct res {
	int called;
	int rc;
	struct gov_verdict v;
};

static void on_res(void *arg, int rc, const struct gov_verdict *v)
{
	struct res *r = arg;
	r->called++;
	r->rc = rc;
	if (v != NULL)
		r->v = *v;
}

/* ---- redis-server and the loop ----------------------------------------------------------------------- */

static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool port_open(uint16_t port)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void srv_start(struct fx *f)
{
	char port[8];
	pid_t parent = getpid();
	snprintf(port, sizeof(port), "%u", (unsigned)f->port);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		/* the server must not outlive this test process, however it ends (a failed setup, a kill) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		char *argv[16] = {"redis-server", "--port", port,	    "--bind", "127.0.0.1",
				  "--save",	  "",	    "--appendonly", "no"};
		int n = 9;
		if (f->conf.password != NULL) {
			argv[n++] = "--requirepass";
			argv[n++] = f->pass;
		}
		if (f->sock[0] != '\0') {
			argv[n++] = "--unixsocket";
			argv[n++] = f->sock;
		}
		execv(REDIS_BIN, argv);
		_exit(127);
	}
	for (int i = 0; i < WAIT_MS / 10 && !port_open(f->port); i++) {
		assert_int_equal(waitpid(f->pid, NULL, WNOHANG), 0); /* still running */
		sleep_ms(10);
	}
	assert_true(port_open(f->port));
	f->sync = redisConnect("127.0.0.1", f->port);
	assert_non_null(f->sync);
	assert_int_equal(f->sync->err, 0);
	if (f->conf.password != NULL) {
		freeReplyObject(redisCommand(f->sync, "AUTH %s", f->conf.password));
		freeReplyObject(redisCommand(f->sync, "SELECT %u", f->conf.db));
	}
}

static void srv_stop(struct fx *f)
{
	if (f->sync != NULL)
		redisFree(f->sync);
	f->sync = NULL;
	if (f->pid > 0) {
		kill(f->pid, SIGKILL); /* also ends a SIGSTOPped server */
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg; /* only makes EVLOOP_ONCE return often */
}

/* Runs the loop until *p >= want or WAIT_MS pass; returns whether it got there. */
static bool run_until(struct fx *f, const int *p, int want)
{
	uint64_t end = clock_mono_ns() + (uint64_t)WAIT_MS * 1000000u;
	while (*p < want && clock_mono_ns() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
	return *p >= want;
}

static bool run_until_up(struct fx *f, bool up)
{
	uint64_t end = clock_mono_ns() + (uint64_t)WAIT_MS * 1000000u * 2;
	while (gov_redis_up(f->rd) != up && clock_mono_ns() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
	return gov_redis_up(f->rd) == up;
}

static void run_for(struct fx *f, int ms)
{
	uint64_t end = clock_mono_ns() + (uint64_t)ms * 1000000u;
	while (clock_mono_ns() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
}

static int teardown(void **state);

/*
 * start: a server from the beginning; auth: it wants a password, the
 * client finds it as "localhost", db 3. Every server also listens on a
 * unix socket in /tmp.
 */
static int setup_common(void **state, bool start, bool auth)
{
	struct fx *f;
	struct err err = {0};
	struct timeval tv = {0, 10000};
	if (access(REDIS_BIN, X_OK) != 0)
		return 0; /* the tests skip */
	signal(SIGPIPE, SIG_IGN);
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->port = free_port();
	snprintf(f->sock, sizeof(f->sock), "/tmp/llmgw-test-redis-%d-%u.sock", (int)getpid(), (unsigned)f->port);
	if (auth) {
		snprintf(f->pass, sizeof(f->pass), "%s", PASS);
		f->conf.password = f->pass;
		f->conf.db = 3;
	}
	if (start)
		srv_start(f);
	f->base = event_base_new();
	f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(f->tick, &tv);
	f->reg = metrics_new();
	f->m = gov_redis_metrics_new(f->reg, &err);
	assert_non_null(f->m);
	snprintf(f->host, sizeof(f->host), "%s", auth ? "localhost" : "127.0.0.1");
	snprintf(f->url, sizeof(f->url), "redis://%s:%u/%u", f->host, (unsigned)f->port, f->conf.db);
	snprintf(f->prefix, sizeof(f->prefix), "t:");
	f->conf.url = f->url;
	f->conf.host = f->host;
	f->conf.port = f->port;
	f->conf.timeout_ms = 200;
	f->conf.connect_timeout_ms = 500;
	f->conf.prefix = f->prefix;
	f->rd = gov_redis_new(f->base, &f->conf, f->m, 7, &err);
	assert_non_null(f->rd);
	*state = f;
	if (start && !run_until_up(f, true)) {
		teardown(state); /* cmocka skips the teardown of a failed setup */
		*state = NULL;
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, true, false);
}

static int setup_no_server(void **state)
{
	return setup_common(state, false, false);
}

static int setup_auth(void **state)
{
	return setup_common(state, true, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f == NULL)
		return 0;
	if (f->pid > 0)
		kill(f->pid, SIGCONT);
	gov_redis_free(f->rd);
	srv_stop(f);
	unlink(f->sock);
	gov_redis_metrics_free(f->m);
	metrics_free(f->reg);
	event_free(f->tick);
	event_base_free(f->base);
	free(f);
	return 0;
}

#define NEED_REDIS(state)                                                                                              \
	do {                                                                                                           \
		if (*(state) == NULL) {                                                                                \
			print_message("[  SKIP    ] %s is not installed (deploy/deps.sh installs it)\n", REDIS_BIN);   \
			skip();                                                                                        \
		}                                                                                                      \
	} while (0)

/* ---- helpers ------------------------------------------------------------------------------------------- */

static void add_bucket(struct gov_ask *a, const char *name, uint64_t limit, uint64_t cost)
{
	struct gov_bucket_ask *b = &a->b[a->nbuckets++];
	b->kind = GOV_RPM;
	b->limit = limit;
	b->cost = cost;
	snprintf(b->rkey, sizeof(b->rkey), "t:rl:%s", name);
}

static void add_budget(struct gov_ask *a, const char *name, int64_t limit, int64_t ttl_s)
{
	struct gov_budget_ask *g = &a->g[a->nbudgets++];
	g->kind = GOV_DAILY;
	g->limit_micro = limit;
	g->ttl_s = ttl_s;
	snprintf(g->rkey, sizeof(g->rkey), "t:bd:%s", name);
}

/* One admit, waited for; returns the callback's rc, or -2 when gov_redis_admit refused to send. */
static int admit(struct fx *f, const struct gov_ask *a, struct gov_verdict *v)
{
	struct res r = {0};
	struct gov_redis_ticket *t = NULL;
	if (gov_redis_admit(f->rd, a, on_res, &r, &t) < 0)
		return -2;
	assert_int_equal(r.called, 0); /* never from inside gov_redis_admit */
	assert_true(run_until(f, &r.called, 1));
	assert_int_equal(r.called, 1);
	if (v != NULL)
		*v = r.v;
	return r.rc;
}

/* An empty admit after other commands: they have been applied when it answers (one connection, in order). */
static void barrier(struct fx *f)
{
	struct gov_ask a = {0};
	assert_int_equal(admit(f, &a, NULL), 0);
}

static long long sync_int(struct fx *f, const char *cmd, const char *key)
{
	redisReply *r = redisCommand(f->sync, "%s %s", cmd, key);
	long long v;
	assert_non_null(r);
	if (r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	else
		v = -999; /* nil */
	freeReplyObject(r);
	return v;
}

static bool metrics_have(struct fx *f, const char *line)
{
	struct buf b;
	char needle[160];
	bool found;
	buf_init(&b, 1 << 16);
	assert_int_equal(metrics_render(f->reg, &b), 0);
	snprintf(needle, sizeof(needle), "\n%s\n", line); /* whole lines: "up 1" is not "up 10" */
	found = strstr(b.data, needle) != NULL;
	buf_fini(&b);
	return found;
}

/* ---- tests ---------------------------------------------------------------------------------------------- */

static void test_admit_until_refused(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 5, 1);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(admit(f, &a, &v), 0);
		assert_true(v.ok);
		assert_int_equal(v.refused_bucket, -1);
		assert_int_equal(v.refused_budget, -1);
		assert_int_equal(v.remaining[0], 4 - i);
		assert_true(v.reset_us[0] > 0);
	}
	assert_int_equal(admit(f, &a, &v), 0);
	assert_false(v.ok);
	assert_false(v.never);
	assert_int_equal(v.refused_bucket, 0);
	assert_int_equal(v.refused_budget, -1);
	assert_true(v.retry_us > 0 && v.retry_us <= 12000000); /* at most one request's span */
	assert_int_equal(v.remaining[0], 0);
	long long pttl = sync_int(f, "PTTL", "t:rl:k:rpm");
	assert_true(pttl > 1000 && pttl <= 61000); /* gone once the bucket is full again (+1 s) */
	assert_true(metrics_have(f, "llmgw_redis_up 1"));
	assert_true(metrics_have(f, "llmgw_redis_commands_total{result=\"ok\"} 6"));
}

/* Fresh buckets: the Lua arithmetic (doubles) must give gov_math.c's numbers (64-bit integers) exactly. */
static void test_matches_gov_math(void **state)
{
	struct fx *f = *state;
	static const uint64_t cases[][2] = {
	    {7, 1},
	    {5, 5},
	    {100000000000, 99999999999},
	    {100000000000, 12345678901},
	    {99999999977, 50000000003},
	    {60000001, 59999999},
	    {3, 2},
	    {1, 0},
	};
	NEED_REDIS(state);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gov_ask a = {0};
		struct gov_verdict v;
		struct gcra_out o;
		char name[32];
		snprintf(name, sizeof(name), "m%zu", i);
		add_bucket(&a, name, cases[i][0], cases[i][1]);
		gcra_take(0, INT64_C(1) << 50, cases[i][0], GOV_WINDOW_US, cases[i][1], &o);
		assert_int_equal(admit(f, &a, &v), 0);
		assert_true(v.ok);
		assert_int_equal(v.remaining[0], o.remaining);
		assert_int_equal(v.reset_us[0], o.reset_us);
	}
}

static void test_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 10, 1);
	add_bucket(&a, "t:rpm", 2, 1);
	assert_int_equal(admit(f, &a, &v), 0);
	assert_true(v.ok);
	assert_int_equal(admit(f, &a, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining[0], 8);
	assert_int_equal(v.remaining[1], 0);
	long long before = sync_int(f, "GET", "t:rl:k:rpm");
	assert_int_equal(admit(f, &a, &v), 0);
	assert_false(v.ok);
	assert_int_equal(v.refused_bucket, 1);
	assert_int_equal(sync_int(f, "GET", "t:rl:k:rpm"), before); /* the key bucket was not charged */
	assert_int_equal(v.remaining[0], 8);
}

static void test_never(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 10, 1);
	add_bucket(&a, "k:tpm", 100, 101);
	assert_int_equal(admit(f, &a, &v), 0);
	assert_false(v.ok);
	assert_true(v.never);
	assert_int_equal(v.refused_bucket, 1);
	assert_int_equal(v.remaining[1], 100);
	assert_int_equal(sync_int(f, "EXISTS", "t:rl:k:tpm"), 0);
	assert_int_equal(sync_int(f, "EXISTS", "t:rl:k:rpm"), 0);
}

static void test_budgets(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gov_settle s = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	add_budget(&a, "k:d", 1000, 86400 + 7200); /* the period ends in 2 h; the key lives a day longer */
	assert_int_equal(admit(f, &a, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.spent_micro[0], 0);
	s.nbudgets = 1;
	snprintf(s.g[0].rkey, sizeof(s.g[0].rkey), "%s", a.g[0].rkey);
	s.g[0].cost_micro = 600;
	s.g[0].ttl_s = a.g[0].ttl_s;
	assert_int_equal(gov_redis_settle(f->rd, &s), 0);
	assert_int_equal(admit(f, &a, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.spent_micro[0], 600);
	assert_int_equal(gov_redis_settle(f->rd, &s), 0);
	long long before = sync_int(f, "GET", "t:rl:k:rpm");
	assert_int_equal(admit(f, &a, &v), 0);
	assert_false(v.ok);
	assert_int_equal(v.refused_budget, 0);
	assert_int_equal(v.refused_bucket, -1);
	assert_int_equal(v.spent_micro[0], 1200);
	assert_true(v.retry_us > 7000 * INT64_C(1000000) && v.retry_us <= 7200 * INT64_C(1000000));
	assert_int_equal(sync_int(f, "GET", "t:rl:k:rpm"), before); /* refused: no bucket charged */
	long long ttl = sync_int(f, "TTL", "t:bd:k:d");
	assert_true(ttl > 86400 && ttl <= 86400 + 7200);
	/* a settlement with nothing in it sends nothing */
	struct gov_settle none = {0};
	assert_int_equal(gov_redis_settle(f->rd, &none), 0);
}

static void test_settle_refund(void **state)
{
	struct fx *f = *state;
	struct gov_ask full = {0}, half = {0};
	struct gov_settle s = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&full, "k:tpm", 100, 100);
	add_bucket(&half, "k:tpm", 100, 50);
	assert_int_equal(admit(f, &full, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining[0], 0);
	assert_int_equal(admit(f, &half, &v), 0);
	assert_false(v.ok);
	/* the call used 10 tokens of the 100 charged: 90 come back */
	s.nbuckets = 1;
	snprintf(s.b[0].rkey, sizeof(s.b[0].rkey), "%s", full.b[0].rkey);
	s.b[0].limit = 100;
	s.b[0].delta_us = gcra_settle_delta(100, 10, 100, GOV_WINDOW_US);
	assert_true(s.b[0].delta_us < 0);
	assert_int_equal(gov_redis_settle(f->rd, &s), 0);
	assert_int_equal(admit(f, &half, &v), 0);
	assert_true(v.ok);
	/* and a positive delta charges more */
	s.b[0].delta_us = gcra_settle_delta(0, 40, 100, GOV_WINDOW_US);
	assert_int_equal(gov_redis_settle(f->rd, &s), 0);
	assert_int_equal(admit(f, &half, &v), 0);
	assert_false(v.ok);
}

static void test_noscript(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gov_settle s = {0};
	struct gov_verdict v;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 3, 1);
	assert_int_equal(admit(f, &a, &v), 0);
	freeReplyObject(redisCommand(f->sync, "SCRIPT FLUSH"));
	assert_int_equal(admit(f, &a, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining[0], 1);
	freeReplyObject(redisCommand(f->sync, "SCRIPT FLUSH"));
	s.nbudgets = 1;
	snprintf(s.g[0].rkey, sizeof(s.g[0].rkey), "t:bd:x");
	s.g[0].cost_micro = 42;
	s.g[0].ttl_s = 60;
	assert_int_equal(gov_redis_settle(f->rd, &s), 0);
	barrier(f);
	assert_int_equal(sync_int(f, "GET", "t:bd:x"), 42);
	assert_true(gov_redis_up(f->rd));
	assert_true(metrics_have(f, "llmgw_redis_commands_total{result=\"error\"} 0"));
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct res r[3] = {{0}};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(kill(f->pid, SIGSTOP), 0);
	/* one timeout: that request falls back, the connection stays */
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r[0], &t), 0);
	assert_true(run_until(f, &r[0].called, 1));
	assert_int_equal(r[0].rc, -1);
	assert_true(gov_redis_up(f->rd));
	/* three in a row: the connection is dropped */
	for (int i = 1; i < 3; i++) {
		assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r[i], &t), 0);
		assert_true(run_until(f, &r[i].called, 1));
		assert_int_equal(r[i].rc, -1);
	}
	assert_false(gov_redis_up(f->rd));
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r[0], &t), -1);
	assert_true(metrics_have(f, "llmgw_redis_commands_total{result=\"timeout\"} 3"));
	assert_true(metrics_have(f, "llmgw_redis_up 0"));
	assert_int_equal(kill(f->pid, SIGCONT), 0);
	assert_true(run_until_up(f, true));
	assert_int_equal(admit(f, &a, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].called, 1); /* late replies called nobody */
}

static void test_late_reply_ignored(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct res r = {0};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(kill(f->pid, SIGSTOP), 0);
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r, &t), 0);
	assert_true(run_until(f, &r.called, 1));
	assert_int_equal(r.rc, -1);
	assert_int_equal(kill(f->pid, SIGCONT), 0);
	barrier(f); /* the late reply arrived before this one */
	assert_int_equal(r.called, 1);
	assert_int_equal(sync_int(f, "EXISTS", "t:rl:k:rpm"), 1); /* Redis did charge it: the safe side */
}

static void test_down_at_start(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct res r = {0};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	run_for(f, 300);
	assert_false(gov_redis_up(f->rd));
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r, &t), -1);
	assert_int_equal(r.called, 0);
	assert_true(metrics_have(f, "llmgw_redis_up 0"));
	assert_false(metrics_have(f, "llmgw_redis_reconnects_total 0"));
	srv_start(f);
	assert_true(run_until_up(f, true));
	assert_int_equal(admit(f, &a, NULL), 0);
	/* and it comes back after the server restarts */
	srv_stop(f);
	assert_true(run_until_up(f, false));
	srv_start(f);
	assert_true(run_until_up(f, true));
	assert_int_equal(admit(f, &a, NULL), 0);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct res r = {0};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r, &t), 0);
	gov_redis_cancel(t);
	barrier(f);
	assert_int_equal(r.called, 0);
	/* cancelled while Redis hangs: no callback at the timeout either */
	assert_int_equal(kill(f->pid, SIGSTOP), 0);
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r, &t), 0);
	gov_redis_cancel(t);
	run_for(f, 400);
	assert_int_equal(r.called, 0);
	assert_int_equal(kill(f->pid, SIGCONT), 0);
	barrier(f);
	assert_int_equal(r.called, 0);
}

static void test_free_calls_pending(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct res r = {0};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(kill(f->pid, SIGSTOP), 0);
	assert_int_equal(gov_redis_admit(f->rd, &a, on_res, &r, &t), 0);
	gov_redis_free(f->rd);
	f->rd = NULL;
	assert_int_equal(r.called, 1);
	assert_int_equal(r.rc, -1);
	assert_true(metrics_have(f, "llmgw_redis_up 0"));
	assert_int_equal(kill(f->pid, SIGCONT), 0);
}

/* Runs the loop for ms with stderr (the log) going to a file; returns what was logged (static buffer). */
static const char *logged_while_running(struct fx *f, int ms)
{
	static char text[8192];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;
	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	run_for(f, ms);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(text, 1, sizeof(text) - 1, tmp);
	text[n] = '\0';
	fclose(tmp);
	return text;
}

static void test_auth_select_dns(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gw_redis bad;
	struct err err = {0};
	NEED_REDIS(state);
	/* up already: "localhost" went through evdns, AUTH and SELECT 3 passed */
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(admit(f, &a, NULL), 0);
	assert_int_equal(sync_int(f, "EXISTS", "t:rl:k:rpm"), 1); /* in db 3 */
	/* a wrong password: down, said once in the log, and neither password in it */
	bad = f->conf;
	bad.password = "wrong-pass-3b7f";
	struct gov_redis *rd = gov_redis_new(f->base, &bad, f->m, 8, &err);
	assert_non_null(rd);
	const char *log = logged_while_running(f, 500);
	assert_false(gov_redis_up(rd));
	assert_non_null(strstr(log, "event=redis_down worker=8"));
	assert_non_null(strstr(log, "WRONGPASS"));
	assert_null(strstr(strstr(log, "event=redis_down worker=8") + 1, "event=redis_down worker=8")); /* once */
	assert_null(strstr(log, "wrong-pass-3b7f"));
	assert_null(strstr(log, PASS));
	gov_redis_free(rd);
}

static void test_unix_socket(void **state)
{
	struct fx *f = *state;
	struct gov_ask a = {0};
	struct gw_redis conf;
	struct err err = {0};
	struct res r = {0};
	struct gov_redis_ticket *t;
	NEED_REDIS(state);
	conf = f->conf;
	conf.host = NULL;
	conf.unix_path = f->sock;
	struct gov_redis *rd = gov_redis_new(f->base, &conf, f->m, 9, &err);
	assert_non_null(rd);
	uint64_t end = clock_mono_ns() + (uint64_t)WAIT_MS * 1000000u;
	while (!gov_redis_up(rd) && clock_mono_ns() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_true(gov_redis_up(rd));
	add_bucket(&a, "k:rpm", 100, 1);
	assert_int_equal(gov_redis_admit(rd, &a, on_res, &r, &t), 0);
	assert_true(run_until(f, &r.called, 1));
	assert_int_equal(r.rc, 0);
	assert_true(r.v.ok);
	assert_int_equal(r.v.remaining[0], 99);
	assert_true(metrics_have(f, "llmgw_redis_up 2")); /* both clients count */
	gov_redis_free(rd);
	assert_true(metrics_have(f, "llmgw_redis_up 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_admit_until_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_matches_gov_math, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_never, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budgets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle_refund, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_noscript, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_reply_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_down_at_start, setup_no_server, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_calls_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_select_dns, setup_auth, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
