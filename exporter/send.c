/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/HTTP client on libevent's evhttp (optionally over bufferevent_openssl).
 *
 * Connection policy: one connection, reused across requests (keep-alive, as
 * OTLP recommends). It is replaced, never reconnected in place, after any
 * failure, after the server closes it, and before use when it has been idle
 * for SEND_IDLE_MAX: load balancers drop idle connections silently after
 * ~60 s and the next request on such a socket fails; and an evhttp
 * connection re-dialled in place would reuse a spent SSL object. Replacing
 * is safe because send_submit() is never called from inside evhttp.
 *
 * TLS (common/tls): verification of the peer chain (system trust store or
 * ca_file), hostname or IP verification, SNI for names, TLS 1.2 minimum;
 * no ALPN (the endpoint speaks HTTP/1.1 and needs no negotiation).
 *
 * Time limit: export.timeout bounds the whole attempt (connect, TLS, send,
 * response) with our own timer; evhttp's inactivity timeouts are set to
 * the same value as a second line of defence.
 *
 * Secrets: configured header values go on the wire only. Logs carry the
 * status, the server's message (cut, UTF-8-repaired) and header names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tls.h"
#include "exporter/sink.h"

#define SEND_IDLE_MAX_NS (30ull * 1000000000) /* below the usual 60 s LB idle timeout */
#define SEND_MAX_HEADERS (64 * 1024)	      /* response header block */
#define SEND_NO_LIMIT_TIMEOUT_S (24 * 3600)   /* timeout 0: evhttp still needs a value */

struct send {
	struct sink base; /* first */
	const struct ex_conf *conf;
	struct event_base *evb;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx; /* NULL for http:// */
	struct evhttp_connection *conn;
	bool conn_dead;
	uint64_t conn_used_ns;
	struct evhttp_request *req; /* in flight, owned by evhttp */
	int req_error;		    /* enum evhttp_request_error + 1; 0 = none */
	struct event *deadline_ev;
	sink_done_cb done;
	void *done_arg;
	char user_agent[96];
};

static const char *send_req_error_name(int e)
{
	switch (e - 1) {
	case EVREQ_HTTP_TIMEOUT:
		return "timeout";
	case EVREQ_HTTP_EOF:
		return "connection_closed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "invalid_response";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "connect_or_io_error";
	case EVREQ_HTTP_REQUEST_CANCEL:
		return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "response_too_large";
	default:
		return "connect_or_io_error";
	}
}

/* ---- TLS -------------------------------------------------------------------- */

/* A fresh SSL bufferevent bound to the endpoint's name (SNI + verification). */
static struct bufferevent *send_tls_bev(struct send *s)
{
	struct err e;
	char q[300];
	SSL *ssl = tls_client_ssl_new(s->ssl_ctx, s->conf->endpoint.http.host, &e);
	if (ssl == NULL) {
		log_msg(LOG_LVL_WARN, "export_tls_setup", "error=%s", log_quote(e.msg, q, sizeof(q)));
		return NULL;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(s->evb, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
								 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Many servers and LBs close without close_notify; that is not an error for HTTP with lengths. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Why a TLS connection failed, for the log: verification result or the OpenSSL error queue. */
static void send_tls_reason(struct send *s, char *out, size_t outsz)
{
	out[0] = '\0';
	struct bufferevent *bev = s->conn ? evhttp_connection_get_bufferevent(s->conn) : NULL;
	if (bev == NULL || s->ssl_ctx == NULL)
		return;
	tls_describe_failure(bufferevent_openssl_get_ssl(bev), bufferevent_get_openssl_error(bev), out, outsz);
	while (bufferevent_get_openssl_error(bev) != 0)
		; /* drain the rest so the next connection starts clean */
}

/* ---- connection ------------------------------------------------------------- */

static void send_conn_closed(struct evhttp_connection *conn, void *arg)
{
	struct send *s = arg;
	if (conn == s->conn)
		s->conn_dead = true;
}

static int send_conn_ensure(struct send *s)
{
	uint64_t now = clock_mono_ns();
	if (s->conn != NULL && (s->conn_dead || now - s->conn_used_ns > SEND_IDLE_MAX_NS)) {
		evhttp_connection_free(s->conn);
		s->conn = NULL;
	}
	if (s->conn != NULL)
		return 0;
	const struct ex_endpoint *ep = &s->conf->endpoint;
	struct bufferevent *bev = NULL;
	if (s->ssl_ctx != NULL && (bev = send_tls_bev(s)) == NULL)
		return -1;
	s->conn = evhttp_connection_base_bufferevent_new(s->evb, s->dns, bev, ep->http.host, ep->http.port);
	if (s->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return -1;
	}
	int64_t t = s->conf->timeout_ms;
	struct timeval tv = {t > 0 ? t / 1000 : SEND_NO_LIMIT_TIMEOUT_S, t > 0 ? (t % 1000) * 1000 : 0};
	evhttp_connection_set_timeout_tv(s->conn, &tv);
	evhttp_connection_set_retries(s->conn, 0); /* retry.c owns retries, with backoff */
	evhttp_connection_set_max_body_size(s->conn, SEND_RESPONSE_MAX);
	evhttp_connection_set_max_headers_size(s->conn, SEND_MAX_HEADERS);
	evhttp_connection_set_closecb(s->conn, send_conn_closed, s);
	s->conn_dead = false;
	s->conn_used_ns = now;
	return 0;
}

/* ---- completion --------------------------------------------------------------- */

static void send_finish(struct send *s, const struct sink_result *res)
{
	sink_done_cb done = s->done;
	s->done = NULL;
	s->req = NULL;
	event_del(s->deadline_ev);
	s->conn_used_ns = clock_mono_ns();
	if (res->outcome == SEND_RETRY && res->status == 0)
		s->conn_dead = true; /* never reuse a connection that just failed */
	if (done != NULL)
		done(s->done_arg, res);
}

/* No HTTP response: connect/TLS/IO error, timeout, or an oversized response. */
static void send_failed(struct send *s, const char *why)
{
	struct sink_result res = {SEND_RETRY, 0, -1, 0, 0};
	char tls[200], q[240];
	send_tls_reason(s, tls, sizeof(tls));
	if (s->req_error - 1 == EVREQ_HTTP_DATA_TOO_LONG) {
		/* OTLP: a response over the limit is a non-retryable error. */
		res.outcome = SEND_DROP;
		res.drop_status = -1;
	}
	log_msg(LOG_LVL_WARN, "export_failed", "endpoint=%s error=%s%s%s outcome=%s", s->conf->endpoint.http.authority,
		why, tls[0] ? " tls_error=" : "", tls[0] ? log_quote(tls, q, sizeof(q)) : "",
		send_outcome_name(res.outcome));
	s->conn_dead = true;
	send_finish(s, &res);
}

static void send_log_response(struct send *s, int status, enum send_outcome o, const struct send_response *r,
			      int64_t retry_after_ms)
{
	char q[300];
	const char *msg = log_quote(r->message, q, sizeof(q));
	if (o == SEND_OK && r->partial)
		log_msg(LOG_LVL_WARN, "export_partial_success", "endpoint=%s status=%d rejected_spans=%lld message=%s",
			s->conf->endpoint.http.authority, status, (long long)r->rejected_spans, msg);
	else if (o == SEND_RETRY)
		log_msg(LOG_LVL_WARN, "export_retry", "endpoint=%s status=%d retry_after_ms=%lld message=%s",
			s->conf->endpoint.http.authority, status, (long long)retry_after_ms, msg);
	else if (o == SEND_DROP)
		log_msg(LOG_LVL_ERROR, "export_rejected", "endpoint=%s status=%d message=%s",
			s->conf->endpoint.http.authority, status, msg);
	else
		log_msg(LOG_LVL_DEBUG, "export_ok", "endpoint=%s status=%d", s->conf->endpoint.http.authority, status);
}

static void send_req_done(struct evhttp_request *req, void *arg)
{
	struct send *s = arg;
	int status = req ? evhttp_request_get_response_code(req) : 0;
	if (status == 0) {
		send_failed(s, send_req_error_name(s->req_error));
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
	size_t len = evbuffer_get_length(in);
	struct send_response r;
	struct sink_result res = {send_outcome_classify(status), status, -1, 0, status};
	enum send_body_kind kind = send_outcome_body_kind(evhttp_find_header(hdr, "Content-Type"));
	const unsigned char *body = len ? evbuffer_pullup(in, -1) : NULL;
	if (send_outcome_decode(status, body, len, kind, &r) != 0)
		snprintf(r.message, sizeof(r.message), "(undecodable %zu-byte response body)", len);
	if (res.outcome == SEND_OK && r.partial)
		res.rejected_spans = r.rejected_spans;
	if (res.outcome == SEND_RETRY &&
	    send_outcome_retry_after(evhttp_find_header(hdr, "Retry-After"), time(NULL), &res.retry_after_ms) != 0)
		res.retry_after_ms = -1;
	send_log_response(s, status, res.outcome, &r, res.retry_after_ms);
	send_finish(s, &res);
}

static void send_req_error(enum evhttp_request_error e, void *arg)
{
	struct send *s = arg;
	s->req_error = (int)e + 1;
}

static void send_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct send *s = arg;
	(void)fd;
	(void)what;
	if (s->req == NULL)
		return;
	/* Cancelling frees the request and resets the connection; our done is not called by evhttp. */
	evhttp_cancel_request(s->req);
	s->req = NULL;
	s->req_error = EVREQ_HTTP_TIMEOUT + 1;
	send_failed(s, "timeout");
}

/* ---- sink ops ------------------------------------------------------------------- */

static int send_headers(struct send *s, struct evhttp_request *req, const struct payload *p)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", s->conf->endpoint.http.authority) != 0 ||
	    evhttp_add_header(h, "User-Agent", s->user_agent) != 0 ||
	    evhttp_add_header(h, "Content-Type",
			      (p->flags & PAYLOAD_F_JSON) ? "application/json" : "application/x-protobuf") != 0)
		return -1;
	if ((p->flags & PAYLOAD_F_GZIP) && evhttp_add_header(h, "Content-Encoding", "gzip") != 0)
		return -1;
	const struct kvlist *cfg = &s->conf->headers;
	for (size_t i = 0; i < cfg->n; i++) {
		/* A configured User-Agent replaces ours rather than doubling it. */
		if (strcasecmp(cfg->items[i].key, "User-Agent") == 0)
			evhttp_remove_header(h, "User-Agent");
		if (evhttp_add_header(h, cfg->items[i].key, cfg->items[i].value) != 0)
			return -1;
	}
	return 0;
}

static int send_submit(struct sink *base, const struct payload *p, sink_done_cb done, void *arg)
{
	struct send *s = (struct send *)base;
	if (s->req != NULL || send_conn_ensure(s) != 0)
		return -1;
	struct evhttp_request *req = evhttp_request_new(send_req_done, s);
	if (req == NULL)
		return -1;
	evhttp_request_set_error_cb(req, send_req_error);
	if (send_headers(s, req, p) != 0 || evbuffer_add(evhttp_request_get_output_buffer(req), p->data, p->len) != 0) {
		evhttp_request_free(req);
		return -1;
	}
	s->req_error = 0;
	s->done = done;
	s->done_arg = arg;
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, s->conf->endpoint.target) != 0) {
		/* evhttp has released req on this path. */
		s->done = NULL;
		s->conn_dead = true;
		return -1;
	}
	s->req = req;
	if (s->conf->timeout_ms > 0) {
		struct timeval tv = {s->conf->timeout_ms / 1000, (s->conf->timeout_ms % 1000) * 1000};
		event_add(s->deadline_ev, &tv);
	}
	return 0;
}

static void send_cancel(struct sink *base)
{
	struct send *s = (struct send *)base;
	event_del(s->deadline_ev);
	s->done = NULL;
	if (s->req != NULL) {
		evhttp_cancel_request(s->req);
		s->req = NULL;
		s->conn_dead = true;
	}
}

static void send_destroy(struct sink *base)
{
	struct send *s = (struct send *)base;
	if (s == NULL)
		return;
	if (s->conn != NULL)
		evhttp_connection_free(s->conn);
	if (s->deadline_ev != NULL)
		event_free(s->deadline_ev);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	SSL_CTX_free(s->ssl_ctx);
	free(s);
}

static struct sink *send_create(struct event_base *evb, const struct ex_conf *c, struct err *err)
{
	struct send *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	s->base.ops = &sink_otlp_http_ops;
	s->conf = c;
	s->evb = evb;
	snprintf(s->user_agent, sizeof(s->user_agent), "llmgw-exporter/%s", LLMGW_VERSION);
	s->deadline_ev = evtimer_new(evb, send_deadline, s);
	/* Async DNS: a resolver stall must never block the loop. Falls back to no nameservers (IPs only). */
	s->dns = evdns_base_new(evb, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->dns == NULL)
		s->dns = evdns_base_new(evb, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->deadline_ev == NULL || s->dns == NULL) {
		err_set(err, ENOMEM, "cannot set up the HTTP client");
		goto fail;
	}
	if (c->endpoint.http.tls) {
		struct err e;
		if ((s->ssl_ctx = tls_client_ctx_new(c->ca_file, NULL, 0, &e)) == NULL) {
			err_set(err, e.code, "TLS: %s", e.msg);
			goto fail;
		}
	}
	return &s->base;
fail:
	send_destroy(&s->base);
	return NULL;
}

const struct sink_ops sink_otlp_http_ops = {
    .name = "otlp_http",
    .create = send_create,
    .submit = send_submit,
    .cancel = send_cancel,
    .destroy = send_destroy,
};
