// SPDX-License-Identifier: Apache-2.0
//
// The exporter's delivery promise (issue 6), tested from the backend's
// side of the wire: otlp-sink stages outages, throttling, slowness,
// dropped connections and partial acceptance; spanrec-inject feeds span
// records straight into the exporter (no gateway); the tests count what
// arrived by span id (duplicates are allowed: delivery is at least once)
// and read the exporter's /metrics for what it says it did.
//
// Every process binds 127.0.0.1, on free ports; each test starts its own
// exporter (own socket, config and queue dir) and stops it by pid. Waits
// are bounded polls; the only time comparisons are the lower bounds the
// protocol requires (Retry-After), read from the sink's arrival log.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { Stack, bin, freePort, http, metric, sinkApi, sleep, stop, waitFor, waitHttp, writeConfig } from './lib/stack.mjs';
import { MOCK_API_KEY, chat, gatewayYaml } from './lib/llmgw.mjs';
import { makeTestCa } from './lib/testca.mjs';
import {
  M, arm, arrivals, dirBytes, inject, makeClientCert, nghttpxPath, nowNs, segments, spansBetween,
  startDeliveryExporter, startNghttpx, stoppedLine, vmRssKiB, waitQueued,
} from './lib/delivery.mjs';

const stack = new Stack('delivery');
let sink, api;

before(stack.guard(async () => {
  sink = await stack.sink();
  api = sinkApi(sink.url);
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

/** A fresh sink state for each test: no spans, no armed faults, no arrivals. */
async function freshSink() {
  const r = await api.reset();
  assert.equal(r.status, 200, 'sink reset');
}

const endpoint = () => `${sink.url}/v1/traces`;

/** Waits until the sink has seen n distinct span ids; returns its stats. */
async function waitUnique(n, { timeoutMs = 30000, what = '' } = {}) {
  return waitFor(async () => {
    const s = await api.stats();
    return s.unique_spans >= n ? s : null;
  }, { timeoutMs, intervalMs: 100, what: `${n} distinct span ids at the sink${what ? ` (${what})` : ''}` });
}

/** Stops an exporter with SIGTERM; returns {code, signal, killed}. */
const stopEx = (ex) => stop(ex.proc, { killAfterMs: 15000 });

const allDropped = async (ex) => ex.m(M.dropped);

// How much an exporter's RSS may grow while its queue is full. The queue's
// bodies are bounded (disk: only the index in memory; memory queue: 10
// batches here), so growth beyond allocator noise means a leak or an
// unbounded buffer. ASan keeps freed memory in quarantine (256 MiB by
// default) and valgrind has its own overhead: a looser bound there.
const RSS_GROWTH_KIB = (process.env.ASAN_OPTIONS || process.env.LLMGW_WRAP ? 384 : 64) * 1024;

describe('exporter delivery (otlp-sink on command)', { timeout: 600000 }, () => {
  it('503 for a while, a dropped connection, then recovery: every span delivered (counted by span id)', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 503, count: 4 });
    await arm(sink.url, 'drop', { count: 1 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-503', endpoint: endpoint() });
    await inject(ex.spansUrl, 50);
    const st = await waitUnique(50, { what: 'after 1 dropped connection and 4 x 503' });
    assert.equal(st.unique_spans, 50, 'exactly the 50 injected span ids');
    assert.equal(st.dropped_injected, 1, 'the sink dropped one connection unanswered');
    assert.equal(st.failed_injected, 4, 'the sink answered 4 exports with 503');
    const ids = new Set((await api.spans()).map((s) => s.span_id));
    assert.equal(ids.size, 50, 'the stored spans carry 50 distinct span ids');
    await waitFor(async () => (await ex.m(M.exported)) >= 50, { what: 'spans_exported_total to reach 50' });
    assert.equal(await allDropped(ex), 0, 'nothing dropped');
    assert.ok((await ex.m(M.retries)) >= 5, `at least 5 retries (1 drop + 4 x 503), got ${await ex.m(M.retries)}`);
    assert.ok((await ex.m(M.requests, { result: 'retry' })) >= 5, 'export_requests_total{result="retry"} counts them');
    const x = await stopEx(ex);
    assert.equal(x.code, 0, `exit status after SIGTERM with nothing pending (signal ${x.signal})`);
  }));

  it('slow answers past export.timeout: retried, every span delivered, re-sends show as duplicates', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'slow', { ms: 1500, count: 2 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-slow', endpoint: endpoint(), timeout: '500ms', concurrency: 1 });
    await inject(ex.spansUrl, 20);
    await waitFor(async () => (await ex.m(M.exported)) >= 20, { timeoutMs: 30000, what: 'spans_exported_total to reach 20' });
    const st = await api.stats();
    assert.equal(st.unique_spans, 20, '20 distinct span ids');
    assert.ok(st.slowed >= 1, 'the sink held at least one answer');
    assert.ok((await ex.m(M.retries)) >= 1, 'the attempt that passed export.timeout was retried (retries_total)');
    console.log(`# slow backend: ${st.spans} spans received for 20 ids (${st.duplicate_spans} duplicates from timed-out attempts)`);
    assert.equal(await allDropped(ex), 0, 'nothing dropped');
    await stopEx(ex);
  }));

  it('429 with Retry-After: 2 -> the next attempt comes at least 2 s later', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 429, count: 1, retry_after: '2' });
    const ex = await startDeliveryExporter(stack, { name: 'ex-429', endpoint: endpoint(), concurrency: 1 });
    await inject(ex.spansUrl, 1);
    await waitUnique(1);
    const log = await arrivals(sink.url);
    const i = log.findIndex((a) => a.result === 'fail' && a.status === 429);
    assert.ok(i >= 0 && i + 1 < log.length, `a 429 then another attempt in the arrival log: ${JSON.stringify(log)}`);
    assert.equal(log[i].retry_after, '2');
    // Measured from when the sink answered to when the next request arrived: the
    // exporter's own wait is shorter by the answer's trip, never longer. 5 ms of
    // slack for timer granularity.
    const gap = log[i + 1].t_ms - log[i].done_ms;
    console.log(`# 429 Retry-After: 2 -> next attempt ${gap.toFixed(1)} ms later (backoff alone: 100 ms)`);
    assert.ok(gap >= 1995, `next attempt only ${gap.toFixed(1)} ms after the 429 with Retry-After: 2`);
    await stopEx(ex);
  }));

  it('503 with Retry-After as an HTTP-date -> honoured', stack.guard(async () => {
    await freshSink();
    // Date = now + 3 s, whole seconds: the wait it asks for is between 2 and 3 s,
    // well past the backoff alone (100 ms, at most 750 ms with jitter).
    await arm(sink.url, 'fail', { status: 503, count: 1, retry_after_date: 3 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-date', endpoint: endpoint(), concurrency: 1 });
    await inject(ex.spansUrl, 1);
    await waitUnique(1);
    const log = await arrivals(sink.url);
    const i = log.findIndex((a) => a.result === 'fail');
    assert.ok(i >= 0 && i + 1 < log.length, `a 503 then another attempt: ${JSON.stringify(log)}`);
    assert.match(log[i].retry_after, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, 'IMF-fixdate sent');
    const gap = log[i + 1].t_ms - log[i].done_ms;
    console.log(`# Retry-After: ${log[i].retry_after} -> next attempt ${gap.toFixed(1)} ms later`);
    assert.ok(gap >= 1900, `next attempt ${gap.toFixed(1)} ms after a Retry-After date 2-3 s ahead`);
    await stopEx(ex);
  }));

  it('400 -> the batch is dropped and counted, never retried', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 400, count: 1 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-400', endpoint: endpoint(), concurrency: 1 });
    await inject(ex.spansUrl, 1);
    await waitFor(async () => (await ex.m(M.dropped, { reason: 'rejected_by_backend' })) >= 1,
      { what: 'spans_dropped_total{reason="rejected_by_backend"} to count the span' });
    // A later batch goes through: had the first been kept for a retry it would
    // have gone first (released entries keep their place in the queue).
    await inject(ex.spansUrl, 2);
    await waitUnique(2);
    const log = await arrivals(sink.url);
    assert.deepEqual(log.map((a) => a.result), ['fail', 'ok'], `one refused attempt, then the next batch: ${JSON.stringify(log)}`);
    assert.equal((await api.stats()).unique_spans, 2, 'only the second batch reached the sink');
    assert.equal(await ex.m(M.dropped, { reason: 'rejected_by_backend' }), 1);
    assert.equal(await ex.m(M.retries), 0, 'retries_total stays 0');
    assert.equal(await ex.m(M.requests, { result: 'drop' }), 1, 'export_requests_total{result="drop"} = 1');
    assert.match(fs.readFileSync(ex.proc.errPath, 'utf8'), /event=export_rejected[^\n]*400/, 'export_rejected logged with the status');
    await stopEx(ex);
  }));

  it('partial_success -> logged and its rejected spans counted', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'partial', { rejected: 2, message: 'two spans too old', count: 1 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-partial', endpoint: endpoint(), concurrency: 1 });
    await inject(ex.spansUrl, 5);
    await waitUnique(5);
    await waitFor(async () => (await ex.m(M.dropped, { reason: 'partial_success' })) >= 2,
      { what: 'spans_dropped_total{reason="partial_success"} = 2' });
    assert.equal(await ex.m(M.dropped, { reason: 'partial_success' }), 2);
    assert.equal(await ex.m(M.retries), 0, 'a partial success is not retried');
    assert.equal((await api.stats()).partial_injected, 1);
    const logs = fs.readFileSync(ex.proc.errPath, 'utf8');
    assert.match(logs, /event=export_partial_success[^\n]*rejected_spans=2/, 'export_partial_success logged with the count');
    assert.match(logs, /two spans too old/, 'and with the backend message');
    await stopEx(ex);
  }));

  it('kill -9 while the backend is down (disk queue), restart -> the queued spans are delivered', stack.guard(async () => {
    await freshSink();
    const dir = path.join(stack.dir, 'q-kill');
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-kill', endpoint: endpoint(), queue: { dir } });
    await inject(ex.spansUrl, 30);
    await waitQueued(ex, 30);
    await waitFor(async () => (await api.stats()).failed_injected >= 1, { what: 'the exporter to have tried the down backend' });
    const k = await stop(ex.proc, { signal: 'SIGKILL' });
    assert.equal(k.signal, 'SIGKILL');
    assert.ok(segments(dir).length >= 1, 'a segment file is left in queue.dir');
    await freshSink(); // the backend is back
    const ex2 = await startDeliveryExporter(stack, { reuse: ex });
    const st = await waitUnique(30, { what: 'replayed after kill -9' });
    assert.equal(st.unique_spans, 30, 'the 30 queued span ids, no others');
    assert.equal(await ex2.m(M.replayed), 30, 'queue_replayed_spans_total = 30');
    assert.match(fs.readFileSync(ex2.proc.errPath, 'utf8'), /event=queue_replayed[^\n]*spans=30/, 'replay logged');
    await waitFor(async () => (await ex2.m(M.queueBatches)) === 0, { what: 'the queue to empty' });
    const x = await stopEx(ex2);
    assert.equal(x.code, 0, 'clean exit once delivered');
  }));

  it('a corrupt segment and a garbage file on start: skipped and counted, the rest delivered', stack.guard(async () => {
    await freshSink();
    const dir = path.join(stack.dir, 'q-corrupt');
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    // Run 1: two batches (7 then 9 spans) in one segment.
    let ex = await startDeliveryExporter(stack, { name: 'ex-corrupt', endpoint: endpoint(), queue: { dir } });
    const t0 = nowNs();
    await inject(ex.spansUrl, 7);
    await waitQueued(ex, 7);
    const t1 = nowNs();
    await inject(ex.spansUrl, 9);
    await waitQueued(ex, 16);
    await stop(ex.proc, { signal: 'SIGKILL' });
    // Run 2: one more batch (10 spans), in a new segment (never appended to a replayed one).
    ex = await startDeliveryExporter(stack, { reuse: ex });
    const t2 = nowNs();
    await inject(ex.spansUrl, 10);
    await waitQueued(ex, 10);
    await stop(ex.proc, { signal: 'SIGKILL' });
    const segs = segments(dir);
    assert.ok(segs.length >= 2, `two segments expected, found ${segs.map((s) => path.basename(s))}`);
    // Flip one byte in the first entry's body (entry header: 40 bytes).
    const buf = fs.readFileSync(segs[0]);
    assert.ok(buf.length > 60, 'first segment has an entry with a body');
    buf[50] ^= 0xff;
    fs.writeFileSync(segs[0], buf);
    fs.writeFileSync(path.join(dir, '00000000deadbeef.seg'), Buffer.from('this is not a queue segment\n'.repeat(20)));
    await freshSink();
    ex = await startDeliveryExporter(stack, { reuse: ex });
    // The 9- and 10-span batches arrive; the 7-span one is lost to the flipped byte.
    await waitUnique(19, { what: 'the intact entries after the corrupt one' });
    await waitFor(async () => (await ex.m(M.queueBatches)) === 0, { what: 'the queue to empty' });
    const spans = await api.spans();
    assert.equal(spansBetween(spans, t0, t1).length, 0, 'the corrupted 7-span batch is not delivered (not even garbled)');
    assert.equal(spansBetween(spans, t1, t2).length, 9, 'the intact 9-span batch behind it is delivered');
    assert.equal(spansBetween(spans, t2).length, 10, 'the 10-span batch of the second segment is delivered');
    const logs = fs.readFileSync(ex.proc.errPath, 'utf8');
    const rep = /event=queue_replayed[^\n]*/.exec(logs)?.[0] ?? '';
    assert.match(rep, /corrupt=[1-9]/, `queue_replayed counts corrupt entries: ${rep}`);
    assert.ok((await ex.m(M.dropped, { reason: 'corrupt_queue' })) >= 7, 'spans_dropped_total{reason="corrupt_queue"} counts the 7 lost spans');
    assert.equal(ex.proc.exit, null, 'the exporter runs on');
    assert.equal(stack.problems(ex.proc), '', 'no sanitizer report');
    await stopEx(ex);
  }));

  it('slow backend under a steady stream: memory and disk bounded, oldest dropped and counted only past the bound', stack.guard(async () => {
    await freshSink();
    const dir = path.join(stack.dir, 'q-bound');
    const MAX = 1024 * 1024, SEG = 64 * 1024, CONC = 1;
    await arm(sink.url, 'slow', { ms: 2000 });
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-bound', endpoint: endpoint(), compression: 'none', timeout: '30s', concurrency: CONC,
      batch: { max_spans: 100, timeout: '50ms' }, queue: { dir, max_bytes: '1MiB', segment_bytes: '64KiB' },
    });
    // Under the bound: nothing dropped.
    await inject(ex.spansUrl, 300);
    await waitQueued(ex, 300);
    assert.equal(await ex.m(M.dropped, { reason: 'queue_full' }), 0, 'no queue_full drop while under queue.max_bytes');
    const rss0 = vmRssKiB(ex.proc.pid);
    // A steady stream far past the bound while the backend takes one batch per 2 s.
    const samples = { rss: rss0, disk: 0, qbytes: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.rss = Math.max(samples.rss, vmRssKiB(ex.proc.pid));
        samples.disk = Math.max(samples.disk, dirBytes(dir));
        try { samples.qbytes = Math.max(samples.qbytes, await ex.m(M.queueBytes)); } catch { /* admin busy */ }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let total = 300, tLast = 0n;
    for (let i = 0; i < 16; i++) {
      if (i === 15) tLast = nowNs();
      await inject(ex.spansUrl, 1000);
      total += 1000;
    }
    await waitQueued(ex, total, { timeoutMs: 60000 });
    sampling = false;
    await sampler;
    // Drops happen only at the bound: after them the queue is still full to
    // within about a batch (it was not emptied by over-eager dropping).
    const qt = await ex.metrics();
    const qBytes = metric(qt, M.queueBytes), qBatches = metric(qt, M.queueBatches);
    assert.ok(qBatches > 0 && qBytes > MAX - 2 * (qBytes / qBatches),
      `after the stream the queue holds ${qBytes} B in ${qBatches} batches: full up to the bound (${MAX}) within two batches`);
    const dropped = await ex.m(M.dropped, { reason: 'queue_full' });
    console.log(`# bound: ${total} spans in, ${dropped} dropped as queue_full; max RSS ${samples.rss} KiB (start ${rss0} KiB), ` +
      `max queue dir ${samples.disk} B, max queue_bytes ${samples.qbytes} B (max_bytes ${MAX}, segment ${SEG})`);
    assert.ok(dropped > 0, 'past queue.max_bytes the oldest batches are dropped and counted (queue_full)');
    assert.ok(samples.qbytes <= MAX, `queue_bytes ${samples.qbytes} stays within max_bytes ${MAX}`);
    // dq.h: a segment stays until its last entry is acknowledged, so the
    // directory may pass the bound by one segment per batch in flight (+ the
    // one being written, + the small .ack files and the lock).
    assert.ok(samples.disk <= MAX + (CONC + 1) * SEG + 16 * 1024, `queue dir ${samples.disk} B within max_bytes + ${CONC + 1} segments`);
    assert.ok(samples.rss - rss0 < RSS_GROWTH_KIB, `RSS grew ${samples.rss - rss0} KiB: bodies live on disk, not in memory`);
    // Recovery: every span is accounted for, and the newest ones survived.
    await freshSink();
    await waitFor(async () => (await ex.m(M.queueBatches)) === 0, { timeoutMs: 60000, what: 'the queue to drain once the backend is fast' });
    const t = await ex.metrics();
    const exported = metric(t, M.exported), droppedAll = metric(t, M.dropped);
    assert.equal(metric(t, M.received), total, 'every record received');
    assert.equal(exported + droppedAll, total, `exported ${exported} + dropped ${droppedAll} = received ${total}`);
    const newest = spansBetween(await api.spans(), tLast);
    assert.equal(newest.length, 1000, 'the newest 1000 spans (injected last) were kept and delivered');
    await stopEx(ex);
  }));

  it('memory queue (no queue.dir): bounded by export.max_pending, oldest dropped and counted, RSS bounded', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-memq', endpoint: endpoint(), concurrency: 1, batch: { max_spans: 100, timeout: '50ms' },
      extraExport: '  max_pending: 10\n',
    });
    await inject(ex.spansUrl, 500);
    await waitQueued(ex, 500);
    assert.equal(await ex.m(M.dropped, { reason: 'queue_full' }), 0, 'no drop with 5 batches of 10 allowed');
    assert.equal((await http(`${ex.admin}/readyz`)).status, 200, '/readyz: queue at 50%, failing for < ready_failing_for');
    const rss0 = vmRssKiB(ex.proc.pid);
    let rss = rss0;
    let total = 500;
    for (let i = 0; i < 10; i++) {
      await inject(ex.spansUrl, 1000);
      total += 1000;
      rss = Math.max(rss, vmRssKiB(ex.proc.pid));
    }
    await waitQueued(ex, total, { timeoutMs: 60000 });
    const t = await ex.metrics();
    console.log(`# memory queue: ${total} spans in, ${metric(t, M.dropped, { reason: 'queue_full' })} dropped (queue_full), ` +
      `${metric(t, M.queueBatches)} batches queued, RSS ${rss0} -> ${rss} KiB`);
    assert.ok(metric(t, M.queueBatches) <= 10, 'at most max_pending batches held');
    const rz = await http(`${ex.admin}/readyz`);
    assert.equal(rz.status, 503, '/readyz 503 while the queue is over admin.ready_queue_percent (80)');
    assert.match(rz.text, /^not ready: queue \d+% full \(limit 80%\)/, `reason given: ${rz.text}`);
    assert.ok(metric(t, M.dropped, { reason: 'queue_full' }) >= total - 10 * 100, 'everything past 10 batches dropped and counted');
    assert.ok(rss - rss0 < RSS_GROWTH_KIB, `RSS grew ${rss - rss0} KiB`);
    // SIGTERM with the backend still down: the memory queue is lost, counted, exit status 3.
    const x = await stopEx(ex);
    assert.equal(x.code, 3, `exit status 3 when spans were lost at shutdown (signal ${x.signal})`);
    assert.ok(/event=shutdown_left[^\n]*persisted=false/.test(fs.readFileSync(ex.proc.errPath, 'utf8')) ||
      /event=drain_deadline/.test(fs.readFileSync(ex.proc.errPath, 'utf8')), 'what was left is logged');
    const st = stoppedLine(ex.proc.errPath);
    assert.ok(st, 'event=stopped logged with the counts');
    assert.equal(st.exit_code, 3);
    assert.equal(st.persisted, 0, 'a memory queue persists nothing');
    assert.ok(st.lost >= 1 && st.lost <= 10 * 100, `lost = what the 10-batch queue held: ${st.lost}`);
    assert.equal(st.dropped, metric(t, M.dropped) + st.lost, 'dropped = the queue_full drops before SIGTERM + the shutdown loss');
  }));

  it('SIGTERM with the backend down and a disk queue: exit 4 (left on disk, none lost), delivered by the next run', stack.guard(async () => {
    await freshSink();
    const dir = path.join(stack.dir, 'q-term');
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-term', endpoint: endpoint(), queue: { dir } });
    await inject(ex.spansUrl, 25);
    await waitQueued(ex, 25);
    const x = await stopEx(ex);
    assert.equal(x.killed, false, 'exits within drain_timeout');
    assert.equal(x.code, 4, 'exit 4: what was left is persisted on disk, nothing lost');
    assert.match(fs.readFileSync(ex.proc.errPath, 'utf8'), /event=shutdown_left[^\n]*persisted=true/, 'shutdown_left persisted=true logged');
    assert.deepEqual(stoppedLine(ex.proc.errPath), { exit_code: 4, delivered: 0, persisted: 25, lost: 0, dropped: 0 }, 'event=stopped counts');
    await freshSink();
    const ex2 = await startDeliveryExporter(stack, { reuse: ex });
    const st = await waitUnique(25, { what: 'delivered by the next run' });
    assert.equal(st.unique_spans, 25);
    await waitFor(async () => (await ex2.m(M.queueBatches)) === 0, { what: 'the queue to empty' });
    assert.equal((await stopEx(ex2)).code, 0, 'exit 0: the replayed spans were delivered, nothing left');
    assert.deepEqual(stoppedLine(ex2.proc.errPath), { exit_code: 0, delivered: 25, persisted: 0, lost: 0, dropped: 0 });
  }));

  it('SIGTERM with a full disk queue: the last batch pushes the oldest out -> lost wins over persisted, exit 3', stack.guard(async () => {
    await freshSink();
    const dir = path.join(stack.dir, 'q-both');
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    // Run 1: full 100-span batches (no compression) into a 1 MiB queue until it overflows.
    const q = { dir, max_bytes: '1MiB', segment_bytes: '64KiB' };
    const ex1 = await startDeliveryExporter(stack, {
      name: 'ex-both', endpoint: endpoint(), compression: 'none', concurrency: 1, batch: { max_spans: 100, timeout: '60s' }, queue: q,
    });
    let total = 0;
    for (let i = 0; i < 40 && (await ex1.m(M.dropped, { reason: 'queue_full' })) === 0; i++) {
      await inject(ex1.spansUrl, 500);
      total += 500;
      await waitQueued(ex1, total, { timeoutMs: 60000 });
    }
    assert.ok((await ex1.m(M.dropped, { reason: 'queue_full' })) > 0, `the queue overflowed after ${total} spans`);
    await stop(ex1.proc, { signal: 'SIGKILL' });
    // Run 2 on the full queue, with batches of up to 512 spans: its open batch of
    // 300 is bigger than the room any 100-span batch left, so the flush at SIGTERM
    // must push queued batches out.
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-both2', endpoint: endpoint(), compression: 'none', concurrency: 1, batch: { max_spans: 512, timeout: '60s' }, queue: q,
    });
    const replayed = await ex.m(M.replayed);
    assert.ok(replayed > 0, 'run 2 replayed the full queue');
    await inject(ex.spansUrl, 300);
    await waitFor(async () => (await ex.m(M.openSpans)) === 300, { what: '300 spans in the open batch' });
    assert.equal(await ex.m(M.dropped), 0, 'nothing dropped before SIGTERM in run 2');
    const x = await stopEx(ex);
    assert.equal(x.code, 3, 'exit 3: the flush at SIGTERM dropped queued batches (lost), although the rest stays on disk');
    const st = stoppedLine(ex.proc.errPath);
    assert.ok(st, 'event=stopped logged');
    assert.equal(st.exit_code, 3);
    assert.ok(st.lost >= 100, `lost counts the batches dropped during the drain: ${JSON.stringify(st)}`);
    assert.ok(st.persisted > 0, `persisted counts what stays on disk: ${JSON.stringify(st)}`);
    assert.equal(st.dropped, st.lost, 'every drop of run 2 happened during the drain');
    assert.equal(st.delivered + st.persisted + st.dropped, replayed + 300, 'every span of run 2 accounted for');
    assert.match(fs.readFileSync(ex.proc.errPath, 'utf8'), /event=batch_dropped reason=queue_full/, 'the drop is logged');
    // The next run finds exactly what the stopped line says was persisted.
    await freshSink();
    const ex3 = await startDeliveryExporter(stack, { reuse: ex });
    assert.equal(await ex3.m(M.replayed), st.persisted, 'queue_replayed_spans_total = persisted');
    await waitUnique(st.persisted, { timeoutMs: 60000, what: 'the persisted spans' });
    await waitFor(async () => (await ex3.m(M.queueBatches)) === 0, { what: 'the queue to empty' });
    assert.equal((await stopEx(ex3)).code, 0);
  }));

  it('SIGTERM flushes the open batch and delivers it before exiting 0', stack.guard(async () => {
    await freshSink();
    const ex = await startDeliveryExporter(stack, { name: 'ex-flush', endpoint: endpoint(), batch: { max_spans: 512, timeout: '60s' } });
    await inject(ex.spansUrl, 5);
    await waitFor(async () => (await ex.m(M.openSpans)) === 5, { what: 'the 5 spans waiting in the open batch' });
    assert.equal((await api.stats()).unique_spans, 0, 'nothing sent before batch.timeout');
    const x = await stopEx(ex);
    assert.equal(x.code, 0, 'exit 0: nothing left behind');
    assert.equal((await api.stats()).unique_spans, 5, 'the open batch was flushed and delivered during the drain');
    assert.match(fs.readFileSync(ex.proc.errPath, 'utf8'), /event=drained/, 'drained logged');
  }));

  // The 2,400 records below wait in kernel socket buffers while the exporter is frozen: that
  // needs net.core.{r,w}mem_max of a few MiB (4 MiB on our machines; Linux's default is ~208 KiB).
  const sysMax = (n) => { try { return Number(fs.readFileSync(`/proc/sys/net/core/${n}`, 'utf8')); } catch { return 0; } };
  const bufMax = Math.min(sysMax('rmem_max'), sysMax('wmem_max'));
  const drainSkip = bufMax < 3 * 1024 * 1024 &&
    `net.core.rmem_max/wmem_max ${bufMax} < 3 MiB: the socket buffers cannot hold the records this test freezes in them`;
  it('records still in the PULL socket at SIGTERM are drained and delivered (exporter stopped while the gateway sends)', { skip: drainSkip }, stack.guard(async () => {
    await freshSink();
    // A gateway (built-in mock provider: no upstream) connected to the exporter
    // before it is stopped: while the exporter is frozen its records wait in the
    // socket, more of them than one receive wakeup reads (1024), so most can
    // only reach the sink through the drain at SIGTERM.
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-sockdrain', endpoint: endpoint(), spansUrl: stack.spansUrl, rcvbuf: '8MiB', drainTimeout: '30s',
      batch: { max_spans: 512, timeout: '100ms' },
    });
    const gwPort = await freePort();
    const gwCfg = writeConfig(stack.dir, 'gw-sockdrain.yaml', gatewayYaml({
      port: gwPort, spansUrl: stack.spansUrl, mockUrl: 'http://127.0.0.1:1', deadPort: 1,
    }).replace(/telemetry: \{ spans_url: ("[^"]*") \}/, 'telemetry: { spans_url: $1, sndbuf: 8MiB }'));
    assert.match(fs.readFileSync(gwCfg, 'utf8'), /sndbuf: 8MiB/, 'gateway config carries the larger sndbuf');
    const gw = stack.start('llmgw-gateway', ['-c', gwCfg], { name: 'gw-sockdrain', env: { MOCK_API_KEY } });
    const gwUrl = `http://127.0.0.1:${gwPort}`;
    await waitHttp(`${gwUrl}/healthz`, { proc: gw });
    const gwSent = async () => metric((await http(`${gwUrl}/metrics`)).text, 'llmgw_spans_sent_total');
    const gwDropped = async () => metric((await http(`${gwUrl}/metrics`)).text, 'llmgw_spans_dropped_total');
    // Warm-up: the pipe is connected and records flow.
    assert.equal((await chat(gwUrl, { model: 'builtin-model' })).status, 200);
    await waitFor(async () => (await ex.m(M.received)) >= 1 && (await ex.m(M.received)) === await gwSent(),
      { what: 'the warm-up spans received by the exporter' });
    const warm = await ex.m(M.received);
    process.kill(ex.proc.pid, 'SIGSTOP');
    let sent;
    try {
      const REQ = 1200, PAR = 8;
      let next = 0;
      await Promise.all(Array.from({ length: PAR }, async () => {
        while (next < REQ) {
          next++;
          const r = await chat(gwUrl, { model: 'builtin-model' });
          assert.equal(r.status, 200, r.text);
        }
      }));
      // The gateway hands its last message over within 1 ms of a span; wait until it counts them all.
      await waitFor(async () => (await gwSent()) + (await gwDropped()) >= warm + 2 * REQ, { what: 'the gateway to hand over every span' });
      sent = await gwSent();
      assert.equal(await gwDropped(), 0, 'the socket buffers held every record (no pipe_full drop at the gateway)');
      // One wakeup reads whole messages up to 1024 records (+31); even two of them
      // before the signal's turn leave records that only the drain can read.
      assert.ok(sent - warm > 2 * 1055, `more records wait in the socket (${sent - warm}) than two receive wakeups read`);
      assert.ok((await api.stats()).unique_spans <= warm, 'nothing new reached the sink while the exporter was stopped');
    } finally {
      // SIGTERM first: it is pending when SIGCONT resumes the process, so the
      // drain starts with the records still in the socket.
      process.kill(ex.proc.pid, 'SIGTERM');
      process.kill(ex.proc.pid, 'SIGCONT');
    }
    // No second SIGTERM (stopEx): that would cut the drain short.
    let timer;
    await Promise.race([ex.proc.exited, new Promise((r) => { timer = setTimeout(r, 60000); })]);
    clearTimeout(timer);
    assert.ok(ex.proc.exit, 'the exporter exited within 60 s of SIGTERM');
    assert.equal(ex.proc.exit.code, 0, `exit 0: everything read at SIGTERM was delivered (${JSON.stringify(ex.proc.exit)})`);
    const st = await api.stats();
    assert.equal(st.unique_spans, sent, `every span the gateway sent reached the sink (${st.unique_spans} of ${sent})`);
    const logs = fs.readFileSync(ex.proc.errPath, 'utf8');
    const fin = Number(/event=receive_stopped [^\n]*final_records=(\d+)/.exec(logs)?.[1] ?? -1);
    console.log(`# socket drain: ${sent - warm} records waiting at SIGTERM, ${fin} of them read by the drain`);
    assert.ok(fin > 0, `the drain at SIGTERM read records (final_records=${fin})`);
    assert.deepEqual(stoppedLine(ex.proc.errPath), { exit_code: 0, delivered: sent, persisted: 0, lost: 0, dropped: 0 });
    await stop(gw);
    assert.equal(gw.exit.code, 0, 'the gateway never noticed');
  }));

  it('admin.ready_failing_for: /readyz 503 with the reason while every export fails, 200 again once the backend recovers', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    const ex = await startDeliveryExporter(stack, { name: 'ex-readyfail', endpoint: endpoint(), readyFailingFor: '1s', concurrency: 1 });
    assert.equal((await http(`${ex.admin}/readyz`)).status, 200, 'ready before any export');
    await inject(ex.spansUrl, 5);
    const rz = await waitFor(async () => {
      const r = await http(`${ex.admin}/readyz`);
      return r.status === 503 ? r : null;
    }, { timeoutMs: 20000, intervalMs: 100, what: '/readyz 503 once exports have failed for over 1 s' });
    assert.match(rz.text, /^not ready: exports failing for \d+s \(limit 1s\)/, `reason given: ${rz.text}`);
    assert.ok((await api.stats()).failed_injected >= 2, 'the backend answered 503 to more than one attempt');
    assert.equal((await api.stats()).unique_spans, 0);
    await freshSink(); // the backend recovers
    await waitUnique(5, { what: 'after the recovery' });
    await waitFor(async () => (await http(`${ex.admin}/readyz`)).status === 200, { what: '/readyz 200 again after a success' });
    assert.equal((await http(`${ex.admin}/readyz`)).text, 'ready\n');
    assert.equal(await allDropped(ex), 0, 'nothing dropped (max_elapsed 0)');
    assert.equal((await stopEx(ex)).code, 0);
  }));

  it('retry.max_elapsed against a permanent 503: every span dropped as retry_exhausted, no attempt after, clean exit', stack.guard(async () => {
    await freshSink();
    await arm(sink.url, 'fail', { status: 503, count: 1000000 });
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-exhaust', endpoint: endpoint(), concurrency: 1,
      retry: { initial: '50ms', max: '100ms', max_elapsed: '300ms' },
    });
    await inject(ex.spansUrl, 30);
    await waitFor(async () => (await ex.m(M.dropped, { reason: 'retry_exhausted' })) >= 30,
      { timeoutMs: 20000, what: 'spans_dropped_total{reason="retry_exhausted"} to reach 30' });
    await waitFor(async () => (await ex.m(M.queueBatches)) === 0 && (await ex.m(M.inflight)) === 0, { what: 'an empty queue, nothing in flight' });
    const t1 = await ex.metrics();
    const tries = (await api.stats()).failed_injected;
    assert.ok(tries >= 2, `retried before giving up (${tries} attempts)`);
    // Many backoff periods (50-100 ms) later: no further attempt.
    await sleep(1000);
    const t2 = await ex.metrics();
    assert.equal(metric(t2, M.dropped, { reason: 'retry_exhausted' }), 30, 'exactly the 30 spans sent, each counted once');
    assert.equal(metric(t2, M.dropped), 30, 'no other drop reason');
    assert.equal(metric(t2, M.exported), 0);
    assert.equal(metric(t2, M.requests), metric(t1, M.requests), 'no export attempt after the batch was given up');
    assert.equal((await api.stats()).failed_injected, tries, 'the sink saw no attempt after that either');
    assert.equal(metric(t2, M.requests, { result: 'retry' }), tries, 'every attempt was a retryable failure');
    assert.match(fs.readFileSync(ex.proc.errPath, 'utf8'), /event=batch_dropped reason=retry_exhausted/, 'batch_dropped logged');
    const x = await stopEx(ex);
    assert.equal(x.code, 0, 'exit 0: dropped while running is counted, not left behind');
    assert.deepEqual(stoppedLine(ex.proc.errPath), { exit_code: 0, delivered: 0, persisted: 0, lost: 0, dropped: 30 });
  }));

  it('http/json encoding: the sink decodes OTLP/JSON (hex ids, integer enums)', stack.guard(async () => {
    await freshSink();
    const ex = await startDeliveryExporter(stack, { name: 'ex-json', endpoint: endpoint(), protocol: 'http/json' });
    await inject(ex.spansUrl, 3);
    await waitUnique(3);
    const reqs = await api.requests();
    assert.equal(reqs[0].content_type, 'application/json', 'Content-Type application/json');
    assert.equal(reqs[0].headers['content-encoding'], 'gzip', 'gzipped by default');
    const raw = reqs[0].json.resourceSpans[0].scopeSpans[0].spans[0];
    assert.match(raw.traceId, /^[0-9a-f]{32}$/, 'traceId is lower-case hex in OTLP/JSON');
    assert.match(raw.spanId, /^[0-9a-f]{16}$/, 'spanId is hex');
    assert.equal(raw.kind, 3, 'kind is an integer (CLIENT = 3)');
    assert.equal(typeof raw.startTimeUnixNano, 'string', '64-bit times as decimal strings');
    const spans = await api.spans();
    assert.equal(spans.length, 3);
    for (const s of spans) {
      assert.equal(s.name, 'inject good');
      assert.equal(s.resource.tenant_id, 'inject-tenant', 'tenant on the resource');
    }
    await stopEx(ex);
  }));

  it('batching by span count, estimated bytes and timeout; the batch and latency histograms count them', stack.guard(async () => {
    await freshSink();
    // max_spans 10: 25 spans -> 10, 10, and 5 flushed by batch.timeout.
    const a = await startDeliveryExporter(stack, { name: 'ex-batch-n', endpoint: endpoint(), batch: { max_spans: 10, timeout: '2s' } });
    await inject(a.spansUrl, 25);
    await waitUnique(25);
    await waitFor(async () => (await a.m(`${M.batchSpans}_sum`)) === 25, { what: 'batch_spans_sum = 25' });
    const ta = await a.metrics();
    assert.ok(metric(ta, `${M.batchSpans}_count`) >= 3, 'at least 3 batches for 25 spans at max_spans 10');
    assert.equal(metric(ta, `${M.batchSpans}_bucket`, { le: '10' }), metric(ta, `${M.batchSpans}_count`), 'no batch over max_spans');
    assert.equal(metric(ta, `${M.duration}_count`), metric(ta, M.requests), 'export_duration_seconds counts every attempt');
    assert.equal(metric(ta, M.inflight), 0, 'exports_in_flight back to 0');
    await stopEx(a);
    // max_bytes 4096: every span is estimated at >= 600 bytes, so at most 6 per batch.
    await freshSink();
    const b = await startDeliveryExporter(stack, { name: 'ex-batch-b', endpoint: endpoint(), batch: { max_spans: 512, max_bytes: 4096, timeout: '2s' } });
    await inject(b.spansUrl, 30);
    await waitUnique(30);
    await waitFor(async () => (await b.m(`${M.batchSpans}_sum`)) === 30, { what: 'batch_spans_sum = 30' });
    const tb = await b.metrics();
    assert.ok(metric(tb, `${M.batchSpans}_count`) >= 5, 'at least 5 batches for 30 spans under batch.max_bytes 4096');
    assert.equal(metric(tb, `${M.batchSpans}_bucket`, { le: '10' }), metric(tb, `${M.batchSpans}_count`), 'no batch past max_bytes');
    await stopEx(b);
  }));

  it('tcp:// receive (standalone exporter): two senders at once, every span delivered', stack.guard(async () => {
    await freshSink();
    const ex = await startDeliveryExporter(stack, { name: 'ex-tcp', endpoint: endpoint(), spansUrl: `tcp://127.0.0.1:${await freePort()}` });
    assert.equal((await http(`${ex.admin}/readyz`)).status, 200, '/readyz 200 once bound');
    await Promise.all([inject(ex.spansUrl, 40), inject(ex.spansUrl, 40)]);
    const st = await waitUnique(80, { what: 'from two tcp:// senders' });
    assert.equal(st.unique_spans, 80);
    assert.equal(await ex.m(M.received), 80);
    assert.equal((await stopEx(ex)).code, 0);
  }));

  it('OTEL_* env vars over the file: --check-config shows the effective settings', stack.guard(async () => {
    const cfg = path.join(stack.dir, 'env.yaml');
    fs.writeFileSync(cfg, `receive: { url: "ipc://${stack.dir}/env.sock" }
export:
  endpoint: http://127.0.0.1:1/file/v1/traces
  protocol: http/protobuf
  compression: gzip
  timeout: 7s
  headers: { Authorization: "Basic file-secret", X-File: "1" }
admin: { listen: "" }
`);
    const cases = [
      { name: 'file only', env: {}, want: { endpoint: 'http://127.0.0.1:1/file/v1/traces', endpoint_from: 'file', compression: 'gzip', timeout_ms: '7000', protocol: 'http/protobuf' } },
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT appends /v1/traces', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/base/' }, want: { endpoint: 'http://c:4318/base/v1/traces', endpoint_from: 'OTEL_EXPORTER_OTLP_ENDPOINT' } },
      { name: 'TRACES_ENDPOINT wins, used as is', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom' }, want: { endpoint: 'http://t:4318/custom', endpoint_from: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' } },
      { name: 'empty env var = unset', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' }, want: { endpoint: 'http://127.0.0.1:1/file/v1/traces', endpoint_from: 'file' } },
      { name: 'generic scalars override the file', env: { OTEL_EXPORTER_OTLP_COMPRESSION: 'none', OTEL_EXPORTER_OTLP_TIMEOUT: '1500', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, want: { compression: 'none', timeout_ms: '1500', protocol: 'http/json' } },
      { name: 'per-signal scalars win over generic', env: { OTEL_EXPORTER_OTLP_COMPRESSION: 'none', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TIMEOUT: '1500', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500' }, want: { compression: 'gzip', timeout_ms: '2500' } },
      { name: 'headers merge by name', env: { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Basic%20env-secret,X-Env=2' }, wantHeaders: ['Authorization', 'X-Env', 'X-File'] },
    ];
    for (const c of cases) {
      const out = await checkConfig(cfg, c.env);
      assert.equal(out.code, 0, `${c.name}: --check-config exit 0: ${out.stderr}`);
      const line = /event=config_export ([^\n]*)/.exec(out.stderr)?.[1];
      assert.ok(line, `${c.name}: a config_export line: ${out.stderr}`);
      const kv = Object.fromEntries([...line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]));
      for (const [k, v] of Object.entries(c.want ?? {})) assert.equal(kv[k], v, `${c.name}: ${k}`);
      if (c.wantHeaders) assert.deepEqual(kv.headers.split(',').map((h) => h.toLowerCase()).sort(), c.wantHeaders.map((h) => h.toLowerCase()).sort(), `${c.name}: header names`);
      for (const secret of ['file-secret', 'env-secret']) assert.ok(!out.stderr.includes(secret), `${c.name}: a header value was logged`);
    }
    const bad = await checkConfig(cfg, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    assert.equal(bad.code, 2, 'grpc is a configuration error (exit 2)');
    assert.match(bad.stderr, /env OTEL_EXPORTER_OTLP_PROTOCOL/, 'the error names the variable');
  }));

  it('OTEL_EXPORTER_OTLP_ENDPOINT + HEADERS + SERVICE_NAME redirect a running exporter to the sink', stack.guard(async () => {
    await freshSink();
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-env', endpoint: 'http://127.0.0.1:1/nowhere',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_HEADERS: 'X-Tenant-Token=abc%3D%3D', OTEL_SERVICE_NAME: 'env-svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=loses,k8s.ns=it' },
    });
    await inject(ex.spansUrl, 2);
    await waitUnique(2);
    const reqs = await api.requests();
    assert.equal(reqs[0].path, '/v1/traces', 'the generic endpoint got /v1/traces appended');
    assert.equal(reqs[0].headers['x-tenant-token'], 'abc==', 'header value percent-decoded');
    const s = (await api.spans())[0];
    assert.equal(s.resource['service.name'], 'env-svc', 'OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES');
    assert.equal(s.resource['k8s.ns'], 'it');
    await stopEx(ex);
  }));
});

describe('exporter over HTTP/2 and TLS (nghttpx in front of the sink)', { timeout: 300000, skip: nghttpxPath() ? false : 'nghttpx not installed (deploy/deps.sh installs nghttp2-proxy)' }, () => {
  let ca;
  before(() => {
    ca = makeTestCa(stack.dir);
  });

  it('https endpoint, custom CA: ALPN picks h2, the sink gets the spans', stack.guard(async () => {
    await freshSink();
    const px = await startNghttpx(stack, ca, sink.port);
    const ex = await startDeliveryExporter(stack, { name: 'ex-h2', endpoint: `${px.url}/v1/traces`, caFile: ca.ca, concurrency: 4 });
    await inject(ex.spansUrl, 40);
    await waitUnique(40, { what: 'through nghttpx' });
    const access = await waitFor(() => {
      const t = fs.existsSync(px.accessLog) ? fs.readFileSync(px.accessLog, 'utf8') : '';
      return /POST \/v1\/traces 200/.test(t) ? t : null;
    }, { what: 'nghttpx access log lines' });
    const lines = access.trim().split('\n').filter((l) => l.includes('/v1/traces'));
    assert.ok(lines.length >= 1);
    for (const l of lines) assert.match(l, /^h2 POST \/v1\/traces 200$/, `every export over h2: ${l}`);
    assert.equal(await allDropped(ex), 0);
    await stopEx(ex);
    await stop(px.proc);
  }));

  it('mTLS: nghttpx requires a client certificate; with export.client_cert the spans arrive, without it they do not', stack.guard(async () => {
    await freshSink();
    const client = makeClientCert(ca);
    const px = await startNghttpx(stack, ca, sink.port, { verifyClient: true, name: 'nghttpx-mtls' });
    const noCert = await startDeliveryExporter(stack, { name: 'ex-nocert', endpoint: `${px.url}/v1/traces`, caFile: ca.ca });
    await inject(noCert.spansUrl, 3);
    await waitFor(async () => (await noCert.m(M.requests, { result: 'retry' })) >= 1, { what: 'the exporter without a client certificate to fail and retry' });
    assert.equal((await api.stats()).unique_spans, 0, 'nothing got through without a client certificate');
    await stop(noCert.proc, { killAfterMs: 5000 });
    const ex = await startDeliveryExporter(stack, {
      name: 'ex-mtls', endpoint: `${px.url}/v1/traces`, caFile: ca.ca, clientCert: client.cert, clientKey: client.key,
    });
    await inject(ex.spansUrl, 5);
    await waitUnique(5, { what: 'over mTLS' });
    const access = fs.readFileSync(px.accessLog, 'utf8');
    assert.match(access, /^h2 POST \/v1\/traces 200$/m, 'over h2');
    await stopEx(ex);
    await stop(px.proc);
  }));
});

describe('clean shutdown', () => {
  it('the sink exits cleanly on SIGTERM; no process left a sanitizer report', stack.guard(async () => {
    const x = await stop(sink.proc);
    assert.equal(x.killed, false);
    assert.equal(x.code, 0);
    for (const h of stack.procs) {
      if (!h.exit) await stop(h);
      assert.equal(stack.problems(h), '', `${h.name}: sanitizer report`);
    }
  }));
});

/** llmgw-exporter -c cfg --check-config with env; resolves {code, stderr}. */
function checkConfig(cfg, env) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return new Promise((resolve) => {
    execFile(bin('llmgw-exporter'), ['-c', cfg, '--check-config'], { env: { ...base, ...env }, timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stderr: `${stdout}${stderr}` });
    });
  });
}
