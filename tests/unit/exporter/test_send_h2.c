/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The otlp_http sink over TLS against an in-process server on 127.0.0.1
 * (same event loop): HTTP/2 with an nghttp2 server session when ALPN picks
 * h2, a minimal HTTP/1.1 responder when it picks http/1.1. Certificates
 * are generated at run time (a server certificate for IP 127.0.0.1, a
 * client certificate, and a key that matches neither), nothing committed.
 *
 * Covered: the h2 request (pseudo-headers, lower-case configured headers,
 * body larger than the flow-control window), N streams open on ONE
 * connection before the server answers any, SETTINGS_MAX_CONCURRENT_STREAMS
 * respected, outcomes over h2 (partial success, 503 + Retry-After date,
 * 400 JSON Status, an oversized response), a stream timeout that keeps the
 * session, GOAWAY (the unprocessed stream is sent again on a new
 * connection), ALPN falling back to HTTP/1.1, http2: off offering no h2,
 * a server the CA did not sign (nothing sent), and mTLS (accepted with our certificate, refused without, a key that
 * does not match the certificate is a start-up error).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "common/log.h"
#include "exporter/ex_conf.h"
#include "exporter/sink.h"
#include "tests/unit/exporter/ex_fixtures.h"

enum script {
	S_OK = 0,
	S_HOLD_N,  /* answer only once hold_n requests are complete and waiting, then all of them */
	S_PARTIAL, /* 200 + protobuf partial_success */
	S_503_DATE,
	S_400_JSON,
	S_BIG,	   /* 200 with a 5 MiB body */
	S_HANG,	   /* never answer */
	S_GOAWAY1, /* on the first request: GOAWAY(last id = its id), answer it, ignore later streams */
};

#define MAX_CONNS 16
#define MAX_HELD 16
#define MAX_STREAMS 256

struct fx;

struct sstream {
	int32_t id;
	size_t body_len;
	char *resp;
	size_t resp_len, resp_off;
};

struct sconn {
	struct fx *f;
	struct bufferevent *bev;
	nghttp2_session *ng;
	bool h1;
};

struct fx {
	struct event_base *evb;
	struct evconnlistener *lis;
	uint16_t port;
	SSL_CTX *srv_ctx;
	bool srv_h2;	      /* select h2 when offered */
	bool srv_mtls;	      /* require a client certificate */
	uint32_t max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS, 0 = not sent */
	enum script script;
	int hold_n;
	struct sconn *conns[MAX_CONNS];
	int nconns;
	struct sstream *streams[MAX_STREAMS]; /* every one made, freed at the end */
	int nstreams;
	struct {
		struct sconn *c;
		int32_t id;
	} held[MAX_HELD];
	int nheld;
	int32_t goaway_id;
	/* what the server saw */
	int accepted, requests, h1_requests, open_streams, max_open, peer_certs;
	char alpn_offered[64];
	char path[64], authority[64], ctype[64], cenc[32], ua[64], auth[64], tenant[32];
	size_t body_len;
	/* what the sink reported */
	struct ex_conf *conf;
	struct sink *sink;
	int done, ok;
	struct sink_result res;
};

static EVP_PKEY *srv_key, *cli_key, *other_key;
static X509 *srv_crt, *cli_crt;
static char ca_path[64], cli_crt_path[64], cli_key_path[64], other_key_path[64];

/* ---- certificates ------------------------------------------------------------------- */

/* Self-signed, CA:TRUE (its own trust anchor), for IP 127.0.0.1. */
static void cert_make(EVP_PKEY **key, X509 **crt, const char *cn, long serial)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	const char *exts[][2] = {{"basicConstraints", "critical,CA:TRUE"}, {"subjectAltName", "IP:127.0.0.1"}};
	for (size_t i = 0; i < 2; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
		assert_non_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, k, EVP_sha256()) != 0);
	*key = k;
	*crt = x;
}

static FILE *tmp_pem(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/llmgw-test-send.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	return f;
}

static int group_setup(void **state)
{
	FILE *f;
	X509 *other_crt;
	(void)state;
	cert_make(&srv_key, &srv_crt, "llmgw test server", 1);
	cert_make(&cli_key, &cli_crt, "llmgw test client", 2);
	cert_make(&other_key, &other_crt, "unrelated", 3);
	X509_free(other_crt);
	f = tmp_pem(ca_path, sizeof(ca_path));
	assert_int_equal(PEM_write_X509(f, srv_crt), 1);
	fclose(f);
	f = tmp_pem(cli_crt_path, sizeof(cli_crt_path));
	assert_int_equal(PEM_write_X509(f, cli_crt), 1);
	fclose(f);
	f = tmp_pem(cli_key_path, sizeof(cli_key_path));
	assert_int_equal(PEM_write_PrivateKey(f, cli_key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	f = tmp_pem(other_key_path, sizeof(other_key_path));
	assert_int_equal(PEM_write_PrivateKey(f, other_key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(ca_path);
	unlink(cli_crt_path);
	unlink(cli_key_path);
	unlink(other_key_path);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	EVP_PKEY_free(other_key);
	X509_free(srv_crt);
	X509_free(cli_crt);
	return 0;
}

/* ---- server: TLS and ALPN -------------------------------------------------------------- */

static int srv_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
		    void *arg)
{
	struct fx *f = arg;
	size_t o = 0;
	(void)ssl;
	f->alpn_offered[0] = '\0';
	for (unsigned i = 0; i < inlen; i += 1u + in[i]) /* "h2,http/1.1" for the test's eyes */
		o += (size_t)snprintf(f->alpn_offered + o, sizeof(f->alpn_offered) - o, "%s%.*s", o ? "," : "", in[i],
				      (const char *)in + i + 1);
	for (int pass = 0; pass < 2; pass++) {
		const char *want = pass == 0 ? "h2" : "http/1.1";
		if (pass == 0 && !f->srv_h2)
			continue;
		for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
			if (in[i] == strlen(want) && memcmp(in + i + 1, want, in[i]) == 0) {
				*out = in + i + 1;
				*outlen = in[i];
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *srv_ctx_new(struct fx *f)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, srv_crt), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, srv_key), 1);
	SSL_CTX_set_alpn_select_cb(ctx, srv_alpn, f);
	if (f->srv_mtls) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cli_crt);
	}
	return ctx;
}

/* ---- server: HTTP/2 --------------------------------------------------------------------- */

static void srv_flush(struct sconn *c)
{
	const uint8_t *d;
	ssize_t n;
	if (c->ng == NULL)
		return;
	while ((n = nghttp2_session_mem_send(c->ng, &d)) > 0)
		bufferevent_write(c->bev, d, (size_t)n);
}

static ssize_t srv_body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			     nghttp2_data_source *src, void *ud)
{
	struct sstream *st = nghttp2_session_get_stream_user_data(ng, id);
	(void)src;
	(void)ud;
	size_t n = st->resp_len - st->resp_off;
	if (n > length)
		n = length;
	memcpy(buf, st->resp + st->resp_off, n);
	st->resp_off += n;
	if (st->resp_off == st->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void nv(nghttp2_nv *v, const char *n, const char *val)
{
	v->name = (uint8_t *)(uintptr_t)n;
	v->namelen = strlen(n);
	v->value = (uint8_t *)(uintptr_t)val;
	v->valuelen = strlen(val);
	v->flags = NGHTTP2_NV_FLAG_NONE;
}

static void srv_respond(struct sconn *c, int32_t id)
{
	struct fx *f = c->f;
	struct sstream *st = nghttp2_session_get_stream_user_data(c->ng, id);
	nghttp2_nv h[4];
	size_t n = 1; /* h[0] is :status: pseudo-headers come first */
	uint8_t pb[128];
	const char *status = "200";
	if (st == NULL)
		return;
	switch (f->script) {
	case S_PARTIAL: {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse r =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
		Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
		ps.rejected_spans = 5;
		ps.error_message = "five too old";
		r.partial_success = &ps;
		st->resp_len = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&r, pb);
		st->resp = malloc(st->resp_len);
		memcpy(st->resp, pb, st->resp_len);
		nv(&h[n++], "content-type", "application/x-protobuf");
		break;
	}
	case S_503_DATE:
		status = "503";
		nv(&h[n++], "retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"); /* in the past: retry now */
		break;
	case S_400_JSON:
		status = "400";
		st->resp = strdup("{\"code\":3,\"message\":\"bad span\"}");
		st->resp_len = strlen(st->resp);
		nv(&h[n++], "content-type", "application/json");
		break;
	case S_BIG:
		st->resp_len = 5u * 1024 * 1024;
		st->resp = calloc(1, st->resp_len);
		break;
	default:
		break;
	}
	nv(&h[0], ":status", status);
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = srv_body_read};
	nghttp2_submit_response(c->ng, id, h, n, st->resp != NULL ? &prd : NULL);
}

static void srv_request(struct sconn *c, int32_t id)
{
	struct fx *f = c->f;
	f->requests++;
	switch (f->script) {
	case S_HANG:
		return;
	case S_GOAWAY1:
		if (f->goaway_id != 0 && id > f->goaway_id)
			return; /* after our GOAWAY: never processed */
		if (f->goaway_id == 0) {
			f->goaway_id = id;
			nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, NULL, 0);
		}
		break;
	case S_HOLD_N:
		f->held[f->nheld].c = c;
		f->held[f->nheld++].id = id;
		if (f->nheld < f->hold_n)
			return;
		for (int i = 0; i < f->nheld; i++) {
			srv_respond(f->held[i].c, f->held[i].id);
			srv_flush(f->held[i].c);
		}
		f->nheld = 0;
		return;
	default:
		break;
	}
	srv_respond(c, id);
}

static int srv_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct sconn *c = ud;
	if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct sstream *st = calloc(1, sizeof(*st));
	assert_true(c->f->nstreams < MAX_STREAMS);
	c->f->streams[c->f->nstreams++] = st;
	st->id = fr->hd.stream_id;
	nghttp2_session_set_stream_user_data(ng, fr->hd.stream_id, st);
	if (++c->f->open_streams > c->f->max_open)
		c->f->max_open = c->f->open_streams;
	return 0;
}

static void copy_val(char *dst, size_t cap, const uint8_t *v, size_t vl)
{
	snprintf(dst, cap, "%.*s", (int)vl, (const char *)v);
}

static int srv_on_header(nghttp2_session *ng, const nghttp2_frame *fr, const uint8_t *name, size_t nl, const uint8_t *v,
			 size_t vl, uint8_t flags, void *ud)
{
	struct sconn *c = ud;
	struct fx *f = c->f;
	(void)ng;
	(void)fr;
	(void)flags;
	static const struct {
		const char *n;
		size_t off, cap;
	} keep[] = {
	    {":path", offsetof(struct fx, path), sizeof(((struct fx *)0)->path)},
	    {":authority", offsetof(struct fx, authority), sizeof(((struct fx *)0)->authority)},
	    {"content-type", offsetof(struct fx, ctype), sizeof(((struct fx *)0)->ctype)},
	    {"content-encoding", offsetof(struct fx, cenc), sizeof(((struct fx *)0)->cenc)},
	    {"user-agent", offsetof(struct fx, ua), sizeof(((struct fx *)0)->ua)},
	    {"authorization", offsetof(struct fx, auth), sizeof(((struct fx *)0)->auth)},
	    {"x-tenant", offsetof(struct fx, tenant), sizeof(((struct fx *)0)->tenant)},
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i].n) == nl && memcmp(keep[i].n, name, nl) == 0)
			copy_val((char *)f + keep[i].off, keep[i].cap, v, vl);
	return 0;
}

static int srv_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct sstream *st = nghttp2_session_get_stream_user_data(ng, id);
	(void)flags;
	(void)data;
	(void)ud;
	if (st != NULL)
		st->body_len += len;
	return 0;
}

static int srv_on_frame(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct sconn *c = ud;
	struct sstream *st = nghttp2_session_get_stream_user_data(ng, fr->hd.stream_id);
	if ((fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) &&
	    (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) && st != NULL) {
		c->f->body_len = st->body_len;
		srv_request(c, fr->hd.stream_id);
	}
	return 0;
}

static int srv_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct sconn *c = ud;
	struct sstream *st = nghttp2_session_get_stream_user_data(ng, id);
	(void)code;
	if (st == NULL)
		return 0;
	c->f->open_streams--;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	return 0;
}

static void srv_h2_start(struct sconn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_on_close);
	nghttp2_session_server_new(&c->ng, cb, c);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry iv[1] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->f->max_streams}};
	nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, c->f->max_streams > 0 ? 1 : 0);
	srv_flush(c);
}

/* ---- server: connections ------------------------------------------------------------------ */

/* HTTP/1.1 (ALPN fallback): every complete request gets an empty 200. */
static void srv_h1_read(struct sconn *c, struct evbuffer *in)
{
	for (;;) {
		struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (end.pos < 0)
			return;
		size_t head = (size_t)end.pos + 4, body = 0;
		char *h = malloc(head + 1);
		evbuffer_copyout(in, h, head);
		h[head] = '\0';
		for (char *p = h; (p = strchr(p, '\n')) != NULL; p++)
			if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
				body = strtoul(p + 16, NULL, 10);
		free(h);
		if (evbuffer_get_length(in) < head + body)
			return;
		evbuffer_drain(in, head + body);
		c->f->h1_requests++;
		bufferevent_write(c->bev, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
	}
}

static void srv_read(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (c->h1) {
		srv_h1_read(c, in);
		return;
	}
	if (c->ng == NULL)
		return;
	size_t n;
	while ((n = evbuffer_get_contiguous_space(in)) > 0) {
		if (nghttp2_session_mem_recv(c->ng, evbuffer_pullup(in, (ssize_t)n), n) < 0)
			break;
		evbuffer_drain(in, n);
	}
	srv_flush(c);
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
	struct sconn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		const unsigned char *sel = NULL;
		unsigned sl = 0;
		if (SSL_get0_peer_certificate(ssl) != NULL)
			c->f->peer_certs++;
		SSL_get0_alpn_selected(ssl, &sel, &sl);
		c->h1 = !(sl == 2 && memcmp(sel, "h2", 2) == 0);
		if (!c->h1)
			srv_h2_start(c);
		return;
	}
	/* closed or failed: stop, keep the struct for teardown */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct fx *f = arg;
	(void)l;
	(void)sa;
	(void)salen;
	assert_true(f->nconns < MAX_CONNS);
	struct sconn *c = calloc(1, sizeof(*c));
	c->f = f;
	c->bev = bufferevent_openssl_socket_new(f->evb, fd, SSL_new(f->srv_ctx), BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, srv_read, NULL, srv_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	f->conns[f->nconns++] = c;
	f->accepted++;
}

/* ---- fixture --------------------------------------------------------------------------------- */

static struct fx *fx_new(bool h2, bool mtls, uint32_t max_streams)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	f->evb = event_base_new();
	f->srv_h2 = h2;
	f->srv_mtls = mtls;
	f->max_streams = max_streams;
	f->srv_ctx = srv_ctx_new(f);
	f->lis = evconnlistener_new_bind(f->evb, srv_accept, f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(f->lis);
	getsockname(evconnlistener_get_fd(f->lis), (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	return f;
}

/* The sink under test (NULL with err when it cannot be created): https to the server, our CA, cert/key for mTLS. */
static struct sink *fx_sink(struct fx *f, uint32_t concurrency, int64_t timeout_ms, bool http2, const char *cert,
			    const char *key, struct err *err)
{
	char url[64];
	const char *env[] = {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic dGVzdA==,X-Tenant=acme", NULL};
	struct fx_env fe = {env};
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/traces", f->port);
	f->conf = ex_conf_load(NULL, fx_getenv, &fe, err);
	assert_non_null(f->conf);
	assert_int_equal(ex_conf_endpoint_parse(&f->conf->endpoint, url, err), 0);
	f->conf->timeout_ms = timeout_ms;
	f->conf->concurrency = concurrency;
	f->conf->http2 = http2;
	f->conf->ca_file = strdup(ca_path);
	f->conf->client_cert = cert != NULL ? strdup(cert) : NULL;
	f->conf->client_key = key != NULL ? strdup(key) : NULL;
	f->sink = sink_create(f->evb, f->conf, err);
	return f->sink;
}

static void fx_free(struct fx *f)
{
	sink_destroy(f->sink);
	ex_conf_free(f->conf);
	for (int i = 0; i < f->nconns; i++) {
		struct sconn *c = f->conns[i];
		nghttp2_session_del(c->ng);
		bufferevent_free(c->bev);
		free(c);
	}
	for (int i = 0; i < f->nstreams; i++) {
		free(f->streams[i]->resp);
		free(f->streams[i]);
	}
	evconnlistener_free(f->lis);
	SSL_CTX_free(f->srv_ctx);
	event_base_free(f->evb);
	free(f);
}

static void on_done(void *arg, const struct sink_result *res)
{
	struct fx *f = arg;
	f->done++;
	f->ok += res->outcome == SEND_OK;
	f->res = *res;
}

static struct payload *pl(size_t len, unsigned flags)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < len; i++)
		buf_append(&b, (const char[]){(char)('a' + i % 26)}, 1);
	return payload_new(&b, 1, flags, 1);
}

static void run_until(struct fx *f, int done)
{
	for (int i = 0; i < 5000 && f->done < done; i++)
		event_base_loop(f->evb, EVLOOP_ONCE);
	assert_int_equal(f->done, done);
}

static void run_one(struct fx *f, size_t len, unsigned flags)
{
	struct payload *p = pl(len, flags);
	int before = f->done;
	assert_int_equal(sink_submit(f->sink, p, on_done, f), 0);
	run_until(f, before + 1);
	payload_free(p);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_h2_request(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 2, 5000, true, NULL, NULL, &err));
	run_one(f, 300 * 1024, PAYLOAD_F_GZIP); /* several flow-control windows and output high marks */
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.status, 200);
	assert_string_equal(f->alpn_offered, "h2,http/1.1");
	assert_int_equal(f->h1_requests, 0);
	assert_int_equal(f->requests, 1);
	assert_string_equal(f->path, "/v1/traces");
	char want[32];
	snprintf(want, sizeof(want), "127.0.0.1:%u", f->port);
	assert_string_equal(f->authority, want);
	assert_string_equal(f->ctype, "application/x-protobuf");
	assert_string_equal(f->cenc, "gzip");
	assert_true(strncmp(f->ua, "llmgw-exporter/", 15) == 0);
	assert_string_equal(f->auth, "Basic dGVzdA==");
	assert_string_equal(f->tenant, "acme"); /* configured as X-Tenant, sent lower-case */
	assert_int_equal(f->body_len, 300 * 1024);
	run_one(f, 10, PAYLOAD_F_JSON);
	assert_string_equal(f->ctype, "application/json");
	assert_int_equal(f->accepted, 1);
	fx_free(f);
}

/* N requests are all open on one connection before the server answers any of them. */
static void test_h2_streams_in_flight(void **state)
{
	enum { N = 6 };
	struct err err;
	struct payload *p[N];
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, N, 5000, true, NULL, NULL, &err));
	f->script = S_HOLD_N;
	f->hold_n = N;
	for (int i = 0; i < N; i++) { /* before ALPN has answered even once */
		p[i] = pl(100, 0);
		assert_int_equal(sink_submit(f->sink, p[i], on_done, f), 0);
	}
	run_until(f, N);
	assert_int_equal(f->ok, N);
	assert_int_equal(f->max_open, N);
	assert_int_equal(f->accepted, 1);
	for (int i = 0; i < N; i++)
		payload_free(p[i]);
	fx_free(f);
}

static void test_h2_max_concurrent_streams(void **state)
{
	enum { N = 6 };
	struct err err;
	struct payload *p[N];
	(void)state;
	struct fx *f = fx_new(true, false, 2);
	assert_non_null(fx_sink(f, N, 5000, true, NULL, NULL, &err));
	run_one(f, 10, 0); /* the server's SETTINGS are known from here on */
	f->script = S_HOLD_N;
	f->hold_n = 2;
	for (int i = 0; i < N; i++) {
		p[i] = pl(100, 0);
		assert_int_equal(sink_submit(f->sink, p[i], on_done, f), 0);
	}
	run_until(f, N + 1);
	assert_int_equal(f->ok, N + 1);
	assert_int_equal(f->max_open, 2);
	assert_int_equal(f->accepted, 1); /* waited for stream slots rather than dialling more */
	for (int i = 0; i < N; i++)
		payload_free(p[i]);
	fx_free(f);
}

static void test_h2_outcomes(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 1, 5000, true, NULL, NULL, &err));
	f->script = S_PARTIAL;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->res.rejected_spans, 5);
	f->script = S_503_DATE;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 503);
	assert_int_equal(f->res.retry_after_ms, 0); /* a date in the past */
	f->script = S_400_JSON;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_DROP);
	assert_int_equal(f->res.drop_status, 400);
	f->script = S_BIG;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_DROP);
	assert_int_equal(f->res.drop_status, -1);
	f->script = S_OK;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->accepted, 1); /* one session through all of it */
	fx_free(f);
}

static void test_h2_stream_timeout_keeps_session(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 1, 200, true, NULL, NULL, &err));
	f->script = S_HANG;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
	f->script = S_OK;
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->accepted, 1);
	fx_free(f);
}

static void test_h2_goaway_sends_unprocessed_again(void **state)
{
	struct err err;
	struct payload *a = pl(10, 0), *b = pl(10, 0);
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 2, 5000, true, NULL, NULL, &err));
	f->script = S_GOAWAY1;
	assert_int_equal(sink_submit(f->sink, a, on_done, f), 0);
	assert_int_equal(sink_submit(f->sink, b, on_done, f), 0);
	run_until(f, 2);
	assert_int_equal(f->ok, 2);
	assert_int_equal(f->accepted, 2); /* the refused stream went out on a new connection */
	payload_free(a);
	payload_free(b);
	fx_free(f);
}

static void test_alpn_falls_back_to_h1(void **state)
{
	struct err err;
	struct payload *a = pl(10, 0), *b = pl(10, 0);
	(void)state;
	struct fx *f = fx_new(false, false, 0);
	assert_non_null(fx_sink(f, 2, 5000, true, NULL, NULL, &err));
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->h1_requests, 1);
	assert_string_equal(f->alpn_offered, "h2,http/1.1");
	/* now known to be HTTP/1.1: two at once means two connections */
	assert_int_equal(sink_submit(f->sink, a, on_done, f), 0);
	assert_int_equal(sink_submit(f->sink, b, on_done, f), 0);
	run_until(f, 3);
	assert_int_equal(f->ok, 3);
	assert_int_equal(f->h1_requests, 3);
	assert_int_equal(f->accepted, 2);
	payload_free(a);
	payload_free(b);
	fx_free(f);
}

static void test_http2_off(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 1, 5000, false, NULL, NULL, &err));
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_string_equal(f->alpn_offered, "http/1.1");
	assert_int_equal(f->h1_requests, 1);
	fx_free(f);
}

static void test_mtls(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, true, 0);
	assert_non_null(fx_sink(f, 1, 5000, true, cli_crt_path, cli_key_path, &err));
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_OK);
	assert_int_equal(f->peer_certs, 1);
	fx_free(f);

	f = fx_new(true, true, 0); /* the same server refuses a client without a certificate */
	assert_non_null(fx_sink(f, 1, 5000, true, NULL, NULL, &err));
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
	assert_int_equal(f->requests, 0);
	fx_free(f);
}

static void test_wrong_ca(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, false, 0);
	assert_non_null(fx_sink(f, 1, 5000, true, NULL, NULL, &err));
	free(f->conf->ca_file); /* sink_create has loaded it already: rebuild with another anchor */
	f->conf->ca_file = strdup(cli_crt_path);
	sink_destroy(f->sink);
	assert_non_null(f->sink = sink_create(f->evb, f->conf, &err));
	run_one(f, 10, 0);
	assert_int_equal(f->res.outcome, SEND_RETRY);
	assert_int_equal(f->res.status, 0);
	assert_int_equal(f->requests + f->h1_requests, 0); /* nothing sent to an unverified server */
	fx_free(f);
}

static void test_mtls_key_mismatch_is_a_startup_error(void **state)
{
	struct err err;
	(void)state;
	struct fx *f = fx_new(true, true, 0);
	assert_null(fx_sink(f, 1, 5000, true, cli_crt_path, other_key_path, &err));
	assert_non_null(strstr(err.msg, "does not match"));
	assert_null(strstr(err.msg, "BEGIN")); /* a reason, never key material */
	fx_free(f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a peer that closed is an error return, not a death */
	log_init("test_send_h2", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_h2_request),
	    cmocka_unit_test(test_h2_streams_in_flight),
	    cmocka_unit_test(test_h2_max_concurrent_streams),
	    cmocka_unit_test(test_h2_outcomes),
	    cmocka_unit_test(test_h2_stream_timeout_keeps_session),
	    cmocka_unit_test(test_h2_goaway_sends_unprocessed_again),
	    cmocka_unit_test(test_alpn_falls_back_to_h1),
	    cmocka_unit_test(test_http2_off),
	    cmocka_unit_test(test_mtls),
	    cmocka_unit_test(test_wrong_ca),
	    cmocka_unit_test(test_mtls_key_mismatch_is_a_startup_error),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
