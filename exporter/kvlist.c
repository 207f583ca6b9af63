/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owned key/value lists and the "k=v,k2=v2" parser shared by the header and
 * resource-attribute environment variables.
 *
 * The parser follows the OpenTelemetry reference implementations rather than
 * strict W3C Baggage: values may contain literal spaces (Last9's own examples
 * write "Authorization=Basic <token>"), only the first '=' splits (base64
 * padding), and percent-decoding applies to the value. Anything it cannot
 * read fails the whole variable, because half a header list (say, missing
 * Authorization) is worse than a clear start-up error.
 */
#include "exporter/kvlist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ids.h"

void kvlist_init(struct kvlist *l)
{
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}

void kvlist_fini(struct kvlist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	kvlist_init(l);
}

static long kvlist_find(const struct kvlist *l, const char *key, bool icase)
{
	for (size_t i = 0; i < l->n; i++) {
		int c = icase ? strcasecmp(l->items[i].key, key) : strcmp(l->items[i].key, key);
		if (c == 0)
			return (long)i;
	}
	return -1;
}

int kvlist_set(struct kvlist *l, const char *key, const char *value, bool icase)
{
	char *v = strdup(value);
	if (v == NULL)
		return -1;
	long i = kvlist_find(l, key, icase);
	if (i >= 0) {
		free(l->items[i].value);
		l->items[i].value = v;
		return 0;
	}
	if (l->n >= KVLIST_MAX)
		goto fail;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		struct kv *ni = realloc(l->items, ncap * sizeof(*ni));
		if (ni == NULL)
			goto fail;
		l->items = ni;
		l->cap = ncap;
	}
	char *k = strdup(key);
	if (k == NULL)
		goto fail;
	l->items[l->n].key = k;
	l->items[l->n].value = v;
	l->n++;
	return 0;
fail:
	free(v);
	return -1;
}

const char *kvlist_get(const struct kvlist *l, const char *key, bool icase)
{
	long i = kvlist_find(l, key, icase);
	return i >= 0 ? l->items[i].value : NULL;
}

void kvlist_del(struct kvlist *l, const char *key, bool icase)
{
	long i = kvlist_find(l, key, icase);
	if (i < 0)
		return;
	free(l->items[i].key);
	free(l->items[i].value);
	memmove(&l->items[i], &l->items[i + 1], (l->n - (size_t)i - 1) * sizeof(l->items[0]));
	l->n--;
}

int kvlist_merge(struct kvlist *dst, const struct kvlist *src, bool icase)
{
	for (size_t i = 0; i < src->n; i++) {
		if (kvlist_set(dst, src->items[i].key, src->items[i].value, icase) != 0)
			return -1;
	}
	return 0;
}

long kvlist_pct_decode(const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '%') {
			if (in[i] == '\0')
				return -1;
			out[o++] = in[i];
			continue;
		}
		if (len - i < 3)
			return -1;
		uint8_t byte;
		if (ids_unhex(in + i + 1, 1, &byte) != 0 || byte == 0)
			return -1;
		out[o++] = (char)byte;
		i += 2;
	}
	out[o] = '\0';
	return (long)o;
}

static void kvlist_trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Decodes (or copies) s[0..n) into a fresh string; NULL on a bad escape (errno EINVAL) or ENOMEM. */
static char *kvlist_dup_decoded(const char *s, size_t n, bool decode)
{
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	if (!decode) {
		memcpy(out, s, n);
		out[n] = '\0';
		if (strlen(out) != n) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		return out;
	}
	if (kvlist_pct_decode(s, n, out) < 0) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	return out;
}

/* One "k=v" entry (already cut at ','); idx is 1-based for messages. */
static int kvlist_parse_entry(const char *p, size_t n, unsigned flags, unsigned idx, struct kvlist *out,
			      struct err *err)
{
	const char *eq = memchr(p, '=', n);
	if (eq == NULL)
		return err_set(err, EINVAL, "entry %u: missing '=' (want key=value)", idx);
	const char *ks = p, *vs = eq + 1;
	size_t kn = (size_t)(eq - p), vn = n - kn - 1;
	kvlist_trim(&ks, &kn);
	kvlist_trim(&vs, &vn);
	if (kn == 0)
		return err_set(err, EINVAL, "entry %u: empty key", idx);
	char *key = kvlist_dup_decoded(ks, kn, (flags & KVLIST_DECODE_KEYS) != 0);
	if (key == NULL)
		return err_set(err, errno == ENOMEM ? ENOMEM : EINVAL, "entry %u: bad percent-encoding in key", idx);
	int rc = -1;
	if (key[0] == '\0') {
		err_set(err, EINVAL, "entry %u: empty key", idx);
		goto out;
	}
	char *val = kvlist_dup_decoded(vs, vn, true);
	if (val == NULL) {
		/* The key is a name (header or attribute), never secret; the value may be. */
		err_set(err, EINVAL, "entry %u (key \"%.64s\"): bad percent-encoding in value", idx, key);
		goto out;
	}
	rc = kvlist_set(out, key, val, (flags & KVLIST_ICASE) != 0);
	if (rc != 0)
		err_set(err, ENOSPC, "entry %u: too many entries (max %d) or out of memory", idx, KVLIST_MAX);
	free(val);
out:
	free(key);
	return rc;
}

int kvlist_parse(const char *s, unsigned flags, struct kvlist *out, struct err *err)
{
	size_t len = strlen(s);
	if (len > KVLIST_INPUT_MAX)
		return err_set(err, E2BIG, "longer than %d bytes", KVLIST_INPUT_MAX);
	unsigned idx = 0;
	const char *p = s, *end = s + len;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		const char *e = p;
		size_t n = (size_t)(stop - p);
		idx++;
		kvlist_trim(&e, &n);
		if (n > 0 && kvlist_parse_entry(e, n, flags, idx, out, err) != 0)
			return -1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}
