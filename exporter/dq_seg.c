/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable queue's on-disk format: entry headers and their CRC32C, the
 * segment scan that replay and the fuzz target share, .ack records, file
 * names, and the I/O loops. Everything here is a pure function of its
 * arguments or one file descriptor; the queue's state lives in dq.c.
 *
 * Entry header, 40 bytes, little-endian:
 *
 *    0  magic "LGDQ"          20  reserved (0)
 *    4  u16 version (1)       24  u64 created, unix ms
 *    6  u16 flags (PAYLOAD_F) 32  u32 CRC32C of the body
 *    8  u32 body length       36  u32 CRC32C of bytes 0..35
 *   12  u32 nspans
 *   16  u32 entry number in the segment (0, 1, ...)
 *
 * The header CRC makes the length trustworthy on its own, so a corrupt
 * body costs one entry, and the entry number lets the scan, after a
 * corrupt header, find the next intact one by its magic and say how many
 * entries were lost in between.
 */
#include "exporter/dq_seg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>

#include "common/log.h"

#define DQ_VERSION 1
static const uint8_t dq_magic[4] = {'L', 'G', 'D', 'Q'};

/* CRC-32C, reflected polynomial 0x82F63B78, one byte per step. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu,
    0x78b2dbccu, 0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u,
    0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu,
    0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au, 0x7da08661u, 0x8fcb0562u, 0x9c9bf696u,
    0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u, 0x5125dad3u,
    0xa34e59d0u, 0xb01eaa24u, 0x42752927u, 0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u, 0x61c69362u, 0x93ad1061u, 0x80fde395u,
    0x72966096u, 0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u, 0xb602c312u,
    0x44694011u, 0x5739b3e5u, 0xa55230e6u, 0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u, 0xb7072f64u, 0xa457dc90u,
    0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu, 0x1871a4d8u,
    0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du, 0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu,
    0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u,
    0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu, 0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u,
    0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u, 0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au,
    0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu, 0xf36e6f75u, 0x0105ec76u, 0x12551f82u,
    0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t dq_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	crc = ~crc;
	while (n-- > 0)
		crc = crc32c_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void dq_entry_header(uint8_t hdr[DQ_ENTRY_HDR], uint32_t index, const void *body, uint32_t len, uint32_t nspans,
		     unsigned flags, uint64_t created_ms)
{
	memcpy(hdr, dq_magic, sizeof(dq_magic));
	put16(hdr + 4, DQ_VERSION);
	put16(hdr + 6, (uint16_t)flags);
	put32(hdr + 8, len);
	put32(hdr + 12, nspans);
	put32(hdr + 16, index);
	put32(hdr + 20, 0);
	put64(hdr + 24, created_ms);
	put32(hdr + 32, dq_crc32c(0, body, len));
	put32(hdr + 36, dq_crc32c(0, hdr, 36));
}

int dq_entry_parse(const uint8_t hdr[DQ_ENTRY_HDR], struct dq_entry_info *e)
{
	if (memcmp(hdr, dq_magic, sizeof(dq_magic)) != 0 || get32(hdr + 36) != dq_crc32c(0, hdr, 36) ||
	    get16(hdr + 4) != DQ_VERSION)
		return -1;
	e->off = 0;
	e->flags = get16(hdr + 6);
	e->len = get32(hdr + 8);
	e->nspans = get32(hdr + 12);
	e->index = get32(hdr + 16);
	e->created_ms = get64(hdr + 24);
	e->crc = get32(hdr + 32);
	/* The push side never writes more; a header saying so was not written by us. */
	return e->len <= DQ_MAX_BODY ? 0 : -1;
}

/* An intact header at off numbered expect or later. */
static int header_at(const uint8_t *buf, size_t len, size_t off, uint64_t expect, struct dq_entry_info *e)
{
	if (len - off < DQ_ENTRY_HDR || dq_entry_parse(buf + off, e) != 0 || e->index < expect)
		return -1;
	e->off = off;
	return 0;
}

/* The first intact header after off (numbered expect or later), or len when none. */
static size_t resync(const uint8_t *buf, size_t len, size_t off, uint64_t expect, struct dq_entry_info *e)
{
	size_t i = off + 1;
	while (i < len && len - i >= DQ_ENTRY_HDR) {
		const uint8_t *m = memchr(buf + i, dq_magic[0], len - i - DQ_ENTRY_HDR + 1);
		if (m == NULL)
			break;
		i = (size_t)(m - buf);
		if (header_at(buf, len, i, expect, e) == 0)
			return i;
		i++;
	}
	return len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * A torn write (kill -9 mid-append) leaves a prefix of the last entry;
 * power loss without fsync may leave the file longer than what reached
 * the disk, filled with zeros. Both are tails, cut and counted as torn.
 * Anything else that does not check out is corruption. When the scan
 * stops early the file is cut right after its last intact entry, so the
 * cut file scans clean: a second replay counts nothing again at the tail.
 */
int dq_segment_scan(const uint8_t *buf, size_t len, dq_entry_cb cb, void *ctx, struct dq_replay *r, uint64_t *keep)
{
	size_t off = 0, good = 0; /* good: end of the last intact entry */
	uint64_t expect = 0;
	*keep = len;
	while (off < len) {
		struct dq_entry_info e;
		if (len - off < DQ_ENTRY_HDR) {
			r->torn_tails++;
			*keep = good;
			break;
		}
		if (header_at(buf, len, off, expect, &e) != 0) {
			size_t next = resync(buf, len, off, expect, &e);
			if (next == len) {
				if (all_zero(buf + off, len - off))
					r->torn_tails++;
				else
					r->corrupt_entries++;
				*keep = good;
				break;
			}
			/* The entry numbers say how many entries the damage took with it. */
			r->corrupt_entries += e.index > expect ? e.index - expect : 1;
			off = next;
		}
		uint64_t end = (uint64_t)off + DQ_ENTRY_HDR + e.len;
		bool intact = end <= len && dq_crc32c(0, buf + off + DQ_ENTRY_HDR, e.len) == e.crc;
		if (end > len || (!intact && end == len)) {
			r->torn_tails++;
			r->lost_spans += e.nspans;
			*keep = good;
			break;
		}
		if (!intact) {
			r->corrupt_entries++;
			r->lost_spans += e.nspans;
		} else if (cb(ctx, &e) != 0) {
			return -1;
		} else {
			good = (size_t)end;
		}
		expect = (uint64_t)e.index + 1;
		off = (size_t)end;
	}
	return 0;
}

/* An index and its complement: a record half-overwritten or misaligned does not pass for another. */
void dq_ack_encode(uint8_t rec[DQ_ACK_REC], uint32_t index)
{
	put32(rec, index);
	put32(rec + 4, ~index);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

size_t dq_ack_decode(const uint8_t *buf, size_t len, uint32_t *out)
{
	size_t n = 0;
	for (size_t off = 0; len - off >= DQ_ACK_REC; off += DQ_ACK_REC) {
		uint32_t idx = get32(buf + off);
		if (get32(buf + off + 4) == ~idx)
			out[n++] = idx;
	}
	if (n == 0)
		return 0;
	qsort(out, n, sizeof(*out), u32_cmp);
	size_t w = 1;
	for (size_t i = 1; i < n; i++)
		if (out[i] != out[w - 1])
			out[w++] = out[i];
	return w;
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

enum dq_file_kind dq_name_parse(const char *name, uint64_t *num)
{
	size_t n = strlen(name);
	if (strcmp(name, "lock") == 0)
		return DQ_FILE_LOCK;
	if (n < 4 || (strcmp(name + n - 4, ".seg") != 0 && strcmp(name + n - 4, ".ack") != 0))
		return DQ_FILE_OTHER;
	if (n != 20 || !is_lower_hex(name, 16))
		return DQ_FILE_BAD;
	uint64_t v = 0;
	for (size_t i = 0; i < 16; i++)
		v = v << 4 | (uint64_t)(name[i] <= '9' ? name[i] - '0' : name[i] - 'a' + 10);
	*num = v;
	return name[17] == 's' ? DQ_FILE_SEG : DQ_FILE_ACK;
}

void dq_name(char out[DQ_NAME_MAX], uint64_t num, bool ack)
{
	snprintf(out, DQ_NAME_MAX, "%016" PRIx64 ".%s", num, ack ? "ack" : "seg");
}

int dq_io_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int dq_io_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO; /* the file is shorter than the index says */
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* mkdir -p with mode 0700: the queue holds span data, nobody else's business. */
static int mkdir_parents(const char *dir, struct err *err)
{
	char *path = strdup(dir);
	if (path == NULL)
		return err_set(err, ENOMEM, "queue: out of memory");
	int rc = 0;
	for (char *s = path + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = err_set(err, errno, "queue.dir %s: creating %s: %s", dir, path, strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(path);
	return rc;
}

/* Another exporter on the same directory would interleave appends and delete each other's segments. */
static int take_lock(const char *dir, int dirfd, int *lockfd, struct err *err)
{
	int fd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(err, errno, "queue.dir %s: opening lock: %s", dir, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
		close(fd);
		if (saved == EWOULDBLOCK)
			return err_set(err, EBUSY, "queue.dir %s: in use by another exporter (pid %s holds %s/lock)",
				       dir, pid[0] != '\0' ? pid : "?", dir);
		return err_set(err, saved, "queue.dir %s: lock: %s", dir, strerror(saved));
	}
	char line[32];
	int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
		/* Only the diagnostic is lost: the lock itself is held. */
	}
	*lockfd = fd;
	return 0;
}

int dq_dir_lock(const char *dir, int *dirfd, int *lockfd, struct err *err)
{
	if (mkdir_parents(dir, err) != 0)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "queue.dir %s: %s", dir, strerror(errno));
	if (faccessat(fd, ".", W_OK | X_OK, 0) != 0) {
		err_set(err, errno, "queue.dir %s: not writable: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	if (take_lock(dir, fd, lockfd, err) != 0) {
		close(fd);
		return -1;
	}
	*dirfd = fd;
	return 0;
}

int dq_acks_load(int dirfd, uint64_t num, uint64_t seg_size, uint32_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char name[DQ_NAME_MAX];
	dq_name(name, num, true);
	int fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < DQ_ACK_REC) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size % DQ_ACK_REC != 0 && ftruncate(fd, (off_t)(size - size % DQ_ACK_REC)) != 0) {
		/* Appends would land misaligned: better no acks (duplicates) than wrong ones. */
		close(fd);
		return 0;
	}
	uint64_t max = (seg_size / DQ_ENTRY_HDR + 1) * DQ_ACK_REC;
	size = size - size % DQ_ACK_REC;
	if (size > max)
		size = max;
	uint8_t *buf = malloc((size_t)size);
	uint32_t *idx = malloc((size_t)(size / DQ_ACK_REC) * sizeof(*idx));
	int rc = 0;
	if (buf == NULL || idx == NULL) {
		free(idx);
		rc = -1;
	} else if (dq_io_pread_all(fd, buf, (size_t)size, 0) != 0) {
		free(idx);
	} else {
		*n = dq_ack_decode(buf, (size_t)size, idx);
		*out = idx;
	}
	free(buf);
	close(fd);
	return rc;
}

static int names_add(struct dq_names *l, uint64_t v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

int dq_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int dq_dir_list(int dirfd, const char *dir, struct dq_names *segs, struct dq_names *acks, uint64_t *skipped,
		struct err *err)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		err_set(err, errno, "queue.dir %s: listing: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	char qn[96];
	while (rc == 0 && (de = readdir(d)) != NULL) {
		uint64_t num;
		switch (dq_name_parse(de->d_name, &num)) {
		case DQ_FILE_SEG:
			rc = names_add(segs, num);
			break;
		case DQ_FILE_ACK:
			rc = names_add(acks, num);
			break;
		case DQ_FILE_BAD:
			log_msg(LOG_LVL_WARN, "queue_file_skipped", "file=%s reason=\"not a queue file name\"",
				log_quote(de->d_name, qn, sizeof(qn)));
			(*skipped)++;
			break;
		case DQ_FILE_OTHER:
		case DQ_FILE_LOCK:
			break;
		}
	}
	closedir(d);
	if (rc != 0)
		err_set(err, ENOMEM, "queue: out of memory");
	else if (segs->n > 1)
		qsort(segs->v, segs->n, sizeof(*segs->v), dq_u64_cmp);
	return rc;
}
