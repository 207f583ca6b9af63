// SPDX-License-Identifier: Apache-2.0
//
// A raw HTTP/1.1 client on node:net for the tests that must put exact,
// often invalid, bytes on the wire (fetch normalises or refuses them):
// write anything, read back one response at a time (Content-Length,
// chunked or close-delimited bodies; 1xx interim responses skipped), and
// tell whether the server closed the connection. Every wait is bounded and
// fails with what was received so far, never with a timing assert.

import net from 'node:net';

/** Parses one response head; null while "\r\n\r\n" has not arrived. */
function parseHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, headLen: end + 4 };
}

/** Decodes a chunked body at buf[0..]; null while incomplete, else {body, used}. */
function parseChunked(buf) {
  const parts = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(at, eol).toString('latin1').split(';')[0], 16);
    if (Number.isNaN(size)) throw new Error('malformed chunk size in a response');
    at = eol + 2;
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', at - 2);
      if (end < 0) return null;
      return { body: Buffer.concat(parts), used: end + 4 };
    }
    if (buf.length < at + size + 2) return null;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

/** One client connection; create with RawConn.open(port). */
export class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.closed = false; // the server closed (EOF) or reset the connection
    this.error = null;
    this.waiters = [];
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    sock.on('error', (e) => { this.error = e.code || e.message; });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('end', () => { this.closed = true; this.wake(); });
  }

  /** Connects to 127.0.0.1:port; resolves the RawConn (rejects on a connect error). */
  static open(port, { timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${port} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(new RawConn(s)); });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until check() returns non-null (re-checked on data and close), at most timeoutMs. */
  until(check, what, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received so far: ` +
          JSON.stringify(this.buf.toString('latin1').slice(0, 400))));
      }, timeoutMs);
      const attempt = () => {
        let v;
        try {
          v = check();
        } catch (e) {
          clearTimeout(timer);
          reject(e);
          return;
        }
        if (v !== null && v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        } else {
          this.waiters.push(attempt);
        }
      };
      attempt();
    });
  }

  /** Writes a string (as latin1: one char = one byte) or a Buffer. */
  write(data) {
    if (!this.sock.destroyed) this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /**
   * Reads the next complete response: {status, reason, headers, body (string,
   * utf8), json (parsed or undefined)}. Rejects on close before it is complete.
   */
  response({ timeoutMs = 10000, head = false } = {}) {
    return this.until(() => {
      for (;;) {
        const h = parseHead(this.buf);
        if (h === null) {
          if (this.closed) throw new Error(`connection closed before a response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 400))}`);
          return null;
        }
        if (h.status >= 100 && h.status < 200) { // interim (100 Continue): skip it
          this.buf = this.buf.subarray(h.headLen);
          continue;
        }
        const rest = this.buf.subarray(h.headLen);
        let body, used;
        if (head || h.status === 204 || h.status === 304) {
          body = Buffer.alloc(0);
          used = 0;
        } else if ('content-length' in h.headers) {
          const n = Number(h.headers['content-length']);
          if (rest.length < n) {
            if (this.closed) throw new Error('connection closed in the middle of a response body');
            return null;
          }
          body = rest.subarray(0, n);
          used = n;
        } else if (/chunked/i.test(h.headers['transfer-encoding'] ?? '')) {
          const c = parseChunked(rest);
          if (c === null) {
            if (this.closed) throw new Error('connection closed in the middle of a chunked body');
            return null;
          }
          ({ body, used } = c);
        } else {
          if (!this.closed) return null; // close-delimited
          body = rest;
          used = rest.length;
        }
        this.buf = rest.subarray(used);
        const text = body.toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        return { status: h.status, reason: h.reason, headers: h.headers, body: text, json };
      }
    }, 'a complete response', timeoutMs);
  }

  /** Resolves true once the server has closed the connection (false after timeoutMs). */
  async waitClosed({ timeoutMs = 5000 } = {}) {
    try {
      await this.until(() => (this.closed ? true : null), 'the server to close the connection', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  destroy() {
    this.sock.destroy();
  }
}

/** A complete request (string, latin1) with a Content-Length body. */
export function post(path, body, { headers = {}, host = 'gw' } = {}) {
  const b = Buffer.isBuffer(body) ? body.toString('latin1') : body;
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(b, 'latin1')}\r\n\r\n${b}`;
}

/** A complete GET request (string). */
export function get(path, { headers = {}, host = 'gw' } = {}) {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}

/** Nearest-rank percentile of a list of numbers (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * One request on its own connection, which it closes afterwards: resolves
 * the response. Send "Connection: close" in data when the server must not
 * keep the connection open in between (e.g. while counting connections).
 */
export async function once(port, data, { timeoutMs = 10000 } = {}) {
  const c = await RawConn.open(port, { timeoutMs });
  try {
    c.write(data);
    return await c.response({ timeoutMs });
  } finally {
    c.destroy();
  }
}
