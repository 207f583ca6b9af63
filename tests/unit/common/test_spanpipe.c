/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/spanpipe: a send with nobody listening is a FULL
 * drop that returns at once; with a PULL peer bound on a private ipc:// path
 * the record arrives byte for byte; urls other than ipc:// and tcp:// are
 * refused with a clear error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "common/spanpipe.h"
#include "common/spanrec.h"

struct fixture {
	char dir[64];
	char path[96];
	char url[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/llmgw-spanpipe-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/spans.sock", f->dir);
	snprintf(f->url, sizeof(f->url), "ipc://%s", f->path);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void make_record(struct spanrec *r)
{
	spanrec_init(r, SPANREC_KIND_CLIENT);
	r->op = SPANREC_OP_CHAT;
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < 8; i++)
		r->span_id[i] = (uint8_t)(0x80 + i);
	r->attempt = 1;
	SPANREC_SET(r, name, "chat llama3");
	SPANREC_SET(r, provider, "ollama");
}

static void test_no_peer_is_full(void **state)
{
	struct fixture *f = *state;
	struct err err = {0};
	struct spanpipe *p = spanpipe_open(f->url, 0, &err);
	assert_non_null(p);
	struct spanrec r;
	make_record(&r);
	for (int i = 0; i < 100; i++) /* would hang here if a send could block */
		assert_int_equal(spanpipe_send(p, &r), SPANPIPE_FULL);
	spanpipe_close(p);
}

static void test_send_to_pull_peer(void **state)
{
	struct fixture *f = *state;
	int pull = nn_socket(AF_SP, NN_PULL);
	assert_true(pull >= 0);
	assert_true(nn_bind(pull, f->url) >= 0);
	int guard_ms = 10000; /* hang guard only: a healthy run receives at once */
	assert_int_equal(nn_setsockopt(pull, NN_SOL_SOCKET, NN_RCVTIMEO, &guard_ms, sizeof(guard_ms)), 0);

	struct err err = {0};
	struct spanpipe *p = spanpipe_open(f->url, 64 * 1024, &err);
	assert_non_null(p);
	struct spanrec r;
	make_record(&r);

	/* The connect is asynchronous: retry (bounded) until the pipe is up. */
	enum spanpipe_result res = SPANPIPE_FULL;
	for (int i = 0; i < 2000 && res == SPANPIPE_FULL; i++) {
		res = spanpipe_send(p, &r);
		if (res == SPANPIPE_FULL) {
			struct timespec ts = {0, 5 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	assert_int_equal(res, SPANPIPE_SENT);

	void *msg = NULL;
	int n = nn_recv(pull, &msg, NN_MSG, 0);
	assert_int_equal(n, (int)sizeof(r));
	assert_memory_equal(msg, &r, sizeof(r));
	struct spanrec out;
	assert_int_equal(spanrec_validate(msg, (size_t)n, &out, &err), SPANREC_OK);
	nn_freemsg(msg);

	/* A batch is one message of whole records back to back, each framed and valid. */
	static struct spanrec batch[SPANPIPE_BATCH_MAX];
	for (size_t i = 0; i < SPANPIPE_BATCH_MAX; i++) {
		make_record(&batch[i]);
		batch[i].attempt = (uint8_t)(i + 1);
	}
	assert_int_equal(spanpipe_send_batch(p, batch, 3), SPANPIPE_SENT);
	assert_int_equal(spanpipe_send_batch(p, batch, SPANPIPE_BATCH_MAX), SPANPIPE_SENT);
	const size_t want[] = {3, SPANPIPE_BATCH_MAX};
	for (size_t m = 0; m < 2; m++) {
		n = nn_recv(pull, &msg, NN_MSG, 0);
		assert_int_equal(n, (int)(want[m] * sizeof(r)));
		const uint8_t *at = msg;
		size_t left = (size_t)n, seen = 0;
		while (left > 0) {
			size_t fl = spanrec_frame_len(at, left);
			assert_int_equal(fl, sizeof(r));
			assert_int_equal(spanrec_validate(at, fl, &out, &err), SPANREC_OK);
			assert_int_equal(out.attempt, seen + 1);
			at += fl;
			left -= fl;
			seen++;
		}
		assert_int_equal(seen, want[m]);
		nn_freemsg(msg);
	}
	/* Out of bounds batch sizes are refused, not truncated. */
	assert_int_equal(spanpipe_send_batch(p, batch, 0), SPANPIPE_ERROR);
	assert_int_equal(spanpipe_send_batch(p, batch, SPANPIPE_BATCH_MAX + 1), SPANPIPE_ERROR);

	spanpipe_close(p);
	nn_close(pull);
}

static void test_bad_urls(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "http://127.0.0.1:4318", "inproc://spans", "", "ipc://", "tcp://", "spans.sock", "IPC:///tmp/x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err = {0};
		assert_null(spanpipe_open(bad[i], 0, &err));
		assert_true(err.msg[0] != '\0');
	}
	struct err err = {0};
	assert_null(spanpipe_open("http://x", 0, &err));
	assert_non_null(strstr(err.msg, "ipc:// or tcp://"));
	assert_null(spanpipe_open(NULL, 0, &err));
	assert_null(spanpipe_open("tcp://127.0.0.1:1", (size_t)1 << 40, &err)); /* absurd buffer */
	assert_non_null(strstr(err.msg, "too large"));
	/* A tcp:// url to a closed port is fine (the exporter may come later). */
	struct spanpipe *p = spanpipe_open("tcp://127.0.0.1:1", 0, &err);
	assert_non_null(p);
	spanpipe_close(p);
	spanpipe_close(NULL);
	struct spanrec r;
	make_record(&r);
	assert_int_equal(spanpipe_send(NULL, &r), SPANPIPE_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_peer_is_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_to_pull_peer, setup, teardown),
	    cmocka_unit_test(test_bad_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
