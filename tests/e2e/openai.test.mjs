// SPDX-License-Identifier: Apache-2.0
//
// The official `openai` npm client against llmgw, unchanged except for its
// base URL and key: what an application written against OpenAI sees.
// Answers come from llmgw-mock, so they are predictable: the content is the
// last user message, token counts are word counts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { E2E_KEY, mockApi, startE2E, traceFor } from './lib/e2e.mjs';

let e2e, client;

before(async () => {
  e2e = await startE2E('openai');
  client = e2e.client();
});

after(async () => {
  if (!e2e) return;
  await e2e.stack.stopAll();
  e2e.stack.cleanup();
});

const PROMPT = 'tell me three short things about the sea';
const MODEL = 'gpt-4o-mini';
const messages = (content = PROMPT) => [
  { role: 'system', content: 'be brief' },
  { role: 'user', content },
];
/** Prints every process's log when fn fails. */
const guard = (fn) => async (...a) => e2e.stack.guard(fn)(...a);

/** Reads an SDK stream with its async iterator: {chunks, content}. */
async function drain(stream) {
  const chunks = [];
  let content = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  return { chunks, content };
}

/** The body the mock received for the request that carried header x-test-id: id. */
async function upstreamBody(id) {
  const reqs = await mockApi(e2e.mock.url).requests();
  const r = reqs.find((q) => q.headers['x-test-id'] === id);
  assert.ok(r, `the mock received the request tagged ${id}`);
  return JSON.parse(r.body);
}

describe('openai SDK: chat completions', { timeout: 60000 }, () => {
  it('create() returns the mock\'s answer, attributed to the virtual key', guard(async () => {
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: messages() }, { headers: { 'x-test-id': 'chat-1' } })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, 'gpt-4o-mini-mock');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, PROMPT);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.deepEqual(data.usage, { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 });
    const rid = response.headers.get('x-request-id');
    assert.ok(rid, 'x-request-id on the response');
    // The provider got the gateway's key, never the client's.
    const up = (await mockApi(e2e.mock.url).requests()).find((q) => q.headers['x-test-id'] === 'chat-1');
    assert.notEqual(up.headers.authorization, `Bearer ${E2E_KEY}`);
    assert.ok(!JSON.stringify(up).includes(E2E_KEY), 'the virtual key never reaches the provider');
    const { server } = await traceFor(e2e.sink.url, rid);
    assert.equal(server.attributes['llmgw.key.name'], 'e2e-sdk');
    assert.equal(server.resource.tenant_id, 'e2e');
  }));

  it('stream: true through the async iterator reassembles the non-streaming answer', guard(async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages: messages() });
    const stream = await client.chat.completions.create({ model: MODEL, messages: messages(), stream: true });
    const { chunks, content } = await drain(stream);
    assert.equal(content, whole.choices[0].message.content);
    assert.ok(chunks.length >= 3, `role, content and finish chunks, got ${chunks.length}`);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  }));

  it('stream_options.include_usage: the last chunk carries the usage', guard(async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages: messages() });
    const stream = await client.chat.completions.create({
      model: MODEL, messages: messages(), stream: true, stream_options: { include_usage: true },
    });
    const { chunks, content } = await drain(stream);
    assert.equal(content, whole.choices[0].message.content);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, whole.usage);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage ?? null, null, 'only the last chunk has usage');
  }));

  it('without include_usage the SDK sees no usage chunk (the gateway asks upstream and strips it)', guard(async () => {
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: messages(), stream: true },
      { headers: { 'x-test-id': 'no-usage' } });
    const { chunks, content } = await drain(stream);
    assert.equal(content, PROMPT);
    for (const c of chunks) {
      assert.ok(c.choices.length > 0, `a chunk without choices reached the client: ${JSON.stringify(c)}`);
      assert.equal(c.usage ?? null, null, `usage reached the client: ${JSON.stringify(c)}`);
    }
    // ...while the gateway itself asked the provider for usage (for the span).
    const up = await upstreamBody('no-usage');
    assert.equal(up.stream, true);
    assert.equal(up.stream_options?.include_usage, true, 'the gateway adds stream_options.include_usage upstream');
  }));

  it('a streaming call leaves a CLIENT span with stream flag, tokens and time to first chunk', guard(async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: MODEL, messages: messages(), stream: true }, { headers: { 'x-mock-first-byte-ms': '50' } })
      .withResponse();
    await drain(stream);
    const { clients } = await traceFor(e2e.sink.url, response.headers.get('x-request-id'));
    assert.equal(clients.length, 1);
    const a = clients[0].attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.equal(a['gen_ai.usage.input_tokens'], 10);
    assert.equal(a['gen_ai.usage.output_tokens'], 8);
    assert.ok(a['gen_ai.response.time_to_first_chunk'] > 0, `time_to_first_chunk: ${a['gen_ai.response.time_to_first_chunk']}`);
  }));
});

describe('openai SDK: legacy completions', { timeout: 60000 }, () => {
  it('completions.create, whole and streamed, pass through to the provider', guard(async () => {
    const whole = await client.completions.create({ model: MODEL, prompt: 'say this back' });
    assert.equal(whole.object, 'text_completion');
    assert.equal(whole.choices[0].text, 'say this back');
    assert.deepEqual(whole.usage, { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
    let text = '';
    for await (const c of await client.completions.create({ model: MODEL, prompt: 'say this back', stream: true })) {
      text += c.choices[0]?.text ?? '';
    }
    assert.equal(text, 'say this back');
  }));
});

describe('openai SDK: embeddings and models', { timeout: 60000 }, () => {
  /** The mock's own float answer for the same input (the reference). */
  async function mockFloats(input) {
    const r = await fetch(`${e2e.mock.url}/v1/embeddings`, {
      method: 'POST', body: JSON.stringify({ model: 'text-embedding-3-small', input, encoding_format: 'float' }),
    });
    return (await r.json()).data.map((d) => d.embedding);
  }

  it('embeddings.create with the SDK default (base64 on the wire) decodes to the mock\'s vectors', guard(async () => {
    const input = ['the first text', 'a second one'];
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input }, { headers: { 'x-test-id': 'emb-b64' } });
    assert.equal(res.object, 'list');
    assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
    assert.deepEqual(res.data.map((d) => d.embedding), await mockFloats(input));
    assert.deepEqual(res.usage, { prompt_tokens: 6, total_tokens: 6 });
    assert.equal((await upstreamBody('emb-b64')).encoding_format, 'base64', 'the SDK asked for base64');
  }));

  it('embeddings.create with encoding_format float', guard(async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'just one', encoding_format: 'float', dimensions: 16 });
    assert.equal(res.data.length, 1);
    assert.equal(res.data[0].embedding.length, 16);
    const r = await fetch(`${e2e.mock.url}/v1/embeddings`, {
      method: 'POST', body: JSON.stringify({ model: 'm', input: 'just one', dimensions: 16 }),
    });
    assert.deepEqual(res.data[0].embedding, (await r.json()).data[0].embedding);
  }));

  it('models.list() pages through the configured models', guard(async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids.sort(), ['azure-gpt', 'claude-sonnet', 'dead-model', 'gemini-flash', 'gpt-4o-mini', 'text-embedding-3-small']);
  }));
});

describe('openai SDK: errors are the SDK\'s typed errors with our message', { timeout: 60000 }, () => {
  /** Runs fn, expects it to throw cls with status; returns the error. */
  async function expectError(fn, cls, status, messageRe) {
    let err;
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    assert.ok(err, `expected ${cls.name}, got success`);
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, status);
    assert.match(err.error?.message ?? '', messageRe, `error.message: ${JSON.stringify(err.error)}`);
    assert.match(err.message, messageRe);
    assert.ok(err.requestID, 'x-request-id reaches the SDK error (requestID)');
    return err;
  }
  const chat = (opts, c = client) => () => c.chat.completions.create({ model: MODEL, messages: messages(), ...opts.body }, opts.req);

  it('400 -> BadRequestError', guard(async () => {
    const err = await expectError(chat({ body: { messages: 'not a list' } }), OpenAI.BadRequestError, 400, /messages/);
    assert.equal(err.type, 'invalid_request_error');
  }));

  it('401 -> AuthenticationError for a key the gateway does not know', guard(async () => {
    const err = await expectError(chat({}, e2e.client({ apiKey: 'sk-not-a-known-key' })), OpenAI.AuthenticationError, 401, /./);
    assert.ok(!err.message.includes('sk-not-a-known-key'), 'the key is never echoed');
  }));

  it('404 -> NotFoundError for a model that is not configured', guard(async () => {
    const err = await expectError(chat({ body: { model: 'no-such-model' } }), OpenAI.NotFoundError, 404, /no-such-model/);
    assert.equal(err.code, 'model_not_found');
  }));

  it('429 from the provider -> RateLimitError with the provider\'s message', guard(async () => {
    const err = await expectError(chat({ req: { headers: { 'x-mock-status': '429', 'x-mock-retry-after': '3' } } }),
      OpenAI.RateLimitError, 429, /mock injected 429/);
    assert.equal(err.headers.get('retry-after'), '3');
  }));

  it('500 and 503 from the provider -> InternalServerError', guard(async () => {
    for (const status of [500, 503]) {
      await expectError(chat({ req: { headers: { 'x-mock-status': String(status) } } }),
        OpenAI.InternalServerError, status, new RegExp(`mock injected ${status}`));
    }
  }));

  it('502 when the provider is down -> InternalServerError (an APIError) with the gateway\'s message', guard(async () => {
    const err = await expectError(chat({ body: { model: 'dead-model' } }), OpenAI.InternalServerError, 502, /./);
    assert.equal(typeof err.error.type, 'string');
  }));
});

describe('shutdown', () => {
  it('every process exits 0 on SIGTERM with no sanitizer report', guard(async () => {
    for (const x of await e2e.stack.stopAll()) {
      assert.equal(x.killed, false, `${x.name} did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${x.name} exit status (signal ${x.signal})`);
    }
    for (const h of e2e.stack.procs) assert.equal(e2e.stack.problems(h), '', `${h.name}: sanitizer report`);
  }));
});
