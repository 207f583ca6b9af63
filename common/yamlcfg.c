/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML configuration loading into an immutable, position-carrying tree.
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
 * ${VAR} and ${VAR:-default} in scalar values are expanded from the
 * environment at load time ("$$" is a literal "$"; a lone "$" stays as it
 * is; keys are never expanded). A scalar that took text from the environment
 * is marked so that error messages never echo it: the environment is where
 * secrets live.
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

#define YCFG_MAX_FILE (4u << 20)
#define YCFG_MAX_DEPTH 32
#define YCFG_MAX_SCALAR (64u << 10)

struct ycfg_node {
	enum ycfg_type type;
	unsigned line, col;
	bool from_env; /* scalar text came (partly) from the environment: never echo it */
	char *text;    /* scalar: NUL-terminated, owned */
	size_t n;      /* complete entries of a map or sequence */
	size_t cap;
	struct ycfg_node **keys; /* map: key scalars; keys[n] set = a key awaiting its value */
	struct ycfg_node **vals; /* map values or sequence elements */
};

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

/* ---- ${VAR} expansion ----------------------------------------------------- */

static bool ycfg_var_char(char ch, bool first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' || (!first && ch >= '0' && ch <= '9');
}

struct ycfg_out {
	char *p;
	size_t len, cap; /* cap excludes the NUL */
};

static int ycfg_out_put(struct ycfg_out *o, const char *s, size_t n, struct err *err)
{
	if (n > o->cap - o->len)
		return err_set(err, E2BIG, "value longer than %zu bytes after ${} expansion", o->cap);
	memcpy(o->p + o->len, s, n);
	o->len += n;
	return 0;
}

/* Expands one "${...}" starting at s (s[0] == '$', s[1] == '{'); returns bytes consumed or -1. */
static long ycfg_expand_one(const char *s, struct ycfg_out *o, struct err *err)
{
	const char *name = s + 2;
	const char *close = strchr(name, '}');
	if (close == NULL)
		return err_set(err, EINVAL, "unterminated ${ (missing })");
	size_t nlen = 0;
	while (name + nlen < close && ycfg_var_char(name[nlen], nlen == 0))
		nlen++;
	const char *def = NULL;
	if (name + nlen < close) {
		if (close - (name + nlen) < 2 || name[nlen] != ':' || name[nlen + 1] != '-')
			return err_set(err, EINVAL, "bad ${} expression: expected ${NAME} or ${NAME:-default}");
		def = name + nlen + 2;
	}
	if (nlen == 0)
		return err_set(err, EINVAL, "bad ${} expression: empty variable name");
	if (nlen > 255)
		return err_set(err, EINVAL, "environment variable name too long");

	char var[256];
	memcpy(var, name, nlen);
	var[nlen] = '\0';
	const char *val = getenv(var);
	int rc;
	if (def != NULL && (val == NULL || val[0] == '\0')) /* ":-" like the shell: unset or empty */
		rc = ycfg_out_put(o, def, (size_t)(close - def), err);
	else if (val == NULL)
		return err_set(err, ENOENT, "environment variable %s is not set", var);
	else
		rc = ycfg_out_put(o, val, strlen(val), err);
	return rc < 0 ? -1 : (long)(close + 1 - s);
}

/*
 * Expands s into out (outsz bytes incl. NUL). A default runs to the first
 * '}' and is not itself expanded. Errors never include a variable's value.
 */
int ycfg_expand_env(const char *s, char *out, size_t outsz, struct err *err)
{
	if (outsz == 0)
		return err_set(err, EINVAL, "no room for the expanded value");
	struct ycfg_out o = {out, 0, outsz - 1};
	while (*s != '\0') {
		const char *dollar = strchr(s, '$');
		size_t lit = dollar != NULL ? (size_t)(dollar - s) : strlen(s);
		if (ycfg_out_put(&o, s, lit, err) < 0)
			goto fail;
		s += lit;
		if (*s == '\0')
			break;
		if (s[1] == '$') { /* "$$" -> "$" */
			if (ycfg_out_put(&o, "$", 1, err) < 0)
				goto fail;
			s += 2;
		} else if (s[1] == '{') {
			long used = ycfg_expand_one(s, &o, err);
			if (used < 0)
				goto fail;
			s += used;
		} else { /* a lone '$' is literal */
			if (ycfg_out_put(&o, "$", 1, err) < 0)
				goto fail;
			s++;
		}
	}
	out[o.len] = '\0';
	return 0;
fail:
	out[0] = '\0';
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

/* ---- typed getters -------------------------------------------------------- */

static const char *ycfg_type_name(enum ycfg_type t)
{
	return t == YCFG_MAP ? "a mapping" : t == YCFG_SEQ ? "a list" : "a string";
}

/* A scalar for an error message: short, printable, and never a value taken from the environment. */
static const char *ycfg_show(const struct ycfg_node *n, char *out, size_t outsz)
{
	if (n->from_env) {
		snprintf(out, outsz, "(value from the environment)");
		return out;
	}
	size_t o = 0, i = 0;
	out[o++] = '"';
	for (; n->text[i] != '\0' && i < 40 && o + 5 < outsz; i++) {
		unsigned char ch = (unsigned char)n->text[i];
		out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[o++] = '"';
	if (n->text[i] != '\0') {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/*
 * Finds key's value and checks it is a scalar. Returns 1 with *out set, 0 if
 * map is NULL or has no such key, -1 (err set) if map is not a mapping or
 * the value is not a scalar. want names the expected shape for the message.
 */
static int ycfg_find_scalar(const struct ycfg *c, const struct ycfg_node *map, const char *key, const char *want,
			    const struct ycfg_node **out, struct err *err)
{
	if (map == NULL)
		return 0;
	if (map->type != YCFG_MAP)
		return ycfg_error(c, map, key, err, "expected a mapping around this key, got %s",
				  ycfg_type_name(map->type));
	const struct ycfg_node *n = ycfg_get(map, key);
	if (n == NULL)
		return 0;
	if (n->type != YCFG_SCALAR)
		return ycfg_error(c, n, key, err, "expected %s, got %s", want, ycfg_type_name(n->type));
	*out = n;
	return 1;
}

int ycfg_check_keys(const struct ycfg *c, const struct ycfg_node *map, const char *what, const char *const *allowed,
		    struct err *err)
{
	if (map == NULL)
		return 0;
	if (map->type != YCFG_MAP)
		return ycfg_error(c, map, what, err, "expected a mapping, got %s", ycfg_type_name(map->type));
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->keys[i]->text;
		bool ok = false;
		for (size_t j = 0; allowed != NULL && allowed[j] != NULL && !ok; j++)
			ok = strcmp(k, allowed[j]) == 0;
		if (ok)
			continue;
		char label[160];
		if (what != NULL && what[0] != '\0')
			snprintf(label, sizeof(label), "%s.%s", what, k);
		else
			snprintf(label, sizeof(label), "%s", k);
		return ycfg_error(c, map->keys[i], label, err, "unknown key");
	}
	return 0;
}

int ycfg_get_str(const struct ycfg *c, const struct ycfg_node *map, const char *key, const char *def, const char **out,
		 struct err *err)
{
	const struct ycfg_node *n = NULL;
	int rc = ycfg_find_scalar(c, map, key, "a string", &n, err);
	*out = rc > 0 ? n->text : def;
	return rc < 0 ? -1 : 0;
}

/* Base 10 only: "010" is ten, never eight; "0x10" is an error. */
int ycfg_get_int(const struct ycfg *c, const struct ycfg_node *map, const char *key, int64_t min, int64_t max,
		 int64_t def, int64_t *out, struct err *err)
{
	const struct ycfg_node *n = NULL;
	*out = def;
	int rc = ycfg_find_scalar(c, map, key, "an integer", &n, err);
	if (rc <= 0)
		return rc;
	const char *s = n->text;
	char show[64];
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	bool lead_ok = s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9');
	if (!lead_ok || end == s || *end != '\0')
		return ycfg_error(c, n, key, err, "expected an integer, got %s", ycfg_show(n, show, sizeof(show)));
	if (errno == ERANGE || v < min || v > max)
		return ycfg_error(c, n, key, err, "%s is out of range [%lld, %lld]", ycfg_show(n, show, sizeof(show)),
				  (long long)min, (long long)max);
	*out = v;
	return 0;
}

int ycfg_get_bool(const struct ycfg *c, const struct ycfg_node *map, const char *key, bool def, bool *out,
		  struct err *err)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	const struct ycfg_node *n = NULL;
	*out = def;
	int rc = ycfg_find_scalar(c, map, key, "true or false", &n, err);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(n->text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	char show[64];
	return ycfg_error(c, n, key, err, "expected true or false, got %s", ycfg_show(n, show, sizeof(show)));
}

struct ycfg_unit {
	const char *suffix;
	uint64_t mult;
};

/* Digits then one suffix from units (which includes ""); -1 on junk, -2 on overflow. */
static int ycfg_parse_units(const char *s, const struct ycfg_unit *units, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	bool overflow = false;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (i == 0)
		return -1;
	for (const struct ycfg_unit *u = units; u->suffix != NULL; u++) {
		if (strcmp(s + i, u->suffix) != 0)
			continue;
		if (overflow || (v != 0 && u->mult > UINT64_MAX / v))
			return -2;
		*out = v * u->mult;
		return 0;
	}
	return -1;
}

/* A duration in the largest unit that shows it exactly: 90000 -> "90s", 120000 -> "2m". */
static const char *ycfg_fmt_ms(int64_t ms, char *out, size_t outsz)
{
	static const struct ycfg_unit units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	for (size_t i = 0; i < 4; i++) {
		if (ms != 0 && ms % (int64_t)units[i].mult == 0) {
			snprintf(out, outsz, "%lld%s", (long long)(ms / (int64_t)units[i].mult), units[i].suffix);
			return out;
		}
	}
	snprintf(out, outsz, "%lldms", (long long)ms);
	return out;
}

int ycfg_get_duration_ms(const struct ycfg *c, const struct ycfg_node *map, const char *key, int64_t min_ms,
			 int64_t max_ms, int64_t def_ms, int64_t *out, struct err *err)
{
	static const struct ycfg_unit units[] = {
	    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
	};
	const struct ycfg_node *n = NULL;
	*out = def_ms;
	int rc = ycfg_find_scalar(c, map, key, "a duration", &n, err);
	if (rc <= 0)
		return rc;
	char show[64], lo[32], hi[32];
	uint64_t v;
	rc = ycfg_parse_units(n->text, units, &v);
	if (rc == -1)
		return ycfg_error(c, n, key, err, "expected a duration such as 250ms, 30s, 2m or 1h, got %s",
				  ycfg_show(n, show, sizeof(show)));
	if (rc == -2 || v > (uint64_t)INT64_MAX || (int64_t)v < min_ms || (int64_t)v > max_ms)
		return ycfg_error(c, n, key, err, "duration %s is out of range [%s, %s]",
				  ycfg_show(n, show, sizeof(show)), ycfg_fmt_ms(min_ms, lo, sizeof(lo)),
				  ycfg_fmt_ms(max_ms, hi, sizeof(hi)));
	*out = (int64_t)v;
	return 0;
}

int ycfg_get_size(const struct ycfg *c, const struct ycfg_node *map, const char *key, uint64_t min, uint64_t max,
		  uint64_t def, uint64_t *out, struct err *err)
{
	static const struct ycfg_unit units[] = {
	    {"", 1},	  {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
	    {"KB", 1000}, {"MB", 1000000},     {"GB", 1000000000},  {NULL, 0},
	};
	const struct ycfg_node *n = NULL;
	*out = def;
	int rc = ycfg_find_scalar(c, map, key, "a size", &n, err);
	if (rc <= 0)
		return rc;
	char show[64];
	uint64_t v;
	rc = ycfg_parse_units(n->text, units, &v);
	if (rc == -1)
		return ycfg_error(c, n, key, err, "expected a size such as 512, 64KiB, 4MiB or 1GiB, got %s",
				  ycfg_show(n, show, sizeof(show)));
	if (rc == -2 || v < min || v > max)
		return ycfg_error(c, n, key, err, "size %s is out of range [%llu, %llu] bytes",
				  ycfg_show(n, show, sizeof(show)), (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}
