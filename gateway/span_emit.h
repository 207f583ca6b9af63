/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span records for one request: the SERVER span (the gateway's view: what
 * the client asked, what it got) and one CLIENT span per upstream attempt.
 * Request handlers fill a struct span_req / struct span_attempt as they go;
 * the builders here turn them into fixed-size records (docs/span-schema.md)
 * and span_emit_send() drops them into the span pipe without ever waiting.
 * A full or broken pipe is counted and otherwise ignored: telemetry never
 * changes what the client sees.
 *
 * The builders are pure (no I/O, no clock) so tests check every field.
 */
#ifndef LLMGW_GATEWAY_SPAN_EMIT_H
#define LLMGW_GATEWAY_SPAN_EMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ids.h"
#include "common/spanpipe.h"
#include "common/spanrec-t.h"
#include "gateway/auth.h"
#include "gateway/chat_parse.h"

struct metric;

/* Trace context of one request. */
struct span_trace {
	uint8_t trace_id[16];
	uint8_t span_id[8];   /* the SERVER span */
	uint8_t parent_id[8]; /* the caller's span; zero when there was none */
	uint8_t flags;	      /* W3C trace-flags, 01 (sampled) by default */
	bool parent_remote;   /* a valid traceparent came in */
};

/*
 * Starts the trace of a request: continues the caller's trace when
 * traceparent (may be NULL) is valid per W3C, else starts a new one. The
 * SERVER span id is always new.
 */
void span_trace_init(struct span_trace *t, struct ids_rng *rng, const char *traceparent);

/* Sizes above the record's so that spanrec_set_str sees, and flags, a cut. */
#define SPAN_META_KEY_MAX 32
#define SPAN_META_VALUE_MAX 96

struct span_meta_kv {
	char key[SPAN_META_KEY_MAX];
	char value[SPAN_META_VALUE_MAX];
};

/* What the SERVER span reports; owned by the request context. */
struct span_req {
	enum spanrec_op op;
	const char *method; /* "POST"; names spans of unrouted requests */
	struct span_trace trace;
	uint64_t start_ns, end_ns; /* unix ns */
	char request_model[CHAT_MODEL_MAX + 1];
	const struct auth_identity *ident; /* NULL: anonymous */
	char request_id[72];
	struct span_meta_kv meta[SPANREC_META_MAX];
	unsigned nmeta;
	bool meta_overflow; /* more x-llmgw-meta-* headers than slots */
	bool stream;
	uint64_t ttft_ns;		/* streams: request arrival -> first token relayed; 0 = n/a */
	uint16_t http_status;		/* sent to the client */
	char error_type[32];		/* set with any 4xx/5xx, and for a stream that failed after its 200 head */
	struct chat_response_info resp; /* from the answering attempt */
	const char *provider;		/* gen_ai.provider.name of the answering attempt */
	const char *target;		/* "provider/model" of the answering attempt */
	uint8_t attempts;		/* upstream attempts made (0: none) */
	bool has_cost;			/* a price was configured and usage came back */
	int64_t cost_micro;		/* llmgw.cost_usd of the answering attempt */
	/* response cache (api_cache.c) and guardrails (api_guard.c): SERVER span only */
	bool cache_hit;	     /* answered from the cache (no upstream attempt) */
	bool cache_lookup;   /* the cache was consulted: llmgw.cache.hit is set (false unless cache_hit) */
	bool guard_denied;   /* a guardrail refused the prompt or the answer */
	bool guard_redacted; /* a guardrail redacted the prompt or the answer */
	char guardrails[64]; /* names of the rules that fired, comma-separated (never the matched text) */
};

/* One upstream attempt (CLIENT span). Strings are borrowed. */
struct span_attempt {
	uint8_t span_id[8]; /* also sent upstream in traceparent */
	uint64_t start_ns, end_ns;
	uint8_t attempt; /* 1-based */
	const char *
	    fallback_reason; /* "" or NULL on the first attempt: "429", "5xx", "timeout", "connect_error", "cooldown" */
	const char *provider_model;
	const char *provider;	    /* gen_ai.provider.name */
	const char *target;	    /* "provider/model" */
	const char *server_address; /* NULL for in-process providers */
	uint16_t server_port;
	uint16_t http_status;		       /* received; 0 when no response */
	uint64_t ttft_ns;		       /* streams: attempt start -> first token received; 0 = n/a */
	char error_type[32];		       /* "" on success */
	const struct chat_response_info *resp; /* NULL when nothing was parsed */
	bool has_cost;			       /* false: no usage or no price */
	int64_t cost_micro;
};

/*
 * Adds one caller metadata pair (key already lower-cased and checked by the
 * caller). Past SPANREC_META_MAX pairs it sets meta_overflow and returns -1.
 */
int span_req_add_meta(struct span_req *q, const char *key, const char *value);

/* Fills r with the SERVER span of q. */
void span_emit_build_server(struct spanrec *r, const struct span_req *q);
/* Fills r with the CLIENT span of attempt a of request q. */
void span_emit_build_client(struct spanrec *r, const struct span_req *q, const struct span_attempt *a);

/* Where records go; pipe NULL = spans off (nothing is counted). */
struct span_out {
	struct spanpipe *pipe;
	struct metric *sent;
	struct metric *dropped_full;
	struct metric *dropped_error;
};

/* Sends one record with NN_DONTWAIT semantics and counts the outcome. */
enum spanpipe_result span_emit_send(const struct span_out *o, const struct spanrec *r);

#endif
