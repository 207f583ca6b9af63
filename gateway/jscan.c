/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The validating pass follows jansson's lexer and parser rule for rule
 * (load.c of jansson 2.14; see jscan.h for the list) so that the two agree
 * on every input, and the walk that follows relies on that validation: it
 * only has to find where each value ends, never to check it again.
 *
 * The pass is iterative with an explicit stack of container kinds, one bit
 * per level, so the deepest input allowed costs 256 bytes of stack, not
 * 2048 frames.
 */
#include "gateway/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation ------------------------------------------------------------------------ */

struct jp {
	const char *s, *p, *end;
	struct jscan_err *e;
	unsigned depth;				     /* containers open */
	unsigned char kind[JSCAN_MAX_DEPTH / 8 + 1]; /* bit set: that level is an object */
};

static int jp_fail(struct jp *j, const char *at, const char *msg)
{
	if (j->e != NULL) {
		j->e->pos = (size_t)(at - j->s);
		snprintf(j->e->text, sizeof(j->e->text), "%s", msg);
	}
	return -1;
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits at p (p + 4 <= end checked by the caller), or -1. */
static int32_t hex4(const char *p)
{
	int32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* One multi-byte UTF-8 character at p; its length, or 0 if invalid (jansson's utf8_check_*). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], n;
	int32_t v;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		v = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) <= n)
		return 0;
	for (unsigned i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && v < 0x800) || (n == 3 && v < 0x10000) || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n + 1;
}

/* A \u escape at p (pointing at the 'u'): advances past it (and its pair). */
static int jp_uescape(struct jp *j, const char **pp)
{
	const char *p = *pp;
	if (j->end - p < 5 || hex4(p + 1) < 0)
		return jp_fail(j, p, "invalid escape");
	int32_t v = hex4(p + 1);
	p += 5;
	if (v >= 0xd800 && v <= 0xdbff) {
		if (j->end - p < 6 || p[0] != '\\' || p[1] != 'u')
			return jp_fail(j, p, "invalid Unicode escape (lone surrogate)");
		int32_t v2 = hex4(p + 2);
		if (v2 < 0)
			return jp_fail(j, p, "invalid escape");
		if (v2 < 0xdc00 || v2 > 0xdfff)
			return jp_fail(j, p, "invalid Unicode escape (bad surrogate pair)");
		p += 6;
	} else if (v >= 0xdc00 && v <= 0xdfff) {
		return jp_fail(j, p, "invalid Unicode escape (lone surrogate)");
	} else if (v == 0) {
		return jp_fail(j, p, "\\u0000 is not allowed");
	}
	*pp = p;
	return 0;
}

/* A string at j->p (the opening quote): checks it and advances past the closing one. */
static int jp_string(struct jp *j)
{
	const char *p = j->p + 1;
	for (;;) {
		/* the common case first: plain ASCII */
		while (p < j->end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\' && (unsigned char)*p < 0x80)
			p++;
		if (p >= j->end)
			return jp_fail(j, p, "premature end of input in a string");
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			j->p = p + 1;
			return 0;
		}
		if (c < 0x20)
			return jp_fail(j, p, "control character in a string");
		if (c == '\\') {
			if (p + 1 >= j->end)
				return jp_fail(j, p, "premature end of input in a string");
			char x = p[1];
			if (x == 'u') {
				p++;
				if (jp_uescape(j, &p) < 0)
					return -1;
			} else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' ||
				   x == 't') {
				p += 2;
			} else {
				return jp_fail(j, p, "invalid escape");
			}
			continue;
		}
		size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)j->end);
		if (n == 0)
			return jp_fail(j, p, "invalid UTF-8");
		p += n;
	}
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An integer that must fit int64, as strtoll would say (digits only, optional '-'). */
static bool int_fits(const char *p, size_t n)
{
	bool neg = *p == '-';
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (size_t i = neg ? 1 : 0; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return true;
}

/*
 * Does a real overflow a double (strtod says ERANGE with an infinity, which
 * jansson refuses)? Only when its decimal magnitude, integer digits plus
 * exponent, passes 307; strtod decides those few exactly.
 */
static bool real_fits(const char *p, size_t n, size_t int_digits, const char *exp)
{
	long long mag = (long long)int_digits;
	if (exp != NULL) {
		const char *q = exp + 1;
		bool neg = *q == '-';
		long long e = 0;
		if (*q == '+' || *q == '-')
			q++;
		for (; q < p + n && e < 1000000; q++)
			e = e * 10 + (*q - '0');
		mag += neg ? -e : e;
	}
	if (mag <= 307)
		return true;
	char small[64], *buf = n < sizeof(small) ? small : malloc(n + 1);
	if (buf == NULL)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	double d = strtod(buf, NULL);
	bool ok = !(errno == ERANGE && isinf(d));
	if (buf != small)
		free(buf);
	return ok;
}

/* A number at j->p; *type says integer or real. */
static int jp_number(struct jp *j, enum jscan_type *type)
{
	const char *p = j->p, *start = p, *exp = NULL, *digits;
	bool real = false;
	if (*p == '-')
		p++;
	digits = p;
	if (p < j->end && *p == '0') {
		p++;
		if (p < j->end && is_digit(*p))
			return jp_fail(j, start, "invalid number (leading zero)");
	} else if (p < j->end && is_digit(*p)) {
		while (p < j->end && is_digit(*p))
			p++;
	} else {
		return jp_fail(j, start, "invalid number");
	}
	if (p < j->end && *p == '.') {
		real = true;
		p++;
		if (p >= j->end || !is_digit(*p))
			return jp_fail(j, start, "invalid number");
		while (p < j->end && is_digit(*p))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		real = true;
		exp = p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || !is_digit(*p))
			return jp_fail(j, start, "invalid number");
		while (p < j->end && is_digit(*p))
			p++;
	}
	size_t n = (size_t)(p - start), int_digits = 0;
	while (digits + int_digits < p && is_digit(digits[int_digits]))
		int_digits++;
	if (!real && !int_fits(start, n))
		return jp_fail(j, start, *start == '-' ? "too big negative integer" : "too big integer");
	if (real && !real_fits(start, n, int_digits, exp))
		return jp_fail(j, start, "real number overflow");
	*type = real ? JSCAN_REAL : JSCAN_INTEGER;
	j->p = p;
	return 0;
}

/* true/false/null; jansson reads a whole run of letters as one word. */
static int jp_word(struct jp *j, enum jscan_type *type)
{
	const char *p = j->p;
	while (p < j->end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		p++;
	size_t n = (size_t)(p - j->p);
	if (n == 4 && memcmp(j->p, "true", 4) == 0)
		*type = JSCAN_TRUE;
	else if (n == 5 && memcmp(j->p, "false", 5) == 0)
		*type = JSCAN_FALSE;
	else if (n == 4 && memcmp(j->p, "null", 4) == 0)
		*type = JSCAN_NULL;
	else
		return jp_fail(j, j->p, "invalid token");
	j->p = p;
	return 0;
}

static void jp_push(struct jp *j, bool object)
{
	unsigned d = j->depth++;
	if (object)
		j->kind[d / 8] |= (unsigned char)(1u << (d % 8));
	else
		j->kind[d / 8] &= (unsigned char)~(1u << (d % 8));
}

static bool jp_top_is_object(const struct jp *j)
{
	unsigned d = j->depth - 1;
	return (j->kind[d / 8] >> (d % 8)) & 1u;
}

/*
 * A scalar, or the opening of a container (pushed: its members follow).
 * Returns 1 for an opened container, 0 for a complete scalar, -1 on error.
 */
static int jp_value(struct jp *j)
{
	enum jscan_type t;
	if (j->depth + 1 > JSCAN_MAX_DEPTH)
		return jp_fail(j, j->p, "maximum parsing depth reached");
	if (j->p >= j->end)
		return jp_fail(j, j->p, "premature end of input");
	switch (*j->p) {
	case '{':
	case '[':
		jp_push(j, *j->p == '{');
		j->p++;
		return 1;
	case '"':
		return jp_string(j);
	case 't':
	case 'f':
	case 'n':
		return jp_word(j, &t);
	default:
		if (*j->p == '-' || is_digit(*j->p))
			return jp_number(j, &t);
		return jp_fail(j, j->p, "invalid token");
	}
}

/* Inside an object, before a member: a key and its colon. */
static int jp_key(struct jp *j)
{
	jp_ws(j);
	if (j->p >= j->end || *j->p != '"')
		return jp_fail(j, j->p, "string or '}' expected");
	if (jp_string(j) < 0)
		return -1;
	jp_ws(j);
	if (j->p >= j->end || *j->p != ':')
		return jp_fail(j, j->p, "':' expected");
	j->p++;
	jp_ws(j);
	return 0;
}

/* After a value inside a container: ',' (another member follows) or the close (pops). */
static int jp_after(struct jp *j, bool *more)
{
	jp_ws(j);
	bool obj = jp_top_is_object(j);
	if (j->p < j->end && *j->p == ',') {
		j->p++;
		*more = true;
		return obj ? jp_key(j) : (jp_ws(j), 0);
	}
	if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
		j->p++;
		j->depth--;
		*more = false;
		return 0;
	}
	return jp_fail(j, j->p, obj ? "'}' or ',' expected" : "']' or ',' expected");
}

/* Just after an opening bracket: empty, or the first member. Returns 1 if a value follows. */
static int jp_open(struct jp *j)
{
	jp_ws(j);
	bool obj = jp_top_is_object(j);
	if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
		j->p++;
		j->depth--;
		return 0;
	}
	if (obj && jp_key(j) < 0)
		return -1;
	return 1;
}

int jscan_parse(const char *s, size_t len, struct jscan_val *root, struct jscan_err *e)
{
	struct jp j = {.s = s, .p = s, .end = s + len, .e = e, .depth = 0};
	memset(root, 0, sizeof(*root));
	if (s == NULL)
		return jp_fail(&j, s, "no input");
	jp_ws(&j);
	if (j.p >= j.end || (*j.p != '{' && *j.p != '['))
		return jp_fail(&j, j.p, "'[' or '{' expected");
	const char *start = j.p;
	root->type = *j.p == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
	int rc = jp_value(&j); /* opens the top container */
	while (rc >= 0 && j.depth > 0) {
		if (rc == 1) { /* a container was just opened */
			rc = jp_open(&j);
			if (rc == 1)
				rc = jp_value(&j);
			continue;
		}
		bool more = false; /* a value ended: what follows it in its container */
		rc = jp_after(&j, &more);
		if (rc == 0 && more)
			rc = jp_value(&j);
	}
	if (rc < 0)
		return -1;
	root->p = start;
	root->len = (size_t)(j.p - start);
	jp_ws(&j);
	if (j.p != j.end)
		return jp_fail(&j, j.p, "end of file expected");
	return 0;
}

/* ---- walking validated text --------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string whose opening quote is at p. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

/* Reads the value at p into v; returns the byte after it. */
static const char *take_value(const char *p, const char *end, struct jscan_val *v)
{
	const char *start = p;
	switch (*p) {
	case '"':
		v->type = JSCAN_STRING;
		p = skip_string(p, end);
		break;
	case '{':
	case '[': {
		v->type = *p == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
		size_t depth = 0;
		for (; p < end; p++) {
			if (*p == '"') {
				p = skip_string(p, end) - 1;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0) {
					p++;
					break;
				}
			}
		}
		break;
	}
	case 't':
		v->type = JSCAN_TRUE;
		p += 4;
		break;
	case 'f':
		v->type = JSCAN_FALSE;
		p += 5;
		break;
	case 'n':
		v->type = JSCAN_NULL;
		p += 4;
		break;
	default:
		v->type = JSCAN_INTEGER;
		while (p < end && (is_digit(*p) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) {
			if (*p == '.' || *p == 'e' || *p == 'E')
				v->type = JSCAN_REAL;
			p++;
		}
		break;
	}
	v->p = start;
	v->len = (size_t)(p - start);
	return p;
}

void jscan_iter_init(struct jscan_iter *it, const struct jscan_val *c)
{
	it->object = c->type == JSCAN_OBJECT;
	if (c->type != JSCAN_OBJECT && c->type != JSCAN_ARRAY) {
		it->p = it->end = NULL;
		return;
	}
	it->p = c->p + 1;
	it->end = c->p + c->len - 1; /* the closing bracket */
}

bool jscan_next(struct jscan_iter *it, struct jscan_val *key, struct jscan_val *val)
{
	if (it->p == NULL)
		return false;
	const char *p = skip_ws(it->p, it->end);
	if (p < it->end && *p == ',')
		p = skip_ws(p + 1, it->end);
	if (p >= it->end) {
		it->p = it->end;
		return false;
	}
	if (it->object) {
		struct jscan_val k;
		p = take_value(p, it->end, &k);
		if (key != NULL)
			*key = k;
		p = skip_ws(p, it->end) + 1; /* the colon */
		p = skip_ws(p, it->end);
	} else if (key != NULL) {
		memset(key, 0, sizeof(*key));
	}
	it->p = take_value(p, it->end, val);
	return true;
}

/* Does string key (a validated JSON string) unescape to want? */
static bool key_eq(const struct jscan_val *key, const char *want, size_t wlen)
{
	const char *s = key->p + 1;
	size_t n = key->len - 2;
	if (memchr(s, '\\', n) == NULL)
		return n == wlen && memcmp(s, want, wlen) == 0;
	char buf[128];
	if (wlen >= sizeof(buf))
		return false;
	size_t full = jscan_str(key, buf, sizeof(buf));
	return full == wlen && memcmp(buf, want, wlen) == 0;
}

bool jscan_key_is(const struct jscan_val *key, const char *want)
{
	return key != NULL && key->type == JSCAN_STRING && key_eq(key, want, strlen(want));
}

bool jscan_get(const struct jscan_val *obj, const char *key, struct jscan_val *out)
{
	struct jscan_iter it;
	struct jscan_val k, v;
	size_t wlen = strlen(key);
	bool found = false;
	memset(out, 0, sizeof(*out));
	if (obj == NULL || obj->type != JSCAN_OBJECT)
		return false;
	jscan_iter_init(&it, obj);
	while (jscan_next(&it, &k, &v)) {
		if (key_eq(&k, key, wlen)) {
			*out = v; /* keep going: the last occurrence wins */
			found = true;
		}
	}
	return found;
}

bool jscan_index(const struct jscan_val *arr, size_t i, struct jscan_val *out)
{
	struct jscan_iter it;
	memset(out, 0, sizeof(*out));
	if (arr == NULL || arr->type != JSCAN_ARRAY)
		return false;
	jscan_iter_init(&it, arr);
	for (size_t n = 0; jscan_next(&it, NULL, out); n++)
		if (n == i)
			return true;
	memset(out, 0, sizeof(*out));
	return false;
}

size_t jscan_count(const struct jscan_val *v)
{
	struct jscan_iter it;
	struct jscan_val x;
	size_t n = 0;
	if (v == NULL || (v->type != JSCAN_OBJECT && v->type != JSCAN_ARRAY))
		return 0;
	jscan_iter_init(&it, v);
	while (jscan_next(&it, NULL, &x))
		n++;
	return n;
}

/* UTF-8 encoding of code point c into out (4 bytes of room); its length. */
static size_t utf8_put(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The next unescaped character of a validated string at *pp; its bytes in out. */
static size_t str_char(const char **pp, char out[4])
{
	const char *p = *pp;
	if (*p != '\\') {
		*pp = p + 1;
		out[0] = *p;
		return 1;
	}
	char x = p[1];
	*pp = p + 2;
	switch (x) {
	case 'b':
		out[0] = '\b';
		return 1;
	case 'f':
		out[0] = '\f';
		return 1;
	case 'n':
		out[0] = '\n';
		return 1;
	case 'r':
		out[0] = '\r';
		return 1;
	case 't':
		out[0] = '\t';
		return 1;
	case 'u': {
		uint32_t c = (uint32_t)hex4(p + 2);
		*pp = p + 6;
		if (c >= 0xd800 && c <= 0xdbff) { /* validated: a low surrogate follows */
			c = ((c - 0xd800) << 10) + ((uint32_t)hex4(p + 8) - 0xdc00) + 0x10000;
			*pp = p + 12;
		}
		return utf8_put(c, out);
	}
	default: /* " \ / */
		out[0] = x;
		return 1;
	}
}

size_t jscan_str(const struct jscan_val *v, char *dst, size_t cap)
{
	size_t full = 0, used = 0;
	bool cut = false;
	if (cap == 0)
		return 0;
	dst[0] = '\0';
	if (v == NULL || v->type != JSCAN_STRING)
		return 0;
	const char *p = v->p + 1, *end = v->p + v->len - 1;
	while (p < end) {
		char ch[4];
		size_t n = str_char(&p, ch);
		/* a raw multi-byte character arrives one byte at a time: copy its whole run at once */
		if (n == 1 && ((unsigned char)ch[0] & 0xc0) == 0xc0) {
			size_t more = ((unsigned char)ch[0] >= 0xf0) ? 3 : ((unsigned char)ch[0] >= 0xe0) ? 2 : 1;
			memcpy(ch + 1, p, more);
			p += more;
			n += more;
		}
		if (!cut && used + n < cap) {
			memcpy(dst + used, ch, n);
			used += n;
		} else {
			cut = true;
		}
		full += n;
	}
	dst[used] = '\0';
	return full;
}

bool jscan_int(const struct jscan_val *v, int64_t *out)
{
	if (v == NULL || v->type != JSCAN_INTEGER)
		return false;
	const char *p = v->p;
	bool neg = *p == '-';
	uint64_t x = 0;
	for (size_t i = neg ? 1 : 0; i < v->len; i++)
		x = x * 10 + (uint64_t)(p[i] - '0'); /* validated: fits int64 */
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}
