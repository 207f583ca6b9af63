// SPDX-License-Identifier: Apache-2.0
//
// Span records come off a socket anyone on the host (or pod) could write
// to. Every malformed kind must be rejected, counted under its reason, and
// never crash the exporter or reach the backend; good records that follow
// must still be exported.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

import { Stack, bin, metric, stop, waitFor } from './lib/stack.mjs';
import { RES_TENANT, startExporter } from './lib/llmgw.mjs';

const stack = new Stack('badrec');
let sink, ex;

before(stack.guard(async () => {
  sink = await stack.sink();
  ex = await startExporter(stack, { sinkUrl: sink.url });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

/** Runs spanrec-inject; resolves on exit 0, rejects with its stderr otherwise. */
function inject(kind, count = 1) {
  return new Promise((resolve, reject) => {
    execFile(bin('spanrec-inject'), [stack.spansUrl, kind, String(count)], { timeout: 20000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`spanrec-inject ${kind} ${count} failed (${err.code ?? err.signal}): ${stderr}`));
      else resolve();
    });
  });
}

const REJECTED = 'llmgw_exporter_records_rejected_total';
const cases = [
  ['short', 'bad_size'],
  ['bad_size_field', 'bad_size'],
  ['bad_magic', 'bad_magic'],
  ['bad_version', 'bad_version'],
  ['unterminated', 'bad_string'],
  ['bad_kind', 'bad_field'],
  ['zero_trace', 'bad_field'],
];

describe('bad span records', { timeout: 120000 }, () => {
  for (const [kind, reason] of cases) {
    it(`${kind} is rejected as ${reason}`, stack.guard(async () => {
      const before = metric(await ex.metrics(), REJECTED, { reason });
      const otherBefore = metric(await ex.metrics(), REJECTED);
      await inject(kind);
      const now = await waitFor(async () => {
        const v = metric(await ex.metrics(), REJECTED, { reason });
        return v > before ? v : null;
      }, { timeoutMs: 10000, what: `${REJECTED}{reason="${reason}"} to grow after injecting ${kind}` });
      assert.equal(now, before + 1, `one ${kind} record -> exactly one ${reason} rejection`);
      assert.equal(metric(await ex.metrics(), REJECTED), otherBefore + 1, 'no other reason counted it');
      assert.equal(ex.proc.exit, null, 'exporter still running');
    }));
  }

  it('good records after the bad ones reach the sink, enriched, and nothing bad does', stack.guard(async () => {
    await inject('good', 3);
    const spans = await waitFor(async () => {
      const s = await (await fetch(`${sink.url}/_sink/spans`)).json();
      return s.length >= 3 ? s : null;
    }, { timeoutMs: 15000, what: '3 injected good spans at the sink' });
    assert.equal(spans.length, 3, 'exactly the 3 good records were exported');
    const traces = new Set();
    for (const s of spans) {
      assert.equal(s.name, 'inject good');
      assert.equal(s.kind, 3, 'CLIENT');
      assert.equal(s.resource[RES_TENANT], 'inject-tenant', 'tenant_id lifted to the resource');
      assert.equal(s.resource['service.name'], 'llmgw-gateway', 'default service.name');
      assert.equal(s.resource['deployment.environment.name'], 'test');
      assert.equal(s.resource['cloud.region'], 'local-1');
      assert.equal(s.attributes['gen_ai.operation.name'], 'chat');
      assert.equal(s.attributes['gen_ai.request.model'], 'inject-model');
      traces.add(s.trace_id);
    }
    assert.equal(traces.size, 3, 'each good record has its own random trace id');
    // The sink holds the spans before the exporter has read the 200 that
    // makes them count as exported: wait for the counter, don't sample it.
    const text = await waitFor(async () => {
      const t = await ex.metrics();
      return metric(t, 'llmgw_exporter_spans_exported_total') >= 3 ? t : null;
    }, { timeoutMs: 10000, what: 'llmgw_exporter_spans_exported_total to count the 3 spans' });
    assert.ok(metric(text, 'llmgw_exporter_records_received_total') >= 3, 'llmgw_exporter_records_received_total counts them');
  }));

  it('a message of several records (a gateway batch) is split: each record is judged alone', stack.guard(async () => {
    const text0 = await ex.metrics();
    const field0 = metric(text0, REJECTED, { reason: 'bad_field' });
    const size0 = metric(text0, REJECTED, { reason: 'bad_size' });
    const before = (await (await fetch(`${sink.url}/_sink/spans`)).json()).length;
    await inject('batch_mixed', 1); // good, bad_kind, good, 100-byte tail in one message
    const spans = await waitFor(async () => {
      const s = await (await fetch(`${sink.url}/_sink/spans`)).json();
      return s.length >= before + 2 ? s : null;
    }, { timeoutMs: 15000, what: 'the 2 good records of the batch at the sink' });
    assert.equal(spans.length, before + 2, 'exactly the 2 good records of the batch were exported');
    const text = await waitFor(async () => {
      const t = await ex.metrics();
      return metric(t, REJECTED, { reason: 'bad_size' }) > size0 ? t : null;
    }, { timeoutMs: 10000, what: 'the short tail counted as bad_size' });
    assert.equal(metric(text, REJECTED, { reason: 'bad_field' }), field0 + 1, 'the bad_kind record alone is bad_field');
    assert.equal(metric(text, REJECTED, { reason: 'bad_size' }), size0 + 1, 'the short tail alone is bad_size');
  }));

  it('the exporter is still healthy and exits cleanly on SIGTERM', stack.guard(async () => {
    const r = await fetch(`${ex.admin}/healthz`);
    assert.equal(r.status, 200, 'healthz after all the bad input');
    const x = await stop(ex.proc);
    assert.equal(x.killed, false, 'exporter did not exit within 5 s of SIGTERM');
    assert.equal(x.code, 0, `exporter exit status after SIGTERM (signal ${x.signal})`);
    assert.equal(stack.problems(ex.proc), '', 'sanitizer report');
  }));
});
