/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The relay of one streamed OpenAI chat (or legacy completions) response:
 * upstream SSE bytes go in, the bytes to send to the client now come out
 * through a write callback, and the span facts accumulate on the side.
 * Pure: no sockets, no clock (the caller passes a monotonic time per feed).
 *
 * What the client gets is what the upstream sent, byte for byte, event by
 * event as each one completes (never re-serialised), with one exception:
 * when the gateway injected stream_options.include_usage because the client
 * did not ask for it (opts.drop_usage_chunk), the usage-only chunk
 * ({"choices":[], "usage":{...}}) is consumed and not forwarded, all of
 * its bytes (a CRLF split across reads included). The other
 * chunks of such a stream carry "usage":null, which OpenAI adds to every
 * chunk when usage is on; it is left in place (rewriting would break the
 * byte-for-byte rule, and the SDK chunk types declare usage as optional and
 * nullable, so clients see the same objects). Comments (keep-alives),
 * non-JSON data and "data: [DONE]" are forwarded unchanged.
 *
 * Bounded: the relay holds at most one partial event (max_event bytes, see
 * sse.h); an event over the bound fails the feed.
 *
 * Ends:
 *  - upstream EOF -> chat_stream_finish(). With [DONE], or with a
 *    finish_reason for every requested choice, nothing is added: the
 *    client's stream ends as the upstream's did. Otherwise the stream was
 *    cut short and the client gets the error event below, and the span's
 *    finish_reason is "error" (GenAI semconv: a stream that ended without
 *    one).
 *  - upstream failure mid-stream (reset, idle timeout, oversize event) ->
 *    chat_stream_fail(): the error event, unless the client already has
 *    the whole stream ([DONE]) or the upstream's own error event.
 *
 * The error event is
 *   data: {"error":{"message":"...","type":"api_error","param":null,"code":"upstream_stream_error"}}\n\n
 * and nothing after it. Why this shape: both official SDKs treat a data
 * event without an `event:` name as a chunk and raise APIError when it has
 * an `error` member (openai-python _streaming.py, openai-node
 * core/streaming.ts), so `for await (const chunk of stream)` throws with
 * our message instead of ending quietly with a truncated answer, and
 * hand-written clients that only read `data:` lines see it too. No
 * `event:` name: OpenAI's own chat streams report errors as plain data
 * events, and named events take other paths in the SDKs (node wraps
 * unknown names as {event, data} items). No [DONE] follows because [DONE]
 * means "complete" to clients
 * that stop there without reading errors.
 */
#ifndef LLMGW_GATEWAY_CHAT_STREAM_H
#define LLMGW_GATEWAY_CHAT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "gateway/chat_parse.h"

#define CHAT_STREAM_CHOICES 8 /* per-choice finish reasons kept for n <= 8 */
#define CHAT_STREAM_ERROR_CODE "upstream_stream_error"

/*
 * An optional rewrite of the data events the relay forwards (output
 * guardrails, gateway/api_guard.c): called with each data event's payload
 * (after its facts were read; never for the dropped usage chunk, comments
 * or [DONE]), and once with data NULL right before [DONE] is forwarded.
 * Returns CHAT_STREAM_FILTER_PASS (forward the event as it came),
 * _REPLACE (forward the whole events appended to out instead; for the
 * NULL call: send them before [DONE]), _DENY (stop: the feed fails with
 * EACCES and nothing of this event is forwarded) or -1 (the feed fails
 * with ENOMEM).
 */
enum chat_stream_filter_rc {
	CHAT_STREAM_FILTER_PASS = 0,
	CHAT_STREAM_FILTER_REPLACE,
	CHAT_STREAM_FILTER_DENY,
};
typedef int (*chat_stream_filter_cb)(void *arg, const char *data, size_t len, struct buf *out);

struct chat_stream_opts {
	bool drop_usage_chunk; /* the gateway injected include_usage: consume the usage-only chunk */
	unsigned n_choices;    /* choices requested (chat_request.n_choices); 0 means 1 */
	size_t max_event;      /* 0: SSE_MAX_DEFAULT (1 MiB) */
	/*
	 * Parse every data event as JSON. Off (the default), events after the
	 * first token are parsed only when they may carry something the span
	 * needs (a non-null usage or finish_reason, an error, \u escapes); the
	 * facts are the same either way (the fuzz target checks it), only
	 * non_json may count differently. Costs ~5 us more per chunk.
	 */
	bool parse_all;
	chat_stream_filter_cb filter; /* NULL: none */
	void *filter_arg;
};

/* Span facts so far; read any time through chat_stream_info(). */
struct chat_stream_info {
	/*
	 * id and model (first chunk that has them), finish_reason (choice
	 * index 0, "error" once the stream ended without one) and usage (last
	 * usage object with counts): the same struct the non-streaming path
	 * fills, so span code does not care which path ran.
	 */
	struct chat_response_info resp;
	char finish_reasons[CHAT_STREAM_CHOICES][24]; /* by choice index */
	bool first_token;	      /* a content / tool-call / refusal / reasoning / text delta came */
	uint64_t first_token_ns;      /* now_ns of the feed that completed that event */
	bool done;		      /* data: [DONE] was seen */
	bool upstream_error;	      /* a data event had a non-null `error`, or an event was named "error" */
	char upstream_error_code[32]; /* its error.code (or .type) when it had one */
	uint32_t events;	      /* data events, [DONE] included */
	uint32_t non_json;	      /* data events that are neither [DONE] nor a JSON object */
	uint32_t comments;
	uint32_t usage_dropped; /* usage-only chunks consumed */
	uint64_t bytes_in, bytes_out;
	size_t pending_at_end; /* bytes of an unfinished event discarded at the end */
};

/* Sends n bytes to the client (copy them; p is not kept). 0 or -1 (client gone). */
typedef int (*chat_stream_write_cb)(const char *p, size_t n, void *arg);

struct chat_stream;

/* A relay for one response; o may be NULL (defaults). NULL on ENOMEM. */
struct chat_stream *chat_stream_new(const struct chat_stream_opts *o);
/* Frees cs; NULL is a no-op. */
void chat_stream_free(struct chat_stream *cs);

/*
 * Feeds one piece of the upstream body received at now_ns (monotonic).
 * Complete events are forwarded through w before it returns, consecutive
 * ones from the same piece in one call; a partial event waits for the
 * next piece. Returns 0, or -1 with err: an event over max_event
 * (err->code EMSGSIZE: call chat_stream_fail next), w failed (EPIPE), or
 * the relay already ended or failed (EINVAL). Events completed before a
 * failure were forwarded.
 */
int chat_stream_feed(struct chat_stream *cs, const char *data, size_t len, uint64_t now_ns, chat_stream_write_cb w,
		     void *arg, struct err *err);

enum chat_stream_end {
	CHAT_STREAM_END_DONE = 0,	/* [DONE] came: complete */
	CHAT_STREAM_END_NO_DONE,	/* no [DONE], but every requested choice finished: ended as is */
	CHAT_STREAM_END_UPSTREAM_ERROR, /* the upstream sent its own error event (already forwarded) */
	CHAT_STREAM_END_TRUNCATED,	/* cut short: our error event was written */
};

/*
 * The upstream body ended. Decides how the client's stream ends (see the
 * top of this file), writing the error event with message (NULL: a
 * default) when it was cut short. Calling it again returns the same
 * answer and writes nothing.
 */
enum chat_stream_end chat_stream_finish(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg);

/*
 * The upstream failed mid-stream. Writes the error event with message
 * (NULL: a default; never a secret: it reaches the client) unless the
 * client already has [DONE] or the upstream's own error event. Returns 1
 * if written, 0 if nothing was needed (or the relay had ended), -1 if w
 * failed. Sets the span's finish_reason to "error" when it had none.
 */
int chat_stream_fail(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg);

/*
 * A guardrail stopped the stream (after a feed failed with EACCES): writes
 * the error event with code "guardrail_denied" and type
 * "invalid_request_error" (message: the rule, never the text) and ends the
 * relay. Returns 1 if written, -1 if w failed, 0 if the relay had ended.
 */
int chat_stream_deny(struct chat_stream *cs, const char *message, chat_stream_write_cb w, void *arg);

/* Span facts; valid until chat_stream_free. */
const struct chat_stream_info *chat_stream_info(const struct chat_stream *cs);

/*
 * Appends the terminating error event for message to out (JSON-escaped,
 * invalid UTF-8 repaired, so it is always one well-formed event). -1 when
 * out is full (out unchanged).
 */
int chat_stream_error_event(struct buf *out, const char *message);

#endif
