/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-RPC messages of MCP read in place with jscan (see mcp_rpc.h), and
 * the few bytes the gateway writes itself: its error responses and the SSE
 * events that carry them or a rewritten answer. Writers escape by hand
 * into bounded buffers; nothing here allocates beyond them.
 */
#include "gateway/mcp_rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gateway/jscan.h"

static int rpc_fail(struct mcp_rpc_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int rpc_fail(struct mcp_rpc_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* How many members of object obj are named key (duplicates counted). */
static size_t member_count(const struct jscan_val *obj, const char *key)
{
	struct jscan_iter it;
	struct jscan_val k, v;
	size_t n = 0;
	jscan_iter_init(&it, obj);
	while (jscan_next(&it, &k, &v))
		if (jscan_key_is(&k, key))
			n++;
	return n;
}

static bool any_duplicate(const struct jscan_val *obj, const char *const *keys, size_t nkeys)
{
	for (size_t i = 0; i < nkeys; i++)
		if (member_count(obj, keys[i]) > 1)
			return true;
	return false;
}

/* A string member into dst (cap bytes); false when absent or not a string. *cut: it did not fit. */
static bool get_str(const struct jscan_val *obj, const char *key, char *dst, size_t cap, bool *cut)
{
	struct jscan_val v;
	dst[0] = '\0';
	if (!jscan_get(obj, key, &v) || v.type != JSCAN_STRING)
		return false;
	size_t full = jscan_str(&v, dst, cap);
	if (cut != NULL)
		*cut = full >= cap;
	return true;
}

/* An id value into out; -1 when it is of a type JSON-RPC does not allow or too long to keep. */
static int id_read(const struct jscan_val *v, struct mcp_id *out)
{
	memset(out, 0, sizeof(*out));
	switch (v->type) {
	case JSCAN_NONE:
		return 0;
	case JSCAN_NULL:
		out->type = MCP_ID_NULL;
		break;
	case JSCAN_STRING:
		out->type = MCP_ID_STRING;
		break;
	case JSCAN_INTEGER:
	case JSCAN_REAL:
		out->type = MCP_ID_NUMBER;
		break;
	default:
		return -1;
	}
	if (v->len >= sizeof(out->json))
		return -1;
	memcpy(out->json, v->p, v->len);
	out->json[v->len] = '\0';
	if (out->type == MCP_ID_STRING)
		jscan_str(v, out->text, sizeof(out->text));
	else if (out->type == MCP_ID_NUMBER)
		memcpy(out->text, out->json, v->len + 1);
	return 0;
}

static bool id_equal(const struct mcp_id *a, const struct mcp_id *b)
{
	if (a->type != b->type || a->type == MCP_ID_NONE)
		return false;
	/* strings compare unescaped ("a" and "\u0061" are one id); numbers as written */
	return a->type == MCP_ID_STRING ? strcmp(a->text, b->text) == 0 : strcmp(a->json, b->json) == 0;
}

/* params: the name of tools/call and prompts/get, initialize's version, _meta.traceparent. */
static int read_params(const struct jscan_val *root, struct mcp_msg *m, struct mcp_rpc_err *e)
{
	static const char *const pkeys[] = {"name"};
	struct jscan_val params, meta;
	if (!jscan_get(root, "params", &params) || params.type != JSCAN_OBJECT)
		return 0;
	if (any_duplicate(&params, pkeys, 1))
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "params.name is given twice");
	if (mcp_msg_is(m, "tools/call") || mcp_msg_is(m, "prompts/get"))
		m->has_name = get_str(&params, "name", m->name, sizeof(m->name), &m->name_cut);
	if (mcp_msg_is(m, "initialize"))
		get_str(&params, "protocolVersion", m->protocol, sizeof(m->protocol), NULL);
	if (jscan_get(&params, "_meta", &meta) && meta.type == JSCAN_OBJECT) {
		bool cut = false;
		if (get_str(&meta, "traceparent", m->traceparent, sizeof(m->traceparent), &cut) && cut)
			m->traceparent[0] = '\0';
	}
	return 0;
}

int mcp_rpc_parse(const char *body, size_t len, struct mcp_msg *m, struct mcp_rpc_err *e)
{
	static const char *const keys[] = {"jsonrpc", "method", "id", "params"};
	struct jscan_val root, v, id;
	struct jscan_err je;
	char ver[8];
	memset(m, 0, sizeof(*m));
	memset(e, 0, sizeof(*e));
	if (body == NULL || len == 0)
		return rpc_fail(e, MCP_RPC_PARSE_ERROR, "empty body: send one JSON-RPC message");
	if (jscan_parse(body, len, &root, &je) < 0)
		return rpc_fail(e, MCP_RPC_PARSE_ERROR, "the body is not valid JSON (byte %zu: %s)", je.pos, je.text);
	if (root.type == JSCAN_ARRAY) {
		e->batch = true;
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST,
				"JSON-RPC batches are not supported: send one message per request (MCP 2025-06-18 "
				"removed batching)");
	}
	if (root.type != JSCAN_OBJECT)
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "a JSON-RPC message is a JSON object");
	if (any_duplicate(&root, keys, sizeof(keys) / sizeof(keys[0])))
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "a member (jsonrpc, method, id or params) is given twice");
	bool cut = false;
	if (!get_str(&root, "jsonrpc", ver, sizeof(ver), &cut) || cut || strcmp(ver, "2.0") != 0)
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
	jscan_get(&root, "id", &id);
	if (id_read(&id, &m->id) < 0)
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "\"id\" must be a string or a number of at most %d bytes",
				MCP_ID_MAX - 1);
	if (jscan_get(&root, "method", &v)) {
		if (v.type != JSCAN_STRING)
			return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "\"method\" must be a string");
		m->method_cut = jscan_str(&v, m->method, sizeof(m->method)) >= sizeof(m->method);
		if (m->method[0] == '\0')
			return rpc_fail(e, MCP_RPC_INVALID_REQUEST, "\"method\" must not be empty");
		m->kind = m->id.type == MCP_ID_NONE ? MCP_MSG_NOTIFICATION : MCP_MSG_REQUEST;
		return read_params(&root, m, e);
	}
	if (m->id.type == MCP_ID_NONE || (!jscan_get(&root, "result", &v) && !jscan_get(&root, "error", &v)))
		return rpc_fail(e, MCP_RPC_INVALID_REQUEST,
				"not a JSON-RPC request (method), notification or response (id with result or error)");
	m->kind = MCP_MSG_RESPONSE;
	return 0;
}

bool mcp_msg_is(const struct mcp_msg *m, const char *method)
{
	return m->kind != MCP_MSG_RESPONSE && !m->method_cut && strcmp(m->method, method) == 0;
}

void mcp_rpc_facts(const char *json, size_t len, const struct mcp_id *want, struct mcp_resp_facts *f)
{
	struct jscan_val root, v, res;
	struct mcp_id id;
	memset(f, 0, sizeof(*f));
	if (json == NULL || jscan_parse(json, len, &root, NULL) < 0 || root.type != JSCAN_OBJECT)
		return;
	if (jscan_get(&root, "method", &v) || !jscan_get(&root, "id", &v) || id_read(&v, &id) < 0 ||
	    !id_equal(&id, want))
		return;
	if (jscan_get(&root, "error", &v) && v.type == JSCAN_OBJECT) {
		struct jscan_val code;
		f->answer = true;
		f->has_error = true;
		if (jscan_get(&v, "code", &code))
			jscan_int(&code, &f->error_code);
		return;
	}
	if (!jscan_get(&root, "result", &res))
		return;
	f->answer = true;
	if (res.type != JSCAN_OBJECT)
		return;
	f->tool_error = jscan_get(&res, "isError", &v) && v.type == JSCAN_TRUE;
	get_str(&res, "protocolVersion", f->protocol, sizeof(f->protocol), NULL);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none starts there. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xf0 && s[1] < 0x90) || (c == 0xed && s[1] >= 0xa0) ||
	    (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* s as a JSON string (quotes included); bytes that are not UTF-8 become '?'. */
static int put_json_string(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	int rc = buf_puts(out, "\"");
	for (size_t i = 0; i < n && rc == 0;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			rc = buf_append(out, esc, 2);
			i++;
		} else if (c < 0x20) {
			rc = buf_printf(out, "\\u%04x", c);
			i++;
		} else {
			size_t l = utf8_seq(p + i, n - i);
			rc = l > 0 ? buf_append(out, p + i, l) : buf_puts(out, "?");
			i += l > 0 ? l : 1;
		}
	}
	return rc < 0 ? -1 : buf_puts(out, "\"");
}

int mcp_rpc_error_body(struct buf *out, const struct mcp_id *id, int code, const char *msg)
{
	const char *idj = id != NULL && id->type != MCP_ID_NONE ? id->json : "null";
	if (buf_printf(out, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":", idj, code) < 0 ||
	    put_json_string(out, msg != NULL ? msg : "") < 0)
		return -1;
	return buf_puts(out, "}}");
}

int mcp_rpc_sse_event(struct buf *out, const char *json, size_t len)
{
	if (buf_puts(out, "event: message\ndata: ") < 0 || buf_append(out, json, len) < 0)
		return -1;
	return buf_puts(out, "\n\n");
}

int mcp_rpc_sse_replace_data(struct buf *out, const char *raw, size_t raw_len, const char *json, size_t len)
{
	size_t i = 0;
	while (i < raw_len) {
		size_t start = i;
		while (i < raw_len && raw[i] != '\n' && raw[i] != '\r')
			i++;
		size_t end = i;
		/* one line ending: CRLF, LF or CR */
		if (i < raw_len && raw[i] == '\r')
			i++;
		if (i < raw_len && raw[i] == '\n')
			i++;
		size_t n = end - start;
		if (n == 0)
			continue; /* the blank line that ends the event: written once, below */
		bool data = n >= 4 && memcmp(raw + start, "data", 4) == 0 && (n == 4 || raw[start + 4] == ':');
		if (!data && (buf_append(out, raw + start, n) < 0 || buf_puts(out, "\n") < 0))
			return -1;
	}
	if (buf_puts(out, "data: ") < 0 || buf_append(out, json, len) < 0)
		return -1;
	return buf_puts(out, "\n\n");
}
