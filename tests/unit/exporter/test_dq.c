/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dq: the delivery queue over both backings. Order of push/take/ack,
 * release back to the old place, several in flight, the bounds (oldest
 * idle dropped and reported, in-flight never, a batch that cannot fit
 * dropped itself); for the disk backing also close and reopen (unacked
 * replayed in order, acked never back), segment rollover and deletion,
 * torn tails cut at every kind of point, corrupt bodies and headers
 * (counted, the rest of the segment and the other segments replayed),
 * garbage files, a torn .ack record, an entry corrupted after it was
 * written, the lock, and directories that cannot be used. Each case makes
 * its own directory under /tmp and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "exporter/dq.h"

/* Per-case state: a fresh directory (for disk cases), removed in teardown. */
struct fx {
	char dir[64];
	char sub[96]; /* dir/q: the queue directory proper */
};

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		unlink(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/llmgw-dq.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->sub, sizeof(f->sub), "%s/q", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rm_rf(f->dir);
	free(f);
	return 0;
}

static struct payload *mk(const char *body, uint32_t nspans)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, body), 0);
	struct payload *p = payload_new(&b, nspans, PAYLOAD_F_GZIP, 12345);
	assert_non_null(p);
	return p;
}

/* A body of n bytes starting with tag: "<tag>-xxxx...". */
static struct payload *mkn(const char *tag, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	memcpy(s, tag, strlen(tag) < n ? strlen(tag) : n);
	struct payload *p = mk(s, 1);
	free(s);
	return p;
}

static void push_ok(struct dq *q, struct payload *p)
{
	struct dq_dropped d;
	struct err err = {0};
	assert_int_equal(dq_push(q, p, &d, &err), 0);
	assert_int_equal(d.batches, 0);
}

/* Takes the next entry and checks its body starts with want. */
static struct payload *take_is(struct dq *q, const char *want)
{
	struct payload *p = dq_take(q);
	if (p == NULL)
		fail_msg("dq_take: nothing, wanted %s", want);
	if (p->len < strlen(want) || memcmp(p->data, want, strlen(want)) != 0)
		fail_msg("dq_take: got %.*s, wanted %s", (int)(p->len < 20 ? p->len : 20), p->data, want);
	return p;
}

static struct dq *open_q(const struct fx *f, uint64_t max_bytes, uint64_t seg_bytes, struct dq_replay *r)
{
	struct dq_opts o = {.dir = f->sub, .max_bytes = max_bytes, .segment_bytes = seg_bytes};
	struct err err = {0};
	struct dq *q = dq_open(&o, r, &err);
	if (q == NULL)
		fail_msg("dq_open: %s", err.msg);
	return q;
}

static struct dq *open_mem(uint64_t max_bytes, uint32_t max_batches)
{
	struct dq_opts o = {.max_bytes = max_bytes, .max_batches = max_batches};
	struct dq_replay r;
	struct dq *q = dq_open(&o, &r, NULL);
	assert_non_null(q);
	assert_int_equal(r.batches, 0);
	assert_false(dq_durable(q));
	return q;
}

/* Order, release to the old place, several in flight: the same for both backings. */
static void check_order(struct dq *q)
{
	push_ok(q, mk("a", 1));
	push_ok(q, mk("b", 2));
	push_ok(q, mk("c", 3));
	push_ok(q, mk("d", 4));
	assert_int_equal(dq_len(q), 4);
	struct payload *a = take_is(q, "a");
	struct payload *b = take_is(q, "b");
	assert_int_equal(b->nspans, 2);
	assert_int_equal(b->flags, PAYLOAD_F_GZIP);
	assert_true(b->seq > a->seq);
	b->attempts = 3;
	b->first_try_ns = 777;
	dq_release(q, b); /* back before c and d */
	struct payload *c;
	b = take_is(q, "b");
	assert_int_equal(b->attempts, 3);
	assert_int_equal(b->first_try_ns, 777);
	c = take_is(q, "c");
	dq_release(q, a);
	dq_release(q, c);
	a = take_is(q, "a"); /* a then c, both older than d */
	c = take_is(q, "c");
	struct payload *d = take_is(q, "d");
	assert_null(dq_take(q));
	assert_int_equal(dq_len(q), 4); /* in flight still count */
	dq_ack(q, c);
	dq_ack(q, a);
	assert_int_equal(dq_len(q), 2);
	dq_release(q, d);
	d = take_is(q, "d");
	dq_ack(q, d);
	dq_ack(q, b);
	assert_int_equal(dq_len(q), 0);
	assert_int_equal(dq_bytes(q), 0);
	assert_null(dq_take(q));
}

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(dq_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(dq_crc32c(0, "", 0), 0);
	/* Incremental equals one-shot. */
	assert_int_equal(dq_crc32c(dq_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_mem_order(void **state)
{
	(void)state;
	struct dq *q = open_mem(1 << 20, 100);
	check_order(q);
	dq_close(q);
}

static void test_mem_bound(void **state)
{
	(void)state;
	struct dq *q = open_mem(1 << 20, 3);
	struct dq_dropped d;
	struct err err;
	push_ok(q, mk("a", 1));
	push_ok(q, mk("b", 2));
	push_ok(q, mk("c", 3));
	struct payload *a = take_is(q, "a");
	/* Full by count: the oldest idle (b) goes, not a, which is in flight. */
	assert_int_equal(dq_push(q, mk("d", 4), &d, &err), 0);
	assert_int_equal(d.batches, 1);
	assert_int_equal(d.spans, 2);
	assert_int_equal(dq_len(q), 3);
	assert_true(dq_fill(q) > 0.99);
	struct payload *c = take_is(q, "c");
	struct payload *dd = take_is(q, "d");
	/* Everything in flight: the new batch itself is dropped. */
	assert_int_equal(dq_push(q, mk("e", 5), &d, &err), 0);
	assert_int_equal(d.batches, 1);
	assert_int_equal(d.spans, 5);
	dq_ack(q, a);
	dq_ack(q, c);
	dq_ack(q, dd);
	dq_close(q);

	/* By bytes, and a batch bigger than the whole bound. */
	q = open_mem(100, 0);
	push_ok(q, mkn("a", 40));
	push_ok(q, mkn("b", 40));
	assert_int_equal(dq_push(q, mkn("c", 40), &d, &err), 0);
	assert_int_equal(d.batches, 1);
	assert_int_equal(dq_bytes(q), 80);
	assert_int_equal(dq_push(q, mkn("big", 101), &d, &err), 0);
	assert_int_equal(d.batches, 1);
	assert_int_equal(dq_len(q), 2);
	struct payload *b = take_is(q, "b");
	dq_ack(q, b);
	c = take_is(q, "c");
	dq_release(q, c); /* left in the queue: dq_close frees it */
	dq_close(q);
}

static void test_disk_order(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_true(dq_durable(q));
	assert_int_equal(r.batches, 0);
	check_order(q);
	dq_close(q);
}

static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_disk_reopen(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	const char *names[] = {"one", "two", "three", "four", "five"};
	for (int i = 0; i < 5; i++)
		push_ok(q, mk(names[i], (uint32_t)i + 1));
	struct payload *p1 = take_is(q, "one");
	struct payload *p2 = take_is(q, "two");
	dq_ack(q, p2);
	struct payload *p3 = take_is(q, "three");
	dq_release(q, p3);
	(void)p1; /* in flight at close: the caller's to free, still unacknowledged on disk */
	dq_close(q);
	payload_free(p1);

	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 4);
	assert_int_equal(r.spans, 1 + 3 + 4 + 5);
	assert_int_equal(r.torn_tails + r.corrupt_entries + r.segments_skipped, 0);
	assert_int_equal(dq_len(q), 4);
	struct payload *p = take_is(q, "one");
	assert_int_equal(p->nspans, 1);
	assert_int_equal(p->flags, PAYLOAD_F_GZIP);
	assert_true(p->created_ns > 0);
	dq_ack(q, p);
	p = take_is(q, "three");
	dq_ack(q, p);
	/* A restart appends to a new segment. */
	push_ok(q, mk("six", 6));
	assert_int_equal(count_files(f->sub, ".seg"), 2);
	dq_close(q);

	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 3);
	p = take_is(q, "four");
	dq_close(q); /* in flight at close */
	payload_free(p);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 3);
	for (int i = 0; i < 3; i++)
		dq_ack(q, take_is(q, i == 0 ? "four" : i == 1 ? "five" : "six"));
	dq_close(q);

	/* All acknowledged: nothing comes back, and the files are gone. */
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 0);
	assert_null(dq_take(q));
	assert_int_equal(count_files(f->sub, ".seg"), 0);
	assert_int_equal(count_files(f->sub, ".ack"), 0);
	dq_close(q);
}

static void test_disk_rollover(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	/* 100-byte bodies + 40-byte headers, sealed past 300 bytes: 3 entries per segment. */
	struct dq *q = open_q(f, 1 << 20, 300, &r);
	char tag[16];
	for (int i = 0; i < 10; i++) {
		snprintf(tag, sizeof(tag), "e%d-", i);
		push_ok(q, mkn(tag, 100));
	}
	assert_int_equal(count_files(f->sub, ".seg"), 4);
	assert_int_equal(dq_bytes(q), 10 * 140);
	/* Acknowledging the first segment's entries deletes it, out of order too. */
	struct payload *e0 = take_is(q, "e0-");
	struct payload *e1 = take_is(q, "e1-");
	struct payload *e2 = take_is(q, "e2-");
	dq_ack(q, e2);
	dq_ack(q, e0);
	assert_int_equal(count_files(f->sub, ".seg"), 4);
	dq_ack(q, e1);
	assert_int_equal(count_files(f->sub, ".seg"), 3);
	assert_int_equal(count_files(f->sub, ".ack"), 0);
	/* The current segment (e9) stays while open even when empty. */
	for (int i = 3; i < 10; i++) {
		snprintf(tag, sizeof(tag), "e%d-", i);
		dq_ack(q, take_is(q, tag));
	}
	assert_int_equal(count_files(f->sub, ".seg"), 1);
	dq_close(q);
	assert_int_equal(count_files(f->sub, ".seg"), 0);
}

/* Path of the only (or first) segment in dir. */
static void first_seg(const char *dir, char *out, size_t n)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	char best[300] = "";
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l == 20 && strcmp(de->d_name + 16, ".seg") == 0 &&
		    (best[0] == '\0' || strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	assert_true(best[0] != '\0');
	snprintf(out, n, "%s/%s", dir, best);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Writes 4 entries of 60-byte bodies (100 bytes each on disk) into one segment and closes. */
static void write_four(const struct fx *f, char *seg, size_t n)
{
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mkn("A", 60));
	push_ok(q, mkn("B", 60));
	push_ok(q, mkn("C", 60));
	push_ok(q, mkn("D", 60));
	dq_close(q);
	first_seg(f->sub, seg, n);
	assert_int_equal(file_size(seg), 400);
}

static void test_disk_torn_tail(void **state)
{
	struct fx *f = *state;
	/* Cut points: inside the 4th header, at its start+1, inside its body, one byte short. */
	static const struct {
		off_t size;
		uint64_t want_batches, want_torn;
	} cuts[] = {
	    {399, 3, 1}, {341, 3, 1}, {339, 3, 1}, {300, 3, 0}, {301, 3, 1}, {250, 2, 1}, {1, 0, 1}, {100, 1, 0},
	};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char seg[256];
		write_four(f, seg, sizeof(seg));
		assert_int_equal(truncate(seg, cuts[i].size), 0);
		struct dq_replay r;
		struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
		if (r.batches != cuts[i].want_batches || r.torn_tails != cuts[i].want_torn || r.corrupt_entries != 0)
			fail_msg("cut at %lld: batches %llu torn %llu corrupt %llu", (long long)cuts[i].size,
				 (unsigned long long)r.batches, (unsigned long long)r.torn_tails,
				 (unsigned long long)r.corrupt_entries);
		if (cuts[i].want_batches > 0) {
			/* The tail was cut off the file: a second open counts nothing. */
			assert_int_equal(file_size(seg), (off_t)cuts[i].want_batches * 100);
			dq_ack(q, take_is(q, "A"));
		}
		dq_close(q);
		q = open_q(f, 1 << 20, 1 << 20, &r);
		assert_int_equal(r.torn_tails, 0);
		assert_int_equal(r.batches, cuts[i].want_batches > 0 ? cuts[i].want_batches - 1 : 0);
		while (dq_len(q) > 0)
			dq_ack(q, dq_take(q));
		dq_close(q);
		assert_int_equal(count_files(f->sub, ".seg"), 0);
	}
}

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_disk_corrupt(void **state)
{
	struct fx *f = *state;
	char seg[256];
	struct dq_replay r;

	/* A body byte of B: B lost and counted, C and D still replayed. */
	write_four(f, seg, sizeof(seg));
	flip(seg, 100 + 40 + 10);
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 3);
	assert_int_equal(r.corrupt_entries, 1);
	assert_int_equal(r.lost_spans, 1);
	assert_int_equal(r.torn_tails, 0);
	dq_ack(q, take_is(q, "A"));
	dq_ack(q, take_is(q, "C"));
	dq_ack(q, take_is(q, "D"));
	dq_close(q);
	assert_int_equal(count_files(f->sub, ".seg"), 0);

	/* A header byte of B: the scan finds C's header again. */
	write_four(f, seg, sizeof(seg));
	flip(seg, 100 + 9);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 3);
	assert_int_equal(r.corrupt_entries, 1);
	while (dq_len(q) > 0)
		dq_ack(q, dq_take(q));
	dq_close(q);

	/* Garbage over the rest of segment 1: B..D lost, segment 2 replayed. */
	write_four(f, seg, sizeof(seg));
	q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mk("E", 7));
	dq_close(q);
	int fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	char junk[300];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 100), (ssize_t)sizeof(junk));
	close(fd);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 2);
	assert_int_equal(r.corrupt_entries, 1);
	assert_int_equal(r.torn_tails, 0);
	dq_ack(q, take_is(q, "A"));
	struct payload *e = take_is(q, "E");
	assert_int_equal(e->nspans, 7);
	dq_ack(q, e);
	dq_close(q);
	assert_int_equal(count_files(f->sub, ".seg"), 0);

	/* Zeros past the end (power loss without fsync): a torn tail, not corruption. */
	write_four(f, seg, sizeof(seg));
	assert_int_equal(truncate(seg, 1000), 0);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 4);
	assert_int_equal(r.torn_tails, 1);
	assert_int_equal(r.corrupt_entries, 0);
	assert_int_equal(file_size(seg), 400);
	while (dq_len(q) > 0)
		dq_ack(q, dq_take(q));
	dq_close(q);
}

/* An entry damaged on disk after it was indexed: dq_take skips it and counts it. */
static void test_disk_take_corrupt(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mkn("A", 60));
	push_ok(q, mkn("B", 60));
	push_ok(q, mkn("C", 60));
	char seg[256];
	first_seg(f->sub, seg, sizeof(seg));
	flip(seg, 100 + 50);
	dq_ack(q, take_is(q, "A"));
	dq_ack(q, take_is(q, "C"));
	assert_int_equal(dq_lost(q), 1);
	assert_int_equal(dq_len(q), 0);
	dq_close(q);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 0); /* B was acknowledged as lost */
	dq_close(q);
}

/* A 60-byte body starting with tag, holding nspans spans (one entry = 100 bytes on disk). */
static struct payload *mk60(const char *tag, uint32_t nspans)
{
	char s[61];
	memset(s, 'y', 60);
	s[60] = '\0';
	memcpy(s, tag, strlen(tag));
	return mk(s, nspans);
}

/* The spans of entries dq_take could not read back are counted too (retry.c drops them as corrupt_queue). */
static void test_disk_take_lost_spans(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mk60("A", 2));
	push_ok(q, mk60("B", 5));
	push_ok(q, mk60("C", 11));
	push_ok(q, mk60("D", 3));
	char seg[256];
	first_seg(f->sub, seg, sizeof(seg));
	flip(seg, 100 + 40 + 30); /* B's body: CRC mismatch */
	flip(seg, 200 + 8);	  /* C's header: no longer intact */
	assert_int_equal(dq_lost_spans(q), 0);
	struct payload *a = take_is(q, "A");
	assert_int_equal(dq_lost_spans(q), 0); /* nothing skipped yet */
	struct payload *d = take_is(q, "D");   /* B and C skipped on the way */
	assert_int_equal(dq_lost(q), 2);
	assert_int_equal(dq_lost_spans(q), 5 + 11);
	assert_int_equal(dq_len(q), 2); /* A and D, in flight */
	assert_null(dq_take(q));
	assert_int_equal(dq_lost_spans(q), 16); /* a take that finds nothing loses nothing more */
	dq_ack(q, a);
	dq_release(q, d); /* stays on disk for the next run */
	dq_close(q);
	/* B and C were acknowledged as lost: only D comes back, and the count starts over */
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 1);
	assert_int_equal(r.spans, 3);
	assert_int_equal(dq_lost_spans(q), 0);
	dq_ack(q, take_is(q, "D"));
	dq_close(q);

	/* memory never loses one */
	struct dq_opts o = {.max_bytes = 1 << 20};
	struct err err = {0};
	q = dq_open(&o, &r, &err);
	assert_non_null(q);
	push_ok(q, mk60("M", 4));
	dq_ack(q, take_is(q, "M"));
	assert_int_equal(dq_lost_spans(q), 0);
	dq_close(q);
}

static void write_file(const char *dir, const char *name, const void *data, size_t n)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static bool exists(const char *dir, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void test_disk_garbage_files(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mk("keep", 2));
	dq_close(q);
	char junk[500];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_file(f->sub, "notes.txt", "hello", 5);
	write_file(f->sub, "zz.seg", junk, sizeof(junk));
	write_file(f->sub, "00000000000000ff.seg", junk, sizeof(junk)); /* our name, not our bytes */
	write_file(f->sub, "00000000000000fe.seg", "", 0);
	write_file(f->sub, "0000000000000abc.ack", junk, 16); /* orphan */
	char d[256];
	snprintf(d, sizeof(d), "%s/0000000000000100.seg", f->sub);
	assert_int_equal(mkdir(d, 0700), 0);

	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 1);
	assert_int_equal(r.segments_skipped, 2); /* zz.seg and the directory */
	assert_int_equal(r.corrupt_entries, 1);
	assert_true(exists(f->sub, "notes.txt"));
	assert_true(exists(f->sub, "zz.seg"));
	assert_false(exists(f->sub, "00000000000000ff.seg"));
	assert_false(exists(f->sub, "00000000000000fe.seg"));
	assert_false(exists(f->sub, "0000000000000abc.ack"));
	/* New segments number past everything seen. */
	push_ok(q, mk("new", 1));
	assert_true(exists(f->sub, "0000000000000abd.seg"));
	dq_ack(q, take_is(q, "keep"));
	dq_ack(q, take_is(q, "new"));
	dq_close(q);
	rmdir(d);
}

static void test_disk_ack_torn(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	push_ok(q, mk("a", 1));
	push_ok(q, mk("b", 1));
	push_ok(q, mk("c", 1));
	dq_ack(q, take_is(q, "a"));
	dq_close(q);
	char seg[256], ack[256];
	first_seg(f->sub, seg, sizeof(seg));
	snprintf(ack, sizeof(ack), "%.*s.ack", (int)(strlen(seg) - 4), seg);
	assert_int_equal(file_size(ack), DQ_ACK_REC);
	/* Half a record (kill -9 mid-ack) and nothing breaks; later acks still line up. */
	int fd = open(ack, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x01\x00\x00", 3), 3);
	close(fd);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 2);
	assert_int_equal(file_size(ack), DQ_ACK_REC);
	dq_ack(q, take_is(q, "b"));
	dq_close(q);
	q = open_q(f, 1 << 20, 1 << 20, &r);
	assert_int_equal(r.batches, 1);
	dq_ack(q, take_is(q, "c"));
	dq_close(q);
}

static void test_disk_bound(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq_dropped d;
	struct err err;
	/* 3 entries of 140 bytes fit in 450. */
	struct dq *q = open_q(f, 450, 300, &r);
	push_ok(q, mkn("e0-", 100));
	push_ok(q, mkn("e1-", 100));
	push_ok(q, mkn("e2-", 100));
	struct payload *e0 = take_is(q, "e0-");
	assert_int_equal(dq_push(q, mkn("e3-", 100), &d, &err), 0);
	assert_int_equal(d.batches, 1); /* e1, not e0 which is in flight */
	assert_int_equal(d.spans, 1);
	assert_int_equal(dq_len(q), 3);
	assert_int_equal(dq_bytes(q), 420);
	struct payload *e2 = take_is(q, "e2-");
	struct payload *e3 = take_is(q, "e3-");
	assert_int_equal(dq_push(q, mkn("e4-", 100), &d, &err), 0);
	assert_int_equal(d.batches, 1); /* all in flight: e4 itself */
	assert_int_equal(dq_len(q), 3);
	dq_release(q, e3);
	dq_release(q, e2);
	dq_close(q);
	payload_free(e0);

	/* Dropped entries stay dropped; a lower bound trims the replay at the next push. */
	q = open_q(f, 300, 300, &r);
	assert_int_equal(r.batches, 3);
	assert_int_equal(dq_push(q, mkn("e5-", 100), &d, &err), 0);
	assert_int_equal(d.batches, 2);
	dq_ack(q, take_is(q, "e3-"));
	dq_ack(q, take_is(q, "e5-"));
	assert_null(dq_take(q));
	dq_close(q);
	q = open_q(f, 300, 300, &r);
	assert_int_equal(r.batches, 0);
	dq_close(q);
	assert_int_equal(count_files(f->sub, ".seg"), 0);
}

static void test_disk_lock(void **state)
{
	struct fx *f = *state;
	struct dq_replay r;
	struct dq *q = open_q(f, 1 << 20, 1 << 20, &r);
	struct dq_opts o = {.dir = f->sub, .max_bytes = 1 << 20};
	struct err err = {0};
	assert_null(dq_open(&o, &r, &err));
	assert_non_null(strstr(err.msg, "in use by another exporter"));
	char pid[32];
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	assert_non_null(strstr(err.msg, pid));
	dq_close(q);
	q = open_q(f, 1 << 20, 1 << 20, &r); /* released by close */
	dq_close(q);
}

static void test_disk_bad_dir(void **state)
{
	struct fx *f = *state;
	char p[256];
	snprintf(p, sizeof(p), "%s/file", f->dir);
	write_file(f->dir, "file", "x", 1);
	struct dq_opts o = {.dir = p};
	struct err err = {0};
	assert_null(dq_open(&o, NULL, &err));
	assert_non_null(strstr(err.msg, p));
	snprintf(p, sizeof(p), "%s/file/sub", f->dir);
	o.dir = p;
	assert_null(dq_open(&o, NULL, &err));
	/* Parents are created. */
	snprintf(p, sizeof(p), "%s/a/b/c", f->dir);
	o.dir = p;
	struct dq *q = dq_open(&o, NULL, &err);
	assert_non_null(q);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	dq_close(q);
}

/* The format helpers on their own: a header round-trips, a flipped bit anywhere fails it. */
static void test_entry_format(void **state)
{
	(void)state;
	uint8_t hdr[DQ_ENTRY_HDR];
	dq_entry_header(hdr, 7, "body", 4, 9, PAYLOAD_F_JSON, 1700000000123ull);
	struct dq_entry_info e;
	assert_int_equal(dq_entry_parse(hdr, &e), 0);
	assert_int_equal(e.index, 7);
	assert_int_equal(e.len, 4);
	assert_int_equal(e.nspans, 9);
	assert_int_equal(e.flags, PAYLOAD_F_JSON);
	assert_int_equal(e.created_ms, 1700000000123ull);
	assert_int_equal(e.crc, dq_crc32c(0, "body", 4));
	for (size_t i = 0; i < DQ_ENTRY_HDR * 8; i++) {
		hdr[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (dq_entry_parse(hdr, &e) == 0)
			fail_msg("bit %zu flipped still parses", i);
		hdr[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

int main(void)
{
	log_init("test_dq", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test(test_entry_format),
	    cmocka_unit_test(test_mem_order),
	    cmocka_unit_test(test_mem_bound),
	    cmocka_unit_test_setup_teardown(test_disk_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_rollover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_take_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_take_lost_spans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_garbage_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_ack_torn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_bad_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
