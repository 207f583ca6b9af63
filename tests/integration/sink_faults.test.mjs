// SPDX-License-Identifier: Apache-2.0
//
// otlp-sink's fault modes and delivery tracking, driven directly over HTTP
// (no exporter): the delivery tests rely on each of them doing exactly
// what it says, so each is pinned here on its own — span ids counted with
// duplicates, the arrival log, Retry-After as seconds or an HTTP-date,
// slow answers, dropped connections, partial_success in both encodings,
// and reset disarming everything.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, http, randHex, sinkApi, waitFor } from './lib/stack.mjs';
import { encodeExportRequest } from './lib/otlp-pb.mjs';
import { arm, arrivals } from './lib/delivery.mjs';

const stack = new Stack('sinkfault');
let sink, api;

before(stack.guard(async () => {
  sink = await stack.sink();
  api = sinkApi(sink.url);
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const traceId = randHex(16);
const pbBody = (ids) => encodeExportRequest([{ resource: { 'service.name': 'f' }, scope: { name: 's' }, spans: ids.map((spanId) => ({ traceId, spanId, name: 'x' })) }]);
const jsonBody = (ids) => JSON.stringify({
  resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans: ids.map((spanId) => ({ traceId, spanId, name: 'x', kind: 1 })) }] }],
});
const post = (body, json = false, opts = {}) => http(`${sink.url}/v1/traces`, {
  method: 'POST', headers: { 'content-type': json ? 'application/json' : 'application/x-protobuf' }, body, ...opts,
});

/** Reads protobuf varint at b[i]; returns [value, next index]. */
function varint(b, i) {
  let v = 0n, shift = 0n;
  for (;;) {
    const x = b[i++];
    v |= BigInt(x & 0x7f) << shift;
    if (!(x & 0x80)) return [v, i];
    shift += 7n;
  }
}

/** Decodes ExportTraceServiceResponse {partial_success {rejected_spans, error_message}} by hand. */
function decodePartial(buf) {
  const out = {};
  let [k, i] = varint(buf, 0);
  assert.equal(k, 0x0an, 'field 1 (partial_success), length-delimited');
  let n;
  [n, i] = varint(buf, i);
  const end = i + Number(n);
  while (i < end) {
    [k, i] = varint(buf, i);
    if (k === 0x08n) [out.rejected, i] = varint(buf, i);
    else if (k === 0x12n) {
      [n, i] = varint(buf, i);
      out.message = buf.subarray(i, i + Number(n)).toString('utf8');
      i += Number(n);
    } else throw new Error(`unexpected key ${k}`);
  }
  return out;
}

describe('otlp-sink fault modes and tracking', { timeout: 60000 }, () => {
  it('counts span ids: unique and duplicate spans', stack.guard(async () => {
    await api.reset();
    const [a, b, c] = [randHex(8), randHex(8), randHex(8)];
    assert.equal((await post(pbBody([a, b]))).status, 200);
    assert.equal((await post(jsonBody([b, c]), true)).status, 200);
    const st = await api.stats();
    assert.equal(st.spans, 4);
    assert.equal(st.unique_spans, 3, 'a, b, c');
    assert.equal(st.duplicate_spans, 1, 'b twice');
    const log = await arrivals(sink.url);
    assert.deepEqual(log.map((x) => [x.result, x.status, x.spans]), [['ok', 200, 2], ['ok', 200, 2]]);
    assert.ok(log[1].n > log[0].n && log[1].t_ms >= log[0].t_ms, 'arrivals in order, numbered');
    assert.ok(log.every((x) => x.done_ms >= x.t_ms && x.path === '/v1/traces' && x.bytes > 0));
  }));

  it('fail with retry_after_date answers an IMF-fixdate that many seconds ahead', stack.guard(async () => {
    await api.reset();
    await arm(sink.url, 'fail', { status: 429, count: 1, retry_after_date: 30 });
    const r = await post(pbBody([randHex(8)]));
    assert.equal(r.status, 429);
    const ra = r.headers.get('retry-after');
    assert.match(ra, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const ahead = (Date.parse(ra) - Date.now()) / 1000;
    assert.ok(ahead > 25 && ahead <= 31, `date ${ra} is ~30 s ahead (${ahead.toFixed(1)} s)`);
    assert.equal((await api.stats()).requests, 0, 'a failed export is not recorded');
    const log = await arrivals(sink.url);
    assert.equal(log[0].result, 'fail');
    assert.equal(log[0].retry_after, ra);
    assert.equal((await http(`${sink.url}/_sink/fail?retry_after=1&retry_after_date=2`, { method: 'POST' })).status, 400, 'one kind of Retry-After at a time');
  }));

  it('drop closes the connection without an answer, then exports go through again', stack.guard(async () => {
    await api.reset();
    await arm(sink.url, 'drop', { count: 1 });
    await assert.rejects(post(pbBody([randHex(8)])), 'fetch fails: no HTTP answer');
    assert.equal((await post(pbBody([randHex(8)]))).status, 200, 'the next export is answered');
    const st = await api.stats();
    assert.equal(st.dropped_injected, 1);
    assert.equal(st.unique_spans, 1, 'the dropped export was not recorded');
    assert.deepEqual((await arrivals(sink.url)).map((x) => x.result), ['drop', 'ok']);
  }));

  it('slow holds the next count answers ms milliseconds, then answers normally', stack.guard(async () => {
    await api.reset();
    await arm(sink.url, 'slow', { ms: 300, count: 1 });
    assert.equal((await post(pbBody([randHex(8)]))).status, 200);
    assert.equal((await post(pbBody([randHex(8)]))).status, 200);
    const log = await arrivals(sink.url);
    assert.ok(log[0].done_ms - log[0].t_ms >= 300, `first answer held ${log[0].done_ms - log[0].t_ms} ms`);
    const st = await api.stats();
    assert.equal(st.slowed, 1, 'count=1: only the first answer was held');
    assert.equal(st.unique_spans, 2);
    assert.equal(st.faults.slow, 0, 'used up');
  }));

  it('partial answers 200 with partial_success (protobuf and JSON) and still records the spans', stack.guard(async () => {
    await api.reset();
    await arm(sink.url, 'partial', { rejected: 3, message: 'too old', count: 2 });
    const pb = await fetch(`${sink.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: pbBody([randHex(8)]) });
    assert.equal(pb.status, 200);
    assert.deepEqual(decodePartial(Buffer.from(await pb.arrayBuffer())), { rejected: 3n, message: 'too old' });
    const js = await post(jsonBody([randHex(8)]), true);
    assert.equal(js.status, 200);
    assert.deepEqual(js.json, { partialSuccess: { rejectedSpans: 3, errorMessage: 'too old' } });
    const after = await post(pbBody([randHex(8)]));
    assert.equal(after.text, '', 'count=2 used up: an empty (full success) response');
    const st = await api.stats();
    assert.equal(st.partial_injected, 2);
    assert.equal(st.partial_rejected_spans, 6);
    assert.equal(st.unique_spans, 3);
  }));

  it('reset disarms every fault and answers held exports; bad queries are 400 with a usage line', stack.guard(async () => {
    await arm(sink.url, 'fail', { count: 5 });
    await arm(sink.url, 'partial', { count: 5 });
    await arm(sink.url, 'slow', { ms: 60000 });
    const held = post(pbBody([randHex(8)]), false, { timeoutMs: 30000 }).then((r) => r.status, (e) => e.message);
    await waitFor(async () => (await api.stats()).held === 1, { what: 'the export to be held' });
    await arm(sink.url, 'drop', { count: 5 });
    assert.equal((await api.reset()).status, 200);
    assert.equal(await held, 503, 'the held export is answered 503 on reset');
    const st = await api.stats();
    assert.deepEqual(st.faults, { fail: 0, slow: 0, drop: 0, partial: 0 });
    assert.equal(st.held, 0);
    assert.equal((await post(pbBody([randHex(8)]))).status, 200, 'plain success after reset');
    for (const q of ['slow', 'slow?ms=-1', 'slow?ms=abc', 'drop?count=x', 'partial?rejected=-1', 'fail?status=99']) {
      const r = await http(`${sink.url}/_sink/${q}`, { method: 'POST' });
      assert.equal(r.status, 400, q);
      assert.match(r.json.error, /^usage: POST \/_sink\//, q);
    }
  }));

  it('the sink exits cleanly on SIGTERM', stack.guard(async () => {
    await stack.assertCleanStop();
  }));
});
