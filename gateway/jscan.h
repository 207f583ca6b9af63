/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON without a tree: one validating pass over the text, then lookups
 * that walk the bytes in place. No allocation, no copies of the input.
 *
 * The gateway needs a handful of fields out of every request and response
 * (model, stream, max_tokens, usage, finish_reason) and forwards the body
 * itself untouched; building a jansson tree of every message just to read
 * five values was the largest item of its profile. A tree is still built
 * where one is needed (translating to another provider's format), from the
 * same bytes, on demand.
 *
 * What jscan_parse() accepts is exactly what jansson's json_loadb() accepts
 * with flags 0, so switching between the two never changes which requests
 * are refused: an object or an array at the top, nothing after it, UTF-8
 * checked (no overlong forms, surrogates or code points past U+10FFFF),
 * \u escapes paired correctly and never \u0000, integers that fit int64
 * and reals that do not overflow a double, at most JSCAN_MAX_DEPTH nested
 * values. Duplicate keys are allowed and, as in jansson, the last one wins
 * (jscan_get). One deliberate difference: a raw NUL byte right after a
 * number or true/false/null, which jansson's lexer skips by accident, is
 * refused here like a NUL anywhere else. The unit test and the fuzz target
 * fuzz_jscan check the equivalence on every other input.
 *
 * Values are views into the caller's buffer, valid while it is.
 */
#ifndef LLMGW_GATEWAY_JSCAN_H
#define LLMGW_GATEWAY_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

enum jscan_type {
	JSCAN_NONE = 0, /* absent (jscan_get found nothing) */
	JSCAN_OBJECT,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_INTEGER, /* a number without fraction or exponent */
	JSCAN_REAL,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL,
};

/* One value: its type and its bytes (a string's include the quotes). */
struct jscan_val {
	enum jscan_type type;
	const char *p;
	size_t len;
};

/* Why a text is not JSON: a short message and the byte offset. */
struct jscan_err {
	size_t pos;
	char text[64];
};

/*
 * Validates s[0..len) and sets *root to its top-level value. Returns 0, or
 * -1 with e filled (e may be NULL).
 */
int jscan_parse(const char *s, size_t len, struct jscan_val *root, struct jscan_err *e);

/* Walks the members of an object or the elements of an array from jscan_parse. */
struct jscan_iter {
	const char *p, *end;
	bool object;
};
void jscan_iter_init(struct jscan_iter *it, const struct jscan_val *container);
/* Next member (key set, for objects; key may be NULL for arrays) or false at the end. */
bool jscan_next(struct jscan_iter *it, struct jscan_val *key, struct jscan_val *val);

/*
 * The value of key in object obj (its last occurrence, as jansson keeps);
 * false with out->type JSCAN_NONE when obj is not an object or has no such
 * key. Keys are compared after unescaping.
 */
bool jscan_get(const struct jscan_val *obj, const char *key, struct jscan_val *out);
/* Element i of array arr; false when arr is not an array or too short. */
bool jscan_index(const struct jscan_val *arr, size_t i, struct jscan_val *out);
/* Is key (a string from jscan_next) equal to want once unescaped? */
bool jscan_key_is(const struct jscan_val *key, const char *want);
/* Elements in an array, members in an object (duplicates counted), else 0. */
size_t jscan_count(const struct jscan_val *v);

/*
 * Unescapes string v into dst (cap > 0 bytes, always NUL-terminated), cut
 * at a UTF-8 character boundary when it does not fit. Returns the full
 * unescaped length (compare with cap to detect a cut), 0 for a non-string.
 */
size_t jscan_str(const struct jscan_val *v, char *dst, size_t cap);
/* Integer value of v; false for any other type. */
bool jscan_int(const struct jscan_val *v, int64_t *out);

#endif
