/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guardrail rule engine (see guard.h): the three detectors, regex
 * scanning, merging the matches of several rules, redaction, and the
 * streaming hold-back.
 *
 * Why the streaming result equals the whole-text one: a detector's match
 * is made of one run of its own alphabet and depends on at most a few
 * bytes before it (where a run starts), so holding back the trailing run
 * that could still become a match (plus 4 bytes of context from what was
 * released) loses nothing; a regex rule's match is at most max_match
 * bytes, so holding back that many does the same. Matches that start in
 * the released part but reach into the held part are released whole
 * (their end cannot move any more: a longer match would pass the bound).
 */
#include "gateway/guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- names ------------------------------------------------------------------------------------ */

static const char *const kind_names[GUARD_KIND__COUNT] = {
    [GUARD_KIND_REGEX] = NULL,
    [GUARD_KIND_EMAIL] = "email",
    [GUARD_KIND_CARD] = "card",
    [GUARD_KIND_API_KEY] = "api_key",
};

const char *guard_kind_name(enum guard_kind k)
{
	return (unsigned)k < GUARD_KIND__COUNT ? kind_names[k] : NULL;
}

int guard_kind_parse(const char *s, enum guard_kind *out)
{
	for (int k = GUARD_KIND_EMAIL; k < GUARD_KIND__COUNT; k++)
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum guard_kind)k;
			return 0;
		}
	return -1;
}

/* ---- rules ------------------------------------------------------------------------------------ */

static void fp_add(EVP_MD_CTX *md, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	uint32_t len = (uint32_t)n;
	EVP_DigestUpdate(md, &len, sizeof(len));
	if (n > 0)
		EVP_DigestUpdate(md, s, n);
}

/* The fingerprint: a change in any of these changes what a cached answer may contain. */
static int fingerprint(struct guard_rule *r)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dn = 0;
	uint32_t nums[5] = {(uint32_t)r->kind, r->stages, (uint32_t)r->action, r->icase, (uint32_t)r->max_match};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	EVP_DigestUpdate(md, nums, sizeof(nums));
	fp_add(md, r->name);
	fp_add(md, r->pattern);
	fp_add(md, r->replacement);
	int ok = EVP_DigestFinal_ex(md, d, &dn) == 1 && dn >= sizeof(r->fp);
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	memcpy(r->fp, d, sizeof(r->fp));
	return 0;
}

static int compile(struct guard_rule *r, unsigned ncopies, struct err *err)
{
	int flags = REG_EXTENDED | (r->icase ? REG_ICASE : 0);
	regmatch_t m[1];
	if ((r->re = calloc(ncopies, sizeof(*r->re))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	for (unsigned i = 0; i < ncopies; i++) {
		int rc = regcomp(&r->re[i], r->pattern, flags);
		if (rc != 0) {
			char msg[160];
			regerror(rc, &r->re[i], msg, sizeof(msg));
			return err_set(err, EINVAL, "invalid regular expression: %s", msg);
		}
		r->ncopies = i + 1;
	}
	/* a pattern that matches nothing at all would match everywhere: refuse it */
	m[0].rm_so = 0;
	m[0].rm_eo = 0;
	if (regexec(&r->re[0], "", 1, m, REG_STARTEND) == 0)
		return err_set(err, EINVAL, "the pattern matches the empty string");
	return 0;
}

int guard_rule_init(struct guard_rule *r, unsigned ncopies, struct err *err)
{
	static const size_t fixed[GUARD_KIND__COUNT] = {[GUARD_KIND_EMAIL] = GUARD_EMAIL_MAX,
							[GUARD_KIND_CARD] = GUARD_CARD_MAX,
							[GUARD_KIND_API_KEY] = GUARD_KEY_MAX};
	if ((unsigned)r->kind >= GUARD_KIND__COUNT)
		return err_set(err, EINVAL, "unknown rule kind");
	if (r->replacement == NULL) {
		char dflt[GUARD_REPLACEMENT_MAX];
		const char *what = r->kind == GUARD_KIND_REGEX ? r->name : guard_kind_name(r->kind);
		snprintf(dflt, sizeof(dflt), "[REDACTED:%s]", what != NULL ? what : "");
		if ((r->replacement = strdup(dflt)) == NULL)
			return err_set(err, ENOMEM, "out of memory");
	}
	r->replacement_len = strlen(r->replacement);
	if (r->kind == GUARD_KIND_REGEX) {
		if (r->pattern == NULL)
			return err_set(err, EINVAL, "a regex rule needs a pattern");
		if (r->max_match == 0)
			r->max_match = GUARD_MAX_MATCH_DEFAULT;
		if (compile(r, ncopies > 0 ? ncopies : 1, err) < 0)
			return -1;
	} else {
		r->max_match = fixed[r->kind];
	}
	if (fingerprint(r) < 0)
		return err_set(err, ENOMEM, "cannot hash the rule");
	return 0;
}

void guard_rule_fini(struct guard_rule *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->ncopies; i++)
		regfree(&r->re[i]);
	free(r->re);
	free(r->name);
	free(r->pattern);
	free(r->replacement);
	memset(r, 0, sizeof(*r));
}

guard_mask guard_mask_stage(const struct guard_rule *rules, size_t n, guard_mask mask, unsigned stage)
{
	guard_mask out = 0;
	for (size_t i = 0; i < n && i < GUARD_RULES_MAX; i++)
		if ((mask & ((guard_mask)1 << i)) && (rules[i].stages & stage))
			out |= (guard_mask)1 << i;
	return out;
}

/* ---- the text a scan sees ------------------------------------------------------------------------ */

struct view {
	const char *t;
	size_t len;
	const char *before; /* context bytes right before t */
	size_t nb;
	bool bol;    /* t starts the whole text (^ may match there) */
	bool at_end; /* t ends the whole text ($ may match there) */
};

/* Byte i of the text, reaching back into the context for i < 0; -1 past it. */
static int byte_at(const struct view *v, long i)
{
	if (i >= 0)
		return (unsigned char)v->t[i];
	if ((size_t)(-i) <= v->nb)
		return (unsigned char)v->before[(long)v->nb + i];
	return -1;
}

static bool is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}
static bool is_local(int c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static bool is_dom(int c)
{
	return is_alnum(c) || c == '.' || c == '-';
}
static bool is_sep(int c)
{
	return c == ' ' || c == '-';
}
static bool is_key(int c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

/* ---- email -------------------------------------------------------------------------------------- */

/* At least two non-empty labels, the last of two or more letters. */
static bool domain_ok(const char *d, size_t n)
{
	size_t label = 0, last = 0, dots = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (label == 0)
				return false;
			dots++;
			label = 0;
			last = i + 1;
			continue;
		}
		label++;
	}
	if (dots == 0 || label < 2)
		return false;
	for (size_t i = last; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z')))
			return false;
	return true;
}

static bool email_next(const struct view *v, size_t pos, size_t *ms, size_t *me)
{
	const char *p = v->t + pos, *end = v->t + v->len;
	while (p < end && (p = memchr(p, '@', (size_t)(end - p))) != NULL) {
		size_t a = (size_t)(p - v->t), s = a;
		/* the local part: at most 64 bytes, never back into an earlier match */
		while (s > pos && a - s < 64 && is_local((unsigned char)v->t[s - 1]))
			s--;
		while (s < a && v->t[s] == '.')
			s++;
		if (s < a) {
			size_t d = a + 1, e = d;
			while (e < v->len && e - d < 253 && is_dom((unsigned char)v->t[e]))
				e++;
			while (e > d && (v->t[e - 1] == '.' || v->t[e - 1] == '-'))
				e--;
			if (domain_ok(v->t + d, e - d)) {
				*ms = s;
				*me = e;
				return true;
			}
		}
		p++;
	}
	return false;
}

/* The trailing run an e-mail in progress could be part of. */
static size_t email_hold(const struct view *v)
{
	size_t k = v->len;
	while (k > 0 && v->len - k < GUARD_EMAIL_MAX) {
		int c = (unsigned char)v->t[k - 1];
		if (!is_local(c) && c != '@')
			break;
		k--;
	}
	return v->len - k;
}

/* ---- card --------------------------------------------------------------------------------------- */

bool guard_luhn(const char *s, size_t n)
{
	unsigned sum = 0, nd = 0;
	for (size_t i = n; i > 0; i--) {
		int c = (unsigned char)s[i - 1];
		if (!is_digit(c))
			continue;
		unsigned d = (unsigned)(c - '0');
		if (nd++ % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return nd > 0 && sum % 10 == 0;
}

/* Does a run of digits start at i (no digit, nor digit + separator, right before it)? */
static bool card_start(const struct view *v, long i)
{
	int p1 = byte_at(v, i - 1), p2 = byte_at(v, i - 2);
	return is_digit(byte_at(v, i)) && !is_digit(p1) && !(is_sep(p1) && is_digit(p2));
}

/* End of the digit run starting at i (after its last digit); *nd gets its digits. */
static size_t card_run(const struct view *v, size_t i, size_t *nd)
{
	size_t e = i;
	*nd = 0;
	while (e < v->len) {
		int c = (unsigned char)v->t[e];
		if (is_digit(c)) {
			(*nd)++;
			e++;
		} else if (is_sep(c) && e + 1 < v->len && is_digit((unsigned char)v->t[e + 1])) {
			e++;
		} else {
			break;
		}
	}
	return e;
}

static bool card_next(const struct view *v, size_t pos, size_t *ms, size_t *me)
{
	size_t i = pos;
	while (i < v->len) {
		if (!is_digit((unsigned char)v->t[i])) {
			i++;
			continue;
		}
		size_t nd, e = card_run(v, i, &nd);
		if (card_start(v, (long)i) && nd >= 13 && nd <= 19 && guard_luhn(v->t + i, e - i)) {
			*ms = i;
			*me = e;
			return true;
		}
		i = e;
	}
	return false;
}

/* The trailing digit run (with a trailing separator) a card in progress could be. */
static size_t card_hold(const struct view *v)
{
	size_t k = v->len, nd = 0;
	if (k > 0 && is_sep((unsigned char)v->t[k - 1])) {
		if (k < 2 || !is_digit((unsigned char)v->t[k - 2]))
			return 0;
		k--;
	}
	while (k > 0) {
		int c = (unsigned char)v->t[k - 1];
		if (is_digit(c)) {
			nd++;
			k--;
		} else if (is_sep(c) && k >= 2 && is_digit((unsigned char)v->t[k - 2])) {
			k--;
		} else {
			break;
		}
		if (nd > 19)
			return 0; /* too long for a card, whatever follows */
	}
	if (k == v->len || !card_start(v, (long)k))
		return 0;
	return v->len - k;
}

/* ---- api_key ------------------------------------------------------------------------------------ */

static const struct {
	const char *prefix;
	size_t plen;
	size_t min_body;
} key_shapes[] = {
    {"sk-", 3, 20},   {"sk_live_", 8, 16}, {"sk_test_", 8, 16},	    {"rk_live_", 8, 16}, {"AKIA", 4, 16},
    {"ASIA", 4, 16},  {"AIza", 4, 30},	   {"ghp_", 4, 30},	    {"gho_", 4, 30},	 {"ghu_", 4, 30},
    {"ghs_", 4, 30},  {"ghr_", 4, 30},	   {"github_pat_", 11, 22}, {"glpat-", 6, 20},	 {"xoxb-", 5, 10},
    {"xoxp-", 5, 10}, {"xoxa-", 5, 10},	   {"xoxr-", 5, 10},	    {"xoxs-", 5, 10},	 {"hf_", 3, 30},
};
#define NSHAPES (sizeof(key_shapes) / sizeof(key_shapes[0]))

/* Could a run starting with c be a key? (the first letters of key_shapes: most words stop here) */
static bool key_first(int c)
{
	return c == 's' || c == 'r' || c == 'A' || c == 'g' || c == 'x' || c == 'h';
}

/* A whole run that is a key. */
static bool key_is(const char *s, size_t n)
{
	if (!key_first((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < NSHAPES; i++)
		if (n >= key_shapes[i].plen + key_shapes[i].min_body &&
		    memcmp(s, key_shapes[i].prefix, key_shapes[i].plen) == 0)
			return true;
	return false;
}

/* A run that may still grow into a key: a prefix of a shape's prefix, or starting with one. */
static bool key_may(const char *s, size_t n)
{
	for (size_t i = 0; i < NSHAPES; i++) {
		size_t m = n < key_shapes[i].plen ? n : key_shapes[i].plen;
		if (memcmp(s, key_shapes[i].prefix, m) == 0)
			return true;
	}
	return false;
}

static bool key_next(const struct view *v, size_t pos, size_t *ms, size_t *me)
{
	size_t i = pos;
	while (i < v->len) {
		if (!is_key((unsigned char)v->t[i])) {
			i++;
			continue;
		}
		bool start = !is_key(byte_at(v, (long)i - 1)) && key_first((unsigned char)v->t[i]);
		size_t j = i;
		while (j < v->len && is_key((unsigned char)v->t[j]))
			j++;
		if (start && j - i <= GUARD_KEY_MAX && key_is(v->t + i, j - i)) {
			*ms = i;
			*me = j;
			return true;
		}
		i = j;
	}
	return false;
}

static size_t key_hold(const struct view *v)
{
	size_t k = v->len;
	while (k > 0 && is_key((unsigned char)v->t[k - 1]))
		k--;
	size_t n = v->len - k;
	if (n == 0 || n > GUARD_KEY_MAX || is_key(byte_at(v, (long)k - 1)))
		return 0; /* nothing, too long, or the rest of a run released already */
	return key_may(v->t + k, n) ? n : 0;
}

/* ---- regex -------------------------------------------------------------------------------------- */

static bool regex_next(const struct guard_rule *r, unsigned slot, const struct view *v, size_t pos, size_t *ms,
		       size_t *me)
{
	const regex_t *re = &r->re[slot < r->ncopies ? slot : 0];
	size_t from = pos;
	while (from < v->len) {
		regmatch_t m[1];
		int fl = REG_STARTEND;
		m[0].rm_so = (regoff_t)from;
		m[0].rm_eo = (regoff_t)v->len;
		if (from > 0 || !v->bol)
			fl |= REG_NOTBOL;
		if (!v->at_end)
			fl |= REG_NOTEOL;
		if (regexec(re, v->t, 1, m, fl) != 0)
			return false;
		size_t s = (size_t)m[0].rm_so, e = (size_t)m[0].rm_eo;
		if (e > s) {
			/*
			 * Whole UTF-8 characters only: at most 3 bytes either way
			 * (so invalid input cannot stretch a match), never back
			 * before where this scan started.
			 */
			for (int k = 0; k < 3 && s > pos && ((unsigned char)v->t[s] & 0xc0) == 0x80; k++)
				s--;
			for (int k = 0; k < 3 && e < v->len && ((unsigned char)v->t[e] & 0xc0) == 0x80; k++)
				e++;
			*ms = s;
			*me = e;
			return true;
		}
		from = s + 1; /* an empty match: look further on */
	}
	return false;
}

static bool rule_next(const struct guard_rule *r, unsigned slot, const struct view *v, size_t pos, size_t *ms,
		      size_t *me)
{
	switch (r->kind) {
	case GUARD_KIND_EMAIL:
		return email_next(v, pos, ms, me);
	case GUARD_KIND_CARD:
		return card_next(v, pos, ms, me);
	case GUARD_KIND_API_KEY:
		return key_next(v, pos, ms, me);
	case GUARD_KIND_REGEX:
		return r->ncopies > 0 && regex_next(r, slot, v, pos, ms, me);
	default:
		return false;
	}
}

static size_t rule_hold(const struct guard_rule *r, const struct view *v)
{
	switch (r->kind) {
	case GUARD_KIND_EMAIL:
		return email_hold(v);
	case GUARD_KIND_CARD:
		return card_hold(v);
	case GUARD_KIND_API_KEY:
		return key_hold(v);
	default: /* the longest match, and the 3 bytes it may be widened by */
		return r->max_match + 3 < v->len ? r->max_match + 3 : v->len;
	}
}

/* ---- finding and merging ------------------------------------------------------------------------ */

void guard_scratch_fini(struct guard_scratch *s)
{
	free(s->v);
	free(s->all);
	memset(s, 0, sizeof(*s));
}

void guard_verdict_init(struct guard_verdict *v)
{
	v->fired = 0;
	v->deny_rule = -1;
	v->redacted = false;
}

static int push(struct guard_match **v, size_t *n, size_t *cap, const struct guard_match *m)
{
	if (*n == *cap) {
		size_t nc = *cap > 0 ? *cap * 2 : 16;
		struct guard_match *p = realloc(*v, nc * sizeof(*p));
		if (p == NULL)
			return -1;
		*v = p;
		*cap = nc;
	}
	(*v)[(*n)++] = *m;
	return 0;
}

static int match_cmp(const void *a, const void *b)
{
	const struct guard_match *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int find_view(const struct guard_ctx *c, struct guard_scratch *s, const struct view *v)
{
	s->n = s->nall = 0;
	for (size_t i = 0; i < c->n && i < GUARD_RULES_MAX; i++) {
		if (!(c->mask & ((guard_mask)1 << i)))
			continue;
		size_t pos = 0, ms, me;
		while (pos < v->len && rule_next(&c->rules[i], c->slot, v, pos, &ms, &me)) {
			struct guard_match m = {ms, me, (unsigned)i};
			if (push(&s->all, &s->nall, &s->capall, &m) < 0)
				return -1;
			pos = me > pos ? me : pos + 1;
		}
	}
	if (s->nall > 1)
		qsort(s->all, s->nall, sizeof(*s->all), match_cmp);
	size_t last = 0;
	for (size_t i = 0; i < s->nall; i++) {
		if (s->n > 0 && s->all[i].start < last)
			continue; /* overlaps a match that started first */
		if (push(&s->v, &s->n, &s->cap, &s->all[i]) < 0)
			return -1;
		last = s->all[i].end;
	}
	return 0;
}

int guard_find(const struct guard_ctx *c, struct guard_scratch *s, const char *text, size_t len, const char *before,
	       size_t nbefore, bool at_end)
{
	size_t nb = nbefore > 4 ? 4 : nbefore;
	const struct view v = {text, len, nb > 0 ? before + nbefore - nb : NULL, nb, nbefore == 0, at_end};
	return find_view(c, s, &v);
}

/*
 * Appends text[0..upto) with the first nm merged matches replaced to out.
 * A deny rule's match starting before upto wins over everything, also one
 * that a redaction overlapping it would have hidden: it is noted and
 * nothing is written. 0 or -1.
 */
static int emit(const struct guard_ctx *c, const struct guard_scratch *s, size_t nm, const char *text, size_t upto,
		struct buf *out, struct guard_verdict *v)
{
	size_t at = 0;
	for (size_t i = 0; i < s->nall && s->all[i].start < upto; i++) {
		if (c->rules[s->all[i].rule].action == GUARD_DENY) {
			v->fired |= (guard_mask)1 << s->all[i].rule;
			if (v->deny_rule < 0)
				v->deny_rule = (int)s->all[i].rule;
		}
	}
	for (size_t i = 0; i < nm; i++)
		v->fired |= (guard_mask)1 << s->v[i].rule;
	if (v->deny_rule >= 0)
		return 0;
	for (size_t i = 0; i < nm; i++) {
		const struct guard_match *m = &s->v[i];
		const struct guard_rule *r = &c->rules[m->rule];
		if (buf_append(out, text + at, m->start - at) < 0 ||
		    buf_append(out, r->replacement, r->replacement_len) < 0)
			return -1;
		at = m->end;
		v->redacted = true;
	}
	return buf_append(out, text + at, upto - at);
}

int guard_text(const struct guard_ctx *c, struct guard_scratch *s, const char *text, size_t len, struct buf *out,
	       struct guard_verdict *v)
{
	const struct view vw = {text, len, NULL, 0, true, true};
	if (c->mask == 0 || len == 0)
		return 0;
	if (find_view(c, s, &vw) < 0)
		return -1;
	if (s->n == 0)
		return 0;
	if (emit(c, s, s->n, text, len, out, v) < 0)
		return -1;
	return v->deny_rule >= 0 ? 0 : 1;
}

/* ---- streams ------------------------------------------------------------------------------------ */

void guard_hold_init(struct guard_hold *h)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->held, 0);
}

void guard_hold_fini(struct guard_hold *h)
{
	buf_fini(&h->held);
}

/* The point before which nothing can be part of a match still to come (a character boundary). */
static size_t release_point(const struct guard_ctx *c, const struct view *v)
{
	size_t hold = 0;
	for (size_t i = 0; i < c->n && i < GUARD_RULES_MAX; i++) {
		if (!(c->mask & ((guard_mask)1 << i)))
			continue;
		size_t h = rule_hold(&c->rules[i], v);
		if (h > hold)
			hold = h;
	}
	size_t p = v->len - hold;
	while (p > 0 && ((unsigned char)v->t[p] & 0xc0) == 0x80)
		p--;
	return p;
}

/* Remembers the last bytes released (the original text) as context for the next piece. */
static void keep_context(struct guard_hold *h, const char *t, size_t n)
{
	char tmp[sizeof(h->ctx)];
	size_t k = 0, cap = sizeof(h->ctx);
	size_t old = n >= cap ? 0 : (h->nctx < cap - n ? h->nctx : cap - n);
	for (size_t i = h->nctx - old; i < h->nctx; i++)
		tmp[k++] = h->ctx[cap - h->nctx + i];
	for (size_t i = n > cap ? n - cap : 0; i < n; i++)
		tmp[k++] = t[i];
	memcpy(h->ctx + cap - k, tmp, k);
	h->nctx = k;
}

int guard_stream_push(const struct guard_ctx *c, struct guard_scratch *s, struct guard_hold *h, const char *text,
		      size_t len, bool final, struct buf *out, struct guard_verdict *v)
{
	if (c->mask == 0)
		return buf_append(out, text, len);
	if (buf_append(&h->held, text, len) < 0)
		return -1;
	const char *t = h->held.data != NULL ? h->held.data : "";
	size_t n = h->held.len;
	const struct view vw = {t, n, h->ctx + sizeof(h->ctx) - h->nctx, h->nctx, !h->released, final};
	size_t p = final ? n : release_point(c, &vw);
	if (p == 0 && !final)
		return 0;
	if (find_view(c, s, &vw) < 0)
		return -1;
	size_t commit = p, nm = 0;
	for (; nm < s->n && s->v[nm].start < p; nm++)
		if (s->v[nm].end > commit)
			commit = s->v[nm].end; /* started before the point: its end is final */
	if (emit(c, s, nm, t, commit, out, v) < 0)
		return -1;
	if (v->deny_rule >= 0)
		return 0;
	if (commit > 0) {
		keep_context(h, t, commit);
		h->released = true;
	}
	memmove(h->held.data, t + commit, n - commit);
	h->held.len = n - commit;
	h->held.data[h->held.len] = '\0';
	return 0;
}
