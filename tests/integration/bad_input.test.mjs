// SPDX-License-Identifier: Apache-2.0
//
// The bad-input table (issue 9, DESIGN.md section 8): one row per class of
// malformed request, sent as exact bytes over node:net to the real stack
// (llmgw-mock -> gateway -> exporter -> otlp-sink). Each row states the
// status, the OpenAI error body (type, code, a message naming the problem)
// and whether the connection stays open, as HTTP requires: a request whose
// framing was read completely (bad JSON, bad fields) keeps the connection;
// one whose framing cannot be trusted (smuggling shapes, bad chunking,
// limits hit before the body was read) closes it. After every row the
// gateway is alive and the next valid request works on the same connection
// or on a new one. A second table sends request-smuggling shapes with a
// second request hidden in the body and checks it is never answered nor
// sent upstream. Finally the error counters in /metrics match the table.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Stack, http, metric, mockApi, randHex } from './lib/stack.mjs';
import { startExporter, startGateway, traceFor } from './lib/llmgw.mjs';
import { RawConn, get, post } from './lib/rawhttp.mjs';

const stack = new Stack('bad-input');
let sink, mock, gw;

before(stack.guard(async () => {
  sink = await stack.sink();
  mock = await stack.mock();
  await startExporter(stack, { sinkUrl: sink.url });
  gw = await startGateway(stack, { mockUrl: mock.url }); // server.max_body 64KiB, default header limits
}));

after(async () => {
  await stack.stopAll();
  stack.cleanup();
});

const CHAT = '/v1/chat/completions';
const MAX_BODY = 64 * 1024;
const msgs = [{ role: 'user', content: 'x' }];
const chatJson = (extra = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: msgs, ...extra });
/** A chat body with one member spliced in as raw JSON text (for values JSON.stringify cannot make). */
const chatWith = (rawMember) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],${rawMember}}`;
const chunked = (head, chunks) => `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n${head}` +
  `Transfer-Encoding: chunked\r\n\r\n${chunks}`;
const BAD_TP_ZERO = `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`;
const BAD_TP_UPPER = `00-${'AB'.repeat(16)}-${'CD'.repeat(8)}-01`;

// error.code -> the error_type label of llmgw_request_errors_total (docs/gateway-config.md "Errors")
const ERROR_TYPE = {
  invalid_request: 'invalid_request', bad_request: 'bad_request', request_too_large: 'request_too_large',
  headers_too_large: 'headers_too_large', uri_too_long: 'uri_too_long', expectation_failed: 'expectation_failed',
  not_implemented: 'not_implemented', http_version_not_supported: 'http_version', model_not_found: 'model_not_found',
  method_not_allowed: 'method_not_allowed',
};

const IR = { status: 400, type: 'invalid_request_error', code: 'invalid_request', close: false };
const BR = { status: 400, type: 'invalid_request_error', code: 'bad_request', close: true };

/*
 * The table. send: the exact bytes (latin1 string, or a function of the
 * row, which has a fresh .marker). close: the server must
 * close the connection after answering (else it must keep it). pre: valid
 * responses that come first (pipelining). ok: a 2xx row, checked by check().
 */
const ROWS = [
  // ---- JSON bodies: framing was fine, so the connection is kept ----
  { name: 'broken JSON', send: post(CHAT, '{"model":"gpt-4o-mini","messages":[{'), ...IR, message: /not valid JSON.*at byte \d+/ },
  { name: 'empty body', send: post(CHAT, ''), ...IR, message: /request body is empty/ },
  { name: 'JSON that is not an object', send: post(CHAT, '[1,2,3]'), ...IR, message: /must be a JSON object/ },
  { name: 'wrong type: model is a number', send: post(CHAT, JSON.stringify({ model: 5, messages: msgs })), ...IR, param: 'model', message: /'model' must be a string/ },
  { name: 'wrong type: messages is an object', send: post(CHAT, JSON.stringify({ model: 'gpt-4o-mini', messages: { role: 'user' } })), ...IR, param: 'messages', message: /'messages' must be an array/ },
  { name: 'wrong type: stream is "yes"', send: post(CHAT, chatJson({ stream: 'yes' })), ...IR, param: 'stream', message: /'stream' must be a boolean/ },
  { name: 'huge number: max_tokens 1e400', send: post(CHAT, chatWith('"max_tokens":1e400')), ...IR, message: /not valid JSON: real number overflow.*at byte \d+/ },
  { name: 'huge number: n 99999999999999999999', send: post(CHAT, chatWith('"n":99999999999999999999')), ...IR, message: /not valid JSON: too big integer.*at byte \d+/ },
  { name: 'invalid UTF-8 in a string (0xff)', send: post(CHAT, '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\xff\xfeb"}]}'), ...IR, message: /not valid JSON: (invalid UTF-8|unable to decode byte 0xff).*at byte \d+/ },
  { name: 'invalid UTF-8: overlong encoding of "/" (0xc0 0xaf)', send: post(CHAT, '{"model":"gpt-4o-mini\xc0\xaf","messages":[]}'), ...IR, message: /not valid JSON: (invalid UTF-8|unable to decode byte 0xc0).*at byte \d+/ },
  { name: 'raw NUL byte inside a JSON string', send: post(CHAT, '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\x00b"}]}'), ...IR, message: /not valid JSON: control character.*at byte \d+/ },
  { name: 'escaped NUL (\\u0000) inside a JSON string', send: post(CHAT, '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\\u0000b"}]}'), ...IR, message: /not valid JSON: \\u0000 is not allowed/ },
  { name: 'deep nesting: 10000 [', send: post(CHAT, '['.repeat(10000)), ...IR, message: /not valid JSON: maximum parsing depth reached/ },
  { name: 'deep nesting: 10000 {"a":', send: post(CHAT, '{"a":'.repeat(10000)), ...IR, message: /not valid JSON: maximum parsing depth reached/ },
  // duplicate keys the gateway decides on: refused, since a first-wins provider would read the other one
  { name: 'duplicate keys: "model" twice (valid one last)', send: post(CHAT, '{"model":"no-such-model","model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'), ...IR, param: 'model', message: /'model' appears more than once/ },
  { name: 'duplicate keys: "model" twice, escaped spelling', send: post(CHAT, '{"model":"gpt-4o-mini","mod\\u0065l":"gpt-4o","messages":[{"role":"user","content":"x"}]}'), ...IR, param: 'model', message: /'model' appears more than once/ },
  { name: 'duplicate keys: "stream" twice', send: post(CHAT, '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream":false,"stream":true}'), ...IR, param: 'stream', message: /'stream' appears more than once/ },
  { name: 'duplicate keys: "input" twice (embeddings)', send: post('/v1/embeddings', '{"model":"text-embedding-3-small","input":"a","input":"b"}'), ...IR, param: 'input', message: /'input' appears more than once/ },
  // ---- caller headers judged after the body: the connection is kept ----
  { name: 'oversize x-llmgw-metadata (> 1024 bytes)', send: post(CHAT, chatJson(), { headers: { 'x-llmgw-metadata': JSON.stringify({ k: 'v'.repeat(1100) }) } }), ...IR, message: /x-llmgw-metadata: longer than 1024 bytes/ },
  { name: 'x-llmgw-metadata not JSON', send: post(CHAT, chatJson(), { headers: { 'x-llmgw-metadata': '{feature=search' } }), ...IR, message: /x-llmgw-metadata: not valid JSON/ },
  { name: 'bad traceparent: all-zero trace id (ignored, new trace)', send: post(CHAT, chatJson(), { headers: { traceparent: BAD_TP_ZERO } }), ok: true, status: 200, close: false, check: (res) => newTrace(res, '0'.repeat(32)) },
  { name: 'bad traceparent: upper-case hex (ignored, new trace)', send: post(CHAT, chatJson(), { headers: { traceparent: BAD_TP_UPPER } }), ok: true, status: 200, close: false, check: (res) => newTrace(res, 'ab'.repeat(16)) },
  { name: 'bad traceparent: garbage (ignored, new trace)', send: post(CHAT, chatJson(), { headers: { traceparent: 'zz-\x7e\x21-garbage' } }), ok: true, status: 200, close: false, check: (res) => newTrace(res, null) },
  { name: 'two equal Content-Length headers (RFC 9112 6.3: one value)', send: (() => { const b = chatJson(); return `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: ${b.length}\r\nContent-Length: ${b.length}\r\n\r\n${b}`; })(), ok: true, status: 200, close: false },
  { name: 'absolute-form request target (RFC 9112 3.2.2: accepted, the path is used)', send: 'GET http://gw.example/v1/models?x=1 HTTP/1.1\r\nHost: gw.example\r\n\r\n', ok: true, status: 200, close: false, check: (res) => assert.equal(res.json?.object, 'list', res.body) },
  { name: 'method not a known one (lower-case "get")', send: 'get /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n', status: 405, type: 'invalid_request_error', code: 'method_not_allowed', close: false, message: /method get is not allowed on \/v1\/models; use GET, HEAD/ },
  // ---- size limits: refused before the body is read, so the connection closes ----
  { name: 'oversize body by Content-Length', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n{"model":`, status: 413, type: 'invalid_request_error', code: 'request_too_large', close: true, message: new RegExp(`request body of ${MAX_BODY + 1} bytes exceeds the limit of ${MAX_BODY}`) },
  { name: 'oversize body by chunks', send: chunked('', `8000\r\n${'a'.repeat(0x8000)}\r\n8001\r\n`), status: 413, type: 'invalid_request_error', code: 'request_too_large', close: true, message: new RegExp(`exceeds the limit of ${MAX_BODY} bytes`) },
  { name: 'oversize header section (40 KiB > 32 KiB)', send: `GET /v1/models HTTP/1.1\r\nHost: gw\r\nx-big: ${'v'.repeat(40 * 1024)}\r\n\r\n`, status: 431, type: 'invalid_request_error', code: 'headers_too_large', close: true, message: /header section too large/ },
  { name: 'too many header fields (120 > 100)', send: `GET /v1/models HTTP/1.1\r\nHost: gw\r\n${Array.from({ length: 120 }, (_, i) => `x-h-${i}: v\r\n`).join('')}\r\n`, status: 431, type: 'invalid_request_error', code: 'headers_too_large', close: true, message: /too many header fields/ },
  { name: 'request line over 8 KiB', send: `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: gw\r\n\r\n`, status: 414, type: 'invalid_request_error', code: 'uri_too_long', close: true, message: /request line too long/ },
  // ---- bad chunked encoding ----
  { name: 'chunked: chunk size not hex', send: chunked('', 'zz\r\nabc\r\n0\r\n\r\n'), ...BR, message: /malformed chunk size/ },
  { name: 'chunked: missing CRLF after chunk data', send: chunked('', '3\r\nabcXX0\r\n\r\n'), ...BR, message: /missing CRLF after chunk data/ },
  { name: 'chunked: chunk extension overflow (5000 bytes)', send: chunked('', `3;${'x'.repeat(5000)}\r\nabc\r\n0\r\n\r\n`), ...BR, message: /chunk-size line too long/ },
  { name: 'chunked: bare LF after the chunk size', send: chunked('', '3\nabc\r\n0\r\n\r\n'), ...BR, message: /malformed chunk size/ },
  { name: 'chunked: size overflows 64 bits', send: chunked('', 'fffffffffffffffffff\r\n'), status: 413, type: 'invalid_request_error', code: 'request_too_large', close: true, message: /exceeds the limit/ },
  // ---- framing and syntax (RFC 9112): refused and closed ----
  { name: 'pipelined garbage after a valid request', send: post(CHAT, chatJson()) + '\x00\x01\x02 garbage garbage\r\n\r\n', pre: 1, ...BR, message: /malformed request line \(method\)/ },
  { name: 'Content-Length and Transfer-Encoding together', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, ...BR, message: /both Content-Length and Transfer-Encoding/ },
  { name: 'two different Content-Length headers', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Content-Length with a sign (+5)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: +5\r\n\r\nhello`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Content-Length negative (-1)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: -1\r\n\r\n`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Content-Length in hex (0x5)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0x5\r\n\r\nhello`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Content-Length with inner space (5 5)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 5 5\r\n\r\nhello`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Content-Length of 20 digits', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 99999999999999999999\r\n\r\n`, ...BR, message: /invalid or conflicting Content-Length/ },
  { name: 'Transfer-Encoding: gzip (chunked not last)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\nhello`, ...BR, message: /Transfer-Encoding must end in chunked/ },
  { name: 'Transfer-Encoding: chunked, identity', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, ...BR, message: /Transfer-Encoding must end in chunked/ },
  { name: 'Transfer-Encoding: chunked twice', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, ...BR, message: /Transfer-Encoding must end in chunked \(once\)/ },
  { name: 'Transfer-Encoding: gzip, chunked (a coding we do not do)', send: `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, status: 501, type: 'invalid_request_error', code: 'not_implemented', close: true, message: /unsupported transfer coding \(only chunked is\)/ },
  { name: 'Transfer-Encoding in an HTTP/1.0 request', send: `POST ${CHAT} HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, ...BR, message: /Transfer-Encoding in an HTTP\/1\.0 request/ },
  { name: 'obs-fold (a header continued on the next line)', send: 'GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n folded\r\n\r\n', ...BR, message: /obsolete line folding/ },
  { name: 'bare LF line ends', send: 'GET /v1/models HTTP/1.1\nHost: gw\n\n', ...BR, message: /bare LF/ },
  { name: 'bare LF inside the header section', send: 'GET /v1/models HTTP/1.1\r\nHost: gw\nX: y\r\n\r\n', ...BR, message: /bare LF/ },
  { name: 'whitespace before a header colon', send: 'GET /v1/models HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\n\r\n', ...BR, message: /whitespace before a header colon/ },
  { name: 'NUL byte in a header value', send: 'GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-A: a\x00b\r\n\r\n', ...BR, message: /invalid character in a header value/ },
  { name: 'NUL byte in the request target', send: 'GET /v1/mod\x00els HTTP/1.1\r\nHost: gw\r\n\r\n', ...BR, message: /malformed request line \(target\)/ },
  { name: 'missing Host (HTTP/1.1)', send: 'GET /v1/models HTTP/1.1\r\n\r\n', ...BR, message: /exactly one Host header/ },
  { name: 'request line garbage (binary)', send: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', ...BR, message: /malformed request line \(method\)/ },
  { name: 'TLS ClientHello on the plain-HTTP port (no CRLF at all)', send: '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', ...BR, message: /malformed request line \(method\)/ },
  { name: 'request line garbage, no empty line after it', send: 'hello there\r\n', ...BR, message: /no HTTP version/ },
  { name: 'HTTP/0.9 request ("GET /path" only)', send: 'GET /v1/models\r\n', ...BR, message: /HTTP\/0\.9 is not supported/ },
  { name: 'HTTP/2.0 in an HTTP/1 request line', send: 'GET /v1/models HTTP/2.0\r\nHost: gw\r\n\r\n', status: 505, type: 'invalid_request_error', code: 'http_version_not_supported', close: true, message: /HTTP version not supported/ },
  { name: 'HTTP/2 connection preface (h2c prior knowledge)', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 505, type: 'invalid_request_error', code: 'http_version_not_supported', close: true, message: /HTTP version not supported/ },
  { name: 'Expect other than 100-continue', send: 'GET /v1/models HTTP/1.1\r\nHost: gw\r\nExpect: 200-ok\r\n\r\n', status: 417, type: 'invalid_request_error', code: 'expectation_failed', close: true, message: /only 100-continue/ },
];

/** A 200 whose SERVER span started a new trace: not the caller's (bogus) trace id, no parent. */
async function newTrace(res, bogusTraceId) {
  const rid = res.headers['x-request-id'];
  const { server } = await traceFor(sink.url, rid, { minSpans: 2 });
  assert.match(server.trace_id, /^[0-9a-f]{32}$/);
  assert.notEqual(server.trace_id, '0'.repeat(32));
  if (bogusTraceId) assert.notEqual(server.trace_id, bogusTraceId, 'the invalid traceparent was not continued');
  assert.equal(server.parent_span_id, '', 'the SERVER span is a root: the invalid traceparent was ignored');
}

/** A valid chat request on conn; asserts the mock's echo comes back. */
async function assertValidWorks(conn, what) {
  const marker = `after-${randHex(4)}`;
  conn.write(post(CHAT, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: marker }] })));
  const r = await conn.response();
  assert.equal(r.status, 200, `${what}: the next valid request: ${r.body}`);
  assert.equal(r.json?.choices?.[0]?.message?.content, marker, `${what}: the next valid request is answered`);
}

/** The OpenAI error shape, exactly: {"error":{"message","type","param","code"}}. */
function assertErrorBody(r, row) {
  const what = row.name;
  assert.equal(r.status, row.status, `${what}: status (${r.body})`);
  if (row.requestId) assert.equal(r.headers['x-request-id'], row.requestId, `${what}: the client's x-request-id is kept`);
  else assert.match(r.headers['x-request-id'] ?? '', /^[0-9a-f]{32}$/, `${what}: x-request-id`);
  assert.equal(r.headers['content-type'], 'application/json', `${what}: content-type`);
  assert.deepEqual(Object.keys(r.json?.error ?? {}).sort(), ['code', 'message', 'param', 'type'], `${what}: error body keys: ${r.body}`);
  assert.deepEqual(Object.keys(r.json), ['error'], `${what}: only "error" at the top`);
  assert.equal(r.json.error.type, row.type, `${what}: error.type`);
  assert.equal(r.json.error.code, row.code, `${what}: error.code`);
  assert.equal(r.json.error.param, row.param ?? null, `${what}: error.param`);
  assert.match(r.json.error.message, row.message, `${what}: error.message names the problem`);
}

async function gatewayAlive(what) {
  assert.equal(gw.proc.exit, null, `${what}: the gateway is still running`);
  const h = await http(`${gw.url}/healthz`);
  assert.equal(h.status, 200, `${what}: /healthz`);
}

describe('bad input: one row per malformed request class', { timeout: 180000 }, () => {
  let baseline;
  it('baseline metrics', stack.guard(async () => {
    baseline = await (await http(`${gw.url}/metrics`)).text;
  }));

  for (const row of ROWS) {
    it(`${row.name} -> ${row.status}${row.close ? ', connection closed' : ', connection kept'}`, stack.guard(async () => {
      row.marker = `dup-${randHex(4)}`;
      const conn = await RawConn.open(gw.port);
      try {
        conn.write(typeof row.send === 'function' ? row.send(row) : row.send);
        for (let i = 0; i < (row.pre ?? 0); i++) {
          const p = await conn.response();
          assert.equal(p.status, 200, `${row.name}: pipelined valid request ${i} first: ${p.body}`);
        }
        const r = await conn.response();
        if (row.ok) {
          assert.equal(r.status, row.status, `${row.name}: ${r.body}`);
          if (row.check) await row.check(r, row);
        } else {
          assertErrorBody(r, row);
        }
        if (row.close) {
          assert.equal(r.headers.connection, 'close', `${row.name}: the response says Connection: close`);
          assert.equal(await conn.waitClosed(), true, `${row.name}: the server closed the connection`);
          const fresh = await RawConn.open(gw.port);
          try {
            await assertValidWorks(fresh, `${row.name} (new connection)`);
          } finally {
            fresh.destroy();
          }
        } else {
          assert.equal(r.headers.connection, undefined, `${row.name}: the connection is kept (no Connection: close)`);
          await assertValidWorks(conn, `${row.name} (same connection)`);
        }
      } finally {
        conn.destroy();
      }
      await gatewayAlive(row.name);
    }));
  }

  it('every error row is counted in llmgw_request_errors_total by its error type', stack.guard(async () => {
    const after = await (await http(`${gw.url}/metrics`)).text;
    const want = {};
    for (const row of ROWS) {
      if (row.ok) continue;
      const t = ERROR_TYPE[row.code];
      want[t] = (want[t] ?? 0) + 1;
    }
    for (const [t, n] of Object.entries(want)) {
      const got = metric(after, 'llmgw_request_errors_total', { error_type: t }) -
        metric(baseline, 'llmgw_request_errors_total', { error_type: t });
      assert.equal(got, n, `llmgw_request_errors_total{error_type="${t}"} went up by ${got}, want ${n}`);
    }
  }));
});

/*
 * Request smuggling: each request hides a second one in what a lenient
 * parser would read as the next message. The gateway must answer the
 * outer request with 400/501, close the connection, and never answer or
 * forward the hidden one.
 */
describe('request smuggling: ambiguous framing is refused and the connection closed', { timeout: 120000 }, () => {
  const hidden = (marker) => {
    const b = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: marker }] });
    return `POST ${CHAT} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  };
  const CASES = [
    { name: 'CL.TE: Content-Length + Transfer-Encoding: chunked', head: (n) => `Content-Length: ${n}\r\nTransfer-Encoding: chunked\r\n`, body: (h) => `0\r\n\r\n${h}`, status: 400, message: /both Content-Length and Transfer-Encoding/ },
    { name: 'TE.CL: Transfer-Encoding first, then Content-Length', head: () => 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', body: (h) => `${h.length.toString(16)}\r\n${h}\r\n0\r\n\r\n`, status: 400, message: /both Content-Length and Transfer-Encoding/ },
    { name: 'CL.CL: two different Content-Length values', head: (n) => `Content-Length: 0\r\nContent-Length: ${n}\r\n`, body: (h) => h, status: 400, message: /conflicting Content-Length/ },
    { name: 'CL list with different values (0, N)', head: (n) => `Content-Length: 0, ${n}\r\n`, body: (h) => h, status: 400, message: /conflicting Content-Length/ },
    { name: 'CL with a sign (+0)', head: () => 'Content-Length: +0\r\n', body: (h) => h, status: 400, message: /invalid or conflicting Content-Length/ },
    { name: 'CL with a space inside (0 N)', head: (n) => `Content-Length: 0 ${n}\r\n`, body: (h) => h, status: 400, message: /invalid or conflicting Content-Length/ },
    { name: 'CL in hex (0x0)', head: () => 'Content-Length: 0x0\r\n', body: (h) => h, status: 400, message: /invalid or conflicting Content-Length/ },
    { name: 'TE: chunked, identity (chunked not last)', head: () => 'Transfer-Encoding: chunked, identity\r\n', body: (h) => `0\r\n\r\n${h}`, status: 400, message: /must end in chunked/ },
    { name: 'TE: identity, then TE: chunked on a second line', head: () => 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n', body: (h) => `0\r\n\r\n${h}`, status: 501, message: /unsupported transfer coding/ },
    { name: 'TE: xchunked (not the chunked token)', head: () => 'Transfer-Encoding: xchunked\r\n', body: (h) => `0\r\n\r\n${h}`, status: 400, message: /must end in chunked/ },
    { name: 'TE with whitespace before the colon', head: () => 'Transfer-Encoding : chunked\r\n', body: (h) => `0\r\n\r\n${h}`, status: 400, message: /whitespace before a header colon/, headLevel: true },
    { name: 'TE folded onto a continuation line (obs-fold)', head: () => 'Transfer-Encoding:\r\n chunked\r\n', body: (h) => `0\r\n\r\n${h}`, status: 400, message: /obsolete line folding/, headLevel: true },
    { name: 'TE on HTTP/1.0', version: '1.0', head: () => 'Transfer-Encoding: chunked\r\n', body: (h) => `0\r\n\r\n${h}`, status: 400, message: /HTTP\/1\.0/ },
  ];

  for (const c of CASES) {
    it(`${c.name} -> ${c.status}, closed, hidden request never served`, stack.guard(async () => {
      const marker = `smuggled-${randHex(6)}`;
      const h = hidden(marker);
      const body = c.body(h);
      // x-request-id comes before the framing headers: it must be read as sent even though the head was refused
      const rid = `smg-${randHex(4)}`;
      const req = `POST ${CHAT} HTTP/${c.version ?? '1.1'}\r\nHost: gw\r\nx-request-id: ${rid}\r\nContent-Type: application/json\r\n${c.head(body.length)}\r\n${body}`;
      const conn = await RawConn.open(gw.port);
      try {
        conn.write(req);
        const r = await conn.response();
        assertErrorBody(r, {
          name: c.name, status: c.status, type: 'invalid_request_error',
          code: c.status === 501 ? 'not_implemented' : 'bad_request', message: c.message,
          requestId: c.headLevel ? undefined : rid, // refused mid-head: no header was read
        });
        assert.equal(r.headers.connection, 'close', `${c.name}: Connection: close`);
        assert.equal(await conn.waitClosed(), true, `${c.name}: the server closed the connection`);
        assert.equal(conn.buf.length, 0, `${c.name}: nothing after the one response: ${conn.buf.toString('latin1').slice(0, 200)}`);
      } finally {
        conn.destroy();
      }
      const seen = (await mockApi(mock.url).requests()).filter((q) => q.body.includes(marker));
      assert.equal(seen.length, 0, `${c.name}: the hidden request must never reach the provider`);
      await gatewayAlive(c.name);
    }));
  }

  it('the processes stop cleanly after all of the above (no sanitizer report)', stack.guard(async () => {
    await stack.assertCleanStop();
  }));
});
