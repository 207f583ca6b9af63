// SPDX-License-Identifier: Apache-2.0
//
// The MCP gateway end to end with the official TypeScript SDK on both
// sides: real SDK servers (StreamableHTTPServerTransport, stateful
// sessions, one answering in JSON and one in SSE) behind llmgw-gateway at
// /mcp/{server}, and the SDK's Client + StreamableHTTPClientTransport
// presenting a virtual key. Checked: initialize, tools/list cut down to
// the key's tools, tools/call (JSON and SSE with progress), a denied tool
// (JSON-RPC error, never reaching the server), a denied and an unknown
// server, the GET stream carrying a server notification, session end
// (DELETE) and the unknown session after it, batches refused, what the
// server received (the gateway's credential, never the key; traceparent),
// the spans at otlp-sink and /metrics.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  Stack, freePort, http, metric, randHex, sha256hex, sleep, waitFor, waitHttp, writeConfig,
} from '../integration/lib/stack.mjs';
import { startExporter } from '../integration/lib/llmgw.mjs';
import { TOOLS, startMcpServers } from './lib/mcp.mjs';

const KEY_AGENT = 'llmgw-e2e-mcp-agent-8c41d27f';
const KEY_ALL = 'llmgw-e2e-mcp-all-5b93e0aa';
const KEY_NONE = 'llmgw-e2e-mcp-none-1f7a6c3b';
const UPSTREAM_AUTH = 'Bearer mcp-upstream-secret-4e1b9d';
const AGENT_TOOLS = ['add', 'announce', 'echo', 'fail', 'progress'];
const AGENT_TOOLS_YAML = 'echo, add, fail, progress, "docs-*/announce"';

let stack, sink, mcp, gw;
const clients = [];

function gatewayYaml({ port, spansUrl, mcpUrl, deadPort, agentTools = AGENT_TOOLS_YAML, extraServer = '' }) {
  return `server: { listen: 127.0.0.1:${port}, max_body: 1MiB }
telemetry: { spans_url: "${spansUrl}" }
log: { level: info }
keys:
  - name: mcp-agent
    sha256: ${sha256hex(KEY_AGENT)}
    tenant_id: e2e
    team: agents
    user: agent-1
    mcp: { servers: [docs-json, docs-sse, dead, "new-*"], tools: [${agentTools}] }
  - { name: mcp-all, sha256: ${sha256hex(KEY_ALL)}, tenant_id: e2e, mcp: { servers: ["docs-*"] } }
  - { name: no-mcp, sha256: ${sha256hex(KEY_NONE)}, tenant_id: e2e }
providers:
  - { name: builtin, type: mock }
models:
  - { name: m, targets: [ { provider: builtin, model: m1 } ] }
mcp_servers:
  - { name: docs-json, url: "${mcpUrl}/json/mcp", auth_header_env: MCP_UPSTREAM_AUTH, timeout: 10s }
  - name: docs-sse
    url: "${mcpUrl}/sse/mcp"
    auth_header_env: MCP_UPSTREAM_AUTH
    headers: { X-Env: e2e }
    timeout: 10s
  - { name: private, url: "${mcpUrl}/json/mcp", auth_header_env: MCP_UPSTREAM_AUTH }
  - { name: dead, url: "http://127.0.0.1:${deadPort}/mcp", connect_timeout: 2s, timeout: 5s }
${extraServer}`;
}

before(async () => {
  stack = new Stack('e2e-mcp');
  sink = await stack.sink();
  await startExporter(stack, { sinkUrl: sink.url });
  mcp = await startMcpServers();
  const port = await freePort();
  const deadPort = await freePort(); // nothing listens there: connect is refused
  const yamlArgs = { port, spansUrl: stack.spansUrl, mcpUrl: mcp.url, deadPort };
  const cfg = writeConfig(stack.dir, 'llmgw-gateway.yaml', gatewayYaml(yamlArgs));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name: 'llmgw-gateway', env: { MCP_UPSTREAM_AUTH: UPSTREAM_AUTH } });
  gw = { proc, url: `http://127.0.0.1:${port}`, yamlArgs };
  await waitHttp(`${gw.url}/healthz`, { proc });
});

after(async () => {
  for (const c of clients) await c.client.close().catch(() => {});
  if (mcp) await mcp.close();
  if (!stack) return;
  await stack.stopAll();
  stack.cleanup();
});

const guard = (fn) => async (...a) => stack.guard(fn)(...a);

/**
 * An SDK client connected to /mcp/{server} with a virtual key and its own
 * trace (the caller's traceparent on every request). Resolves {client,
 * transport, traceId, parentId, notes}; notes collects logging messages.
 */
async function connect(server, { key = KEY_AGENT } = {}) {
  const traceId = randHex(16), parentId = randHex(8);
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${server}`), {
    requestInit: { headers: { Authorization: `Bearer ${key}`, traceparent: `00-${traceId}-${parentId}-01` } },
  });
  const client = new Client({ name: 'llmgw-e2e', version: '1.0.0' });
  const notes = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { notes.push(n.params); });
  const c = { client, transport, traceId, parentId, notes };
  await client.connect(transport);
  clients.push(c);
  return c;
}

/** The spans of one trace at the sink once there are at least n. */
async function spansOf(traceId, n) {
  return waitFor(async () => {
    const all = (await http(`${sink.url}/_sink/spans`)).json;
    const mine = all.filter((s) => s.trace_id === traceId);
    return mine.length >= n ? mine : null;
  }, { timeoutMs: 15000, intervalMs: 100, what: `${n} span(s) of trace ${traceId} at the sink` });
}

/** The one span of trace named name. */
async function spanNamed(traceId, name) {
  return waitFor(async () => {
    const all = (await http(`${sink.url}/_sink/spans`)).json;
    return all.find((s) => s.trace_id === traceId && s.name === name) ?? null;
  }, { timeoutMs: 15000, intervalMs: 100, what: `span "${name}" of trace ${traceId} at the sink` });
}

/** The JSON-RPC requests the MCP servers received whose body mentions text. */
const upstreamWith = (text) => mcp.seen.filter((s) => s.body.includes(text));

describe('MCP gateway: the official SDK client and servers', { timeout: 60000 }, () => {
  for (const server of ['docs-json', 'docs-sse']) {
    it(`${server}: initialize, then tools/list holds only the tools the key may call`, guard(async () => {
      const agent = await connect(server);
      assert.ok(agent.transport.sessionId, 'the server\'s Mcp-Session-Id came back through the gateway');
      assert.equal(agent.client.getServerVersion().name, 'llmgw-e2e-mcp');
      const listed = (await agent.client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(listed, AGENT_TOOLS);
      const all = await connect(server, { key: KEY_ALL });
      const everything = (await all.client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(everything, TOOLS.map((t) => t.name).sort(), 'a key without a tools list sees every tool');
      // the schemas survive the rewrite
      const echo = (await agent.client.listTools()).tools.find((t) => t.name === 'echo');
      assert.deepEqual(echo.inputSchema, TOOLS[0].inputSchema);
    }));
  }

  it('tools/call answered in JSON', guard(async () => {
    const { client } = await connect('docs-json');
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hello through llmgw' } });
    assert.equal(r.content[0].text, 'hello through llmgw');
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    assert.equal(sum.content[0].text, '5');
  }));

  it('tools/call answered as an SSE stream: progress notifications, then the result', guard(async () => {
    const { client } = await connect('docs-sse');
    const progress = [];
    const r = await client.callTool({ name: 'progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p) });
    assert.equal(r.content[0].text, 'progress done');
    assert.deepEqual(progress.map((p) => p.progress), [1, 2], 'both progress events were relayed before the result');
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'sse' } });
    assert.equal(echo.content[0].text, 'sse');
  }));

  for (const server of ['docs-json', 'docs-sse']) {
    it(`${server}: a tool the key may not call gets a JSON-RPC error and never reaches the server`, guard(async () => {
      const { client } = await connect(server);
      const before = upstreamWith('admin_reset').length;
      await assert.rejects(client.callTool({ name: 'admin_reset', arguments: {} }), (e) => {
        assert.equal(e.code, -32003, `JSON-RPC error code: ${e.message}`);
        assert.match(e.message, /admin_reset.*not allowed/);
        return true;
      });
      assert.equal(upstreamWith('admin_reset').length, before, 'the server never saw the call');
      // the session goes on
      assert.equal((await client.callTool({ name: 'echo', arguments: { text: 'still here' } })).content[0].text, 'still here');
    }));
  }

  it('a tool that fails (isError) is relayed as the result it is', guard(async () => {
    const { client } = await connect('docs-json');
    const r = await client.callTool({ name: 'fail', arguments: {} });
    assert.equal(r.isError, true);
  }));

  it('a server the key may not use is refused with 403, an unknown one with 404, no key with 401', guard(async () => {
    const refused = async (server, key, status) => {
      const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${server}`), {
        requestInit: { headers: key ? { Authorization: `Bearer ${key}` } : {} },
      });
      const client = new Client({ name: 'llmgw-e2e', version: '1.0.0' });
      await assert.rejects(client.connect(transport), (e) => {
        assert.equal(e.code, status, `${server}: ${e.message}`);
        return true;
      });
      await client.close().catch(() => {});
    };
    const seen = mcp.seen.length;
    await refused('private', KEY_AGENT, 403);
    await refused('docs-json', KEY_NONE, 403);
    await refused('no-such-server', KEY_AGENT, 404);
    await refused('docs-json', null, 401);
    // Earlier tests' sessions may still talk to their servers (a closing SDK
    // client's DELETE, a GET stream): what must never arrive is an initialize,
    // the only request these refused clients sent.
    const late = mcp.seen.slice(seen).filter((q) => q.method === 'POST' && /"method"\s*:\s*"initialize"/.test(q.body || ''));
    assert.deepEqual(late.map((q) => q.path), [], 'no refused request reached a server');
  }));

  it('the GET stream carries the server\'s own notifications', guard(async () => {
    const c = await connect('docs-json');
    const sid = c.transport.sessionId;
    // the SDK opens the GET stream on its own after initialize
    await waitFor(() => mcp.seen.some((s) => s.method === 'GET' && s.headers['mcp-session-id'] === sid),
      { what: 'the GET stream at the server' });
    // the server has the stream once it answered its head; announce until a message comes back (bounded)
    for (let i = 0; i < 20 && c.notes.length === 0; i++) {
      await c.client.callTool({ name: 'announce', arguments: { text: `hello ${i}` } });
      await waitFor(() => c.notes.length > 0, { timeoutMs: 500, what: 'a notification' }).catch(() => {});
    }
    assert.ok(c.notes.length > 0, 'a notifications/message arrived on the GET stream');
    assert.match(String(c.notes[0].data), /^hello \d+$/);
    const get = mcp.seen.find((s) => s.method === 'GET' && s.headers['mcp-session-id'] === sid);
    assert.equal(get.headers.authorization, UPSTREAM_AUTH);
    assert.match(get.headers.accept, /text\/event-stream/);
  }));

  it('DELETE ends the session at the server; the old session id is then unknown (404)', guard(async () => {
    const c = await connect('docs-sse');
    const sid = c.transport.sessionId;
    assert.ok(mcp.sessions().sse.includes(sid));
    await c.transport.terminateSession();
    const del = mcp.seen.find((s) => s.method === 'DELETE' && s.headers['mcp-session-id'] === sid);
    assert.ok(del, 'the DELETE reached the server');
    assert.ok(!mcp.sessions().sse.includes(sid), 'the server ended the session');
    const r = await http(`${gw.url}/mcp/docs-sse`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY_AGENT}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18',
      },
      body: { jsonrpc: '2.0', id: 9, method: 'tools/list' },
    });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.error.code, -32001, 'the server\'s own JSON-RPC error, relayed');
  }));

  it('a JSON-RPC batch is refused with 400 and -32600', guard(async () => {
    const r = await http(`${gw.url}/mcp/docs-json`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_AGENT}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: [{ jsonrpc: '2.0', id: 1, method: 'ping' }],
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.jsonrpc, '2.0');
    assert.equal(r.json.error.code, -32600);
    assert.match(r.json.error.message, /batch/);
  }));

  it('the server gets the gateway\'s credential and traceparent, never the virtual key', guard(async () => {
    assert.ok(mcp.seen.length > 0);
    for (const s of mcp.seen) {
      assert.equal(s.headers.authorization, UPSTREAM_AUTH, `${s.method} ${s.path}`);
      for (const k of [KEY_AGENT, KEY_ALL, KEY_NONE])
        assert.ok(!JSON.stringify(s).includes(k), 'no virtual key reaches an MCP server');
      assert.match(s.headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    }
    const sse = mcp.seen.filter((s) => s.path === '/sse/mcp');
    assert.ok(sse.length > 0 && sse.every((s) => s.headers['x-env'] === 'e2e'), 'the server\'s static headers');
  }));

  it('spans: one SERVER span per request, child of the caller\'s traceparent, with the MCP attributes', guard(async () => {
    const c = await connect('docs-json');
    const sid = c.transport.sessionId;
    await c.client.listTools();
    await c.client.callTool({ name: 'echo', arguments: { text: 'traced' } });
    await assert.rejects(c.client.callTool({ name: 'admin_reset', arguments: {} }));
    await c.client.callTool({ name: 'fail', arguments: {} });

    const call = await spanNamed(c.traceId, 'tools/call echo');
    assert.equal(call.kind, 2, 'SERVER');
    assert.equal(call.parent_span_id, c.parentId, 'the caller\'s span is the parent');
    const a = call.attributes;
    assert.equal(a['mcp.method.name'], 'tools/call');
    assert.equal(a['gen_ai.operation.name'], 'execute_tool');
    assert.equal(a['gen_ai.tool.name'], 'echo');
    assert.equal(a['mcp.session.id'], sid);
    assert.match(String(a['jsonrpc.request.id']), /^\d+$/);
    assert.equal(a['mcp.protocol.version'], c.transport.protocolVersion);
    assert.equal(a['llmgw.mcp.server'], 'docs-json');
    assert.equal(a['http.request.method'], 'POST');
    assert.equal(a['http.route'], '/mcp/{server}');
    assert.equal(a['http.response.status_code'], 200);
    assert.equal(a['llmgw.key.name'], 'mcp-agent');
    assert.equal(a['user.id'], 'agent-1');
    assert.equal(call.resource.tenant_id, 'e2e');
    assert.equal(call.status.code, 0, 'no error');
    assert.equal(a['error.type'], undefined);
    // the call the server received carried this span as its parent
    const up = mcp.seen.find((s) => s.body.includes('"traced"'));
    assert.equal(up.headers.traceparent, `00-${c.traceId}-${call.span_id}-01`);

    const list = await spanNamed(c.traceId, 'tools/list');
    assert.equal(list.attributes['mcp.method.name'], 'tools/list');
    assert.equal(list.attributes['gen_ai.operation.name'], undefined, 'set on tool calls only');
    assert.equal(list.parent_span_id, c.parentId);

    const denied = await spanNamed(c.traceId, 'tools/call admin_reset');
    assert.equal(denied.status.code, 2, 'ERROR');
    assert.equal(denied.attributes['error.type'], 'mcp_tool_not_allowed');
    assert.equal(denied.attributes['rpc.response.status_code'], '-32003');
    assert.equal(denied.attributes['http.response.status_code'], 200, 'a JSON-RPC error, not an HTTP one');

    const failed = await spanNamed(c.traceId, 'tools/call fail');
    assert.equal(failed.attributes['error.type'], 'tool_error');

    const init = await spanNamed(c.traceId, 'initialize');
    assert.equal(init.attributes['mcp.session.id'], sid, 'the session id the server issued on initialize');
    await spanNamed(c.traceId, 'notifications/initialized');
    const spans = await spansOf(c.traceId, 6);
    assert.ok(spans.every((s) => s.kind === 2 && s.parent_span_id === c.parentId));
  }));

  it('/metrics counts MCP requests by server, method, tool and outcome', guard(async () => {
    const text = (await http(`${gw.url}/metrics`)).text;
    const count = (labels) => metric(text, 'llmgw_mcp_requests_total', labels);
    assert.ok(count({ server: 'docs-json', method: 'tools/call', tool: 'echo', outcome: 'ok' }) >= 1, text);
    assert.ok(count({ server: 'docs-sse', method: 'tools/call', tool: 'progress', outcome: 'ok' }) >= 1);
    assert.ok(count({ server: 'docs-json', method: 'tools/call', outcome: 'denied' }) >= 1);
    assert.ok(count({ server: 'docs-json', method: 'tools/call', tool: 'fail', outcome: 'tool_error' }) >= 1);
    assert.ok(count({ server: 'private', outcome: 'denied' }) >= 1);
    assert.ok(count({ server: 'docs-json', method: 'initialize', outcome: 'ok' }) >= 1);
    assert.ok(count({ server: 'docs-sse', method: 'DELETE', outcome: 'ok' }) >= 1);
    assert.equal(count({ tool: 'admin_reset' }), 0, 'a denied tool never becomes a label');
    assert.ok(metric(text, 'llmgw_mcp_request_duration_seconds_count', { server: 'docs-json', method: 'tools/call' }) >= 1);
  }));

  it('a server that cannot be reached: 502 with a JSON-RPC error, span and metrics say why', guard(async () => {
    const traceId = randHex(16), parentId = randHex(8);
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/dead`), {
      requestInit: { headers: { Authorization: `Bearer ${KEY_AGENT}`, traceparent: `00-${traceId}-${parentId}-01` } },
    });
    const client = new Client({ name: 'llmgw-e2e', version: '1.0.0' });
    await assert.rejects(client.connect(transport), (e) => {
      assert.equal(e.code, 502, e.message);
      assert.match(e.message, /-32603|MCP server 'dead'/);
      return true;
    });
    await client.close().catch(() => {});
    const span = await spanNamed(traceId, 'initialize');
    assert.equal(span.attributes['error.type'], 'upstream_connect_error');
    assert.equal(span.attributes['http.response.status_code'], 502);
    const text = (await http(`${gw.url}/metrics`)).text;
    assert.ok(metric(text, 'llmgw_mcp_requests_total', { server: 'dead', outcome: 'unavailable' }) >= 1);
  }));

  it('SIGHUP: servers and tool rights change without a restart; open sessions go on', guard(async () => {
    const c = await connect('docs-json');
    assert.ok((await c.client.listTools()).tools.some((t) => t.name === 'echo'));
    const extraServer = `  - { name: new-docs, url: "${mcp.url}/sse/mcp", auth_header_env: MCP_UPSTREAM_AUTH }\n`;
    writeConfig(stack.dir, 'llmgw-gateway.yaml', gatewayYaml({ ...gw.yamlArgs, agentTools: 'add, "new-*/echo"', extraServer }));
    gw.proc.child.kill('SIGHUP');
    await waitFor(async () => metric((await http(`${gw.url}/metrics`)).text, 'llmgw_config_generation') >= 2,
      { what: 'the reload' });
    // the session from before the reload goes on, under the new rights
    assert.deepEqual((await c.client.listTools()).tools.map((t) => t.name), ['add']);
    await assert.rejects(c.client.callTool({ name: 'echo', arguments: { text: 'x' } }), (e) => e.code === -32003);
    assert.equal((await c.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })).content[0].text, '2');
    // a server added by the reload
    const n = await connect('new-docs');
    assert.equal((await n.client.callTool({ name: 'echo', arguments: { text: 'new' } })).content[0].text, 'new');
  }));

  it('every process exits 0 on SIGTERM with no sanitizer report', guard(async () => {
    for (const c of clients.splice(0)) await c.client.close().catch(() => {});
    await sleep(100);
    await stack.assertCleanStop();
  }));
});
