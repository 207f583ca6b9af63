/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span record helpers: safe building on the gateway side, validation of
 * untrusted bytes on the exporter side.
 *
 * Both sides are driven by one table of the record's string fields (offset,
 * size, name) in declaration order. A field's position in the table is its
 * bit in trunc_mask, spanrec_set_str() uses the table to find which bit to
 * set, and spanrec_validate() walks it to prove every string has its NUL
 * before anyone calls strlen() on it. The meta key/value slots are in the
 * table too, after the top-level fields, so they get truncation bits and the
 * same NUL check for free (23 entries, well within 32 bits).
 *
 * Validation reads the 8-byte header with memcpy (the socket buffer may be
 * unaligned), checks magic, then the version against a small per-version
 * table giving the record size of that version and a function that converts
 * it to the current layout. Today that table has one row (v1, a plain copy);
 * when v2 arrives, v1's row gets an upgrade function and v2 becomes the copy,
 * and everything after the upgrade — NUL checks, enum ranges, flags, ids —
 * runs once on the current layout.
 */
#include "common/spanrec.h"

#include <string.h>

#include "common/ids.h"

struct spanrec_str_field {
	const char *name;
	uint16_t off;
	uint16_t size;
};

/* Each expands to one table row's initialiser: name, offset, size. */
#define FIELD_SIZE(f) sizeof(((struct spanrec *)0)->f)
#define STR_FIELD(f) #f, offsetof(struct spanrec, f), FIELD_SIZE(f)
#define META_KEY(i) "meta[" #i "].key", offsetof(struct spanrec, meta[i].key), FIELD_SIZE(meta[i].key)
#define META_VALUE(i) "meta[" #i "].value", offsetof(struct spanrec, meta[i].value), FIELD_SIZE(meta[i].value)

/* Order is ABI: index i is bit i of trunc_mask. Append only. */
static const struct spanrec_str_field spanrec_str_fields[] = {
    {STR_FIELD(name)},
    {STR_FIELD(request_model)},
    {STR_FIELD(response_model)},
    {STR_FIELD(provider)},
    {STR_FIELD(server_address)},
    {STR_FIELD(error_type)},
    {STR_FIELD(finish_reason)},
    {STR_FIELD(tenant_id)},
    {STR_FIELD(team)},
    {STR_FIELD(user)},
    {STR_FIELD(key_name)},
    {STR_FIELD(target)},
    {STR_FIELD(fallback_reason)},
    {STR_FIELD(request_id)},
    {STR_FIELD(response_id)},
    {META_KEY(0)},
    {META_VALUE(0)},
    {META_KEY(1)},
    {META_VALUE(1)},
    {META_KEY(2)},
    {META_VALUE(2)},
    {META_KEY(3)},
    {META_VALUE(3)},
    {STR_FIELD(guardrails)},
    {STR_FIELD(mcp_method)},
    {STR_FIELD(mcp_session_id)},
    {STR_FIELD(tool_name)},
    {STR_FIELD(jsonrpc_id)},
};

#define SPANREC_NSTR (sizeof(spanrec_str_fields) / sizeof(spanrec_str_fields[0]))
static_assert(SPANREC_NSTR <= 32, "every string field needs a trunc_mask bit");
static_assert(SPANREC_META_MAX == 4, "the META_KEY/META_VALUE rows above assume 4 meta slots");

static const char *const spanrec_verdict_names[SPANREC_VERDICT__COUNT] = {
    [SPANREC_OK] = "ok",
    [SPANREC_BAD_SIZE] = "bad_size",
    [SPANREC_BAD_MAGIC] = "bad_magic",
    [SPANREC_BAD_VERSION] = "bad_version",
    [SPANREC_BAD_STRING] = "bad_string",
    [SPANREC_BAD_FIELD] = "bad_field",
};

static const char *const spanrec_op_names[SPANREC_OP__COUNT] = {
    [SPANREC_OP_NONE] = NULL,
    [SPANREC_OP_CHAT] = "chat",
    [SPANREC_OP_TEXT_COMPLETION] = "text_completion",
    [SPANREC_OP_EMBEDDINGS] = "embeddings",
    [SPANREC_OP_EXECUTE_TOOL] = "execute_tool",
    [SPANREC_OP_MODELS] = "models",
    [SPANREC_OP_MCP] = "mcp",
};

void spanrec_init(struct spanrec *r, enum spanrec_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->magic = SPANREC_MAGIC;
	r->version = SPANREC_VERSION;
	r->size = SPANREC_SIZE;
	r->kind = (uint8_t)kind;
}

/* Table index of the string field at byte offset off with size cap; -1 if none. */
static int spanrec_str_index(size_t off, size_t cap)
{
	for (size_t i = 0; i < SPANREC_NSTR; i++) {
		if (spanrec_str_fields[i].off == off && spanrec_str_fields[i].size == cap)
			return (int)i;
	}
	return -1;
}

/*
 * Longest prefix of src[0..len) that fits in room bytes without splitting a
 * UTF-8 character. Backs off over at most 3 continuation bytes, so invalid
 * input (a run of continuation bytes) is cut at room rather than emptied.
 */
static size_t spanrec_utf8_cut(const char *src, size_t len, size_t room)
{
	if (len <= room)
		return len;
	for (size_t back = 0; back <= 3 && back <= room; back++) {
		size_t c = room - back;
		if (((unsigned char)src[c] & 0xc0) != 0x80)
			return c; /* src[c] starts a character: cutting before it splits nothing */
	}
	return room;
}

/*
 * dst must be one of r's string fields with its declared size as cap; a dst
 * outside r is ignored (programming error, never input-driven). The tail of
 * the field is zeroed so no stale bytes from an earlier value go out on the
 * wire, and re-setting a field without truncation clears its trunc bit.
 */
void spanrec_set_str(struct spanrec *r, char *dst, size_t cap, const char *src, size_t len)
{
	char *base = (char *)r;
	if (dst < base || cap == 0 || (size_t)(dst - base) > sizeof(*r) || cap > sizeof(*r) - (size_t)(dst - base))
		return;
	if (src == NULL)
		len = 0;
	else if (len == (size_t)-1)
		len = strlen(src);
	else {
		const char *nul = memchr(src, '\0', len);
		if (nul != NULL)
			len = (size_t)(nul - src);
	}

	size_t n = spanrec_utf8_cut(src, len, cap - 1);
	if (n > 0)
		memcpy(dst, src, n);
	memset(dst + n, 0, cap - n);

	int idx = spanrec_str_index((size_t)(dst - base), cap);
	if (idx >= 0) {
		if (n < len)
			r->trunc_mask |= 1u << idx;
		else
			r->trunc_mask &= ~(1u << idx);
	}
	if (r->trunc_mask != 0)
		r->flags |= SPANREC_F_TRUNCATED;
	else
		r->flags &= ~SPANREC_F_TRUNCATED;
}

/* An empty or NULL key is refused (-1 without META_FULL): an empty key marks a free slot. */
int spanrec_add_meta(struct spanrec *r, const char *key, const char *value)
{
	if (key == NULL || key[0] == '\0')
		return -1;
	for (size_t i = 0; i < SPANREC_META_MAX; i++) {
		struct spanrec_meta *m = &r->meta[i];
		if (m->key[0] != '\0')
			continue;
		SPANREC_SET(r, meta[i].key, key);
		SPANREC_SET(r, meta[i].value, value);
		return 0;
	}
	r->flags |= SPANREC_F_META_FULL;
	return -1;
}

/* ---- validation ----------------------------------------------------------- */

/* Converts a record of one version (already size-checked) to the current layout. */
typedef void (*spanrec_upgrade_cb)(const void *buf, struct spanrec *out);

static void spanrec_copy_current(const void *buf, struct spanrec *out)
{
	memcpy(out, buf, sizeof(*out));
}

/* Version 1 is version 2 without the appended fields: they read as zero (none fired, no MCP). */
static void spanrec_upgrade_v1(const void *buf, struct spanrec *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out, buf, SPANREC_V1_SIZE);
	out->version = SPANREC_VERSION;
	out->size = SPANREC_SIZE;
}

struct spanrec_version {
	uint16_t version;
	uint16_t size;
	spanrec_upgrade_cb upgrade;
};

/*
 * Every version the exporter accepts, oldest first. For v3: add
 * {3, sizeof(struct spanrec), spanrec_copy_current}, give v2's row an
 * upgrade filling the new fields' defaults, and bump SPANREC_VERSION_MIN
 * to 2 when v1 support is dropped (the contract: current and previous).
 */
static const struct spanrec_version spanrec_versions[] = {
    {1, SPANREC_V1_SIZE, spanrec_upgrade_v1},
    {2, SPANREC_SIZE, spanrec_copy_current},
};
static_assert(SPANREC_VERSION == 2, "add the new version to spanrec_versions[] and an upgrade for the old one");

static const struct spanrec_version *spanrec_version_find(uint16_t v)
{
	if (v < SPANREC_VERSION_MIN || v > SPANREC_VERSION)
		return NULL;
	for (size_t i = 0; i < sizeof(spanrec_versions) / sizeof(spanrec_versions[0]); i++) {
		if (spanrec_versions[i].version == v)
			return &spanrec_versions[i];
	}
	return NULL;
}

/* Checks on the current layout after any upgrade: strings first, so later code may use them. */
static enum spanrec_verdict spanrec_check_fields(const struct spanrec *r, struct err *err)
{
	const char *base = (const char *)r;
	for (size_t i = 0; i < SPANREC_NSTR; i++) {
		const struct spanrec_str_field *f = &spanrec_str_fields[i];
		if (memchr(base + f->off, '\0', f->size) == NULL) {
			err_set(err, SPANREC_BAD_STRING, "field %s has no NUL terminator", f->name);
			return SPANREC_BAD_STRING;
		}
	}
	if (r->kind > SPANREC_KIND_CLIENT) {
		err_set(err, SPANREC_BAD_FIELD, "field kind out of range: %u", r->kind);
		return SPANREC_BAD_FIELD;
	}
	if (r->status > SPANREC_STATUS_ERROR) {
		err_set(err, SPANREC_BAD_FIELD, "field status out of range: %u", r->status);
		return SPANREC_BAD_FIELD;
	}
	if (r->op >= SPANREC_OP__COUNT) {
		err_set(err, SPANREC_BAD_FIELD, "field op out of range: %u", r->op);
		return SPANREC_BAD_FIELD;
	}
	if ((r->flags & ~(uint32_t)SPANREC_F__ALL) != 0) {
		err_set(err, SPANREC_BAD_FIELD, "field flags has unknown bits: 0x%x", r->flags);
		return SPANREC_BAD_FIELD;
	}
	if (SPANREC_NSTR < 32 && (r->trunc_mask >> SPANREC_NSTR) != 0) {
		err_set(err, SPANREC_BAD_FIELD, "field trunc_mask has unknown bits: 0x%x", r->trunc_mask);
		return SPANREC_BAD_FIELD;
	}
	if (ids_is_zero(r->trace_id, sizeof(r->trace_id))) {
		err_set(err, SPANREC_BAD_FIELD, "field trace_id is all zero");
		return SPANREC_BAD_FIELD;
	}
	if (ids_is_zero(r->span_id, sizeof(r->span_id))) {
		err_set(err, SPANREC_BAD_FIELD, "field span_id is all zero");
		return SPANREC_BAD_FIELD;
	}
	return SPANREC_OK;
}

struct spanrec_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t size;
};
static_assert(sizeof(struct spanrec_hdr) == 8, "header is 8 bytes");

size_t spanrec_frame_len(const void *buf, size_t len)
{
	struct spanrec_hdr hdr;
	if (buf == NULL || len < sizeof(hdr))
		return 0;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != SPANREC_MAGIC)
		return 0;
	const struct spanrec_version *v = spanrec_version_find(hdr.version);
	if (v == NULL || hdr.size != v->size || len < v->size)
		return 0;
	return v->size;
}

enum spanrec_verdict spanrec_validate(const void *buf, size_t len, struct spanrec *out, struct err *err)
{
	struct spanrec_hdr hdr;

	if (buf == NULL || len < sizeof(hdr)) {
		err_set(err, SPANREC_BAD_SIZE, "record too short: %zu bytes", len);
		return SPANREC_BAD_SIZE;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != SPANREC_MAGIC) {
		err_set(err, SPANREC_BAD_MAGIC, "bad magic 0x%08x", hdr.magic);
		return SPANREC_BAD_MAGIC;
	}
	const struct spanrec_version *v = spanrec_version_find(hdr.version);
	if (v == NULL) {
		err_set(err, SPANREC_BAD_VERSION, "unsupported version %u (accepted %u..%u)", hdr.version,
			SPANREC_VERSION_MIN, SPANREC_VERSION);
		return SPANREC_BAD_VERSION;
	}
	if (hdr.size != v->size) {
		err_set(err, SPANREC_BAD_SIZE, "field size is %u, version %u records are %u bytes", hdr.size,
			hdr.version, v->size);
		return SPANREC_BAD_SIZE;
	}
	if (len != v->size) {
		err_set(err, SPANREC_BAD_SIZE, "record is %zu bytes, version %u records are %u bytes", len, hdr.version,
			v->size);
		return SPANREC_BAD_SIZE;
	}
	v->upgrade(buf, out);
	enum spanrec_verdict verdict = spanrec_check_fields(out, err);
	if (verdict == SPANREC_OK)
		err_clear(err);
	return verdict;
}

const char *spanrec_verdict_name(enum spanrec_verdict v)
{
	if ((unsigned)v >= SPANREC_VERDICT__COUNT)
		return "unknown";
	return spanrec_verdict_names[v];
}

const char *spanrec_op_name(enum spanrec_op op)
{
	if ((unsigned)op >= SPANREC_OP__COUNT)
		return NULL;
	return spanrec_op_names[op];
}

const char *spanrec_str_field_name(unsigned i)
{
	if (i >= SPANREC_NSTR)
		return NULL;
	return spanrec_str_fields[i].name;
}
