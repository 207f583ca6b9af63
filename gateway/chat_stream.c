/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stream relay: sse.c cuts the upstream bytes into items; each item is
 * forwarded by its raw bytes (runs of consecutive items from one piece in
 * a single write) or, for the injected usage chunk only, dropped. Data
 * events are read with jansson for the span facts.
 *
 * Parsing every chunk with jansson costs about 5 us for a typical
 * 280-byte chunk, ten times the rest of relaying it (~0.5 us). After the
 * first token (and once id and model are known) nothing in an ordinary
 * content chunk matters to the span, so a literal pre-check decides whether
 * to parse: a chunk is parsed when it has `"error"`, a `"usage"` or `"finish_reason"`
 * key not followed by `:null`, or a `\u` escape (a key spelled with escapes
 * would dodge the literal search). Inside JSON strings quotes are escaped,
 * so the literal keys cannot come from content text; a miss can only be a
 * false positive (an extra parse), never a lost fact.
 */
#include "gateway/chat_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/jscan.h"
#include "gateway/oai_err.h"
#include "gateway/sse.h"

#define ERR_EVENT_MAX 4096

enum cs_state {
	CS_OPEN = 0,
	CS_BROKEN, /* a feed failed; only finish/fail remain */
	CS_ENDED,
};

struct chat_stream {
	struct chat_stream_opts o;
	struct sse *sse;
	struct chat_stream_info info;
	uint64_t finished; /* bit i: choice i has a finish_reason (i < 64) */
	enum cs_state state;
	enum chat_stream_end end;
	bool drop_lf;	 /* the dropped event ended with a CR: its LF may come as the next item */
	struct buf fout; /* the filter's replacement events */
};

/* What to do with one item. */
enum act {
	ACT_FORWARD = 0,
	ACT_DROP,
	ACT_REPLACE,	     /* send fout instead */
	ACT_REPLACE_FORWARD, /* send fout, then the item ([DONE] after held text) */
	ACT_DENY,
	ACT_FAIL,
};

/* Consecutive forwarded bytes of the current piece, written in one call. */
struct run {
	chat_stream_write_cb w;
	void *arg;
	const char *p;
	size_t n;
};

struct chat_stream *chat_stream_new(const struct chat_stream_opts *o)
{
	struct chat_stream *cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return NULL;
	if (o != NULL)
		cs->o = *o;
	if (cs->o.n_choices == 0)
		cs->o.n_choices = 1;
	cs->sse = sse_new(cs->o.max_event);
	if (cs->sse == NULL) {
		free(cs);
		return NULL;
	}
	buf_init(&cs->fout, (size_t)64 << 20);
	return cs;
}

void chat_stream_free(struct chat_stream *cs)
{
	if (cs == NULL)
		return;
	sse_free(cs->sse);
	buf_fini(&cs->fout);
	free(cs);
}

const struct chat_stream_info *chat_stream_info(const struct chat_stream *cs)
{
	return &cs->info;
}

/* Copies a JSON string, cut on a UTF-8 boundary to fit cap; anything else leaves dst alone. */
static void copy_str(char *dst, size_t cap, const struct jscan_val *v)
{
	if (v->type == JSCAN_STRING)
		jscan_str(v, dst, cap);
}

/* A validated string of more than its two quotes is non-empty: escapes never decode to nothing. */
static bool nonempty_str(const struct jscan_val *v)
{
	return v->type == JSCAN_STRING && v->len > 2;
}

static bool member_nonempty(const struct jscan_val *obj, const char *key)
{
	struct jscan_val v;
	return jscan_get(obj, key, &v) && nonempty_str(&v);
}

/* Does choice c carry generated output (the first token for TTFT)? */
static bool has_token(const struct jscan_val *c)
{
	struct jscan_val d, x, first;
	if (member_nonempty(c, "text")) /* legacy completions */
		return true;
	if (!jscan_get(c, "delta", &d) || d.type != JSCAN_OBJECT)
		return false;
	if (member_nonempty(&d, "content") || member_nonempty(&d, "refusal") ||
	    member_nonempty(&d, "reasoning_content") || member_nonempty(&d, "reasoning"))
		return true;
	if (jscan_get(&d, "tool_calls", &x) && jscan_index(&x, 0, &first))
		return true;
	return jscan_get(&d, "function_call", &x) && x.type == JSCAN_OBJECT;
}

static void note_finish(struct chat_stream *cs, size_t idx, const struct jscan_val *fr)
{
	if (!nonempty_str(fr))
		return;
	if (idx < 64)
		cs->finished |= (uint64_t)1 << idx;
	if (idx < CHAT_STREAM_CHOICES)
		copy_str(cs->info.finish_reasons[idx], sizeof(cs->info.finish_reasons[idx]), fr);
	if (idx == 0)
		copy_str(cs->info.resp.finish_reason, sizeof(cs->info.resp.finish_reason), fr);
}

static void note_error(struct chat_stream *cs, const struct jscan_val *e)
{
	struct jscan_val code, type;
	struct chat_stream_info *in = &cs->info;
	int64_t n;
	in->upstream_error = true;
	jscan_get(e, "code", &code);
	if (nonempty_str(&code))
		copy_str(in->upstream_error_code, sizeof(in->upstream_error_code), &code);
	else if (jscan_int(&code, &n))
		snprintf(in->upstream_error_code, sizeof(in->upstream_error_code), "%lld", (long long)n);
	else if (jscan_get(e, "type", &type) && nonempty_str(&type))
		copy_str(in->upstream_error_code, sizeof(in->upstream_error_code), &type);
}

/* Span facts of one chunk object. */
static void observe(struct chat_stream *cs, const struct jscan_val *root, uint64_t now_ns)
{
	struct chat_stream_info *in = &cs->info;
	struct chat_response_info one;
	struct jscan_val choices, c, e, ix;
	struct jscan_iter it;
	int64_t v;

	chat_response_extract_scanned(root, &one);
	if (in->resp.id[0] == '\0')
		memcpy(in->resp.id, one.id, sizeof(one.id));
	if (in->resp.model[0] == '\0')
		memcpy(in->resp.model, one.model, sizeof(one.model));
	if (one.has_usage) {
		in->resp.has_usage = true;
		in->resp.prompt_tokens = one.prompt_tokens;
		in->resp.completion_tokens = one.completion_tokens;
		in->resp.cached_tokens = one.cached_tokens;
	}
	/* the SDKs raise on any truthy `error`; null and false are not errors */
	if (jscan_get(root, "error", &e) && e.type != JSCAN_NULL && e.type != JSCAN_FALSE)
		note_error(cs, &e);
	if (!jscan_get(root, "choices", &choices) || choices.type != JSCAN_ARRAY)
		return;
	jscan_iter_init(&it, &choices);
	for (size_t i = 0; jscan_next(&it, NULL, &c); i++) {
		struct jscan_val fr;
		if (c.type != JSCAN_OBJECT)
			continue;
		size_t idx = jscan_get(&c, "index", &ix) && jscan_int(&ix, &v) && v >= 0 ? (size_t)v : i;
		if (!in->first_token && has_token(&c)) {
			in->first_token = true;
			in->first_token_ns = now_ns;
		}
		jscan_get(&c, "finish_reason", &fr);
		note_finish(cs, idx, &fr);
	}
}

/* Is the quote at p the start of key pat (pn bytes) not followed by ":null"? */
static bool key_non_null(const char *p, size_t rest, const char *pat, size_t pn)
{
	if (rest < pn || memcmp(p, pat, pn) != 0)
		return false;
	return rest - pn < 5 || memcmp(p + pn, ":null", 5) != 0;
}

/* The pre-check: any \u escape, then one pass over the quotes for the three keys. */
static bool must_parse(const struct chat_stream *cs, const char *d, size_t n)
{
	const struct chat_stream_info *in = &cs->info;
	const char *end = d + n, *p;
	if (cs->o.parse_all || !in->first_token || in->resp.id[0] == '\0' || in->resp.model[0] == '\0')
		return true;
	for (p = memchr(d, '\\', n); p != NULL && end - p >= 2; p = memchr(p + 2, '\\', (size_t)(end - p - 2))) {
		if (p[1] == 'u')
			return true;
	}
	for (p = memchr(d, '"', n); p != NULL && end - p >= 7; p = memchr(p + 1, '"', (size_t)(end - p - 1))) {
		size_t rest = (size_t)(end - p);
		if ((p[1] == 'e' && memcmp(p, "\"error\"", 7) == 0) ||
		    (p[1] == 'u' && key_non_null(p, rest, "\"usage\"", 7)) ||
		    (p[1] == 'f' && key_non_null(p, rest, "\"finish_reason\"", 15)))
			return true;
	}
	return false;
}

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The shape check for chunks that are not parsed. */
static bool looks_like_object(const char *d, size_t n)
{
	while (n > 0 && json_ws(d[n - 1]))
		n--;
	while (n > 0 && json_ws(*d)) {
		d++;
		n--;
	}
	return n >= 2 && d[0] == '{' && d[n - 1] == '}';
}

/* Reads one data event; true when it is the injected usage chunk to drop. */
static bool on_data(struct chat_stream *cs, const char *d, size_t n, uint64_t now_ns)
{
	struct jscan_val root, ch, usage, first;
	bool drop = false;

	if (!must_parse(cs, d, n)) {
		cs->info.non_json += !looks_like_object(d, n);
		return false;
	}
	if (jscan_parse(d, n, &root, NULL) != 0 || root.type != JSCAN_OBJECT) {
		cs->info.non_json++;
		return false;
	}
	observe(cs, &root, now_ns);
	if (cs->o.drop_usage_chunk) {
		drop = jscan_get(&root, "choices", &ch) && ch.type == JSCAN_ARRAY && !jscan_index(&ch, 0, &first) &&
		       jscan_get(&root, "usage", &usage) && usage.type == JSCAN_OBJECT;
		cs->info.usage_dropped += drop;
	}
	return drop;
}

/* The filter's word on a data event (data NULL: before [DONE]). */
static enum act filtered(struct chat_stream *cs, const char *data, size_t len, enum act pass, enum act replace)
{
	if (cs->o.filter == NULL)
		return pass;
	buf_reset(&cs->fout);
	switch (cs->o.filter(cs->o.filter_arg, data, len, &cs->fout)) {
	case CHAT_STREAM_FILTER_PASS:
		return pass;
	case CHAT_STREAM_FILTER_REPLACE:
		return cs->fout.len > 0 ? replace : (data == NULL ? pass : ACT_DROP);
	case CHAT_STREAM_FILTER_DENY:
		return ACT_DENY;
	default:
		return ACT_FAIL;
	}
}

/* One item from the parser: what to do with it. */
static enum act on_item(struct chat_stream *cs, const struct sse_event *ev, uint64_t now_ns)
{
	bool lf_pair = cs->drop_lf;
	cs->drop_lf = false;
	switch (ev->kind) {
	case SSE_COMMENT:
		cs->info.comments++;
		return ACT_FORWARD;
	case SSE_SKIP:
		/* the rest of a dropped event's CRLF goes with it */
		return lf_pair && ev->raw_len == 1 && ev->raw[0] == '\n' ? ACT_DROP : ACT_FORWARD;
	case SSE_EVENT:
		break;
	}
	cs->info.events++;
	if (ev->name_len == 5 && memcmp(ev->name, "error", 5) == 0)
		cs->info.upstream_error = true;
	/* the SDKs stop on any data starting with [DONE] */
	if (ev->data_len >= 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
		cs->info.done = true;
		return filtered(cs, NULL, 0, ACT_FORWARD, ACT_REPLACE_FORWARD);
	}
	if (!on_data(cs, ev->data, ev->data_len, now_ns))
		return filtered(cs, ev->data, ev->data_len, ACT_FORWARD, ACT_REPLACE);
	cs->drop_lf = ev->raw[ev->raw_len - 1] == '\r';
	return ACT_DROP;
}

static int put(struct chat_stream *cs, chat_stream_write_cb w, void *arg, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (w(p, n, arg) < 0)
		return -1;
	cs->info.bytes_out += n;
	return 0;
}

static int flush(struct chat_stream *cs, struct run *r)
{
	int rc = put(cs, r->w, r->arg, r->p, r->n);
	r->p = NULL;
	r->n = 0;
	return rc;
}

/* Forwards ev: extends the run when it continues it in the same piece. */
static int forward(struct chat_stream *cs, struct run *r, const struct sse_event *ev)
{
	if (ev->raw_in_input && r->p != NULL && r->p + r->n == ev->raw) {
		r->n += ev->raw_len;
		return 0;
	}
	if (flush(cs, r) < 0)
		return -1;
	if (ev->raw_in_input) {
		r->p = ev->raw;
		r->n = ev->raw_len;
		return 0;
	}
	return put(cs, r->w, r->arg, ev->raw, ev->raw_len);
}

int chat_stream_feed(struct chat_stream *cs, const char *data, size_t len, uint64_t now_ns, chat_stream_write_cb w,
		     void *arg, struct err *err)
{
	struct run r = {w, arg, NULL, 0};
	struct sse_event ev;
	enum sse_rc rc;

	if (cs->state != CS_OPEN)
		return err_set(err, EINVAL, "the stream relay has %s", cs->state == CS_ENDED ? "ended" : "failed");
	cs->info.bytes_in += len;
	sse_push(cs->sse, data, len);
	while ((rc = sse_next(cs->sse, &ev, err)) == SSE_ITEM) {
		enum act a = on_item(cs, &ev, now_ns);
		int wrc;
		if (a == ACT_DENY || a == ACT_FAIL) {
			if (flush(cs, &r) < 0)
				goto write_failed;
			cs->state = CS_BROKEN;
			return a == ACT_DENY ? err_set(err, EACCES, "a guardrail stopped the stream")
					     : err_set(err, ENOMEM, "the stream filter failed");
		}
		if (a == ACT_FORWARD)
			wrc = forward(cs, &r, &ev);
		else if (flush(cs, &r) < 0)
			wrc = -1;
		else if (a == ACT_DROP)
			wrc = 0;
		else if (put(cs, w, arg, cs->fout.data, cs->fout.len) < 0)
			wrc = -1;
		else
			wrc = a == ACT_REPLACE_FORWARD ? forward(cs, &r, &ev) : 0;
		if (wrc < 0)
			goto write_failed;
	}
	if (flush(cs, &r) < 0)
		goto write_failed;
	if (rc == SSE_ERROR) {
		cs->state = CS_BROKEN;
		return -1;
	}
	return 0;
write_failed:
	cs->state = CS_BROKEN;
	return err_set(err, EPIPE, "the client write failed");
}

int chat_stream_error_event(struct buf *out, const char *message)
{
	size_t mark = out->len;
	if (buf_append(out, "data: ", 6) < 0 ||
	    oai_err_format(out, message, "api_error", NULL, CHAT_STREAM_ERROR_CODE) < 0 ||
	    buf_append(out, "\n\n", 2) < 0) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
		return -1;
	}
	return 0;
}

/* Writes the error event; 1 written, -1 write failed. */
static int write_error(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg)
{
	struct buf b;
	int rc;
	buf_init(&b, ERR_EVENT_MAX);
	if (chat_stream_error_event(&b, message) < 0) {
		/* an over-long message: a generic one always fits */
		buf_reset(&b);
		chat_stream_error_event(&b, "the provider stream failed");
	}
	rc = put(cs, w, arg, b.data, b.len) < 0 ? -1 : 1;
	buf_fini(&b);
	return rc;
}

static void end_with_error_reason(struct chat_stream *cs)
{
	if (cs->info.resp.finish_reason[0] == '\0')
		snprintf(cs->info.resp.finish_reason, sizeof(cs->info.resp.finish_reason), "error");
}

static bool all_choices_finished(const struct chat_stream *cs)
{
	unsigned n = cs->o.n_choices > 64 ? 64 : cs->o.n_choices;
	uint64_t want = n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
	return (cs->finished & want) == want;
}

enum chat_stream_end chat_stream_finish(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg)
{
	if (cs->state == CS_ENDED)
		return cs->end;
	cs->info.pending_at_end = sse_pending(cs->sse);
	if (cs->info.upstream_error)
		cs->end = CHAT_STREAM_END_UPSTREAM_ERROR;
	else if (cs->state == CS_OPEN && cs->info.done)
		cs->end = CHAT_STREAM_END_DONE;
	else if (cs->state == CS_OPEN && all_choices_finished(cs))
		cs->end = CHAT_STREAM_END_NO_DONE;
	else
		cs->end = CHAT_STREAM_END_TRUNCATED;
	if (cs->end == CHAT_STREAM_END_TRUNCATED)
		write_error(cs, message != NULL ? message : "the provider ended the stream before it was complete", w,
			    arg);
	if (cs->end == CHAT_STREAM_END_TRUNCATED || cs->end == CHAT_STREAM_END_UPSTREAM_ERROR)
		end_with_error_reason(cs);
	cs->state = CS_ENDED;
	return cs->end;
}

int chat_stream_deny(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg)
{
	struct buf b;
	int rc = -1;
	if (cs->state == CS_ENDED)
		return 0;
	cs->info.pending_at_end = sse_pending(cs->sse);
	cs->state = CS_ENDED;
	cs->end = CHAT_STREAM_END_TRUNCATED;
	end_with_error_reason(cs);
	buf_init(&b, ERR_EVENT_MAX);
	if (buf_append(&b, "data: ", 6) == 0 &&
	    oai_err_format(&b, message, "invalid_request_error", NULL, "guardrail_denied") == 0 &&
	    buf_append(&b, "\n\n", 2) == 0)
		rc = put(cs, w, arg, b.data, b.len) < 0 ? -1 : 1;
	buf_fini(&b);
	return rc;
}

int chat_stream_fail(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg)
{
	if (cs->state == CS_ENDED)
		return 0;
	cs->info.pending_at_end = sse_pending(cs->sse);
	cs->state = CS_ENDED;
	if (cs->info.done && !cs->info.upstream_error) {
		cs->end = CHAT_STREAM_END_DONE;
		return 0;
	}
	end_with_error_reason(cs);
	if (cs->info.upstream_error) {
		cs->end = CHAT_STREAM_END_UPSTREAM_ERROR;
		return 0;
	}
	cs->end = CHAT_STREAM_END_TRUNCATED;
	return write_error(cs, message != NULL ? message : "the provider stream failed", w, arg);
}
