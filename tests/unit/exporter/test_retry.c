/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retry: the delivery loop against a scripted fake sink on a real event
 * loop, every case run twice, over the memory queue and over the disk
 * queue (a temporary queue.dir): ok / partial success / drop (400, 413) /
 * retry-then-ok with the same bytes, several attempts in flight completing
 * out of order, the backend-wide backoff (nothing new starts, one probe
 * after it), a sink that takes fewer than export.concurrency, queue
 * overflow dropping the oldest, retry_exhausted, drain, stop (memory:
 * dropped; disk: kept and replayed by the next run), readiness.
 * Backoffs are milliseconds (or hours, where the test needs "not yet");
 * nothing asserts on time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/retry.h"

#define FAKE_MAX 64
#define BODY_LEN 1000

/* A sink that records what it is given and completes when the test says so. */
struct fake_call {
	const struct payload *p;
	sink_done_cb done;
	void *arg;
	char tag; /* p->data[0] at submit (the disk queue may reuse the memory later) */
};

struct fake_sink {
	struct sink base;
	struct fake_call calls[FAKE_MAX]; /* in flight, in submit order */
	unsigned n;
	unsigned submits;
	unsigned cap;	 /* refuses submits past this many in flight */
	bool refuse_all; /* every submit fails */
	unsigned last_attempts;
};

static int fake_submit(struct sink *s, const struct payload *p, sink_done_cb done, void *arg)
{
	struct fake_sink *f = (struct fake_sink *)s;
	if (f->refuse_all || f->n >= f->cap || f->n >= FAKE_MAX)
		return -1;
	f->calls[f->n++] = (struct fake_call){p, done, arg, p->data[0]};
	f->submits++;
	f->last_attempts = p->attempts;
	return 0;
}

static void fake_cancel(struct sink *s)
{
	((struct fake_sink *)s)->n = 0;
}

static void fake_destroy(struct sink *s)
{
	(void)s;
}

static const struct sink_ops fake_ops = {"fake", NULL, fake_submit, fake_cancel, fake_destroy};

struct fx {
	struct event_base *evb;
	struct ex_conf *conf;
	struct metrics *reg;
	struct ex_metrics m;
	struct ids_rng rng;
	struct fake_sink sink;
	struct retry *r;
	char dir[64]; /* disk backing: the queue directory; "" = memory */
	int idle;
};

static void fx_start(struct fx *f)
{
	struct err err;
	f->r = retry_new(f->evb, f->conf, &f->sink.base, &f->m, &f->rng, &err);
	assert_non_null(f->r);
}

/* A new delivery loop on the same config (and the same queue directory). */
static void fx_restart(struct fx *f)
{
	retry_free(f->r);
	f->sink.n = 0;
	fx_start(f);
}

/* Room for 64 batches instead of the default three. */
static void fx_roomy(struct fx *f)
{
	f->conf->max_pending = 64;
	f->conf->queue_max_bytes = 64 * (BODY_LEN + 100);
}

static int setup_any(void **state, bool disk)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err err;
	f->evb = event_base_new();
	f->conf = ex_conf_load(NULL, NULL, NULL, &err);
	f->conf->retry_initial_ms = 1;
	f->conf->retry_max_ms = 2;
	f->conf->retry_max_elapsed_ms = 0;
	f->conf->concurrency = 1;
	f->conf->max_pending = 3;
	/* Disk: entries of BODY_LEN plus a small header; three fit, a fourth does not. */
	f->conf->queue_max_bytes = 3 * BODY_LEN + 400;
	f->conf->queue_segment_bytes = 2 * BODY_LEN;
	if (disk) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/llmgw-test-retry-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		f->conf->queue_dir = strdup(f->dir);
	}
	f->reg = metrics_new();
	assert_int_equal(ex_metrics_init(&f->m, f->reg, &err), 0);
	ids_rng_init(&f->rng, &err);
	f->sink.base.ops = &fake_ops;
	f->sink.cap = FAKE_MAX;
	fx_start(f);
	*state = f;
	return 0;
}

static int setup_mem(void **state)
{
	return setup_any(state, false);
}

static int setup_disk(void **state)
{
	return setup_any(state, true);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	retry_free(f->r);
	metrics_free(f->reg);
	ex_conf_free(f->conf);
	event_base_free(f->evb);
	if (f->dir[0] != '\0')
		rm_dir(f->dir);
	free(f);
	return 0;
}

static struct payload *mk(uint32_t nspans, char tag)
{
	struct buf b;
	char body[BODY_LEN];
	memset(body, tag, sizeof(body));
	buf_init(&b, 0);
	buf_append(&b, body, sizeof(body));
	return payload_new(&b, nspans, 0, 1);
}

/*
 * Runs the loop until the sink holds want attempts. EVLOOP_ONCE blocks until
 * an event (the step, or a short backoff timer) fires, so the bound is on
 * iterations, not time. Only for states where something is due soon.
 */
static void pump(struct fx *f, unsigned want)
{
	for (int i = 0; i < 200 && f->sink.n < want; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->sink.n, want);
}

/* Runs whatever is ready now, without waiting for timers. */
static void spin(struct fx *f)
{
	for (int i = 0; i < 10; i++)
		event_base_loop(f->evb, EVLOOP_NONBLOCK);
}

/* Completes the attempt at index i (0 = oldest in flight) with a given outcome. */
static void complete_at(struct fx *f, unsigned i, enum send_outcome o, int status, int64_t rejected,
			int64_t retry_after_ms)
{
	struct sink_result res = {o, status, retry_after_ms, rejected, status};
	assert_true(i < f->sink.n);
	struct fake_call c = f->sink.calls[i];
	memmove(&f->sink.calls[i], &f->sink.calls[i + 1], (f->sink.n - i - 1) * sizeof(c));
	f->sink.n--;
	c.done(c.arg, &res);
}

static void complete(struct fx *f, enum send_outcome o, int status, int64_t rejected)
{
	complete_at(f, 0, o, status, rejected, -1);
}

static char tag_at(struct fx *f, unsigned i)
{
	assert_true(i < f->sink.n);
	return f->sink.calls[i].tag;
}

static int64_t dropped(struct fx *f, enum ex_drop_reason r)
{
	return metric_get(f->m.dropped[r]);
}

static void test_ok_partial_drop(void **state)
{
	struct fx *f = *state;
	assert_int_equal(metric_get(f->m.queue_durable), f->dir[0] != '\0');
	retry_submit(f->r, mk(3, 'a'));
	pump(f, 1);
	assert_int_equal(tag_at(f, 0), 'a');
	assert_int_equal(f->sink.calls[0].p->len, BODY_LEN);
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 3);

	retry_submit(f->r, mk(5, 'b'));
	pump(f, 1);
	complete(f, SEND_OK, 200, 2);
	assert_int_equal(metric_get(f->m.exported), 6);
	assert_int_equal(dropped(f, EX_DROP_PARTIAL), 2);

	retry_submit(f->r, mk(4, 'c'));
	pump(f, 1);
	complete(f, SEND_DROP, 400, 0);
	assert_int_equal(dropped(f, EX_DROP_REJECTED), 4);
	retry_submit(f->r, mk(7, 'd'));
	pump(f, 1);
	complete(f, SEND_DROP, 413, 0);
	assert_int_equal(dropped(f, EX_DROP_TOO_LARGE), 7);
	assert_int_equal(metric_get(f->m.requests[SEND_OK]), 2);
	assert_int_equal(metric_get(f->m.requests[SEND_DROP]), 2);
	assert_int_equal(metric_get(f->m.export_duration), 4);
	assert_int_equal(retry_pending(f->r), 0);
	spin(f);
	assert_int_equal(metric_get(f->m.pending_batches), 0);
	assert_int_equal(metric_get(f->m.queue_batches), 0);
	assert_int_equal(metric_get(f->m.inflight), 0);
}

static void test_retry_same_bytes(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(2, 'r'));
	pump(f, 1);
	complete(f, SEND_RETRY, 503, 0);
	assert_int_equal(retry_pending(f->r), 1);
	pump(f, 1); /* waits out the 1-2 ms backoff */
	assert_int_equal(tag_at(f, 0), 'r');
	assert_int_equal(f->sink.calls[0].p->len, BODY_LEN);
	assert_int_equal(f->sink.last_attempts, 2);
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.retries), 1);
	assert_int_equal(metric_get(f->m.requests[SEND_RETRY]), 1);
	assert_int_equal(metric_get(f->m.exported), 2);
}

static void test_concurrent_out_of_order(void **state)
{
	struct fx *f = *state;
	f->conf->concurrency = 3;
	fx_roomy(f);
	fx_restart(f);
	for (char t = 'a'; t <= 'c'; t++)
		retry_submit(f->r, mk(1, t));
	pump(f, 3);
	assert_int_equal(retry_inflight(f->r), 3);
	assert_int_equal(metric_get(f->m.inflight), 3);
	assert_int_equal(tag_at(f, 0), 'a');
	assert_int_equal(tag_at(f, 2), 'c');
	retry_submit(f->r, mk(10, 'd')); /* no slot yet */
	spin(f);
	assert_int_equal(f->sink.n, 3);
	complete_at(f, 2, SEND_OK, 200, 0, -1); /* 'c' finishes first */
	pump(f, 3);
	assert_int_equal(tag_at(f, 2), 'd');
	complete_at(f, 1, SEND_DROP, 400, 0, -1); /* 'b' */
	complete_at(f, 1, SEND_OK, 200, 0, -1);	  /* 'd' */
	complete_at(f, 0, SEND_OK, 200, 0, -1);	  /* 'a' */
	assert_int_equal(metric_get(f->m.exported), 12);
	assert_int_equal(dropped(f, EX_DROP_REJECTED), 1);
	spin(f);
	assert_int_equal(retry_pending(f->r), 0);
	assert_int_equal(retry_inflight(f->r), 0);
}

static void on_idle(void *arg)
{
	((struct fx *)arg)->idle++;
}

static void test_backoff_per_backend(void **state)
{
	struct fx *f = *state;
	f->conf->concurrency = 2;
	f->conf->retry_initial_ms = 3600 * 1000; /* "not yet" for the whole test */
	f->conf->retry_max_ms = 3600 * 1000;
	fx_restart(f);
	for (char t = 'a'; t <= 'c'; t++)
		retry_submit(f->r, mk(1, t));
	pump(f, 2);
	complete_at(f, 0, SEND_RETRY, 503, 0, -1); /* 'a' fails: the backend backs off */
	spin(f);
	assert_int_equal(f->sink.n, 1);		/* 'c' did not start */
	complete_at(f, 0, SEND_OK, 200, 0, -1); /* 'b' was already on its way and succeeds */
	spin(f);
	assert_int_equal(f->sink.n, 0); /* an OK does not cut the delay short */
	assert_int_equal(retry_pending(f->r), 2);
	assert_int_equal(metric_get(f->m.exported), 1);

	/* Drain pulls the delay in to retry.initial (made short here); 'b' reset the streak. */
	f->conf->retry_initial_ms = 1;
	f->conf->retry_max_ms = 2;
	retry_drain(f->r, on_idle, f);
	pump(f, 2);
	assert_int_equal(tag_at(f, 0), 'a');
	assert_int_equal(tag_at(f, 1), 'c');
	complete(f, SEND_OK, 200, 0);
	complete(f, SEND_OK, 200, 0);
	spin(f);
	assert_int_equal(f->idle, 1);
}

static void test_probe_after_backoff(void **state)
{
	struct fx *f = *state;
	f->conf->concurrency = 3;
	fx_roomy(f);
	fx_restart(f);
	for (char t = 'a'; t <= 'd'; t++)
		retry_submit(f->r, mk(1, t));
	pump(f, 3);
	complete_at(f, 0, SEND_RETRY, 503, 0, -1);
	complete_at(f, 0, SEND_RETRY, 0, 0, -1);
	complete_at(f, 0, SEND_RETRY, 429, 0, 1);
	assert_int_equal(metric_get(f->m.requests[SEND_RETRY]), 3);
	pump(f, 1); /* after the delay: one probe, the oldest */
	spin(f);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(tag_at(f, 0), 'a');
	complete(f, SEND_OK, 200, 0); /* the backend is back: full concurrency again */
	pump(f, 3);
	assert_int_equal(tag_at(f, 0), 'b');
	assert_int_equal(tag_at(f, 2), 'd');
	while (f->sink.n > 0)
		complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 4);
	assert_int_equal(metric_get(f->m.retries), 3);
}

static void test_sink_takes_fewer(void **state)
{
	struct fx *f = *state;
	f->conf->concurrency = 4;
	fx_restart(f);
	f->sink.cap = 1;
	retry_submit(f->r, mk(1, 'a'));
	retry_submit(f->r, mk(1, 'b'));
	pump(f, 1);
	spin(f);
	assert_int_equal(f->sink.n, 1); /* 'b' waits for the sink, uncounted */
	assert_int_equal(metric_get(f->m.requests[SEND_RETRY]), 0);
	complete(f, SEND_OK, 200, 0);
	pump(f, 1);
	assert_int_equal(tag_at(f, 0), 'b');
	assert_int_equal(f->sink.last_attempts, 1);
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.retries), 0);

	/* A sink that cannot start anything: a network error, retried. */
	f->sink.refuse_all = true;
	retry_submit(f->r, mk(2, 'c'));
	for (int i = 0; i < 20 && metric_get(f->m.requests[SEND_RETRY]) < 2; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_true(metric_get(f->m.requests[SEND_RETRY]) >= 2);
	f->sink.refuse_all = false;
	pump(f, 1);
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 4);
}

static void test_queue_full_drops_oldest(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(1, '1'));
	pump(f, 1); /* '1' is in flight: never dropped */
	retry_submit(f->r, mk(10, '2'));
	retry_submit(f->r, mk(100, '3'));
	assert_int_equal(retry_pending(f->r), 3);
	retry_submit(f->r, mk(1000, '4')); /* three fit: '2' goes */
	assert_int_equal(retry_pending(f->r), 3);
	assert_int_equal(dropped(f, EX_DROP_QUEUE_FULL), 10);
	complete(f, SEND_OK, 200, 0);
	pump(f, 1);
	assert_int_equal(tag_at(f, 0), '3');
	complete(f, SEND_OK, 200, 0);
	pump(f, 1);
	assert_int_equal(tag_at(f, 0), '4');
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 1101);
}

static void test_retry_exhausted(void **state)
{
	struct fx *f = *state;
	f->conf->retry_initial_ms = 50;
	f->conf->retry_max_ms = 50;
	f->conf->retry_max_elapsed_ms = 1; /* the first backoff already passes it */
	retry_submit(f->r, mk(6, 'x'));
	pump(f, 1);
	complete(f, SEND_RETRY, 0, 0);
	assert_int_equal(dropped(f, EX_DROP_RETRY_EXHAUSTED), 6);
	assert_int_equal(retry_pending(f->r), 0);
}

static void test_drain(void **state)
{
	struct fx *f = *state;
	f->conf->concurrency = 2;
	fx_restart(f);
	retry_submit(f->r, mk(2, 'a'));
	retry_submit(f->r, mk(3, 'b'));
	retry_submit(f->r, mk(4, 'c'));
	pump(f, 2);
	retry_drain(f->r, on_idle, f);
	complete_at(f, 1, SEND_OK, 200, 0, -1);
	pump(f, 2);
	spin(f);
	assert_int_equal(f->idle, 0);
	complete(f, SEND_OK, 200, 0);
	complete(f, SEND_OK, 200, 0);
	spin(f);
	assert_int_equal(f->idle, 1);
	assert_int_equal(metric_get(f->m.exported), 9);
	spin(f);
	assert_int_equal(f->idle, 1); /* once */
}

static void test_stop(void **state)
{
	struct fx *f = *state;
	struct retry_left left;
	bool disk = f->dir[0] != '\0';
	f->conf->concurrency = 2;
	fx_restart(f);
	retry_submit(f->r, mk(4, 'c'));
	retry_submit(f->r, mk(5, 'd'));
	retry_submit(f->r, mk(6, 'e'));
	pump(f, 2);
	retry_stop(f->r, &left);
	assert_int_equal(f->sink.n, 0); /* the attempts in flight were cancelled */
	assert_int_equal(left.batches, 3);
	assert_int_equal(left.spans, 15);
	assert_int_equal(left.persisted, disk);
	assert_int_equal(dropped(f, EX_DROP_SHUTDOWN), disk ? 0 : 15);
	assert_int_equal(retry_pending(f->r), disk ? 3 : 0);
	if (!disk)
		return;
	/* The next run replays them, counted, and delivers them in order. */
	fx_restart(f);
	assert_int_equal(metric_get(f->m.replayed_spans), 15);
	assert_int_equal(retry_pending(f->r), 3);
	pump(f, 2);
	assert_int_equal(tag_at(f, 0), 'c');
	assert_int_equal(tag_at(f, 1), 'd');
	complete(f, SEND_OK, 200, 0);
	complete(f, SEND_OK, 200, 0);
	pump(f, 1);
	assert_int_equal(tag_at(f, 0), 'e');
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 15);
	retry_stop(f->r, &left);
	assert_int_equal(left.batches, 0);
}

static void test_ready(void **state)
{
	struct fx *f = *state;
	char why[160] = "";
	f->conf->retry_initial_ms = 3600 * 1000;
	f->conf->retry_max_ms = 3600 * 1000;
	f->conf->ready_queue_ratio = 0.5;
	f->conf->ready_failing_ms = 1;
	assert_true(retry_ready(f->r, why, sizeof(why)));
	retry_submit(f->r, mk(1, 'a'));
	retry_submit(f->r, mk(1, 'b'));
	assert_false(retry_ready(f->r, why, sizeof(why))); /* two of three: over 50% */
	assert_non_null(strstr(why, "queue"));
	f->conf->ready_queue_ratio = 0.9;
	assert_true(retry_ready(f->r, why, sizeof(why)));
	pump(f, 1);
	complete(f, SEND_RETRY, 503, 0);
	/* Failing, but not for longer than 1 ms yet, or already: wait (bounded) for the latter. */
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < 1000 && retry_ready(f->r, why, sizeof(why)); i++)
		nanosleep(&ms, NULL);
	assert_false(retry_ready(f->r, why, sizeof(why)));
	assert_non_null(strstr(why, "failing"));
	f->conf->ready_failing_ms = 0; /* 0 = never */
	assert_true(retry_ready(f->r, why, sizeof(why)));
}

/* Every case twice: "<name>/memory" and "<name>/disk". */
#define BOTH(t)                                                                                                        \
	{#t "/memory", t, setup_mem, teardown, NULL},                                                                  \
	{                                                                                                              \
#t "/disk", t, setup_disk, teardown, NULL                                                              \
	}

int main(void)
{
	log_init("test_retry", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    BOTH(test_ok_partial_drop),
	    BOTH(test_retry_same_bytes),
	    BOTH(test_concurrent_out_of_order),
	    BOTH(test_backoff_per_backend),
	    BOTH(test_probe_after_backoff),
	    BOTH(test_sink_takes_fewer),
	    BOTH(test_queue_full_drops_oldest),
	    BOTH(test_retry_exhausted),
	    BOTH(test_drain),
	    BOTH(test_stop),
	    BOTH(test_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
