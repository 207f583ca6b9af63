// SPDX-License-Identifier: Apache-2.0
//
// The OpenAI endpoints besides chat, through the gateway: POST
// /v1/embeddings (float and base64, relayed byte for byte) and the legacy
// POST /v1/completions (whole and streamed), on the network provider
// (llmgw-mock) and on the built-in in-process mock, with their spans
// (operation embeddings / text_completion, tokens) at the sink; and
// GET /v1/models listing every configured model.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, http, mockApi } from './lib/stack.mjs';
import { assertOpenAiError, startExporter, startGateway, traceFor } from './lib/llmgw.mjs';
import { readStream, sseData } from './lib/sse.mjs';

const stack = new Stack('endpoints');
let sink, mock, gw;

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  await startExporter(stack, { sinkUrl: sink.url });
  gw = await startGateway(stack, { mockUrl: mock.url });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const attr = (span, k) => span.attributes[k];
const post = (url, path, body, headers = {}) =>
  http(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const floats = (b64) => {
  const b = Buffer.from(b64, 'base64');
  return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
};
const EMB = 'text-embedding-3-small';

describe('POST /v1/embeddings', { timeout: 60000 }, () => {
  it('float and base64 answers are the provider\'s bytes; spans say embeddings with input tokens', stack.guard(async () => {
    for (const encoding_format of ['float', 'base64']) {
      const req = { model: EMB, input: ['the first text', 'a second one'], encoding_format };
      const r = await post(gw.url, '/v1/embeddings', req);
      assert.equal(r.status, 200, r.text);
      const direct = await post(mock.url, '/v1/embeddings', req);
      assert.equal(r.text, direct.text, `${encoding_format}: relayed byte for byte`);
      assert.deepEqual(r.json.usage, { prompt_tokens: 6, total_tokens: 6 });
      const { server, clients } = await traceFor(sink.url, r.headers.get('x-request-id'));
      for (const s of [server, clients[0]]) {
        assert.equal(attr(s, 'gen_ai.operation.name'), 'embeddings');
        assert.equal(attr(s, 'gen_ai.request.model'), EMB);
        assert.equal(attr(s, 'gen_ai.usage.input_tokens'), 6);
        assert.equal(attr(s, 'gen_ai.response.model'), `${EMB}-mock`);
        assert.equal(attr(s, 'gen_ai.request.stream'), undefined);
      }
      assert.equal(server.name, `embeddings ${EMB}`);
      assert.equal(attr(server, 'http.route'), '/v1/embeddings');
    }
  }));

  it('validates like OpenAI (400 with param) and routes through the models table (404)', stack.guard(async () => {
    const before = (await mockApi(mock.url).stats()).embeddings;
    let r = await post(gw.url, '/v1/embeddings', { model: EMB, input: '' });
    assertOpenAiError(assert, r, 400, 'empty input');
    assert.equal(r.json.error.param, 'input');
    assert.match(r.json.error.message, /'\$\.input' is invalid/);
    r = await post(gw.url, '/v1/embeddings', { model: EMB, input: 'x', encoding_format: 'hex' });
    assertOpenAiError(assert, r, 400, 'encoding_format');
    r = await post(gw.url, '/v1/embeddings', { model: 'no-such-embedder', input: 'x' });
    assertOpenAiError(assert, r, 404, 'unknown model');
    assert.equal(r.json.error.code, 'model_not_found');
    r = await http(`${gw.url}/v1/embeddings`);
    assertOpenAiError(assert, r, 405, 'GET');
    assert.equal((await mockApi(mock.url).stats()).embeddings, before, 'nothing reached the provider');
  }));

  it('the built-in mock answers in-process: deterministic vectors, base64 = float32 LE of the floats', stack.guard(async () => {
    const req = { model: 'builtin-model', input: ['alpha beta', 'gamma'], dimensions: 12 };
    const f = await post(gw.url, '/v1/embeddings', req);
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.object, 'list');
    assert.deepEqual(f.json.data.map((d) => [d.object, d.index, d.embedding.length]), [['embedding', 0, 12], ['embedding', 1, 12]]);
    assert.deepEqual(f.json.usage, { prompt_tokens: 3, total_tokens: 3 });
    const b = await post(gw.url, '/v1/embeddings', { ...req, encoding_format: 'base64' });
    for (let i = 0; i < 2; i++) assert.deepEqual(floats(b.json.data[i].embedding), f.json.data[i].embedding);
    const again = await post(gw.url, '/v1/embeddings', req);
    assert.deepEqual(again.json.data, f.json.data, 'same input, same vectors');
    const { server } = await traceFor(sink.url, f.headers.get('x-request-id'));
    assert.equal(attr(server, 'gen_ai.operation.name'), 'embeddings');
    assert.equal(attr(server, 'gen_ai.usage.input_tokens'), 3);
  }));
});

describe('POST /v1/completions (legacy)', { timeout: 60000 }, () => {
  const req = { model: 'gpt-4o-mini', prompt: 'say this back' };

  it('passes through to the provider, whole and streamed, with text_completion spans', stack.guard(async () => {
    const r = await post(gw.url, '/v1/completions', req);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'text_completion');
    assert.equal(r.json.choices[0].text, 'say this back');
    let t = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(t.server.name, 'text_completion gpt-4o-mini');
    assert.equal(attr(t.server, 'http.route'), '/v1/completions');
    assert.equal(attr(t.clients[0], 'gen_ai.usage.output_tokens'), 3);
    assert.deepEqual(attr(t.clients[0], 'gen_ai.response.finish_reasons'), ['stop']);

    const s = await readStream(`${gw.url}/v1/completions`, { ...req, stream: true }, { 'x-test-id': 'legacy-stream' });
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('content-type'), 'text/event-stream');
    const data = sseData(s.text);
    assert.equal(data.pop(), '[DONE]');
    const chunks = data.map((d) => JSON.parse(d));
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), 'say this back');
    for (const c of chunks) assert.ok(c.choices.length > 0, 'the usage chunk the gateway asked for is stripped');
    const up = (await mockApi(mock.url).requests()).find((q) => q.headers['x-test-id'] === 'legacy-stream');
    assert.equal(JSON.parse(up.body).stream_options.include_usage, true);
    t = await traceFor(sink.url, s.headers.get('x-request-id'));
    for (const sp of [t.server, t.clients[0]]) {
      assert.equal(attr(sp, 'gen_ai.operation.name'), 'text_completion');
      assert.equal(attr(sp, 'gen_ai.request.stream'), true);
      assert.equal(attr(sp, 'gen_ai.usage.input_tokens'), 3);
      assert.ok(attr(sp, 'gen_ai.response.time_to_first_chunk') > 0);
    }
  }));

  it('rejects a bad prompt with 400; the built-in mock answers whole and streamed', stack.guard(async () => {
    const bad = await post(gw.url, '/v1/completions', { model: 'gpt-4o-mini', prompt: 5 });
    assertOpenAiError(assert, bad, 400, 'prompt 5');
    assert.equal(bad.json.error.param, 'prompt');
    const w = await post(gw.url, '/v1/completions', { model: 'builtin-model', prompt: ['first one', 'echo me'] });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.choices[0].text, 'echo me');
    assert.deepEqual(w.json.usage, { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
    const s = await readStream(`${gw.url}/v1/completions`, { model: 'builtin-model', prompt: 'echo me', stream: true });
    const data = sseData(s.text);
    assert.equal(data.pop(), '[DONE]');
    assert.equal(data.map((d) => JSON.parse(d).choices[0].text).join(''), 'echo me');
  }));
});

describe('GET /v1/models', () => {
  it('lists every configured model, chat and embeddings', stack.guard(async () => {
    const r = await http(`${gw.url}/v1/models`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.data.map((m) => m.id).sort(), ['builtin-model', 'dead-model', 'gpt-4o-mini', EMB]);
  }));
});

describe('shutdown', () => {
  it('every process exits 0 on SIGTERM with no sanitizer report', stack.guard(() => stack.assertCleanStop()));
});
