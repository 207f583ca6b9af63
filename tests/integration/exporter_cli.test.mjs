// SPDX-License-Identifier: Apache-2.0
//
// llmgw-exporter --check-config and the TLS files of an https endpoint:
// the check builds the TLS client context exactly as start-up does, so a
// CA file that is not PEM, or a client key that does not belong to its
// certificate, is a configuration error (exit 2, with the reason and the
// file names, never key material) before any export is tried. The
// certificate and keys are made here with the openssl CLI in a temp dir,
// removed afterwards. No server is started: each run is one short process
// with a bounded timeout, and the endpoint (127.0.0.1:1) is never dialled.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { bin, tempDir } from './lib/stack.mjs';

let dir;
const f = (name) => path.join(dir, name);

/** Runs llmgw-exporter -c <yaml> --check-config with env (no OTEL_* from ours); returns {status, out, err}. */
function check(yaml, env = {}) {
  const cfg = f('exporter.yaml');
  fs.writeFileSync(cfg, yaml);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const r = spawnSync(bin('llmgw-exporter'), ['-c', cfg, '--check-config'], {
    env: { ...base, ...env }, timeout: 20000, encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** An https export section with the given TLS files (omitted when null). */
function yaml({ ca = null, cert = null, key = null, endpoint = 'https://127.0.0.1:1/v1/traces' } = {}) {
  const lines = [`  endpoint: ${endpoint}`];
  if (ca) lines.push(`  ca_file: ${JSON.stringify(ca)}`);
  if (cert) lines.push(`  client_cert: ${JSON.stringify(cert)}`);
  if (key) lines.push(`  client_key: ${JSON.stringify(key)}`);
  return `export:\n${lines.join('\n')}\nadmin: { listen: "" }\n`;
}

/** No key material in what the exporter printed. */
function assertNoSecrets(r, what) {
  const text = `${r.out}${r.err}`;
  assert.ok(!/BEGIN|PRIVATE KEY/.test(text), `${what}: PEM text in the output`);
  for (const k of ['client.key', 'other.key']) {
    const body = fs.readFileSync(f(k), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const l of body) assert.ok(!text.includes(l), `${what}: a line of ${k} in the output`);
  }
}

before(() => {
  dir = tempDir('excli');
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  // a self-signed client certificate (it doubles as a valid CA bundle), its key, and an unrelated key
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'client.key', '-out', 'client.pem', '-days', '2', '-subj', '/CN=llmgw-exporter-cli-test']);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
  fs.writeFileSync(f('garbage.pem'), 'this is not a certificate\n');
  fs.writeFileSync(f('empty.pem'), '');
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('llmgw-exporter --check-config builds the TLS context of an https endpoint', () => {
  it('a matching certificate and key with a PEM CA file: ok (exit 0)', () => {
    const r = check(yaml({ ca: f('client.pem'), cert: f('client.pem'), key: f('client.key') }));
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /configuration ok/);
  });

  it('a client key that does not match the certificate: exit 2, says so, no key material', () => {
    const r = check(yaml({ ca: f('client.pem'), cert: f('client.pem'), key: f('other.key') }));
    assert.equal(r.status, 2, `exit 2: ${r.out}${r.err}`);
    assert.match(r.err, /does not match the certificate/);
    assert.ok(r.err.includes(f('other.key')), 'the error names the key file');
    assert.doesNotMatch(r.out, /configuration ok/);
    assertNoSecrets(r, 'mismatched key');
  });

  it('the same mismatch coming from OTEL_EXPORTER_OTLP_CLIENT_KEY: exit 2', () => {
    const r = check(yaml({ ca: f('client.pem'), cert: f('client.pem'), key: f('client.key') }),
      { OTEL_EXPORTER_OTLP_CLIENT_KEY: f('other.key') });
    assert.equal(r.status, 2, `exit 2: ${r.out}${r.err}`);
    assert.match(r.err, /does not match the certificate/);
    assertNoSecrets(r, 'mismatched key from env');
  });

  it('a CA file that is not PEM, or is empty: exit 2 naming the file', () => {
    for (const ca of [f('garbage.pem'), f('empty.pem')]) {
      const r = check(yaml({ ca }));
      assert.equal(r.status, 2, `${ca}: exit 2: ${r.out}${r.err}`);
      assert.match(r.err, /trust store/, `${ca}: the reason`);
      assert.ok(r.err.includes(ca), `${ca}: the error names the CA file`);
    }
  });

  it('a CA file given as a directory (unreadable as PEM): exit 2', () => {
    const r = check(yaml({ ca: dir }));
    assert.equal(r.status, 2, `exit 2: ${r.out}${r.err}`);
  });

  it('a certificate file that is not PEM: exit 2 naming it', () => {
    const r = check(yaml({ cert: f('garbage.pem'), key: f('client.key') }));
    assert.equal(r.status, 2, `exit 2: ${r.out}${r.err}`);
    assert.match(r.err, /client certificate/);
    assert.ok(r.err.includes(f('garbage.pem')));
    assertNoSecrets(r, 'bad certificate');
  });
});
