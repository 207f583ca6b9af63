/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanrec-inject: pushes span records, good or deliberately broken, into an
 * exporter's PULL socket, so tests can prove the exporter counts and
 * survives every kind of bad record and still exports good ones.
 *
 *   spanrec-inject URL KIND [COUNT]
 *
 * KIND is one of
 *   good            a valid CLIENT span "inject good", random trace id, tenant "inject-tenant"
 *   short           the first 100 bytes of a good record        -> bad_size
 *   bad_magic       magic changed                               -> bad_magic
 *   bad_version     version far past the current one            -> bad_version
 *   bad_size_field  size field says half a record               -> bad_size
 *   unterminated    name filled to the end with no NUL          -> bad_string
 *   bad_kind        kind = 9                                    -> bad_field
 *   zero_trace      all-zero trace id                           -> bad_field
 *   batch_mixed     one message of 4 records back to back, as the gateway
 *                   batches them: good, bad_kind, good, and a short tail
 *                   (100 bytes) -> 2 exported, 1 bad_field, 1 bad_size
 *
 * Unlike the gateway, this tool waits: each send blocks up to 5 s for a
 * peer, and it lingers before closing so the records leave the socket.
 * Exit 0 when all COUNT records were sent, 1 on a send failure, 2 on usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/spanrec.h"

#define INJECT_SNDTIMEO_MS 5000
#define INJECT_LINGER_MS 1000
#define INJECT_SETTLE_MS 200
#define INJECT_SHORT_LEN 100
#define INJECT_MAX_COUNT 1000000

/* Builds the good record every kind starts from. */
static void build_good(struct spanrec *r, struct ids_rng *rng, long i)
{
	char rid[48];
	uint64_t now = clock_wall_ns();
	spanrec_init(r, SPANREC_KIND_CLIENT);
	ids_rng_fill(rng, r->trace_id, sizeof(r->trace_id));
	ids_rng_fill(rng, r->span_id, sizeof(r->span_id));
	r->status = SPANREC_STATUS_OK;
	r->op = SPANREC_OP_CHAT;
	r->trace_flags = 1;
	r->start_ns = now - 1000000;
	r->end_ns = now;
	r->http_status = 200;
	r->attempt = 1;
	snprintf(rid, sizeof(rid), "inject-%ld", i);
	SPANREC_SET(r, name, "inject good");
	SPANREC_SET(r, request_model, "inject-model");
	SPANREC_SET(r, provider, "mock");
	SPANREC_SET(r, tenant_id, "inject-tenant");
	SPANREC_SET(r, request_id, rid);
}

/* Spoils r per kind; returns the number of bytes to send, 0 for an unknown kind. */
static size_t spoil(struct spanrec *r, const char *kind)
{
	if (strcmp(kind, "good") == 0)
		return sizeof(*r);
	if (strcmp(kind, "short") == 0)
		return INJECT_SHORT_LEN;
	if (strcmp(kind, "bad_magic") == 0)
		r->magic = 0xdeadbeefu;
	else if (strcmp(kind, "bad_version") == 0)
		r->version = SPANREC_VERSION + 100;
	else if (strcmp(kind, "bad_size_field") == 0)
		r->size = SPANREC_SIZE / 2;
	else if (strcmp(kind, "unterminated") == 0)
		memset(r->name, 'A', sizeof(r->name));
	else if (strcmp(kind, "bad_kind") == 0)
		r->kind = 9;
	else if (strcmp(kind, "zero_trace") == 0)
		memset(r->trace_id, 0, sizeof(r->trace_id));
	else
		return 0;
	return sizeof(*r);
}

static int open_socket(const char *url)
{
	int timeo = INJECT_SNDTIMEO_MS, linger = INJECT_LINGER_MS;
	int s = nn_socket(AF_SP, NN_PUSH);
	if (s < 0) {
		fprintf(stderr, "spanrec-inject: nn_socket: %s\n", nn_strerror(nn_errno()));
		return -1;
	}
	if (nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &timeo, sizeof(timeo)) < 0 ||
	    nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) < 0 || nn_connect(s, url) < 0) {
		fprintf(stderr, "spanrec-inject: %s: %s\n", url, nn_strerror(nn_errno()));
		nn_close(s);
		return -1;
	}
	return s;
}

/* batch_mixed: good, bad_kind, good, a short tail, as one message. */
static int send_mixed(int s, struct ids_rng *rng, long i)
{
	static struct spanrec m[4];
	build_good(&m[0], rng, 3 * i);
	build_good(&m[1], rng, 3 * i + 1);
	spoil(&m[1], "bad_kind");
	build_good(&m[2], rng, 3 * i + 2);
	build_good(&m[3], rng, 3 * i + 2);
	size_t len = 3 * sizeof(m[0]) + INJECT_SHORT_LEN;
	if (nn_send(s, m, len, 0) != (int)len) {
		fprintf(stderr, "spanrec-inject: send batch %ld: %s\n", i + 1, nn_strerror(nn_errno()));
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fputs("usage: spanrec-inject URL KIND [COUNT]\n"
	      "  KIND: good short bad_magic bad_version bad_size_field unterminated bad_kind zero_trace batch_mixed\n",
	      stderr);
}

int main(int argc, char **argv)
{
	struct ids_rng rng;
	struct spanrec r;
	struct err e;
	long count = 1;
	int rc = 1;
	if (argc < 3 || argc > 4) {
		usage();
		return 2;
	}
	if (argc == 4) {
		char *end;
		errno = 0;
		count = strtol(argv[3], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[3] || count < 1 || count > INJECT_MAX_COUNT) {
			usage();
			return 2;
		}
	}
	if (ids_rng_init(&rng, &e) != 0) {
		fprintf(stderr, "spanrec-inject: %s\n", e.msg);
		return 1;
	}
	bool mixed = strcmp(argv[2], "batch_mixed") == 0;
	build_good(&r, &rng, 0);
	if (!mixed && spoil(&r, argv[2]) == 0) {
		fprintf(stderr, "spanrec-inject: unknown KIND %s\n", argv[2]);
		usage();
		return 2;
	}
	int s = open_socket(argv[1]);
	if (s < 0)
		return 1;
	for (long i = 0; i < count; i++) {
		if (mixed) {
			if (send_mixed(s, &rng, i) != 0)
				goto out;
			continue;
		}
		build_good(&r, &rng, i);
		size_t len = spoil(&r, argv[2]);
		if (nn_send(s, &r, len, 0) != (int)len) {
			fprintf(stderr, "spanrec-inject: send %ld/%ld to %s: %s\n", i + 1, count, argv[1],
				nn_strerror(nn_errno()));
			goto out;
		}
	}
	rc = 0;
	/* nanomsg's close does not wait for queued messages; give them time to leave. */
	struct timespec ts = {.tv_sec = 0, .tv_nsec = INJECT_SETTLE_MS * 1000000L};
	nanosleep(&ts, NULL);
out:
	nn_close(s);
	return rc;
}
