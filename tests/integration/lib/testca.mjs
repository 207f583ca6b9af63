// SPDX-License-Identifier: Apache-2.0
//
// A throwaway certificate authority for tests that need HTTPS: made at run
// time with the `openssl` CLI (deploy/deps.sh installs it) in the test's
// temp dir, never committed. One CA signs a server certificate for
// localhost / 127.0.0.1; a second, unrelated CA is there to prove that a
// client configured with the wrong one refuses the server.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

import { SLOW, freePort, waitFor } from './stack.mjs';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir, name) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=llmgw ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

/**
 * Creates <dir>/tls/{ca,wrong-ca,server}.{pem,key}. Returns {dir, ca, caPem,
 * wrongCa, wrongCaPem, cert, key}: file paths, and the two CA certificates'
 * PEM text (what node's `ca` option takes).
 */
export function makeTestCa(dir) {
  const d = path.join(dir, 'tls');
  fs.mkdirSync(d, { recursive: true });
  newCa(d, 'ca');
  newCa(d, 'wrong-ca');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=localhost'], d);
  fs.writeFileSync(path.join(d, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'], d);
  const p = (f) => path.join(d, f);
  return {
    dir: d,
    ca: p('ca.pem'),
    caPem: fs.readFileSync(p('ca.pem'), 'utf8'),
    wrongCa: p('wrong-ca.pem'),
    wrongCaPem: fs.readFileSync(p('wrong-ca.pem'), 'utf8'),
    cert: p('server.pem'),
    key: p('server.key'),
  };
}

/** GET over HTTPS trusting only caPem; resolves {status, text, alpn} or rejects. */
export function httpsGet(url, caPem, { headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text, alpn: res.socket.alpnProtocol }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * llmgw-mock serving HTTPS with ca's server certificate on a free port;
 * resolves {proc, url, port} once it answers (url uses "localhost", which
 * the certificate names).
 */
export async function startTlsMock(stack, ca, extraArgs = [], name = 'llmgw-mock-tls') {
  const port = await freePort();
  const proc = stack.start('llmgw-mock',
    ['--listen', `127.0.0.1:${port}`, '--tls-cert', ca.cert, '--tls-key', ca.key, ...extraArgs], { name });
  const url = `https://localhost:${port}`;
  await waitFor(async () => {
    if (proc.exit) throw new Error(`${name} exited early: ${JSON.stringify(proc.exit)}`);
    try {
      return (await httpsGet(`${url}/_mock/stats`, ca.caPem, { timeoutMs: 1000 })).status === 200;
    } catch (e) {
      if (proc.exit) throw new Error(`${name} exited early: ${JSON.stringify(proc.exit)}`);
      return false;
    }
  }, { timeoutMs: 15000 * SLOW, what: `${url}/_mock/stats over TLS` });
  return { proc, url, port };
}
