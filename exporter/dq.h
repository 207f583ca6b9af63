/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The delivery queue: encoded batches (struct payload) waiting to be sent,
 * oldest first, bounded, with several in flight at once. Two backings
 * behind one interface:
 *
 *  - memory (queue.dir unset): bounded by export.max_pending batches and
 *    export.max_pending_bytes; lost on exit.
 *  - disk (queue.dir): every batch is appended to the current segment
 *    file (`<dir>/<16 hex digits>.seg`, sealed past queue.segment_bytes)
 *    as one entry [magic, length, CRC32C, nspans, flags, created unix ms,
 *    body] before dq_push returns, so a batch the exporter accepted
 *    survives kill -9 (and power loss with queue.fsync). Only the index
 *    (segment, offset, length, spans) is kept in memory; bodies are read
 *    back when taken. Acknowledged entries are recorded in the segment's
 *    `.ack` companion (entry numbers, appended); a sealed segment whose
 *    entries are all acknowledged is deleted with its companion. dq_open
 *    replays what is left: a torn tail (short or bad-CRC last entry) is
 *    cut and counted, a corrupt entry ends that segment's replay (the
 *    rest of it is counted as lost), an unreadable segment is skipped and
 *    counted — never a crash. Bounded by queue.max_bytes.
 *
 * Full: a push that would pass the bound first drops the oldest entries
 * not in flight (acknowledged as dropped) and reports them; if only
 * in-flight entries are left, the new batch itself is dropped.
 *
 * Delivery is at least once: an entry is acknowledged only after the
 * backend accepted it (or it was dropped for good), so a crash between
 * the two sends it again after the restart.
 *
 * Not thread-safe: one event loop owns it.
 */
#ifndef LLMGW_EXPORTER_DQ_H
#define LLMGW_EXPORTER_DQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "exporter/queue.h"

struct dq;

struct dq_opts {
	const char *dir;	/* NULL or "": in memory */
	uint64_t max_bytes;	/* disk: entries' bytes (headers included); memory: bodies' bytes */
	uint32_t max_batches;	/* memory only (0 = no count bound) */
	uint64_t segment_bytes; /* disk: seal a segment past this size */
	bool fsync;		/* disk: fsync the segment after each append */
};

/* What dq_open found on disk (all zero for memory). */
struct dq_replay {
	uint64_t batches, spans, bytes; /* entries replayed, waiting for delivery */
	uint64_t corrupt_entries;	/* bad magic/CRC/length in the middle of a segment */
	uint64_t torn_tails;		/* segments whose last entry was incomplete */
	uint64_t lost_spans;		/* spans in entries that could not be read back (best known count) */
	uint64_t segments_skipped;	/* unreadable or unparseable files */
};

/* What a push or the bound dropped. */
struct dq_dropped {
	uint64_t batches, spans;
};

/*
 * Opens the queue (creating dir, mode 0700, when missing) and replays what
 * a previous run left. NULL with err when the directory cannot be used
 * (not a directory, not writable, another process holds its lock file
 * `<dir>/lock` via flock).
 */
struct dq *dq_open(const struct dq_opts *o, struct dq_replay *replay, struct err *err);
/* Closes files and frees memory; entries not acknowledged stay on disk for the next run. */
void dq_close(struct dq *q);

/*
 * Appends p (the queue takes it: p's body is written out and freed for the
 * disk backing, kept for memory). Drops the oldest entries not in flight
 * when over the bound; *dropped says how many (may include p itself).
 * Returns 0, or -1 with err when the disk write failed (p is then freed
 * and counted in *dropped: the caller counts it as a drop, reason disk).
 */
int dq_push(struct dq *q, struct payload *p, struct dq_dropped *dropped, struct err *err);

/*
 * The oldest entry not in flight, now in flight; NULL when none. The
 * caller holds the returned payload (body loaded) until it calls dq_ack
 * or dq_release with it. For the disk backing a read failure drops the
 * entry (counted in the queue's lost count) and tries the next.
 */
struct payload *dq_take(struct dq *q);
/* Done with p for good (delivered, or dropped by the caller): removed. p is freed. */
void dq_ack(struct dq *q, struct payload *p);
/* p will be retried: back in the queue at its old place (before newer entries), no longer in flight. */
void dq_release(struct dq *q, struct payload *p);

/* Entries not acknowledged (in flight included), and their bytes. */
size_t dq_len(const struct dq *q);
uint64_t dq_bytes(const struct dq *q);
/* Share of the bound in use, 0..1 (for /readyz). */
double dq_fill(const struct dq *q);
/* Entries lost reading back (disk) since open. */
uint64_t dq_lost(const struct dq *q);
bool dq_durable(const struct dq *q);

#endif
