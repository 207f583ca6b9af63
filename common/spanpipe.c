/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's end of the span pipeline: a nanomsg PUSH socket.
 *
 * The one rule here is that telemetry never slows a request. nn_connect() is
 * asynchronous (nanomsg keeps reconnecting in its own worker thread, so an
 * exporter that starts later or restarts is picked up without our help), and
 * every send uses NN_DONTWAIT: with no peer or a full NN_SNDBUF, nanomsg
 * answers EAGAIN at once and the record is dropped and counted by the caller.
 * Closing sets NN_LINGER to 0 so shutdown never waits for a dead exporter.
 */
#include "common/spanpipe.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

struct spanpipe {
	int sock;
};

/* Only transports that cross a process boundary make sense for the pipeline. */
static int spanpipe_url_ok(const char *url, struct err *err)
{
	if (url == NULL || url[0] == '\0')
		return err_set(err, EINVAL, "span pipe url is empty");
	size_t prefix;
	if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "tcp://", 6) == 0)
		prefix = 6;
	else
		return err_set(err, EINVAL, "span pipe url must start with ipc:// or tcp://");
	if (url[prefix] == '\0')
		return err_set(err, EINVAL, "span pipe url %.6s has no address", url);
	return 0;
}

struct spanpipe *spanpipe_open(const char *url, size_t sndbuf_bytes, struct err *err)
{
	if (spanpipe_url_ok(url, err) < 0)
		return NULL;
	if (sndbuf_bytes > INT_MAX) {
		err_set(err, EINVAL, "span pipe send buffer %zu bytes is too large", sndbuf_bytes);
		return NULL;
	}
	struct spanpipe *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	p->sock = nn_socket(AF_SP, NN_PUSH);
	if (p->sock < 0) {
		err_set(err, nn_errno(), "nn_socket: %s", nn_strerror(nn_errno()));
		goto fail;
	}
	if (sndbuf_bytes > 0) {
		int sz = (int)sndbuf_bytes;
		if (nn_setsockopt(p->sock, NN_SOL_SOCKET, NN_SNDBUF, &sz, sizeof(sz)) < 0) {
			err_set(err, nn_errno(), "nn_setsockopt(NN_SNDBUF=%d): %s", sz, nn_strerror(nn_errno()));
			goto fail;
		}
	}
	if (nn_connect(p->sock, url) < 0) {
		err_set(err, nn_errno(), "nn_connect %s: %s", url, nn_strerror(nn_errno()));
		goto fail;
	}
	return p;
fail:
	spanpipe_close(p);
	return NULL;
}

void spanpipe_close(struct spanpipe *p)
{
	if (p == NULL)
		return;
	if (p->sock >= 0) {
		int linger = 0;
		(void)nn_setsockopt(p->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
		nn_close(p->sock);
	}
	free(p);
}

/*
 * Copies the records into nanomsg's queue as one message. EAGAIN means no connected peer or
 * a full buffer (FULL); anything else (EBADF, ETERM after nn_term) is ERROR.
 * errno is left as nanomsg set it for callers that want to log it.
 */
enum spanpipe_result spanpipe_send(struct spanpipe *p, const struct spanrec *r)
{
	return spanpipe_send_batch(p, r, 1);
}

enum spanpipe_result spanpipe_send_batch(struct spanpipe *p, const struct spanrec *recs, size_t n)
{
	if (p == NULL || recs == NULL || n == 0 || n > SPANPIPE_BATCH_MAX || p->sock < 0)
		return SPANPIPE_ERROR;
	int rc;
	do {
		rc = nn_send(p->sock, recs, n * sizeof(*recs), NN_DONTWAIT);
	} while (rc < 0 && nn_errno() == EINTR);
	if (rc >= 0)
		return SPANPIPE_SENT;
	return nn_errno() == EAGAIN ? SPANPIPE_FULL : SPANPIPE_ERROR;
}
