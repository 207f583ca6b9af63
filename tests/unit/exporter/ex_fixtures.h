/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared fixtures for the exporter unit tests: span records filled the way
 * the gateway fills them, and a fake environment for ex_conf / enrich.
 * Header-only (static inline) because every test file is its own binary.
 */
#ifndef LLMGW_TESTS_EX_FIXTURES_H
#define LLMGW_TESTS_EX_FIXTURES_H

#include <stdint.h>
#include <string.h>

#include "common/spanrec.h"

/* A complete CLIENT (or SERVER) chat span; ids derive from seed so tests can predict them. */
static inline void fx_record(struct spanrec *r, enum spanrec_kind kind, uint8_t seed, const char *tenant,
			     const char *team)
{
	spanrec_init(r, kind);
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 8; i++) {
		r->span_id[i] = (uint8_t)(seed + i + 1);
		r->parent_span_id[i] = (uint8_t)(0x10 + i);
	}
	r->op = SPANREC_OP_CHAT;
	r->status = SPANREC_STATUS_OK;
	r->trace_flags = 0x01;
	r->start_ns = 1763000000000000000ull + seed;
	r->end_ns = r->start_ns + 250000000ull;
	r->http_status = 200;
	r->attempt = 1;
	r->flags |= SPANREC_F_HAS_USAGE;
	r->input_tokens = 12;
	r->output_tokens = 34;
	SPANREC_SET(r, name, "chat gpt-4o-mini");
	SPANREC_SET(r, request_model, "gpt-4o-mini");
	SPANREC_SET(r, response_model, "gpt-4o-mini-2024-07-18");
	SPANREC_SET(r, provider, "openai");
	SPANREC_SET(r, request_id, "req-123");
	if (tenant != NULL)
		SPANREC_SET(r, tenant_id, tenant);
	if (team != NULL)
		SPANREC_SET(r, team, team);
}

/* A tiny fake environment: NULL-terminated name/value pairs. */
struct fx_env {
	const char *const *kv;
};

static inline const char *fx_getenv(void *ctx, const char *name)
{
	const struct fx_env *e = ctx;
	for (size_t i = 0; e != NULL && e->kv != NULL && e->kv[i] != NULL; i += 2) {
		if (strcmp(e->kv[i], name) == 0)
			return e->kv[i + 1];
	}
	return NULL;
}

#endif
