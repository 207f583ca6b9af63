// SPDX-License-Identifier: Apache-2.0
//
// Starting llmgw-gateway and llmgw-exporter for the integration tests, with
// the configs the tests rely on, and finding the spans a request produced
// in otlp-sink. Secrets used here are test values; the tests assert they
// never show up in spans, logs, or what the mock provider received.

import { freePort, http, sha256hex, waitFor, waitHttp, writeConfig } from './stack.mjs';

export const MOCK_API_KEY = 'sk-it-upstream-7f3a9c2e41b8';
export const TEST_AUTH = Buffer.from('it-user:it-secret-pass').toString('base64');
export const VKEY_ACME = 'llmgw-it-acme-4d2b8e1f6a90c3';

// Resource attribute names the exporter gives a span's tenant_id and team
// (docs/span-schema.md "Resource attributes", item 4).
export const RES_TENANT = 'tenant_id';
export const RES_TEAM = 'team';

/** exporter.yaml per the exporter contract; env TEST_AUTH feeds the header. */
export function exporterYaml({ spansUrl, sinkUrl, adminPort }) {
  return `receive: { url: "${spansUrl}" }
export:
  endpoint: ${sinkUrl}/v1/traces
  compression: gzip
  timeout: 5s
  headers: { Authorization: "Basic \${TEST_AUTH}" }
batch: { max_spans: 512, timeout: 200ms }
resource: { attributes: { deployment.environment.name: test, cloud.region: local-1 } }
admin: { listen: 127.0.0.1:${adminPort} }
log: { level: info }
`;
}

/**
 * Starts llmgw-exporter (config written once, reused on restart when
 * `reuse` is the handle of a previous run). Resolves {proc, admin, adminPort,
 * cfg, metrics()}.
 */
export async function startExporter(stack, { sinkUrl, env = {}, name = 'llmgw-exporter', reuse } = {}) {
  const adminPort = reuse ? reuse.adminPort : await freePort();
  const cfg = reuse ? reuse.cfg : writeConfig(stack.dir, `${name}.yaml`, exporterYaml({ spansUrl: stack.spansUrl, sinkUrl, adminPort }));
  const proc = stack.start('llmgw-exporter', ['-c', cfg], { name, env: { TEST_AUTH, ...env } });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/healthz`, { proc });
  return { proc, admin, adminPort, cfg, env, metrics: async () => (await http(`${admin}/metrics`)).text };
}

/** gateway.yaml per the gateway contract: local (the mock), dead (a closed port), builtin (mock type); chat and embedding models. */
export function gatewayYaml({ port, spansUrl, mockUrl, deadPort }) {
  return `server: { listen: 127.0.0.1:${port}, max_body: 64KiB }
telemetry: { spans_url: "${spansUrl}" }
log: { level: info }
auth: { allow_anonymous: true }
keys:
  - { name: acme-search, sha256: ${sha256hex(VKEY_ACME)}, tenant_id: acme, team: search, user: alice }
providers:
  - { name: local, type: openai, base_url: "${mockUrl}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 2s }
  - { name: dead, type: openai, base_url: "http://127.0.0.1:${deadPort}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 2s }
  - { name: builtin, type: mock }
models:
  - { name: gpt-4o-mini, targets: [ { provider: local, model: gpt-4o-mini } ] }
  - { name: dead-model, targets: [ { provider: dead, model: gpt-4o-mini } ] }
  - { name: builtin-model, targets: [ { provider: builtin, model: mock-1 } ] }
  - { name: text-embedding-3-small, targets: [ { provider: local, model: text-embedding-3-small } ] }
`;
}

/** Starts llmgw-gateway; resolves {proc, url, port, deadPort, metrics()}. */
export async function startGateway(stack, { mockUrl, env = {}, name = 'llmgw-gateway' } = {}) {
  const port = await freePort();
  const deadPort = await freePort(); // nothing listens there: connect is refused
  const cfg = writeConfig(stack.dir, `${name}.yaml`, gatewayYaml({ port, spansUrl: stack.spansUrl, mockUrl, deadPort }));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name, env: { MOCK_API_KEY, ...env } });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, { proc });
  return { proc, url, port, deadPort, cfg, metrics: async () => (await http(`${url}/metrics`)).text };
}

/** POST /v1/chat/completions with one user message. */
export function chat(url, { model = 'gpt-4o-mini', content = 'hello', headers = {}, body } = {}) {
  return http(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body !== undefined ? body : { model, messages: [{ role: 'user', content }] },
  });
}

/**
 * Waits until the sink holds the SERVER span whose llmgw.request.id is
 * requestId and at least minSpans spans of its trace; returns
 * {server, clients, spans} (spans = every span of that trace).
 */
export async function traceFor(sinkUrl, requestId, { minSpans = 2, timeoutMs = 15000 } = {}) {
  return waitFor(async () => {
    const all = (await http(`${sinkUrl}/_sink/spans`)).json;
    const server = all.find((s) => s.kind === 2 && s.attributes['llmgw.request.id'] === requestId);
    if (!server) return null;
    const spans = all.filter((s) => s.trace_id === server.trace_id);
    if (spans.length < minSpans) return null;
    return { server, clients: spans.filter((s) => s.kind === 3), spans };
  }, { timeoutMs, intervalMs: 100, what: `a SERVER span with llmgw.request.id=${requestId} and ${minSpans} span(s) in its trace at the sink` });
}

/** Checks OpenAI's error shape and the x-request-id header; returns the request id. */
export function assertOpenAiError(assert, r, status, what) {
  assert.equal(r.status, status, `${what}: want HTTP ${status}, got ${r.status}: ${r.text}`);
  assert.equal(typeof r.json?.error, 'object', `${what}: body must be {"error":{...}}, got ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string', `${what}: error.message must be a string: ${r.text}`);
  assert.ok(r.json.error.message.length > 0, `${what}: error.message must not be empty`);
  assert.equal(typeof r.json.error.type, 'string', `${what}: error.type must be a string: ${r.text}`);
  assert.ok('code' in r.json.error, `${what}: error.code must be present (string or null): ${r.text}`);
  const rid = r.headers.get('x-request-id');
  assert.ok(rid, `${what}: x-request-id header missing`);
  return rid;
}
