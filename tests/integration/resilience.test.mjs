// SPDX-License-Identifier: Apache-2.0
//
// The gateway must never wait on telemetry: with the exporter killed it
// keeps answering, counts the span records it could not hand over, and
// picks the exporter up again when it comes back on the same socket.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, metric, stop, waitFor } from './lib/stack.mjs';
import { chat, startExporter, startGateway, traceFor } from './lib/llmgw.mjs';

const stack = new Stack('resilience');
let sink, mock, ex, gw;

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  ex = await startExporter(stack, { sinkUrl: sink.url });
  gw = await startGateway(stack, { mockUrl: mock.url });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const spanCounters = async () => {
  const text = await gw.metrics();
  return { sent: metric(text, 'llmgw_spans_sent_total'), dropped: metric(text, 'llmgw_spans_dropped_total') };
};

describe('resilience: exporter down and back', { timeout: 120000 }, () => {
  it('spans flow while the exporter is up (default service.name)', stack.guard(async () => {
    const r = await chat(gw.url, { content: 'warm up' });
    assert.equal(r.status, 200, r.text);
    const { server } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(server.resource['service.name'], 'llmgw-gateway', 'default service.name without OTEL_SERVICE_NAME');
    const c = await spanCounters();
    assert.ok(c.sent >= 2, `llmgw_spans_sent_total counts the 2 records, got ${c.sent}`);
  }));

  it('with the exporter SIGKILLed the gateway answers 20/20 and accounts for every record', stack.guard(async () => {
    const k = await stop(ex.proc, { signal: 'SIGKILL' });
    assert.equal(k.signal, 'SIGKILL', 'exporter was killed');
    const before = await spanCounters();
    for (let i = 0; i < 20; i++) {
      const r = await chat(gw.url, { content: `while down ${i}` });
      assert.equal(r.status, 200, `request ${i + 1}/20 with the exporter down: ${r.text}`);
    }
    // Counters are bumped when the records are handed over, which may trail the response slightly.
    const after = await waitFor(async () => {
      const c = await spanCounters();
      const dropped = c.dropped - before.dropped, sent = c.sent - before.sent;
      return dropped > 0 || dropped + sent >= 40 ? { dropped, sent } : null;
    }, { timeoutMs: 10000, what: 'llmgw_spans_dropped_total to grow, or sent+dropped to account for 40 records' });
    console.log(`# exporter down: ${after.dropped} records dropped, ${after.sent} handed to the socket`);
    assert.ok(after.dropped > 0 || after.dropped + after.sent >= 40,
      `40 records (20 SERVER + 20 CLIENT): dropped +${after.dropped}, sent +${after.sent}`);
    const text = await gw.metrics();
    assert.ok(/llmgw_spans_dropped_total\{reason="pipe_full"\}/.test(text), 'dropped counter has a reason="pipe_full" series');
    assert.equal(gw.proc.exit, null, 'gateway still running');
  }));

  it('a restarted exporter on the same socket gets spans to the sink again', stack.guard(async () => {
    ex = await startExporter(stack, { reuse: ex, name: 'llmgw-exporter-2' });
    // nanomsg reconnects on its own; requests made before it has are dropped, so keep sending until one arrives.
    const ids = [];
    const rid = await waitFor(async () => {
      const r = await chat(gw.url, { content: 'after restart' });
      assert.equal(r.status, 200, r.text);
      ids.push(r.headers.get('x-request-id'));
      const spans = await (await fetch(`${sink.url}/_sink/spans`)).json();
      return spans.find((s) => ids.includes(s.attributes['llmgw.request.id']))?.attributes['llmgw.request.id'];
    }, { timeoutMs: 20000, intervalMs: 300, what: 'spans of a request made after the exporter restart to reach the sink' });
    console.log(`# ${ids.length} request(s) after the restart until spans flowed again`);
    const { spans } = await traceFor(sink.url, rid);
    assert.equal(spans.length, 2, 'SERVER + CLIENT of a post-restart request');
  }));

  it('gateway and restarted exporter exit cleanly on SIGTERM', stack.guard(async () => {
    for (const h of [gw.proc, ex.proc, mock.proc, sink.proc]) {
      const x = await stop(h);
      assert.equal(x.killed, false, `${h.name} did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${h.name} exit status after SIGTERM (signal ${x.signal})`);
      assert.equal(stack.problems(h), '', `${h.name}: sanitizer report`);
    }
  }));
});
