// SPDX-License-Identifier: Apache-2.0
//
// The end-to-end stack: llmgw-mock (the provider) -> llmgw-gateway ->
// llmgw-exporter -> otlp-sink, all on 127.0.0.1, started with the
// integration suite's helpers (same temp dir, log dumps and stop rules),
// and an official `openai` client pointed at the gateway with a virtual
// key the gateway knows. The SDK always sends a key, so the gateway runs
// with auth on (the default when keys are configured) and keys[] holding
// that key's SHA-256.

import OpenAI from 'openai';

import { Stack, freePort, sha256hex, waitHttp, writeConfig } from '../../integration/lib/stack.mjs';
import { MOCK_API_KEY, startExporter } from '../../integration/lib/llmgw.mjs';

export { traceFor } from '../../integration/lib/llmgw.mjs';
export { mockApi, sinkApi } from '../../integration/lib/stack.mjs';

/** The virtual key the SDK client presents (a test value). */
export const E2E_KEY = 'llmgw-e2e-sdk-5c1f9a7d3e20b846';

/** gateway.yaml for the e2e stack: chat and embedding models on the mock, one dead provider. */
export function e2eGatewayYaml({ port, spansUrl, mockUrl, deadPort }) {
  return `server: { listen: 127.0.0.1:${port}, max_body: 1MiB }
telemetry: { spans_url: "${spansUrl}" }
log: { level: info }
keys:
  - { name: e2e-sdk, sha256: ${sha256hex(E2E_KEY)}, tenant_id: e2e, team: sdk, user: openai-node }
providers:
  - { name: local, type: openai, base_url: "${mockUrl}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 10s }
  - { name: dead, type: openai, base_url: "http://127.0.0.1:${deadPort}/v1", api_key_env: MOCK_API_KEY, connect_timeout: 2s, timeout: 2s }
  - { name: anth, type: anthropic, base_url: "${mockUrl}/v1", api_key_env: MOCK_API_KEY, timeout: 10s, max_tokens: 512 }
  - { name: gem, type: gemini, base_url: "${mockUrl}/v1beta", api_key_env: MOCK_API_KEY, timeout: 10s }
  - { name: azure, type: azure-openai, base_url: "${mockUrl}", api_version: "2024-10-21", api_key_env: MOCK_API_KEY, timeout: 10s }
models:
  - { name: claude-sonnet, targets: [ { provider: anth, model: claude-sonnet-4-5 } ] }
  - { name: gemini-flash, targets: [ { provider: gem, model: gemini-2.5-flash } ] }
  - { name: azure-gpt, targets: [ { provider: azure, model: gpt4o-prod } ] }
  - { name: gpt-4o-mini, targets: [ { provider: local, model: gpt-4o-mini } ] }
  - { name: text-embedding-3-small, targets: [ { provider: local, model: text-embedding-3-small } ] }
  - { name: dead-model, targets: [ { provider: dead, model: gpt-4o-mini } ] }
`;
}

/**
 * Starts sink, mock, exporter and gateway for one test file. Resolves
 * {stack, sink, mock, exporter, gw, client(opts)}; client() makes an
 * OpenAI client on the gateway (maxRetries 0: an error is seen as it is,
 * not retried), opts override the SDK's options (apiKey, ...).
 */
export async function startE2E(name, { mockArgs = [] } = {}) {
  const stack = new Stack(`e2e-${name}`);
  const sink = await stack.sink();
  const mock = await stack.mock(mockArgs);
  const exporter = await startExporter(stack, { sinkUrl: sink.url });
  const port = await freePort();
  const deadPort = await freePort(); // nothing listens there: connect is refused
  const cfg = writeConfig(stack.dir, 'llmgw-gateway.yaml',
    e2eGatewayYaml({ port, spansUrl: stack.spansUrl, mockUrl: mock.url, deadPort }));
  const proc = stack.start('llmgw-gateway', ['-c', cfg], { name: 'llmgw-gateway', env: { MOCK_API_KEY } });
  const gw = { proc, port, url: `http://127.0.0.1:${port}`, cfg };
  await waitHttp(`${gw.url}/healthz`, { proc });
  const client = (opts = {}) => new OpenAI({
    apiKey: E2E_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 20000, ...opts,
  });
  return { stack, sink, mock, exporter, gw, client };
}
