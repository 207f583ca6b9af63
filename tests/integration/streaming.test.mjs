// SPDX-License-Identifier: Apache-2.0
//
// Streaming chat through the gateway: client -> llmgw-gateway -> llmgw-mock
// (plain HTTP/1.1, HTTPS with a test CA over HTTP/1.1 and h2, h2c), spans
// -> llmgw-exporter -> otlp-sink. What a client of a stream relies on:
// events arrive as the provider sends them, byte for byte, usage only when
// asked; a hang-up stops the provider; a provider that dies mid-stream
// ends the client's stream cleanly with an error event; and the spans
// carry the stream's facts (TTFT, tokens, finish reason, error.type).
// No timing asserts: "before the upstream finished" is proven by the
// mock's own record of a client that left before the answer was complete.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, freePort, mockApi, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, assertOpenAiError, chat, startExporter, traceFor } from './lib/llmgw.mjs';
import { readStream, sseData } from './lib/sse.mjs';
import { httpsGet, makeTestCa, startTlsMock } from './lib/testca.mjs';

const stack = new Stack('streaming');
let sink, mock, tlsH1, tlsH2, h2c, ca, gw;

function gatewayYaml({ port }) {
  const p = (name, url, extra = '') =>
    `  - { name: ${name}, type: openai, base_url: "${url}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 30s${extra} }`;
  return `server: { listen: 127.0.0.1:${port}, max_body: 1MiB }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: info }
auth: { enabled: false }
providers:
${p('local', mock.url)}
${p('strict', mock.url, ', first_byte_timeout: 700ms, idle_timeout: 700ms')}
${p('tls-h1', tlsH1.url, `, ca_file: "${ca.ca}"`)}
${p('tls-h2', tlsH2.url, `, ca_file: "${ca.ca}"`)}
${p('tls-wrong', tlsH2.url, `, ca_file: "${ca.wrongCa}"`)}
${p('h2c', h2c.url, ', http2: prior_knowledge')}
  - { name: builtin, type: mock }
models:
  - { name: gpt-4o-mini, targets: [ { provider: local, model: gpt-4o-mini } ] }
  - { name: strict-model, targets: [ { provider: strict, model: gpt-4o-mini } ] }
  - { name: tls-h1-model, targets: [ { provider: tls-h1, model: gpt-4o-mini } ] }
  - { name: tls-h2-model, targets: [ { provider: tls-h2, model: gpt-4o-mini } ] }
  - { name: wrong-ca-model, targets: [ { provider: tls-wrong, model: gpt-4o-mini } ] }
  - { name: h2c-model, targets: [ { provider: h2c, model: gpt-4o-mini } ] }
  - { name: mock-1, targets: [ { provider: builtin, model: mock-1 } ] }
`;
}

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  ca = makeTestCa(stack.dir);
  tlsH1 = await startTlsMock(stack, ca, ['--no-h2'], 'llmgw-mock-tls-h1');
  tlsH2 = await startTlsMock(stack, ca, [], 'llmgw-mock-tls-h2');
  h2c = await stack.mock(['--h2c'], 'llmgw-mock-h2c');
  await startExporter(stack, { sinkUrl: sink.url });
  const port = await freePort();
  const cfg = writeConfig(stack.dir, 'llmgw-gateway.yaml', gatewayYaml({ port }));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name: 'llmgw-gateway', env: { MOCK_API_KEY } });
  gw = { proc, url: `http://127.0.0.1:${port}` };
  await waitHttp(`${gw.url}/healthz`, { proc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const PROMPT = 'the quick brown fox jumps over the lazy dog';
const body = (extra = {}, content = PROMPT, model = 'gpt-4o-mini') =>
  ({ model, messages: [{ role: 'user', content }], stream: true, ...extra });
const attr = (span, k) => span.attributes[k];
const stream = (b, headers = {}, opts = {}) => readStream(`${gw.url}/v1/chat/completions`, b, headers, opts);

/** The chunks of a complete stream (without [DONE]) and their content joined. */
function chunksOf(text) {
  const data = sseData(text);
  assert.equal(data.at(-1), '[DONE]', `the stream ends with [DONE]: ${text.slice(-300)}`);
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  return { chunks, content: chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('') };
}

/** The mock's record of the request tagged x-test-id: id (an https mock is asked over TLS with the test CA). */
async function mockRecord(url, id) {
  const recs = url.startsWith('https:')
    ? JSON.parse((await httpsGet(`${url}/_mock/requests`, ca.caPem)).text)
    : await mockApi(url).requests();
  return recs.find((q) => q.headers['x-test-id'] === id);
}

describe('streaming through the gateway', { timeout: 120000 }, () => {
  it('relays events one by one as the provider sends them, byte for byte', stack.guard(async () => {
    // What the gateway asks upstream for (usage on), directly from the mock.
    const direct = await readStream(`${mock.url}/v1/chat/completions`,
      body({ stream_options: { include_usage: true } }), { 'x-mock-chunks': '3' });
    const r = await stream(body(), { 'x-mock-chunks': '3', 'x-mock-chunk-delay-ms': '200' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.ok(r.headers.get('x-request-id'));
    assert.equal(r.error, null, 'the stream ends cleanly');
    // role + 3 pieces + finish + [DONE], each in its own read: nothing was held back.
    assert.equal(r.reads.length, 6, `reads: ${JSON.stringify(r.reads)}`);
    for (const piece of r.reads) assert.equal(sseData(piece).length, 1, `one event per read: ${JSON.stringify(piece)}`);
    // Exactly the provider's bytes minus the usage chunk (the client did not ask for it),
    // but for the stream id and timestamp.
    const norm = (t) => t.replace(/chatcmpl-mock-\d+/g, 'ID').replace(/"created":\d+/g, '"created":0');
    const usageEvent = /data: \{[^\n]*"choices":\[\],"usage":\{[^\n]*\n\n/;
    assert.match(direct.text, usageEvent);
    assert.equal(norm(r.text), norm(direct.text.replace(usageEvent, '')));
    assert.equal(chunksOf(r.text).content, PROMPT);
  }));

  it('the first event reaches the client while the provider is still streaming; a hang-up cancels it at once', stack.guard(async () => {
    const api = mockApi(mock.url);
    const closedBefore = (await api.stats()).client_closed;
    let rid;
    const r = await stream(body(), { 'x-mock-chunks': '50', 'x-mock-chunk-delay-ms': '200', 'x-test-id': 'first-event' }, {
      onRead: async (out, reader) => {
        if (!out.text.includes('\n\n')) return true;
        rid = out.headers.get('x-request-id');
        // The mock has the request and has not seen its client leave: it is still streaming.
        assert.equal((await mockRecord(mock.url, 'first-event')).client_closed, false);
        await reader.cancel();
        return false;
      },
    });
    assert.equal(r.status, 200);
    assert.ok(rid, 'one event read');
    // The mock records client_closed only for a client that left before the answer was
    // complete: so the event above came while the provider had most of the stream to go.
    await waitFor(async () => (await mockRecord(mock.url, 'first-event')).client_closed === true,
      { timeoutMs: 10000, what: 'the mock to see the gateway cancel the stream' });
    assert.equal((await api.stats()).client_closed, closedBefore + 1);
    const { server, clients } = await traceFor(sink.url, rid);
    assert.equal(attr(server, 'error.type'), 'client_closed');
    assert.equal(attr(server, 'http.response.status_code'), 499);
    assert.equal(server.status.code, 2);
    assert.equal(attr(server, 'gen_ai.request.stream'), true);
    assert.equal(clients.length, 1);
    assert.equal(attr(clients[0], 'error.type'), 'client_closed');
  }));

  it('a provider that dies mid-stream: the client gets an error event and a clean end; spans say reset', stack.guard(async () => {
    const r = await stream(body(), { 'x-mock-chunks': '4', 'x-mock-fail-after': '2' });
    assert.equal(r.status, 200);
    assert.equal(r.error, null, 'the chunked stream is terminated properly, not cut');
    const data = sseData(r.text);
    assert.ok(!r.text.includes('[DONE]'), 'no [DONE] after an error');
    assert.equal(data.length, 4, `role + 2 pieces + the error event: ${JSON.stringify(data)}`);
    const last = JSON.parse(data.at(-1));
    assert.equal(last.error.code, 'upstream_stream_error');
    assert.equal(last.error.type, 'api_error');
    assert.match(last.error.message, /local/);
    const { server, clients } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(attr(server, 'http.response.status_code'), 200);
    assert.equal(attr(server, 'error.type'), 'reset');
    assert.equal(server.status.code, 2, 'SERVER span status ERROR');
    assert.deepEqual(attr(server, 'gen_ai.response.finish_reasons'), ['error']);
    assert.equal(attr(clients[0], 'error.type'), 'reset');
    assert.ok(attr(clients[0], 'gen_ai.response.time_to_first_chunk') > 0, 'content came before the cut');
  }));

  it('stream spans: stream flag, TTFT, tokens equal to the mock\'s usage, finish reason, response model and id', stack.guard(async () => {
    const whole = await chat(gw.url, { content: PROMPT });
    const r = await stream(body(), { 'x-mock-first-byte-ms': '50' });
    const { chunks } = chunksOf(r.text);
    const { server, clients, spans } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(spans.length, 2);
    const client = clients[0];
    for (const s of [server, client]) {
      const who = s.kind === 2 ? 'SERVER' : 'CLIENT';
      assert.equal(attr(s, 'gen_ai.request.stream'), true, `${who} stream flag`);
      assert.equal(attr(s, 'gen_ai.usage.input_tokens'), whole.json.usage.prompt_tokens, `${who} input tokens`);
      assert.equal(attr(s, 'gen_ai.usage.output_tokens'), whole.json.usage.completion_tokens, `${who} output tokens`);
      assert.deepEqual(attr(s, 'gen_ai.response.finish_reasons'), ['stop'], `${who} finish reason`);
      assert.equal(attr(s, 'gen_ai.response.model'), 'gpt-4o-mini-mock', `${who} response model`);
      assert.equal(attr(s, 'gen_ai.response.id'), chunks[0].id, `${who} response id`);
      assert.ok(attr(s, 'gen_ai.response.time_to_first_chunk') > 0, `${who} TTFT`);
      assert.equal(attr(s, 'http.response.status_code'), 200);
      assert.notEqual(s.status.code, 2);
      assert.equal(attr(s, 'error.type'), undefined);
    }
    // The SERVER span counts from the request's arrival, the CLIENT span from the attempt's start.
    assert.ok(attr(server, 'gen_ai.response.time_to_first_chunk') >= attr(client, 'gen_ai.response.time_to_first_chunk'));
  }));

  it('without include_usage: the gateway asks upstream for usage and strips the usage chunk', stack.guard(async () => {
    const sent = body();
    const r = await stream(sent, { 'x-test-id': 'strip' });
    const { chunks } = chunksOf(r.text);
    assert.ok(!r.text.includes('"choices":[]'), 'no usage-only chunk reached the client');
    assert.ok(!/"usage":\{/.test(r.text), 'no usage object reached the client');
    for (const c of chunks) assert.ok(c.choices.length > 0);
    // Upstream got the client's bytes with stream_options spliced in, nothing else changed.
    const rec = await mockRecord(mock.url, 'strip');
    assert.equal(rec.body, `{"stream_options":{"include_usage":true},${JSON.stringify(sent).slice(1)}`);
    // ...and the span has the tokens anyway.
    const { server } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(attr(server, 'gen_ai.usage.input_tokens'), 9);
  }));

  it('with include_usage: the usage chunk is relayed and the request goes upstream unchanged', stack.guard(async () => {
    const sent = body({ stream_options: { include_usage: true } });
    const whole = await chat(gw.url, { content: PROMPT });
    const r = await stream(sent, { 'x-test-id': 'keep' });
    const { chunks } = chunksOf(r.text);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, whole.json.usage);
    assert.ok(r.text.includes('"choices":[],"usage":{'), 'raw usage chunk bytes as the provider sent them');
    assert.equal((await mockRecord(mock.url, 'keep')).body, JSON.stringify(sent), 'forwarded byte for byte');
  }));

  it('an upstream error before the first byte is a JSON error with its status, never SSE', stack.guard(async () => {
    const r = await stream(body(), { 'x-mock-status': '429', 'x-mock-retry-after': '2' });
    assert.equal(r.status, 429);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.headers.get('retry-after'), '2');
    assert.equal(JSON.parse(r.text).error.message, 'mock injected 429');
  }));

  it('timeouts: no head within first_byte_timeout -> 504 JSON; a silent stream -> error event, idle_timeout', stack.guard(async () => {
    const slow = await chat(gw.url, { model: 'strict-model', body: body({}, 'x', 'strict-model'), headers: { 'x-mock-first-byte-ms': '3000' } });
    const rid = assertOpenAiError(assert, slow, 504, 'first byte timeout');
    assert.equal(slow.json.error.code, 'timeout');
    const t1 = await traceFor(sink.url, rid);
    assert.equal(attr(t1.clients[0], 'error.type'), 'first_byte_timeout');

    const idle = await stream(body({}, PROMPT, 'strict-model'), { 'x-mock-chunks': '3', 'x-mock-chunk-delay-ms': '3000' });
    assert.equal(idle.status, 200);
    assert.equal(idle.error, null);
    const data = sseData(idle.text);
    assert.equal(JSON.parse(data.at(-1)).error.code, 'upstream_stream_error');
    const t2 = await traceFor(sink.url, idle.headers.get('x-request-id'));
    assert.equal(attr(t2.server, 'error.type'), 'idle_timeout');
    assert.equal(attr(t2.clients[0], 'error.type'), 'idle_timeout');
  }));

  it('the built-in mock provider streams through the same relay (usage stripped, spans with usage and TTFT)', stack.guard(async () => {
    const r = await stream(body({}, 'hello there you', 'mock-1'));
    const { chunks, content } = chunksOf(r.text);
    assert.equal(content, 'hello there you');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(!r.text.includes('"usage"'));
    const withUsage = chunksOf((await stream(body({ stream_options: { include_usage: true } }, 'hello there you', 'mock-1'))).text);
    assert.deepEqual(withUsage.chunks.at(-1).usage, { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
    const { server, clients } = await traceFor(sink.url, r.headers.get('x-request-id'));
    for (const s of [server, clients[0]]) {
      assert.equal(attr(s, 'gen_ai.usage.output_tokens'), 3);
      assert.ok(attr(s, 'gen_ai.response.time_to_first_chunk') > 0);
      assert.equal(attr(s, 'gen_ai.request.stream'), true);
    }
  }));
});

describe('HTTPS and HTTP/2 upstreams', { timeout: 120000 }, () => {
  for (const [model, target, version] of [['tls-h1-model', () => tlsH1, '1.1'], ['tls-h2-model', () => tlsH2, '2'], ['h2c-model', () => h2c, '2']]) {
    it(`${model}: whole and streamed answers over HTTP/${version}`, stack.guard(async () => {
      const whole = await chat(gw.url, { model, content: PROMPT, headers: { 'x-test-id': `${model}-whole` } });
      assert.equal(whole.status, 200, whole.text);
      assert.equal(whole.json.choices[0].message.content, PROMPT);
      const r = await stream(body({}, PROMPT, model), { 'x-test-id': `${model}-stream` });
      assert.equal(r.status, 200);
      assert.equal(chunksOf(r.text).content, PROMPT);
      const url = target().url;
      const rec = await mockRecord(url, `${model}-stream`);
      assert.ok(rec, 'the mock received the stream');
      assert.equal(rec.http_version, version);
      assert.equal(rec.tls, url.startsWith('https:'));
      const { clients } = await traceFor(sink.url, r.headers.get('x-request-id'));
      assert.equal(attr(clients[0], 'gen_ai.usage.output_tokens'), 9);
    }));
  }

  it('a provider certificate the configured CA did not sign -> 502 tls_error', stack.guard(async () => {
    const r = await chat(gw.url, { model: 'wrong-ca-model' });
    const rid = assertOpenAiError(assert, r, 502, 'wrong CA');
    assert.equal(r.json.error.code, 'tls_error');
    const { server, clients } = await traceFor(sink.url, rid);
    assert.equal(attr(server, 'error.type'), 'tls_error');
    assert.equal(attr(clients[0], 'error.type'), 'tls_error');
    const s = await stream(body({}, 'x', 'wrong-ca-model'));
    assert.equal(s.status, 502, 'also for a stream: an error before the head is JSON');
    assert.equal(JSON.parse(s.text).error.code, 'tls_error');
  }));
});

describe('shutdown', () => {
  it('every process exits 0 on SIGTERM with no sanitizer report', stack.guard(() => stack.assertCleanStop()));
});
