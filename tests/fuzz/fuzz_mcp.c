/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the MCP gateway's input handling (gateway/mcp_rpc.c,
 * gateway/mcp_access.c). Byte 0 picks what the rest is:
 *   0  a client's JSON-RPC message: parsed; on success the kept strings
 *      fit, the kind matches the id, the tool decision runs, the error
 *      answer the gateway would send is valid JSON echoing the same id,
 *      and reading the message as a server answer agrees with it;
 *   1  a server's tools/list answer, filtered for a key with tool globs:
 *      a rewritten answer is valid JSON holding only allowed tools, and
 *      filtering it again changes nothing;
 *   2  an SSE event whose data the gateway replaces: the result is read
 *      back by the SSE parser as exactly one event carrying that data.
 * Anything else would be a bug: abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "gateway/gw_conf.h"
#include "gateway/jscan.h"
#include "gateway/mcp_access.h"
#include "gateway/mcp_rpc.h"
#include "gateway/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *servers[] = {"docs", "gh-*"};
static char *tools[] = {"search_*", "gh-main/get_?ssue", "*/ping", "e*o"};
static const struct gw_mcp_access access_globs = {true, servers, 2, tools, 4, false};

static void client_message(const char *p, size_t n)
{
	struct mcp_msg m;
	struct mcp_rpc_err e;
	struct mcp_resp_facts f;
	struct buf out;
	struct jscan_val root, id;
	if (mcp_rpc_parse(p, n, &m, &e) < 0) {
		if (e.code != MCP_RPC_PARSE_ERROR && e.code != MCP_RPC_INVALID_REQUEST)
			abort();
		return;
	}
	if (strlen(m.method) >= sizeof(m.method) || strlen(m.name) >= sizeof(m.name) ||
	    strlen(m.id.json) >= sizeof(m.id.json) || strlen(m.protocol) >= sizeof(m.protocol))
		abort();
	if ((m.kind == MCP_MSG_REQUEST || m.kind == MCP_MSG_RESPONSE) != (m.id.type != MCP_ID_NONE))
		abort();
	if (m.kind != MCP_MSG_RESPONSE && m.method[0] == '\0')
		abort();
	(void)mcp_access_tool(&access_globs, "docs", m.has_name ? m.name : NULL, m.name_cut);
	buf_init(&out, 1 << 16);
	if (mcp_rpc_error_body(&out, &m.id, MCP_RPC_DENIED, m.name) < 0)
		abort();
	if (jscan_parse(out.data, out.len, &root, NULL) < 0 || !jscan_get(&root, "id", &id))
		abort();
	if (m.id.type != MCP_ID_NONE && (id.len != strlen(m.id.json) || memcmp(id.p, m.id.json, id.len) != 0))
		abort();
	/* the message as a server answer to its own id: an answer exactly when it is a response */
	mcp_rpc_facts(p, n, &m.id, &f);
	if (f.answer && m.kind != MCP_MSG_RESPONSE)
		abort();
	buf_fini(&out);
}

static void tools_answer(const char *p, size_t n)
{
	struct buf out, again;
	size_t removed, removed2;
	buf_init(&out, 1 << 20);
	buf_init(&again, 1 << 20);
	int rc = mcp_access_filter_tools(p, n, &access_globs, "gh-main", &out, &removed);
	if (rc == 1) {
		json_error_t je;
		json_t *root = json_loadb(out.data, out.len, 0, &je);
		json_t *list = json_object_get(json_object_get(root, "result"), "tools");
		if (root == NULL || !json_is_array(list) || memchr(out.data, '\n', out.len) != NULL)
			abort();
		for (size_t i = 0; i < json_array_size(list); i++) {
			const char *name = json_string_value(json_object_get(json_array_get(list, i), "name"));
			if (name == NULL || !mcp_access_tool(&access_globs, "gh-main", name, false))
				abort();
		}
		json_decref(root);
		/* idempotent: what was let through passes again untouched */
		if (mcp_access_filter_tools(out.data, out.len, &access_globs, "gh-main", &again, &removed2) != 1 ||
		    removed2 != 0 || again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
			abort();
	} else if (rc != 0 && rc != -1) {
		abort();
	}
	buf_fini(&again);
	buf_fini(&out);
}

struct one_event {
	int events;
	const char *want;
	size_t want_len;
};

static int on_item(const struct sse_event *ev, void *arg)
{
	struct one_event *o = arg;
	if (ev->kind != SSE_EVENT)
		return 0;
	o->events++;
	if (ev->data_len != o->want_len || memcmp(ev->data, o->want, o->want_len) != 0)
		abort();
	return 0;
}

static void sse_replace(const char *p, size_t n)
{
	static const char json[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}";
	struct buf out;
	struct err err;
	struct one_event o = {0, json, sizeof(json) - 1};
	buf_init(&out, 1 << 20);
	if (mcp_rpc_sse_replace_data(&out, p, n, json, sizeof(json) - 1) < 0)
		abort();
	struct sse *s = sse_new(1 << 20);
	if (s == NULL)
		abort();
	/* a leading BOM would be the stream's, not the event's: start after one */
	if (sse_feed(s, "\n", 1, on_item, &o, &err) < 0 || sse_feed(s, out.data, out.len, on_item, &o, &err) < 0 ||
	    o.events != 1 || sse_pending(s) != 0)
		abort();
	sse_free(s);
	buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 16))
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0:
		client_message(p, n);
		break;
	case 1:
		tools_answer(p, n);
		break;
	default:
		sse_replace(p, n);
		break;
	}
	return 0;
}
