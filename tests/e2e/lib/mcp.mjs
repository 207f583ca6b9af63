// SPDX-License-Identifier: Apache-2.0
//
// Real MCP servers for the MCP gateway e2e test: the official SDK's
// Server + StreamableHTTPServerTransport, stateful (one transport per
// session, the SDK's own session ids), on one node HTTP server bound to
// 127.0.0.1, in two response modes:
//   /json/mcp  enableJsonResponse: answers are application/json
//   /sse/mcp   answers are text/event-stream (progress notifications first)
// Every HTTP request the servers receive is recorded (method, path,
// headers, body) so a test can check what the gateway sent upstream.

import http from 'node:http';
import { randomUUID } from 'node:crypto';

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema, ListToolsRequestSchema, isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

const schema = (props = {}) => ({ type: 'object', properties: props });

/** The tools every server offers. */
export const TOOLS = [
  { name: 'echo', description: 'Returns its text', inputSchema: schema({ text: { type: 'string' } }) },
  { name: 'add', description: 'Adds two numbers', inputSchema: schema({ a: { type: 'number' }, b: { type: 'number' } }) },
  { name: 'admin_reset', description: 'Resets everything (no test key may call it)', inputSchema: schema() },
  { name: 'fail', description: 'A tool call that fails (isError)', inputSchema: schema() },
  { name: 'progress', description: 'Reports progress twice, then answers', inputSchema: schema() },
  { name: 'announce', description: 'Sends a log message on the session\'s GET stream', inputSchema: schema({ text: { type: 'string' } }) },
];

function mcpServer() {
  const server = new Server({ name: 'llmgw-e2e-mcp', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {};
    switch (req.params.name) {
      case 'echo':
        return { content: [{ type: 'text', text: String(args.text ?? '') }] };
      case 'add':
        return { content: [{ type: 'text', text: String(Number(args.a) + Number(args.b)) }] };
      case 'admin_reset':
        return { content: [{ type: 'text', text: 'reset done' }] };
      case 'fail':
        return { isError: true, content: [{ type: 'text', text: 'the tool failed' }] };
      case 'progress': {
        const token = req.params._meta?.progressToken;
        for (let i = 1; i <= 2 && token !== undefined; i++)
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: 2 } });
        return { content: [{ type: 'text', text: 'progress done' }] };
      }
      case 'announce':
        // not tied to this request: the SDK sends it on the session's standalone GET stream
        await server.sendLoggingMessage({ level: 'info', data: String(args.text ?? '') });
        return { content: [{ type: 'text', text: 'announced' }] };
      default:
        throw new Error(`unknown tool ${req.params.name}`);
    }
  });
  return server;
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts the servers. Resolves {url, port, seen, sessions(), close()}:
 * url is the HTTP server's base (append /json/mcp or /sse/mcp); seen the
 * recorded requests.
 */
export async function startMcpServers() {
  const seen = [];
  const modes = { json: new Map(), sse: new Map() }; // session id -> transport
  const srv = http.createServer(async (req, res) => {
    const m = /^\/(json|sse)\/mcp$/.exec(req.url);
    const body = req.method === 'POST' ? await readBody(req) : '';
    seen.push({ method: req.method, path: req.url, headers: { ...req.headers }, body });
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const sessions = modes[m[1]];
    let parsed;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}');
      return;
    }
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport && !sid && req.method === 'POST' && isInitializeRequest(parsed)) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: m[1] === 'json',
        onsessioninitialized: (id) => sessions.set(id, transport),
        onsessionclosed: (id) => sessions.delete(id),
      });
      await mcpServer().connect(transport);
    }
    if (!transport) {
      res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: sid ? 'Session not found' : 'No session' } }));
      return;
    }
    await transport.handleRequest(req, res, parsed);
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = srv.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    sessions: () => ({ json: [...modes.json.keys()], sse: [...modes.sse.keys()] }),
    async close() {
      for (const mode of Object.values(modes))
        for (const t of mode.values()) await t.close().catch(() => {});
      srv.closeAllConnections?.();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}
