/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guardrails half of gateway.yaml: `guardrails[]` (the rules: a name,
 * where they apply, what they do, and a regex or a built-in detector) and
 * the sets that attach them, `models[].guardrails` and `keys[].guardrails`
 * (names; a request gets the union of its model's and its key's). Rules
 * are compiled here, once per worker (gateway/guard.h says why), so a bad
 * pattern is a config error with its line, never a request-time surprise.
 * Runs after the models and keys are loaded and reads their nodes again by
 * index. Reloadable: a request uses the rules of its config generation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/guard.h"
#include "gateway/gw_conf_int.h"

#define GUARD_PATTERN_MAX 1024

static const char *const rule_keys[] = {"name",	       "stage",	      "action",	   "pattern", "builtin",
					"replacement", "ignore_case", "max_match", NULL};

static int load_stage(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct guard_rule *r,
		      struct err *err)
{
	const char *s;
	char kb[96];
	if (ycfg_get_str(c, m, "stage", "both", &s, err) < 0)
		return -1;
	if (strcmp(s, "input") == 0)
		r->stages = GUARD_STAGE_INPUT;
	else if (strcmp(s, "output") == 0)
		r->stages = GUARD_STAGE_OUTPUT;
	else if (strcmp(s, "both") == 0)
		r->stages = GUARD_STAGE_INPUT | GUARD_STAGE_OUTPUT;
	else
		return ycfg_error(c, ycfg_get(m, "stage"), KP(kb, at, "stage"), err, "must be input, output or both");
	if (gwc_get_required(c, m, at, "action", &s, err) < 0)
		return -1;
	if (strcmp(s, "deny") == 0)
		r->action = GUARD_DENY;
	else if (strcmp(s, "redact") == 0)
		r->action = GUARD_REDACT;
	else
		return ycfg_error(c, ycfg_get(m, "action"), KP(kb, at, "action"), err, "must be deny or redact");
	return 0;
}

/* replacement: redact rules only; text that goes into JSON strings (UTF-8, no control characters). */
static int load_replacement(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct guard_rule *r,
			    struct err *err)
{
	const struct ycfg_node *n = ycfg_get(m, "replacement");
	const char *s;
	char kb[96];
	if (n == NULL)
		return 0;
	if (r->action != GUARD_REDACT)
		return ycfg_error(c, n, KP(kb, at, "replacement"), err, "only for action: redact");
	if (ycfg_get_str(c, m, "replacement", "", &s, err) < 0)
		return -1;
	json_t *probe = json_string(s);
	bool ok = probe != NULL && strlen(s) <= GUARD_REPLACEMENT_MAX;
	json_decref(probe);
	for (const char *p = s; ok && *p != '\0'; p++)
		ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!ok)
		return ycfg_error(c, n, KP(kb, at, "replacement"), err,
				  "at most %d bytes of UTF-8 text without control characters", GUARD_REPLACEMENT_MAX);
	return (r->replacement = gwc_strdup(s, err)) != NULL ? 0 : -1;
}

/* Exactly one of pattern (with ignore_case, max_match) and builtin. */
static int load_matcher(const struct ycfg *c, const struct ycfg_node *m, const char *at, struct guard_rule *r,
			struct err *err)
{
	const struct ycfg_node *pat = ycfg_get(m, "pattern"), *bi = ycfg_get(m, "builtin");
	const char *s;
	char kb[96];
	uint64_t mm;
	if ((pat == NULL) == (bi == NULL))
		return ycfg_error(c, pat != NULL ? pat : m, at, err, "give exactly one of pattern and builtin");
	if (bi != NULL) {
		const char *other = ycfg_get(m, "ignore_case") != NULL ? "ignore_case"
				    : ycfg_get(m, "max_match") != NULL ? "max_match"
								       : NULL;
		if (other != NULL)
			return ycfg_error(c, ycfg_get(m, other), KP(kb, at, other), err, "only with pattern");
		if (ycfg_get_str(c, m, "builtin", "", &s, err) < 0)
			return -1;
		if (guard_kind_parse(s, &r->kind) < 0)
			return ycfg_error(c, bi, KP(kb, at, "builtin"), err, "must be email, card or api_key");
		return 0;
	}
	r->kind = GUARD_KIND_REGEX;
	if (gwc_get_required(c, m, at, "pattern", &s, err) < 0)
		return -1;
	if (strlen(s) > GUARD_PATTERN_MAX)
		return ycfg_error(c, pat, KP(kb, at, "pattern"), err, "longer than %d bytes", GUARD_PATTERN_MAX);
	if ((r->pattern = gwc_strdup(s, err)) == NULL)
		return -1;
	if (ycfg_get_bool(c, m, "ignore_case", false, &r->icase, err) < 0 ||
	    ycfg_get_size(c, m, "max_match", 1, GUARD_MAX_MATCH_MAX, GUARD_MAX_MATCH_DEFAULT, &mm, err) < 0)
		return -1;
	r->max_match = (size_t)mm;
	return 0;
}

static int load_rule(const struct ycfg *c, const struct ycfg_node *m, const char *at, const struct gw_conf *g,
		     struct guard_rule *r, struct err *err)
{
	const char *name;
	char kb[96];
	struct err e2;
	if (ycfg_type(m) != YCFG_MAP)
		return ycfg_error(c, m, at, err, "must be a mapping");
	if (ycfg_check_keys(c, m, at, rule_keys, err) < 0 || gwc_get_required(c, m, at, "name", &name, err) < 0)
		return -1;
	if (!gwc_name_ok(name))
		return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err, "use 1-%d of [A-Za-z0-9._-]",
				  GW_NAME_MAX);
	if ((r->name = gwc_strdup(name, err)) == NULL)
		return -1;
	if (load_stage(c, m, at, r, err) < 0 || load_matcher(c, m, at, r, err) < 0 ||
	    load_replacement(c, m, at, r, err) < 0)
		return -1;
	/* one compiled copy per worker: glibc's regexec locks each compiled pattern */
	if (guard_rule_init(r, g->workers > 0 ? g->workers : 1, &e2) < 0)
		return ycfg_error(c, ycfg_get(m, "pattern") != NULL ? ycfg_get(m, "pattern") : m, KP(kb, at, "pattern"),
				  err, "%s", e2.msg);
	return 0;
}

/* <at>.guardrails: names of rules -> a set. */
static int load_set(const struct ycfg *c, const struct ycfg_node *m, const char *at, const struct gw_conf *g,
		    uint64_t *out, struct err *err)
{
	char kb[96];
	int rc;
	const struct ycfg_node *seq = m != NULL ? gwc_get_seq(c, m, "guardrails", err, &rc) : NULL;
	*out = 0;
	if (m == NULL || seq == NULL)
		return m == NULL ? 0 : rc;
	for (size_t i = 0; i < ycfg_len(seq); i++) {
		const char *s = ycfg_scalar(ycfg_at(seq, i));
		size_t j = 0;
		while (j < g->nguards && (s == NULL || strcmp(g->guards[j].name, s) != 0))
			j++;
		if (j == g->nguards)
			return ycfg_error(c, ycfg_at(seq, i), KP(kb, at, "guardrails"), err,
					  "unknown guardrail '%s' (not in guardrails)", s != NULL ? s : "");
		if (*out & ((uint64_t)1 << j))
			return ycfg_error(c, ycfg_at(seq, i), KP(kb, at, "guardrails"), err, "'%s' is listed twice", s);
		*out |= (uint64_t)1 << j;
	}
	return 0;
}

static int load_rules(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	int rc;
	const struct ycfg_node *seq = gwc_get_seq(c, root, "guardrails", err, &rc);
	if (rc < 0 || seq == NULL)
		return rc;
	size_t n = ycfg_len(seq);
	if (n > GUARD_RULES_MAX)
		return ycfg_error(c, seq, "guardrails", err, "at most %d rules", GUARD_RULES_MAX);
	if (n == 0)
		return 0;
	if ((g->guards = calloc(n, sizeof(*g->guards))) == NULL)
		return err_set(err, ENOMEM, "out of memory");
	g->nguards = n;
	for (size_t i = 0; i < n; i++) {
		const struct ycfg_node *m = ycfg_at(seq, i);
		char at[32], kb[96];
		snprintf(at, sizeof(at), "guardrails[%zu]", i);
		if (load_rule(c, m, at, g, &g->guards[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->guards[j].name, g->guards[i].name) == 0)
				return ycfg_error(c, ycfg_get(m, "name"), KP(kb, at, "name"), err,
						  "duplicate guardrail name '%s'", g->guards[i].name);
	}
	return 0;
}

int gwc_load_guard(const struct ycfg *c, const struct ycfg_node *root, struct gw_conf *g, struct err *err)
{
	const struct ycfg_node *models = ycfg_get(root, "models"), *keys = ycfg_get(root, "keys");
	if (load_rules(c, root, g, err) < 0)
		return -1;
	for (size_t i = 0; i < g->nmodels; i++) {
		char at[32];
		snprintf(at, sizeof(at), "models[%zu]", i);
		if (load_set(c, ycfg_at(models, i), at, g, &g->models[i].guards, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < g->nkeys; i++) {
		char at[32];
		snprintf(at, sizeof(at), "keys[%zu]", i);
		if (load_set(c, ycfg_at(keys, i), at, g, &g->keys[i].guards, err) < 0)
			return -1;
	}
	return 0;
}

void gwc_free_guard(struct gw_conf *g)
{
	for (size_t i = 0; i < g->nguards; i++)
		guard_rule_fini(&g->guards[i]);
	free(g->guards);
	g->guards = NULL;
	g->nguards = 0;
}
