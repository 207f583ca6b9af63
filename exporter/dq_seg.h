/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable queue's file layer, shared by dq.c and dq_seg.c only: file
 * names in the queue directory, .ack records, and I/O loops that survive
 * EINTR and short transfers. The entry format itself (header, CRC32C,
 * segment scan) is declared in dq.h for the tests and the fuzz target.
 */
#ifndef LLMGW_EXPORTER_DQ_SEG_H
#define LLMGW_EXPORTER_DQ_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "exporter/dq.h"

#define DQ_NAME_MAX 24 /* 16 hex digits + ".seg" + NUL, rounded up */

enum dq_file_kind {
	DQ_FILE_OTHER = 0, /* not ours: left alone */
	DQ_FILE_SEG,	   /* <16 lowercase hex>.seg */
	DQ_FILE_ACK,	   /* <16 lowercase hex>.ack */
	DQ_FILE_BAD,	   /* ends in .seg or .ack but is not a name we write: skipped and counted */
	DQ_FILE_LOCK,	   /* "lock" */
};

/* Classifies a directory entry name; *num is set for SEG and ACK. */
enum dq_file_kind dq_name_parse(const char *name, uint64_t *num);
/* Writes the segment's file name (ack: its companion) into out. */
void dq_name(char out[DQ_NAME_MAX], uint64_t num, bool ack);

/* Encodes the .ack record for entry index. */
void dq_ack_encode(uint8_t rec[DQ_ACK_REC], uint32_t index);
/*
 * Decodes the records in buf (len bytes; a torn last record is ignored)
 * into out (room for len / DQ_ACK_REC), sorted and without
 * duplicates; records that fail their check are skipped. Returns the count.
 */
size_t dq_ack_decode(const uint8_t *buf, size_t len, uint32_t *out);

/*
 * Creates dir when missing (mode 0700, parents too), opens it (*dirfd)
 * and takes `<dir>/lock` with flock(LOCK_EX|LOCK_NB) (*lockfd, held until
 * closed; the file says which pid holds it). -1 with err naming the dir
 * and, when another process holds the lock, its pid.
 */
int dq_dir_lock(const char *dir, int *dirfd, int *lockfd, struct err *err);
/*
 * Reads segment num's .ack companion (dirfd): *out (caller frees; NULL
 * when none) gets the acknowledged entry numbers, sorted. A torn last
 * record is cut off the file so later appends stay aligned; at most one
 * record per possible entry of a seg_size-byte segment is read. -1 only
 * on ENOMEM (an unreadable file counts as no acknowledgements).
 */
int dq_acks_load(int dirfd, uint64_t num, uint64_t seg_size, uint32_t **out, size_t *n);

/* A growable list of segment numbers. */
struct dq_names {
	uint64_t *v;
	size_t n, cap;
};

/* Ascending order, for qsort and bsearch over uint64_t. */
int dq_u64_cmp(const void *a, const void *b);
/*
 * Lists dirfd: segment numbers (sorted) into segs, .ack numbers into acks
 * (caller frees both .v); names ending in .seg/.ack that we never write
 * are logged and counted in *skipped; everything else is left alone.
 * -1 with err (naming dir) when it cannot be read or on ENOMEM.
 */
int dq_dir_list(int dirfd, const char *dir, struct dq_names *segs, struct dq_names *acks, uint64_t *skipped,
		struct err *err);

/* write(2) until all n bytes are out; -1 with errno on failure. */
int dq_io_write_all(int fd, const void *buf, size_t n);
/* pread(2) until all n bytes are in; -1 with errno (EIO for a short file). */
int dq_io_pread_all(int fd, void *buf, size_t n, uint64_t off);

#endif
