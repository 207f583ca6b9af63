// SPDX-License-Identifier: Apache-2.0
//
// The official `openai` npm client, unchanged, against models served by an
// Anthropic, a Gemini and an Azure OpenAI target (llmgw-mock speaking each
// wire format and checking requests the way the real APIs do). What the app
// sees must be OpenAI's shapes; what the provider received must be its own
// format; the spans must name the provider and carry its token counts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { mockApi, startE2E, traceFor } from './lib/e2e.mjs';
import { MOCK_API_KEY } from '../integration/lib/llmgw.mjs';

let e2e, client;

before(async () => {
  e2e = await startE2E('providers');
  client = e2e.client();
});

after(async () => {
  if (!e2e) return;
  await e2e.stack.stopAll();
  e2e.stack.cleanup();
});

const guard = (fn) => async (...a) => e2e.stack.guard(fn)(...a);

/** The request the mock received with header x-test-id: id ({path, headers, body}). */
async function upstream(id) {
  const reqs = await mockApi(e2e.mock.url).requests();
  const r = reqs.find((q) => q.headers['x-test-id'] === id);
  assert.ok(r, `the mock received the request tagged ${id}`);
  return { ...r, json: JSON.parse(r.body) };
}

async function drain(stream) {
  const chunks = [];
  let content = '';
  const calls = {};
  for await (const chunk of stream) {
    chunks.push(chunk);
    const d = chunk.choices[0]?.delta;
    content += d?.content ?? '';
    for (const tc of d?.tool_calls ?? []) {
      calls[tc.index] ??= { id: '', name: '', arguments: '' };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      calls[tc.index].arguments += tc.function?.arguments ?? '';
    }
  }
  return { chunks, content, calls: Object.values(calls) };
}

const WEATHER = [{
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}];

for (const { model, provider, path, wire } of [
  { model: 'claude-sonnet', provider: 'anthropic', path: '/v1/messages', wire: 'anthropic' },
  { model: 'gemini-flash', provider: 'gcp.gemini', path: '/v1beta/models/gemini-2.5-flash:generateContent', wire: 'gemini' },
]) {
  describe(`openai SDK against a ${wire} target`, { timeout: 60000 }, () => {
    it('create(): OpenAI-shaped answer, usage and finish_reason; the provider got its own format', guard(async () => {
      const id = `${wire}-create`;
      const { data, response } = await client.chat.completions.create({
        model, temperature: 0.5, max_tokens: 100,
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'tell me about the sea' }],
      }, { headers: { 'x-test-id': id } }).withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0].message.role, 'assistant');
      assert.equal(data.choices[0].message.content, 'tell me about the sea');
      assert.equal(data.choices[0].finish_reason, 'stop');
      // the mock counts words: system + user in, the echoed answer out
      assert.deepEqual([data.usage.prompt_tokens, data.usage.completion_tokens], [7, 5]);
      assert.equal(data.usage.total_tokens, 12);
      const up = await upstream(id);
      assert.equal(up.path, path);
      if (wire === 'anthropic') {
        assert.equal(up.headers['x-api-key'], MOCK_API_KEY);
        assert.equal(up.headers['anthropic-version'], '2023-06-01');
        assert.equal(up.json.system, 'be brief');
        assert.equal(up.json.max_tokens, 100);
        assert.deepEqual(up.json.messages.map((x) => x.role), ['user']);
      } else {
        assert.equal(up.headers['x-goog-api-key'], MOCK_API_KEY);
        assert.deepEqual(up.json.systemInstruction.parts, [{ text: 'be brief' }]);
        assert.equal(up.json.generationConfig.maxOutputTokens, 100);
        assert.equal(up.json.generationConfig.temperature, 0.5);
      }
      assert.equal(up.headers.authorization, undefined, 'the virtual key never goes upstream');
      const { server, clients } = await traceFor(e2e.sink.url, response.headers.get('x-request-id'));
      const a = clients[0].attributes;
      assert.equal(a['gen_ai.provider.name'], provider);
      assert.equal(a['gen_ai.usage.input_tokens'], 7);
      assert.equal(a['gen_ai.usage.output_tokens'], 5);
      assert.equal(server.attributes['gen_ai.request.model'], model);
    }));

    it('stream: chunks join to the answer, finish_reason on the last content chunk, usage when asked', guard(async () => {
      const stream = await client.chat.completions.create({
        model, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'one two three four five six' }],
      });
      const { chunks, content } = await drain(stream);
      assert.equal(content, 'one two three four five six');
      for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
      assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'), 'a chunk carries finish_reason stop');
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage.completion_tokens, 6);
    }));

    it('stream without include_usage: no usage chunk reaches the app', guard(async () => {
      const { chunks, content } = await drain(await client.chat.completions.create({
        model, stream: true, messages: [{ role: 'user', content: 'hello there' }],
      }));
      assert.equal(content, 'hello there');
      for (const c of chunks) assert.equal(c.usage ?? null, null);
    }));

    it('tools: a forced tool call comes back as tool_calls, and the tool result round-trips', guard(async () => {
      const q = [{ role: 'user', content: 'weather in Paris' }];
      const r = await client.chat.completions.create({
        model, messages: q, tools: WEATHER, tool_choice: { type: 'function', function: { name: 'get_weather' } },
      });
      const call = r.choices[0].message.tool_calls?.[0];
      assert.ok(call, `tool_calls in ${JSON.stringify(r.choices[0])}`);
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { echo: 'weather in Paris' });
      assert.equal(r.choices[0].finish_reason, 'tool_calls');
      const r2 = await client.chat.completions.create({
        model, tools: WEATHER,
        messages: [...q, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }],
      });
      assert.equal(r2.choices[0].message.content, 'tool result: sunny, 21C');
    }));

    it('tools in a stream: the call arrives as tool_calls deltas', guard(async () => {
      const { calls, chunks } = await drain(await client.chat.completions.create({
        model, stream: true, messages: [{ role: 'user', content: 'weather in Oslo' }],
        tools: WEATHER, tool_choice: { type: 'function', function: { name: 'get_weather' } },
      }));
      assert.equal(calls.length, 1);
      assert.equal(calls[0].name, 'get_weather');
      assert.deepEqual(JSON.parse(calls[0].arguments), { echo: 'weather in Oslo' });
      assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'tool_calls'));
    }));

    it('max_tokens below the answer: finish_reason length', guard(async () => {
      const r = await client.chat.completions.create({
        model, max_tokens: 2, messages: [{ role: 'user', content: 'a b c d e' }],
      });
      assert.equal(r.choices[0].finish_reason, 'length');
      assert.equal(r.choices[0].message.content, 'a b');
    }));

    it('a provider error is the SDK\'s typed error with the provider\'s message', guard(async () => {
      const err = await client.chat.completions.create(
        { model, messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-mock-status': '429' } }).catch((e) => e);
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
      assert.equal(err.status, 429);
      assert.ok(err.message.length > 0);
      assert.ok(!err.message.includes(MOCK_API_KEY));
    }));

    it('a mid-stream provider error ends the SDK stream with an APIError', guard(async () => {
      const stream = await client.chat.completions.create(
        { model, stream: true, messages: [{ role: 'user', content: 'x y z' }] },
        { headers: { 'x-mock-stream-error': '1' } });
      const err = await drain(stream).then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.APIError, `the stream must throw, got ${err}`);
    }));
  });
}

describe('openai SDK against an azure-openai target', { timeout: 60000 }, () => {
  it('create() and a stream go to the deployment URL with api-key and api-version', guard(async () => {
    const r = await client.chat.completions.create(
      { model: 'azure-gpt', messages: [{ role: 'user', content: 'hi azure' }] }, { headers: { 'x-test-id': 'az-1' } });
    assert.equal(r.choices[0].message.content, 'hi azure');
    const up = await upstream('az-1');
    assert.equal(up.path, '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21');
    assert.equal(up.headers['api-key'], MOCK_API_KEY);
    assert.equal(up.headers.authorization, undefined);
    const { content } = await drain(await client.chat.completions.create(
      { model: 'azure-gpt', stream: true, messages: [{ role: 'user', content: 'streamed azure' }] }));
    assert.equal(content, 'streamed azure');
  }));
});
