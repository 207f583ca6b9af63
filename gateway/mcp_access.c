/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MCP access decisions (see mcp_access.h). Globs are gov_glob_match's
 * ('*' any run, '?' one byte); lists are a handful of entries, so a
 * linear walk per decision is all it takes.
 *
 * The tools/list filter is the one place a server's answer is edited: a
 * jansson tree of that one message, the denied entries removed, dumped
 * back compactly. Everything else in the message is kept as it came.
 */
#include "gateway/mcp_access.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gov_math.h"
#include "gateway/gw_conf.h"
#include "gateway/mcp_rpc.h"

bool mcp_access_server(const struct gw_mcp_access *a, const char *server)
{
	if (a == NULL)
		return true;
	if (!a->enabled)
		return false;
	for (size_t i = 0; i < a->nservers; i++)
		if (gov_glob_match(a->servers[i], server))
			return true;
	return false;
}

bool mcp_access_all_tools(const struct gw_mcp_access *a, const char *server)
{
	return mcp_access_server(a, server) && (a == NULL || a->all_tools);
}

bool mcp_access_tool(const struct gw_mcp_access *a, const char *server, const char *tool, bool cut)
{
	char full[64 + 1 + MCP_NAME_MAX]; /* "server/tool": server names are at most 64 bytes */
	if (!mcp_access_server(a, server))
		return false;
	if (a == NULL || a->all_tools)
		return true;
	if (cut || tool == NULL || tool[0] == '\0')
		return false;
	snprintf(full, sizeof(full), "%s/%s", server, tool);
	for (size_t i = 0; i < a->ntools; i++)
		if (gov_glob_match(a->tools[i], strchr(a->tools[i], '/') != NULL ? full : tool))
			return true;
	return false;
}

/* Keeps the entries of tools whose name is allowed; returns how many were dropped. */
static size_t filter_array(json_t *tools, const struct gw_mcp_access *a, const char *server)
{
	size_t removed = 0;
	for (size_t i = 0; i < json_array_size(tools);) {
		json_t *name = json_object_get(json_array_get(tools, i), "name");
		const char *s = json_is_string(name) ? json_string_value(name) : NULL;
		/* a name with a NUL in it, or too long to judge, is not a name a glob allowed */
		bool ok = s != NULL && strlen(s) == json_string_length(name) && strlen(s) < MCP_NAME_MAX &&
			  mcp_access_tool(a, server, s, false);
		if (ok) {
			i++;
		} else {
			json_array_remove(tools, i);
			removed++;
		}
	}
	return removed;
}

static int dump_cb(const char *p, size_t n, void *arg)
{
	return buf_append(arg, p, n);
}

int mcp_access_filter_tools(const char *json, size_t len, const struct gw_mcp_access *a, const char *server,
			    struct buf *out, size_t *removed)
{
	json_error_t je;
	int rc = -1;
	*removed = 0;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return -1;
	json_t *tools = json_object_get(json_object_get(root, "result"), "tools");
	if (!json_is_array(tools)) {
		rc = 0;
		goto out;
	}
	*removed = filter_array(tools, a, server);
	/* compact: one line, so it fits an SSE data field as is */
	if (json_dump_callback(root, dump_cb, out, JSON_COMPACT) == 0)
		rc = 1;
out:
	json_decref(root);
	return rc;
}
