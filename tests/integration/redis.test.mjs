// SPDX-License-Identifier: Apache-2.0
//
// Limits shared through Redis: a real redis-server (Debian's, started here
// on a free 127.0.0.1 port, killed by PID) and two gateways with the same
// config and key. The gateways must share one requests-per-minute bucket,
// keep serving on their own limits while Redis is gone (and say so in
// /metrics), find Redis again when it comes back on the same port, and
// with `on_failure: reject` answer 503 in OpenAI's error shape instead.
// Outcomes and counters only; every wait is a bound.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { Stack, freePort, http, metric, sha256hex, spawn, stop, waitFor, waitHttp, writeConfig, SLOW } from './lib/stack.mjs';
import { assertOpenAiError, chat } from './lib/llmgw.mjs';

const REDIS = '/usr/bin/redis-server';
const KEY = 'llmgw-it-redis-5e0c93a7d14b';
const WORKERS = 2;
const haveRedis = fs.existsSync(REDIS);

const stack = new Stack('redis');
let redisPort, redis;
const gw = {}; // name -> {proc, url}

/** redis-server on redisPort, no persistence; resolves once it accepts connections. */
async function startRedis() {
  const h = spawn(REDIS, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { dir: stack.dir, name: 'redis-server' });
  stack.procs.push(h);
  await waitFor(() => new Promise((resolve) => {
    if (h.exit) throw new Error(`redis-server exited: ${JSON.stringify(h.exit)}`);
    const s = net.connect(redisPort, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs: 10000 * SLOW, what: `redis-server on 127.0.0.1:${redisPort}` });
  return h;
}

function gatewayYaml(port, rport, extra = '') {
  return `server: { listen: 127.0.0.1:${port}, workers: ${WORKERS} }
log: { level: info }
redis: { url: "redis://127.0.0.1:${rport}/0", timeout: 200ms${extra} }
keys:
  - { name: shared, sha256: ${sha256hex(KEY)}, tenant_id: t1, limits: { requests_per_minute: 5 } }
providers:
  - { name: builtin, type: mock }
models:
  - { name: m, targets: [ { provider: builtin, model: mock-1 } ] }
`;
}

async function startGateway(name, rport, extra) {
  const port = await freePort();
  const cfg = writeConfig(stack.dir, `${name}.yaml`, gatewayYaml(port, rport, extra));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, { proc });
  gw[name] = { proc, url };
  return gw[name];
}

const metricsOf = async (name) => (await http(`${gw[name].url}/metrics`)).text;
const redisUp = async (name) => metric(await metricsOf(name), 'llmgw_redis_up');
const waitRedisUp = (name, want) => waitFor(async () => (await redisUp(name)) === want,
  { timeoutMs: 20000 * SLOW, intervalMs: 100, what: `${name}: llmgw_redis_up ${want}` });
const ask = (name, content) => chat(gw[name].url, { model: 'm', content, headers: { authorization: `Bearer ${KEY}` } });

before(stack.guard(async () => {
  if (!haveRedis) return;
  redisPort = await freePort();
  redis = await startRedis();
  await startGateway('gw-a', redisPort);
  await startGateway('gw-b', redisPort);
  await waitRedisUp('gw-a', WORKERS);
  await waitRedisUp('gw-b', WORKERS);
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

describe('redis: limits shared across gateways', { timeout: 180000, skip: haveRedis ? false : `${REDIS} is not installed (deploy/deps.sh)` }, () => {
  it('two gateways share one requests-per-minute bucket: 5 of 6 pass, the 6th is 429', stack.guard(async () => {
    const got = [];
    for (const [name, i] of [['gw-a', 1], ['gw-a', 2], ['gw-a', 3], ['gw-b', 4], ['gw-b', 5], ['gw-b', 6]]) {
      const r = await ask(name, `shared ${i}`);
      got.push({ name, status: r.status, remaining: r.headers.get('x-ratelimit-remaining-requests'), r });
    }
    assert.deepEqual(got.map((g) => g.status), [200, 200, 200, 200, 200, 429], JSON.stringify(got.map((g) => [g.name, g.status, g.r.text.slice(0, 200)])));
    // one count: gateway B continues where A stopped
    assert.deepEqual(got.map((g) => g.remaining), ['4', '3', '2', '1', '0', '0']);
    const last = got[5].r;
    assertOpenAiError(assert, last, 429, 'over the shared limit');
    assert.equal(last.json.error.code, 'rate_limit_exceeded');
    assert.equal(last.headers.get('x-ratelimit-limit-requests'), '5');
    const ra = Number(last.headers.get('retry-after'));
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${last.headers.get('retry-after')}`);
    for (const g of got.slice(0, 5)) assert.equal(g.r.headers.get('x-ratelimit-limit-requests'), '5');
    const m = await metricsOf('gw-b');
    assert.ok(metric(m, 'llmgw_redis_commands_total', { result: 'ok' }) >= 3, 'B asked Redis');
    assert.equal(metric(m, 'llmgw_redis_fallbacks_total'), 0, 'nothing decided without Redis');
  }));

  it('Redis gone: each gateway keeps serving on its own limits and says so; back when Redis is', stack.guard(async () => {
    await stop(redis, { signal: 'SIGKILL' });
    await waitRedisUp('gw-a', 0);
    await waitRedisUp('gw-b', 0);
    // local buckets were never charged (Redis decided so far): fresh, 5 each
    for (const name of ['gw-a', 'gw-b']) {
      for (let i = 0; i < 3; i++) {
        const r = await ask(name, `local ${name} ${i}`);
        assert.equal(r.status, 200, `${name}: ${r.text}`);
        assert.equal(r.headers.get('x-ratelimit-limit-requests'), '5');
      }
      const m = await metricsOf(name);
      assert.ok(metric(m, 'llmgw_redis_fallbacks_total') >= 3, `${name}: fallbacks counted`);
      assert.equal(metric(m, 'llmgw_redis_up'), 0);
    }
    const log = fs.readFileSync(gw['gw-a'].proc.errPath, 'utf8');
    assert.match(log, /event=redis_down worker=\d+ url=redis:\/\/127\.0\.0\.1:\d+\/0 reason=/);
    assert.ok(!log.includes(KEY), 'the key is never logged');

    redis = await startRedis(); // same port, empty (no persistence)
    await waitRedisUp('gw-a', WORKERS);
    await waitRedisUp('gw-b', WORKERS);
    const r = await ask('gw-b', 'after the restart');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '4', 'a fresh shared bucket in the new Redis');
    assert.match(fs.readFileSync(gw['gw-b'].proc.errPath, 'utf8'), /event=redis_up worker=\d+/);
  }));

  it('on_failure: reject with Redis unreachable: 503 in OpenAI error shape', stack.guard(async () => {
    const dead = await freePort(); // nothing listens there
    await startGateway('gw-reject', dead, ', on_failure: reject, connect_timeout: 500ms');
    const r = await ask('gw-reject', 'no limits store');
    assertOpenAiError(assert, r, 503, 'limits store down');
    assert.equal(r.json.error.code, 'limits_unavailable');
    assert.equal(r.headers.get('retry-after'), '1');
    const m = await metricsOf('gw-reject');
    assert.equal(metric(m, 'llmgw_redis_up'), 0);
    assert.ok(metric(m, 'llmgw_redis_fallbacks_total') >= 1);
  }));

  it('the gateways stop cleanly with their Redis clients (exit 0, no sanitizer report)', stack.guard(async () => {
    for (const g of Object.values(gw)) {
      const x = await stop(g.proc);
      assert.equal(x.killed, false, `${g.proc.name} did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${g.proc.name} exit status (signal ${x.signal})`);
      assert.equal(stack.problems(g.proc), '', `${g.proc.name}: sanitizer report`);
    }
  }));
});
