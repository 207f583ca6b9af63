/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types shared by the llmgw-mock modules: the process context built in
 * mock_main.c, the per-request fault plan every handler receives, the
 * transport-neutral request (filled by the HTTP/1.1 or HTTP/2 connection
 * that received it) and the small bases connections and requests embed.
 *
 * llmgw-mock is a test double for an LLM provider. Tests drive it with
 * command-line defaults and per-request headers (x-mock-*), then read back
 * what it received through /_mock/requests, so a test can assert on exactly
 * what the gateway forwarded upstream.
 */
#ifndef LLMGW_TESTS_MOCK_T_H
#define LLMGW_TESTS_MOCK_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/keyvalq_struct.h>
#include <jansson.h>

struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;
struct mock_reqlog;
struct mock_req;
struct ssl_ctx_st;

/* Command-line defaults; a request header overrides each one. */
struct mock_opts {
	char listen_host[256];
	uint16_t listen_port;
	int latency_ms;	      /* --latency-ms: delay before every /v1 answer */
	int status;	      /* --status: answer every /v1 request with this status (0 = normal) */
	const char *content;  /* --content: fixed assistant text (NULL = echo the last user message) */
	int chunks;	      /* --chunks: content pieces of a streamed answer (default 5) */
	int chunk_delay_ms;   /* --chunk-delay-ms: pause between stream events (default 0) */
	const char *tls_cert; /* --tls-cert: PEM chain; with tls_key the listener speaks HTTPS */
	const char *tls_key;  /* --tls-key: PEM private key */
	bool h2c;	      /* --h2c: accept HTTP/2 prior knowledge on the plain listener */
	bool no_h2;	      /* --no-h2: TLS ALPN offers http/1.1 only */
};

/* Counters served by GET /_mock/stats. Reset by POST /_mock/reset. */
struct mock_stats {
	uint64_t requests;	     /* every request outside /_mock/ */
	uint64_t chat_completions;   /* successful chat answers (streamed or not) */
	uint64_t models;	     /* GET /v1/models answers */
	uint64_t injected_errors;    /* answers shaped by --status / x-mock-status */
	uint64_t bad_requests;	     /* 400/404/405 produced by the mock's own validation */
	uint64_t delayed;	     /* answers that waited on a latency / first-byte timer */
	uint64_t streams;	     /* SSE answers started */
	uint64_t completions;	     /* successful legacy /v1/completions answers */
	uint64_t embeddings;	     /* successful /v1/embeddings answers */
	uint64_t client_closed;	     /* requests whose client left before the answer was complete */
	uint64_t resets;	     /* streams cut on purpose by x-mock-fail-after */
	uint64_t anthropic_messages; /* successful Anthropic /v1/messages answers (streamed or not) */
	uint64_t gemini_generations; /* successful Gemini generateContent / streamGenerateContent answers */
	uint64_t stream_errors;	     /* streams ended by an in-band error event (x-mock-stream-error) */
	uint64_t faults;	     /* answers shaped by x-mock-fault */
	uint64_t connections_open;   /* live client connections (a gauge: not cleared by reset) */
};

/*
 * Something freed later, from its own loop iteration (mock_conn_defer_free):
 * nothing is ever freed inside its own callback or under a caller that may
 * still touch it.
 */
struct mock_reap {
	struct mock_reap *next;
	void (*free)(struct mock_reap *self);
};

/* A live client connection (sniffing, HTTP/1.1 or HTTP/2), listed for shutdown. */
struct mock_conn {
	struct mock_reap reap;
	struct mock_conn *next;
	struct mock_conn **pprev;
	/* Drops the connection at once (shutdown); must end with mock_conn_defer_free. */
	void (*close)(struct mock_conn *self);
};

/* The process context: the only mutable state, owned by main(). */
struct mock {
	struct mock_opts opts;
	struct event_base *base;
	struct evconnlistener *listener;
	struct ssl_ctx_st *tls; /* SSL_CTX for --tls-cert, else NULL */
	struct mock_reqlog *reqlog;
	struct mock_conn *conns;     /* every open connection */
	struct mock_reap *graveyard; /* waiting for the reaper event */
	struct event *reaper;
	struct mock_stats stats;
	uint64_t next_id; /* for chatcmpl-mock-<n>, msg_mock_<n>, mock-<n> */
	char *filler;	  /* MOCK_FILLER_LEN bytes of 'x' for oversize answers (allocated at start) */
	/* Called by the transports for every complete request (mock_main.c's router). */
	void (*handle)(struct mock *m, struct mock_req *r);
};

/*
 * x-mock-fault: how an answer goes wrong at the transport level (what a
 * broken provider, a proxy in the way or the wrong service on the port
 * does). mock_fault.c plays each one; mock_fault.h says what each sends.
 */
enum mock_fault_mode {
	MOCK_FAULT_NONE = 0,
	MOCK_FAULT_RESET_BEFORE_HEAD, /* RST (h2: RST_STREAM) instead of any answer */
	MOCK_FAULT_GARBAGE,	      /* non-HTTP bytes, connection left open (HTTP/1.1 only) */
	MOCK_FAULT_OVERSIZE_HEAD,     /* a head of 160 fields / 80 KiB (HTTP/1.1 only) */
	MOCK_FAULT_RESET_AFTER_HEAD,  /* head, half the body (streams: nothing), RST */
	MOCK_FAULT_HALF_CLOSE,	      /* head, half the body, FIN; reads on until the client closes (HTTP/1.1 only) */
	MOCK_FAULT_HANG_AFTER_HEAD,   /* head, then nothing, ever */
	MOCK_FAULT_TRICKLE,	      /* head, then one byte (streams: an SSE comment) every trickle_ms, forever */
	MOCK_FAULT_OVERSIZE_BODY,     /* a body (streams: one event) of body_bytes, chunked */
	MOCK_FAULT_SSE_NO_DONE,	      /* streams: every event but the last ([DONE]), then a clean end */
	MOCK_FAULT_SSE_END_EARLY,     /* streams: a clean end after fail_after events (default half) */
	MOCK_FAULT_SSE_CUT_MID_EVENT, /* streams: half of the next event, then a clean end */
	MOCK_FAULT__COUNT
};

/* What the caller asked the mock to do to this one request. */
struct mock_fault {
	int status;	   /* non-zero and not 200: answer with this status and an OpenAI error */
	int latency_ms;	   /* delay the answer by this much (0 = at once) */
	int first_byte_ms; /* x-mock-first-byte-ms: more delay before the response head */
	int chunks;	   /* content pieces of a streamed answer */
	int chunk_delay_ms;
	int fail_after;		   /* cut a stream after this many content chunks; -1 = never */
	int stream_error;	   /* x-mock-stream-error: 1 = end the stream with the format's error event */
	enum mock_fault_mode mode; /* x-mock-fault */
	int trickle_ms;		   /* x-mock-trickle-ms: pause between trickled bytes (default 200) */
	int body_bytes;		   /* x-mock-body-bytes: size of an oversize body (default 65 MiB) */
};

/*
 * The transport under one request. Every call is made only while the
 * request is attached (mock_req.c checks); head() sends status and the
 * request's out_headers, with Content-Length len (len >= 0) or as a stream
 * (len < 0: chunked on HTTP/1.1, DATA frames on HTTP/2).
 */
struct mock_req_ops {
	int (*head)(struct mock_req *r, int status, long len);
	int (*body)(struct mock_req *r, const void *p, size_t n);
	void (*end)(struct mock_req *r);
	/* Abrupt end: TCP RST on HTTP/1.1, RST_STREAM on HTTP/2. */
	void (*reset)(struct mock_req *r);
	/* Answer bytes written but not yet sent (paces large answers). */
	size_t (*pending)(struct mock_req *r);
	/* Optional (NULL on HTTP/2): bytes as they are, no framing, before or instead of a head. */
	int (*raw)(struct mock_req *r, const void *p, size_t n);
	/* Optional (NULL on HTTP/2): FIN once what is written is sent; reads on until the client closes. */
	void (*half_close)(struct mock_req *r);
};

/*
 * One request, from the transport that parsed it to the handler that
 * answers it. The transport owns it and lets go with mock_req_detach();
 * async work (timers, a stream in progress) hangs off it, so detaching
 * cancels everything and there is never a dangling handler.
 */
struct mock_req {
	struct mock_reap reap;
	struct mock *m;
	const struct mock_req_ops *ops; /* NULL once detached */
	void *conn;			/* the transport's handle */
	char method[16];
	char *target; /* request target as sent, query included (owned) */
	char *path;   /* target up to '?' (owned) */
	struct evkeyvalq in_headers;
	struct evkeyvalq out_headers; /* added by handlers, sent by head() */
	struct evbuffer *body;
	const char *http_version; /* "1.0", "1.1" or "2" */
	bool tls;
	bool recorded;	/* counted and logged: a client leaving now is worth recording */
	bool head_sent; /* response started */
	bool done;	/* response complete (end() called) */
	json_t *logent; /* this request's /_mock/requests entry (a reference), or NULL */
	struct event *timer;
	void (*timer_cb)(struct mock_req *r);
	void *job; /* handler state for a delayed or streamed answer */
	void (*job_free)(void *job);
	/* x-mock-fault being played (mock_fault.c); the job above stays the handler's */
	enum mock_fault_mode fault;
	int fault_ms;		/* trickle pause */
	size_t fault_left;	/* oversize filler still to send */
	const char *fault_text; /* static: the trickle tick, or what ends the oversize body */
};

#endif
