// SPDX-License-Identifier: Apache-2.0
//
// llmgw-mock's Anthropic Messages and Gemini generateContent wire formats,
// against the mock binary directly: answers (whole and streamed), request
// validation in each provider's error shape, tool forcing, stop sequences
// and token limits, fault injection in the route's format, and the stream
// faults (fail-after cut, in-band error event). The gateway's provider
// translation tests lean on exactly this behaviour.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, http, mockApi } from './lib/stack.mjs';
import { readStream } from './lib/sse.mjs';

const stack = new Stack('mock-formats');
let mock, fixed;

before(stack.guard(async () => {
  mock = await stack.mock(['--chunks', '3']);
  fixed = await stack.mock(['--content', 'fixed answer here'], 'llmgw-mock-fixed');
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

// ---- Anthropic --------------------------------------------------------------

const ANT_HEADERS = { 'content-type': 'application/json', 'x-api-key': 'test-ant-key', 'anthropic-version': '2023-06-01' };
const ant = (url, body, headers = {}) => http(`${url}/v1/messages`, { method: 'POST', headers: { ...ANT_HEADERS, ...headers }, body });
const antStream = (url, body, headers = {}) =>
  readStream(`${url}/v1/messages`, { ...body, stream: true }, { ...ANT_HEADERS, ...headers });
const antBody = (content, extra = {}) => ({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content }], ...extra });

/** "event: X\ndata: Y\n\n" events -> [{event, data (parsed)}]. */
function antEvents(text) {
  return text.split('\n\n').filter((e) => e !== '').map((e) => {
    const m = /^event: ([a-z_]+)\ndata: (.*)$/s.exec(e);
    assert.ok(m, `Anthropic SSE event must be "event: X\\ndata: Y": ${JSON.stringify(e)}`);
    const data = JSON.parse(m[2]);
    assert.equal(data.type, m[1], 'the data type repeats the event name');
    return { event: m[1], data };
  });
}

function assertAntError(r, status, type, what) {
  assert.equal(r.status, status, `${what}: status (body ${r.text})`);
  assert.equal(r.json?.type, 'error', `${what}: ${r.text}`);
  assert.equal(r.json.error.type, type, `${what}: error.type in ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
}

describe('llmgw-mock Anthropic Messages', () => {
  it('answers a Message: echo, model, end_turn, word usage incl. system, request-id', stack.guard(async () => {
    const r = await ant(mock.url, antBody('hello there  world', { system: 'be brief' }));
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^msg_mock_\d+$/);
    assert.match(r.headers.get('request-id'), /^req_mock_\d+$/);
    assert.deepEqual({ ...r.json, id: 'x' }, {
      id: 'x', type: 'message', role: 'assistant', model: 'claude-test',
      content: [{ type: 'text', text: 'hello there  world' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3 },
    });
  }));

  it('streams the documented event sequence; deltas joined = the whole answer', stack.guard(async () => {
    const body = antBody([{ type: 'text', text: 'the quick brown' }, { type: 'text', text: 'fox jumps' }], { system: [{ type: 'text', text: 'sys' }] });
    const whole = await ant(mock.url, body);
    const r = await antStream(mock.url, body);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const ev = antEvents(r.text);
    assert.deepEqual(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping', 'content_block_delta',
      'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    const start = ev[0].data.message;
    assert.match(start.id, /^msg_mock_\d+$/);
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.input_tokens, whole.json.usage.input_tokens);
    assert.deepEqual(ev[1].data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    const text = ev.filter((e) => e.event === 'content_block_delta').map((e) => {
      assert.equal(e.data.delta.type, 'text_delta');
      return e.data.delta.text;
    }).join('');
    assert.equal(text, whole.json.content[0].text);
    assert.equal(text, 'the quick brown fox jumps');
    assert.deepEqual(ev[7].data, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } });
  }));

  it('rejects what Anthropic rejects, in its error shape (counted as bad_requests)', stack.guard(async () => {
    const api = mockApi(mock.url);
    const before = (await api.stats()).bad_requests;
    const toolUse = { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get', input: {} }] };
    const cases = [
      ['no x-api-key', () => http(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: antBody('x') }), 401, 'authentication_error'],
      ['no anthropic-version', () => http(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: antBody('x') }), 400],
      ['bad JSON', () => ant(mock.url, '{"model":')],
      ['no model', () => ant(mock.url, { max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })],
      ['no max_tokens', () => ant(mock.url, { model: 'm', messages: [{ role: 'user', content: 'x' }] })],
      ['max_tokens 0', () => ant(mock.url, antBody('x', { max_tokens: 0 }))],
      ['empty messages', () => ant(mock.url, antBody('x', { messages: [] }))],
      ['system role', () => ant(mock.url, antBody('x', { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'x' }] }))],
      ['first is assistant', () => ant(mock.url, antBody('x', { messages: [{ role: 'assistant', content: 'a' }, { role: 'user', content: 'x' }] }))],
      ['temperature 1.5', () => ant(mock.url, antBody('x', { temperature: 1.5 }))],
      ['top_p -0.1', () => ant(mock.url, antBody('x', { top_p: -0.1 }))],
      ['unknown block type', () => ant(mock.url, antBody([{ type: 'image_url', image_url: { url: 'x' } }]))],
      ['image without media type', () => ant(mock.url, antBody([{ type: 'image', source: { type: 'base64', data: 'AA==' } }]))],
      ['content a number', () => ant(mock.url, antBody(5))],
      ['tool_result without tool_use', () => ant(mock.url, antBody([{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }]))],
      ['tool_use without tool_result after it', () => ant(mock.url, antBody('x', { messages: [{ role: 'user', content: 'q' }, toolUse, { role: 'user', content: 'no result' }] }))],
      ['tool without input_schema', () => ant(mock.url, antBody('x', { tools: [{ name: 'get' }] }))],
      ['tool bad name', () => ant(mock.url, antBody('x', { tools: [{ name: 'get weather', input_schema: { type: 'object' } }] }))],
      ['tool_choice bad type', () => ant(mock.url, antBody('x', { tools: [{ name: 'get', input_schema: { type: 'object' } }], tool_choice: { type: 'required' } }))],
      ['tool_choice tool without name', () => ant(mock.url, antBody('x', { tools: [{ name: 'get', input_schema: { type: 'object' } }], tool_choice: { type: 'tool' } }))],
      ['tool_choice without tools', () => ant(mock.url, antBody('x', { tool_choice: { type: 'any' } }))],
      ['stop_sequences not strings', () => ant(mock.url, antBody('x', { stop_sequences: [1] }))],
      ['unknown top-level field', () => ant(mock.url, antBody('x', { stream_options: { include_usage: true } }))],
    ];
    for (const [what, call, status = 400, type = 'invalid_request_error'] of cases) assertAntError(await call(), status, type, what);
    assert.equal((await api.stats()).bad_requests, before + cases.length);
  }));

  it('takes a full tool round trip (image, tool_use, tool_result) and answers "tool result: ..."', stack.guard(async () => {
    const tools = [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const messages = [
      { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'text', text: 'weather in Paris' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'let me check' }, { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: [{ type: 'text', text: '22C sunny' }] }] },
    ];
    const r = await ant(mock.url, { model: 'claude-test', max_tokens: 50, tools, tool_choice: { type: 'auto' }, messages });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.content, [{ type: 'text', text: 'tool result: 22C sunny' }]);
    assert.equal(r.json.stop_reason, 'end_turn');
    assert.equal(r.json.usage.input_tokens, 3 + 3 + 2, 'text + assistant text + tool result words');
    assert.equal(r.json.usage.output_tokens, 4);
  }));

  it('answers a forced tool with a tool_use block, whole and streamed', stack.guard(async () => {
    const tools = [{ name: 'lookup', input_schema: { type: 'object' } }, { name: 'other', input_schema: { type: 'object' } }];
    const body = antBody('find the thing', { tools, tool_choice: { type: 'tool', name: 'lookup' } });
    const r = await ant(mock.url, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stop_reason, 'tool_use');
    assert.equal(r.json.content.length, 1);
    const [blk] = r.json.content;
    assert.equal(blk.type, 'tool_use');
    assert.match(blk.id, /^toolu_mock_\d+$/);
    assert.equal(blk.name, 'lookup');
    assert.deepEqual(blk.input, { echo: 'find the thing' });
    const s = antEvents((await antStream(mock.url, body)).text);
    assert.equal(s[1].data.content_block.type, 'tool_use');
    assert.equal(s[1].data.content_block.name, 'lookup');
    assert.deepEqual(s[1].data.content_block.input, {});
    const json = s.filter((e) => e.event === 'content_block_delta').map((e) => {
      assert.equal(e.data.delta.type, 'input_json_delta');
      return e.data.delta.partial_json;
    }).join('');
    assert.deepEqual(JSON.parse(json), { echo: 'find the thing' });
    assert.equal(s.find((e) => e.event === 'message_delta').data.delta.stop_reason, 'tool_use');
    // tool_choice any with a single tool forces it too.
    const any = await ant(mock.url, antBody('x y', { tools: [tools[0]], tool_choice: { type: 'any' } }));
    assert.equal(any.json.content[0].name, 'lookup');
  }));

  it('honours stop_sequences and max_tokens the simple way', stack.guard(async () => {
    const stop = await ant(mock.url, antBody('one two STOP three', { stop_sequences: ['XX', 'STOP'] }));
    assert.deepEqual(stop.json.content, [{ type: 'text', text: 'one two ' }]);
    assert.equal(stop.json.stop_reason, 'stop_sequence');
    assert.equal(stop.json.stop_sequence, 'STOP');
    const max = await ant(mock.url, antBody('one two three four', { max_tokens: 2 }));
    assert.deepEqual(max.json.content, [{ type: 'text', text: 'one two' }]);
    assert.equal(max.json.stop_reason, 'max_tokens');
    assert.equal(max.json.usage.output_tokens, 2);
    const s = antEvents((await antStream(mock.url, antBody('one two three four', { max_tokens: 2 }))).text);
    assert.equal(s.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join(''), 'one two');
    assert.deepEqual(s.at(-2).data.delta, { stop_reason: 'max_tokens', stop_sequence: null });
  }));

  it('injects errors in Anthropic shape with the type for each status', stack.guard(async () => {
    const types = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
      413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };
    for (const [status, type] of Object.entries(types)) {
      const r = await ant(mock.url, antBody('x', { stream: true }), { 'x-mock-status': status, 'x-mock-retry-after': '3' });
      assertAntError(r, Number(status), type, `injected ${status}`);
      assert.equal(r.headers.get('retry-after'), '3');
    }
    assert.equal((await ant(mock.url, antBody('x'), { 'x-mock-status': '529' })).json.error.message, 'Overloaded');
    assertAntError(await ant(mock.url, antBody('x'), { 'x-mock-chunks': '0' }), 400, 'invalid_request_error', 'bad x-mock header');
    assertAntError(await http(`${mock.url}/v1/messages`, { headers: ANT_HEADERS }), 405, 'invalid_request_error', 'GET');
  }));

  it('x-mock-fail-after cuts after N deltas; x-mock-stream-error ends with an error event', stack.guard(async () => {
    const api = mockApi(mock.url);
    const before = await api.stats();
    const cut = await antStream(mock.url, antBody('a b c d e f'), { 'x-mock-fail-after': '2' });
    assert.ok(cut.error, 'reading the body fails');
    assert.deepEqual(antEvents(cut.text).map((e) => e.event), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta']);
    const err = await antStream(mock.url, antBody('a b c d e f'), { 'x-mock-stream-error': '1' });
    assert.equal(err.error, null, 'the stream ends cleanly');
    const ev = antEvents(err.text);
    assert.deepEqual(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping', 'content_block_delta',
      'content_block_delta', 'content_block_delta', 'error']);
    assert.deepEqual(ev.at(-1).data, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const after = await api.stats();
    assert.equal(after.resets, before.resets + 1);
    assert.equal(after.stream_errors, before.stream_errors + 1);
    assert.equal(after.anthropic_messages, before.anthropic_messages + 2);
  }));

  it('--content fixes the answer', stack.guard(async () => {
    const r = await ant(fixed.url, antBody('ignored words'));
    assert.equal(r.json.content[0].text, 'fixed answer here');
    assert.equal(r.json.usage.output_tokens, 3);
  }));
});

// ---- Gemini -------------------------------------------------------------------

const MODEL = 'gemini-2.0-flash';
const gemUrl = (url, verb, query = '') => `${url}/v1beta/models/${MODEL}:${verb}${query}`;
const GEM_HEADERS = { 'content-type': 'application/json', 'x-goog-api-key': 'test-gem-key' };
const gem = (url, body, headers = {}, query = '') =>
  http(gemUrl(url, 'generateContent', query), { method: 'POST', headers: { ...GEM_HEADERS, ...headers }, body });
const gemStream = (url, body, headers = {}, query = '?alt=sse') =>
  readStream(gemUrl(url, 'streamGenerateContent', query), body, { ...GEM_HEADERS, ...headers });
const gemBody = (text, extra = {}) => ({ contents: [{ role: 'user', parts: [{ text }] }], ...extra });

/** Gemini SSE ("data: X\r\n\r\n" events, CRLF as Google sends them) -> parsed payloads. */
function gemEvents(text) {
  assert.ok(text.endsWith('\r\n\r\n'), 'events end with CRLF CRLF');
  return text.split('\r\n\r\n').filter((e) => e !== '').map((e) => {
    assert.ok(e.startsWith('data: '), `event must be "data: ...": ${JSON.stringify(e)}`);
    return JSON.parse(e.slice(6));
  });
}

const gemText = (chunks) => chunks.map((c) => c.candidates[0].content.parts[0].text).join('');

function assertGemError(r, code, status, what) {
  assert.equal(r.status, code, `${what}: status (body ${r.text})`);
  assert.equal(r.json?.error?.code, code, `${what}: ${r.text}`);
  assert.equal(r.json.error.status, status, `${what}: ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
}

describe('llmgw-mock Gemini generateContent', () => {
  it('answers a GenerateContentResponse: echo, STOP, usageMetadata, modelVersion, responseId', stack.guard(async () => {
    const body = gemBody('hello gemini world', { systemInstruction: { parts: [{ text: 'be brief' }] } });
    const r = await gem(mock.url, body);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.responseId, /^mock-\d+$/);
    assert.deepEqual({ ...r.json, responseId: 'x' }, {
      candidates: [{ content: { parts: [{ text: 'hello gemini world' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
      modelVersion: MODEL, responseId: 'x',
    });
    const byQuery = await http(gemUrl(mock.url, 'generateContent', '?key=test-gem-key'), { method: 'POST', body });
    assert.equal(byQuery.status, 200, 'the key may come as ?key=');
    const v1 = await http(`${mock.url}/v1/models/other-model:generateContent`, { method: 'POST', headers: GEM_HEADERS, body });
    assert.equal(v1.json.modelVersion, 'other-model');
  }));

  it('streams with alt=sse (CRLF events, usage on each, finishReason last) and as a JSON array without', stack.guard(async () => {
    const body = gemBody('the quick brown fox jumps');
    const whole = await gem(mock.url, body);
    const r = await gemStream(mock.url, body);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const chunks = gemEvents(r.text);
    assert.equal(chunks.length, 3, '--chunks 3');
    assert.equal(gemText(chunks), whole.json.candidates[0].content.parts[0].text);
    for (const c of chunks.slice(0, -1)) assert.equal(c.candidates[0].finishReason, undefined);
    assert.equal(chunks.at(-1).candidates[0].finishReason, 'STOP');
    for (const c of chunks) {
      assert.equal(c.modelVersion, MODEL);
      assert.equal(c.responseId, chunks[0].responseId);
      assert.equal(c.usageMetadata.promptTokenCount, 5);
    }
    assert.deepEqual(chunks.at(-1).usageMetadata, whole.json.usageMetadata);
    const arr = await gemStream(mock.url, body, {}, '');
    assert.match(arr.headers.get('content-type'), /^application\/json/);
    const parsed = JSON.parse(arr.text);
    assert.ok(Array.isArray(parsed));
    assert.equal(gemText(parsed), gemText(chunks));
    assert.equal(parsed.at(-1).candidates[0].finishReason, 'STOP');
  }));

  it('rejects what Google rejects, in its error shape (counted as bad_requests)', stack.guard(async () => {
    const api = mockApi(mock.url);
    const before = (await api.stats()).bad_requests;
    const cases = [
      ['no API key', () => http(gemUrl(mock.url, 'generateContent'), { method: 'POST', body: gemBody('x') }), 403, 'PERMISSION_DENIED'],
      ['bad JSON', () => gem(mock.url, '{"contents":')],
      ['unknown top-level field', () => gem(mock.url, gemBody('x', { messages: [] })), 400, 'INVALID_ARGUMENT', /Unknown name "messages"/],
      ['no contents', () => gem(mock.url, { contents: [] })],
      ['bad role', () => gem(mock.url, { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] })],
      ['empty parts', () => gem(mock.url, { contents: [{ role: 'user', parts: [] }] })],
      ['two data fields', () => gem(mock.url, { contents: [{ role: 'user', parts: [{ text: 'x', inlineData: { mimeType: 'image/png', data: 'AA==' } }] }] })],
      ['no data field', () => gem(mock.url, { contents: [{ role: 'user', parts: [{ thought: true }] }] })],
      ['unknown part field', () => gem(mock.url, { contents: [{ role: 'user', parts: [{ image_url: 'x' }] }] })],
      ['inlineData without data', () => gem(mock.url, { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png' } }] }] })],
      ['temperature 3', () => gem(mock.url, gemBody('x', { generationConfig: { temperature: 3 } }))],
      ['temperature a string', () => gem(mock.url, gemBody('x', { generationConfig: { temperature: 'hot' } }))],
      ['candidateCount 0', () => gem(mock.url, gemBody('x', { generationConfig: { candidateCount: 0 } }))],
      ['unknown generationConfig field', () => gem(mock.url, gemBody('x', { generationConfig: { max_tokens: 5 } }))],
      ['function without name', () => gem(mock.url, gemBody('x', { tools: [{ functionDeclarations: [{ description: 'd' }] }] }))],
      ['allowed names with AUTO', () => gem(mock.url, gemBody('x', { tools: [{ functionDeclarations: [{ name: 'f' }] }],
        toolConfig: { functionCallingConfig: { mode: 'AUTO', allowedFunctionNames: ['f'] } } }))],
      ['bad mode', () => gem(mock.url, gemBody('x', { toolConfig: { functionCallingConfig: { mode: 'REQUIRED' } } }))],
    ];
    for (const [what, call, code = 400, status = 'INVALID_ARGUMENT', msg] of cases) {
      const r = await call();
      assertGemError(r, code, status, what);
      if (msg) assert.match(r.json.error.message, msg);
    }
    assert.equal((await api.stats()).bad_requests, before + cases.length);
    // snake_case (proto) names are as good as lowerCamel.
    const snake = await gem(mock.url, { contents: [{ role: 'user', parts: [{ text: 'a b c' }] }], generation_config: { max_output_tokens: 1 },
      system_instruction: { parts: [{ text: 's' }] } });
    assert.equal(snake.status, 200, snake.text);
    assert.equal(snake.json.candidates[0].finishReason, 'MAX_TOKENS');
  }));

  it('answers a forced function with a functionCall part, whole and streamed; a function response with its text', stack.guard(async () => {
    const tools = [{ functionDeclarations: [{ name: 'lookup', parameters: { type: 'OBJECT' } }, { name: 'other' }] }];
    const body = gemBody('find the thing', { tools, toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['lookup'] } } });
    const r = await gem(mock.url, body);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.candidates[0].content, { parts: [{ functionCall: { name: 'lookup', args: { echo: 'find the thing' } } }], role: 'model' });
    assert.equal(r.json.candidates[0].finishReason, 'STOP');
    const s = gemEvents((await gemStream(mock.url, body)).text);
    assert.equal(s.length, 1, 'one functionCall chunk');
    assert.deepEqual(s[0].candidates[0].content.parts, [{ functionCall: { name: 'lookup', args: { echo: 'find the thing' } } }]);
    assert.equal(s[0].candidates[0].finishReason, 'STOP');
    const turn = await gem(mock.url, { tools, contents: [
      { role: 'user', parts: [{ text: 'weather?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'lookup', args: {} } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { result: '22C sunny' } } }] },
    ] });
    assert.equal(turn.status, 200, turn.text);
    assert.equal(turn.json.candidates[0].content.parts[0].text, 'tool result: 22C sunny');
  }));

  it('honours maxOutputTokens, stopSequences and candidateCount', stack.guard(async () => {
    const max = await gem(mock.url, gemBody('one two three four', { generationConfig: { maxOutputTokens: 2 } }));
    assert.equal(max.json.candidates[0].content.parts[0].text, 'one two');
    assert.equal(max.json.candidates[0].finishReason, 'MAX_TOKENS');
    assert.equal(max.json.usageMetadata.candidatesTokenCount, 2);
    const stop = await gem(mock.url, gemBody('one two END three', { generationConfig: { stopSequences: ['END'] } }));
    assert.equal(stop.json.candidates[0].content.parts[0].text, 'one two ');
    assert.equal(stop.json.candidates[0].finishReason, 'STOP');
    const two = await gem(mock.url, gemBody('a b', { generationConfig: { candidateCount: 2 } }));
    assert.deepEqual(two.json.candidates.map((c) => c.index), [0, 1]);
  }));

  it('injects errors in Google shape with the status for each code', stack.guard(async () => {
    const codes = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
      429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };
    for (const [code, status] of Object.entries(codes)) {
      const r = await gem(mock.url, gemBody('x'), { 'x-mock-status': code, 'x-mock-retry-after': '2' });
      assertGemError(r, Number(code), status, `injected ${code}`);
      assert.equal(r.headers.get('retry-after'), '2');
    }
    assertGemError(await http(gemUrl(mock.url, 'streamGenerateContent'), { headers: GEM_HEADERS }), 405, 'FAILED_PRECONDITION', 'GET');
    assertGemError(await gem(mock.url, gemBody('x'), { 'x-mock-fail-after': 'x' }), 400, 'INVALID_ARGUMENT', 'bad x-mock header');
    const unknown = await http(`${mock.url}/v1beta/models/${MODEL}:countTokens`, { method: 'POST', headers: GEM_HEADERS, body: gemBody('x') });
    assert.equal(unknown.status, 404);
  }));

  it('x-mock-fail-after cuts after N chunks; x-mock-stream-error ends with an error event', stack.guard(async () => {
    const api = mockApi(mock.url);
    const before = await api.stats();
    const cut = await gemStream(mock.url, gemBody('a b c d e f'), { 'x-mock-fail-after': '1' });
    assert.ok(cut.error, 'reading the body fails');
    assert.equal(gemEvents(cut.text).length, 1);
    const err = await gemStream(mock.url, gemBody('a b c d e f'), { 'x-mock-stream-error': '1' });
    assert.equal(err.error, null, 'the stream ends cleanly');
    const ev = gemEvents(err.text);
    assert.equal(ev.length, 4);
    for (const c of ev.slice(0, 3)) assert.equal(c.candidates[0].finishReason, undefined, 'no chunk finishes');
    assert.deepEqual(ev.at(-1), { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });
    const after = await api.stats();
    assert.equal(after.resets, before.resets + 1);
    assert.equal(after.stream_errors, before.stream_errors + 1);
    assert.equal(after.gemini_generations, before.gemini_generations + 2);
  }));
});

describe('shutdown', () => {
  it('the mocks exit 0 on SIGTERM with no sanitizer report', stack.guard(async () => {
    await stack.assertCleanStop();
  }));
});
