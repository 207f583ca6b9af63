/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delivery queue (dq.h): one index of entries, oldest first, with an
 * in-flight flag per entry and a short list of the in-flight ones (acks
 * and releases find their entry there, in O(batches in flight)). The
 * memory backing keeps each payload in its entry; the disk backing keeps
 * where the entry lives (segment, offset) and reads the body back in
 * dq_take. This file owns the queue's state and the directory; the byte
 * format is dq_seg.c's.
 *
 * Disk writes happen on the caller's event loop: they are appends to a
 * local file (plus fdatasync with queue.fsync), the one kind of blocking
 * the exporter accepts for durability, never a network filesystem wait
 * the queue could avoid.
 */
#include "exporter/dq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "exporter/dq_seg.h"

#define DQ_DEFAULT_SEGMENT (8u * 1024 * 1024)

struct dq_seg {
	struct dq_seg *prev, *next; /* by number, oldest first */
	uint64_t num;
	uint64_t size;	   /* bytes in the file */
	uint32_t nentries; /* the next entry's number (current segment) */
	uint32_t live;	   /* entries not acknowledged */
	bool sealed;	   /* no more appends: full, replayed, or a write failed */
};

struct dq_ent {
	struct dq_ent *prev, *next;   /* queue order, oldest first */
	struct dq_ent *fprev, *fnext; /* in-flight list */
	struct dq_seg *seg;	      /* disk: where it lives */
	struct payload *mem;	      /* memory: the payload itself */
	uint64_t seq;
	uint64_t off; /* disk: of its header in seg */
	uint64_t created_ns, first_try_ns;
	uint64_t len; /* body bytes */
	uint32_t nspans, index, attempts;
	unsigned flags;
	bool inflight;
};

struct dq {
	bool disk;
	bool fsync;
	uint64_t max_bytes; /* UINT64_MAX = no bound */
	uint32_t max_batches;
	uint64_t segment_bytes;

	struct dq_ent *head, *tail; /* every entry not acknowledged */
	struct dq_ent *flight;	    /* the in-flight ones */
	size_t n, nflight;
	uint64_t bytes, flight_bytes;
	uint64_t next_seq;
	uint64_t lost, lost_spans; /* entries dq_take could not read back, and their spans */

	/* disk */
	char *dir;
	int dirfd, lockfd;
	struct dq_seg *shead, *stail; /* stail is the current segment unless sealed */
	uint64_t next_num;	      /* the next new segment's number */
	int wfd;		      /* current segment, for appends */
	int rfd;		      /* rseg, for reading bodies back */
	struct dq_seg *rseg;
	int afd; /* aseg's .ack, for appending acknowledgements */
	struct dq_seg *aseg;
};

static int dq_disk_open(struct dq *q, const char *dir, struct dq_replay *r, struct err *err);
static void dq_disk_close(struct dq *q);
static void dq_disk_forget(struct dq *q, struct dq_seg *seg, uint32_t index, bool record);
static int dq_disk_append(struct dq *q, struct dq_ent *e, const struct payload *p, struct err *err);
static int dq_disk_load(struct dq *q, struct dq_ent *e, struct payload **out);
static struct dq_seg *dq_disk_current(struct dq *q, struct err *err);
static void dq_disk_seal(struct dq *q, struct dq_seg *seg);
static int dq_disk_reader(struct dq *q, struct dq_seg *seg);

static uint64_t ent_bytes(const struct dq *q, uint64_t body)
{
	return q->disk ? DQ_ENTRY_HDR + body : body;
}

static void list_append(struct dq *q, struct dq_ent *e)
{
	e->prev = q->tail;
	e->next = NULL;
	if (q->tail != NULL)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	q->bytes += ent_bytes(q, e->len);
}

static void flight_add(struct dq *q, struct dq_ent *e)
{
	e->inflight = true;
	e->fprev = NULL;
	e->fnext = q->flight;
	if (q->flight != NULL)
		q->flight->fprev = e;
	q->flight = e;
	q->nflight++;
	q->flight_bytes += ent_bytes(q, e->len);
}

static void flight_del(struct dq *q, struct dq_ent *e)
{
	if (e->fprev != NULL)
		e->fprev->fnext = e->fnext;
	else
		q->flight = e->fnext;
	if (e->fnext != NULL)
		e->fnext->fprev = e->fprev;
	e->inflight = false;
	q->nflight--;
	q->flight_bytes -= ent_bytes(q, e->len);
}

static struct dq_ent *flight_find(const struct dq *q, uint64_t seq)
{
	for (struct dq_ent *e = q->flight; e != NULL; e = e->fnext)
		if (e->seq == seq)
			return e;
	return NULL;
}

/*
 * Unlinks e for good and frees it (not its payload). record: write the
 * acknowledgement to disk (false only when the entry can never be replayed
 * anyway).
 */
static void ent_remove(struct dq *q, struct dq_ent *e, bool record)
{
	if (e->inflight)
		flight_del(q, e);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		q->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		q->tail = e->prev;
	q->n--;
	q->bytes -= ent_bytes(q, e->len);
	if (e->seg != NULL)
		dq_disk_forget(q, e->seg, e->index, record);
	free(e);
}

/* The oldest entry not in flight, NULL when none. */
static struct dq_ent *oldest_idle(const struct dq *q)
{
	for (struct dq_ent *e = q->head; e != NULL; e = e->next)
		if (!e->inflight)
			return e;
	return NULL;
}

static void drop_ent(struct dq *q, struct dq_ent *e, struct dq_dropped *d)
{
	d->batches++;
	d->spans += e->nspans;
	payload_free(e->mem);
	ent_remove(q, e, true);
}

struct dq *dq_open(const struct dq_opts *o, struct dq_replay *replay, struct err *err)
{
	struct dq_replay scratch;
	if (replay == NULL)
		replay = &scratch;
	memset(replay, 0, sizeof(*replay));
	struct dq *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		err_set(err, ENOMEM, "queue: out of memory");
		return NULL;
	}
	q->wfd = q->rfd = q->afd = q->dirfd = q->lockfd = -1;
	q->next_seq = 1;
	q->max_bytes = o->max_bytes > 0 ? o->max_bytes : UINT64_MAX;
	q->segment_bytes = o->segment_bytes > 0 ? o->segment_bytes : DQ_DEFAULT_SEGMENT;
	q->fsync = o->fsync;
	if (o->dir == NULL || o->dir[0] == '\0') {
		q->max_batches = o->max_batches;
		return q;
	}
	q->disk = true;
	if (dq_disk_open(q, o->dir, replay, err) != 0) {
		dq_close(q);
		return NULL;
	}
	return q;
}

void dq_close(struct dq *q)
{
	if (q == NULL)
		return;
	struct dq_ent *e = q->head;
	while (e != NULL) {
		struct dq_ent *next = e->next;
		/* In flight, the payload is the caller's (dq.h). */
		if (!e->inflight)
			payload_free(e->mem);
		free(e);
		e = next;
	}
	q->head = q->tail = NULL;
	if (q->disk)
		dq_disk_close(q);
	free(q);
}

/* Whether p fits once every entry not in flight is gone. */
static bool fits(const struct dq *q, uint64_t need)
{
	if (need > q->max_bytes || q->flight_bytes > q->max_bytes - need)
		return false;
	return q->max_batches == 0 || q->nflight < q->max_batches;
}

static bool over(const struct dq *q)
{
	return q->bytes > q->max_bytes || (q->max_batches > 0 && q->n > q->max_batches);
}

int dq_push(struct dq *q, struct payload *p, struct dq_dropped *dropped, struct err *err)
{
	struct dq_dropped scratch;
	if (dropped == NULL)
		dropped = &scratch;
	memset(dropped, 0, sizeof(*dropped));
	if (!fits(q, ent_bytes(q, p->len)) || (q->disk && p->len > DQ_MAX_BODY)) {
		dropped->batches = 1;
		dropped->spans = p->nspans;
		payload_free(p);
		return 0;
	}
	struct dq_ent *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		dropped->batches = 1;
		dropped->spans = p->nspans;
		payload_free(p);
		return err_set(err, ENOMEM, "queue: out of memory");
	}
	e->seq = p->seq = q->next_seq++;
	e->len = p->len;
	e->nspans = p->nspans;
	e->flags = p->flags;
	e->created_ns = p->created_ns;
	e->attempts = p->attempts;
	e->first_try_ns = p->first_try_ns;
	if (q->disk) {
		if (dq_disk_append(q, e, p, err) != 0) {
			dropped->batches = 1;
			dropped->spans = p->nspans;
			payload_free(p);
			free(e);
			return -1;
		}
		payload_free(p);
	} else {
		e->mem = p;
	}
	list_append(q, e);
	/* fits() promised that dropping older idle entries makes room: e itself is never reached. */
	while (over(q)) {
		struct dq_ent *old = oldest_idle(q);
		if (old == NULL || old == e)
			break;
		drop_ent(q, old, dropped);
	}
	return 0;
}

struct payload *dq_take(struct dq *q)
{
	struct dq_ent *e;
	struct payload *p = NULL;
	while ((e = oldest_idle(q)) != NULL) {
		if (!q->disk) {
			p = e->mem;
			break;
		}
		int rc = dq_disk_load(q, e, &p);
		if (rc == 0)
			break;
		if (rc == -2) /* ENOMEM: leave it queued, the caller tries again later */
			return NULL;
		/* Unreadable for good: acknowledged so it is not replayed either. */
		q->lost++;
		q->lost_spans += e->nspans;
		ent_remove(q, e, true);
	}
	if (e == NULL)
		return NULL;
	flight_add(q, e);
	p->seq = e->seq;
	p->nspans = e->nspans;
	p->flags = e->flags;
	p->created_ns = e->created_ns;
	p->attempts = e->attempts;
	p->first_try_ns = e->first_try_ns;
	return p;
}

void dq_ack(struct dq *q, struct payload *p)
{
	if (p == NULL)
		return;
	struct dq_ent *e = flight_find(q, p->seq);
	if (e == NULL)
		log_msg(LOG_LVL_ERROR, "queue_ack_unknown", "seq=%" PRIu64, p->seq);
	else
		ent_remove(q, e, true);
	payload_free(p);
}

void dq_release(struct dq *q, struct payload *p)
{
	if (p == NULL)
		return;
	struct dq_ent *e = flight_find(q, p->seq);
	if (e == NULL) {
		/* Not ours (a bug in the caller): freeing it is the only safe thing left. */
		log_msg(LOG_LVL_ERROR, "queue_release_unknown", "seq=%" PRIu64, p->seq);
		payload_free(p);
		return;
	}
	flight_del(q, e);
	e->attempts = p->attempts;
	e->first_try_ns = p->first_try_ns;
	if (q->disk)
		payload_free(p);
}

size_t dq_len(const struct dq *q)
{
	return q->n;
}

uint64_t dq_bytes(const struct dq *q)
{
	return q->bytes;
}

double dq_fill(const struct dq *q)
{
	double f = q->max_bytes == UINT64_MAX ? 0.0 : (double)q->bytes / (double)q->max_bytes;
	if (q->max_batches > 0 && (double)q->n / q->max_batches > f)
		f = (double)q->n / q->max_batches;
	return f > 1.0 ? 1.0 : f;
}

uint64_t dq_lost(const struct dq *q)
{
	return q->lost;
}

uint64_t dq_lost_spans(const struct dq *q)
{
	return q->lost_spans;
}

bool dq_durable(const struct dq *q)
{
	return q->disk;
}

/* ---- the disk backing: entries in segment files ---------------------- */

/* The monotonic time of a wall-clock instant (replayed entries carry unix ms). */
static uint64_t mono_from_wall_ms(uint64_t wall_ms)
{
	uint64_t now_mono = clock_mono_ns(), now_wall = clock_wall_ns();
	uint64_t at = wall_ms * 1000000u;
	uint64_t age = now_wall > at ? now_wall - at : 0;
	return now_mono > age ? now_mono - age : 1;
}

static uint64_t wall_ms_from_mono(uint64_t mono_ns)
{
	uint64_t now_mono = clock_mono_ns(), now_wall = clock_wall_ns();
	uint64_t age = mono_ns > 0 && mono_ns < now_mono ? now_mono - mono_ns : 0;
	return (now_wall - age) / 1000000u;
}

static int dq_disk_replay_entry(struct dq *q, struct dq_seg *seg, const struct dq_entry_info *i, struct dq_replay *r)
{
	struct dq_ent *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->seg = seg;
	e->off = i->off;
	e->len = i->len;
	e->index = i->index;
	e->nspans = i->nspans;
	e->flags = i->flags;
	e->created_ns = mono_from_wall_ms(i->created_ms);
	e->seq = q->next_seq++;
	list_append(q, e);
	seg->live++;
	r->batches++;
	r->spans += i->nspans;
	r->bytes += DQ_ENTRY_HDR + (uint64_t)i->len;
	return 0;
}

/* Writes e (body from p) at the end of the current segment, opening a new one when needed. */
static int dq_disk_append(struct dq *q, struct dq_ent *e, const struct payload *p, struct err *err)
{
	struct dq_seg *seg = dq_disk_current(q, err);
	if (seg == NULL)
		return -1;
	uint8_t hdr[DQ_ENTRY_HDR];
	dq_entry_header(hdr, seg->nentries, p->data, (uint32_t)p->len, p->nspans, p->flags,
			wall_ms_from_mono(p->created_ns));
	if (dq_io_write_all(q->wfd, hdr, sizeof(hdr)) != 0 || dq_io_write_all(q->wfd, p->data, p->len) != 0 ||
	    (q->fsync && fdatasync(q->wfd) != 0)) {
		int saved = errno;
		char name[DQ_NAME_MAX];
		dq_name(name, seg->num, false);
		/* A partial entry would sit before the next one: cut it, and never append here again. */
		if (ftruncate(q->wfd, (off_t)seg->size) != 0)
			log_msg(LOG_LVL_WARN, "queue_truncate_failed", "file=%s errno=%d", name, errno);
		dq_disk_seal(q, seg);
		return err_set(err, saved, "queue: writing %s/%s: %s", q->dir, name, strerror(saved));
	}
	e->seg = seg;
	e->off = seg->size;
	e->index = seg->nentries++;
	seg->size += DQ_ENTRY_HDR + (uint64_t)p->len;
	seg->live++;
	if (seg->size >= q->segment_bytes)
		dq_disk_seal(q, seg);
	return 0;
}

/* Reads e's body back: 0 with *out, -1 when unreadable (drop it), -2 on ENOMEM (keep it). */
static int dq_disk_load(struct dq *q, struct dq_ent *e, struct payload **out)
{
	uint8_t hdr[DQ_ENTRY_HDR];
	struct dq_entry_info i;
	const char *why = NULL;
	struct payload *p = NULL;
	int fd = dq_disk_reader(q, e->seg);
	if (fd < 0 || dq_io_pread_all(fd, hdr, sizeof(hdr), e->off) != 0)
		why = strerror(errno);
	else if (dq_entry_parse(hdr, &i) != 0 || i.index != e->index || i.len != e->len)
		why = "header changed on disk";
	if (why == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL || (p->data = malloc(e->len > 0 ? e->len : 1)) == NULL) {
			free(p);
			return -2;
		}
		p->len = e->len;
		if (dq_io_pread_all(fd, p->data, e->len, e->off + DQ_ENTRY_HDR) != 0)
			why = strerror(errno);
		else if (dq_crc32c(0, p->data, e->len) != i.crc)
			why = "body CRC mismatch";
	}
	if (why == NULL) {
		*out = p;
		return 0;
	}
	payload_free(p);
	char name[DQ_NAME_MAX];
	dq_name(name, e->seg->num, false);
	log_msg(LOG_LVL_WARN, "queue_entry_lost", "file=%s offset=%" PRIu64 " spans=%u reason=\"%s\"", name, e->off,
		e->nspans, why);
	return -1;
}

/* ---- segments: creation, acknowledgement, deletion -------------------- */

static struct dq_seg *seg_new(struct dq *q, uint64_t num)
{
	struct dq_seg *seg = calloc(1, sizeof(*seg));
	if (seg == NULL)
		return NULL;
	seg->num = num;
	seg->prev = q->stail;
	if (q->stail != NULL)
		q->stail->next = seg;
	else
		q->shead = seg;
	q->stail = seg;
	return seg;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Removes both files; the .seg first, so a crash in between leaves an orphan .ack (removed at open), never a replay. */
static void unlink_pair(struct dq *q, uint64_t num)
{
	char name[DQ_NAME_MAX];
	for (int ack = 0; ack <= 1; ack++) {
		dq_name(name, num, ack);
		if (unlinkat(q->dirfd, name, 0) != 0 && errno != ENOENT)
			log_msg(LOG_LVL_WARN, "queue_unlink_failed", "file=%s errno=%d", name, errno);
	}
}

/* Forgets seg (closing what refers to it) and, with files, deletes it from disk. */
static void seg_remove(struct dq *q, struct dq_seg *seg, bool files)
{
	if (q->rseg == seg) {
		close_fd(&q->rfd);
		q->rseg = NULL;
	}
	if (q->aseg == seg) {
		close_fd(&q->afd);
		q->aseg = NULL;
	}
	if (seg == q->stail && !seg->sealed)
		close_fd(&q->wfd);
	if (files)
		unlink_pair(q, seg->num);
	if (seg->prev != NULL)
		seg->prev->next = seg->next;
	else
		q->shead = seg->next;
	if (seg->next != NULL)
		seg->next->prev = seg->prev;
	else
		q->stail = seg->prev;
	free(seg);
}

static void seg_delete(struct dq *q, struct dq_seg *seg)
{
	seg_remove(q, seg, true);
}

static void dq_disk_seal(struct dq *q, struct dq_seg *seg)
{
	if (!seg->sealed && seg == q->stail)
		close_fd(&q->wfd);
	seg->sealed = true;
	if (seg->live == 0)
		seg_delete(q, seg);
}

static void ack_write(struct dq *q, struct dq_seg *seg, uint32_t index)
{
	char name[DQ_NAME_MAX];
	dq_name(name, seg->num, true);
	if (q->aseg != seg) {
		close_fd(&q->afd);
		q->aseg = NULL;
		q->afd = openat(q->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (q->afd >= 0)
			q->aseg = seg;
	}
	uint8_t rec[DQ_ACK_REC];
	dq_ack_encode(rec, index);
	/* Losing an acknowledgement costs a duplicate delivery after a restart, not a span. */
	if (q->afd < 0 || dq_io_write_all(q->afd, rec, sizeof(rec)) != 0)
		log_msg(LOG_LVL_WARN, "queue_ack_failed", "file=%s entry=%u errno=%d", name, index, errno);
}

static void dq_disk_forget(struct dq *q, struct dq_seg *seg, uint32_t index, bool record)
{
	if (record)
		ack_write(q, seg, index);
	seg->live--;
	if (seg->live == 0 && seg->sealed)
		seg_delete(q, seg);
}

static int dq_disk_reader(struct dq *q, struct dq_seg *seg)
{
	if (q->rseg == seg)
		return q->rfd;
	close_fd(&q->rfd);
	q->rseg = NULL;
	char name[DQ_NAME_MAX];
	dq_name(name, seg->num, false);
	q->rfd = openat(q->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (q->rfd >= 0)
		q->rseg = seg;
	return q->rfd;
}

/* The segment to append to: the current one, or a new one past every number seen in the dir. */
static struct dq_seg *dq_disk_current(struct dq *q, struct err *err)
{
	if (q->stail != NULL && !q->stail->sealed)
		return q->stail;
	char name[DQ_NAME_MAX];
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		dq_name(name, q->next_num++, false);
		fd = openat(q->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err_set(err, errno, "queue: creating %s/%s: %s", q->dir, name, strerror(errno));
		return NULL;
	}
	struct dq_seg *seg = seg_new(q, q->next_num - 1);
	if (seg == NULL) {
		close(fd);
		unlinkat(q->dirfd, name, 0);
		err_set(err, ENOMEM, "queue: out of memory");
		return NULL;
	}
	q->wfd = fd;
	/* With fsync on, the new name must survive power loss too, not just the bytes. */
	if (q->fsync && fsync(q->dirfd) != 0) {
		char qd[256];
		log_msg(LOG_LVL_WARN, "queue_fsync_failed", "dir=%s errno=%d", log_quote(q->dir, qd, sizeof(qd)),
			errno);
	}
	return seg;
}

/* ---- opening: the directory, its lock, and the replay ----------------- */

struct replay_ctx {
	struct dq *q;
	struct dq_seg *seg;
	const uint32_t *acks;
	size_t nacks;
	struct dq_replay *r;
};

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int replay_cb(void *arg, const struct dq_entry_info *i)
{
	struct replay_ctx *c = arg;
	if (c->nacks > 0 && bsearch(&i->index, c->acks, c->nacks, sizeof(*c->acks), u32_cmp) != NULL)
		return 0;
	return dq_disk_replay_entry(c->q, c->seg, i, c->r);
}

static void log_skipped(const char *name, const char *why)
{
	char qn[96];
	log_msg(LOG_LVL_WARN, "queue_file_skipped", "file=%s reason=\"%s\"", log_quote(name, qn, sizeof(qn)), why);
}

/* Indexes the entries of one segment file (fd, size bytes) not acknowledged; 1: unreadable, -1: ENOMEM. */
static int replay_file(struct dq *q, struct dq_seg *seg, int fd, size_t size, struct dq_replay *r)
{
	char name[DQ_NAME_MAX];
	dq_name(name, seg->num, false);
	uint32_t *acks;
	size_t nacks;
	if (dq_acks_load(q->dirfd, seg->num, size, &acks, &nacks) != 0)
		return -1;
	void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		free(acks);
		log_skipped(name, strerror(errno));
		return 1;
	}
	struct dq_replay found = {0};
	struct replay_ctx c = {.q = q, .seg = seg, .acks = acks, .nacks = nacks, .r = &found};
	uint64_t keep;
	int rc = dq_segment_scan(map, size, replay_cb, &c, &found, &keep);
	munmap(map, size);
	free(acks);
	if (rc != 0)
		return -1;
	seg->size = keep;
	if (keep < size && ftruncate(fd, (off_t)keep) != 0)
		log_msg(LOG_LVL_WARN, "queue_truncate_failed", "file=%s errno=%d", name, errno);
	if (found.torn_tails > 0 || found.corrupt_entries > 0)
		log_msg(LOG_LVL_WARN, "queue_segment_damaged",
			"file=%s torn_tail=%s corrupt_entries=%" PRIu64 " lost_spans=%" PRIu64 " cut_bytes=%" PRIu64,
			name, found.torn_tails > 0 ? "true" : "false", found.corrupt_entries, found.lost_spans,
			(uint64_t)size - keep);
	r->batches += found.batches;
	r->spans += found.spans;
	r->bytes += found.bytes;
	r->corrupt_entries += found.corrupt_entries;
	r->torn_tails += found.torn_tails;
	r->lost_spans += found.lost_spans;
	return 0;
}

/* Replays segment num, sealed: a restart never appends to an old segment. -1 only on ENOMEM. */
static int replay_segment(struct dq *q, uint64_t num, struct dq_replay *r)
{
	char name[DQ_NAME_MAX];
	dq_name(name, num, false);
	int fd = openat(q->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_skipped(name, fd < 0 ? strerror(errno) : "not a regular file");
		r->segments_skipped++;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	struct dq_seg *seg = seg_new(q, num);
	if (seg == NULL) {
		close(fd);
		return -1;
	}
	seg->sealed = true;
	int rc = st.st_size > 0 ? replay_file(q, seg, fd, (size_t)st.st_size, r) : 0;
	close(fd);
	if (rc == 1) {
		/* Unreadable, not empty: left on disk for an operator, out of the index. */
		r->segments_skipped++;
		seg_remove(q, seg, false);
		return 0;
	}
	if (rc == 0 && seg->live == 0)
		seg_delete(q, seg);
	return rc;
}

static int dq_disk_open(struct dq *q, const char *dir, struct dq_replay *r, struct err *err)
{
	q->dir = strdup(dir);
	if (q->dir == NULL)
		return err_set(err, ENOMEM, "queue: out of memory");
	if (dq_dir_lock(dir, &q->dirfd, &q->lockfd, err) != 0)
		return -1;
	struct dq_names segs = {0}, acks = {0};
	int rc = dq_dir_list(q->dirfd, q->dir, &segs, &acks, &r->segments_skipped, err);
	for (size_t i = 0; rc == 0 && i < segs.n; i++) {
		rc = replay_segment(q, segs.v[i], r);
		if (rc != 0)
			err_set(err, ENOMEM, "queue: out of memory replaying %s", q->dir);
		/* Numbers only grow, even past files that were skipped or deleted. */
		if (segs.v[i] >= q->next_num)
			q->next_num = segs.v[i] + 1;
	}
	for (size_t i = 0; rc == 0 && i < acks.n; i++) {
		if (acks.v[i] >= q->next_num)
			q->next_num = acks.v[i] + 1;
		if (segs.n == 0 || bsearch(&acks.v[i], segs.v, segs.n, sizeof(*segs.v), dq_u64_cmp) == NULL) {
			char name[DQ_NAME_MAX];
			dq_name(name, acks.v[i], true);
			unlinkat(q->dirfd, name, 0); /* orphan: its segment was deleted first */
		}
	}
	free(segs.v);
	free(acks.v);
	return rc;
}

static void dq_disk_close(struct dq *q)
{
	/* A current segment nothing is waiting in is not worth a replay. */
	for (struct dq_seg *seg = q->shead, *next; seg != NULL; seg = next) {
		next = seg->next;
		seg_remove(q, seg, seg->live == 0);
	}
	close_fd(&q->wfd);
	close_fd(&q->rfd);
	close_fd(&q->afd);
	close_fd(&q->dirfd);
	close_fd(&q->lockfd); /* releases the flock */
	free(q->dir);
}
