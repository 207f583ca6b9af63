/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardrails on OpenAI JSON (see guard_json.h). Each shape is visited
 * twice by the same rules of the road: once over the scanned bytes (jscan)
 * to decide, and only when something is redacted once more over the
 * jansson tree to rewrite, so a request or answer that matches nothing
 * never builds a tree.
 */
#include "gateway/guard_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/jscan.h"

#define GJ_TEXT_MAX ((size_t)64 << 20)
#define GJ_STR_MAX 128 /* id, object, model kept for synthesized chunks */

/* ---- the scanning pass ------------------------------------------------------------------------- */

struct scan {
	const struct guard_ctx *c;
	struct guard_scratch *s;
	struct guard_verdict *v;
	struct buf text; /* one unescaped string */
	struct buf sink; /* redactions of the scanning pass (discarded) */
	bool matched;
};

/*
 * String v unescaped into dst (room for v->len bytes), NUL-terminated (the
 * rule engine wants that); its length. Most strings have no escape at all:
 * those are copied as they are.
 */
static size_t unescape_into(const struct jscan_val *v, char *dst)
{
	if (memchr(v->p, '\\', v->len) == NULL) {
		memcpy(dst, v->p + 1, v->len - 2);
		dst[v->len - 2] = '\0';
		return v->len - 2;
	}
	return jscan_str(v, dst, v->len);
}

/* Runs the rules over one JSON string; -1 on ENOMEM. */
static int scan_str(struct scan *sc, const struct jscan_val *str)
{
	if (str->type != JSCAN_STRING || str->len <= 2)
		return 0;
	buf_reset(&sc->text);
	if (buf_reserve(&sc->text, str->len) < 0)
		return -1;
	size_t n = unescape_into(str, sc->text.data);
	buf_reset(&sc->sink);
	int rc = guard_text(sc->c, sc->s, sc->text.data, n, &sc->sink, sc->v);
	if (rc < 0)
		return -1;
	sc->matched |= rc > 0 || sc->v->deny_rule >= 0;
	return 0;
}

/* A message content or an answer's message content: a string, or parts of type "text". */
static int scan_content(struct scan *sc, const struct jscan_val *content)
{
	struct jscan_iter it;
	struct jscan_val part, type, text;
	if (content->type == JSCAN_STRING)
		return scan_str(sc, content);
	if (content->type != JSCAN_ARRAY)
		return 0;
	jscan_iter_init(&it, content);
	while (jscan_next(&it, NULL, &part))
		if (jscan_get(&part, "type", &type) && type.type == JSCAN_STRING && type.len == 6 &&
		    memcmp(type.p, "\"text\"", 6) == 0 && jscan_get(&part, "text", &text) && scan_str(sc, &text) < 0)
			return -1;
	return 0;
}

/* A string or an array of strings (prompt, input). */
static int scan_strings(struct scan *sc, const struct jscan_val *v)
{
	struct jscan_iter it;
	struct jscan_val el;
	if (v->type == JSCAN_STRING)
		return scan_str(sc, v);
	if (v->type != JSCAN_ARRAY)
		return 0;
	jscan_iter_init(&it, v);
	while (jscan_next(&it, NULL, &el))
		if (scan_str(sc, &el) < 0)
			return -1;
	return 0;
}

static int scan_request(struct scan *sc, enum guard_json_op op, const struct jscan_val *root)
{
	struct jscan_iter it;
	struct jscan_val x, msg, content;
	switch (op) {
	case GUARD_JSON_COMPLETIONS:
		return jscan_get(root, "prompt", &x) ? scan_strings(sc, &x) : 0;
	case GUARD_JSON_EMBEDDINGS:
		return jscan_get(root, "input", &x) ? scan_strings(sc, &x) : 0;
	case GUARD_JSON_CHAT:
	default:
		break;
	}
	if (!jscan_get(root, "messages", &x) || x.type != JSCAN_ARRAY)
		return 0;
	jscan_iter_init(&it, &x);
	while (jscan_next(&it, NULL, &msg))
		if (jscan_get(&msg, "content", &content) && scan_content(sc, &content) < 0)
			return -1;
	return 0;
}

static int scan_response(struct scan *sc, const struct jscan_val *root)
{
	struct jscan_iter it;
	struct jscan_val choices, ch, msg, x;
	if (!jscan_get(root, "choices", &choices) || choices.type != JSCAN_ARRAY)
		return 0;
	jscan_iter_init(&it, &choices);
	while (jscan_next(&it, NULL, &ch)) {
		if (jscan_get(&ch, "message", &msg) && jscan_get(&msg, "content", &x) && scan_content(sc, &x) < 0)
			return -1;
		if (jscan_get(&ch, "text", &x) && scan_str(sc, &x) < 0)
			return -1;
	}
	return 0;
}

/* ---- the rewriting pass ------------------------------------------------------------------------- */

struct rewrite {
	const struct guard_ctx *c;
	struct guard_scratch *s;
	struct guard_verdict *v;
	struct buf out; /* one redacted string */
	bool changed;	/* the string just visited was redacted */
};

/* The redacted value of string str, or NULL when it stays (or on ENOMEM: *fail). */
static json_t *redact_value(struct rewrite *rw, const json_t *str, bool *fail)
{
	rw->changed = false;
	if (!json_is_string(str))
		return NULL;
	buf_reset(&rw->out);
	int rc = guard_text(rw->c, rw->s, json_string_value(str), json_string_length(str), &rw->out, rw->v);
	if (rc < 0) {
		*fail = true;
		return NULL;
	}
	if (rc == 0)
		return NULL;
	json_t *n = json_stringn(rw->out.data != NULL ? rw->out.data : "", rw->out.len);
	if (n == NULL)
		*fail = true;
	rw->changed = n != NULL;
	return n;
}

static void redact_member(struct rewrite *rw, json_t *obj, const char *key, bool *fail)
{
	json_t *n = redact_value(rw, json_object_get(obj, key), fail);
	if (n != NULL && json_object_set_new(obj, key, n) < 0)
		*fail = true;
}

static void redact_element(struct rewrite *rw, json_t *arr, size_t i, bool *fail)
{
	json_t *n = redact_value(rw, json_array_get(arr, i), fail);
	if (n != NULL && json_array_set_new(arr, i, n) < 0)
		*fail = true;
}

/* Content as a string or text parts; true when something in it was redacted. */
static bool redact_content(struct rewrite *rw, json_t *holder, bool *fail)
{
	json_t *content = json_object_get(holder, "content"), *part;
	size_t i;
	bool any = false;
	if (json_is_string(content)) {
		redact_member(rw, holder, "content", fail);
		return rw->changed;
	}
	json_array_foreach(content, i, part)
	{
		const char *type = json_string_value(json_object_get(part, "type"));
		if (type != NULL && strcmp(type, "text") == 0) {
			redact_member(rw, part, "text", fail);
			any |= rw->changed;
		}
	}
	return any;
}

static void redact_strings(struct rewrite *rw, json_t *holder, const char *key, bool *fail)
{
	json_t *v = json_object_get(holder, key);
	size_t i;
	if (json_is_string(v)) {
		redact_member(rw, holder, key, fail);
		return;
	}
	for (i = 0; json_is_array(v) && i < json_array_size(v); i++)
		redact_element(rw, v, i, fail);
}

static void rewrite_request(struct rewrite *rw, enum guard_json_op op, json_t *root, bool *fail)
{
	json_t *msg;
	size_t i;
	if (op == GUARD_JSON_COMPLETIONS) {
		redact_strings(rw, root, "prompt", fail);
		return;
	}
	if (op == GUARD_JSON_EMBEDDINGS) {
		redact_strings(rw, root, "input", fail);
		return;
	}
	json_array_foreach(json_object_get(root, "messages"), i, msg)
	{
		if (json_is_object(msg))
			redact_content(rw, msg, fail);
	}
}

static void rewrite_response(struct rewrite *rw, json_t *root, bool *fail)
{
	json_t *ch;
	size_t i;
	json_array_foreach(json_object_get(root, "choices"), i, ch)
	{
		bool any = false;
		json_t *msg = json_object_get(ch, "message");
		if (json_is_object(msg))
			any |= redact_content(rw, msg, fail);
		if (json_is_string(json_object_get(ch, "text"))) {
			redact_member(rw, ch, "text", fail);
			any |= rw->changed;
		}
		/* the log probabilities spell the text out token by token */
		if (any && json_object_get(ch, "logprobs") != NULL &&
		    json_object_set_new(ch, "logprobs", json_null()) < 0)
			*fail = true;
	}
}

static int dump_to(const json_t *root, struct buf *out)
{
	char *s = json_dumps(root, JSON_COMPACT);
	if (s == NULL)
		return -1;
	int rc = buf_puts(out, s);
	free(s);
	return rc;
}

/* Scan; when only redactions matched, rewrite. */
static int guard_doc(const struct guard_ctx *c, struct guard_scratch *s, int op, const char *body, size_t len,
		     struct buf *out, struct guard_verdict *v)
{
	struct jscan_val root;
	struct scan sc = {c, s, v, {0}, {0}, false};
	int rc = GUARD_JSON_PASS;
	if (c->mask == 0 || jscan_parse(body, len, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
		return GUARD_JSON_PASS;
	buf_init(&sc.text, GJ_TEXT_MAX);
	buf_init(&sc.sink, GJ_TEXT_MAX);
	if ((op < 0 ? scan_response(&sc, &root) : scan_request(&sc, (enum guard_json_op)op, &root)) < 0)
		rc = -1;
	else if (v->deny_rule >= 0)
		rc = GUARD_JSON_DENIED;
	buf_fini(&sc.text);
	buf_fini(&sc.sink);
	if (rc != GUARD_JSON_PASS || !sc.matched)
		return rc;

	struct rewrite rw = {c, s, v, {0}, false};
	bool fail = false;
	json_t *doc = json_loadb(body, len, 0, NULL);
	if (doc == NULL)
		return -1;
	buf_init(&rw.out, GJ_TEXT_MAX);
	if (op < 0)
		rewrite_response(&rw, doc, &fail);
	else
		rewrite_request(&rw, (enum guard_json_op)op, doc, &fail);
	rc = fail || dump_to(doc, out) < 0 ? -1 : GUARD_JSON_REDACTED;
	buf_fini(&rw.out);
	json_decref(doc);
	return rc;
}

int guard_json_request(const struct guard_ctx *c, struct guard_scratch *s, enum guard_json_op op, const char *body,
		       size_t len, struct buf *out, struct guard_verdict *v)
{
	return guard_doc(c, s, (int)op, body, len, out, v);
}

int guard_json_response(const struct guard_ctx *c, struct guard_scratch *s, const char *body, size_t len,
			struct buf *out, struct guard_verdict *v)
{
	return guard_doc(c, s, -1, body, len, out, v);
}

/* ---- streams ---------------------------------------------------------------------------------------- */

struct guard_sse {
	struct guard_ctx c;
	struct guard_scratch s;
	struct guard_hold *holds; /* [nholds], by choice index */
	size_t nholds;
	bool *legacy; /* [nholds]: the choice streams "text" (completions) */
	struct buf text, rel;
	/* what synthesized chunks repeat, from the first chunk that had them */
	char id[GJ_STR_MAX], object[GJ_STR_MAX], model[GJ_STR_MAX];
	int64_t created;
	bool have_created;
};

struct guard_sse *guard_sse_new(const struct guard_ctx *c)
{
	struct guard_sse *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->c = *c;
	buf_init(&g->text, GJ_TEXT_MAX);
	buf_init(&g->rel, GJ_TEXT_MAX);
	return g;
}

void guard_sse_free(struct guard_sse *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nholds; i++)
		guard_hold_fini(&g->holds[i]);
	free(g->holds);
	free(g->legacy);
	guard_scratch_fini(&g->s);
	buf_fini(&g->text);
	buf_fini(&g->rel);
	free(g);
}

static struct guard_hold *hold_for(struct guard_sse *g, size_t idx, bool legacy)
{
	if (idx >= GUARD_SSE_CHOICES)
		return NULL;
	if (idx >= g->nholds) {
		size_t n = idx + 1;
		struct guard_hold *h = realloc(g->holds, n * sizeof(*h));
		if (h == NULL)
			return NULL;
		g->holds = h;
		bool *l = realloc(g->legacy, n * sizeof(*l));
		if (l == NULL)
			return NULL;
		g->legacy = l;
		for (size_t i = g->nholds; i < n; i++) {
			guard_hold_init(&g->holds[i]);
			g->legacy[i] = false;
		}
		g->nholds = n;
	}
	g->legacy[idx] |= legacy;
	return &g->holds[idx];
}

static void remember(char *dst, const struct jscan_val *v)
{
	if (dst[0] == '\0' && v->type == JSCAN_STRING)
		jscan_str(v, dst, GJ_STR_MAX);
}

static void remember_ids(struct guard_sse *g, const struct jscan_val *root)
{
	struct jscan_val x;
	int64_t n;
	if (jscan_get(root, "id", &x))
		remember(g->id, &x);
	if (jscan_get(root, "object", &x))
		remember(g->object, &x);
	if (jscan_get(root, "model", &x))
		remember(g->model, &x);
	if (!g->have_created && jscan_get(root, "created", &x) && jscan_int(&x, &n)) {
		g->created = n;
		g->have_created = true;
	}
}

/* One choice of a chunk: what it releases now, and whether the chunk must change for it. */
struct choice_out {
	size_t idx, pos;	  /* choice index; position in "choices" */
	size_t off, len;	  /* its released text in g->rel */
	struct jscan_val cval;	  /* where its text was in the chunk (a string or null), JSCAN_NONE: nowhere */
	struct jscan_val lp;	  /* its logprobs when not null */
	bool change, text_change; /* the chunk changes for it; its text does */
};

#define CHUNK_CHOICES_MAX GUARD_SSE_CHOICES

/* The text of choice ch through its hold; -1 ENOMEM/bad index, 1 deny. */
static int push_choice(struct guard_sse *g, const struct jscan_val *ch, size_t pos, struct choice_out *co,
		       struct guard_verdict *v)
{
	struct jscan_val ix, delta, text, fin, lp;
	int64_t n;
	bool legacy = jscan_get(ch, "text", &text);
	if (!legacy && (!jscan_get(ch, "delta", &delta) || !jscan_get(&delta, "content", &text)))
		text.type = JSCAN_NONE;
	co->pos = pos;
	co->cval = text;
	if (text.type != JSCAN_STRING && text.type != JSCAN_NULL)
		co->cval.type = JSCAN_NONE;
	co->idx = jscan_get(ch, "index", &ix) && jscan_int(&ix, &n) && n >= 0 ? (size_t)n : pos;
	struct guard_hold *h = hold_for(g, co->idx, legacy);
	if (h == NULL)
		return -1;
	buf_reset(&g->text);
	if (text.type == JSCAN_STRING) {
		if (buf_reserve(&g->text, text.len) < 0)
			return -1;
		g->text.len = unescape_into(&text, g->text.data);
	}
	bool final = jscan_get(ch, "finish_reason", &fin) && fin.type == JSCAN_STRING && fin.len > 2;
	co->off = g->rel.len;
	if (guard_stream_push(&g->c, &g->s, h, g->text.data != NULL ? g->text.data : "", g->text.len, final, &g->rel,
			      v) < 0)
		return -1;
	if (v->deny_rule >= 0)
		return 1;
	co->len = g->rel.len - co->off;
	if (!jscan_get(ch, "logprobs", &lp) || lp.type == JSCAN_NULL)
		lp.type = JSCAN_NONE;
	co->lp = lp;
	co->text_change =
	    co->len != g->text.len || (co->len > 0 && memcmp(g->rel.data + co->off, g->text.data, co->len) != 0);
	co->change = co->text_change || lp.type != JSCAN_NONE;
	return 0;
}

/* One byte range of the chunk replaced: a choice's text by its released text, or its logprobs by null. */
struct splice {
	const char *at;
	size_t len;
	const struct choice_out *co; /* NULL: write null */
};

static int splice_cmp(const void *a, const void *b)
{
	const struct splice *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* s[0..n) as a JSON string (quotes included): the released text is valid UTF-8, written as is. */
static int put_json_string(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;
	if (buf_append(out, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		char e[6] = {'\\', (char)c, 0, 0, 0, 0};
		size_t en = 2;
		if (c < 0x20) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			en = 6;
		}
		if (buf_append(out, s + run, i - run) < 0 || buf_append(out, e, en) < 0)
			return -1;
		run = i + 1;
	}
	return buf_append(out, s + run, n - run) < 0 || buf_append(out, "\"", 1) < 0 ? -1 : 0;
}

/*
 * The chunk with its changed values spliced in place, every other byte as
 * it came: no JSON round trip for the common case. 1 when a text must be
 * added where the chunk had none (rewrite_chunk does that), else 0 or -1.
 */
static int splice_chunk(const struct guard_sse *g, const char *data, size_t len, const struct choice_out *co,
			size_t nco, struct buf *out)
{
	struct splice sp[2 * CHUNK_CHOICES_MAX];
	size_t nsp = 0, at = 0, mark = out->len;
	for (size_t i = 0; i < nco; i++) {
		if (co[i].text_change && co[i].cval.type == JSCAN_NONE)
			return 1;
		if (co[i].text_change)
			sp[nsp++] = (struct splice){co[i].cval.p, co[i].cval.len, &co[i]};
		if (co[i].lp.type != JSCAN_NONE)
			sp[nsp++] = (struct splice){co[i].lp.p, co[i].lp.len, NULL};
	}
	if (nsp > 1)
		qsort(sp, nsp, sizeof(sp[0]), splice_cmp);
	if (buf_append(out, "data: ", 6) < 0)
		return -1;
	for (size_t i = 0; i < nsp; i++) {
		size_t off = (size_t)(sp[i].at - data);
		const char *rel = g->rel.data != NULL ? g->rel.data : "";
		if (buf_append(out, data + at, off - at) < 0 ||
		    (sp[i].co != NULL ? put_json_string(out, rel + sp[i].co->off, sp[i].co->len)
				      : buf_append(out, "null", 4)) < 0)
			goto fail;
		at = off + sp[i].len;
	}
	if (buf_append(out, data + at, len - at) < 0 || buf_append(out, "\n\n", 2) < 0)
		goto fail;
	return 0;
fail:
	out->len = mark;
	return -1;
}

/* Puts the released texts into the chunk and appends the event to out. */
static int rewrite_chunk(struct guard_sse *g, const char *data, size_t len, const struct choice_out *co, size_t nco,
			 struct buf *out)
{
	json_t *doc = json_loadb(data, len, 0, NULL), *ch;
	json_t *choices = json_object_get(doc, "choices");
	int rc = -1;
	if (doc == NULL)
		return -1;
	for (size_t i = 0; i < nco; i++) {
		ch = json_array_get(choices, co[i].pos);
		if (!json_is_object(ch))
			continue;
		json_t *s = json_stringn(g->rel.data != NULL ? g->rel.data + co[i].off : "", co[i].len);
		json_t *holder = g->legacy[co[i].idx] ? ch : json_object_get(ch, "delta");
		const char *key = g->legacy[co[i].idx] ? "text" : "content";
		if (s == NULL)
			goto out;
		if (!json_is_object(holder) || (co[i].len == 0 && json_object_get(holder, key) == NULL)) {
			json_decref(s); /* nothing to say where there was nothing */
		} else if (json_object_set_new(holder, key, s) < 0) {
			goto out;
		}
		if (json_object_get(ch, "logprobs") != NULL && json_object_set_new(ch, "logprobs", json_null()) < 0)
			goto out;
	}
	rc = buf_append(out, "data: ", 6) < 0 || dump_to(doc, out) < 0 || buf_append(out, "\n\n", 2) < 0 ? -1 : 0;
out:
	json_decref(doc);
	return rc;
}

int guard_sse_chunk(struct guard_sse *g, const char *data, size_t len, struct buf *out, struct guard_verdict *v)
{
	struct jscan_val root, choices, ch;
	struct jscan_iter it;
	struct choice_out co[CHUNK_CHOICES_MAX];
	size_t nco = 0;
	bool change = false;
	if (jscan_parse(data, len, &root, NULL) != 0 || root.type != JSCAN_OBJECT)
		return GUARD_JSON_PASS;
	remember_ids(g, &root);
	if (!jscan_get(&root, "choices", &choices) || choices.type != JSCAN_ARRAY)
		return GUARD_JSON_PASS;
	buf_reset(&g->rel);
	jscan_iter_init(&it, &choices);
	for (size_t pos = 0; jscan_next(&it, NULL, &ch); pos++) {
		if (ch.type != JSCAN_OBJECT)
			continue;
		if (nco == CHUNK_CHOICES_MAX)
			return -1;
		int rc = push_choice(g, &ch, pos, &co[nco], v);
		if (rc != 0)
			return rc < 0 ? -1 : GUARD_JSON_DENIED;
		change |= co[nco++].change;
	}
	if (!change)
		return GUARD_JSON_PASS;
	int rc = splice_chunk(g, data, len, co, nco, out);
	if (rc == 1)
		rc = rewrite_chunk(g, data, len, co, nco, out);
	return rc < 0 ? -1 : GUARD_JSON_REDACTED;
}

/* One synthesized chunk carrying choice idx's last text. */
static int flush_chunk(struct guard_sse *g, size_t idx, const char *t, size_t n, struct buf *out)
{
	json_t *s = json_stringn(t, n), *choice, *chunk;
	int rc = -1;
	if (s == NULL)
		return -1;
	if (g->legacy[idx])
		choice =
		    json_pack("{s:I, s:o, s:n, s:n}", "index", (json_int_t)idx, "text", s, "logprobs", "finish_reason");
	else
		choice = json_pack("{s:I, s:{s:o}, s:n, s:n}", "index", (json_int_t)idx, "delta", "content", s,
				   "logprobs", "finish_reason");
	chunk =
	    json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", g->id, "object",
		      g->object[0] != '\0' ? g->object : (g->legacy[idx] ? "text_completion" : "chat.completion.chunk"),
		      "created", (json_int_t)g->created, "model", g->model, "choices", choice);
	if (chunk != NULL)
		rc = buf_append(out, "data: ", 6) < 0 || dump_to(chunk, out) < 0 || buf_append(out, "\n\n", 2) < 0 ? -1
														   : 0;
	json_decref(chunk);
	return rc;
}

int guard_sse_flush(struct guard_sse *g, struct buf *out, struct guard_verdict *v)
{
	int rc = GUARD_JSON_PASS;
	for (size_t i = 0; i < g->nholds; i++) {
		if (g->holds[i].held.len == 0)
			continue;
		buf_reset(&g->rel);
		if (guard_stream_push(&g->c, &g->s, &g->holds[i], "", 0, true, &g->rel, v) < 0)
			return -1;
		if (v->deny_rule >= 0)
			return GUARD_JSON_DENIED;
		if (g->rel.len == 0)
			continue;
		if (flush_chunk(g, i, g->rel.data, g->rel.len, out) < 0)
			return -1;
		rc = GUARD_JSON_REDACTED;
	}
	return rc;
}
