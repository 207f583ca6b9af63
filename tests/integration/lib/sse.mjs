// SPDX-License-Identifier: Apache-2.0
//
// Reading Server-Sent Events the way a client sees them: fetch with the
// body read piece by piece (each read is what one socket read delivered),
// and "data: X\n\n" events split back into their payloads.

import assert from 'node:assert/strict';

/** "data: X\n\n" events -> [X...]; every event must be a data line. */
export function sseData(text) {
  return text.split('\n\n').filter((e) => e !== '').map((e) => {
    assert.ok(e.startsWith('data: '), `SSE event must be "data: ...": ${JSON.stringify(e)}`);
    return e.slice(6);
  });
}

/**
 * POSTs body (JSON) with fetch and reads the answer piece by piece:
 * {status, headers, reads, text, error}. onRead(out, reader) runs after
 * each read; returning false stops reading (cancel the reader in it to
 * hang up). error is set when reading failed (e.g. the connection was cut
 * without the chunked terminator).
 */
export async function readStream(url, body, headers = {}, { onRead, signal } = {}) {
  const res = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(20000),
  });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const out = { status: res.status, headers: res.headers, reads: [], text: '', error: null };
  for (;;) {
    let r;
    try {
      r = await reader.read();
    } catch (e) {
      out.error = e;
      break;
    }
    if (r.done) break;
    const s = dec.decode(r.value, { stream: true });
    out.reads.push(s);
    out.text += s;
    if (onRead && (await onRead(out, reader)) === false) break;
  }
  return out;
}
