/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML configuration loading (libyaml) into an immutable node tree that
 * remembers where every node came from, plus typed getters that turn a bad
 * value into "file:line:col: key: reason".
 *
 * Scalars have ${VAR} and ${VAR:-default} expanded from the environment at
 * load time ("$$" is a literal "$"); an unset variable without a default is
 * a load error naming the line. Anchors/aliases and tags are rejected
 * (configs are data, not programs), as are duplicate keys and documents
 * other than a single mapping. Loading is bounded: files over 4 MiB or
 * nesting deeper than 32 are errors.
 *
 * The tree owns all strings; they live until ycfg_free().
 */
#ifndef LLMGW_COMMON_YAMLCFG_H
#define LLMGW_COMMON_YAMLCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ycfg;
struct ycfg_node;

enum ycfg_type {
	YCFG_SCALAR = 0,
	YCFG_MAP,
	YCFG_SEQ,
};

/* Parses a file / an in-memory text (name is used in error messages). */
struct ycfg *ycfg_load_file(const char *path, struct err *err);
struct ycfg *ycfg_load_string(const char *text, size_t len, const char *name, struct err *err);
void ycfg_free(struct ycfg *c);

/* Root mapping (an empty document gives an empty mapping). */
const struct ycfg_node *ycfg_root(const struct ycfg *c);
const char *ycfg_name(const struct ycfg *c);

enum ycfg_type ycfg_type(const struct ycfg_node *n);
unsigned ycfg_line(const struct ycfg_node *n); /* 1-based */
unsigned ycfg_col(const struct ycfg_node *n);  /* 1-based */
/* Scalar text after ${} expansion; NULL if n is not a scalar. */
const char *ycfg_scalar(const struct ycfg_node *n);
/* Number of entries of a map or a sequence; 0 for a scalar. */
size_t ycfg_len(const struct ycfg_node *n);
/* i-th sequence element or map value; i-th map key (NULL for a sequence). */
const struct ycfg_node *ycfg_at(const struct ycfg_node *n, size_t i);
const char *ycfg_key_at(const struct ycfg_node *n, size_t i);
/* Value of key in a map; NULL if absent or n is not a map. */
const struct ycfg_node *ycfg_get(const struct ycfg_node *map, const char *key);

/*
 * Formats "name:line:col: key: <fmt>" into err, using n's position (or the
 * file name alone when n is NULL). Returns -1.
 */
int ycfg_error(const struct ycfg *c, const struct ycfg_node *n, const char *key, struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Fails on the first key of map not in the NULL-terminated allowed list
 * ("unknown key"), so a typo never silently becomes a default. Also fails if
 * map is not a mapping.
 */
int ycfg_check_keys(const struct ycfg *c, const struct ycfg_node *map, const char *what, const char *const *allowed,
		    struct err *err);

/*
 * Typed getters. An absent key yields def and returns 0; a present key of the
 * wrong shape or out of range returns -1 with a positioned error. The map
 * may be NULL (treated as empty).
 */
int ycfg_get_str(const struct ycfg *c, const struct ycfg_node *map, const char *key, const char *def, const char **out,
		 struct err *err);
int ycfg_get_int(const struct ycfg *c, const struct ycfg_node *map, const char *key, int64_t min, int64_t max,
		 int64_t def, int64_t *out, struct err *err);
/* true/false/yes/no/on/off (YAML 1.1 spellings, lower case) */
int ycfg_get_bool(const struct ycfg *c, const struct ycfg_node *map, const char *key, bool def, bool *out,
		  struct err *err);
/* "250ms", "30s", "2m", "1h", or a bare integer meaning milliseconds. */
int ycfg_get_duration_ms(const struct ycfg *c, const struct ycfg_node *map, const char *key, int64_t min_ms,
			 int64_t max_ms, int64_t def_ms, int64_t *out, struct err *err);
/* "512", "64KiB", "4MiB", "1GiB" (also KB/MB/GB as powers of 1000). */
int ycfg_get_size(const struct ycfg *c, const struct ycfg_node *map, const char *key, uint64_t min, uint64_t max,
		  uint64_t def, uint64_t *out, struct err *err);

/* Exposed for unit tests and the fuzzer: expands ${} in s into out. */
int ycfg_expand_env(const char *s, char *out, size_t outsz, struct err *err);

#endif
