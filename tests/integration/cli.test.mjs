// SPDX-License-Identifier: Apache-2.0
//
// llmgw-gateway's key helpers, run as a user would: `--hash-key` reads a
// virtual key from stdin and prints the SHA-256 that goes into
// keys[].sha256 (checked against node's own crypto), `--gen-key` prints a
// fresh key and its hash, and bad input exits 2 with a message that never
// contains the key. No server is started: each run is one short process
// with a bounded timeout.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { bin, sha256hex } from './lib/stack.mjs';

/** Runs llmgw-gateway with args and stdin input; resolves {status, stdout, stderr}. */
function gw(args, input = '') {
  const r = spawnSync(bin('llmgw-gateway'), args, { input, timeout: 10000, encoding: 'latin1' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('--hash-key', () => {
  const key = 'llmgw-cli-test-9f2c4e7a1b3d';

  it('prints the SHA-256 of the key read from stdin, with or without a line ending', () => {
    for (const input of [`${key}\n`, `${key}\r\n`, key]) {
      const r = gw(['--hash-key'], input);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${sha256hex(key)}\n`);
      assert.equal(r.stderr, '');
    }
  });

  it('accepts every Bearer token character and a 512-byte key', () => {
    for (const k of ['AZaz09-._~+/', 'abc==', 'k'.repeat(512)]) {
      const r = gw(['--hash-key'], `${k}\n`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${sha256hex(k)}\n`);
    }
  });

  it('reads one line only', () => {
    const r = gw(['--hash-key'], `${key}\nsecond-line\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${sha256hex(key)}\n`);
  });

  it('refuses bad keys with exit 2 and never echoes them', () => {
    const secret = 'Sekr3tPart';
    const cases = [
      { input: '', why: /empty/ },
      { input: '\n', why: /empty/ },
      { input: '\r\n', why: /empty/ },
      { input: `${secret} with spaces\n`, why: /characters/ },
      { input: ` ${secret}\n`, why: /characters/ },
      { input: `${secret} \n`, why: /characters/ },
      { input: `${secret}\0tail\n`, why: /characters/ },
      { input: `${secret}\r`, why: /characters/ }, // a lone CR is not a line ending
      { input: `${secret}\u00e9\n`, why: /characters/ },
      { input: `${secret}"\n`, why: /characters/ },
      { input: `${secret}=x\n`, why: /characters/ },
      { input: `${secret}${'a'.repeat(512)}\n`, why: /longer than 512/ },
      { input: `${secret}${'a'.repeat(100000)}`, why: /longer than 512/ },
    ];
    for (const { input, why } of cases) {
      const r = gw(['--hash-key'], input);
      const label = JSON.stringify(input.slice(0, 40));
      assert.equal(r.status, 2, `${label}: status ${r.status}`);
      assert.equal(r.stdout, '', label);
      assert.match(r.stderr, /^llmgw-gateway: --hash-key: the key /, label);
      assert.match(r.stderr, why, label);
      assert.ok(!r.stderr.includes(secret), `${label}: key echoed: ${r.stderr}`);
      assert.ok(!r.stderr.includes('aaaaaaaa'), `${label}: key echoed`);
    }
  });
});

describe('--gen-key', () => {
  it('prints a fresh key and its SHA-256, which --hash-key reproduces', () => {
    const r = gw(['--gen-key']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.length, 3, r.stdout);
    assert.equal(lines[2], '');
    const [key, hash] = lines;
    // "llmgw-" + 32 random bytes in unpadded base64url
    assert.match(key, /^llmgw-[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key.slice(6), 'base64url').length, 32);
    assert.equal(hash, sha256hex(key));
    const again = gw(['--hash-key'], `${key}\n`);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `${hash}\n`);
  });

  it('gives a different key every run', () => {
    const seen = new Set();
    for (let i = 0; i < 5; i++) {
      const r = gw(['--gen-key']);
      assert.equal(r.status, 0, r.stderr);
      seen.add(r.stdout.split('\n')[0]);
    }
    assert.equal(seen.size, 5);
  });
});

describe('--help', () => {
  it('lists both key helpers', () => {
    const r = gw(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--hash-key/);
    assert.match(r.stdout, /--gen-key/);
  });
});
