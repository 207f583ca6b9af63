// SPDX-License-Identifier: Apache-2.0
//
// Security promises through real processes (docs/security.md):
//
// * admin.listen: /healthz, /readyz and /metrics move to their own address
//   and the API listener answers 404 there (OpenAI's shape); /readyz on the
//   admin address turns 503 while the gateway drains.
// * TLS verification cannot be turned off silently: against a provider (and
//   an OTLP endpoint) with a certificate from a private CA, no CA -> TLS
//   error; ca_file -> works; insecure_skip_verify: true -> works, with a
//   WARN line at start and on every reload, a line in --check-config, and a
//   gauge. The source has no other way to skip verification.
// * No secret in logs, spans, error bodies, response headers or /metrics:
//   a provider key, virtual keys, an exporter auth header and a Redis
//   password with distinctive values, through success, 401, 403, 429,
//   upstream 401/500, a TLS failure, an export the backend refuses, a bad
//   reload and --check-config; searched in their encoded forms too.
//
// Everything binds 127.0.0.1 on free ports; every wait is a bound.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  REPO, SLOW, Stack, bin, freePort, http, metric, randHex, sha256hex, sinkApi, spawn, stop, waitFor, waitHttp,
  writeConfig,
} from './lib/stack.mjs';
import { assertOpenAiError, traceFor } from './lib/llmgw.mjs';
import { findSecrets } from './lib/secrets.mjs';
import { httpsGet, makeTestCa, startTlsMock } from './lib/testca.mjs';

const REDIS = '/usr/bin/redis-server';
const haveRedis = fs.existsSync(REDIS);
const stack = new Stack('security');

// Distinctive values; each random core is searched for on its own too.
const core = () => randHex(10);
const mk = (prefix) => { const c = core(); return { value: `${prefix}${c}`, core: c }; };
const S = {
  provider_key: mk('sk-sec-prov-'),
  vkey_main: mk('llmgw-sec-main-'),
  vkey_limited: mk('llmgw-sec-rpm-'),
  vkey_scoped: mk('llmgw-sec-scoped-'),
  vkey_unknown: mk('llmgw-sec-unknown-'),
  redis_password: mk('redis-sec-pw-'),
  exporter_password: mk('otlp-sec-pass-'),
};
const EXPORT_AUTH = Buffer.from(`sec-user:${S.exporter_password.value}`).toString('base64');
const SECRETS = { ...S, exporter_auth: EXPORT_AUTH };
const GW_ENV = { SEC_PROVIDER_KEY: S.provider_key.value, SEC_REDIS_PW: S.redis_password.value };

let ca, sink, mock, tls, redisPort, gw, cfgPath;
const exporters = []; // {proc, admin}
const seen = []; // every response: status line, headers and body, searched for secrets at the end

const auth = (k) => ({ authorization: `Bearer ${k.value}` });

async function call(url, opts = {}) {
  const r = await http(url, opts);
  seen.push(`${r.status} ${JSON.stringify([...r.headers])}\n${r.text}`);
  return r;
}

function chat(key, { model = 'm', headers = {}, stream = false } = {}) {
  return call(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? auth(key) : {}), ...headers },
    body: { model, stream, messages: [{ role: 'user', content: 'hello security' }] },
  });
}

function gatewayYaml({ port, adminPort, broken = false }) {
  const k = (name, key, extra = '') => `  - { name: ${name}, sha256: ${sha256hex(key.value)}${extra} }`;
  const p = (name, url, extra = '') =>
    `  - { name: ${name}, type: openai, base_url: "${url}/v1", api_key_env: SEC_PROVIDER_KEY, connect_timeout: 3s, timeout: 5s${extra} }`;
  return `server: { listen: 127.0.0.1:${port}, workers: 2 }
admin: { listen: 127.0.0.1:${adminPort} }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: debug }
keys:
${k('main', S.vkey_main, ', tenant_id: sec, team: blue, user: alice')}
${k('limited', S.vkey_limited, ', limits: { requests_per_minute: 1 }')}
${k('scoped', S.vkey_scoped, ', models: [ "m-ca" ]')}
${haveRedis ? `redis: { url: "redis://127.0.0.1:${redisPort}/0", password_env: SEC_REDIS_PW, timeout: 1s }\n` : ''}providers:
${p('local', mock.url)}
${p('tls-noca', tls.url)}
${p('tls-skip', tls.url, ', insecure_skip_verify: true')}
${p('tls-ca', tls.url, `, ca_file: "${ca.ca}"`)}
models:
  - { name: m, targets: [ { provider: local, model: m-up } ] }
  - { name: m-noca, targets: [ { provider: tls-noca, model: m-up } ] }
  - { name: m-skip, targets: [ { provider: tls-skip, model: m-up } ] }
  - { name: m-ca, targets: [ { provider: tls-ca, model: m-up } ] }
${broken ? '  - { name: broken, targets: [ { provider: nowhere, model: x } ] }\n' : ''}`;
}

/** exporter.yaml sending to endpoint, receiving on its own socket; extra goes under export. */
function exporterYaml(name, endpoint, adminPort, extra = '') {
  return `receive: { url: "ipc://${path.join(stack.dir, `${name}.sock`)}" }
export:
  endpoint: ${endpoint}
  timeout: 3s
  retry: { initial: 100ms, max: 500ms }
  headers: { Authorization: "Basic \${SEC_EXPORT_AUTH}" }
${extra}batch: { max_spans: 64, timeout: 50ms }
admin: { listen: 127.0.0.1:${adminPort} }
drain_timeout: 1s
log: { level: debug }
`;
}

async function startExporter(name, endpoint, extra = '') {
  const adminPort = await freePort();
  const cfg = writeConfig(stack.dir, `${name}.yaml`, exporterYaml(name, endpoint, adminPort, extra));
  const proc = stack.start('llmgw-exporter', ['-c', cfg], { name, env: { SEC_EXPORT_AUTH: EXPORT_AUTH } });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/healthz`, { proc });
  const ex = { name, proc, admin, cfg, spansUrl: `ipc://${path.join(stack.dir, `${name}.sock`)}` };
  exporters.push(ex);
  return ex;
}

/** Runs a binary to completion; resolves {code, out} (stdout + stderr). */
function run(binary, args, env) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return new Promise((resolve) => {
    execFile(bin(binary), args, { env: { ...base, ...env }, timeout: 20000 * SLOW }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, out: `${stdout}${stderr}` });
    });
  });
}

const inject = (url, n = 1) => run('spanrec-inject', [url, 'good', String(n)], {});
const mockRecords = async () => JSON.parse((await httpsGet(`${tls.url}/_mock/requests`, ca.caPem)).text);
const gwLog = () => fs.readFileSync(gw.proc.errPath, 'utf8');
const gwMetrics = async () => (await http(`${gw.admin}/metrics`)).text;

async function startRedis() {
  redisPort = await freePort();
  const h = spawn(REDIS, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--requirepass', S.redis_password.value], { dir: stack.dir, name: 'redis-server' });
  stack.procs.push(h);
  await waitFor(() => new Promise((resolve) => {
    if (h.exit) throw new Error(`redis-server exited: ${JSON.stringify(h.exit)}`);
    const s = net.connect(redisPort, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs: 10000 * SLOW, what: `redis-server on 127.0.0.1:${redisPort}` });
}

before(stack.guard(async () => {
  ca = makeTestCa(stack.dir);
  sink = await stack.sink();
  mock = await stack.mock(['--content', 'one two three']);
  tls = await startTlsMock(stack, ca);
  if (haveRedis) await startRedis();
  // the gateway's own exporter: spans to the sink over plain HTTP, with the auth header
  const adminPort = await freePort();
  const excfg = writeConfig(stack.dir, 'llmgw-exporter.yaml',
    exporterYaml('llmgw-exporter', `${sink.url}/v1/traces`, adminPort).replace(
      `ipc://${path.join(stack.dir, 'llmgw-exporter.sock')}`, stack.spansUrl));
  const exproc = stack.start('llmgw-exporter', ['-c', excfg], { env: { SEC_EXPORT_AUTH: EXPORT_AUTH } });
  await waitHttp(`http://127.0.0.1:${adminPort}/healthz`, { proc: exproc });
  exporters.push({ name: 'llmgw-exporter', proc: exproc, admin: `http://127.0.0.1:${adminPort}`, cfg: excfg });

  const port = await freePort();
  const aport = await freePort();
  cfgPath = writeConfig(stack.dir, 'gateway.yaml', gatewayYaml({ port, adminPort: aport }));
  const proc = stack.start('llmgw-gateway', ['-c', cfgPath], { env: GW_ENV });
  gw = { proc, url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${aport}`, port, aport };
  await waitHttp(`${gw.admin}/healthz`, { proc });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

describe('admin endpoints on admin.listen', { timeout: 60000 }, () => {
  it('served there, and 404 in OpenAI shape on the API listener', stack.guard(async () => {
    for (const p of ['/healthz', '/readyz', '/metrics']) {
      const r = await call(`${gw.url}${p}`);
      assertOpenAiError(assert, r, 404, `${p} on server.listen`);
      assert.equal(r.json.error.code, 'not_found');
      assert.equal((await call(`${gw.url}${p}`, { method: 'HEAD' })).status, 404);
    }
    const h = await http(`${gw.admin}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.text, 'ok\n');
    assert.equal((await http(`${gw.admin}/readyz`)).text, 'ready\n');
    const m = await http(`${gw.admin}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    assert.ok(metric(m.text, 'llmgw_requests_total', { code_class: '4xx' }) >= 3, 'the 404s above were counted');
    assert.equal((await http(`${gw.admin}/metrics`, { method: 'HEAD' })).status, 200);
    // the admin listener serves nothing else, and no API
    const x = await call(`${gw.admin}/v1/models`, { headers: auth(S.vkey_main) });
    assert.equal(x.status, 404);
    assert.equal(x.json.error.code, 'not_found');
    const post = await call(`${gw.admin}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    // the API still works on server.listen
    assert.equal((await chat(S.vkey_main)).status, 200);
  }));
});

describe('TLS verification', { timeout: 120000 }, () => {
  it('provider: no CA -> tls_error; ca_file -> 200; insecure_skip_verify -> 200, a WARN line and a gauge', stack.guard(async () => {
    const noca = await chat(S.vkey_main, { model: 'm-noca' });
    assertOpenAiError(assert, noca, 502, 'no CA');
    assert.equal(noca.json.error.code, 'tls_error');
    const withCa = await chat(S.vkey_main, { model: 'm-ca' });
    assert.equal(withCa.status, 200, withCa.text);
    const skip = await chat(S.vkey_main, { model: 'm-skip' });
    assert.equal(skip.status, 200, skip.text);
    // the provider did get the request over TLS, with the key (where the key belongs)
    const recs = (await mockRecords()).filter((q) => q.path === '/v1/chat/completions');
    assert.ok(recs.length >= 2 && recs.every((q) => q.tls === true));

    const log = gwLog();
    const warn = log.split('\n').filter((l) => l.includes('event=tls_verify_disabled'));
    assert.equal(warn.length, 1, `one WARN line at start: ${warn.join('\n')}`);
    assert.match(warn[0], /level=warn .*provider=tls-skip .*tls verification disabled for provider tls-skip/);
    const m = await gwMetrics();
    assert.equal(metric(m, 'llmgw_upstream_tls_verify_disabled', { provider: 'tls-skip' }), 1);
    for (const p of ['local', 'tls-noca', 'tls-ca'])
      assert.match(m, new RegExp(`llmgw_upstream_tls_verify_disabled\\{provider="${p}"\\} 0`), p);
    assert.ok(metric(m, 'llmgw_upstream_connects_total', { provider: 'tls-noca', result: 'tls_error' }) >= 1);

    const check = await run('llmgw-gateway', ['-c', cfgPath, '--check-config'], GW_ENV);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /configuration ok/);
    assert.match(check.out, /warning: tls verification disabled for provider tls-skip \(insecure_skip_verify: true\)/);
    assert.match(check.out, /level=warn .*event=tls_verify_disabled provider=tls-skip/);
    assert.doesNotMatch(check.out, /provider (tls-ca|tls-noca|local) \(insecure/);
  }));

  it('provider: the WARN line is repeated on every reload, good or bad', stack.guard(async () => {
    const before = gwLog().split('\n').filter((l) => l.includes('event=tls_verify_disabled')).length;
    gw.proc.child.kill('SIGHUP');
    await waitFor(async () => metric(await gwMetrics(), 'llmgw_config_reloads_total', { result: 'ok' }) >= 1,
      { what: 'a good reload' });
    await waitFor(() => gwLog().split('\n').filter((l) => l.includes('event=tls_verify_disabled')).length > before,
      { timeoutMs: 5000, what: 'the WARN line after the reload' });
  }));

  it('exporter: no CA -> TLS failure, retried; ca_file -> delivered; insecure_skip_verify -> delivered + WARN + gauge', stack.guard(async () => {
    const noca = await startExporter('ex-noca', `${tls.url}/v1/traces-noca`);
    const withCa = await startExporter('ex-ca', `${tls.url}/v1/traces-ca`, `  ca_file: "${ca.ca}"\n`);
    const skip = await startExporter('ex-skip', `${tls.url}/v1/traces-skip`, '  insecure_skip_verify: true\n');
    for (const ex of [noca, withCa, skip]) assert.equal((await inject(ex.spansUrl)).code, 0);
    await waitFor(async () => {
      const paths = (await mockRecords()).map((q) => q.path);
      return paths.includes('/v1/traces-ca') && paths.includes('/v1/traces-skip');
    }, { timeoutMs: 15000, what: 'the exports with ca_file and with insecure_skip_verify at the TLS mock' });
    await waitFor(async () => metric((await http(`${noca.admin}/metrics`)).text,
      'llmgw_exporter_export_requests_total', { result: 'retry' }) >= 1,
    { timeoutMs: 15000, what: 'the exporter without the CA to fail the handshake and retry' });
    assert.ok(!(await mockRecords()).some((q) => q.path === '/v1/traces-noca'), 'nothing got through without the CA');
    assert.match(fs.readFileSync(noca.proc.errPath, 'utf8'), /certificate verify failed/);

    const skipLog = fs.readFileSync(skip.proc.errPath, 'utf8');
    assert.match(skipLog, /level=warn .*event=tls_verify_disabled .*tls verification disabled for the export endpoint/);
    for (const [ex, want] of [[skip, 1], [withCa, 0], [noca, 0]]) {
      const m = (await http(`${ex.admin}/metrics`)).text;
      assert.match(m, new RegExp(`^llmgw_exporter_tls_verify_disabled ${want}$`, 'm'), ex.name);
    }
    assert.doesNotMatch(fs.readFileSync(withCa.proc.errPath, 'utf8'), /tls_verify_disabled/);

    const check = await run('llmgw-exporter', ['-c', skip.cfg, '--check-config'], { SEC_EXPORT_AUTH: EXPORT_AUTH });
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /warning: tls verification disabled for the export endpoint/);
    // a memory queue the backend never took is lost at shutdown: exit 3 (docs/exporter-config.md)
    for (const [ex, code] of [[noca, 3], [withCa, 0], [skip, 0]]) {
      const x = await stop(ex.proc, { killAfterMs: 10000 * SLOW });
      assert.equal(x.killed, false, ex.name);
      assert.equal(x.code, code, `${ex.name} exit status`);
      assert.equal(stack.problems(ex.proc), '', `${ex.name}: sanitizer report`);
      stack.procs.splice(stack.procs.indexOf(ex.proc), 1); // checked here; assertCleanStop wants 0 from the rest
    }
  }));

  it('no other way to skip verification exists in the source', () => {
    // every verification switch OpenSSL offers, anywhere in the daemons' code
    const risky = /SSL_VERIFY_NONE|set_verify\s*\(|set_verify_callback|set_cert_verify_callback|X509_STORE(_CTX)?_set_verify_cb|X509_V_FLAG_|verify_depth|SSL_CTX_set_verify_depth/;
    const hits = [];
    const callers = [];
    for (const dir of ['common', 'gateway', 'exporter']) {
      for (const f of fs.readdirSync(path.join(REPO, dir)).filter((n) => /\.[ch]$/.test(n))) {
        const lines = fs.readFileSync(path.join(REPO, dir, f), 'utf8').split('\n');
        lines.forEach((l, i) => {
          const code = l.replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();
          if (/^(\*|\/\*)/.test(code)) return; // comment lines may name the constants
          if (risky.test(code)) hits.push(`${dir}/${f}: ${code}`);
          if (/tls_client_ctx_skip_verify\s*\(/.test(l) && !(dir === 'common' && f.startsWith('tls.')))
            callers.push({ where: `${dir}/${f}`, guard: lines[i - 1].trim() });
        });
      }
    }
    assert.deepEqual(hits.sort(), [
      'common/tls.c: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);',
      'common/tls.c: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);',
    ], 'verification is set in common/tls.c only: on in tls_client_ctx_new, off in tls_client_ctx_skip_verify');
    assert.deepEqual(callers.map((c) => c.where).sort(), ['exporter/send.c', 'gateway/gw.c']);
    for (const c of callers) assert.match(c.guard, /if \(.*insecure_skip_verify\)/, `${c.where} guards the call`);
  });
});

describe('no secret in logs, spans, errors or /metrics', { timeout: 180000 }, () => {
  it('drives every path, then searches everything the processes wrote or answered', stack.guard(async () => {
    // success, plain and streamed
    assert.equal((await chat(S.vkey_main)).status, 200);
    const st = await chat(S.vkey_main, { stream: true });
    assert.equal(st.status, 200);
    assert.match(st.text, /\[DONE\]/);
    // 401: missing, unknown, malformed (the secret in a Basic header), a key in the wrong place
    assertOpenAiError(assert, await chat(null), 401, 'missing key');
    assertOpenAiError(assert, await chat(S.vkey_unknown), 401, 'unknown key');
    assertOpenAiError(assert, await chat(null, { headers: { authorization: `Basic ${Buffer.from(S.vkey_unknown.value).toString('base64')}` } }), 401, 'malformed');
    assertOpenAiError(assert, await chat(null, { headers: { authorization: `Bearer ${S.vkey_unknown.value}!!` } }), 401, 'bad characters');
    // 403 and 429
    assertOpenAiError(assert, await chat(S.vkey_scoped, { model: 'm' }), 403, 'model not allowed');
    assert.equal((await chat(S.vkey_limited)).status, 200);
    assertOpenAiError(assert, await chat(S.vkey_limited), 429, 'rpm');
    // upstream 401 and 500 (the provider refusing the key must not echo it back through us)
    assertOpenAiError(assert, await chat(S.vkey_main, { headers: { 'x-mock-status': '401' } }), 401, 'upstream 401');
    assertOpenAiError(assert, await chat(S.vkey_main, { headers: { 'x-mock-status': '500' } }), 500, 'upstream 500');
    // the client sending the provider key itself: never forwarded, never echoed
    assert.equal((await chat(S.vkey_main, { headers: { 'x-api-key': S.provider_key.value, 'api-key': S.provider_key.value } })).status, 200);
    // TLS failure
    assertOpenAiError(assert, await chat(S.vkey_main, { model: 'm-noca' }), 502, 'tls');
    // the trace backend refusing an export (the exporter logs what it got back)
    await sinkApi(sink.url).fail({ status: 401, count: 1 });
    assert.equal((await chat(S.vkey_main)).status, 200);
    // a bad reload
    fs.writeFileSync(cfgPath, gatewayYaml({ port: gw.port, adminPort: gw.aport, broken: true }));
    gw.proc.child.kill('SIGHUP');
    await waitFor(async () => metric(await gwMetrics(), 'llmgw_config_reloads_total', { result: 'error' }) >= 1,
      { what: 'the bad reload to be refused' });
    await waitFor(() => /config_reload_failed.*nowhere/.test(gwLog()), { timeoutMs: 5000, what: 'the reload error logged' });
    fs.writeFileSync(cfgPath, gatewayYaml({ port: gw.port, adminPort: gw.aport }));
    // --check-config: good, and with a provider key the loader refuses (a line break in it)
    const checks = [
      await run('llmgw-gateway', ['-c', cfgPath, '--check-config'], GW_ENV),
      await run('llmgw-gateway', ['-c', cfgPath.replace(/\.yaml$/, '-nope.yaml'), '--check-config'], GW_ENV),
      await run('llmgw-gateway', ['-c', cfgPath, '--check-config'], { ...GW_ENV, SEC_PROVIDER_KEY: `${S.provider_key.value}\nX` }),
      await run('llmgw-exporter', ['-c', exporters[0].cfg, '--check-config'], { SEC_EXPORT_AUTH: EXPORT_AUTH }),
      await run('llmgw-exporter', ['-c', exporters[0].cfg, '--check-config'],
        { SEC_EXPORT_AUTH: EXPORT_AUTH, OTEL_EXPORTER_OTLP_HEADERS: `x-bad header=${S.exporter_password.value}` }),
    ];
    assert.equal(checks[0].code, 0, checks[0].out);
    assert.equal(checks[2].code, 2, checks[2].out);
    assert.match(checks[2].out, /SEC_PROVIDER_KEY contains a line break/);
    assert.equal(checks[3].code, 0, checks[3].out);
    assert.equal(checks[4].code, 2, checks[4].out);

    // the last spans and the refused export reach the sink and the logs
    await waitFor(async () => (await sinkApi(sink.url).stats()).failed_injected >= 1, { what: 'the refused export' });
    const last = await chat(S.vkey_main);
    assert.equal(last.status, 200);
    await traceFor(sink.url, last.headers.get('x-request-id')); // everything sent before it has been exported too

    const places = {
      'error bodies and response headers': seen.join('\n'),
      'spans at the sink (attributes, resource, events)': JSON.stringify(await sinkApi(sink.url).spans()),
      'gateway /metrics': await gwMetrics(),
      '--check-config output': checks.map((c) => c.out).join('\n'),
    };
    for (const ex of exporters) {
      if (!ex.proc.exit) places[`${ex.name} /metrics`] = (await http(`${ex.admin}/metrics`)).text;
    }
    for (const h of [gw.proc, ...exporters.map((e) => e.proc)]) {
      places[`${h.name} log`] = fs.readFileSync(h.errPath, 'utf8') + fs.readFileSync(h.outPath, 'utf8');
    }
    assert.ok(places['gateway /metrics'].includes('llmgw_requests_total'));
    assert.ok(places['llmgw-gateway log'].includes('event=request'), 'debug access lines were written and searched');
    assert.deepEqual(findSecrets(SECRETS, places), []);
    // the spans are there and carry the key's name, never the key
    assert.match(places['spans at the sink (attributes, resource, events)'], /"llmgw.key.name":"main"/);
    // and the secrets did reach where they belong
    const toSink = JSON.stringify(await sinkApi(sink.url).requests());
    assert.ok(toSink.includes(EXPORT_AUTH), 'the exporter sent its auth header to the backend');
    const toProvider = JSON.stringify(await (await fetch(`${mock.url}/_mock/requests`)).json());
    assert.ok(toProvider.includes(S.provider_key.value), 'the gateway sent the provider key upstream');
    for (const k of [S.vkey_main, S.vkey_unknown]) assert.ok(!toProvider.includes(k.value), 'virtual keys never go upstream');
  }));
});

describe('draining', { timeout: 120000 }, () => {
  it('/readyz on the admin address turns 503 while requests finish; the process then exits 0', stack.guard(async () => {
    const port = await freePort();
    const aport = await freePort();
    const cfg = writeConfig(stack.dir, 'gw-drain.yaml', `server: { listen: 127.0.0.1:${port}, drain_timeout: 30s }
admin: { listen: 127.0.0.1:${aport} }
auth: { enabled: false }
providers:
  - { name: local, type: openai, base_url: "${mock.url}/v1", timeout: 60s }
models:
  - { name: m, targets: [ { provider: local, model: m } ] }
`);
    const proc = stack.start('llmgw-gateway', ['-c', cfg], { name: 'gw-drain' });
    await waitHttp(`http://127.0.0.1:${aport}/readyz`, { proc });
    const slow = http(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-latency-ms': '20000' },
      body: { model: 'm', messages: [{ role: 'user', content: 'slow' }] },
      timeoutMs: 60000,
    }).catch((e) => ({ status: 0, text: e.message }));
    await waitFor(async () => metric((await http(`http://127.0.0.1:${aport}/metrics`)).text, 'llmgw_requests_in_flight') >= 1,
      { what: 'the slow request in flight' });
    proc.child.kill('SIGTERM');
    const r = await waitFor(async () => {
      const x = await http(`http://127.0.0.1:${aport}/readyz`, { timeoutMs: 2000 });
      return x.status === 503 ? x : null;
    }, { timeoutMs: 15000, what: '/readyz 503 on the admin address while draining' });
    assert.equal(r.text, 'not ready\n');
    assert.equal((await http(`http://127.0.0.1:${aport}/healthz`)).status, 200, 'still alive while draining');
    proc.child.kill('SIGTERM'); // the second signal stops at once
    const x = await stop(proc, { killAfterMs: 10000 * SLOW });
    assert.equal(x.killed, false);
    assert.equal(x.code, 0);
    await slow;
  }));
});

describe('clean shutdown', () => {
  it('every process stops cleanly (exit 0, no sanitizer report)', stack.guard(async () => {
    await stack.assertCleanStop();
  }));
});
