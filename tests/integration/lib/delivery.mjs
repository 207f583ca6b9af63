// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the exporter delivery tests (delivery.test.mjs): an
// exporter config with every delivery knob exposed, start / restart of
// llmgw-exporter on it, span records pushed with spanrec-inject (no gateway
// needed), metric reads, process memory and queue-directory size samples,
// nghttpx as an HTTP/2 TLS front of otlp-sink, and a client certificate
// for mTLS signed by the throwaway test CA.

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { SLOW, bin, freePort, http, metric, spawn, waitFor, waitHttp, writeConfig } from './stack.mjs';

/**
 * exporter.yaml for delivery tests. Fast retries by default (100 ms first
 * backoff, 500 ms cap, no max_elapsed) so tests that wait for recovery stay
 * short; `queue` adds a queue: section, `tls` the ca/client cert keys,
 * `readyFailingFor` admin.ready_failing_for, `rcvbuf` receive.rcvbuf.
 */
export function deliveryYaml({
  spansUrl, endpoint, adminPort, protocol = 'http/protobuf', compression = 'gzip', timeout = '5s',
  concurrency = 2, retry = { initial: '100ms', max: '500ms', max_elapsed: '0' },
  batch = { max_spans: 512, timeout: '100ms' }, queue, caFile, clientCert, clientKey, drainTimeout = '1s',
  extraExport = '', readyFailingFor, rcvbuf,
}) {
  const q = queue
    ? `queue: { dir: "${queue.dir}", max_bytes: ${queue.max_bytes ?? '64MiB'}, segment_bytes: ${queue.segment_bytes ?? '1MiB'}, fsync: ${queue.fsync ?? false} }\n`
    : '';
  const tls = [
    caFile ? `  ca_file: "${caFile}"\n` : '',
    clientCert ? `  client_cert: "${clientCert}"\n  client_key: "${clientKey}"\n` : '',
  ].join('');
  return `receive: { url: "${spansUrl}"${rcvbuf ? `, rcvbuf: ${rcvbuf}` : ''} }
export:
  endpoint: ${endpoint}
  protocol: ${protocol}
  compression: ${compression}
  timeout: ${timeout}
  concurrency: ${concurrency}
  retry: { initial: ${retry.initial}, max: ${retry.max}, max_elapsed: ${retry.max_elapsed} }
${tls}${extraExport}batch: { max_spans: ${batch.max_spans}, timeout: ${batch.timeout}${batch.max_bytes ? `, max_bytes: ${batch.max_bytes}` : ''} }
${q}admin: { listen: 127.0.0.1:${adminPort}${readyFailingFor ? `, ready_failing_for: ${readyFailingFor}` : ''} }
drain_timeout: ${drainTimeout}
log: { level: info }
`;
}

/**
 * Starts llmgw-exporter on a fresh config (opts as deliveryYaml, minus
 * adminPort, which is picked here, and spansUrl, an ipc:// socket unless
 * given) or, with `reuse`, on the config of an earlier run. Resolves
 * {proc, admin, cfg, spansUrl, adminPort, metrics(), m(name, labels)}.
 */
export async function startDeliveryExporter(stack, { name, reuse, env = {}, spansUrl: url, ...opts } = {}) {
  const adminPort = reuse ? reuse.adminPort : await freePort();
  const spansUrl = reuse ? reuse.spansUrl : url ?? `ipc://${path.join(stack.dir, `${name}.sock`)}`;
  const cfg = reuse ? reuse.cfg : writeConfig(stack.dir, `${name}.yaml`, deliveryYaml({ spansUrl, adminPort, ...opts }));
  const proc = stack.start('llmgw-exporter', ['-c', cfg], { name: reuse ? `${reuse.name}-${reuse.run + 1}` : name, env });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/healthz`, { proc });
  const ex = {
    name: reuse ? reuse.name : name, run: reuse ? reuse.run + 1 : 1, proc, admin, cfg, spansUrl, adminPort,
    metrics: async () => (await http(`${admin}/metrics`)).text,
  };
  ex.m = async (n, labels = {}) => metric(await ex.metrics(), n, labels);
  return ex;
}

export const M = {
  received: 'llmgw_exporter_records_received_total',
  exported: 'llmgw_exporter_spans_exported_total',
  dropped: 'llmgw_exporter_spans_dropped_total',
  requests: 'llmgw_exporter_export_requests_total',
  retries: 'llmgw_exporter_retries_total',
  openSpans: 'llmgw_exporter_batch_open_spans',
  queueBatches: 'llmgw_exporter_queue_batches',
  queueBytes: 'llmgw_exporter_queue_bytes',
  replayed: 'llmgw_exporter_queue_replayed_spans_total',
  inflight: 'llmgw_exporter_exports_in_flight',
  batchSpans: 'llmgw_exporter_batch_spans',
  duration: 'llmgw_exporter_export_duration_seconds',
};

/** Pushes count good span records into url with spanrec-inject (one process). */
export function inject(url, count = 1) {
  return new Promise((resolve, reject) => {
    execFile(bin('spanrec-inject'), [url, 'good', String(count)], { timeout: 60000 * SLOW }, (err, stdout, stderr) => {
      if (err) reject(new Error(`spanrec-inject ${url} good ${count} failed (${err.code ?? err.signal}): ${stderr}`));
      else resolve();
    });
  });
}

/**
 * Waits until the exporter has read n records in all and put every one
 * into a batch that left the batcher (nothing open): from then on they are
 * in the delivery queue (on disk with queue.dir), delivered or dropped.
 */
export async function waitQueued(ex, n, { timeoutMs = 20000 } = {}) {
  return waitFor(async () => {
    const t = await ex.metrics();
    return metric(t, M.received) >= n && metric(t, M.openSpans) === 0 ? t : null;
  }, { timeoutMs: timeoutMs * SLOW, intervalMs: 50, what: `${ex.name}: ${n} records received and flushed into the queue` });
}

/**
 * The exporter's last log line, event=stopped, as numbers:
 * {exit_code, delivered, persisted, lost, dropped}; null when absent.
 */
export function stoppedLine(errPath) {
  const m = /event=stopped exit_code=(\d+) delivered=(\d+) persisted=(\d+) lost=(\d+) dropped=(\d+)/
    .exec(fs.readFileSync(errPath, 'utf8'));
  if (!m) return null;
  const [exit_code, delivered, persisted, lost, dropped] = m.slice(1).map(Number);
  return { exit_code, delivered, persisted, lost, dropped };
}

/** VmRSS of pid in KiB (0 when the process is gone). */
export function vmRssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Apparent size in bytes of every regular file under dir (what `du -sb` adds up, minus directories). */
export function dirBytes(dir) {
  let sum = 0;
  let names;
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const d of names) {
    const p = path.join(dir, d.name);
    try {
      if (d.isDirectory()) sum += dirBytes(p);
      else if (d.isFile()) sum += fs.statSync(p).size;
    } catch { /* removed meanwhile */ }
  }
  return sum;
}

/** Segment files of a queue dir, oldest (lowest number) first. */
export function segments(dir) {
  return fs.readdirSync(dir).filter((f) => /^[0-9a-f]{16}\.seg$/.test(f)).sort().map((f) => path.join(dir, f));
}

/** The spans the sink holds whose start time is in [fromNs, toNs) (BigInt unix ns). */
export function spansBetween(spans, fromNs, toNs = 1n << 62n) {
  return spans.filter((s) => BigInt(s.start_time_unix_nano) >= fromNs && BigInt(s.start_time_unix_nano) < toNs);
}

export const nowNs = () => BigInt(Date.now()) * 1000000n;

/** The sink's per-request arrival log. */
export async function arrivals(sinkUrl) {
  return (await http(`${sinkUrl}/_sink/arrivals`)).json;
}

/** POST /_sink/<kind>?query; throws unless 200. */
export async function arm(sinkUrl, kind, q = {}) {
  const r = await http(`${sinkUrl}/_sink/${kind}?${new URLSearchParams(q)}`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`arming ${kind} ${JSON.stringify(q)}: ${r.status} ${r.text}`);
  return r.json;
}

/** Signs a TLS client certificate (clientAuth) with the test CA made by testca.mjs; returns {cert, key}. */
export function makeClientCert(ca, name = 'client') {
  const d = ca.dir;
  const run = (args) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=llmgw-exporter-${name}`]);
  fs.writeFileSync(path.join(d, `${name}.ext`), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  return { cert: path.join(d, `${name}.pem`), key: path.join(d, `${name}.key`) };
}

/** Path of nghttpx (Debian nghttp2-proxy, see deploy/deps.sh), or null. */
export function nghttpxPath() {
  const dirs = [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const p = path.join(d || '.', 'nghttpx');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

/**
 * nghttpx on a free port: TLS frontend with ca's server certificate
 * (ALPN h2 and http/1.1), plain HTTP/1.1 backend = the sink. With
 * verifyClient the handshake requires a client certificate signed by ca.
 * The access log (<dir>/<name>.access) has one line per request:
 * `<alpn> <method> <path> <status>`. Resolves {proc, url, port, accessLog}.
 */
export async function startNghttpx(stack, ca, sinkPort, { verifyClient = false, name = 'nghttpx' } = {}) {
  const port = await freePort();
  const accessLog = path.join(stack.dir, `${name}.access`);
  const args = [
    '--conf=/dev/null', `--frontend=127.0.0.1,${port}`, `--backend=127.0.0.1,${sinkPort}`,
    '--workers=1', '--log-level=INFO', `--errorlog-file=${path.join(stack.dir, `${name}.errorlog`)}`,
    `--accesslog-file=${accessLog}`, '--accesslog-format=$alpn $method $path $status', '--no-ocsp',
    '--backend-read-timeout=60s', '--frontend-read-timeout=60s', '--single-process',
    ca.key, ca.cert,
  ];
  if (verifyClient) args.push('--verify-client', `--verify-client-cacert=${ca.ca}`);
  const h = spawn(nghttpxPath(), args, { dir: stack.dir, name });
  stack.procs.push(h); // stopped (SIGTERM, by pid) with everything else in stack.stopAll()
  await waitFor(async () => {
    if (h.exit) throw new Error(`${name} exited early: ${JSON.stringify(h.exit)}`);
    return portOpen(port);
  }, { timeoutMs: 15000, intervalMs: 100, what: `${name} accepting on 127.0.0.1:${port}` });
  return { proc: h, url: `https://localhost:${port}`, port, accessLog };
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}
