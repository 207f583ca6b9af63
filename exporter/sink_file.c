/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local sinks: `endpoint: stdout` and `endpoint: file:PATH` write each
 * batch as one OTLP/JSON line (the config forces http/json and no gzip for
 * them), which is what `make run` shows and what jq and log shippers read.
 *
 * Both are one writer over a file descriptor, so they share this file. The
 * write happens in submit (a local write of one line; a full stdout pipe
 * would block, which is acceptable for a debugging sink) and the outcome is
 * reported from a zero-delay event, keeping the sink contract that done
 * never runs inside submit. Up to export.concurrency submissions may be
 * outstanding; they are written in submission order and their outcomes
 * reported in that same order (a small ring). A failed write is
 * SEND_RETRY: a full disk or a rotated file can recover.
 */
#include "exporter/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"

/* A written line whose outcome is not reported yet. */
struct sink_fd_pending {
	sink_done_cb done;
	void *arg;
	enum send_outcome outcome;
};

struct sink_fd {
	struct sink base; /* first: struct sink * casts to struct sink_fd * */
	int fd;
	bool own_fd;
	struct event *done_ev;
	struct sink_fd_pending *ring; /* cap entries, oldest at head */
	unsigned cap, head, n;
};

/* Writes all of iov (data + "\n"), retrying short writes and EINTR. */
static int sink_fd_write(int fd, const char *data, size_t len)
{
	struct iovec iov[2] = {{(void *)(uintptr_t)data, len}, {"\n", 1}};
	int idx = 0;
	while (idx < 2) {
		ssize_t n = writev(fd, &iov[idx], 2 - idx);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)n;
		while (idx < 2 && left >= iov[idx].iov_len) {
			left -= iov[idx].iov_len;
			idx++;
		}
		if (idx < 2) {
			iov[idx].iov_base = (char *)iov[idx].iov_base + left;
			iov[idx].iov_len -= left;
		}
	}
	return 0;
}

/*
 * Reports outcomes oldest first. done may submit again or cancel, so the
 * ring is re-read each time; submissions made meanwhile are reported on the
 * next round, so a caller that always submits from done cannot hold the
 * loop in here.
 */
static void sink_fd_done(evutil_socket_t fd, short what, void *arg)
{
	struct sink_fd *s = arg;
	unsigned batch = s->n;
	(void)fd;
	(void)what;
	while (batch-- > 0 && s->n > 0) {
		struct sink_fd_pending e = s->ring[s->head];
		struct sink_result res = {e.outcome, 0, -1, 0, 0};
		s->head = (s->head + 1) % s->cap;
		s->n--;
		e.done(e.arg, &res);
	}
}

static int sink_fd_submit(struct sink *base, const struct payload *p, sink_done_cb done, void *arg)
{
	struct sink_fd *s = (struct sink_fd *)base;
	struct sink_fd_pending *e;
	if (s->n >= s->cap)
		return -1;
	e = &s->ring[(s->head + s->n) % s->cap];
	if (sink_fd_write(s->fd, p->data, p->len) != 0) {
		log_msg(LOG_LVL_WARN, "sink_write_failed", "sink=%s error=\"%s\"", base->ops->name, strerror(errno));
		e->outcome = SEND_RETRY;
	} else {
		e->outcome = SEND_OK;
	}
	e->done = done;
	e->arg = arg;
	s->n++;
	event_active(s->done_ev, EV_TIMEOUT, 0);
	return 0;
}

static void sink_fd_cancel(struct sink *base)
{
	struct sink_fd *s = (struct sink_fd *)base;
	event_del(s->done_ev);
	s->head = s->n = 0;
}

static void sink_fd_destroy(struct sink *base)
{
	struct sink_fd *s = (struct sink_fd *)base;
	if (s == NULL)
		return;
	if (s->done_ev != NULL)
		event_free(s->done_ev);
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	free(s->ring);
	free(s);
}

static struct sink *sink_fd_new(struct event_base *evb, const struct ex_conf *c, const struct sink_ops *ops, int fd,
				bool own, struct err *err)
{
	struct sink_fd *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		if (own)
			close(fd);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	s->base.ops = ops;
	s->fd = fd;
	s->own_fd = own;
	s->cap = c->concurrency > 0 ? c->concurrency : 1;
	s->ring = calloc(s->cap, sizeof(*s->ring));
	s->done_ev = event_new(evb, -1, 0, sink_fd_done, s);
	if (s->done_ev == NULL || s->ring == NULL) {
		sink_fd_destroy(&s->base);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	return &s->base;
}

static struct sink *sink_stdout_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	return sink_fd_new(evb, c, &sink_stdout_ops, STDOUT_FILENO, false, err);
}

static struct sink *sink_file_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	const char *path = c->endpoint.file_path;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	return sink_fd_new(evb, c, &sink_file_ops, fd, true, err);
}

const struct sink_ops sink_stdout_ops = {
    .name = "stdout",
    .create = sink_stdout_create,
    .submit = sink_fd_submit,
    .cancel = sink_fd_cancel,
    .destroy = sink_fd_destroy,
};

const struct sink_ops sink_file_ops = {
    .name = "file",
    .create = sink_file_create,
    .submit = sink_fd_submit,
    .cancel = sink_fd_cancel,
    .destroy = sink_fd_destroy,
};
