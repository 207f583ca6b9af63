/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canonical request text and its hash (see cache_key.h). The text is
 * written straight from the scanned request (jscan) by a small serializer
 * of its own, giving what jansson's JSON_SORT_KEYS|JSON_COMPACT dump of
 * the kept members would, numbers re-spelled as described: no jansson
 * tree is built (building it was two thirds of a lookup, docs/cache.md),
 * and the text streams into SHA-256 through a 4 KiB buffer instead of
 * being built whole.
 */
#include "gateway/cache_key.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway/jscan.h"

#define SINK_BUF 4096

/* Where the canonical text goes: a buffer (tests) or a digest. */
struct sink {
	struct buf *out;
	EVP_MD_CTX *md;
	char buf[SINK_BUF];
	size_t n;
	bool fail;
};

static void sink_flush(struct sink *s)
{
	if (s->n > 0 && s->md != NULL && EVP_DigestUpdate(s->md, s->buf, s->n) != 1)
		s->fail = true;
	s->n = 0;
}

static void put(struct sink *s, const char *p, size_t n)
{
	if (s->fail)
		return;
	if (s->out != NULL) {
		if (buf_append(s->out, p, n) < 0)
			s->fail = true;
		return;
	}
	if (n > SINK_BUF - s->n) {
		sink_flush(s);
		if (n > SINK_BUF) {
			if (EVP_DigestUpdate(s->md, p, n) != 1)
				s->fail = true;
			return;
		}
	}
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

static void puts_(struct sink *s, const char *str)
{
	put(s, str, strlen(str));
}

static void put_string(struct sink *s, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;
	put(s, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)str[i];
		const char *esc = NULL;
		char u[6];
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			if (c >= 0x20)
				continue;
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
		}
		put(s, str + run, i - run);
		if (esc != NULL)
			puts_(s, esc);
		else
			put(s, u, 6);
		run = i + 1;
	}
	put(s, str + run, n - run);
	put(s, "\"", 1);
}

/* Members the answer never depends on (top level only). */
static bool skipped(const char *key, size_t n)
{
	static const char *const skip[] = {
	    "user", "metadata", "store", "stream", "stream_options", "prompt_cache_key", "safety_identifier", NULL};
	for (size_t i = 0; skip[i] != NULL; i++)
		if (strlen(skip[i]) == n && memcmp(key, skip[i], n) == 0)
			return true;
	return false;
}

/* Scratch for unescaped keys (an arena per object, by offset) and strings. */
struct canon {
	struct sink *s;
	struct buf keys, str;
};

struct member {
	const char *key; /* the unescaped key: in the body itself, or in canon.keys (off) */
	size_t off, len;
	size_t pos; /* order in the object: the last duplicate wins, as in jansson */
	struct jscan_val val;
};

#define MEMBERS_ON_STACK 16

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* A validated JSON string without a backslash is its own canonical text: no quote or control inside. */
static bool plain(const struct jscan_val *v)
{
	return memchr(v->p, '\\', v->len) == NULL;
}

/* The unescaped text of string v, appended to b; its offset, or SIZE_MAX on ENOMEM. */
static size_t unescape(struct buf *b, const struct jscan_val *v, size_t *len)
{
	size_t at = b->len;
	if (buf_reserve(b, v->len) < 0)
		return SIZE_MAX;
	*len = jscan_str(v, b->data + at, v->len);
	b->len += *len;
	b->data[b->len] = '\0';
	return at;
}

static void put_value(struct canon *cn, const struct jscan_val *v, bool top);

/* Appends one member to *m (growing past the stack array); false on ENOMEM. */
static bool add_member(struct member **m, size_t *k, size_t *cap, struct member *stack, const struct member *x)
{
	if (*k == *cap) {
		size_t nc = *cap * 2;
		struct member *p = *m == stack ? malloc(nc * sizeof(*p)) : realloc(*m, nc * sizeof(*p));
		if (p == NULL)
			return false;
		if (*m == stack)
			memcpy(p, stack, *k * sizeof(*p));
		*m = p;
		*cap = nc;
	}
	(*m)[(*k)++] = *x;
	return true;
}

/* The members of obj, keys unescaped (those with escapes into cn->keys), top-level skips left out. */
static size_t collect(struct canon *cn, const struct jscan_val *obj, bool top, struct member **m, size_t *cap,
		      struct member *stack)
{
	struct jscan_iter it;
	struct jscan_val key, val;
	size_t k = 0;
	jscan_iter_init(&it, obj);
	for (size_t pos = 0; jscan_next(&it, &key, &val); pos++) {
		struct member x = {key.p + 1, SIZE_MAX, key.len - 2, pos, val};
		if (!plain(&key) && (x.off = unescape(&cn->keys, &key, &x.len)) == SIZE_MAX) {
			cn->s->fail = true;
			break;
		}
		if (x.off != SIZE_MAX)
			x.key = NULL;
		else if (top && skipped(x.key, x.len))
			continue;
		if (!add_member(m, &k, cap, stack, &x)) {
			cn->s->fail = true;
			break;
		}
	}
	/* escaped keys point into the arena once it stops moving (top-level skips checked here for them) */
	size_t kept = 0;
	for (size_t i = 0; i < k; i++) {
		if ((*m)[i].key == NULL)
			(*m)[i].key = cn->keys.data + (*m)[i].off;
		if (!(top && (*m)[i].off != SIZE_MAX && skipped((*m)[i].key, (*m)[i].len)))
			(*m)[kept++] = (*m)[i];
	}
	return kept;
}

/* A member's key now: escaped ones by offset, the arena may have moved while values were written. */
static const char *key_of(const struct canon *cn, const struct member *x)
{
	return x->off == SIZE_MAX ? x->key : cn->keys.data + x->off;
}

static void put_object(struct canon *cn, const struct jscan_val *obj, bool top)
{
	struct member stack[MEMBERS_ON_STACK], *m = stack;
	size_t cap = MEMBERS_ON_STACK, mark = cn->keys.len;
	size_t k = collect(cn, obj, top, &m, &cap, stack);
	if (k > 1)
		qsort(m, k, sizeof(*m), member_cmp);
	put(cn->s, "{", 1);
	for (size_t i = 0, first = 1; i < k; i++) {
		if (i + 1 < k && m[i + 1].len == m[i].len &&
		    memcmp(key_of(cn, &m[i + 1]), key_of(cn, &m[i]), m[i].len) == 0)
			continue; /* a duplicate key: the last one counts */
		if (!first)
			put(cn->s, ",", 1);
		first = 0;
		if (m[i].off == SIZE_MAX)
			put(cn->s, m[i].key - 1, m[i].len + 2); /* quotes included */
		else
			put_string(cn->s, key_of(cn, &m[i]), m[i].len);
		put(cn->s, ":", 1);
		put_value(cn, &m[i].val, false);
	}
	put(cn->s, "}", 1);
	if (m != stack)
		free(m);
	cn->keys.len = mark; /* nested objects' keys are done with */
}

static void put_number(struct sink *s, const struct jscan_val *v)
{
	char num[40], tmp[64];
	int64_t i;
	int n;
	if (v->type == JSCAN_INTEGER && jscan_int(v, &i)) {
		n = snprintf(num, sizeof(num), "%lld", (long long)i);
	} else {
		size_t len = v->len < sizeof(tmp) - 1 ? v->len : sizeof(tmp) - 1;
		memcpy(tmp, v->p, len);
		tmp[len] = '\0';
		double d = strtod(tmp, NULL);
		/* integral values the way integers are written: 1.0 and 1 are one key */
		if (d == trunc(d) && fabs(d) < 9007199254740992.0)
			n = snprintf(num, sizeof(num), "%lld", (long long)d);
		else
			n = snprintf(num, sizeof(num), "%.17g", d);
	}
	put(s, num, (size_t)n);
}

static void put_value(struct canon *cn, const struct jscan_val *v, bool top)
{
	struct jscan_iter it;
	struct jscan_val el;
	size_t len, off;
	switch (v->type) {
	case JSCAN_OBJECT:
		put_object(cn, v, top);
		return;
	case JSCAN_ARRAY:
		put(cn->s, "[", 1);
		jscan_iter_init(&it, v);
		for (size_t i = 0; jscan_next(&it, NULL, &el); i++) {
			if (i > 0)
				put(cn->s, ",", 1);
			put_value(cn, &el, false);
		}
		put(cn->s, "]", 1);
		return;
	case JSCAN_STRING:
		if (plain(v)) {
			put(cn->s, v->p, v->len); /* quotes included */
			return;
		}
		buf_reset(&cn->str);
		if ((off = unescape(&cn->str, v, &len)) == SIZE_MAX)
			cn->s->fail = true;
		else
			put_string(cn->s, cn->str.data + off, len);
		return;
	case JSCAN_INTEGER:
	case JSCAN_REAL:
		put_number(cn->s, v);
		return;
	case JSCAN_TRUE:
		puts_(cn->s, "true");
		return;
	case JSCAN_FALSE:
		puts_(cn->s, "false");
		return;
	default:
		puts_(cn->s, "null");
		return;
	}
}

static void put_all(struct sink *s, const struct cache_key_in *in, const char *body, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct jscan_val root;
	struct canon cn = {.s = s};
	if (jscan_parse(body, len, &root, NULL) != 0) {
		s->fail = true;
		return;
	}
	buf_init(&cn.keys, 0);
	buf_init(&cn.str, 0);
	puts_(s, "[\"llmgw-cache/1\",");
	if (in->tenant != NULL && in->tenant[0] != '\0') {
		puts_(s, "{\"tenant\":");
		put_string(s, in->tenant, strlen(in->tenant));
		puts_(s, "}");
	} else if (in->key_name != NULL) {
		puts_(s, "{\"key\":");
		put_string(s, in->key_name, strlen(in->key_name));
		puts_(s, "}");
	} else {
		puts_(s, "null");
	}
	put(s, ",", 1);
	put_string(s, in->endpoint, strlen(in->endpoint));
	puts_(s, ",[");
	for (size_t i = 0; i < in->nfps; i++) {
		char fp[18] = {'"'};
		for (size_t j = 0; j < 8; j++) {
			fp[1 + 2 * j] = hex[in->fps[i][j] >> 4];
			fp[2 + 2 * j] = hex[in->fps[i][j] & 15];
		}
		fp[17] = '"';
		if (i > 0)
			put(s, ",", 1);
		put(s, fp, sizeof(fp));
	}
	puts_(s, in->stream ? "],true," : "],false,");
	puts_(s, in->include_usage ? "true," : "false,");
	put_value(&cn, &root, true);
	put(s, "]", 1);
	buf_fini(&cn.keys);
	buf_fini(&cn.str);
}

int cache_key_canonical(const struct cache_key_in *in, const char *body, size_t len, struct buf *out)
{
	struct sink s = {.out = out};
	put_all(&s, in, body, len);
	return s.fail ? -1 : 0;
}

int cache_key_compute(const struct cache_key_in *in, const char *body, size_t len, uint8_t key[CACHE_KEY_LEN])
{
	struct sink *s = calloc(1, sizeof(*s)); /* 4 KiB: off the stack */
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dn = 0;
	int rc = -1;
	if (s == NULL)
		return -1;
	if ((s->md = EVP_MD_CTX_new()) != NULL && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) == 1) {
		put_all(s, in, body, len);
		sink_flush(s);
		if (!s->fail && EVP_DigestFinal_ex(s->md, d, &dn) == 1 && dn == CACHE_KEY_LEN) {
			memcpy(key, d, CACHE_KEY_LEN);
			rc = 0;
		}
	}
	EVP_MD_CTX_free(s->md);
	free(s);
	return rc;
}

/* ---- what may be cached --------------------------------------------------------------------------- */

/* The value of a JSON number, false for anything else. */
static bool number_of(const struct jscan_val *v, double *out)
{
	char tmp[64];
	if ((v->type != JSCAN_INTEGER && v->type != JSCAN_REAL) || v->len >= sizeof(tmp))
		return false;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	*out = strtod(tmp, NULL);
	return true;
}

bool cache_key_deterministic(const char *body, size_t len)
{
	struct jscan_val root, t, n;
	double d;
	if (jscan_parse(body, len, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
		return false;
	if (!jscan_get(&root, "temperature", &t) || !number_of(&t, &d) || d != 0.0)
		return false;
	if (jscan_get(&root, "n", &n) && n.type != JSCAN_NULL && (!number_of(&n, &d) || d != 1.0))
		return false;
	return true;
}

bool cache_key_finish_ok(const char *fr)
{
	return fr != NULL && (strcmp(fr, "stop") == 0 || strcmp(fr, "length") == 0);
}

bool cache_key_answer_ok(const char *body, size_t len, bool embeddings)
{
	struct jscan_val root, choices, ch, fr;
	struct jscan_iter it;
	char reason[16];
	size_t nch = 0;
	if (jscan_parse(body, len, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
		return false;
	if (embeddings)
		return jscan_get(&root, "data", &choices) && choices.type == JSCAN_ARRAY;
	if (!jscan_get(&root, "choices", &choices) || choices.type != JSCAN_ARRAY)
		return false;
	jscan_iter_init(&it, &choices);
	while (jscan_next(&it, NULL, &ch)) {
		nch++;
		if (!jscan_get(&ch, "finish_reason", &fr) || fr.type != JSCAN_STRING || fr.len > sizeof(reason))
			return false;
		jscan_str(&fr, reason, sizeof(reason));
		if (!cache_key_finish_ok(reason))
			return false;
	}
	return nch > 0;
}
