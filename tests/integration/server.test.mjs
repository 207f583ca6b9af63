// SPDX-License-Identifier: Apache-2.0
//
// The gateway's own HTTP/1.1 server (gateway/http_conn, http_srv) against
// real sockets: request limits (431, 413), the slow-request (408) and idle
// keep-alive timeouts, the connection limit, pipelining, a client that
// hangs up while its request waits upstream (499 client_closed on the
// SERVER span, upstream cancelled), the SIGTERM drain, and two workers.
// Raw requests go through node:net so the bytes on the wire are exact;
// waits are bounded polls, never timing asserts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { Stack, freePort, http, metric, sleep, stop, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, assertOpenAiError, chat, startExporter, traceFor } from './lib/llmgw.mjs';

const stack = new Stack('server');
let sink, mock;

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  await startExporter(stack, { sinkUrl: sink.url });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

/** Starts a gateway whose server: section gets the extra keys; resolves {proc, url, port, metrics()}. */
async function startGw(name, server = {}, { level = 'info' } = {}) {
  const port = await freePort();
  const extra = Object.entries(server).map(([k, v]) => `, ${k}: ${v}`).join('');
  const cfg = writeConfig(stack.dir, `${name}.yaml`, `server: { listen: 127.0.0.1:${port}, max_body: 64KiB${extra} }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: ${level} }
auth: { enabled: false }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 20s }
  - { name: builtin, type: mock }
models:
  - { name: gpt-4o-mini, targets: [ { provider: local, model: gpt-4o-mini } ] }
  - { name: builtin-model, targets: [ { provider: builtin, model: mock-1 } ] }
`);
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name, env: { MOCK_API_KEY } });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, { proc });
  return { proc, url, port, metrics: async () => (await http(`${url}/metrics`)).text };
}

/**
 * Opens a raw connection, writes `data` (string, or array of strings sent
 * with a pause between them), and collects everything received until the
 * server closes or `untilBytes` responses are complete. Resolves
 * {text, closed, error}.
 */
function raw(port, data, { timeoutMs = 8000, pauseMs = 0, responses = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let error = null;
    const done = (closed) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, error });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (responses > 0 && splitResponses(text).length >= responses) done(false);
    });
    s.on('error', (e) => { error = e.code; });
    s.on('close', () => done(true));
    s.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p);
        if (pauseMs) await sleep(pauseMs);
      }
    });
  });
}

/** Splits a byte stream into complete HTTP/1.1 responses with Content-Length framing. */
function splitResponses(text) {
  const out = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const head = rest.slice(0, end);
    const lines = head.split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + len) return out;
    const body = rest.slice(end + 4, end + 4 + len);
    let json;
    try { json = JSON.parse(body); } catch { /* not JSON */ }
    out.push({ status, headers, body, json });
    rest = rest.slice(end + 4 + len);
  }
}

/** Checks one raw error response: status, x-request-id, OpenAI JSON with code. */
function assertRawError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: status (${r.body})`);
  assert.match(r.headers['x-request-id'] ?? '', /^[0-9a-f]{32}$/, `${what}: x-request-id`);
  assert.equal(r.headers['content-type'], 'application/json', `${what}: content-type`);
  assert.equal(typeof r.json?.error?.message, 'string', `${what}: OpenAI error body: ${r.body}`);
  assert.equal(r.json.error.code, code, `${what}: error.code`);
  assert.equal(r.headers.connection, 'close', `${what}: the connection closes after a protocol error`);
}

describe('server: limits, timeouts, pipelining, disconnects, drain, workers', { timeout: 180000 }, () => {
  let gw;
  before(stack.guard(async () => {
    gw = await startGw('gw-main', { request_timeout: '1s', idle_timeout: '1s' });
  }));

  it('431 for too many header fields and for a header section over 32 KiB', stack.guard(async () => {
    const many = Array.from({ length: 120 }, (_, i) => `x-h-${i}: v\r\n`).join('');
    let r = await raw(gw.port, `GET /v1/models HTTP/1.1\r\nHost: a\r\n${many}\r\n`, { responses: 1 });
    assertRawError(splitResponses(r.text)[0], 431, 'headers_too_large', 'too many headers');
    r = await raw(gw.port, `GET /v1/models HTTP/1.1\r\nHost: a\r\nx-big: ${'v'.repeat(40 * 1024)}\r\n\r\n`, { responses: 1 });
    assertRawError(splitResponses(r.text)[0], 431, 'headers_too_large', 'header section too large');
    // exactly at the count limit is fine: Host + 99 more
    const ok = Array.from({ length: 99 }, (_, i) => `x-h-${i}: v\r\n`).join('');
    r = await raw(gw.port, `GET /healthz HTTP/1.1\r\nHost: a\r\n${ok}\r\n`, { responses: 1 });
    assert.equal(splitResponses(r.text)[0].status, 200);
    const text = await gw.metrics();
    assert.ok(metric(text, 'llmgw_request_errors_total', { error_type: 'headers_too_large' }) >= 2, 'counted');
  }));

  it('413 just above server.max_body, 200 at exactly max_body', stack.guard(async () => {
    const shell = (n) => JSON.stringify({ model: 'builtin-model', messages: [{ role: 'user', content: 'x'.repeat(n) }] });
    const base = shell(0).length;
    const exact = shell(64 * 1024 - base);
    assert.equal(exact.length, 64 * 1024);
    let r = await chat(gw.url, { body: exact });
    assert.equal(r.status, 200, r.text);
    r = await chat(gw.url, { body: shell(64 * 1024 - base + 1) });
    const rid = assertOpenAiError(assert, r, 413, 'body one byte over max_body');
    assert.equal(r.json.error.code, 'request_too_large');
    const { server } = await traceFor(sink.url, rid, { minSpans: 1 });
    assert.equal(server.attributes['http.response.status_code'], 413);
    assert.equal(server.attributes['error.type'], 'request_too_large');
  }));

  it('400 for request-smuggling shapes (CL + TE, conflicting Content-Length, obs-fold)', stack.guard(async () => {
    const cases = [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'GET /v1/models HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n',
    ];
    for (const c of cases) {
      const r = await raw(gw.port, c, { responses: 1 });
      assertRawError(splitResponses(r.text)[0], 400, 'bad_request', JSON.stringify(c.slice(0, 60)));
    }
  }));

  it('408 for a request whose head arrives too slowly, then the connection closes', stack.guard(async () => {
    const r = await raw(gw.port, ['POST /v1/chat/completions HTTP/1.1\r\n', 'Host: a\r\n'], { pauseMs: 200 });
    assert.equal(r.closed, true, 'the server closed the connection');
    const res = splitResponses(r.text);
    assert.equal(res.length, 1, `one response: ${r.text}`);
    assertRawError(res[0], 408, 'request_timeout', 'slow request');
    const text = await gw.metrics();
    assert.ok(metric(text, 'llmgw_request_errors_total', { error_type: 'request_timeout' }) >= 1, 'counted');
  }));

  it('an idle keep-alive connection is closed silently after idle_timeout', stack.guard(async () => {
    const r = await raw(gw.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(r.closed, true, 'closed by the server within the bound');
    const res = splitResponses(r.text);
    assert.equal(res.length, 1, 'only the one answer, nothing on close');
    assert.equal(res[0].status, 200);
    assert.equal(res[0].headers.connection, undefined, 'kept alive until idle');
  }));

  it('pipelined requests are answered in order', stack.guard(async () => {
    const body = JSON.stringify({ model: 'builtin-model', messages: [{ role: 'user', content: 'pipelined' }] });
    const reqs = 'GET /healthz HTTP/1.1\r\nHost: a\r\nx-request-id: pipe-1\r\n\r\n' +
      `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nx-request-id: pipe-2\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nx-request-id: pipe-3\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` +
      'GET /v1/models HTTP/1.1\r\nHost: a\r\nx-request-id: pipe-4\r\nConnection: close\r\n\r\n';
    const r = await raw(gw.port, reqs);
    const res = splitResponses(r.text);
    assert.deepEqual(res.map((x) => x.headers['x-request-id']), ['pipe-1', 'pipe-2', 'pipe-3', 'pipe-4']);
    assert.deepEqual(res.map((x) => x.status), [200, 200, 200, 200]);
    assert.equal(res[1].json.choices[0].message.content, 'pipelined');
    assert.equal(res[2].json.choices[0].message.content, 'pipelined', 'chunked request body');
    assert.equal(res[3].headers.connection, 'close');
    assert.equal(r.closed, true);
  }));

  it('a client that hangs up while upstream is slow cancels it: SERVER span 499 client_closed', stack.guard(async () => {
    const rid = `cc-${Date.now()}`;
    const ac = new AbortController();
    const p = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': rid, 'x-mock-latency-ms': '8000' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }] }),
      signal: ac.signal,
    }).catch((e) => e);
    await sleep(500); // the request is at the mock, waiting out its latency
    ac.abort();
    await p;
    // well before the mock's 8 s answer: the gateway noticed the close itself
    const { server, clients } = await traceFor(sink.url, rid, { minSpans: 2, timeoutMs: 4000 });
    assert.equal(server.attributes['http.response.status_code'], 499);
    assert.equal(server.attributes['error.type'], 'client_closed');
    assert.equal(clients[0].attributes['error.type'], 'client_closed', 'the upstream attempt was cancelled');
    const text = await gw.metrics();
    assert.ok(metric(text, 'llmgw_request_errors_total', { error_type: 'client_closed' }) >= 1);
    assert.equal(metric(text, 'llmgw_requests_in_flight'), 0, 'nothing left in flight');
  }));

  it('exits 0 on SIGTERM after all of the above, without sanitizer reports', stack.guard(async () => {
    const x = await stop(gw.proc);
    assert.equal(x.code, 0);
    assert.equal(stack.problems(gw.proc), '');
  }));
});

describe('server: connection limit, drain, workers', { timeout: 180000 }, () => {
  it('beyond max_connections a connection is closed at once and counted', stack.guard(async () => {
    const gw = await startGw('gw-maxconn', { workers: 1, max_connections: 2, idle_timeout: '30s' });
    const open = () => new Promise((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1', () => resolve(s));
      s.on('error', () => {});
    });
    const a = await open();
    const b = await open();
    // both are idle keep-alive candidates; the third must be dropped without an answer
    const r = await raw(gw.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 5000 });
    assert.equal(r.closed, true, 'closed by the server');
    assert.equal(r.text, '', 'no response on a rejected connection');
    a.destroy();
    b.destroy();
    const text = await waitFor(async () => {
      try { return await gw.metrics(); } catch { return null; }
    }, { what: 'a free slot for /metrics' });
    assert.ok(metric(text, 'llmgw_connections_rejected_total') >= 1);
    const x = await stop(gw.proc);
    assert.equal(x.code, 0);
    assert.equal(stack.problems(gw.proc), '');
  }));

  it('SIGTERM: a request in flight completes 200 with Connection: close and the process exits 0', stack.guard(async () => {
    const gw = await startGw('gw-drain', { workers: 2, drain_timeout: '10s' });
    const p = chat(gw.url, { headers: { 'x-mock-latency-ms': '1500' }, content: 'drain me' });
    await sleep(400);
    process.kill(gw.proc.pid, 'SIGTERM');
    const r = await p;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'drain me');
    assert.equal(r.headers.get('connection'), 'close');
    const x = await stop(gw.proc, { killAfterMs: 10000 });
    assert.equal(x.killed, false, 'exited on its own');
    assert.equal(x.code, 0);
    assert.equal(stack.problems(gw.proc), '');
  }));

  it('workers: 2 serves 200 parallel requests, on both workers', stack.guard(async () => {
    const gw = await startGw('gw-workers', { workers: 2 }, { level: 'debug' });
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      chat(gw.url, { model: 'builtin-model', content: `parallel ${i}` })));
    rs.forEach((r, i) => {
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      assert.equal(r.json.choices[0].message.content, `parallel ${i}`);
    });
    const x = await stop(gw.proc);
    assert.equal(x.code, 0);
    assert.equal(stack.problems(gw.proc), '');
    const log = fs.readFileSync(gw.proc.errPath, 'utf8');
    assert.match(log, /workers=2/);
    assert.match(log, /event=request .*worker=0/, 'worker 0 served requests');
    assert.match(log, /event=request .*worker=1/, 'worker 1 served requests');
  }));
});
