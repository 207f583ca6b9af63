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
 * never runs inside submit. A failed write is SEND_RETRY: a full disk or a
 * rotated file can recover.
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

struct sink_fd {
	struct sink base; /* first: struct sink * casts to struct sink_fd * */
	int fd;
	bool own_fd;
	struct event *done_ev;
	sink_done_cb done;
	void *arg;
	struct sink_result res;
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

static void sink_fd_done(evutil_socket_t fd, short what, void *arg)
{
	struct sink_fd *s = arg;
	(void)fd;
	(void)what;
	sink_done_cb done = s->done;
	s->done = NULL;
	if (done != NULL)
		done(s->arg, &s->res);
}

static int sink_fd_submit(struct sink *base, const struct payload *p, sink_done_cb done, void *arg)
{
	struct sink_fd *s = (struct sink_fd *)base;
	if (s->done != NULL)
		return -1;
	memset(&s->res, 0, sizeof(s->res));
	s->res.retry_after_ms = -1;
	if (sink_fd_write(s->fd, p->data, p->len) != 0) {
		log_msg(LOG_LVL_WARN, "sink_write_failed", "sink=%s error=\"%s\"", base->ops->name, strerror(errno));
		s->res.outcome = SEND_RETRY;
	} else {
		s->res.outcome = SEND_OK;
	}
	s->done = done;
	s->arg = arg;
	event_active(s->done_ev, EV_TIMEOUT, 0);
	return 0;
}

static void sink_fd_cancel(struct sink *base)
{
	struct sink_fd *s = (struct sink_fd *)base;
	event_del(s->done_ev);
	s->done = NULL;
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
	free(s);
}

static struct sink *sink_fd_new(struct event_base *evb, const struct sink_ops *ops, int fd, bool own, struct err *err)
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
	s->done_ev = event_new(evb, -1, 0, sink_fd_done, s);
	if (s->done_ev == NULL) {
		sink_fd_destroy(&s->base);
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	return &s->base;
}

static struct sink *sink_stdout_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	(void)c;
	return sink_fd_new(evb, &sink_stdout_ops, STDOUT_FILENO, false, err);
}

static struct sink *sink_file_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	const char *path = c->endpoint.file_path;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	return sink_fd_new(evb, &sink_file_ops, fd, true, err);
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
