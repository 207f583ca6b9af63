// SPDX-License-Identifier: Apache-2.0
//
// Governance through real processes: virtual keys (401, expiry), model
// access (403, /v1/models), requests and tokens per minute per key and per
// tenant (429 with Retry-After and x-ratelimit-*), the token estimate
// settled with the real usage, cost from the price table (header and span),
// budgets (429 insufficient_quota), cached input tokens at their own price,
// caller metadata, usage metrics by model and tenant, SIGHUP reload (good and
// bad config, under load, limits kept), the other two auth modes (off, and
// on with allow_anonymous) in gateways of their own, and no key material
// anywhere it must not be.
//
// The mock answers with a fixed content of 4 words; its usage counts words,
// so "hello world" costs exactly 2 input and 4 output tokens.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Stack, freePort, http, metric, sha256hex, sleep, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, assertOpenAiError, startExporter, traceFor } from './lib/llmgw.mjs';
import { findSecrets } from './lib/secrets.mjs';

const stack = new Stack('governance');
const KEYS = {
  rpm: 'llmgw-gov-rpm-3b9f2c71d0e4a8',
  tpm: 'llmgw-gov-tpm-81c4e07a2f9d35',
  t1: 'llmgw-gov-tenant-one-5e2a9c0b',
  t2: 'llmgw-gov-tenant-two-7d1f3e8a',
  cost: 'llmgw-gov-cost-a4b1c9e27f60d3',
  budget: 'llmgw-gov-budget-0c7e4f1a92b5',
  scoped: 'llmgw-gov-scoped-6f2d8a0c13e9',
  expired: 'llmgw-gov-expired-9a1c5e3b7d20',
  free: 'llmgw-gov-free-2e8b4d6f0a1c73',
  added: 'llmgw-gov-added-4c0e2a9f7b3d15',
  tb: 'llmgw-gov-tenant-budget-8e3a1d5c',
  cached: 'llmgw-gov-cached-3f7b0e9d2a61',
  anon: 'llmgw-gov-anon-mode-6c1e8b4f0d27',
};
let sink, mock, gw, cfgPath, port;

function yaml({ extraKey = false, broken = false } = {}) {
  const k = (name, key, extra = '') => `  - { name: ${name}, sha256: ${sha256hex(key)}${extra} }`;
  return `server: { listen: 127.0.0.1:${port}, workers: 2 }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: info }
keys:
${k('rpm', KEYS.rpm, ', tenant_id: solo, limits: { requests_per_minute: 3 }')}
${k('tpm', KEYS.tpm, ', limits: { tokens_per_minute: 200 }')}
${k('t1', KEYS.t1, ', tenant_id: shared, team: blue')}
${k('t2', KEYS.t2, ', tenant_id: shared, team: red')}
${k('cost', KEYS.cost, ', tenant_id: acme, team: search, user: alice')}
${k('budget', KEYS.budget, ', budget: { daily_usd: 0.0001 }')}
${k('scoped', KEYS.scoped, `, models: [ "gpt-*" ]${extraKey ? ', limits: { requests_per_minute: 1 }' : ''}`)}
${k('expired', KEYS.expired, ', expires_at: 2020-01-01T00:00:00Z')}
${k('free', KEYS.free, ', tenant_id: load')}
${k('tb', KEYS.tb, ', tenant_id: bud')}
${k('cached', KEYS.cached, ', tenant_id: cachet')}
${extraKey ? k('added', KEYS.added, ', tenant_id: fresh') : ''}
tenants:
  - { id: shared, limits: { requests_per_minute: 4 } }
  - { id: bud, limits: { tokens_per_minute: 200 }, budget: { monthly_usd: 0.0001 } }
prices:
  - { provider: local, model: m-upstream, input: ${extraKey ? 3 : 1.5}, output: 10 }
  - { provider: local, model: m-cached, input: 1.5, output: 10, cached_input: 0.15 }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY, timeout: 5s }
models:
  - { name: m, targets: [ { provider: local, model: m-upstream } ] }
  - { name: gpt-mini, targets: [ { provider: local, model: m-upstream } ] }
  - { name: cached, targets: [ { provider: local, model: m-cached } ] }
${broken ? '  - { name: broken, targets: [ { provider: nowhere, model: x } ] }\n' : ''}`;
}

const auth = (key) => ({ authorization: `Bearer ${key}` });
function chat(key, { model = 'm', content = 'hello world', extra = {}, headers = {}, url = gw.url } = {}) {
  return http(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? auth(key) : {}), ...headers },
    body: { model, messages: [{ role: 'user', content }], ...extra },
  });
}

before(stack.guard(async () => {
  sink = await stack.sink();
  await startExporter(stack, { sinkUrl: sink.url });
  mock = await stack.mock(['--content', 'one two three four']);
  port = await freePort();
  cfgPath = writeConfig(stack.dir, 'gateway.yaml', yaml());
  const proc = stack.start('llmgw-gateway', ['-c', cfgPath], { env: { MOCK_API_KEY } });
  gw = { proc, url: `http://127.0.0.1:${port}` };
  await waitHttp(`${gw.url}/healthz`, { proc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

describe('governance', { timeout: 120000 }, () => {
  it('401: missing, malformed, unknown and expired keys, in OpenAI shape', stack.guard(async () => {
    for (const [what, headers] of [
      ['missing', {}],
      ['malformed', { authorization: 'Basic abc' }],
      ['unknown', auth('llmgw-not-a-key-at-all')],
      ['expired', auth(KEYS.expired)],
    ]) {
      const r = await chat(null, { headers });
      assertOpenAiError(assert, r, 401, what);
      assert.equal(r.json.error.type, 'authentication_error');
      assert.equal(r.json.error.code, 'invalid_api_key');
    }
    const r = await chat(KEYS.expired);
    assert.match(r.json.error.message, /expired/);
  }));

  it('403 for a model outside the key\'s globs; /v1/models lists only allowed ones', stack.guard(async () => {
    const r = await chat(KEYS.scoped, { model: 'm' });
    assertOpenAiError(assert, r, 403, 'model not allowed');
    assert.equal(r.json.error.code, 'model_not_allowed');
    assert.equal(r.json.error.type, 'permission_error');
    assert.equal((await chat(KEYS.scoped, { model: 'gpt-mini' })).status, 200);
    const mine = await http(`${gw.url}/v1/models`, { headers: auth(KEYS.scoped) });
    assert.deepEqual(mine.json.data.map((x) => x.id), ['gpt-mini']);
    const all = await http(`${gw.url}/v1/models`, { headers: auth(KEYS.cost) });
    assert.deepEqual(all.json.data.map((x) => x.id).sort(), ['cached', 'gpt-mini', 'm']);
  }));

  it('requests per minute per key: 3 pass, the 4th is 429 with Retry-After and x-ratelimit-*', stack.guard(async () => {
    for (let i = 0; i < 3; i++) {
      const r = await chat(KEYS.rpm);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
      assert.match(r.headers.get('x-ratelimit-reset-requests'), /^(\d+ms|\d+(\.\d+)?s|\d+m\d+(\.\d+)?s)$/);
    }
    const r = await chat(KEYS.rpm);
    assertOpenAiError(assert, r, 429, 'rpm');
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'requests');
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 20, `Retry-After ${ra} (one request refills in 20 s)`);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
    const m = await (await http(`${gw.url}/metrics`)).text;
    assert.equal(metric(m, 'llmgw_usage_rejections_total', { model: 'm', tenant: 'solo', reason: 'requests' }), 1);
  }));

  it('a tenant limit is shared by its keys and names the tenant', stack.guard(async () => {
    const codes = [];
    for (const key of [KEYS.t1, KEYS.t2, KEYS.t1, KEYS.t2, KEYS.t1]) codes.push((await chat(key)).status);
    assert.deepEqual(codes, [200, 200, 200, 200, 429]);
    const r = await chat(KEYS.t2);
    assert.equal(r.status, 429);
    assert.match(r.json.error.message, /tenant/);
  }));

  it('tokens per minute: the estimate is charged up front and settled with the real usage', stack.guard(async () => {
    // max_tokens 150 makes the estimate ~170 of the 200; the real usage is 6 tokens,
    // so a second such request fits only if the first one was settled.
    for (let i = 0; i < 3; i++) {
      const r = await chat(KEYS.tpm, { extra: { max_tokens: 150 } });
      assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
      assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '200');
      const left = Number(r.headers.get('x-ratelimit-remaining-tokens'));
      assert.ok(left >= 0 && left < 200 - 150, `remaining after charging the estimate: ${left}`);
    }
    // more than the whole limit can never fit: 429 without Retry-After
    const big = await chat(KEYS.tpm, { extra: { max_tokens: 1000 } });
    assertOpenAiError(assert, big, 429, 'too large');
    assert.equal(big.json.error.type, 'tokens');
    assert.equal(big.headers.get('retry-after'), null);
    assert.match(big.json.error.message, /too large/);
  }));

  it('cost from the price table: header, span llmgw.cost_usd, tenant resource, metrics', stack.guard(async () => {
    // 2 input tokens at $1.5/M + 4 output tokens at $10/M = 43 micro-USD
    const r = await chat(KEYS.cost, { headers: { 'x-llmgw-metadata': '{"feature":"search","run":42,"tenant_id":"evil"}' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-llmgw-cost-usd'), '0.000043');
    const t = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(t.server.attributes['llmgw.cost_usd'], 0.000043);
    assert.equal(t.clients[0].attributes['llmgw.cost_usd'], 0.000043);
    assert.equal(t.server.attributes['llmgw.meta.feature'], 'search');
    assert.equal(t.server.attributes['llmgw.meta.run'], '42');
    assert.equal(t.server.resource['tenant_id'], 'acme', 'tenancy comes from the key, not the metadata');
    assert.equal(t.server.resource['team'], 'search');
    assert.equal(t.server.attributes['llmgw.meta.tenant_id'], 'evil');
    assert.equal(t.server.attributes['user.id'], 'alice');
    const m = await (await http(`${gw.url}/metrics`)).text;
    assert.equal(metric(m, 'llmgw_usage_requests_total', { model: 'm', tenant: 'acme', code_class: '2xx' }), 1);
    assert.equal(metric(m, 'llmgw_usage_input_tokens_total', { model: 'm', tenant: 'acme' }), 2);
    assert.equal(metric(m, 'llmgw_usage_output_tokens_total', { model: 'm', tenant: 'acme' }), 4);
    assert.ok(Math.abs(metric(m, 'llmgw_usage_cost_usd_total', { model: 'm', tenant: 'acme' }) - 0.000043) < 1e-12);
    // a stream: its head goes out before the usage is known, so the cost is on the spans only
    const st = await chat(KEYS.cost, { extra: { stream: true } });
    assert.equal(st.status, 200, st.text);
    assert.equal(st.headers.get('x-llmgw-cost-usd'), null);
    const ts = await traceFor(sink.url, st.headers.get('x-request-id'));
    assert.equal(ts.server.attributes['llmgw.cost_usd'], 0.000043);
  }));

  it('cached input tokens are priced at cached_input: header, span, metrics', stack.guard(async () => {
    // 10 prompt words, of which the mock reports 7 as cached (x-mock-cached-tokens, passed through to it):
    // (10 - 7) x $1.5/M + 7 x $0.15/M + 4 x $10/M = 4.5 + 1.05 + 40 = 45.55 micro-USD, rounded half up: 46.
    // All 10 at the input price would be 55; the cached ones not charged at all, 44.5 -> 45.
    const content = 'one two three four five six seven eight nine ten';
    const headers = { 'x-mock-cached-tokens': '7' };
    const r = await chat(KEYS.cached, { model: 'cached', content, headers });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.usage.prompt_tokens_details, { cached_tokens: 7 });
    assert.equal(r.headers.get('x-llmgw-cost-usd'), '0.000046');
    const t = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(t.server.attributes['llmgw.cost_usd'], 0.000046);
    assert.equal(t.clients[0].attributes['llmgw.cost_usd'], 0.000046);
    assert.equal(t.clients[0].attributes['gen_ai.usage.input_tokens'], 10);
    assert.equal(t.clients[0].attributes['gen_ai.usage.cache_read.input_tokens'], 7);
    // a stream reports the same usage in its last chunk: the same cost, on the spans
    const st = await chat(KEYS.cached, { model: 'cached', content, headers, extra: { stream: true } });
    assert.equal(st.status, 200, st.text);
    const ts = await traceFor(sink.url, st.headers.get('x-request-id'));
    assert.equal(ts.server.attributes['llmgw.cost_usd'], 0.000046);
    const m = await (await http(`${gw.url}/metrics`)).text;
    assert.ok(Math.abs(metric(m, 'llmgw_usage_cost_usd_total', { model: 'cached', tenant: 'cachet' }) - 0.000092) < 1e-12);
  }));

  it('a malformed x-llmgw-metadata header is a 400', stack.guard(async () => {
    for (const bad of ['not json', '[1,2]', '{"a":{"b":1}}', `{${'"k":"v",'.repeat(1)}"x":1,"y":2,"z":3,"w":4}`]) {
      const r = await chat(KEYS.cost, { headers: { 'x-llmgw-metadata': bad } });
      assertOpenAiError(assert, r, 400, `metadata ${bad}`);
      assert.match(r.json.error.message, /x-llmgw-metadata/);
    }
  }));

  it('a daily budget: requests pass until it is spent, then 429 insufficient_quota', stack.guard(async () => {
    // $0.0001 a day at 43 micro-USD a request: 0, 43, 86 spent before requests 1-3; 129 before the 4th
    for (let i = 0; i < 3; i++) assert.equal((await chat(KEYS.budget)).status, 200);
    const r = await chat(KEYS.budget);
    assertOpenAiError(assert, r, 429, 'budget');
    assert.equal(r.json.error.code, 'insufficient_quota');
    assert.equal(r.json.error.type, 'insufficient_quota');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  }));

  it('a tenant\'s tokens limit and monthly budget apply to its keys', stack.guard(async () => {
    const big = await chat(KEYS.tb, { extra: { max_tokens: 1000 } });
    assertOpenAiError(assert, big, 429, 'tenant tpm too large');
    assert.equal(big.json.error.type, 'tokens');
    assert.match(big.json.error.message, /too large for the tenant's tokens per minute/);
    for (let i = 0; i < 3; i++) assert.equal((await chat(KEYS.tb)).status, 200, `request ${i + 1}`);
    const r = await chat(KEYS.tb);
    assertOpenAiError(assert, r, 429, 'tenant budget');
    assert.equal(r.json.error.code, 'insufficient_quota');
    assert.match(r.json.error.message, /tenant's monthly budget/);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    const m = await (await http(`${gw.url}/metrics`)).text;
    assert.equal(metric(m, 'llmgw_usage_rejections_total', { model: 'm', tenant: 'bud', reason: 'tokens' }), 1);
    assert.equal(metric(m, 'llmgw_usage_rejections_total', { model: 'm', tenant: 'bud', reason: 'monthly_budget' }), 1);
  }));

  /** Runs fn while one client sends requests back to back; asserts none of them failed. */
  async function underLoad(fn) {
    let stop = false, done = 0;
    const failures = [];
    const load = (async () => {
      while (!stop) {
        const r = await chat(KEYS.free);
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
        done++;
      }
    })();
    try {
      await waitFor(() => done >= 5, { timeoutMs: 30000, what: 'load before the reload' });
      return await fn();
    } finally {
      const after = done + 5; // and some after it, however slow the machine
      await waitFor(() => done >= after, { timeoutMs: 30000, what: 'load after the reload' });
      stop = true;
      await load;
      assert.deepEqual(failures, [], `failed requests during the reload (${done} sent)`);
      assert.ok(done >= 10, `load ran (${done} requests)`);
    }
  }

  it('SIGHUP: a good config swaps in under load without a failed request; limits carry over', stack.guard(async () => {
    // the rpm key is at its limit; a reload must not hand it a fresh bucket
    const gen = await underLoad(async () => {
      fs.writeFileSync(cfgPath, yaml({ extraKey: true }));
      gw.proc.child.kill('SIGHUP');
      return waitFor(async () => {
        const m = await (await http(`${gw.url}/metrics`)).text;
        return metric(m, 'llmgw_config_generation') >= 2 ? m : null;
      }, { timeoutMs: 10000, what: 'config generation 2' });
    });
    assert.equal(metric(gen, 'llmgw_config_reloads_total', { result: 'ok' }), 1);
    assert.equal((await chat(KEYS.added)).status, 200, 'the key the reload added works');
    assert.equal((await chat(KEYS.rpm)).status, 429, 'the rpm key is still limited after the reload');
    // the new price (input 3 instead of 1.5): 2 x 3 + 4 x 10 = 46 micro-USD
    assert.equal((await chat(KEYS.cost)).headers.get('x-llmgw-cost-usd'), '0.000046', 'prices swapped');
    // an existing key's new limit applies at once
    assert.equal((await chat(KEYS.scoped, { model: 'gpt-mini' })).status, 200);
    const lim = await chat(KEYS.scoped, { model: 'gpt-mini' });
    assertOpenAiError(assert, lim, 429, 'the limit the reload gave the scoped key');
    assert.equal(lim.headers.get('x-ratelimit-limit-requests'), '1');
  }));

  it('SIGHUP: a bad config under load is rejected with the error and the old one stays', stack.guard(async () => {
    const m = await underLoad(async () => {
      fs.writeFileSync(cfgPath, yaml({ extraKey: true, broken: true }));
      gw.proc.child.kill('SIGHUP');
      return waitFor(async () => {
        const t = await (await http(`${gw.url}/metrics`)).text;
        return metric(t, 'llmgw_config_reloads_total', { result: 'error' }) >= 1 ? t : null;
      }, { timeoutMs: 10000, what: 'a failed reload' });
    });
    assert.equal(metric(m, 'llmgw_config_generation'), 2);
    await waitFor(async () => /config_reload_failed.*nowhere/.test(fs.readFileSync(gw.proc.errPath, 'utf8')),
      { timeoutMs: 5000, what: 'the reload error in the log' });
    assert.equal((await chat(KEYS.added)).status, 200, 'generation 2 still serves');
  }));

  /** Another gateway on the same mock and exporter with its own auth section (and no other key). */
  async function authGateway(name, authYaml) {
    const p = await freePort();
    const cfg = writeConfig(stack.dir, `${name}.yaml`, `server: { listen: 127.0.0.1:${p}, workers: 1 }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: info }
${authYaml}
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", api_key_env: MOCK_API_KEY, timeout: 5s }
models:
  - { name: m, targets: [ { provider: local, model: m-upstream } ] }
  - { name: gpt-mini, targets: [ { provider: local, model: m-upstream } ] }
`);
    const proc = stack.start('llmgw-gateway', ['-c', cfg], { env: { MOCK_API_KEY }, name });
    const url = `http://127.0.0.1:${p}`;
    await waitHttp(`${url}/healthz`, { proc });
    return { proc, url, log: () => fs.readFileSync(proc.errPath, 'utf8') };
  }
  const AUTH_DISABLED = /level=warn .*event=auth_disabled/;

  it('auth: { enabled: false } warns auth_disabled at start, serves everyone, ignores and never forwards the header', stack.guard(async () => {
    const open = await authGateway('gw-auth-off', 'auth: { enabled: false }');
    await waitFor(() => AUTH_DISABLED.test(open.log()), { timeoutMs: 5000, what: 'the auth_disabled warning' });
    assert.doesNotMatch(fs.readFileSync(gw.proc.errPath, 'utf8'), /auth_disabled/, 'not with auth on');
    const bare = await chat(null, { url: open.url });
    assert.equal(bare.status, 200, bare.text);
    assert.equal(bare.headers.get('x-ratelimit-limit-requests'), null);
    const junk = 'llmgw-gov-junk-header-5a0e9c3b';
    const any = await chat(junk, { url: open.url });
    assert.equal(any.status, 200, any.text);
    const t = await traceFor(sink.url, any.headers.get('x-request-id'));
    assert.equal(t.server.resource['tenant_id'], undefined);
    assert.equal(t.server.attributes['llmgw.key.name'], undefined);
    const upstream = JSON.stringify((await http(`${mock.url}/_mock/requests`)).json);
    assert.ok(upstream.includes(MOCK_API_KEY), 'the provider key went upstream');
    assert.ok(!upstream.includes(junk), 'the client\'s Authorization did not');
  }));

  it('auth: { allow_anonymous: true }: no header is served anonymously, a wrong key is still 401', stack.guard(async () => {
    const k = `keys:
  - { name: anon-mode, sha256: ${sha256hex(KEYS.anon)}, tenant_id: anon-t, models: [ "gpt-*" ], limits: { requests_per_minute: 1 } }
  - { name: anon-old, sha256: ${sha256hex(KEYS.expired)}, expires_at: 2020-01-01T00:00:00Z }
auth: { allow_anonymous: true }`;
    const gw2 = await authGateway('gw-auth-anon', k);
    // anonymous: no tenant, every model, no limits (the key's 1 a minute does not apply)
    for (const model of ['m', 'gpt-mini', 'm']) {
      const r = await chat(null, { url: gw2.url, model });
      assert.equal(r.status, 200, `${model}: ${r.text}`);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), null);
    }
    const r = await chat(null, { url: gw2.url });
    const t = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(t.server.resource['tenant_id'], undefined);
    assert.equal(t.server.attributes['llmgw.key.name'], undefined);
    const models = await http(`${gw2.url}/v1/models`);
    assert.deepEqual(models.json.data.map((x) => x.id).sort(), ['gpt-mini', 'm']);
    // a key that is not good never turns into an anonymous request
    for (const [what, headers] of [
      ['unknown', auth('llmgw-not-a-key-at-all')],
      ['malformed', { authorization: 'Basic abc' }],
      ['expired', auth(KEYS.expired)],
    ]) {
      const bad = await chat(null, { url: gw2.url, headers });
      assertOpenAiError(assert, bad, 401, `allow_anonymous, ${what} key`);
      assert.equal(bad.json.error.code, 'invalid_api_key');
    }
    // a good key is served as that key, with its limits and models
    const own = await chat(KEYS.anon, { url: gw2.url, model: 'gpt-mini' });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.headers.get('x-ratelimit-limit-requests'), '1');
    assert.equal((await chat(KEYS.anon, { url: gw2.url, model: 'gpt-mini' })).status, 429);
    assert.equal((await chat(KEYS.anon, { url: gw2.url, model: 'm' })).status, 403);
    const to = await traceFor(sink.url, own.headers.get('x-request-id'));
    assert.equal(to.server.resource['tenant_id'], 'anon-t');
    assert.doesNotMatch(gw2.log(), /auth_disabled/);
  }));

  it('no key material in logs, spans, metrics or error bodies', stack.guard(async () => {
    const bodies = [];
    for (const key of Object.values(KEYS)) bodies.push((await chat(key, { model: 'nope' })).text);
    bodies.push((await chat(null, { headers: auth('llmgw-not-a-key-at-all') })).text);
    await sleep(500); // let the last spans reach the sink
    const spans = JSON.stringify((await http(`${sink.url}/_sink/spans`)).json);
    const metrics = (await http(`${gw.url}/metrics`)).text;
    const logs = stack.procs.map((p) => fs.readFileSync(p.errPath, 'utf8') + fs.readFileSync(p.outPath, 'utf8')).join('\n');
    // as written and encoded (base64, hex, ...); security.test.mjs does the same over every path
    const secrets = { ...KEYS, unknown: 'llmgw-not-a-key-at-all', provider: MOCK_API_KEY };
    assert.deepEqual(findSecrets(secrets, { spans, metrics, logs, bodies: bodies.join('\n') }), []);
  }));

  it('every process stops cleanly after reloads (exit 0, no sanitizer report)', stack.guard(async () => {
    await stack.assertCleanStop();
  }));
});
