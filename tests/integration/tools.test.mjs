// SPDX-License-Identifier: Apache-2.0
//
// The test tools themselves: llmgw-mock, otlp-sink and spanrec-inject must
// behave exactly as docs/testing.md says, or every other integration test
// would be asserting against a broken yardstick.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';

import { Stack, bin, freePort, http, mockApi, randHex, sinkApi, waitFor } from './lib/stack.mjs';
import { encodeExportRequest } from './lib/otlp-pb.mjs';

const stack = new Stack('tools');
let mock, sink, fixed;

before(async () => {
  mock = await stack.mock();
  fixed = await stack.mock(['--content', 'fixed answer here'], 'llmgw-mock-fixed');
  sink = await stack.sink();
});

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
