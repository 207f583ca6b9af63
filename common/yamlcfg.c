/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML configuration loading into an immutable, position-carrying tree.
 * What a scalar's text means (${VAR} expansion, the typed getters and
 * ycfg_check_keys) is yamlcfg_value.c; the node both files read is in
 * yamlcfg_int.h.
 *
 * libyaml's event parser drives a small explicit stack (never recursion on
 * input): each collection start creates a node, attaches it to its parent at
 * once (so one ycfg_free() cleans up after any error) and pushes it; its end
 * pops it. Every node keeps the 1-based line and column of its event's start
 * mark, so any later complaint about a value can say "file:line:col: key:".
 *
 * Configs are data, not programs, so the loader is deliberately narrow:
 * anchors, aliases and explicit tags are refused, keys must be unique
 * scalars, there is exactly one document and its root is a mapping (an
 * empty file is an empty mapping). Loading is bounded in every dimension an
 * input controls: the file (4 MiB), the nesting (32), each scalar (64 KiB
 * after expansion), and duplicate-key detection is a sort per mapping, not
 * a quadratic scan.
 *
 * Scalar values (never keys) that contain a "$" go through
 * ycfg_expand_env() as they are loaded; a scalar that took text from the
 * environment is marked so that error messages never echo it: the
 * environment is where secrets live.
 */
#include "common/yamlcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "common/buf.h"
#include "common/yamlcfg_int.h"

#define YCFG_MAX_FILE (4u << 20)
#define YCFG_MAX_DEPTH 32
#define YCFG_MAX_SCALAR (64u << 10)

struct ycfg {
	char *name;
	struct ycfg_node *root;
};

/* ---- tree ----------------------------------------------------------------- */

static void ycfg_node_free(struct ycfg_node *n)
{
	if (n == NULL)
		return;
	/* Depth is bounded by YCFG_MAX_DEPTH, so this recursion is too. */
	for (size_t i = 0; i < n->cap; i++) {
		if (n->keys != NULL)
			ycfg_node_free(n->keys[i]);
		ycfg_node_free(n->vals[i]);
	}
	free(n->keys);
	free(n->vals);
	free(n->text);
	free(n);
}

void ycfg_free(struct ycfg *c)
{
	if (c == NULL)
		return;
	ycfg_node_free(c->root);
	free(c->name);
	free(c);
}

const struct ycfg_node *ycfg_root(const struct ycfg *c)
{
	return c->root;
}

const char *ycfg_name(const struct ycfg *c)
{
	return c->name;
}

/* The accessors are NULL-safe so callers can chain ycfg_get() results. */
enum ycfg_type ycfg_type(const struct ycfg_node *n)
{
	return n != NULL ? n->type : YCFG_SCALAR;
}

unsigned ycfg_line(const struct ycfg_node *n)
{
	return n != NULL ? n->line : 0;
}

unsigned ycfg_col(const struct ycfg_node *n)
{
	return n != NULL ? n->col : 0;
}

const char *ycfg_scalar(const struct ycfg_node *n)
{
	return n != NULL && n->type == YCFG_SCALAR ? n->text : NULL;
}

size_t ycfg_len(const struct ycfg_node *n)
{
	return n != NULL && n->type != YCFG_SCALAR ? n->n : 0;
}

const struct ycfg_node *ycfg_at(const struct ycfg_node *n, size_t i)
{
	if (n == NULL || n->type == YCFG_SCALAR || i >= n->n)
		return NULL;
	return n->vals[i];
}

const char *ycfg_key_at(const struct ycfg_node *n, size_t i)
{
	if (n == NULL || n->type != YCFG_MAP || i >= n->n)
		return NULL;
	return n->keys[i]->text;
}

/* Linear: config mappings are small, and lookups happen once at start-up. */
const struct ycfg_node *ycfg_get(const struct ycfg_node *map, const char *key)
{
	if (map == NULL || map->type != YCFG_MAP || key == NULL)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->keys[i]->text, key) == 0)
			return map->vals[i];
	}
	return NULL;
}

static struct ycfg_node *ycfg_node_new(enum ycfg_type type, const yaml_mark_t *mark)
{
	struct ycfg_node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	return n;
}

/* Room for entry n (and a pending key); new slots are NULL so free() can walk cap. */
static int ycfg_node_grow(struct ycfg_node *n)
{
	if (n->n < n->cap)
		return 0;
	size_t ncap = n->cap == 0 ? 8 : n->cap * 2;
	struct ycfg_node **v = realloc(n->vals, ncap * sizeof(*v));
	if (v == NULL)
		return -1;
	memset(v + n->cap, 0, (ncap - n->cap) * sizeof(*v));
	n->vals = v;
	if (n->type == YCFG_MAP) {
		struct ycfg_node **k = realloc(n->keys, ncap * sizeof(*k));
		if (k == NULL)
			return -1; /* vals grew; cap stays: harmless */
		memset(k + n->cap, 0, (ncap - n->cap) * sizeof(*k));
		n->keys = k;
	}
	n->cap = ncap;
	return 0;
}

/* ---- errors --------------------------------------------------------------- */

static int __attribute__((format(printf, 6, 0)))
ycfg_verror(const char *name, unsigned line, unsigned col, const char *key, struct err *err, const char *fmt,
	    va_list ap)
{
	char reason[256];
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (line == 0 && key == NULL)
		return err_set(err, EINVAL, "%s: %s", name, reason);
	if (line == 0)
		return err_set(err, EINVAL, "%s: %s: %s", name, key, reason);
	if (key == NULL)
		return err_set(err, EINVAL, "%s:%u:%u: %s", name, line, col, reason);
	return err_set(err, EINVAL, "%s:%u:%u: %s: %s", name, line, col, key, reason);
}

/* A NULL key gives "name:line:col: reason" (syntax errors have no key). */
int ycfg_error(const struct ycfg *c, const struct ycfg_node *n, const char *key, struct err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ycfg_verror(c != NULL && c->name != NULL ? c->name : "config", ycfg_line(n), ycfg_col(n), key, err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- loading -------------------------------------------------------------- */

struct yload {
	struct ycfg *c;
	struct err *err;
	struct ycfg_node *stack[YCFG_MAX_DEPTH];
	size_t depth;
	unsigned docs;
	char *exp; /* YCFG_MAX_SCALAR + 1 bytes of expansion scratch */
	char label[128];
};

static int yload_fail(struct yload *ld, const yaml_mark_t *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int yload_fail(struct yload *ld, const yaml_mark_t *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ycfg_verror(ld->c->name, (unsigned)m->line + 1, (unsigned)m->column + 1, key, ld->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Text of the key of map p that is waiting for its value, or NULL. */
static const char *yload_pending_key(const struct ycfg_node *p)
{
	if (p->type != YCFG_MAP || p->n >= p->cap || p->keys[p->n] == NULL)
		return NULL;
	return p->keys[p->n]->text;
}

/* The key a value at the current position belongs to: "key", or "key[3]" inside a sequence. */
static const char *yload_label(struct yload *ld)
{
	if (ld->depth == 0)
		return NULL;
	const struct ycfg_node *p = ld->stack[ld->depth - 1];
	if (p->type == YCFG_MAP)
		return yload_pending_key(p);
	/* The sequence itself is already the newest complete entry of its parent. */
	const char *outer = "";
	if (ld->depth >= 2) {
		const struct ycfg_node *g = ld->stack[ld->depth - 2];
		if (g->type == YCFG_MAP && g->n > 0)
			outer = g->keys[g->n - 1]->text;
	}
	snprintf(ld->label, sizeof(ld->label), "%s[%zu]", outer, p->n);
	return ld->label;
}

/* Attaches a completed or just-opened node to the open collection (or makes it the root). */
static int yload_attach(struct yload *ld, struct ycfg_node *node, const yaml_mark_t *m)
{
	if (ld->depth == 0) {
		ld->c->root = node;
		return 0;
	}
	struct ycfg_node *p = ld->stack[ld->depth - 1];
	if (ycfg_node_grow(p) < 0) {
		ycfg_node_free(node);
		return yload_fail(ld, m, NULL, "out of memory");
	}
	if (p->type == YCFG_SEQ) {
		p->vals[p->n++] = node;
	} else if (p->keys[p->n] == NULL) {
		if (node->type != YCFG_SCALAR) {
			ycfg_node_free(node);
			return yload_fail(ld, m, NULL, "mapping keys must be plain strings");
		}
		p->keys[p->n] = node;
	} else {
		p->vals[p->n++] = node;
	}
	return 0;
}

static int yload_reject_props(struct yload *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
			      const yaml_char_t *tag)
{
	if (anchor != NULL)
		return yload_fail(ld, &ev->start_mark, yload_label(ld), "anchors are not allowed (&%.40s)",
				  (const char *)anchor);
	if (tag != NULL)
		return yload_fail(ld, &ev->start_mark, yload_label(ld), "tags are not allowed (%.40s)",
				  (const char *)tag);
	return 0;
}

static int yload_scalar(struct yload *ld, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const yaml_mark_t *m = &ev->start_mark;
	if (yload_reject_props(ld, ev, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
		return -1;
	if (ld->depth == 0) {
		/* "---" alone is an empty document: an empty mapping, like an empty file. */
		if (len == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return 0;
		return yload_fail(ld, m, NULL, "the document must be a mapping (key: value), not a scalar");
	}
	const struct ycfg_node *p = ld->stack[ld->depth - 1];
	bool is_key = p->type == YCFG_MAP && (p->n >= p->cap || p->keys[p->n] == NULL);
	const char *label = is_key ? NULL : yload_label(ld);
	if (memchr(v, '\0', len) != NULL)
		return yload_fail(ld, m, label, "value contains a NUL character");
	if (len > YCFG_MAX_SCALAR)
		return yload_fail(ld, m, label, "value longer than %u bytes", YCFG_MAX_SCALAR);

	bool from_env = false;
	if (!is_key && memchr(v, '$', len) != NULL) {
		struct err e;
		if (ycfg_expand_env(v, ld->exp, YCFG_MAX_SCALAR + 1, &e) < 0)
			return yload_fail(ld, m, label, "%s", e.msg);
		v = ld->exp;
		len = strlen(v);
		from_env = true;
	}
	struct ycfg_node *n = ycfg_node_new(YCFG_SCALAR, m);
	if (n == NULL || (n->text = malloc(len + 1)) == NULL) {
		ycfg_node_free(n);
		return yload_fail(ld, m, NULL, "out of memory");
	}
	memcpy(n->text, v, len);
	n->text[len] = '\0';
	n->from_env = from_env;
	return yload_attach(ld, n, m);
}

static int yload_open(struct yload *ld, const yaml_event_t *ev, enum ycfg_type type)
{
	const yaml_mark_t *m = &ev->start_mark;
	const yaml_char_t *anchor = type == YCFG_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	const yaml_char_t *tag = type == YCFG_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	if (yload_reject_props(ld, ev, anchor, tag) < 0)
		return -1;
	if (ld->depth == 0 && type != YCFG_MAP)
		return yload_fail(ld, m, NULL, "the document must be a mapping (key: value), not a sequence");
	if (ld->depth >= YCFG_MAX_DEPTH)
		return yload_fail(ld, m, yload_label(ld), "nesting deeper than %d levels", YCFG_MAX_DEPTH);
	struct ycfg_node *n = ycfg_node_new(type, m);
	if (n == NULL)
		return yload_fail(ld, m, NULL, "out of memory");
	if (yload_attach(ld, n, m) < 0)
		return -1;
	ld->stack[ld->depth++] = n;
	return 0;
}

struct ykey {
	const struct ycfg_node *k;
	size_t i;
};

static int ykey_cmp(const void *a, const void *b)
{
	const struct ykey *x = a, *y = b;
	int c = strcmp(x->k->text, y->k->text);
	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Sort-based duplicate check: O(n log n) even for a hostile 100k-key mapping. */
static int yload_check_dups(struct yload *ld, const struct ycfg_node *map)
{
	if (map->n < 2)
		return 0;
	struct ykey *ks = malloc(map->n * sizeof(*ks));
	if (ks == NULL)
		return err_set(ld->err, ENOMEM, "%s: out of memory", ld->c->name);
	for (size_t i = 0; i < map->n; i++)
		ks[i] = (struct ykey){map->keys[i], i};
	qsort(ks, map->n, sizeof(*ks), ykey_cmp);
	size_t dup = SIZE_MAX, first = 0;
	for (size_t i = 1; i < map->n; i++) {
		if (strcmp(ks[i].k->text, ks[i - 1].k->text) == 0 && ks[i].i < dup) {
			dup = ks[i].i;
			first = ks[i - 1].i;
		}
	}
	free(ks);
	if (dup == SIZE_MAX)
		return 0;
	const struct ycfg_node *k = map->keys[dup];
	return ycfg_error(ld->c, k, k->text, ld->err, "duplicate key (first at line %u)", map->keys[first]->line);
}

static int yload_event(struct yload *ld, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++ld->docs > 1)
			return yload_fail(ld, &ev->start_mark, NULL, "only one YAML document is allowed");
		return 0;
	case YAML_SCALAR_EVENT:
		return yload_scalar(ld, ev);
	case YAML_MAPPING_START_EVENT:
		return yload_open(ld, ev, YCFG_MAP);
	case YAML_SEQUENCE_START_EVENT:
		return yload_open(ld, ev, YCFG_SEQ);
	case YAML_MAPPING_END_EVENT:
		if (yload_check_dups(ld, ld->stack[ld->depth - 1]) < 0)
			return -1;
		ld->depth--;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
		ld->depth--;
		return 0;
	case YAML_ALIAS_EVENT:
		return yload_fail(ld, &ev->start_mark, yload_label(ld), "aliases are not allowed (*%.40s)",
				  (const char *)ev->data.alias.anchor);
	default: /* stream start/end, document end */
		return 0;
	}
}

/* libyaml's problem text with the best position it has. */
static int yload_syntax_error(struct yload *ld, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
	if (p->error == YAML_MEMORY_ERROR)
		return err_set(ld->err, ENOMEM, "%s: out of memory", ld->c->name);
	if (p->error == YAML_READER_ERROR)
		return err_set(ld->err, EINVAL, "%s: byte offset %zu: %s", ld->c->name, p->problem_offset, problem);
	if (p->context != NULL)
		return yload_fail(ld, &p->problem_mark, NULL, "%s %s (line %zu)", problem, p->context,
				  p->context_mark.line + 1);
	return yload_fail(ld, &p->problem_mark, NULL, "%s", problem);
}

static int yload_run(struct yload *ld, const char *text, size_t len)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return err_set(ld->err, ENOMEM, "%s: out of memory", ld->c->name);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = yload_syntax_error(ld, &p);
			break;
		}
		bool end = ev.type == YAML_STREAM_END_EVENT;
		rc = yload_event(ld, &ev);
		yaml_event_delete(&ev);
		if (rc < 0 || end)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

struct ycfg *ycfg_load_string(const char *text, size_t len, const char *name, struct err *err)
{
	struct yload ld = {.err = err};
	if (name == NULL)
		name = "config";
	if (len > YCFG_MAX_FILE) {
		err_set(err, EFBIG, "%s: larger than %u MiB", name, YCFG_MAX_FILE >> 20);
		return NULL;
	}
	ld.c = calloc(1, sizeof(*ld.c));
	if (ld.c == NULL || (ld.c->name = strdup(name)) == NULL || (ld.exp = malloc(YCFG_MAX_SCALAR + 1)) == NULL) {
		err_set(err, ENOMEM, "%s: out of memory", name);
		goto fail;
	}
	if (yload_run(&ld, text != NULL ? text : "", text != NULL ? len : 0) < 0)
		goto fail;
	if (ld.c->root == NULL) {
		static const yaml_mark_t origin = {0, 0, 0};
		ld.c->root = ycfg_node_new(YCFG_MAP, &origin);
		if (ld.c->root == NULL) {
			err_set(err, ENOMEM, "%s: out of memory", name);
			goto fail;
		}
	}
	free(ld.exp);
	return ld.c;
fail:
	free(ld.exp);
	ycfg_free(ld.c);
	return NULL;
}

/* Reads through a bounded buf so a huge or endless file (a FIFO, /dev/zero) stops at 4 MiB. */
struct ycfg *ycfg_load_file(const char *path, struct err *err)
{
	struct ycfg *c = NULL;
	struct buf b;
	buf_init(&b, YCFG_MAX_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(err, errno, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		err_set(err, EISDIR, "%s: is a directory", path);
		goto out;
	}
	for (;;) {
		char chunk[16384];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, errno, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			err_set(err, EFBIG, "%s: larger than %u MiB", path, YCFG_MAX_FILE >> 20);
			goto out;
		}
	}
	c = ycfg_load_string(b.data, b.len, path, err);
out:
	close(fd);
	buf_fini(&b);
	return c;
}
