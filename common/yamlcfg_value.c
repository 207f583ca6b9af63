/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a YAML config scalar's text means (the tree it lives in is built by
 * yamlcfg.c; the node both read is in yamlcfg_int.h).
 *
 * ${VAR} and ${VAR:-default} in scalar values are expanded from the
 * environment at load time ("$$" is a literal "$"; a lone "$" stays as it
 * is; keys are never expanded). The loader marks a scalar that took text
 * from the environment, and the getters' messages never echo it: the
 * environment is where secrets live.
 *
 * The typed getters turn a scalar into a string, an integer (base 10 only),
 * a boolean, a duration or a size, each checked against its range; an
 * absent key is the default, anything else wrong is "file:line:col: key:
 * reason". ycfg_check_keys makes an unknown key an error, so a typo never
 * silently becomes a default.
 */
#include "common/yamlcfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yamlcfg_int.h"

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
