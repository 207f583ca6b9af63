/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardrails: the rule engine. A rule finds spans of text (a POSIX
 * extended regex, or one of three built-in detectors: e-mail addresses,
 * card numbers with a Luhn check, API-key shapes) and either denies the
 * request or answer they appear in, or redacts them with a replacement
 * string. This module works on plain text only; applying rules to OpenAI
 * requests, answers and stream chunks is guard_json.h, configuring them
 * gw_conf_guard.c (docs/guardrails.md).
 *
 * Matching. Every rule scans on its own, left to right, without overlap;
 * the matches of all rules are then merged: the one that starts first
 * wins, the longer on a tie, the earlier rule on a tie of both. A deny
 * rule's match denies even where a redaction overlapping it won the merge.
 * Match edges are moved out to UTF-8 character boundaries so a
 * replacement never leaves half a character behind.
 *
 * The detectors (what counts as a match):
 *  - email: up to 64 of [A-Za-z0-9._%+-] before an '@' (not starting with
 *    '.'), then a domain of at most 253 of [A-Za-z0-9.-] with at least one
 *    dot, no empty label, trailing '.'/'-' left out, and a last label of
 *    two or more letters.
 *  - card: a run of 13-19 digits, optionally in groups split by single
 *    spaces or '-', that passes the Luhn check; the run must stand alone
 *    (no digit, or digit and separator, right before it; a longer run is
 *    no card at all).
 *  - api_key: a whole run of [A-Za-z0-9_-] of at most 256 bytes that starts
 *    with a known secret prefix and is long enough for it: sk- (OpenAI,
 *    Anthropic), sk_live_/sk_test_/rk_live_ (Stripe), AKIA/ASIA (AWS),
 *    AIza (Google), ghp_/gho_/ghu_/ghs_/ghr_/github_pat_ (GitHub),
 *    glpat- (GitLab), xoxb-/xoxp-/xoxa-/xoxr-/xoxs- (Slack), hf_
 *    (Hugging Face).
 *
 * Streams (guard_stream_push). Text arrives in pieces; a match may be cut
 * in two by a chunk boundary. Each piece is appended to what was held back
 * for that choice; everything that can no longer be part of a match is
 * released at once (redacted), and only the tail that could still grow
 * into one is held: for a regex rule its max_match bytes (plus 3, the
 * most a match is widened by to whole UTF-8 characters), for the
 * detectors only the trailing run of characters a match could be made of
 * (the word being written: nothing at all after a space in plain prose),
 * at most 318 (email), 38 (card) or 256 (api_key) bytes. The released text
 * of a whole stream equals guard_text() of the whole text for every rule
 * whose matches fit those bounds (the fuzz target checks it at every split).
 *
 * Thread safety: rules are immutable once built and shared by workers;
 * glibc's regexec() takes a lock per compiled regex, so each rule keeps one
 * compiled copy per worker and callers pass their worker's slot.
 */
#ifndef LLMGW_GATEWAY_GUARD_H
#define LLMGW_GATEWAY_GUARD_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define GUARD_RULES_MAX 64	       /* rules in a config: a set of them is one guard_mask */
#define GUARD_REPLACEMENT_MAX 256      /* bytes of a replacement string */
#define GUARD_MAX_MATCH_MAX 4096       /* regex rules' max_match upper bound */
#define GUARD_MAX_MATCH_DEFAULT 64     /* regex rules' max_match when not given */
#define GUARD_EMAIL_MAX (64 + 1 + 253) /* longest e-mail match */
#define GUARD_CARD_MAX 38	       /* 19 digits, 18 separators, one more separator */
#define GUARD_KEY_MAX 256	       /* longest api_key match */

/* Where a rule applies (bits). */
#define GUARD_STAGE_INPUT 1u  /* the prompt, before the provider sees it */
#define GUARD_STAGE_OUTPUT 2u /* the answer, whole or streamed */

enum guard_action {
	GUARD_REDACT = 0,
	GUARD_DENY,
};

enum guard_kind { GUARD_KIND_REGEX = 0, GUARD_KIND_EMAIL, GUARD_KIND_CARD, GUARD_KIND_API_KEY, GUARD_KIND__COUNT };

/* A set of rules: bit i = rules[i]. */
typedef uint64_t guard_mask;

/*
 * One rule. The config loader fills name, stages, action, kind, pattern
 * (regex only), icase, replacement and max_match, then calls
 * guard_rule_init(), which compiles and fingerprints it. Strings are owned
 * (freed by guard_rule_fini).
 */
struct guard_rule {
	char *name;
	unsigned stages; /* GUARD_STAGE_* */
	enum guard_action action;
	enum guard_kind kind;
	char *pattern; /* POSIX ERE (kind REGEX), else NULL */
	bool icase;
	char *replacement; /* redact: what replaces a match */
	size_t replacement_len;
	size_t max_match; /* the longest match streams hold back for (regex: configured; detectors: fixed) */
	regex_t *re;	  /* [ncopies], one per worker */
	unsigned ncopies;
	uint8_t fp[8]; /* fingerprint of everything that changes the outcome (cache keys) */
};

/* "email", "card", "api_key"; NULL for REGEX and out of range. */
const char *guard_kind_name(enum guard_kind k);
/* The kind named s (a detector); -1 when unknown. */
int guard_kind_parse(const char *s, enum guard_kind *out);

/*
 * Compiles the pattern ncopies times (regex rules), sets max_match for the
 * detectors and the fingerprint. -1 with err naming the regex problem
 * (regerror's text).
 */
int guard_rule_init(struct guard_rule *r, unsigned ncopies, struct err *err);
/* Frees the strings and the compiled copies; the rule is zeroed. */
void guard_rule_fini(struct guard_rule *r);

/* The rules of mask that apply at stage. */
guard_mask guard_mask_stage(const struct guard_rule *rules, size_t n, guard_mask mask, unsigned stage);

/* What a scan runs: the rules of `mask` out of rules[0..n), with regex copy `slot`. */
struct guard_ctx {
	const struct guard_rule *rules;
	size_t n;
	guard_mask mask;
	unsigned slot;
};

struct guard_match {
	size_t start, end; /* [start, end) in the scanned text */
	unsigned rule;
};

/* Reusable per-request scratch (match lists). guard_scratch_fini frees it. */
struct guard_scratch {
	struct guard_match *v, *all;
	size_t n, cap, nall, capall;
};
void guard_scratch_fini(struct guard_scratch *s);

/* What fired. */
struct guard_verdict {
	guard_mask fired; /* rules that matched (redact and deny) */
	int deny_rule;	  /* the first deny rule that matched, -1 when none */
	bool redacted;	  /* some text was replaced */
};
void guard_verdict_init(struct guard_verdict *v);

/*
 * Texts given to the functions below must be followed by a NUL byte (as
 * struct buf and jansson strings are): regexec() gets the exact range
 * (REG_STARTEND, so NULs inside are fine), but sanitizers' regexec
 * interceptor reads up to the terminator.
 *
 * The merged, non-overlapping matches of c's rules in text[0..len) into
 * s->v[0..s->n): sorted by start. before[0..nbefore) is the text right
 * before (context for where runs start; at most 4 bytes are read), at_end
 * says text ends where the whole text ends ($ may match). -1 on ENOMEM.
 */
int guard_find(const struct guard_ctx *c, struct guard_scratch *s, const char *text, size_t len, const char *before,
	       size_t nbefore, bool at_end);

/*
 * The whole-text pass: finds c's matches in text. A deny rule matching
 * sets v->deny_rule (first in text order) and nothing is written. Else,
 * when redact rules matched, the redacted text is appended to out and 1
 * is returned; 0 when nothing matched (out untouched). v accumulates
 * (call guard_verdict_init once per request). -1 on ENOMEM or out full.
 */
int guard_text(const struct guard_ctx *c, struct guard_scratch *s, const char *text, size_t len, struct buf *out,
	       struct guard_verdict *v);

/* One choice of a streamed answer: what is held back, and the context of what was released. */
struct guard_hold {
	struct buf held;
	char ctx[4]; /* the last released bytes (right-aligned), for run starts */
	size_t nctx;
	bool released; /* something was released: ^ no longer matches at the start */
};
void guard_hold_init(struct guard_hold *h);
void guard_hold_fini(struct guard_hold *h);

/*
 * Feeds the next piece of a stream's text. Appends to out what can be
 * released now, redacted, and keeps the rest in h. final: the choice is
 * complete (finish_reason, end of stream): everything is released. A deny
 * rule matching in what would be released sets v->deny_rule and nothing
 * more is written (the caller ends the stream). -1 on ENOMEM or out full.
 */
int guard_stream_push(const struct guard_ctx *c, struct guard_scratch *s, struct guard_hold *h, const char *text,
		      size_t len, bool final, struct buf *out, struct guard_verdict *v);

/* The Luhn check over the digits of s[0..n) (other bytes skipped); false with no digits. */
bool guard_luhn(const char *s, size_t n);

#endif
