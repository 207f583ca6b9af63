/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The span record: the only thing the gateway and the exporter share at run
 * time. One record is one OTLP span, written by the gateway into a nanomsg
 * PUSH socket and read by the exporter. It is fixed-size, has no pointers and
 * is native-endian (both processes run on the same host or the same
 * architecture), so writing it is a memcpy and reading it is a validation.
 *
 * Rules that keep it safe to read from an untrusted socket:
 *  - magic, version and size come first and are checked before anything else;
 *  - every string is a fixed-length, NUL-terminated char array; a value that
 *    did not fit was cut at a UTF-8 boundary and its bit set in trunc_mask;
 *  - ids are raw bytes, times are unix nanoseconds, money is integer micro-USD.
 *
 * Changing the layout means bumping SPANREC_VERSION and teaching
 * spanrec_validate() to upgrade the previous version (see spanrec.c).
 */
#ifndef LLMGW_COMMON_SPANREC_T_H
#define LLMGW_COMMON_SPANREC_T_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define SPANREC_MAGIC 0x5347574cu /* "LWGS" read as little-endian bytes */
#define SPANREC_VERSION 2
#define SPANREC_VERSION_MIN 1 /* oldest version the exporter still accepts */
#define SPANREC_SIZE 1280
#define SPANREC_V1_SIZE 1024 /* version 1: everything up to and including meta[] */
#define SPANREC_META_MAX 4

/* Values equal OTLP's SpanKind so the exporter copies them through. */
enum spanrec_kind {
	SPANREC_KIND_UNSPECIFIED = 0,
	SPANREC_KIND_INTERNAL = 1,
	SPANREC_KIND_SERVER = 2,
	SPANREC_KIND_CLIENT = 3,
};

/* Values equal OTLP's Status.StatusCode. */
enum spanrec_status {
	SPANREC_STATUS_UNSET = 0,
	SPANREC_STATUS_OK = 1,
	SPANREC_STATUS_ERROR = 2,
};

/* gen_ai.operation.name; spanrec_op_name() gives the string. */
enum spanrec_op {
	SPANREC_OP_NONE = 0,
	SPANREC_OP_CHAT,	    /* "chat" */
	SPANREC_OP_TEXT_COMPLETION, /* "text_completion" */
	SPANREC_OP_EMBEDDINGS,	    /* "embeddings" */
	SPANREC_OP_EXECUTE_TOOL,    /* "execute_tool" (MCP tool calls) */
	SPANREC_OP_MODELS,	    /* "models" (GET /v1/models, llmgw-specific) */
	SPANREC_OP_MCP,		    /* "mcp": MCP requests other than tools/call (docs/span-schema.md) */
	SPANREC_OP__COUNT
};

/* flags */
#define SPANREC_F_TRUNCATED (1u << 0)	  /* some string was cut: see trunc_mask */
#define SPANREC_F_HAS_USAGE (1u << 1)	  /* token counts are known */
#define SPANREC_F_STREAM (1u << 2)	  /* the request asked for streaming */
#define SPANREC_F_PARENT_REMOTE (1u << 3) /* parent came from the caller's traceparent */
#define SPANREC_F_META_FULL (1u << 4)	  /* more caller metadata than slots */
#define SPANREC_F_HAS_COST (1u << 5)	  /* cost_micro_usd is meaningful */
/* version 2 */
#define SPANREC_F_CACHE_HIT (1u << 6)	   /* answered from the response cache */
#define SPANREC_F_GUARD_DENIED (1u << 7)   /* a guardrail refused the request or the answer */
#define SPANREC_F_GUARD_REDACTED (1u << 8) /* a guardrail redacted text in the prompt or the answer */
#define SPANREC_F_JSONRPC_ERROR (1u << 9)  /* jsonrpc_error_code is meaningful (MCP) */
#define SPANREC_F_CACHE_LOOKUP (1u << 10)  /* the response cache was consulted (llmgw.cache.hit; CACHE_HIT says how) */
#define SPANREC_F__ALL ((1u << 11) - 1)

struct spanrec_meta {
	char key[16];
	char value[40];
};

struct spanrec {
	/* header: checked before anything else is read */
	uint32_t magic;	     /* SPANREC_MAGIC */
	uint16_t version;    /* SPANREC_VERSION */
	uint16_t size;	     /* SPANREC_SIZE */
	uint32_t flags;	     /* SPANREC_F_* */
	uint8_t kind;	     /* enum spanrec_kind */
	uint8_t status;	     /* enum spanrec_status */
	uint8_t op;	     /* enum spanrec_op */
	uint8_t trace_flags; /* W3C trace-flags byte (bit 0 = sampled) */

	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero for a root span */

	uint64_t start_ns; /* unix ns */
	uint64_t end_ns;   /* unix ns */
	uint64_t ttft_ns;  /* time to first token, ns after start; 0 = n/a */
	int64_t cost_micro_usd;

	uint32_t input_tokens;
	uint32_t output_tokens;
	uint16_t http_status; /* response status sent (SERVER) or received (CLIENT); 0 = none */
	uint16_t server_port;
	uint8_t attempt; /* CLIENT: 1-based upstream attempt number; SERVER: attempts made */
	uint8_t reserved0[3];
	uint32_t cache_read_tokens;
	uint32_t trunc_mask; /* bit i = string field i (spanrec.c table) was cut */

	char name[64];		/* span name, e.g. "chat gpt-4o" */
	char request_model[64]; /* model the client asked for */
	char response_model[64];
	char provider[24]; /* gen_ai.provider.name, e.g. "openai" */
	char server_address[64];
	char error_type[32]; /* error.type, e.g. "timeout", "429" */
	char finish_reason[24];
	char tenant_id[48];
	char team[32];
	char user[48];
	char key_name[32];	  /* virtual key's name, never the key */
	char target[64];	  /* routing decision: "provider/model" */
	char fallback_reason[32]; /* why this attempt is a fallback, "" for the first */
	char request_id[48];	  /* x-request-id */
	char response_id[56];	  /* gen_ai.response.id */
	struct spanrec_meta meta[SPANREC_META_MAX];

	/* version 2: appended after meta (a version 1 record upgrades with all of this zero) */
	char guardrails[48];	    /* llmgw.guardrail.rules: names of the rules that fired, comma-separated */
	char mcp_method[40];	    /* mcp.method.name, e.g. "notifications/roots/list_changed" (32) */
	char mcp_session_id[64];    /* mcp.session.id */
	char tool_name[64];	    /* gen_ai.tool.name */
	char jsonrpc_id[32];	    /* jsonrpc.request.id (a number or a string, as text) */
	int32_t jsonrpc_error_code; /* rpc.jsonrpc.error_code with SPANREC_F_JSONRPC_ERROR */
	uint8_t reserved2[4];
};

static_assert(sizeof(struct spanrec) == SPANREC_SIZE, "span record must be exactly SPANREC_SIZE bytes");
static_assert(offsetof(struct spanrec, magic) == 0, "magic first");
static_assert(offsetof(struct spanrec, version) == 4, "version at 4");
static_assert(offsetof(struct spanrec, size) == 6, "size at 6");
static_assert(offsetof(struct spanrec, flags) == 8, "flags at 8");
static_assert(offsetof(struct spanrec, trace_id) == 16, "trace_id at 16");
static_assert(offsetof(struct spanrec, span_id) == 32, "span_id at 32");
static_assert(offsetof(struct spanrec, parent_span_id) == 40, "parent at 40");
static_assert(offsetof(struct spanrec, start_ns) == 48, "start_ns at 48");
static_assert(offsetof(struct spanrec, cost_micro_usd) == 72, "cost at 72");
static_assert(offsetof(struct spanrec, input_tokens) == 80, "tokens at 80");
static_assert(offsetof(struct spanrec, http_status) == 88, "http_status at 88");
static_assert(offsetof(struct spanrec, trunc_mask) == 100, "trunc_mask at 100");
static_assert(offsetof(struct spanrec, name) == 104, "strings start at 104");
static_assert(offsetof(struct spanrec, tenant_id) == 440, "tenant_id at 440");
static_assert(offsetof(struct spanrec, response_id) == 744, "response_id at 744");
static_assert(offsetof(struct spanrec, meta) == 800, "meta at 800");
static_assert(SPANREC_META_MAX * sizeof(struct spanrec_meta) == 224, "meta block is 224 bytes");
static_assert(offsetof(struct spanrec, guardrails) == SPANREC_V1_SIZE, "version 2 fields follow version 1's");

#endif
