// SPDX-License-Identifier: Apache-2.0
//
// Routing through real processes: several llmgw-mock instances play the
// targets (healthy, 429, 503, slow, dead, restartable), the gateway routes
// between them, and the spans at otlp-sink must show every attempt. Which
// target answered is read from each mock's own request counter, never from
// timing.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, freePort, http, metric, stop, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, chat, startExporter, traceFor } from './lib/llmgw.mjs';

const stack = new Stack('routing');
let sink, gw;
const m = {}; // name -> {proc, url, port}

/** llmgw-mock on a fixed port (so a test can kill it and bring it back at the same address). */
async function mockAt(name, port, args = []) {
  const proc = stack.start('llmgw-mock', ['--listen', `127.0.0.1:${port}`, '--content', `from ${name}`, ...args], { name: `mock-${name}` });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/_mock/stats`, { proc });
  m[name] = { proc, url, port };
  return m[name];
}

const served = async (name) => (await http(`${m[name].url}/_mock/stats`)).json.requests;
const countsOf = async (names) => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await served(n)])));
const delta = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));

function gatewayYaml(port, deadPort) {
  const p = (name, extra = '') =>
    `  - { name: ${name}, type: openai, base_url: "${m[name] ? m[name].url : `http://127.0.0.1:${deadPort}`}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 1s, timeout: 1s${extra} }`;
  return `server: { listen: 127.0.0.1:${port}, workers: 2 }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: info }
auth: { enabled: false }
routing:
  retry: { on: [429, 5xx, timeout, connect_error], per_target: 1, max_attempts: 3, backoff: 20ms, max_backoff: 200ms }
  cooldown: { failures: 0 }
  least_latency: { ewma_alpha: 0.5, explore: 5% }
providers:
${p('a')}
${p('b')}
${p('r429')}
${p('r503')}
${p('slow')}
${p('dead')}
${p('c')}
${p('l1')}
${p('l2')}
models:
  - name: weighted
    targets: [ { provider: a, model: m, weight: 3 }, { provider: b, model: m, weight: 1 } ]
  - { name: fb-429, strategy: priority, targets: [ { provider: r429, model: m }, { provider: a, model: m } ] }
  - { name: fb-5xx, strategy: priority, targets: [ { provider: r503, model: m }, { provider: a, model: m } ] }
  - { name: fb-timeout, strategy: priority, targets: [ { provider: slow, model: m }, { provider: a, model: m } ] }
  - { name: fb-connect, strategy: priority, targets: [ { provider: dead, model: m }, { provider: a, model: m } ] }
  - name: retry-same
    strategy: priority
    retry: { per_target: 2, max_attempts: 3, backoff: 30ms }
    targets: [ { provider: r503, model: m }, { provider: a, model: m } ]
  - name: only-5xx
    strategy: priority
    retry: { on: [5xx] }
    targets: [ { provider: r429, model: m }, { provider: a, model: m } ]
  - { name: broken, targets: [ { provider: r503, model: m } ], fallbacks: [ plain-b ] }
  - { name: plain-b, targets: [ { provider: b, model: m } ] }
  - { name: stream-pair, strategy: priority, targets: [ { provider: a, model: m }, { provider: b, model: m } ] }
  - name: cool
    cooldown: { failures: 2, window: 30s, duration: 1s }
    targets: [ { provider: c, model: m }, { provider: a, model: m } ]
  - { name: ll, strategy: least-latency, targets: [ { provider: l1, model: m }, { provider: l2, model: m } ] }
`;
}

before(stack.guard(async () => {
  sink = await stack.sink();
  await startExporter(stack, { sinkUrl: sink.url });
  for (const n of ['a', 'b', 'c', 'l1', 'l2']) await mockAt(n, await freePort());
  await mockAt('r429', await freePort(), ['--status', '429']);
  await mockAt('r503', await freePort(), ['--status', '503']);
  await mockAt('slow', await freePort(), ['--latency-ms', '5000']);
  const port = await freePort();
  const cfg = writeConfig(stack.dir, 'gateway.yaml', gatewayYaml(port, await freePort()));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { env: { MOCK_API_KEY } });
  gw = { proc, url: `http://127.0.0.1:${port}` };
  await waitHttp(`${gw.url}/healthz`, { proc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

/** The request's trace: SERVER span and the CLIENT spans in attempt order. */
async function attempts(r, n) {
  const t = await traceFor(sink.url, r.headers.get('x-request-id'), { minSpans: n + 1 });
  t.clients.sort((x, y) => x.attributes['llmgw.attempt'] - y.attributes['llmgw.attempt']);
  return t;
}

describe('routing', { timeout: 180000 }, () => {
  it('weighted 3:1 over 400 requests: 300/100 within 4 (smooth round robin is exact per worker, 2 workers)', stack.guard(async () => {
    const before = await countsOf(['a', 'b']);
    for (let i = 0; i < 400; i++) {
      const r = await chat(gw.url, { model: 'weighted', content: `w${i}` });
      assert.equal(r.status, 200, r.text);
    }
    const d = delta(before, await countsOf(['a', 'b']));
    console.log(`# weighted 3:1 over 400: a=${d.a} b=${d.b}`);
    assert.equal(d.a + d.b, 400);
    assert.ok(Math.abs(d.a - 300) <= 4, `a served ${d.a}, want 300 +- 4`);
  }));

  for (const [model, bad, reason, errType] of [
    ['fb-429', 'r429', '429', '429'],
    ['fb-5xx', 'r503', '5xx', '503'],
    ['fb-timeout', 'slow', 'timeout', 'total_timeout'], // first_byte_timeout defaults to timeout: the total fires
    ['fb-connect', 'dead', 'connect_error', 'upstream_connect_error'],
  ]) {
    it(`falls back on ${reason}: answered by the next target, a CLIENT span per attempt`, stack.guard(async () => {
      const r = await chat(gw.url, { model, content: 'fallback please' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.choices[0].message.content, 'from a');
      const { server, clients } = await attempts(r, 2);
      assert.equal(clients.length, 2, 'two attempts');
      const [c1, c2] = clients;
      assert.equal(c1.attributes['llmgw.route.target'], `${bad}/m`);
      assert.equal(c1.status.code, 2, 'first attempt is an error');
      assert.equal(c1.attributes['error.type'], errType);
      assert.equal(c1.attributes['llmgw.route.fallback_reason'], undefined, 'the first attempt is no fallback');
      assert.equal(c2.attributes['llmgw.route.target'], 'a/m');
      assert.equal(c2.attributes['llmgw.attempt'], 2);
      assert.equal(c2.attributes['llmgw.route.fallback_reason'], reason);
      assert.notEqual(c2.status.code, 2);
      assert.equal(server.attributes['llmgw.attempts'], 2);
      assert.equal(server.attributes['llmgw.route.target'], 'a/m', 'SERVER span names the final target');
      assert.notEqual(server.status.code, 2, 'the request succeeded');
    }));
  }

  it('retries the same target with backoff (per_target 2), then falls back', stack.guard(async () => {
    const before = await countsOf(['r503', 'a']);
    const r = await chat(gw.url, { model: 'retry-same' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(delta(before, await countsOf(['r503', 'a'])), { r503: 2, a: 1 });
    const { server, clients } = await attempts(r, 3);
    assert.deepEqual(clients.map((c) => c.attributes['llmgw.route.target']), ['r503/m', 'r503/m', 'a/m']);
    assert.deepEqual(clients.map((c) => c.attributes['llmgw.route.fallback_reason'] ?? ''), ['', '5xx', '5xx']);
    assert.equal(server.attributes['llmgw.attempts'], 3);
    const text = await (await http(`${gw.url}/metrics`)).text;
    assert.ok(metric(text, 'llmgw_route_retries_total', { kind: 'same_target', reason: '5xx' }) >= 1);
    assert.ok(metric(text, 'llmgw_route_retries_total', { kind: 'fallback', reason: '5xx' }) >= 1);
  }));

  it('retry.on without 429: the 429 goes to the client, Retry-After relayed, no fallback', stack.guard(async () => {
    const before = await countsOf(['a']);
    const r = await chat(gw.url, { model: 'only-5xx', headers: { 'x-mock-retry-after': '7' } });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.deepEqual(delta(before, await countsOf(['a'])), { a: 0 });
  }));

  it('fallback models: a model whose only target fails is served by its fallback model', stack.guard(async () => {
    const r = await chat(gw.url, { model: 'broken' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'from b');
    const { server, clients } = await attempts(r, 2);
    assert.equal(clients[1].attributes['llmgw.route.target'], 'b/m');
    assert.equal(server.attributes['gen_ai.request.model'], 'broken', 'the client model stays on the SERVER span');
  }));

  it('a stream is never retried once its first byte reached the client', stack.guard(async () => {
    const before = await countsOf(['a', 'b']);
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fail-after': '1', 'x-mock-chunks': '4' },
      body: JSON.stringify({ model: 'stream-pair', stream: true, messages: [{ role: 'user', content: 'one two three four' }] }),
    });
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /upstream_stream_error/, 'the client gets the error event');
    assert.deepEqual(delta(before, await countsOf(['a', 'b'])), { a: 1, b: 0 });
  }));

  it('cooldown: failures take a target out, traffic goes elsewhere, a probe brings it back', stack.guard(async () => {
    const port = m.c.port;
    await stop(m.c.proc);
    // c refuses connections: requests routed there fall back to a; after 2 failures c cools down
    let text;
    for (let i = 0; ; i++) {
      assert.ok(i < 10, 'c did not go into cooldown after 10 requests');
      const r = await chat(gw.url, { model: 'cool' });
      assert.equal(r.status, 200, r.text);
      text = await (await http(`${gw.url}/metrics`)).text;
      if (metric(text, 'llmgw_route_cooldowns_total', { target: 'c/m' }) > 0) break;
    }
    assert.equal(metric(text, 'llmgw_route_cooldowns_total', { target: 'c/m' }), 1);
    assert.equal(metric(text, 'llmgw_route_target_available', { target: 'c/m' }), 0);
    // while cooling, c is not even tried: one attempt per request, on a
    const r = await chat(gw.url, { model: 'cool' });
    assert.equal(r.status, 200);
    const t = await attempts(r, 1);
    assert.equal(t.clients.length, 1);
    assert.equal(t.clients[0].attributes['llmgw.route.target'], 'a/m');
    // c comes back; after the 1 s cooldown a probe reaches it and it is back in rotation
    await mockAt('c', port);
    const start = Date.now();
    while ((await served('c')) === 0) {
      assert.ok(Date.now() - start < 15000, 'no probe reached the recovered target within 15 s');
      await new Promise((res) => setTimeout(res, 100));
      const x = await chat(gw.url, { model: 'cool' });
      assert.equal(x.status, 200);
    }
    text = await (await http(`${gw.url}/metrics`)).text;
    assert.equal(metric(text, 'llmgw_route_target_available', { target: 'c/m' }), 1);
    const before = await countsOf(['c', 'a']);
    for (let i = 0; i < 20; i++) assert.equal((await chat(gw.url, { model: 'cool' })).status, 200);
    const d = delta(before, await countsOf(['c', 'a']));
    assert.ok(d.c >= 8, `c is back in the 1:1 rotation: c=${d.c} a=${d.a}`);
  }));

  it('least-latency moves traffic away from a target that slowed down', stack.guard(async () => {
    for (let i = 0; i < 10; i++) assert.equal((await chat(gw.url, { model: 'll' })).status, 200);
    // l1 restarts 300 ms slower at the same address
    const port = m.l1.port;
    await stop(m.l1.proc);
    await mockAt('l1', port, ['--latency-ms', '300']);
    for (let i = 0; i < 15; i++) assert.equal((await chat(gw.url, { model: 'll' })).status, 200);
    const before = await countsOf(['l1', 'l2']);
    for (let i = 0; i < 40; i++) assert.equal((await chat(gw.url, { model: 'll' })).status, 200);
    const d = delta(before, await countsOf(['l1', 'l2']));
    console.log(`# least-latency after l1 slowed: l1=${d.l1} l2=${d.l2} (explore 5%)`);
    assert.ok(d.l2 >= 32, `most traffic on the fast target: l1=${d.l1} l2=${d.l2}`);
  }));

  it('the gateway exits cleanly', stack.guard(async () => {
    const x = await stop(gw.proc);
    assert.equal(x.code, 0);
    assert.equal(stack.problems(gw.proc), '');
  }));
});
