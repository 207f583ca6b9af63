// SPDX-License-Identifier: Apache-2.0
//
// The test tools themselves: llmgw-mock, otlp-sink and spanrec-inject must
// behave exactly as docs/testing.md says, or every other integration test
// would be asserting against a broken yardstick.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';

import { Stack, bin, freePort, http, mockApi, randHex, sinkApi, waitFor } from './lib/stack.mjs';
import { encodeExportRequest } from './lib/otlp-pb.mjs';
import { readStream, sseData } from './lib/sse.mjs';
import { httpsGet, makeTestCa, startTlsMock } from './lib/testca.mjs';

const stack = new Stack('tools');
let mock, sink, fixed, ca, tlsMock, h1OnlyMock, h2cMock;

before(stack.guard(async () => {
  mock = await stack.mock();
  fixed = await stack.mock(['--content', 'fixed answer here'], 'llmgw-mock-fixed');
  h2cMock = await stack.mock(['--h2c', '--chunks', '3'], 'llmgw-mock-h2c');
  sink = await stack.sink();
  ca = makeTestCa(stack.dir);
  tlsMock = await startTlsMock(stack, ca);
  h1OnlyMock = await startTlsMock(stack, ca, ['--no-h2'], 'llmgw-mock-tls-h1');
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const chat = (url, body, headers = {}) =>
  http(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

function assertOaiError(r, status, what) {
  assert.equal(r.status, status, `${what}: status (body ${r.text})`);
  assert.equal(typeof r.json?.error?.message, 'string', `${what}: error.message in ${r.text}`);
  assert.equal(typeof r.json.error.type, 'string', `${what}: error.type in ${r.text}`);
  assert.ok('code' in r.json.error, `${what}: error.code present in ${r.text}`);
}

describe('llmgw-mock', () => {
  it('echoes the last user message with word-count usage', stack.guard(async () => {
    const r = await chat(mock.url, {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'you are terse' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: [{ type: 'text', text: 'hello   mock' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'world' }] },
      ],
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^chatcmpl-mock-\d+$/);
    assert.equal(r.json.object, 'chat.completion');
    assert.equal(r.json.model, 'gpt-4o-mini-mock');
    assert.deepEqual(r.json.choices[0].message, { role: 'assistant', content: 'hello   mock world' });
    assert.equal(r.json.choices[0].finish_reason, 'stop');
    // 3 + 2 + 2 + 3 words over all messages; 3 in the answer.
    assert.deepEqual(r.json.usage, { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 });
    assert.match(r.headers.get('content-type'), /application\/json/);
  }));

  it('--content fixes the answer', stack.guard(async () => {
    const r = await chat(fixed.url, { model: 'm', messages: [{ role: 'user', content: 'ignored words' }] });
    assert.equal(r.json.choices[0].message.content, 'fixed answer here');
    assert.deepEqual(r.json.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  }));

  it('x-mock-status injects an OpenAI-shaped error, x-mock-retry-after a Retry-After', stack.guard(async () => {
    const r = await chat(mock.url, { model: 'm', messages: [] }, { 'x-mock-status': '429', 'x-mock-retry-after': '7' });
    assertOaiError(r, 429, 'injected 429');
    assert.deepEqual(r.json.error, { message: 'mock injected 429', type: 'mock_error', code: 'mock_429', param: null });
    assert.equal(r.headers.get('retry-after'), '7');
  }));

  it('x-mock-latency-ms delays without blocking other requests', stack.guard(async () => {
    const before = (await mockApi(mock.url).stats()).delayed;
    const slow = chat(mock.url, { model: 'm', messages: [{ role: 'user', content: 'slow' }] }, { 'x-mock-latency-ms': '1500' });
    // While the slow one waits, a normal request is answered.
    const fast = await chat(mock.url, { model: 'm', messages: [{ role: 'user', content: 'fast' }] });
    assert.equal(fast.json.choices[0].message.content, 'fast');
    const s = await slow;
    assert.equal(s.status, 200);
    assert.equal(s.json.choices[0].message.content, 'slow');
    assert.equal((await mockApi(mock.url).stats()).delayed, before + 1);
  }));

  it('survives a client that leaves during the delay', stack.guard(async () => {
    await assert.rejects(
      fetch(`${mock.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'x-mock-latency-ms': '300' }, body: '{"model":"m","messages":[]}', signal: AbortSignal.timeout(50),
      }),
      /abort|timeout/i);
    await waitFor(async () => (await mockApi(mock.url).stats()).chat_completions > 0 && !mock.proc.exit, { what: 'mock alive' });
    await new Promise((r) => setTimeout(r, 400)); // let the timer fire into the closed connection
    const r = await chat(mock.url, { model: 'm', messages: [{ role: 'user', content: 'still here' }] });
    assert.equal(r.status, 200);
    assert.equal(mock.proc.exit, null, 'mock must still run');
  }));

  it('rejects bad input in OpenAI shape: bad JSON, no model, bad method, unknown path, bad header', stack.guard(async () => {
    assertOaiError(await chat(mock.url, '{"model": '), 400, 'bad JSON');
    assertOaiError(await chat(mock.url, { messages: [] }), 400, 'no model');
    assertOaiError(await http(`${mock.url}/v1/chat/completions`), 405, 'GET chat');
    assertOaiError(await http(`${mock.url}/v2/nothing`), 404, 'unknown path');
    assertOaiError(await chat(mock.url, { model: 'm', messages: [] }, { 'x-mock-status': 'abc' }), 400, 'bad x-mock-status');
  }));

  it('serves /v1/models', stack.guard(async () => {
    const r = await http(`${mock.url}/v1/models`);
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.ok(r.json.data.some((m) => m.id === 'gpt-4o-mini'));
  }));

  it('records the last 100 requests with lower-case headers; reset clears', stack.guard(async () => {
    const api = mockApi(mock.url);
    await api.reset();
    await chat(mock.url, { model: 'rec', messages: [] }, { 'X-Custom-Thing': 'v1', Authorization: 'Bearer abc' });
    let reqs = await api.requests();
    assert.equal(reqs.length, 1, 'control requests are not recorded');
    assert.equal(reqs[0].method, 'POST');
    assert.equal(reqs[0].path, '/v1/chat/completions');
    assert.equal(reqs[0].headers['x-custom-thing'], 'v1');
    assert.equal(reqs[0].headers.authorization, 'Bearer abc');
    assert.deepEqual(JSON.parse(reqs[0].body), { model: 'rec', messages: [] });
    for (let i = 0; i < 105; i++) await http(`${mock.url}/v1/models?i=${i}`);
    reqs = await api.requests();
    assert.equal(reqs.length, 100);
    assert.equal(reqs[0].path, '/v1/models?i=5', 'oldest kept is the 6th');
    assert.equal(reqs[99].path, '/v1/models?i=104');
    assert.equal((await api.stats()).requests, 106);
    await api.reset();
    assert.equal((await api.requests()).length, 0);
    assert.equal((await api.stats()).requests, 0);
  }));
});

// ---- llmgw-mock: streaming, embeddings, completions, TLS, HTTP/2 -----------

const PROMPT = 'the quick brown fox jumps over the lazy dog';
const chatBody = (content, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });

/** Checks an OpenAI chat stream and returns {chunks, content, usage (or undefined)}. */
function checkChatStream(text, { includeUsage }) {
  const data = sseData(text);
  assert.equal(data.at(-1), '[DONE]', 'the stream ends with data: [DONE]');
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0].id, 'one id for the whole stream');
    assert.match(c.id, /^chatcmpl-mock-\d+$/);
    assert.equal(c.model, 'gpt-4o-mini-mock');
    if (includeUsage) assert.ok('usage' in c, 'with include_usage every chunk has a usage field');
    else assert.ok(!('usage' in c), `without include_usage no chunk has usage: ${JSON.stringify(c)}`);
  }
  let usage;
  if (includeUsage) {
    const last = chunks.pop();
    assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
    usage = last.usage;
    for (const c of chunks) assert.equal(c.usage, null, 'other chunks carry usage: null');
  }
  assert.deepEqual(chunks[0].choices, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  const fin = chunks.at(-1);
  assert.deepEqual(fin.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
  const pieces = chunks.slice(1, -1);
  for (const c of pieces) {
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].finish_reason, null);
    assert.equal(typeof c.choices[0].delta.content, 'string');
    assert.ok(c.choices[0].delta.content.length > 0, 'content pieces are not empty');
  }
  return { chunks, pieces, content: pieces.map((c) => c.choices[0].delta.content).join(''), usage };
}

describe('llmgw-mock streaming (SSE)', () => {
  it('streams OpenAI chat chunks whose content and usage equal the non-streaming answer', stack.guard(async () => {
    const whole = await chat(mock.url, chatBody(PROMPT));
    const r = await readStream(`${mock.url}/v1/chat/completions`, chatBody(PROMPT, { stream: true }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const s = checkChatStream(r.text, { includeUsage: false });
    assert.equal(s.pieces.length, 5, '--chunks defaults to 5');
    assert.equal(s.content, whole.json.choices[0].message.content);
  }));

  it('adds the usage chunk only with stream_options.include_usage', stack.guard(async () => {
    const whole = await chat(mock.url, chatBody(PROMPT));
    const on = await readStream(`${mock.url}/v1/chat/completions`,
      chatBody(PROMPT, { stream: true, stream_options: { include_usage: true } }), { 'x-mock-chunks': '3' });
    const s = checkChatStream(on.text, { includeUsage: true });
    assert.equal(s.pieces.length, 3, 'x-mock-chunks');
    assert.deepEqual(s.usage, whole.json.usage);
    const off = await readStream(`${mock.url}/v1/chat/completions`,
      chatBody(PROMPT, { stream: true, stream_options: { include_usage: false } }));
    checkChatStream(off.text, { includeUsage: false });
  }));

  it('splits multi-byte text without breaking characters, and never into more pieces than characters', stack.guard(async () => {
    const text = 'héllo wörld — ☃ 😀 done';
    const r = await readStream(`${mock.url}/v1/chat/completions`, chatBody(text, { stream: true }), { 'x-mock-chunks': '7' });
    assert.equal(checkChatStream(r.text, { includeUsage: false }).content, text);
    const few = await readStream(`${mock.url}/v1/chat/completions`, chatBody('ab', { stream: true }), { 'x-mock-chunks': '50' });
    assert.equal(checkChatStream(few.text, { includeUsage: false }).pieces.length, 2);
  }));

  it('with a chunk delay, events arrive one by one', stack.guard(async () => {
    const r = await readStream(`${mock.url}/v1/chat/completions`, chatBody(PROMPT, { stream: true }),
      { 'x-mock-chunks': '3', 'x-mock-chunk-delay-ms': '200' });
    checkChatStream(r.text, { includeUsage: false });
    // role + 3 pieces + finish + [DONE]: each read holds exactly one event.
    assert.equal(r.reads.length, 6, `reads: ${JSON.stringify(r.reads)}`);
    for (const piece of r.reads) assert.equal(sseData(piece).length, 1, `one event per read: ${JSON.stringify(piece)}`);
  }));

  it('x-mock-first-byte-ms holds the head back without holding up other requests', stack.guard(async () => {
    const before = (await mockApi(mock.url).stats()).delayed;
    let headAt = 0;
    const slow = fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'x-mock-first-byte-ms': '1500' }, body: JSON.stringify(chatBody('slow head', { stream: true })),
    }).then((res) => { headAt = Date.now(); return res; });
    const fast = await chat(mock.url, chatBody('fast'));
    const fastAt = Date.now();
    assert.equal(fast.json.choices[0].message.content, 'fast');
    const res = await slow;
    assert.ok(headAt >= fastAt, 'the fast answer came before the slow head');
    assert.equal(checkChatStream(await res.text(), { includeUsage: false }).content, 'slow head');
    assert.equal((await mockApi(mock.url).stats()).delayed, before + 1);
  }));

  it('x-mock-fail-after cuts the connection after N content chunks, without [DONE]', stack.guard(async () => {
    const api = mockApi(mock.url);
    const before = (await api.stats()).resets;
    const r = await readStream(`${mock.url}/v1/chat/completions`, chatBody(PROMPT, { stream: true }), { 'x-mock-fail-after': '2' });
    assert.ok(r.error, 'reading the body fails');
    const data = sseData(r.text);
    assert.equal(data.length, 3, `role chunk + 2 content chunks, got ${JSON.stringify(data)}`);
    assert.ok(!r.text.includes('[DONE]'));
    assert.equal((await api.stats()).resets, before + 1);
    const rec = (await api.requests()).at(-1);
    assert.equal(rec.client_closed, false, 'the mock cut it: not a client hang-up');
    // The mock itself is fine.
    assert.equal((await chat(mock.url, chatBody('after the cut'))).status, 200);
  }));

  it('records client_closed when the client leaves during a delay or mid-stream', stack.guard(async () => {
    const api = mockApi(mock.url);
    const find = async (id) => (await api.requests()).find((q) => q.headers['x-test-id'] === id);
    // 1: gone while the answer waits on its latency timer.
    const ac = new AbortController();
    const p = fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'x-mock-latency-ms': '30000', 'x-test-id': 'cc-latency' }, body: JSON.stringify(chatBody('x')), signal: ac.signal,
    }).catch((e) => e);
    await waitFor(() => find('cc-latency'), { what: 'the request to be recorded' });
    ac.abort();
    await p;
    await waitFor(async () => (await find('cc-latency')).client_closed === true, { what: 'client_closed after abort during latency' });
    // 2: gone after the first event of a slow stream.
    await readStream(`${mock.url}/v1/chat/completions`, chatBody(PROMPT, { stream: true }),
      { 'x-mock-chunk-delay-ms': '30000', 'x-test-id': 'cc-stream' },
      { onRead: async (out, reader) => { await reader.cancel(); return false; } });
    await waitFor(async () => (await find('cc-stream')).client_closed === true, { what: 'client_closed after cancel mid-stream' });
    // A request answered in full is not marked.
    await chat(mock.url, chatBody('complete'), { 'x-test-id': 'cc-done' });
    assert.equal((await find('cc-done')).client_closed, false);
    assert.ok((await api.stats()).client_closed >= 2);
  }));

  it('answers a bad x-mock-* header with 400', stack.guard(async () => {
    for (const h of ['x-mock-chunks', 'x-mock-chunk-delay-ms', 'x-mock-first-byte-ms', 'x-mock-fail-after']) {
      assertOaiError(await chat(mock.url, chatBody('x', { stream: true }), { [h]: '-1' }), 400, h);
    }
  }));
});

describe('llmgw-mock legacy completions', () => {
  it('answers text_completion whole and streamed, with the same text and usage', stack.guard(async () => {
    const body = { model: 'gpt-3.5-turbo-instruct', prompt: ['first prompt', 'say this back'] };
    const r = await http(`${mock.url}/v1/completions`, { method: 'POST', body });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^cmpl-mock-\d+$/);
    assert.equal(r.json.object, 'text_completion');
    assert.equal(r.json.model, 'gpt-3.5-turbo-instruct-mock');
    assert.deepEqual(r.json.choices, [{ text: 'say this back', index: 0, logprobs: null, finish_reason: 'stop' }]);
    assert.deepEqual(r.json.usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    const s = await readStream(`${mock.url}/v1/completions`, { ...body, stream: true, stream_options: { include_usage: true } });
    const data = sseData(s.text);
    assert.equal(data.pop(), '[DONE]');
    const chunks = data.map((d) => JSON.parse(d));
    const usage = chunks.pop();
    assert.deepEqual(usage.choices, []);
    assert.deepEqual(usage.usage, r.json.usage);
    const fin = chunks.pop();
    assert.equal(fin.choices[0].finish_reason, 'stop');
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), 'say this back');
    for (const c of chunks) assert.equal(c.object, 'text_completion');
    assertOaiError(await http(`${mock.url}/v1/completions`, { method: 'POST', body: { model: 'm', prompt: 5 } }), 400, 'bad prompt');
  }));
});

describe('llmgw-mock embeddings', () => {
  const embed = (body, url = mock.url) => http(`${url}/v1/embeddings`, { method: 'POST', body });
  const floats = (b64) => {
    const b = Buffer.from(b64, 'base64');
    return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
  };

  it('answers OpenAI\'s shape with deterministic unit vectors', stack.guard(async () => {
    const r = await embed({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma', 'alpha beta'] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    assert.equal(r.json.model, 'text-embedding-3-small-mock');
    assert.deepEqual(r.json.usage, { prompt_tokens: 5, total_tokens: 5 });
    assert.deepEqual(r.json.data.map((d) => [d.object, d.index]), [['embedding', 0], ['embedding', 1], ['embedding', 2]]);
    const [a, b, a2] = r.json.data.map((d) => d.embedding);
    assert.equal(a.length, 8, 'dims 8 by default');
    assert.deepEqual(a, a2, 'same text, same vector');
    assert.notDeepEqual(a, b);
    const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5, `unit length, got ${norm}`);
    const one = await embed({ model: 'e', input: 'gamma', dimensions: 16 });
    assert.equal(one.json.data.length, 1);
    assert.equal(one.json.data[0].embedding.length, 16);
  }));

  it('base64 is float32 little-endian of exactly the float answer', stack.guard(async () => {
    const f = await embed({ model: 'e', input: ['one two', 'three'], encoding_format: 'float' });
    const b = await embed({ model: 'e', input: ['one two', 'three'], encoding_format: 'base64' });
    assert.equal(b.status, 200, b.text);
    for (let i = 0; i < 2; i++) {
      assert.equal(typeof b.json.data[i].embedding, 'string');
      assert.deepEqual(floats(b.json.data[i].embedding), f.json.data[i].embedding);
    }
  }));

  it('rejects bad input, encoding_format and dimensions with 400', stack.guard(async () => {
    assertOaiError(await embed({ model: 'e', input: 5 }), 400, 'input 5');
    assertOaiError(await embed({ model: 'e', input: [] }), 400, 'empty input');
    assertOaiError(await embed({ model: 'e', input: ['a', 1] }), 400, 'input with a number');
    assertOaiError(await embed({ model: 'e', input: 'a', encoding_format: 'hex' }), 400, 'encoding_format');
    assertOaiError(await embed({ model: 'e', input: 'a', dimensions: 0 }), 400, 'dimensions');
    assertOaiError(await embed({ input: 'a' }), 400, 'no model');
  }));
});

describe('llmgw-mock HTTP/1.1 framing', () => {
  /** Sends raw bytes, collects everything until the server closes. */
  const raw = (port, bytes) => new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.setTimeout(10000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => { got += d.toString('utf8'); });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
    sock.end(bytes);
  });

  it('reads chunked bodies and answers pipelined requests in order, closing on Connection: close', stack.guard(async () => {
    const body = JSON.stringify(chatBody('chunked body works'));
    const chunked = `${body.slice(0, 10).length.toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
    const got = await raw(mock.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const heads = [...got.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => m[1]);
    assert.deepEqual(heads, ['200', '200'], got);
    assert.ok(got.indexOf('chunked body works') < got.indexOf('"object":"list"'), 'answers in request order');
    assert.match(got, /Connection: close/);
  }));

  it('answers a malformed request 400 and closes', stack.guard(async () => {
    const got = await raw(mock.port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(got, /^HTTP\/1\.1 400 /);
    assert.ok((await chat(mock.url, chatBody('still fine'))).status === 200);
  }));
});

/** One HTTP/2 request on session: {status, headers, text, error}. */
function h2req(session, { method = 'GET', path, headers = {}, body, onData } = {}) {
  return new Promise((resolve) => {
    const st = session.request({ ':method': method, ':path': path, 'content-type': 'application/json', ...headers });
    const out = { status: 0, headers: {}, text: '', error: null, stream: st };
    st.setEncoding('utf8');
    st.on('response', (h) => { out.status = h[':status']; out.headers = h; });
    st.on('data', (d) => { out.text += d; if (onData) onData(out, st); });
    st.on('end', () => resolve(out));
    st.on('close', () => resolve(out));
    st.on('error', (e) => { out.error = e; resolve(out); });
    st.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

function h2connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, opts);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('llmgw-mock TLS and HTTP/2', () => {
  it('serves HTTPS with the test CA, and a client trusting another CA refuses it', stack.guard(async () => {
    const r = await httpsGet(`${tlsMock.url}/v1/models`, ca.caPem);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).object, 'list');
    await assert.rejects(httpsGet(`${tlsMock.url}/v1/models`, ca.wrongCaPem), /self[- ]signed|unable to verify|certificate/i);
    const recs = JSON.parse((await httpsGet(`${tlsMock.url}/_mock/requests`, ca.caPem)).text);
    assert.equal(recs.at(-1).tls, true);
    assert.equal(recs.at(-1).http_version, '1.1');
  }));

  it('ALPN picks h2 when offered (http/1.1 with --no-h2)', stack.guard(async () => {
    const alpn = (port) => new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.caPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(s.alpnProtocol);
        s.end();
      });
      s.on('error', reject);
    });
    assert.equal(await alpn(tlsMock.port), 'h2');
    assert.equal(await alpn(h1OnlyMock.port), 'http/1.1');
  }));

  it('speaks HTTP/2 over TLS: whole answers, SSE streams, embeddings, and many streams on one session', stack.guard(async () => {
    const s = await h2connect(tlsMock.url, { ca: ca.caPem });
    try {
      const whole = await h2req(s, { method: 'POST', path: '/v1/chat/completions', body: chatBody(PROMPT) });
      assert.equal(whole.status, 200, whole.text);
      const answer = JSON.parse(whole.text).choices[0].message.content;
      const st = await h2req(s, { method: 'POST', path: '/v1/chat/completions', body: chatBody(PROMPT, { stream: true, stream_options: { include_usage: true } }) });
      assert.equal(st.status, 200);
      assert.match(st.headers['content-type'], /^text\/event-stream/);
      assert.equal(checkChatStream(st.text, { includeUsage: true }).content, answer);
      const e = await h2req(s, { method: 'POST', path: '/v1/embeddings', body: { model: 'e', input: 'x', encoding_format: 'base64' } });
      assert.equal(typeof JSON.parse(e.text).data[0].embedding, 'string');
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        h2req(s, { method: 'POST', path: '/v1/chat/completions', body: chatBody(`n${i}`), headers: { 'x-mock-latency-ms': String(50 * (i % 3)) } })));
      many.forEach((m, i) => assert.equal(JSON.parse(m.text).choices[0].message.content, `n${i}`));
      const recs = JSON.parse((await h2req(s, { path: '/_mock/requests' })).text);
      const last = recs.at(-1);
      assert.equal(last.http_version, '2');
      assert.equal(last.tls, true);
      assert.equal(last.headers.host, `localhost:${tlsMock.port}`, ':authority is recorded as host');
    } finally {
      s.close();
    }
  }));

  it('on HTTP/2, fail-after resets the stream (not the session) and a cancelled stream is client_closed', stack.guard(async () => {
    const s = await h2connect(tlsMock.url, { ca: ca.caPem });
    try {
      const cut = await h2req(s, { method: 'POST', path: '/v1/chat/completions', body: chatBody(PROMPT, { stream: true }), headers: { 'x-mock-fail-after': '1' } });
      assert.ok(cut.error, 'the stream ends in an error');
      assert.equal(cut.stream.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
      assert.equal(sseData(cut.text).length, 2, `role chunk + 1 content chunk before the reset: ${cut.text}`);
      assert.equal((await h2req(s, { path: '/v1/models' })).status, 200, 'the session still works');
      const st = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json',
        'x-mock-latency-ms': '30000', 'x-test-id': 'h2-cancel' });
      st.on('error', () => { /* the cancel below */ });
      const closed = new Promise((r) => st.on('close', r));
      st.end(JSON.stringify(chatBody('x')));
      const find = async () => JSON.parse((await h2req(s, { path: '/_mock/requests' })).text).find((q) => q.headers['x-test-id'] === 'h2-cancel');
      await waitFor(find, { what: 'the h2 request to be recorded' });
      st.close(http2.constants.NGHTTP2_CANCEL);
      await closed;
      await waitFor(async () => (await find()).client_closed === true, { what: 'client_closed after RST_STREAM(CANCEL)' });
    } finally {
      s.close();
    }
  }));

  it('--h2c accepts HTTP/2 prior knowledge and still serves HTTP/1.1 on the same port', stack.guard(async () => {
    const s = await h2connect(h2cMock.url);
    try {
      const st = await h2req(s, { method: 'POST', path: '/v1/chat/completions', body: chatBody(PROMPT, { stream: true }) });
      assert.equal(st.status, 200);
      assert.equal(checkChatStream(st.text, { includeUsage: false }).pieces.length, 3, '--chunks 3');
    } finally {
      s.close();
    }
    const r = await chat(h2cMock.url, chatBody('over http/1.1'));
    assert.equal(r.json.choices[0].message.content, 'over http/1.1');
    const recs = await mockApi(h2cMock.url).requests();
    assert.deepEqual(recs.map((q) => [q.http_version, q.tls]), [['2', false], ['1.1', false]]);
  }));
});

const traceId = randHex(16), spanA = randHex(8), spanB = randHex(8);
const sample = [
  {
    resource: { 'service.name': 'svc-a', tenant_id: 'acme' },
    scope: { name: 'llmgw', version: '1.2.3' },
    spans: [{
      traceId, spanId: spanA, name: 'chat gpt-4o-mini', kind: 2, flags: 0x301, start: 1700000000123456789n, end: 1700000000223456789n,
      status: { code: 2, message: 'timeout' },
      attributes: { s: 'x', b: true, i: -42, big: 2 ** 53, d: { double: 1.5 }, a: ['stop'], h: { bytes: Buffer.from([0xab, 0xcd]) } },
    }],
  },
  { resource: { 'service.name': 'svc-a' }, scope: { name: 'llmgw', version: '1.2.3' }, spans: [{ traceId, spanId: spanB, parentSpanId: spanA, name: 'c', kind: 3 }] },
];

describe('otlp-sink', () => {
  const api = () => sinkApi(sink.url);
  const post = (body, headers) => http(`${sink.url}/v1/traces`, { method: 'POST', headers, body });

  it('decodes a protobuf export and answers an empty ExportTraceServiceResponse', stack.guard(async () => {
    await api().reset();
    const r = await post(encodeExportRequest(sample), { 'content-type': 'application/x-protobuf' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
    assert.equal(r.text, '');
    const spans = await api().spans();
    assert.equal(spans.length, 2);
    const [a, b] = spans;
    assert.equal(a.trace_id, traceId);
    assert.equal(a.span_id, spanA);
    assert.equal(a.parent_span_id, '');
    assert.equal(a.kind, 2);
    assert.equal(a.flags, 0x301);
    assert.equal(a.start_time_unix_nano, '1700000000123456789');
    assert.equal(a.end_time_unix_nano, '1700000000223456789');
    assert.deepEqual(a.status, { code: 2, message: 'timeout' });
    assert.deepEqual(a.attributes, { s: 'x', b: true, i: -42, big: 2 ** 53, d: 1.5, a: ['stop'], h: 'abcd' });
    assert.deepEqual(a.resource, { 'service.name': 'svc-a', tenant_id: 'acme' });
    assert.deepEqual(a.scope, { name: 'llmgw', version: '1.2.3' });
    assert.equal(b.parent_span_id, spanA);
    assert.notEqual(a.resource_seq, b.resource_seq, 'two ResourceSpans get two seq numbers');
    const st = await api().stats();
    assert.equal(st.requests, 1);
    assert.equal(st.spans, 2);
  }));

  it('gunzips and records headers, encoding and sizes', stack.guard(async () => {
    await api().reset();
    const raw = encodeExportRequest(sample);
    const gz = zlib.gzipSync(raw);
    const r = await post(gz, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip', Authorization: 'Basic dTpw' });
    assert.equal(r.status, 200);
    const [req] = await api().requests();
    assert.equal(req.path, '/v1/traces');
    assert.equal(req.content_encoding, 'gzip');
    assert.equal(req.content_type, 'application/x-protobuf');
    assert.equal(req.headers.authorization, 'Basic dTpw');
    assert.equal(req.body_bytes, gz.length);
    assert.equal(req.decoded_bytes, raw.length);
    assert.equal(req.resource_spans.length, 2);
  }));

  it('accepts OTLP/JSON into the same shape', stack.guard(async () => {
    await api().reset();
    const body = {
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'j' } }] },
        scopeSpans: [{ scope: { name: 'llmgw' }, spans: [{ traceId: traceId.toUpperCase(), spanId: spanA, name: 'x', kind: 3, startTimeUnixNano: '5', attributes: [{ key: 'n', value: { intValue: '7' } }] }] }],
      }],
    };
    const r = await post(JSON.stringify(body), { 'content-type': 'application/json' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {});
    const [s] = await api().spans();
    assert.equal(s.trace_id, traceId);
    assert.equal(s.kind, 3);
    assert.equal(s.start_time_unix_nano, '5');
    assert.deepEqual(s.attributes, { n: 7 });
  }));

  it('rejects bad bodies with a google.rpc.Status and never records them', stack.guard(async () => {
    await api().reset();
    let r = await post(Buffer.from([0x0a, 0xff, 0xff]), { 'content-type': 'application/x-protobuf' });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
    r = await post(zlib.gzipSync(Buffer.from('abc')).subarray(0, 10), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(r.status, 400, 'truncated gzip');
    r = await post('hi', { 'content-type': 'text/plain' });
    assert.equal(r.status, 415);
    r = await post(encodeExportRequest(sample), { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' });
    assert.equal(r.status, 415);
    r = await post('{"resourceSpans": 5}', { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.equal(typeof r.json.message, 'string');
    const st = await api().stats();
    assert.equal(st.rejected, 5);
    assert.equal(st.requests, 0);
    assert.equal((await api().requests()).length, 0);
  }));

  it('answers 413 when the inflated body passes 64 MiB', stack.guard(async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(65 * 1024 * 1024));
    const r = await post(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(r.status, 413);
  }));

  it('fails the next N exports on command, with Retry-After, without recording them', stack.guard(async () => {
    await api().reset();
    const f = await api().fail({ status: 503, count: 2, retry_after: 1 });
    assert.equal(f.status, 200);
    const body = encodeExportRequest(sample);
    for (let i = 0; i < 2; i++) {
      const r = await post(body, { 'content-type': 'application/x-protobuf' });
      assert.equal(r.status, 503, `injected failure ${i + 1}`);
      assert.equal(r.headers.get('retry-after'), '1');
    }
    assert.equal((await post(body, { 'content-type': 'application/x-protobuf' })).status, 200);
    const st = await api().stats();
    assert.equal(st.failed_injected, 2);
    assert.equal(st.requests, 1);
    assert.equal((await api().requests()).length, 1);
    assert.equal((await api().fail({ status: 'x' })).status, 400, 'bad fail query');
  }));
});

describe('spanrec-inject', () => {
  it('refuses an unknown KIND with exit 2', () => {
    const r = spawnSync(bin('spanrec-inject'), ['ipc:///nonexistent/x.sock', 'nonsense'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /unknown KIND/);
  });

  it('exits 1 when nobody takes the records (bounded by its 5 s send timeout)', async () => {
    const port = await freePort();
    const r = spawnSync(bin('spanrec-inject'), [`tcp://127.0.0.1:${port}`, 'good'], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
  });
});

describe('shutdown', () => {
  it('mock and sink exit 0 on SIGTERM with no sanitizer report', stack.guard(async () => {
    for (const x of await stack.stopAll()) {
      assert.equal(x.killed, false, `${x.name} did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${x.name} exit status (signal ${x.signal})`);
    }
    for (const h of stack.procs) assert.equal(stack.problems(h), '', `${h.name}: sanitizer report`);
  }));
});
