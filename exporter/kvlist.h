/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small ordered list of owned string key/value pairs, and the parser for
 * the W3C-Baggage-style "k1=v1,k2=v2" lists that OpenTelemetry uses for
 * OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES.
 *
 * Used for export headers and resource attributes. Lists are bounded
 * (KVLIST_MAX entries) because they are fed by config and environment.
 */
#ifndef LLMGW_EXPORTER_KVLIST_H
#define LLMGW_EXPORTER_KVLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define KVLIST_MAX 128		     /* entries per list */
#define KVLIST_INPUT_MAX (64 * 1024) /* longest "k=v,..." text accepted */

struct kv {
	char *key;   /* owned */
	char *value; /* owned */
};

struct kvlist {
	struct kv *items; /* owned array */
	size_t n;
	size_t cap;
};

/* Flags for kvlist_parse(). */
#define KVLIST_ICASE 0x1       /* keys compare case-insensitively (HTTP header names) */
#define KVLIST_DECODE_KEYS 0x2 /* percent-decode keys as well as values */

void kvlist_init(struct kvlist *l);
/* Frees every entry; l can be re-initialised. */
void kvlist_fini(struct kvlist *l);

/*
 * Sets key to value (both copied). An entry with the same key (compared
 * case-insensitively when icase) is replaced in place, so order is that of
 * first appearance. Returns -1 on ENOMEM or when the list already holds
 * KVLIST_MAX entries.
 */
int kvlist_set(struct kvlist *l, const char *key, const char *value, bool icase);
/* Value for key, or NULL. */
const char *kvlist_get(const struct kvlist *l, const char *key, bool icase);
/* Removes key if present. */
void kvlist_del(struct kvlist *l, const char *key, bool icase);
/* Sets every entry of src into dst (src entries override dst ones). -1 as kvlist_set. */
int kvlist_merge(struct kvlist *dst, const struct kvlist *src, bool icase);

/*
 * Percent-decodes in[0..len) into out (which needs len + 1 bytes) and
 * NUL-terminates it. Returns the decoded length, or -1 on a '%' not
 * followed by two hex digits or an escape that decodes to NUL.
 */
long kvlist_pct_decode(const char *in, size_t len, char *out);

/*
 * Parses "k1=v1, k2=v2" into out (entries are added with kvlist_set, so a
 * repeated key keeps its last value). Per entry: cut on the FIRST '=' (so
 * base64 "==" padding survives), trim spaces and tabs around key and value,
 * percent-decode the value (and the key with KVLIST_DECODE_KEYS); literal
 * spaces inside a value are kept. Empty entries (",,", a trailing comma) are
 * skipped. A missing '=', an empty key or a bad escape fails the whole
 * parse: out may then hold a prefix of the entries and the caller should
 * discard it. err names the entry number and, when known, its key, never
 * the value (header values are secrets).
 */
int kvlist_parse(const char *s, unsigned flags, struct kvlist *out, struct err *err);

#endif
