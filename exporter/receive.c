/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nanomsg PULL on libevent.
 *
 * NN_RCVFD is a descriptor that is readable while messages are queued; it
 * is only for polling. Each wakeup drains with NN_DONTWAIT up to
 * RECEIVE_BURST records, so a flood cannot starve the rest of the loop
 * (sends, timers, the admin server): if more remain, the descriptor is
 * still readable and libevent calls again on the next iteration.
 *
 * Stopping (SIGTERM) reads on through the same callback until the socket
 * has been quiet for a moment, then closes it (see receive_stop).
 *
 * Messages are received with NN_MSG (nanomsg allocates exactly the message)
 * so the exact length reaches spanrec_validate(); a message may hold several
 * records back to back (spanrec_frame_len splits them). NN_RCVMAXSIZE keeps a
 * hostile peer on a tcp:// endpoint from making nanomsg allocate much.
 */
#include "exporter/receive.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/spanpipe.h"
#include "common/spanrec.h"

#define RECEIVE_BURST 1024	    /* records per wakeup (whole messages: up to 31 more) */
#define RECEIVE_STOP_MAX 65536	    /* records read after SIGTERM before closing */
#define RECEIVE_STOP_QUIET_MS 100   /* stopping: close once nothing arrived for this long ... */
#define RECEIVE_STOP_LIMIT_MS 1000  /* ... or this long after receive_stop, whichever is first */
#define RECEIVE_MAX_MSG (64 * 1024) /* SPANPIPE_BATCH_MAX records, and room to spare */
static_assert(SPANPIPE_BATCH_MAX * sizeof(struct spanrec) <= RECEIVE_MAX_MSG, "a full batch fits one message");
#define RECEIVE_LOG_BURST 10		     /* bad-record lines ... */
#define RECEIVE_LOG_WINDOW_NS 10000000000ull /* ... per 10 s */

struct receive {
	int sock; /* -1 once closed */
	struct event_base *evb;
	struct event *ev;
	struct ex_metrics *m;
	receive_cb cb;
	void *arg;
	struct log_ratelimit rl;
	/* Stopping (receive_stop): reading on until quiet, then closing and calling done. */
	bool stopping;
	struct event *quiet;
	receive_stopped_cb done;
	void *done_arg;
	size_t stop_records;
	uint64_t stop_start_ns;
	char url[256];
};

static void receive_record(struct receive *r, const void *msg, size_t len)
{
	struct spanrec rec;
	struct err e;
	err_clear(&e);
	enum spanrec_verdict v = spanrec_validate(msg, len, &rec, &e);
	if (v == SPANREC_OK) {
		metric_inc(r->m->received);
		r->cb(r->arg, &rec);
		return;
	}
	if ((unsigned)v < SPANREC_VERDICT__COUNT)
		metric_inc(r->m->rejected[v]);
	uint64_t suppressed = 0;
	if (log_ratelimit_ok(&r->rl, clock_mono_ns(), &suppressed)) {
		char q[300];
		log_msg(LOG_LVL_WARN, "bad_record", "reason=%s len=%zu detail=%s suppressed=%llu",
			spanrec_verdict_name(v), len, log_quote(e.msg, q, sizeof(q)), (unsigned long long)suppressed);
	}
}

/*
 * One message: a record, or several back to back (the gateway batches its
 * sends). Each framed record is validated on its own, so one bad record
 * costs only itself; whatever cannot be framed is one bad record (the
 * verdict says why: a short tail, a wrong size, a bad magic...).
 */
static size_t receive_one(struct receive *r, const void *msg, size_t len)
{
	const unsigned char *p = msg;
	size_t records = 0;
	while (len > 0) {
		size_t n = spanrec_frame_len(p, len);
		if (n == 0)
			n = len;
		receive_record(r, p, n);
		p += n;
		len -= n;
		records++;
	}
	return records;
}

/*
 * Reads messages until max records were read (a message is never split);
 * returns the records read. Counting records, not messages, keeps one
 * wakeup's work the same whether the gateway batches or not.
 */
static size_t receive_drain(struct receive *r, size_t max)
{
	size_t n = 0;
	while (n < max && r->sock >= 0) {
		void *msg = NULL;
		int len = nn_recv(r->sock, &msg, NN_MSG, NN_DONTWAIT);
		if (len < 0) {
			int e = nn_errno();
			if (e == EINTR)
				continue;
			if (e != EAGAIN)
				log_msg(LOG_LVL_WARN, "receive_error", "error=\"%s\"", nn_strerror(e));
			break;
		}
		n += receive_one(r, msg, (size_t)len);
		nn_freemsg(msg);
	}
	return n;
}

static void receive_finish(struct receive *r);

/* Stopping: (re)arms the quiet timer, capped so intake ends RECEIVE_STOP_LIMIT_MS after receive_stop. */
static void receive_arm_quiet(struct receive *r)
{
	uint64_t spent_ms = (clock_mono_ns() - r->stop_start_ns) / 1000000;
	uint64_t ms = RECEIVE_STOP_QUIET_MS;
	if (spent_ms >= RECEIVE_STOP_LIMIT_MS || r->stop_records >= RECEIVE_STOP_MAX) {
		receive_finish(r);
		return;
	}
	if (ms > RECEIVE_STOP_LIMIT_MS - spent_ms)
		ms = RECEIVE_STOP_LIMIT_MS - spent_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(r->quiet, &tv);
}

static void receive_readable(evutil_socket_t fd, short what, void *arg)
{
	struct receive *r = arg;
	(void)fd;
	(void)what;
	size_t n = receive_drain(r, RECEIVE_BURST);
	if (r->stopping && n > 0) {
		r->stop_records += n;
		receive_arm_quiet(r);
	}
}

static void receive_quiet(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	receive_finish(arg);
}

static int receive_setup(struct receive *r, const char *url, size_t rcvbuf, struct err *err)
{
	int buf = rcvbuf > (size_t)INT32_MAX ? INT32_MAX : (int)rcvbuf, maxsz = RECEIVE_MAX_MSG, linger = 0;
	if (nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof(buf)) < 0 ||
	    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz)) < 0 ||
	    nn_setsockopt(r->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) < 0)
		return err_set(err, nn_errno(), "receive: setsockopt: %s", nn_strerror(nn_errno()));
	if (nn_bind(r->sock, url) < 0)
		return err_set(err, nn_errno(), "receive: cannot bind %s: %s", url, nn_strerror(nn_errno()));
	return 0;
}

struct receive *receive_new(struct event_base *evb, const char *url, size_t rcvbuf, struct ex_metrics *m, receive_cb cb,
			    void *arg, struct err *err)
{
	struct receive *r = calloc(1, sizeof(*r));
	int fd;
	size_t fdsz = sizeof(fd);
	if (r == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	r->evb = evb;
	r->m = m;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->url, sizeof(r->url), "%s", url);
	log_ratelimit_init(&r->rl, RECEIVE_LOG_BURST, RECEIVE_LOG_WINDOW_NS);
	r->sock = nn_socket(AF_SP, NN_PULL);
	if (r->sock < 0) {
		err_set(err, nn_errno(), "receive: nn_socket: %s", nn_strerror(nn_errno()));
		goto fail;
	}
	if (receive_setup(r, url, rcvbuf, err) != 0)
		goto fail;
	if (nn_getsockopt(r->sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &fdsz) < 0) {
		err_set(err, nn_errno(), "receive: NN_RCVFD: %s", nn_strerror(nn_errno()));
		goto fail;
	}
	r->ev = event_new(evb, fd, EV_READ | EV_PERSIST, receive_readable, r);
	if (r->ev == NULL || event_add(r->ev, NULL) != 0) {
		err_set(err, ENOMEM, "receive: cannot watch the socket");
		goto fail;
	}
	log_msg(LOG_LVL_INFO, "receive_bound", "url=%s rcvbuf=%zu", url, rcvbuf);
	return r;
fail:
	receive_free(r);
	return NULL;
}

/* Stopping is over: closes the socket and tells the owner (once). */
static void receive_finish(struct receive *r)
{
	receive_stopped_cb done = r->done;
	if (r->ev != NULL)
		event_del(r->ev);
	if (r->quiet != NULL)
		event_del(r->quiet);
	if (r->sock >= 0) {
		nn_close(r->sock);
		r->sock = -1;
		log_msg(LOG_LVL_INFO, "receive_stopped", "url=%s final_records=%zu elapsed_ms=%llu", r->url,
			r->stop_records, (unsigned long long)((clock_mono_ns() - r->stop_start_ns) / 1000000));
	}
	r->done = NULL;
	if (r->stopping && done != NULL)
		done(r->done_arg);
}

/*
 * nanomsg moves messages from the kernel's socket buffer into the PULL
 * socket on its own worker thread, so NN_DONTWAIT finding nothing right
 * after SIGTERM (the worker not yet scheduled) does not mean the buffer is
 * empty: intake goes on through the event loop until it has been quiet
 * for RECEIVE_STOP_QUIET_MS.
 */
void receive_stop(struct receive *r, receive_stopped_cb done, void *arg)
{
	if (r == NULL || r->sock < 0) {
		if (done != NULL)
			done(arg);
		return;
	}
	if (r->stopping)
		return;
	r->stopping = true;
	r->done = done;
	r->done_arg = arg;
	r->stop_start_ns = clock_mono_ns();
	r->stop_records = 0;
	if (r->quiet == NULL && (r->quiet = evtimer_new(r->evb, receive_quiet, r)) == NULL) {
		r->stop_records = receive_drain(r, RECEIVE_STOP_MAX); /* no timer: what is there now */
		receive_finish(r);
		return;
	}
	r->stop_records = receive_drain(r, RECEIVE_BURST);
	receive_arm_quiet(r);
}

void receive_free(struct receive *r)
{
	if (r == NULL)
		return;
	if (r->ev != NULL) {
		event_del(r->ev);
		event_free(r->ev);
	}
	if (r->quiet != NULL) {
		event_del(r->quiet);
		event_free(r->quiet);
	}
	if (r->sock >= 0)
		nn_close(r->sock);
	free(r);
}

bool receive_ready(const struct receive *r)
{
	return r != NULL && r->sock >= 0;
}
