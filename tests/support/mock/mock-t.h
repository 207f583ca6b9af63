/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types shared by the llmgw-mock modules: the process context built in
 * mock_main.c and the per-request fault plan every handler receives.
 *
 * llmgw-mock is a test double for an LLM provider. Tests drive it with
 * command-line defaults and per-request headers (x-mock-*), then read back
 * what it received through /_mock/requests, so a test can assert on exactly
 * what the gateway forwarded upstream.
 */
#ifndef LLMGW_TESTS_MOCK_T_H
#define LLMGW_TESTS_MOCK_T_H

#include <stdint.h>

struct event_base;
struct evhttp;
struct mock_reqlog;
struct mock_pending;

/* Command-line defaults; a request header overrides each one. */
struct mock_opts {
	char listen_host[256];
	uint16_t listen_port;
	int latency_ms;	     /* --latency-ms: delay before every /v1 answer */
	int status;	     /* --status: answer every /v1 request with this status (0 = normal) */
	const char *content; /* --content: fixed assistant text (NULL = echo the last user message) */
};

/* Counters served by GET /_mock/stats. Reset by POST /_mock/reset. */
struct mock_stats {
	uint64_t requests;	   /* every request outside /_mock/ */
	uint64_t chat_completions; /* successful chat answers */
	uint64_t models;	   /* GET /v1/models answers */
	uint64_t injected_errors;  /* answers shaped by --status / x-mock-status */
	uint64_t bad_requests;	   /* 400/404/405 produced by the mock's own validation */
	uint64_t delayed;	   /* answers that waited on a latency timer */
};

/* The process context: the only mutable state, owned by main(). */
struct mock {
	struct mock_opts opts;
	struct event_base *base;
	struct evhttp *http;
	struct mock_reqlog *reqlog;
	struct mock_pending *pending; /* replies waiting on a latency timer (list head) */
	struct mock_stats stats;
	uint64_t next_id; /* for chatcmpl-mock-<n> */
};

/* What the caller asked the mock to do to this one request. */
struct mock_fault {
	int status;	/* non-zero and not 200: answer with this status and an OpenAI error */
	int latency_ms; /* delay the answer by this much (0 = at once) */
};

#endif
