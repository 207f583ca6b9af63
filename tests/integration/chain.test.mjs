// SPDX-License-Identifier: Apache-2.0
//
// The whole chain on 127.0.0.1: client -> llmgw-gateway -> llmgw-mock, with
// span records -> llmgw-exporter -> otlp-sink. Each case sends one request
// and checks the HTTP answer, what the mock provider received, and the
// spans that reached the sink (docs/span-schema.md is the contract).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Stack, http, mockApi, randHex, sinkApi } from './lib/stack.mjs';
import {
  MOCK_API_KEY, RES_TEAM, RES_TENANT, TEST_AUTH, VKEY_ACME, assertOpenAiError, chat, startExporter, startGateway, traceFor,
} from './lib/llmgw.mjs';

const SERVICE = 'llmgw-it-chain';
const stack = new Stack('chain');
let sink, mock, ex, gw;

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  ex = await startExporter(stack, {
    sinkUrl: sink.url,
    env: { OTEL_SERVICE_NAME: SERVICE, OTEL_RESOURCE_ATTRIBUTES: `k8s.pod.name=it-pod,${RES_TEAM}=static-team` },
  });
  gw = await startGateway(stack, { mockUrl: mock.url });
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const attr = (span, k) => span.attributes[k];

/** The mock's recorded request whose body contains marker. */
async function mockRequestWith(marker) {
  const reqs = await mockApi(mock.url).requests();
  const hit = reqs.filter((r) => r.body.includes(marker));
  assert.equal(hit.length, 1, `the mock should have received exactly one request containing ${marker}, got ${hit.length}`);
  return hit[0];
}

describe('chain: gateway -> mock, spans -> exporter -> sink', { timeout: 120000 }, () => {
  it('(a) a chat request makes one new trace: SERVER + CLIENT spans with GenAI attributes', stack.guard(async () => {
    const marker = `alpha-${randHex(4)}`;
    const r = await chat(gw.url, { content: `hello from the chain ${marker}` });
    assert.equal(r.status, 200, `chat should succeed: ${r.text}`);
    assert.equal(r.json.choices[0].message.content, `hello from the chain ${marker}`, 'answer is the mock echo');
    assert.deepEqual(r.json.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }, 'usage as the mock counted it');
    const rid = r.headers.get('x-request-id');
    assert.ok(rid, 'x-request-id response header');

    const { server, clients, spans } = await traceFor(sink.url, rid);
    assert.equal(spans.length, 2, `exactly 2 spans in the trace, got ${spans.map((s) => `${s.kind}:${s.name}`)}`);
    assert.equal(clients.length, 1, 'one CLIENT span');
    const client = clients[0];
    assert.equal(server.parent_span_id, '', 'no traceparent: the SERVER span is a root');
    assert.equal(client.parent_span_id, server.span_id, 'CLIENT span is the child of the SERVER span');
    assert.match(server.trace_id, /^[0-9a-f]{32}$/);
    assert.match(server.span_id, /^[0-9a-f]{16}$/);
    assert.notEqual(client.span_id, server.span_id);
    assert.equal(server.name, 'chat gpt-4o-mini', 'SERVER span name');
    assert.equal(client.name, 'chat gpt-4o-mini', 'CLIENT span name is op + provider model');

    for (const s of [server, client]) {
      const who = s.kind === 2 ? 'SERVER' : 'CLIENT';
      assert.equal(attr(s, 'gen_ai.operation.name'), 'chat', `${who} gen_ai.operation.name`);
      assert.equal(attr(s, 'gen_ai.request.model'), 'gpt-4o-mini', `${who} gen_ai.request.model`);
      assert.equal(attr(s, 'http.response.status_code'), 200, `${who} http.response.status_code`);
      assert.equal(attr(s, 'llmgw.request.id'), rid, `${who} llmgw.request.id = x-request-id`);
      assert.notEqual(s.status.code, 2, `${who} status must not be ERROR`);
      assert.ok(BigInt(s.end_time_unix_nano) >= BigInt(s.start_time_unix_nano), `${who} end >= start`);
      assert.ok(BigInt(s.start_time_unix_nano) > 1600000000000000000n, `${who} start is unix ns`);
      if (attr(s, 'gen_ai.usage.input_tokens') !== undefined) {
        assert.equal(attr(s, 'gen_ai.usage.input_tokens'), 5, `${who} input tokens`);
        assert.equal(attr(s, 'gen_ai.usage.output_tokens'), 5, `${who} output tokens`);
      }
    }
    assert.equal(attr(client, 'gen_ai.response.model'), 'gpt-4o-mini-mock', 'CLIENT gen_ai.response.model from the mock');
    assert.equal(attr(client, 'gen_ai.usage.input_tokens'), 5, 'CLIENT gen_ai.usage.input_tokens = mock prompt_tokens');
    assert.equal(attr(client, 'gen_ai.usage.output_tokens'), 5, 'CLIENT gen_ai.usage.output_tokens = mock completion_tokens');
    assert.equal(attr(server, 'http.request.method'), 'POST', 'SERVER http.request.method');
    assert.equal(attr(server, 'http.route'), '/v1/chat/completions', 'SERVER http.route');
    assert.equal(attr(client, 'server.address'), '127.0.0.1', 'CLIENT server.address');
    assert.equal(attr(client, 'server.port'), mock.port, 'CLIENT server.port');
    assert.equal(attr(client, 'llmgw.attempt'), 1, 'CLIENT llmgw.attempt');
    assert.equal(attr(client, 'gen_ai.provider.name'), 'openai', 'CLIENT gen_ai.provider.name');
    assert.equal(attr(client, 'gen_ai.response.id')?.startsWith('chatcmpl-mock-'), true, 'CLIENT gen_ai.response.id from the mock');
    assert.deepEqual(attr(client, 'gen_ai.response.finish_reasons'), ['stop'], 'CLIENT finish reasons (string array)');

    // Resource: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the file's static attributes.
    assert.equal(server.resource['service.name'], SERVICE, 'service.name from OTEL_SERVICE_NAME');
    assert.equal(server.resource['deployment.environment.name'], 'test', 'static deployment.environment.name');
    assert.equal(server.resource['cloud.region'], 'local-1', 'static cloud.region');
    assert.equal(server.resource['k8s.pod.name'], 'it-pod', 'from OTEL_RESOURCE_ATTRIBUTES');
    assert.equal(server.resource[RES_TENANT], undefined, 'anonymous request: no tenant_id');
    assert.equal(server.scope.name, 'llmgw', 'instrumentation scope');

    // The export itself: gzip + the configured auth header.
    const reqs = await sinkApi(sink.url).requests();
    const exp = reqs.find((q) => q.resource_spans.some((rs) => rs.spans.some((s) => s.span_id === server.span_id)));
    assert.ok(exp, 'the sink recorded the export carrying the SERVER span');
    assert.equal(exp.headers['content-encoding'], 'gzip', 'export is gzipped');
    assert.equal(exp.content_type, 'application/x-protobuf', 'export is protobuf');
    assert.equal(exp.headers.authorization, `Basic ${TEST_AUTH}`, 'the configured Authorization header with $TEST_AUTH expanded');
    assert.equal(exp.path, '/v1/traces');

    // Prompts and completions are never recorded.
    assert.ok(!JSON.stringify(spans).includes(marker), 'message content must not appear in spans');
  }));

  it('(b) a caller traceparent makes the SERVER span its child; upstream gets the CLIENT span as parent; keys swapped', stack.guard(async () => {
    const traceId = randHex(16), parentId = randHex(8), marker = `beta-${randHex(4)}`;
    const r = await chat(gw.url, {
      content: `traced ${marker}`,
      headers: { traceparent: `00-${traceId}-${parentId}-01`, authorization: `Bearer ${VKEY_ACME}` },
    });
    assert.equal(r.status, 200, r.text);
    const rid = r.headers.get('x-request-id');
    const { server, clients } = await traceFor(sink.url, rid);
    assert.equal(server.trace_id, traceId, 'SERVER span continues the caller trace');
    assert.equal(server.parent_span_id, parentId, 'SERVER span parent is the caller span');
    assert.equal(server.flags, 0x301, 'remote parent: flags = HAS_IS_REMOTE|IS_REMOTE|sampled (0x301)');
    assert.equal(clients.length, 1);
    const client = clients[0];
    assert.equal(client.trace_id, traceId);

    const up = await mockRequestWith(marker);
    const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(up.headers.traceparent ?? '');
    assert.ok(tp, `upstream traceparent well-formed: ${up.headers.traceparent}`);
    assert.equal(tp[1], traceId, 'upstream traceparent keeps the trace id');
    assert.equal(tp[2], client.span_id, 'upstream traceparent parent = CLIENT span id');
    assert.equal(up.headers.authorization, `Bearer ${MOCK_API_KEY}`, 'the provider key from MOCK_API_KEY is injected');
    const seen = JSON.stringify(up);
    assert.ok(!seen.includes(VKEY_ACME), 'the client key must never reach the provider');
    assert.ok(!Object.keys(up.headers).some((h) => h.startsWith('x-llmgw-')), 'x-llmgw-* headers are stripped');
  }));

  it('(c) a virtual key puts tenant_id/team on the resource; anonymous spans get their own ResourceSpans', stack.guard(async () => {
    const [keyed, anon] = await Promise.all([
      chat(gw.url, { content: 'keyed', headers: { authorization: `Bearer ${VKEY_ACME}` } }),
      chat(gw.url, { content: 'anonymous' }),
    ]);
    assert.equal(keyed.status, 200, keyed.text);
    assert.equal(anon.status, 200, anon.text);
    const k = await traceFor(sink.url, keyed.headers.get('x-request-id'));
    const a = await traceFor(sink.url, anon.headers.get('x-request-id'));
    for (const s of k.spans) {
      assert.equal(s.resource[RES_TENANT], 'acme', 'keyed span resource tenant_id');
      assert.equal(s.resource[RES_TEAM], 'search', "keyed span resource team (the span's team wins over a static one)");
      assert.equal(s.resource['service.name'], SERVICE);
    }
    assert.equal(attr(k.server, 'llmgw.key.name'), 'acme-search', 'llmgw.key.name is the key name');
    assert.equal(attr(k.server, 'user.id'), 'alice', 'user.id from the key');
    for (const s of a.spans) {
      assert.equal(s.resource[RES_TENANT], undefined, 'anonymous span has no tenant_id');
      assert.equal(s.resource[RES_TEAM], 'static-team', 'anonymous span keeps the static team');
      assert.notEqual(s.resource_seq, k.server.resource_seq, 'anonymous and keyed spans are in different ResourceSpans');
    }
    assert.ok(!JSON.stringify([...k.spans, ...a.spans]).includes(VKEY_ACME), 'the key itself never appears in spans');
  }));

  it('(d) x-llmgw-meta-<k> headers become llmgw.meta.<k> on the SERVER span and are not forwarded', stack.guard(async () => {
    const marker = `delta-${randHex(4)}`;
    const r = await chat(gw.url, { content: marker, headers: { 'x-llmgw-meta-feature': 'summarise' } });
    assert.equal(r.status, 200, r.text);
    const { server } = await traceFor(sink.url, r.headers.get('x-request-id'));
    assert.equal(attr(server, 'llmgw.meta.feature'), 'summarise');
    const up = await mockRequestWith(marker);
    assert.equal(up.headers['x-llmgw-meta-feature'], undefined, 'x-llmgw-meta-* is not sent upstream');
  }));

  const errorCases = [
    { name: 'malformed JSON', status: 400, req: { body: '{"model": "gpt-4o-mini", "messages": [' } },
    { name: 'missing model', status: 400, req: { body: { messages: [{ role: 'user', content: 'x' }] } } },
    { name: 'unknown model', status: 404, req: { model: 'no-such-model' } },
    { name: 'wrong method', status: 405, method: 'GET' },
    { name: 'body over max_body (64KiB)', status: 413, req: { content: 'x '.repeat(40 * 1024) } },
    { name: 'unknown virtual key', status: 401, req: { headers: { authorization: 'Bearer sk-not-a-known-key' } } },
  ];
  for (const c of errorCases) {
    it(`(e) ${c.name} -> ${c.status} in OpenAI shape, SERVER span with ERROR status and error.type`, stack.guard(async () => {
      const before = (await mockApi(mock.url).stats()).requests;
      const r = c.method === 'GET' ? await http(`${gw.url}/v1/chat/completions`) : await chat(gw.url, c.req);
      const rid = assertOpenAiError(assert, r, c.status, c.name);
      const { server, spans } = await traceFor(sink.url, rid, { minSpans: 1 });
      assert.equal(server.status.code, 2, `${c.name}: SERVER status ERROR`);
      assert.equal(typeof attr(server, 'error.type'), 'string', `${c.name}: SERVER error.type`);
      assert.ok(attr(server, 'error.type').length > 0, `${c.name}: error.type not empty`);
      assert.equal(server.status.message, attr(server, 'error.type'), `${c.name}: status message = error.type`);
      assert.equal(attr(server, 'http.response.status_code'), c.status, `${c.name}: http.response.status_code`);
      assert.equal(spans.filter((s) => s.kind === 3).length, 0, `${c.name}: no upstream attempt, no CLIENT span`);
      assert.equal((await mockApi(mock.url).stats()).requests, before, `${c.name}: nothing reached the provider`);
    }));
  }

  it('(f) provider port closed -> 502, CLIENT span with a connect error.type', stack.guard(async () => {
    const r = await chat(gw.url, { model: 'dead-model' });
    const rid = assertOpenAiError(assert, r, 502, 'closed upstream port');
    const { server, clients } = await traceFor(sink.url, rid);
    assert.equal(server.status.code, 2);
    assert.equal(attr(server, 'http.response.status_code'), 502);
    assert.ok(clients.length >= 1, 'at least one CLIENT span (one per attempt)');
    for (const c of clients) {
      assert.equal(c.status.code, 2, 'CLIENT status ERROR');
      assert.match(String(attr(c, 'error.type')), /connect/, `CLIENT error.type names the connect failure, got ${attr(c, 'error.type')}`);
      assert.equal(c.parent_span_id, server.span_id);
    }
  }));

  it('(f) provider slower than the 2s timeout -> 504, CLIENT span with a timeout error.type', stack.guard(async () => {
    const r = await chat(gw.url, { content: 'slow', headers: { 'x-mock-latency-ms': '3000' } });
    const rid = assertOpenAiError(assert, r, 504, 'slow upstream');
    const { server, clients } = await traceFor(sink.url, rid);
    assert.equal(server.status.code, 2);
    assert.equal(attr(server, 'http.response.status_code'), 504);
    assert.ok(clients.length >= 1, 'at least one CLIENT span');
    for (const c of clients) {
      assert.equal(c.status.code, 2, 'CLIENT status ERROR');
      assert.match(String(attr(c, 'error.type')), /timeout/, `CLIENT error.type says timeout, got ${attr(c, 'error.type')}`);
    }
  }));

  it('secrets never appear in any log; every process exits cleanly on SIGTERM', stack.guard(async () => {
    const res = await stack.stopAll();
    for (const h of stack.procs) {
      const logs = fs.readFileSync(h.outPath, 'utf8') + fs.readFileSync(h.errPath, 'utf8');
      for (const secret of [MOCK_API_KEY, VKEY_ACME, TEST_AUTH]) {
        assert.ok(!logs.includes(secret), `${h.name} logged a secret`);
      }
      assert.equal(stack.problems(h), '', `${h.name}: sanitizer report`);
    }
    for (const x of res) {
      assert.equal(x.killed, false, `${x.name} needed SIGKILL: it did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${x.name} exit status after SIGTERM (signal ${x.signal})`);
    }
  }));
});
