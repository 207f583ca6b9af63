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
 *    as one entry (a 40-byte little-endian header: magic, version, flags,
 *    length, nspans, entry number in the segment, created unix ms, body
 *    CRC32C, header CRC32C; then the body) before dq_push returns, so a
 *    batch the exporter accepted survives kill -9 (and power loss with
 *    queue.fsync). Only the index (segment, offset, length, spans) is kept
 *    in memory; bodies are read back (and their CRC checked again) when
 *    taken. Acknowledged entries are recorded in the segment's `.ack`
 *    companion (8-byte records: entry number and its complement,
 *    appended); a sealed segment with no entry left to deliver is deleted
 *    with its companion. A restart never appends to an old segment: the
 *    next push opens a new one, numbered past every name in the dir.
 *
 *    dq_open replays what is left, oldest segment first. A torn tail
 *    (short last entry, or a bad body CRC on the last entry, or trailing
 *    zeros) is cut off the file and counted. Because the header has its
 *    own CRC, a corrupt body in the middle loses only that entry; a
 *    corrupt header loses the entries up to the next intact header (found
 *    by scanning for the magic) or, without one, the rest of the segment.
 *    A file named like a segment is ours (once nothing in it is left to
 *    deliver it is deleted, garbage included); a name ending in .seg or
 *    .ack that we never write, or a segment that cannot be opened or
 *    read, is skipped, counted and left alone, and any other file is
 *    ignored. An .ack without its segment is deleted. Never a crash. The
 *    bound is queue.max_bytes of entries not acknowledged; a segment stays
 *    on disk until its last entry is acknowledged, so disk use can pass
 *    the bound by about one segment per batch in flight.
 *
 * Full: a push that would pass the bound drops the oldest entries not in
 * flight (acknowledged as dropped) and reports them; if the new batch
 * would not fit even then (in-flight entries alone leave no room, or it is
 * bigger than the bound), the new batch itself is dropped and nothing
 * else. A replay bigger than the bound (queue.max_bytes lowered) is
 * trimmed the same way by the next push.
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
	uint64_t max_bytes;	/* disk: entries' bytes (headers included); memory: bodies' bytes; 0 = no bound */
	uint32_t max_batches;	/* memory only (0 = no count bound) */
	uint64_t segment_bytes; /* disk: seal a segment past this size (0 = 8 MiB) */
	bool fsync;		/* disk: fsync the segment after each append */
};

/*
 * What dq_open found on disk (all zero for memory). corrupt_entries counts
 * entries lost to a bad header or body CRC before the tail (a damaged
 * region with no intact header after it counts as one); lost_spans is the
 * best known count (spans behind a corrupt header are unknown).
 */
struct dq_replay {
	uint64_t batches, spans, bytes; /* entries replayed, waiting for delivery */
	uint64_t corrupt_entries;
	uint64_t torn_tails;	   /* segments whose tail was cut */
	uint64_t lost_spans;	   /* spans in entries that could not be read back */
	uint64_t segments_skipped; /* queue-like files that could not be used (bad name, not openable) */
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
/*
 * Closes files and frees memory; entries not acknowledged stay on disk for
 * the next run. Payloads still in flight should be acked or released
 * first; any left are the caller's (payload_free), the queue frees none of
 * them.
 */
void dq_close(struct dq *q);

/*
 * Appends p (the queue takes it: p's body is written out and freed for the
 * disk backing, kept for memory) and sets p->seq. Drops the oldest entries
 * not in flight when over the bound; *dropped (may be NULL) says how many
 * (may include p itself, which is then freed). Returns 0, or -1 with err
 * when the disk write failed (p is then freed and counted in *dropped: the
 * caller counts it as a drop, reason disk; nothing else was dropped).
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
/*
 * p will be retried: back in the queue at its old place (before newer
 * entries), no longer in flight. Its attempts and first_try_ns are kept
 * for the next dq_take (the disk backing frees the body meanwhile).
 */
void dq_release(struct dq *q, struct payload *p);

/* Entries not acknowledged (in flight included), and their bytes. */
size_t dq_len(const struct dq *q);
uint64_t dq_bytes(const struct dq *q);
/* Share of the bound in use, 0..1 (for /readyz). */
double dq_fill(const struct dq *q);
/* Entries lost reading back (disk) since open. */
uint64_t dq_lost(const struct dq *q);
/*
 * Spans in those entries (each entry's span count is in the in-memory
 * index, so it is known even when the entry is not). Replay losses at
 * open are in struct dq_replay, not here. Always 0 for memory.
 */
uint64_t dq_lost_spans(const struct dq *q);
bool dq_durable(const struct dq *q);

/* ---- for tests and fuzzing: the on-disk format (dq_seg.c) ---- */

#define DQ_ENTRY_HDR 40			 /* bytes of an entry header */
#define DQ_ACK_REC 8			 /* bytes of an .ack record */
#define DQ_MAX_BODY (256u * 1024 * 1024) /* a bigger body is refused (dropped) by the disk backing */

/* One entry found in a segment. */
struct dq_entry_info {
	uint64_t off;	/* of its header in the segment */
	uint32_t len;	/* body bytes (after the header) */
	uint32_t index; /* entry number in its segment, from 0 */
	uint32_t nspans;
	unsigned flags;	     /* PAYLOAD_F_* */
	uint64_t created_ms; /* unix ms */
	uint32_t crc;	     /* body CRC32C */
};

/* Called per intact entry in file order; non-zero stops the scan (dq_segment_scan returns -1). */
typedef int (*dq_entry_cb)(void *ctx, const struct dq_entry_info *e);

/*
 * Parses a whole segment (buf, len): calls cb for each intact entry,
 * counts torn tails, corrupt entries and lost spans into r (adds; batches,
 * spans and bytes are the callback's to count), and sets *keep to the
 * length the file should be cut to: len when the tail is sound, else the
 * end of the last intact entry (so the cut file scans again without a
 * torn tail).
 * Returns 0, or -1 when cb asked to stop. Never reads outside buf.
 */
int dq_segment_scan(const uint8_t *buf, size_t len, dq_entry_cb cb, void *ctx, struct dq_replay *r, uint64_t *keep);
/* Builds the header of an entry holding body (len bytes). */
void dq_entry_header(uint8_t hdr[DQ_ENTRY_HDR], uint32_t index, const void *body, uint32_t len, uint32_t nspans,
		     unsigned flags, uint64_t created_ms);
/* 0 and *e (off left 0) when hdr is an intact header of a known version; else -1. */
int dq_entry_parse(const uint8_t hdr[DQ_ENTRY_HDR], struct dq_entry_info *e);
/* CRC-32C (Castagnoli, reflected, as in iSCSI/ext4): crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t dq_crc32c(uint32_t crc, const void *p, size_t n);

#endif
