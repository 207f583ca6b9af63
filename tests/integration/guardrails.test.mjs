// SPDX-License-Identifier: Apache-2.0
//
// Guardrails through real processes (llmgw-mock -> gateway -> exporter ->
// otlp-sink). The mock echoes the last user message, so a rule on the
// output stage sees exactly the text the test sent. Each rule kind (the
// e-mail, card and API-key detectors, a regex) on input and output: deny
// answers 400 guardrail_denied naming the rule and the provider never sees
// a denied prompt; redact rewrites the prompt before it leaves (checked in
// what the mock received) or the answer before the client gets it; streams
// are redacted across every chunk boundary the mock can produce, and a
// deny ends the stream with an error event. Rules attach per model and per
// key (union). The matched text appears in no span, log line or metric.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Stack, freePort, http, metric, mockApi, sha256hex, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, assertOpenAiError, startExporter, traceFor } from './lib/llmgw.mjs';
import { readStream, sseData } from './lib/sse.mjs';

const stack = new Stack('guardrails');
const KEY = 'llmgw-guard-key-3e9a0c7f1b52d4';
// what must never leave through the gateway's logs, spans and metrics
const EMAIL = 'alice.secret@example.com';
const CARD = '4111 1111 1111 1111';
const APIKEY = 'sk-proj-Zx81LmQ0vR7tYb3NcW5kPe2H';
const BANNED = 'forbidden-4242';
let sink, mock, mk, gw, gwProc;

function yaml(port) {
  return `server: { listen: 127.0.0.1:${port}, workers: 2 }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: debug }
auth: { allow_anonymous: true }
keys:
  - { name: guarded, sha256: ${sha256hex(KEY)}, tenant_id: tg, guardrails: [ email-in ] }
guardrails:
  - { name: email-in, builtin: email, stage: input, action: redact }
  - { name: key-in, builtin: api_key, stage: input, action: deny }
  - { name: card-out, builtin: card, stage: output, action: redact }
  - { name: email-out, builtin: email, stage: output, action: redact }
  - { name: key-out, builtin: api_key, stage: output, action: redact, replacement: "<key>" }
  - { name: banned-out, pattern: "forbidden-[0-9]+", stage: output, action: deny, max_match: 32 }
  - { name: proj, pattern: "project-[a-z]+", ignore_case: true, action: redact, replacement: "[P]" }
  - { name: card-in, builtin: card, stage: input, action: deny }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY, timeout: 10s }
models:
  - { name: g-in, targets: [ { provider: local, model: up }], guardrails: [ email-in, key-in ] }
  - { name: g-out, targets: [ { provider: local, model: up }], guardrails: [ card-out, email-out, key-out, banned-out ] }
  - { name: g-both, targets: [ { provider: local, model: up }], guardrails: [ proj ] }
  - { name: g-card-in, targets: [ { provider: local, model: up }], guardrails: [ card-in ] }
  - { name: g-none, targets: [ { provider: local, model: up }] }
`;
}

const post = (path, b, headers = {}) =>
  http(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b });
const chat = (model, content, headers = {}) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content }] }, headers);
const lastUpstream = async () => (await mk.requests()).at(-1);
const streamText = (events) => events.filter((d) => d !== '[DONE]')
  .map((d) => JSON.parse(d)).map((c) => c.choices?.[0]?.delta?.content ?? '').join('');

before(stack.guard(async () => {
  sink = await stack.sink();
  await startExporter(stack, { sinkUrl: sink.url });
  mock = await stack.mock();
  mk = mockApi(mock.url);
  const port = await freePort();
  const cfg = writeConfig(stack.dir, 'gateway.yaml', yaml(port));
  gwProc = stack.start('llmgw-gateway', ['-c', cfg], { env: { MOCK_API_KEY } });
  gw = { url: `http://127.0.0.1:${port}` };
  await waitHttp(`${gw.url}/healthz`, { proc: gwProc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

describe('guardrails', { timeout: 240000 }, () => {
  it('input redact: the provider gets the redacted prompt; the span names the rule', stack.guard(async () => {
    const r = await chat('g-in', `please mail ${EMAIL} today`);
    assert.equal(r.status, 200, r.text);
    const up = await lastUpstream();
    assert.ok(!up.body.includes(EMAIL), 'the address never left the gateway');
    assert.equal(JSON.parse(up.body).messages[0].content, 'please mail [REDACTED:email] today');
    assert.equal(r.json.choices[0].message.content, 'please mail [REDACTED:email] today');
    const { server } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(server.attributes['llmgw.guardrail.rules'], 'email-in');
    assert.equal(server.attributes['llmgw.guardrail.action'], 'redact');
    assert.equal(server.status.code, 0);
  }));

  it('input deny: 400 guardrail_denied naming the rule, nothing sent upstream', stack.guard(async () => {
    const before = (await mk.stats()).requests;
    for (const [model, text, rule] of [['g-in', `use ${APIKEY} for it`, 'key-in'], ['g-card-in', `card ${CARD}`, 'card-in']]) {
      const r = await chat(model, text);
      assertOpenAiError(assert, r, 400, `${rule} denied`);
      assert.equal(r.json.error.code, 'guardrail_denied');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.match(r.json.error.message, new RegExp(`'${rule}'`));
      assert.ok(!r.text.includes(APIKEY) && !r.text.includes(CARD), 'the error does not quote the text');
      const { server } = await traceFor(sink.url, r.headers.get('x-request-id'), { minSpans: 1 });
      assert.equal(server.attributes['llmgw.guardrail.rules'], rule);
      assert.equal(server.attributes['llmgw.guardrail.action'], 'deny');
      assert.equal(server.attributes['error.type'], 'guardrail_denied');
    }
    assert.equal((await mk.stats()).requests, before, 'the provider saw neither prompt');
  }));

  it('output redact on whole answers: card, e-mail and key shapes', stack.guard(async () => {
    const r = await chat('g-out', `pay ${CARD}, write ${EMAIL}, key ${APIKEY}.`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'pay [REDACTED:card], write [REDACTED:email], key <key>.');
    assert.ok((await lastUpstream()).body.includes(CARD), 'output rules leave the prompt alone');
    const { server } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(server.attributes['llmgw.guardrail.rules'], 'card-out,email-out,key-out');
    assert.equal(server.attributes['llmgw.guardrail.action'], 'redact');
  }));

  it('output deny on a whole answer: 400 instead of the answer, the call still priced and spanned', stack.guard(async () => {
    const r = await chat('g-out', `the code is ${BANNED} ok`);
    assertOpenAiError(assert, r, 400, 'answer denied');
    assert.equal(r.json.error.code, 'guardrail_denied');
    assert.match(r.json.error.message, /'banned-out'/);
    assert.ok(!r.text.includes(BANNED));
    const { server, clients } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(server.attributes['llmgw.guardrail.action'], 'deny');
    assert.equal(clients.length, 1, 'the provider was called');
    assert.equal(clients[0].attributes['http.response.status_code'], 200);
  }));

  it('streams: redaction across every chunk boundary', stack.guard(async () => {
    const text = `mail ${EMAIL} pay ${CARD}!`;
    const want = 'mail [REDACTED:email] pay [REDACTED:card]!';
    for (let chunks = 1; chunks <= text.length; chunks++) {
      const s = await readStream(`${gw.url}/v1/chat/completions`,
        { model: 'g-out', stream: true, messages: [{ role: 'user', content: text }] }, { 'x-mock-chunks': String(chunks) });
      assert.equal(s.status, 200);
      assert.ok(!s.text.includes(EMAIL) && !s.text.includes('1111 1111'), `chunks=${chunks}: a match leaked`);
      const ev = sseData(s.text);
      assert.equal(ev.at(-1), '[DONE]', `chunks=${chunks}`);
      assert.equal(streamText(ev), want, `chunks=${chunks}`);
    }
  }));

  it('streams: a deny ends the stream with an error event before the text', stack.guard(async () => {
    const text = `first part then ${BANNED} and more`;
    for (const chunks of [1, 2, 3, 5, 8, 13, text.length]) {
      const s = await readStream(`${gw.url}/v1/chat/completions`,
        { model: 'g-out', stream: true, messages: [{ role: 'user', content: text }] }, { 'x-mock-chunks': String(chunks) });
      assert.equal(s.status, 200);
      assert.ok(!s.text.includes('forbidden-'), `chunks=${chunks}: the denied text leaked`);
      const ev = sseData(s.text);
      const last = JSON.parse(ev.at(-1));
      assert.equal(last.error.code, 'guardrail_denied', `chunks=${chunks}: ${s.text}`);
      assert.match(last.error.message, /'banned-out'/);
      assert.ok(!ev.includes('[DONE]'));
      const { server } = await traceFor(sink.url, s.headers.get('x-request-id'));
      assert.equal(server.attributes['error.type'], 'guardrail_denied');
      assert.equal(server.attributes['llmgw.guardrail.action'], 'deny');
    }
  }));

  it('a rule on both stages, and rules from the key joined with the model\'s', stack.guard(async () => {
    const r = await chat('g-both', 'status of Project-Apollo please');
    assert.equal(JSON.parse((await lastUpstream()).body).messages[0].content, 'status of [P] please');
    assert.equal(r.json.choices[0].message.content, 'status of [P] please');
    const mine = await chat('g-none', `to ${EMAIL}`, { authorization: `Bearer ${KEY}` });
    assert.equal(mine.json.choices[0].message.content, 'to [REDACTED:email]', 'the key brings email-in');
    const anon = await chat('g-none', `to ${EMAIL}`);
    assert.equal(anon.json.choices[0].message.content, `to ${EMAIL}`, 'without the key: no rules');
  }));

  it('legacy completions and embeddings inputs are redacted too', stack.guard(async () => {
    const c = await post('/v1/completions', { model: 'g-in', prompt: [`x ${EMAIL}`] });
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(JSON.parse((await lastUpstream()).body).prompt, ['x [REDACTED:email]']);
    const e = await post('/v1/embeddings', { model: 'g-in', input: `vector of ${EMAIL}` });
    assert.equal(e.status, 200, e.text);
    assert.equal(JSON.parse((await lastUpstream()).body).input, 'vector of [REDACTED:email]');
  }));

  it('metrics count actions; no matched text in spans, logs or metrics', stack.guard(async () => {
    const m = (await http(`${gw.url}/metrics`)).text;
    assert.ok(metric(m, 'llmgw_guardrail_actions_total', { stage: 'input', action: 'redact' }) >= 3);
    assert.ok(metric(m, 'llmgw_guardrail_actions_total', { stage: 'input', action: 'deny' }) >= 2);
    assert.ok(metric(m, 'llmgw_guardrail_actions_total', { stage: 'output', action: 'redact' }) >= 2);
    assert.ok(metric(m, 'llmgw_guardrail_actions_total', { stage: 'output', action: 'deny' }) >= 2);
    assert.ok(metric(m, 'llmgw_request_errors_total', { error_type: 'guardrail_denied' }) >= 3);
    const spans = await waitFor(async () => {
      const all = (await http(`${sink.url}/_sink/spans`)).json;
      return all.length > 20 ? all : null;
    }, { what: 'spans at the sink' });
    const places = {
      spans: JSON.stringify(spans),
      metrics: m,
      'gateway log': fs.readFileSync(gwProc.errPath, 'utf8') + fs.readFileSync(gwProc.outPath, 'utf8'),
    };
    for (const secret of [EMAIL, CARD, '4111111111111111', APIKEY, BANNED]) {
      for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(secret), `${secret} found in ${where}`);
    }
  }));
});
