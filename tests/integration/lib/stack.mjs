// SPDX-License-Identifier: Apache-2.0
//
// Shared helpers for the integration tests: real processes on 127.0.0.1,
// free ports, a temp dir per test file, bounded polling (never a timing
// assert), and a Stack that remembers everything it started so after()
// hooks can always stop it and print its logs when something failed.
//
// Binaries come from $LLMGW_BUILD (set by tests/run.sh), else ./build.

import assert from 'node:assert/strict';
import { spawn as cpSpawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BUILD = path.resolve(REPO, process.env.LLMGW_BUILD || 'build');

/** Absolute path of a built binary; throws a clear error if it was not built. */
export function bin(name) {
  const p = path.join(BUILD, name);
  if (!fs.existsSync(p)) throw new Error(`${p} is not built (make B=${path.relative(REPO, BUILD)} ${path.relative(REPO, p)})`);
  return p;
}

/** A TCP port that was free a moment ago on 127.0.0.1 (listen on :0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh directory under the OS temp dir for one test file. */
export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llmgw-it-${prefix}-`));
}

/** Writes text to dir/name and returns the path. */
export function writeConfig(dir, name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls fn (sync or async) every intervalMs until it returns a truthy value,
 * which is returned. Throws "timed out waiting for <what>" after timeoutMs;
 * the last error fn threw, if any, is included. A bound, not a timing assert.
 */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr.message})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

const live = new Set();
// Safety net: if the test process dies, its children must not outlive it.
process.on('exit', () => {
  for (const p of live) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Starts binary with args; stdout/stderr go to files <dir>/<name>.out/.err.
 * Returns a handle: {name, pid, child, outPath, errPath, exited (promise of
 * {code, signal}), exit (set once exited)}.
 */
const WRAPPED = new Set(['llmgw-gateway', 'llmgw-exporter']);
/** Slower start-up and exit under a wrapper such as valgrind. */
export const SLOW = process.env.LLMGW_WRAP ? 10 : 1;

export function spawn(binary, args, { env = {}, dir, name = path.basename(binary) } = {}) {
  const outPath = path.join(dir, `${name}.out`);
  const errPath = path.join(dir, `${name}.err`);
  const out = fs.openSync(outPath, 'a');
  const err = fs.openSync(errPath, 'a');
  // A developer's or CI's own OTEL_* settings must not redirect the processes under test.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  // LLMGW_WRAP (set by `make test VALGRIND=1`) runs the two daemons under a
  // checker such as valgrind; tests/run.sh reads the checker's logs afterwards.
  const wrap = process.env.LLMGW_WRAP && WRAPPED.has(path.basename(binary))
    ? process.env.LLMGW_WRAP.split(/\s+/).filter(Boolean) : [];
  const argv = wrap.length ? [...wrap.slice(1), binary, ...args] : args;
  const child = cpSpawn(wrap.length ? wrap[0] : binary, argv, { env: { ...base, ...env }, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const h = { name, pid: child.pid, child, outPath, errPath, exit: null, cmd: [binary, ...args].join(' ') };
  live.add(h);
  h.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      h.exit = { code, signal };
      live.delete(h);
      resolve(h.exit);
    });
    child.on('error', (e) => {
      h.exit = { code: -1, signal: null, error: e.message };
      live.delete(h);
      resolve(h.exit);
    });
  });
  return h;
}

/** SIGTERM, then SIGKILL after killAfterMs. Resolves {code, signal, killed}. */
export async function stop(h, { killAfterMs = 5000 * SLOW, signal = 'SIGTERM' } = {}) {
  if (h.exit) return { ...h.exit, killed: false };
  try { process.kill(h.pid, signal); } catch { /* raced with exit */ }
  let timer;
  const killed = await Promise.race([
    h.exited.then(() => false),
    new Promise((r) => { timer = setTimeout(() => r(true), killAfterMs); }),
  ]);
  clearTimeout(timer);
  if (killed) {
    try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ }
    await h.exited;
  }
  return { ...h.exit, killed };
}

function tail(p, max = 6000) {
  try {
    const s = fs.readFileSync(p, 'utf8');
    return s.length > max ? `...${s.slice(-max)}` : s;
  } catch {
    return '';
  }
}

/** Prints the captured output of each process (on failure). */
export function dumpLogs(procs) {
  for (const h of procs) {
    const out = tail(h.outPath), err = tail(h.errPath);
    console.log(`----- ${h.name} (pid ${h.pid}, exit ${JSON.stringify(h.exit)}): ${h.cmd}`);
    if (out) console.log(`[stdout]\n${out}`);
    if (err) console.log(`[stderr]\n${err}`);
  }
}

/** One HTTP exchange: {status, headers (Headers), text, json (or undefined)}. */
export async function http(url, { method = 'GET', headers = {}, body, timeoutMs = 15000 } = {}) {
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** Polls url until it answers 2xx (or the process dies, or timeoutMs passes). */
export async function waitHttp(url, { timeoutMs = 15000 * SLOW, proc } = {}) {
  return waitFor(async () => {
    if (proc && proc.exit) throw new Error(`${proc.name} exited early: ${JSON.stringify(proc.exit)}`);
    try {
      const r = await http(url, { timeoutMs: 1000 });
      return r.status >= 200 && r.status < 300;
    } catch (e) {
      if (proc && proc.exit) throw new Error(`${proc.name} exited early: ${JSON.stringify(proc.exit)}`);
      return false;
    }
  }, { timeoutMs, intervalMs: 50, what: `${url} to answer 2xx` });
}

/**
 * Parses Prometheus text into [{name, labels: {k: v}, value}].
 */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const lm of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of every series of name whose labels include all of `labels` (0 when absent). */
export function metric(text, name, labels = {}) {
  let sum = 0;
  for (const s of parseMetrics(text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

export const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');
export const randHex = (bytes) => crypto.randomBytes(bytes).toString('hex');

/**
 * Everything one test file starts: processes, ports, the temp dir. Use
 * stack.guard(fn) around test bodies so a failure prints the logs, and
 * stack.stopAll() in after().
 */
export class Stack {
  constructor(prefix) {
    this.dir = tempDir(prefix);
    this.procs = [];
    this.spansUrl = `ipc://${path.join(this.dir, 'spans.sock')}`;
  }

  start(binName, args, opts = {}) {
    const h = spawn(bin(binName), args, { dir: this.dir, ...opts });
    this.procs.push(h);
    return h;
  }

  /** llmgw-mock on a free port; resolves {proc, url, port}. */
  async mock(extraArgs = [], name = 'llmgw-mock') {
    const port = await freePort();
    const proc = this.start('llmgw-mock', ['--listen', `127.0.0.1:${port}`, ...extraArgs], { name });
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/_mock/stats`, { proc });
    return { proc, url, port };
  }

  /** otlp-sink on a free port; resolves {proc, url, port}. */
  async sink(name = 'otlp-sink') {
    const port = await freePort();
    const proc = this.start('otlp-sink', ['--listen', `127.0.0.1:${port}`], { name });
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/_sink/stats`, { proc });
    return { proc, url, port };
  }

  /** Wraps a test body so that a failure prints every process's output first. */
  guard(fn) {
    return async (...a) => {
      try {
        return await fn(...a);
      } catch (e) {
        dumpLogs(this.procs);
        throw e;
      }
    };
  }

  /** Stops everything still running (SIGTERM, SIGKILL after 5 s); returns [{name, code, signal, killed}]. */
  async stopAll() {
    const res = [];
    for (const h of [...this.procs].reverse()) res.push({ name: h.name, ...(await stop(h)) });
    return res;
  }

  /** Removes the temp dir (keep it when LLMGW_KEEP_TMP=1, for debugging). */
  cleanup() {
    if (process.env.LLMGW_KEEP_TMP === '1') {
      console.log(`# kept ${this.dir}`);
      return;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Stops everything and asserts a clean shutdown: each process exited 0
   * within 5 s of SIGTERM and left no sanitizer report (a file's last test).
   */
  async assertCleanStop() {
    for (const x of await this.stopAll()) {
      assert.equal(x.killed, false, `${x.name} did not exit within 5 s of SIGTERM`);
      assert.equal(x.code, 0, `${x.name} exit status (signal ${x.signal})`);
    }
    for (const h of this.procs) assert.equal(this.problems(h), '', `${h.name}: sanitizer report`);
  }

  /** Sanitizer or crash reports in a process's stderr ("" when clean). */
  problems(h) {
    const err = tail(h.errPath, 200000);
    const m = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer)/.exec(err);
    return m ? err.slice(Math.max(0, m.index - 200), m.index + 3000) : '';
  }
}

/** Sink helpers. */
export const sinkApi = (url) => ({
  spans: async () => (await http(`${url}/_sink/spans`)).json,
  requests: async () => (await http(`${url}/_sink/requests`)).json,
  stats: async () => (await http(`${url}/_sink/stats`)).json,
  reset: async () => http(`${url}/_sink/reset`, { method: 'POST' }),
  fail: async (q) => http(`${url}/_sink/fail?${new URLSearchParams(q)}`, { method: 'POST' }),
});

/** Mock helpers. */
export const mockApi = (url) => ({
  requests: async () => (await http(`${url}/_mock/requests`)).json,
  stats: async () => (await http(`${url}/_mock/stats`)).json,
  reset: async () => http(`${url}/_mock/reset`, { method: 'POST' }),
});
