// SPDX-License-Identifier: Apache-2.0
//
// The soak (issue 9): mixed traffic for SOAK_SECONDS through the whole
// chain, llmgw-mock -> llmgw-gateway -> llmgw-exporter -> otlp-sink, with
// the resident memory (VmRSS) of the gateway and the exporter sampled
// every second. Run by tests/soak/soak.sh (`make soak`, and a short one in
// `make test`); prints a summary table and exits 0 (pass) or 1 (fail).
//
// Traffic, in a fixed order per 100 requests (reproducible, no randomness):
// 45 chat completions, 25 streamed chats (read to [DONE]), 15 embeddings,
// 8 errors injected by the mock (500, 503, 502, 429 in turn: relayed as
// is, retries off for that model), 4 with an unknown key (401) and 3 with
// a key limited to 12 requests/min (200 until the limit, then 429).
//
// It fails on:
//   * any answer other than the one its kind must get, in particular any
//     5xx the mock was not told to send;
//   * any span lost: gateway records sent = exporter records received =
//     spans exported = unique spans at the sink, and nothing dropped or
//     rejected anywhere;
//   * RSS growth past the bound after warm-up, per process: the highest
//     sample of the last window minus the highest of the first window
//     after warm-up (windows of min(60 s, half the time after warm-up);
//     warm-up min(30 s, a quarter of the run, at least 5 s)). The bound
//     (SOAK_RSS_BOUND_MIB, default 8) is the headroom for what may
//     legitimately move in a steady state: allocator fragmentation,
//     upstream and client connection buffers (at most SOAK_CONCURRENCY
//     connections), batches in flight in the exporter. Everything else is
//     bounded by design (per-request arenas, fixed-size span records, a
//     bounded usage-series table), so growth past it is a leak or an
//     unbounded structure. Under a sanitizer or valgrind RSS is printed,
//     not judged (their allocators keep freed memory on purpose).
//
// Environment: LLMGW_BUILD (binaries), SOAK_SECONDS (default 180),
// SOAK_RATE (requests/s, default 40), SOAK_CONCURRENCY (default 32),
// SOAK_RSS_BOUND_MIB (8), SOAK_OUT (directory for rss.csv and
// summary.txt; default $LLMGW_BUILD/soak).

import fs from 'node:fs';
import path from 'node:path';

import { BUILD, Stack, freePort, http, metric, sha256hex, sleep, stop, waitFor, waitHttp, writeConfig } from '../integration/lib/stack.mjs';
import { MOCK_API_KEY, startExporter } from '../integration/lib/llmgw.mjs';

const num = (v, d) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d);
const SECONDS = num(process.env.SOAK_SECONDS, 180);
const RATE = num(process.env.SOAK_RATE, 40);
const CONCURRENCY = num(process.env.SOAK_CONCURRENCY, 32);
const BOUND_MIB = num(process.env.SOAK_RSS_BOUND_MIB, 8);
const OUT = process.env.SOAK_OUT || path.join(BUILD, 'soak');
const WARMUP = Math.min(30, Math.max(5, SECONDS / 4));
const WINDOW = Math.min(60, (SECONDS - WARMUP) / 2);

const KEY_APP = 'llmgw-soak-app-5e1c9a7b3d20f4';
const KEY_LIMITED = 'llmgw-soak-limited-0b8d2e6f1a93c7';
const KEY_UNKNOWN = 'llmgw-soak-unknown-7a2f9c0e4b61d8';
const INJECTED = [500, 503, 502, 429];

const stack = new Stack('soak');

function gatewayYaml(port, mockUrl) {
  return `server: { listen: 127.0.0.1:${port}, max_body: 1MiB }
telemetry: { spans_url: "${stack.spansUrl}" }
log: { level: warn }
auth: { enabled: true }
keys:
  - { name: soak-app, sha256: ${sha256hex(KEY_APP)}, tenant_id: soak, team: load, user: soaker }
  - { name: soak-limited, sha256: ${sha256hex(KEY_LIMITED)}, tenant_id: soak-limited, limits: { requests_per_minute: 12 } }
providers:
  - { name: local, type: openai, base_url: "${mockUrl}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 30s }
  - { name: flaky, type: openai, base_url: "${mockUrl}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 30s }
models:
  - { name: gpt-4o-mini, targets: [ { provider: local, model: gpt-4o-mini } ] }
  - { name: flaky, targets: [ { provider: flaky, model: gpt-4o-mini } ], retry: { max_attempts: 1 }, cooldown: { failures: 0 } }
  - { name: text-embedding-3-small, targets: [ { provider: local, model: text-embedding-3-small } ] }
`;
}

/** The i-th request of the fixed mix: {kind, url, headers, body, expect(status, text) -> problem or null}. */
function request(gwUrl, i) {
  const slot = i % 100;
  const words = Array.from({ length: 5 + (i % 40) }, (_, k) => `w${(i + k) % 97}`).join(' ');
  const auth = { authorization: `Bearer ${KEY_APP}`, 'content-type': 'application/json' };
  const chatUrl = `${gwUrl}/v1/chat/completions`;
  const msg = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: words }] };
  const is = (want) => (s) => (s === want ? null : `want ${want}`);
  if (slot < 45) return { kind: 'chat', url: chatUrl, headers: auth, body: msg, expect: is(200) };
  if (slot < 70) {
    return {
      kind: 'stream', url: chatUrl, headers: auth, body: { ...msg, stream: true },
      expect: (s, text) => (s !== 200 ? 'want 200' : text.endsWith('data: [DONE]\n\n') ? null : 'stream did not end with [DONE]'),
    };
  }
  if (slot < 85) {
    return { kind: 'embeddings', url: `${gwUrl}/v1/embeddings`, headers: auth, body: { model: 'text-embedding-3-small', input: words }, expect: is(200) };
  }
  if (slot < 93) {
    const st = INJECTED[slot % INJECTED.length];
    return { kind: 'injected', injected: st, url: chatUrl, headers: { ...auth, 'x-mock-status': String(st) }, body: { ...msg, model: 'flaky' }, expect: is(st) };
  }
  if (slot < 97) return { kind: 'unauthorized', url: chatUrl, headers: { ...auth, authorization: `Bearer ${KEY_UNKNOWN}` }, body: msg, expect: is(401) };
  return {
    kind: 'limited', url: chatUrl, headers: { ...auth, authorization: `Bearer ${KEY_LIMITED}` }, body: msg,
    expect: (s) => (s === 200 || s === 429 ? null : 'want 200 or 429'),
  };
}

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function sanitized(pid) {
  if (process.env.LLMGW_WRAP) return true;
  try {
    return /libasan|libclang_rt\.asan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch {
    return false;
  }
}

/** Drives the traffic at RATE with at most CONCURRENCY in flight; resolves the tallies. */
async function drive(gwUrl, t0, onSample) {
  const tally = { byKind: {}, byStatus: {}, problems: 0, firstProblems: [], unexpected5xx: 0, late: 0, sent: 0 };
  const inflight = new Set();
  const one = async (q) => {
    let status, text = '';
    try {
      const res = await fetch(q.url, { method: 'POST', headers: q.headers, body: JSON.stringify(q.body), signal: AbortSignal.timeout(30000) });
      status = res.status;
      text = await res.text();
    } catch (e) {
      status = `error: ${e.message}`;
    }
    const k = (tally.byKind[q.kind] ??= { n: 0, statuses: {} });
    k.n++;
    k.statuses[status] = (k.statuses[status] ?? 0) + 1;
    tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
    const p = typeof status === 'number' ? q.expect(status, text) : 'no answer';
    if (p !== null && tally.problems++ < 5) tally.firstProblems.push(`${q.kind} #${q.i}: got ${status} (${p}): ${text.slice(0, 200)}`);
    if (typeof status === 'number' && status >= 500 && q.injected !== status) tally.unexpected5xx++;
  };
  const sampler = setInterval(onSample, 1000);
  try {
    for (let i = 0; Date.now() - t0 < SECONDS * 1000; i++) {
      const due = t0 + (i * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
      else if (Date.now() - due > 1000) tally.late++;
      while (inflight.size >= CONCURRENCY) await Promise.race(inflight);
      const q = { ...request(gwUrl, i), i };
      const p = one(q).finally(() => inflight.delete(p));
      inflight.add(p);
      tally.sent++;
    }
    await Promise.all(inflight);
  } finally {
    clearInterval(sampler);
  }
  return tally;
}

/** Waits until every record the gateway sent was received, exported and is at the sink. */
async function accountSpans(gwUrl, ex, sinkUrl) {
  const read = async () => {
    const g = (await http(`${gwUrl}/metrics`)).text;
    const e = await ex.metrics();
    const s = (await http(`${sinkUrl}/_sink/stats`)).json;
    return {
      gwSent: metric(g, 'llmgw_spans_sent_total'), gwDropped: metric(g, 'llmgw_spans_dropped_total'),
      exReceived: metric(e, 'llmgw_exporter_records_received_total'), exRejected: metric(e, 'llmgw_exporter_records_rejected_total'),
      exExported: metric(e, 'llmgw_exporter_spans_exported_total'), exDropped: metric(e, 'llmgw_exporter_spans_dropped_total'),
      sinkSpans: s.spans, sinkUnique: s.unique_spans,
    };
  };
  let last;
  try {
    return await waitFor(async () => {
      last = await read();
      const c = last;
      return c.gwSent === c.exReceived && c.exReceived === c.exExported && c.exExported === c.sinkUnique ? c : null;
    }, { timeoutMs: 60000, intervalMs: 500, what: 'gateway sent = exporter received = exported = sink' });
  } catch {
    return { ...last, settled: false };
  }
}

/** Window maxima and growth of one process's samples [{t (s since start), kib}]. */
function rssVerdict(samples) {
  const inWin = (a, b) => samples.filter((s) => s.t >= a && s.t < b && Number.isFinite(s.kib)).map((s) => s.kib);
  const max = (xs) => (xs.length ? Math.max(...xs) : NaN);
  const warm = max(inWin(0, WARMUP));
  const first = max(inWin(WARMUP, WARMUP + WINDOW));
  const last = max(inWin(SECONDS - WINDOW, SECONDS + 1));
  // Least-squares slope after warm-up, for information (KiB per minute).
  const pts = samples.filter((s) => s.t >= WARMUP && Number.isFinite(s.kib));
  let slope = NaN;
  if (pts.length > 2) {
    const mt = pts.reduce((a, s) => a + s.t, 0) / pts.length, mk = pts.reduce((a, s) => a + s.kib, 0) / pts.length;
    const num_ = pts.reduce((a, s) => a + (s.t - mt) * (s.kib - mk), 0), den = pts.reduce((a, s) => a + (s.t - mt) ** 2, 0);
    slope = den > 0 ? (num_ / den) * 60 : NaN;
  }
  return { warm, first, last, growth: (last - first) / 1024, slope };
}

const secs = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
const mib = (k) => (Number.isFinite(k) ? (k / 1024).toFixed(1) : '-');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function summary({ tally, spans, verdicts, judged, elapsed, failures }) {
  const L = [];
  L.push(`soak: ${SECONDS} s at ${RATE} req/s (max ${CONCURRENCY} in flight): ${tally.sent} requests in ${elapsed.toFixed(1)} s` +
    (tally.late ? `, ${tally.late} started over 1 s late (machine busy)` : ''));
  L.push('');
  L.push(`${pad('kind', 14)}${lpad('requests', 10)}  statuses`);
  for (const [k, v] of Object.entries(tally.byKind)) L.push(`${pad(k, 14)}${lpad(v.n, 10)}  ${JSON.stringify(v.statuses)}`);
  L.push(`${pad('5xx not injected', 18)}${lpad(tally.unexpected5xx, 6)}`);
  L.push('');
  L.push(`${pad('RSS (MiB)', 34)}${lpad('gateway', 10)}${lpad('exporter', 10)}`);
  const row = (name, f) => L.push(`${pad(name, 34)}${lpad(f(verdicts.gw), 10)}${lpad(f(verdicts.ex), 10)}`);
  row(`max during warm-up (0-${secs(WARMUP)} s)`, (v) => mib(v.warm));
  row(`max first window (${secs(WARMUP)}-${secs(WARMUP + WINDOW)} s)`, (v) => mib(v.first));
  row(`max last window (${secs(SECONDS - WINDOW)}-${secs(SECONDS)} s)`, (v) => mib(v.last));
  row(`growth (bound ${BOUND_MIB}${judged ? '' : ', not judged'})`, (v) => (Number.isFinite(v.growth) ? v.growth.toFixed(2) : '-'));
  row('slope after warm-up (KiB/min)', (v) => (Number.isFinite(v.slope) ? v.slope.toFixed(0) : '-'));
  L.push('');
  L.push(`spans: gateway sent ${spans.gwSent} (dropped ${spans.gwDropped}) | exporter received ${spans.exReceived} ` +
    `(rejected ${spans.exRejected}), exported ${spans.exExported} (dropped ${spans.exDropped}) | sink ${spans.sinkUnique} unique` +
    ` (${spans.sinkSpans - spans.sinkUnique} duplicates)`);
  L.push('');
  L.push(failures.length ? `soak: FAIL\n  ${failures.join('\n  ')}` : 'soak: PASS');
  return L.join('\n');
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const sink = await stack.sink();
  const mock = await stack.mock();
  const ex = await startExporter(stack, { sinkUrl: sink.url });
  const port = await freePort();
  const cfg = writeConfig(stack.dir, 'llmgw-gateway.yaml', gatewayYaml(port, mock.url));
  const gwProc = stack.start('llmgw-gateway', ['-c', cfg], { name: 'llmgw-gateway', env: { MOCK_API_KEY } });
  const gwUrl = `http://127.0.0.1:${port}`;
  await waitHttp(`${gwUrl}/healthz`, { proc: gwProc });

  const samples = { gw: [], ex: [] };
  const t0 = Date.now();
  const csv = fs.createWriteStream(path.join(OUT, 'rss.csv'));
  csv.write('t_s,gateway_kib,exporter_kib\n');
  const tally = await drive(gwUrl, t0, () => {
    const t = (Date.now() - t0) / 1000, g = rssKiB(gwProc.pid), e = rssKiB(ex.proc.pid);
    samples.gw.push({ t, kib: g });
    samples.ex.push({ t, kib: e });
    csv.write(`${t.toFixed(1)},${g},${e}\n`);
  });
  csv.end();
  const elapsed = (Date.now() - t0) / 1000;
  const spans = await accountSpans(gwUrl, ex, sink.url);
  const verdicts = { gw: rssVerdict(samples.gw), ex: rssVerdict(samples.ex) };
  const judged = !sanitized(gwProc.pid) && !sanitized(ex.proc.pid);

  const failures = [];
  if (tally.problems > 0) failures.push(`${tally.problems} answer(s) not what their kind must get; first: ${tally.firstProblems.join(' | ')}`);
  if (tally.unexpected5xx > 0) failures.push(`${tally.unexpected5xx} 5xx the mock was not told to send`);
  if (spans.settled === false) failures.push('spans lost: gateway sent, exporter received, exported and sink counts never agreed within 60 s');
  if (spans.gwDropped || spans.exRejected || spans.exDropped) failures.push('records dropped or rejected on the way');
  if (!(spans.gwSent > 0)) failures.push('no span sent at all');
  if (judged) {
    for (const [who, v] of Object.entries(verdicts)) {
      if (!Number.isFinite(v.growth)) failures.push(`${who}: not enough RSS samples`);
      else if (v.growth > BOUND_MIB) failures.push(`${who}: RSS grew ${v.growth.toFixed(2)} MiB after warm-up (bound ${BOUND_MIB} MiB)`);
    }
  }
  for (const h of [gwProc, ex.proc, mock.proc, sink.proc]) {
    const x = await stop(h);
    if (x.killed || x.code !== 0) failures.push(`${h.name}: exit ${JSON.stringify(x)} after SIGTERM`);
    const p = stack.problems(h);
    if (p) failures.push(`${h.name}: sanitizer report: ${p.slice(0, 400)}`);
  }
  const text = summary({ tally, spans, verdicts, judged, elapsed, failures });
  console.log(text);
  fs.writeFileSync(path.join(OUT, 'summary.txt'), `${text}\n`);
  if (failures.length) console.log(`(process logs kept in ${stack.dir})`);
  else stack.cleanup();
  return failures.length ? 1 : 0;
}

// Stopped from outside (soak.sh's time limit, ^C): stop what was started, then fail.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => {
    console.log(`soak: FAIL (${sig}; process logs in ${stack.dir})`);
    await stack.stopAll();
    process.exit(1);
  });
}

main().then((rc) => process.exit(rc), async (e) => {
  console.error(`soak: ${e.stack || e}`);
  await stack.stopAll();
  console.log(`soak: FAIL (process logs in ${stack.dir})`);
  process.exit(1);
});
