/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retry: the delivery state machine against a scripted fake sink on a real
 * event loop: ok / partial success / drop (400, 413) / retry-then-ok with
 * the same bytes, queue overflow dropping the oldest, retry_exhausted,
 * drain and abandon. Backoffs are configured in milliseconds so the loop
 * only spins briefly; nothing asserts on time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/retry.h"

/* A sink that records what it is given and completes when the test says so. */
struct fake_sink {
	struct sink base;
	const struct payload *got;
	unsigned submits;
	sink_done_cb done;
	void *arg;
};

static int fake_submit(struct sink *s, const struct payload *p, sink_done_cb done, void *arg)
{
	struct fake_sink *f = (struct fake_sink *)s;
	f->got = p;
	f->submits++;
	f->done = done;
	f->arg = arg;
	return 0;
}

static void fake_cancel(struct sink *s)
{
	((struct fake_sink *)s)->done = NULL;
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
	int idle;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err err;
	f->evb = event_base_new();
	f->conf = ex_conf_load(NULL, NULL, NULL, &err);
	f->conf->retry_initial_ms = 1;
	f->conf->retry_max_ms = 2;
	f->conf->retry_max_elapsed_ms = 0;
	f->conf->max_pending = 3;
	f->reg = metrics_new();
	assert_int_equal(ex_metrics_init(&f->m, f->reg, &err), 0);
	ids_rng_init(&f->rng, &err);
	f->sink.base.ops = &fake_ops;
	f->r = retry_new(f->evb, f->conf, &f->sink.base, &f->m, &f->rng, &err);
	assert_non_null(f->r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	retry_free(f->r);
	metrics_free(f->reg);
	ex_conf_free(f->conf);
	event_base_free(f->evb);
	free(f);
	return 0;
}

static struct payload *mk(uint32_t nspans, char tag)
{
	struct buf b;
	buf_init(&b, 0);
	buf_append(&b, &tag, 1);
	return payload_new(&b, nspans, 0, 1);
}

/*
 * Runs the loop until the sink holds a payload. EVLOOP_ONCE blocks until an
 * event (the step, or the backoff timer) fires, and returns at once when
 * nothing is pending, so the bound is on iterations, not time.
 */
static void pump(struct fx *f)
{
	for (int i = 0; i < 100 && f->sink.done == NULL; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
}

static void complete(struct fx *f, enum send_outcome o, int status, int64_t rejected)
{
	struct sink_result res = {o, status, -1, rejected, status};
	sink_done_cb done = f->sink.done;
	assert_non_null(done);
	f->sink.done = NULL;
	done(f->sink.arg, &res);
}

static int64_t dropped(struct fx *f, enum ex_drop_reason r)
{
	return metric_get(f->m.dropped[r]);
}

static void test_ok_partial_drop(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(3, 'a'));
	pump(f);
	assert_int_equal(f->sink.got->data[0], 'a');
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.exported), 3);

	retry_submit(f->r, mk(5, 'b'));
	pump(f);
	complete(f, SEND_OK, 200, 2);
	assert_int_equal(metric_get(f->m.exported), 6);
	assert_int_equal(dropped(f, EX_DROP_PARTIAL), 2);

	retry_submit(f->r, mk(4, 'c'));
	pump(f);
	complete(f, SEND_DROP, 400, 0);
	assert_int_equal(dropped(f, EX_DROP_REJECTED), 4);
	retry_submit(f->r, mk(7, 'd'));
	pump(f);
	complete(f, SEND_DROP, 413, 0);
	assert_int_equal(dropped(f, EX_DROP_TOO_LARGE), 7);
	assert_int_equal(metric_get(f->m.requests[SEND_OK]), 2);
	assert_int_equal(metric_get(f->m.requests[SEND_DROP]), 2);
	assert_int_equal(retry_pending(f->r), 0);
	assert_int_equal(metric_get(f->m.pending_batches), 0);
}

static void test_retry_same_bytes(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(2, 'r'));
	pump(f);
	const struct payload *first = f->sink.got;
	complete(f, SEND_RETRY, 503, 0);
	assert_int_equal(retry_pending(f->r), 1);
	pump(f); /* waits out the 1-2 ms backoff */
	assert_ptr_equal(f->sink.got, first);
	assert_int_equal(f->sink.got->attempts, 2);
	complete(f, SEND_OK, 200, 0);
	assert_int_equal(metric_get(f->m.retries), 1);
	assert_int_equal(metric_get(f->m.requests[SEND_RETRY]), 1);
	assert_int_equal(metric_get(f->m.exported), 2);
}

static void test_queue_full_drops_oldest(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(1, '1'));
	pump(f); /* '1' is in flight: never dropped */
	retry_submit(f->r, mk(10, '2'));
	retry_submit(f->r, mk(100, '3'));
	assert_int_equal(retry_pending(f->r), 3);
	retry_submit(f->r, mk(1000, '4')); /* max_pending 3: '2' goes */
	assert_int_equal(retry_pending(f->r), 3);
	assert_int_equal(dropped(f, EX_DROP_QUEUE_FULL), 10);
	complete(f, SEND_OK, 200, 0);
	pump(f);
	assert_int_equal(f->sink.got->data[0], '3');
	complete(f, SEND_OK, 200, 0);
	pump(f);
	assert_int_equal(f->sink.got->data[0], '4');
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
	pump(f);
	complete(f, SEND_RETRY, 0, 0);
	assert_int_equal(dropped(f, EX_DROP_RETRY_EXHAUSTED), 6);
	assert_int_equal(retry_pending(f->r), 0);
}

static void on_idle(void *arg)
{
	((struct fx *)arg)->idle++;
}

static void test_drain_and_abandon(void **state)
{
	struct fx *f = *state;
	retry_submit(f->r, mk(2, 'a'));
	retry_submit(f->r, mk(3, 'b'));
	pump(f);
	retry_drain(f->r, on_idle, f);
	complete(f, SEND_OK, 200, 0);
	pump(f);
	assert_int_equal(f->idle, 0);
	complete(f, SEND_OK, 200, 0);
	for (int i = 0; i < 10 && f->idle == 0; i++)
		event_base_loop(f->evb, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(f->idle, 1);

	retry_submit(f->r, mk(4, 'c'));
	retry_submit(f->r, mk(5, 'd'));
	pump(f);
	retry_abandon(f->r);
	assert_null(f->sink.done); /* the in-flight attempt was cancelled */
	assert_int_equal(dropped(f, EX_DROP_SHUTDOWN), 9);
	assert_int_equal(retry_pending(f->r), 0);
}

int main(void)
{
	log_init("test_retry", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ok_partial_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_same_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full_drops_oldest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_exhausted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_and_abandon, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
