/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the YAML config tree shared by its two files, by role:
 *   yamlcfg.c        the document walker: libyaml events into the node
 *                    tree, limits, positions, errors, the accessors
 *   yamlcfg_value.c  what a scalar's text means: ${VAR} expansion and the
 *                    typed getters (strings, integers, booleans, durations,
 *                    sizes) with their positioned errors
 * Not a public interface: only these two files include it. Everyone else
 * sees struct ycfg_node as opaque (common/yamlcfg.h).
 */
#ifndef LLMGW_COMMON_YAMLCFG_INT_H
#define LLMGW_COMMON_YAMLCFG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/yamlcfg.h"

/* One node of the tree: yamlcfg.c builds and frees it, yamlcfg_value.c only reads it. */
struct ycfg_node {
	enum ycfg_type type;
	unsigned line, col;
	bool from_env; /* scalar text came (partly) from the environment: never echo it */
	char *text;    /* scalar: NUL-terminated, owned */
	size_t n;      /* complete entries of a map or sequence */
	size_t cap;
	struct ycfg_node **keys; /* map: key scalars; keys[n] set = a key awaiting its value */
	struct ycfg_node **vals; /* map values or sequence elements */
};

#endif
