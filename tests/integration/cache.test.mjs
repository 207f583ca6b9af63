// SPDX-License-Identifier: Apache-2.0
//
// The response cache through real processes (llmgw-mock -> gateway ->
// exporter -> otlp-sink): miss then hit with no upstream call, the key's
// normalisation, what is never cached (non-deterministic requests, errors,
// cut streams, answers over max_entry_bytes), x-llmgw-cache on/off/refresh,
// tenants kept apart, TTL expiry, eviction by bytes, streams replayed as
// streams (with and without the usage chunk), embeddings, hits free for
// tokens but counted for requests per minute, the spans and /metrics, and
// a cache shared by two gateways through Redis (Debian's redis-server,
// started here). Waiting for a TTL to pass is a bound, never a timing assert.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { SLOW, Stack, freePort, http, metric, mockApi, sha256hex, sleep, spawn, stop, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, assertOpenAiError, startExporter, traceFor } from './lib/llmgw.mjs';
import { readStream, sseData } from './lib/sse.mjs';

const REDIS = '/usr/bin/redis-server';
const haveRedis = fs.existsSync(REDIS);
const stack = new Stack('cache');
const KEYS = {
  a1: 'llmgw-cache-a1-5b0e7c2d9f41a3',
  a2: 'llmgw-cache-a2-0d8f3a6c1e92b7',
  b1: 'llmgw-cache-b1-7e4a1c9d3f0b62',
  solo: 'llmgw-cache-solo-2c6b9e0f4a7d1',
  lim: 'llmgw-cache-lim-9f1d4b7a2e0c85',
};
let sink, mock, mk, gw;

function yaml(port) {
  const k = (name, key, extra = '') => `  - { name: ${name}, sha256: ${sha256hex(key)}${extra} }`;
  return `server: { listen: 127.0.0.1:${port}, workers: 2 }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: info }
auth: { allow_anonymous: true }
keys:
${k('a1', KEYS.a1, ', tenant_id: ta')}
${k('a2', KEYS.a2, ', tenant_id: ta')}
${k('b1', KEYS.b1, ', tenant_id: tb')}
${k('solo', KEYS.solo)}
${k('lim', KEYS.lim, ', tenant_id: tl, limits: { requests_per_minute: 3, tokens_per_minute: 100000 }')}
prices:
  - { provider: local, model: up-1, input: 1, output: 2 }
cache: { max_bytes: 96KiB, default_ttl: 1h, max_entry_bytes: 12KiB }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY, timeout: 10s }
  - { name: builtin, type: mock }
models:
  - { name: cached, targets: [ { provider: local, model: up-1 } ], cache: {} }
  - { name: short, targets: [ { provider: local, model: up-1 } ], cache: { ttl: 1s } }
  - { name: plain, targets: [ { provider: local, model: up-1 } ] }
  - { name: nondet, targets: [ { provider: local, model: up-1 } ], cache: { allow_nondeterministic: true } }
  - { name: emb, targets: [ { provider: local, model: text-embedding-3-small } ], cache: {} }
  - { name: inproc, targets: [ { provider: builtin, model: mock-1 } ], cache: {} }
`;
}

const auth = (key) => (key ? { authorization: `Bearer ${key}` } : {});
const body = (model, content, extra = {}) => ({ model, temperature: 0, messages: [{ role: 'user', content }], ...extra });
const post = (path, b, headers = {}) =>
  http(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b });
const chat = (b, headers = {}) => post('/v1/chat/completions', b, headers);
const upstreamChats = async () => (await mk.stats()).chat_completions;
const metrics = async () => (await http(`${gw.url}/metrics`)).text;
const stream = (b, headers = {}) => readStream(`${gw.url}/v1/chat/completions`, { ...b, stream: true }, headers);

before(stack.guard(async () => {
  sink = await stack.sink();
  await startExporter(stack, { sinkUrl: sink.url });
  mock = await stack.mock();
  mk = mockApi(mock.url);
  const port = await freePort();
  const cfg = writeConfig(stack.dir, 'gateway.yaml', yaml(port));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { env: { MOCK_API_KEY } });
  gw = { proc, url: `http://127.0.0.1:${port}` };
  await waitHttp(`${gw.url}/healthz`, { proc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

describe('response cache', { timeout: 180000 }, () => {
  it('miss, then a hit with the same bytes and no upstream call; spans and metrics say so', stack.guard(async () => {
    const m0 = await metrics();
    const before = await upstreamChats();
    const b = body('cached', 'what is two plus two');
    const r1 = await chat(b);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.headers.get('x-llmgw-cache'), 'miss');
    assert.ok(r1.headers.get('x-llmgw-cost-usd'), 'a miss is priced');
    const r2 = await chat(b);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.headers.get('x-llmgw-cache'), 'hit');
    assert.equal(r2.text, r1.text, 'a hit is the stored answer, byte for byte');
    assert.equal(r2.headers.get('x-llmgw-cost-usd'), null, 'a hit costs nothing');
    assert.notEqual(r2.headers.get('x-request-id'), r1.headers.get('x-request-id'));
    assert.equal(await upstreamChats(), before + 1, 'the provider was asked once');
    const m1 = await metrics();
    assert.equal(metric(m1, 'llmgw_cache_hits_total') - metric(m0, 'llmgw_cache_hits_total'), 1);
    assert.equal(metric(m1, 'llmgw_cache_misses_total') - metric(m0, 'llmgw_cache_misses_total'), 1);
    assert.equal(metric(m1, 'llmgw_cache_stores_total') - metric(m0, 'llmgw_cache_stores_total'), 1);
    assert.ok(metric(m1, 'llmgw_cache_bytes') > 0);
    assert.ok(metric(m1, 'llmgw_cache_entries') >= 1);

    const miss = await traceFor(sink.url, r1.headers.get('x-request-id'), { minSpans: 2 });
    assert.equal(miss.server.attributes['llmgw.cache.hit'], false);
    assert.equal(miss.clients.length, 1);
    const hit = await traceFor(sink.url, r2.headers.get('x-request-id'), { minSpans: 1 });
    assert.equal(hit.server.attributes['llmgw.cache.hit'], true);
    assert.equal(hit.spans.length, 1, 'no CLIENT span: nothing went upstream');
    assert.equal(hit.server.attributes['gen_ai.usage.input_tokens'], undefined, 'a hit used no tokens');
    assert.equal(hit.server.attributes['llmgw.cost_usd'], undefined);
    assert.equal(hit.server.attributes['gen_ai.response.id'], r1.json.id);
    assert.equal(hit.server.attributes['http.response.status_code'], 200);
  }));

  it('the key is normalised: member order, spacing, 0 vs 0.0, user and metadata do not matter', stack.guard(async () => {
    const r1 = await chat(body('cached', 'normalise me', { top_p: 0.5 }));
    assert.equal(r1.headers.get('x-llmgw-cache'), 'miss');
    const raw = '{ "top_p": 0.50, "messages": [ { "content": "normalise me", "role": "user" } ], "user": "u-1",'
      + ' "metadata": { "x": "y" }, "temperature": 0.0, "model": "cached", "store": false }';
    const r2 = await post('/v1/chat/completions', raw, { 'content-type': 'application/json' });
    assert.equal(r2.headers.get('x-llmgw-cache'), 'hit', r2.text);
    const r3 = await chat(body('cached', 'normalise me', { top_p: 0.5, seed: 7 }));
    assert.equal(r3.headers.get('x-llmgw-cache'), 'miss', 'seed changes the answer: another key');
  }));

  it('non-deterministic requests are not cached unless the model allows it', stack.guard(async () => {
    for (const extra of [{ temperature: undefined }, { temperature: 0.7 }, { n: 2 }]) {
      const before = await upstreamChats();
      const b = { ...body('cached', `nondet ${JSON.stringify(extra)}`), ...extra };
      for (let i = 0; i < 2; i++) {
        const r = await chat(b);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-llmgw-cache'), null, 'the cache was not used');
      }
      assert.equal(await upstreamChats(), before + 2);
    }
    const b = { ...body('nondet', 'creative'), temperature: 0.9 };
    assert.equal((await chat(b)).headers.get('x-llmgw-cache'), 'miss');
    assert.equal((await chat(b)).headers.get('x-llmgw-cache'), 'hit');
  }));

  it('x-llmgw-cache: off bypasses, refresh replaces, on opts in; anything else is 400', stack.guard(async () => {
    const b = body('cached', 'header control');
    const first = await chat(b);
    assert.equal(first.headers.get('x-llmgw-cache'), 'miss');
    const before = await upstreamChats();
    const off = await chat(b, { 'x-llmgw-cache': 'off' });
    assert.equal(off.headers.get('x-llmgw-cache'), null);
    assert.notEqual(off.json.id, first.json.id, 'off went upstream');
    const fresh = await chat(b, { 'x-llmgw-cache': 'refresh' });
    assert.equal(fresh.headers.get('x-llmgw-cache'), 'miss');
    assert.equal(await upstreamChats(), before + 2);
    const again = await chat(b);
    assert.equal(again.headers.get('x-llmgw-cache'), 'hit');
    assert.equal(again.json.id, fresh.json.id, 'refresh stored its answer over the old one');
    // a model without cache settings: only with the header
    const p = body('plain', 'opt in per request');
    assert.equal((await chat(p)).headers.get('x-llmgw-cache'), null);
    assert.equal((await chat(p, { 'x-llmgw-cache': 'on' })).headers.get('x-llmgw-cache'), 'miss');
    assert.equal((await chat(p, { 'x-llmgw-cache': 'ON' })).headers.get('x-llmgw-cache'), 'hit');
    assert.equal((await chat(p)).headers.get('x-llmgw-cache'), null, 'not without the header');
    const bad = await chat(b, { 'x-llmgw-cache': 'maybe' });
    assertOpenAiError(assert, bad, 400, 'bad x-llmgw-cache');
    assert.match(bad.json.error.message, /on, off or refresh/);
  }));

  it('tenants never share entries; keys of one tenant do; anonymous and tenant-less keys are their own', stack.guard(async () => {
    const b = body('cached', 'tenant scoped question');
    const a1 = await chat(b, auth(KEYS.a1));
    assert.equal(a1.headers.get('x-llmgw-cache'), 'miss');
    assert.equal((await chat(b, auth(KEYS.a2))).headers.get('x-llmgw-cache'), 'hit', 'same tenant');
    for (const [who, key] of [['other tenant', KEYS.b1], ['no tenant', KEYS.solo], ['anonymous', null]]) {
      const r = await chat(b, auth(key));
      assert.equal(r.headers.get('x-llmgw-cache'), 'miss', who);
      assert.notEqual(r.json.id, a1.json.id, who);
    }
  }));

  it('entries expire after their TTL', stack.guard(async () => {
    const m0 = await metrics();
    const b = body('short', 'expiring question');
    assert.equal((await chat(b)).headers.get('x-llmgw-cache'), 'miss');
    assert.equal((await chat(b)).headers.get('x-llmgw-cache'), 'hit');
    await sleep(1300); // past the 1 s TTL (a wait, not an assert on time)
    assert.equal((await chat(b)).headers.get('x-llmgw-cache'), 'miss');
    const m1 = await metrics();
    assert.ok(metric(m1, 'llmgw_cache_evictions_total', { reason: 'expired' }) >
      metric(m0, 'llmgw_cache_evictions_total', { reason: 'expired' }));
  }));

  it('bounded by bytes: old entries are evicted, an answer over max_entry_bytes is not stored', stack.guard(async () => {
    const m0 = await metrics();
    const pad = 'x'.repeat(6000);
    const first = body('cached', `evict-0 ${pad}`);
    assert.equal((await chat(first)).headers.get('x-llmgw-cache'), 'miss');
    for (let i = 1; i <= 20; i++) assert.equal((await chat(body('cached', `evict-${i} ${pad}`))).status, 200);
    const m1 = await metrics();
    assert.ok(metric(m1, 'llmgw_cache_bytes') <= 96 * 1024, `bytes ${metric(m1, 'llmgw_cache_bytes')}`);
    assert.ok(metric(m1, 'llmgw_cache_evictions_total', { reason: 'size' }) >
      metric(m0, 'llmgw_cache_evictions_total', { reason: 'size' }));
    assert.equal((await chat(first)).headers.get('x-llmgw-cache'), 'miss', 'the oldest was evicted');
    assert.equal((await chat(body('cached', `evict-20 ${pad}`))).headers.get('x-llmgw-cache'), 'hit');
    const big = body('cached', `too big ${'y'.repeat(13000)}`);
    assert.equal((await chat(big)).headers.get('x-llmgw-cache'), 'miss');
    assert.equal((await chat(big)).headers.get('x-llmgw-cache'), 'miss', 'over max_entry_bytes: never stored');
  }));

  it('errors and cut streams are never stored', stack.guard(async () => {
    const b = body('cached', 'flaky upstream');
    const e = await chat(b, { 'x-mock-status': '500' });
    assert.equal(e.status, 500);
    assert.equal(e.headers.get('x-llmgw-cache'), 'miss');
    const ok = await chat(b);
    assert.equal(ok.headers.get('x-llmgw-cache'), 'miss', 'the error was not stored');
    const s = body('cached', 'cut stream please');
    const cut = await stream(s, { 'x-mock-fail-after': '1' });
    assert.equal(cut.status, 200);
    assert.match(cut.text, /upstream_stream_error/);
    const full = await stream(s);
    assert.equal(full.headers.get('x-llmgw-cache'), 'miss', 'a cut stream was not stored');
    assert.equal((await stream(s)).headers.get('x-llmgw-cache'), 'hit');
  }));

  it('streams are replayed as streams; with and without usage, and JSON, are separate entries', stack.guard(async () => {
    const b = body('cached', 'stream me a story', {});
    const before = await upstreamChats();
    const s1 = await stream(b, { 'x-mock-chunks': '4' });
    assert.equal(s1.status, 200);
    assert.equal(s1.headers.get('x-llmgw-cache'), 'miss');
    assert.equal(s1.headers.get('content-type'), 'text/event-stream');
    const s2 = await stream(b);
    assert.equal(s2.headers.get('x-llmgw-cache'), 'hit');
    assert.equal(s2.headers.get('content-type'), 'text/event-stream');
    assert.equal(s2.text, s1.text, 'the replay is the stream the first client got');
    const ev = sseData(s2.text);
    assert.equal(ev.at(-1), '[DONE]');
    assert.ok(!ev.some((d) => d !== '[DONE]' && JSON.parse(d).usage), 'no usage chunk when not asked');
    const u1 = await stream({ ...b, stream_options: { include_usage: true } });
    assert.equal(u1.headers.get('x-llmgw-cache'), 'miss', 'with usage: another entry');
    const u2 = await stream({ ...b, stream_options: { include_usage: true } });
    assert.equal(u2.headers.get('x-llmgw-cache'), 'hit');
    assert.ok(sseData(u2.text).some((d) => d !== '[DONE]' && JSON.parse(d).usage), 'the usage chunk is replayed');
    const j = await chat(b);
    assert.equal(j.headers.get('x-llmgw-cache'), 'miss', 'a JSON answer is another entry');
    assert.equal(await upstreamChats(), before + 3);
    const hit = await traceFor(sink.url, s2.headers.get('x-request-id'), { minSpans: 1 });
    assert.equal(hit.server.attributes['llmgw.cache.hit'], true);
    assert.equal(hit.server.attributes['gen_ai.request.stream'], true);
    assert.deepEqual(hit.server.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(hit.server.attributes['gen_ai.usage.output_tokens'], undefined);
  }));

  it('in-process answers and embeddings are cached too', stack.guard(async () => {
    for (const stream of [false, true]) {
      const b = { ...body('inproc', `in process ${stream}`), stream };
      const r1 = stream ? await readStream(`${gw.url}/v1/chat/completions`, b) : await chat(b);
      const r2 = stream ? await readStream(`${gw.url}/v1/chat/completions`, b) : await chat(b);
      assert.equal(r1.headers.get('x-llmgw-cache'), 'miss');
      assert.equal(r2.headers.get('x-llmgw-cache'), 'hit');
      assert.equal(r2.text, r1.text);
    }
    const before = (await mk.stats()).embeddings;
    const e = { model: 'emb', input: ['cache this vector'] };
    const e1 = await post('/v1/embeddings', e);
    const e2 = await post('/v1/embeddings', e);
    assert.equal(e1.status, 200, e1.text);
    assert.equal(e1.headers.get('x-llmgw-cache'), 'miss');
    assert.equal(e2.headers.get('x-llmgw-cache'), 'hit');
    assert.equal(e2.text, e1.text);
    assert.equal((await mk.stats()).embeddings, before + 1);
  }));

  it('hits count for requests per minute but take no tokens', stack.guard(async () => {
    const b = body('cached', 'limited key question');
    const r1 = await chat(b, auth(KEYS.lim));
    assert.equal(r1.headers.get('x-llmgw-cache'), 'miss');
    const m0 = await metrics();
    const r2 = await chat(b, auth(KEYS.lim));
    assert.equal(r2.headers.get('x-llmgw-cache'), 'hit');
    assert.equal(r2.headers.get('x-ratelimit-remaining-requests'), '1');
    const m1 = await metrics();
    const tokens = (m) => metric(m, 'llmgw_usage_input_tokens_total', { tenant: 'tl' }) +
      metric(m, 'llmgw_usage_output_tokens_total', { tenant: 'tl' });
    assert.equal(tokens(m1), tokens(m0), 'a hit adds no tokens');
    assert.equal(metric(m1, 'llmgw_usage_requests_total', { tenant: 'tl' }) -
      metric(m0, 'llmgw_usage_requests_total', { tenant: 'tl' }), 1, 'but it is a request');
    assert.equal((await chat(b, auth(KEYS.lim))).status, 200);
    const r4 = await chat(b, auth(KEYS.lim));
    assertOpenAiError(assert, r4, 429, 'fourth request in the minute');
    assert.equal(r4.headers.get('x-llmgw-cache'), null, 'refused before the answer was served');
  }));
});

/* ---- Redis: one cache for two gateways ------------------------------------------------------ */

async function startRedis(port) {
  const h = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { dir: stack.dir, name: `redis-server-${port}` });
  stack.procs.push(h);
  await waitFor(() => new Promise((resolve) => {
    if (h.exit) throw new Error(`redis-server exited: ${JSON.stringify(h.exit)}`);
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs: 10000 * SLOW, what: `redis-server on 127.0.0.1:${port}` });
  return h;
}

describe('response cache in Redis', { timeout: 120000, skip: haveRedis ? false : `${REDIS} is not installed` }, () => {
  let redis, rport;
  const gws = {};
  before(stack.guard(async () => {
    rport = await freePort();
    redis = await startRedis(rport);
    for (const name of ['rc-a', 'rc-b']) {
      const port = await freePort();
      const cfg = writeConfig(stack.dir, `${name}.yaml`, `server: { listen: 127.0.0.1:${port}, workers: 2 }
auth: { enabled: false }
redis: { url: "redis://127.0.0.1:${rport}/0", timeout: 500ms, prefix: "it:" }
cache: { redis: true, max_entry_bytes: 64KiB }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY }
models:
  - { name: shared, targets: [ { provider: local, model: up-2 } ], cache: { ttl: 5m } }
`);
      const proc = stack.start('llmgw-gateway', ['-c', cfg], { name, env: { MOCK_API_KEY } });
      gws[name] = `http://127.0.0.1:${port}`;
      await waitHttp(`${gws[name]}/healthz`, { proc });
      await waitFor(async () => metric((await http(`${gws[name]}/metrics`)).text, 'llmgw_redis_up') === 2,
        { timeoutMs: 20000 * SLOW, what: `${name}: Redis up` });
    }
  }));

  const ask = (name, b, headers = {}) => http(`${gws[name]}/v1/chat/completions`,
    { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b });

  it('an answer stored by one gateway is a hit on the other, streams too', stack.guard(async () => {
    const before = await upstreamChats();
    const b = body('shared', 'shared across replicas');
    const a = await ask('rc-a', b);
    assert.equal(a.headers.get('x-llmgw-cache'), 'miss', a.text);
    const hit = await waitFor(async () => {
      const r = await ask('rc-b', b);
      return r.headers.get('x-llmgw-cache') === 'hit' ? r : null;
    }, { timeoutMs: 5000, what: 'the entry to reach Redis' });
    assert.equal(hit.text, a.text);
    const s1 = await readStream(`${gws['rc-b']}/v1/chat/completions`, { ...b, stream: true });
    assert.equal(s1.headers.get('x-llmgw-cache'), 'miss');
    const s2 = await waitFor(async () => {
      const r = await readStream(`${gws['rc-a']}/v1/chat/completions`, { ...b, stream: true });
      return r.headers.get('x-llmgw-cache') === 'hit' ? r : null;
    }, { timeoutMs: 5000, what: 'the stream entry to reach Redis' });
    assert.equal(s2.text, s1.text);
    assert.equal(await upstreamChats(), before + 2, 'each shape went upstream once');
    const m = (await http(`${gws['rc-b']}/metrics`)).text;
    assert.ok(metric(m, 'llmgw_cache_hits_total') >= 1);
    assert.equal(metric(m, 'llmgw_cache_redis_errors_total'), 0);
  }));

  it('Redis gone: every lookup is a counted miss and requests are still answered', stack.guard(async () => {
    await stop(redis, { signal: 'SIGKILL' });
    await waitFor(async () => metric((await http(`${gws['rc-a']}/metrics`)).text, 'llmgw_redis_up') === 0,
      { timeoutMs: 20000 * SLOW, what: 'rc-a: Redis down' });
    const b = body('shared', 'shared across replicas');
    for (let i = 0; i < 2; i++) {
      const r = await ask('rc-a', b);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-llmgw-cache'), 'miss');
    }
    const m = (await http(`${gws['rc-a']}/metrics`)).text;
    assert.ok(metric(m, 'llmgw_cache_redis_errors_total') >= 2);
  }));
});
