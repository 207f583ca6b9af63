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
#define RECEIVE_MAX_MSG (64 * 1024) /* SPANPIPE_BATCH_MAX records, and room to spare */
static_assert(SPANPIPE_BATCH_MAX * sizeof(struct spanrec) <= RECEIVE_MAX_MSG, "a full batch fits one message");
#define RECEIVE_LOG_BURST 10		     /* bad-record lines ... */
#define RECEIVE_LOG_WINDOW_NS 10000000000ull /* ... per 10 s */

struct receive {
	int sock; /* -1 once closed */
	struct event *ev;
	struct ex_metrics *m;
	receive_cb cb;
	void *arg;
	struct log_ratelimit rl;
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

static void receive_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	receive_drain(arg, RECEIVE_BURST);
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

void receive_stop(struct receive *r)
{
	if (r == NULL || r->sock < 0)
		return;
	if (r->ev != NULL)
		event_del(r->ev);
	size_t n = receive_drain(r, RECEIVE_STOP_MAX);
	nn_close(r->sock);
	r->sock = -1;
	log_msg(LOG_LVL_INFO, "receive_stopped", "url=%s final_records=%zu", r->url, n);
}

void receive_free(struct receive *r)
{
	if (r == NULL)
		return;
	if (r->ev != NULL) {
		event_del(r->ev);
		event_free(r->ev);
	}
	if (r->sock >= 0)
		nn_close(r->sock);
	free(r);
}

bool receive_ready(const struct receive *r)
{
	return r != NULL && r->sock >= 0;
}
